"""Customer service files an access request for a caller (GDPR art. 15; seed 003), and the copy
goes to an e-mail address the person has proven, never to one the agent types.

An agent on the phone has heard a name and an identifier, which is not the identification BankID
gives. So the data never goes to the call: the request's copy is e-mailed as download links
(portal/exports/message.py, ``export_link_ready``) to an address the person proved is theirs
(``proven_addresses``): by the link /me/addresses sends while they were signed in with BankID
(portal/identity/addresses.py), or by confirming a request they filed without BankID that the
DPO then verified as theirs. Whoever is on the line, the copy reaches only the person's own
mailbox. Addresses staff linked are not offered: an agent typed those.

The request is filed with assurance ``staff`` (verified: the address is the identification) and
a request contact naming the address (portal/workflows/contacts.py), so that its messages (that
it was received, that the copy is ready) go there, with the request's follow link, as for a
request filed without BankID. The export starts at once: built now when small, else by the
worker. Filing is audit-logged (``request.file_on_behalf``) with the look-up's reason, in the
transaction that files.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, func, select

from portal import i18n
from portal.audit import AuditActor, record
from portal.db import session_scope
from portal.exports.models import Export
from portal.exports.service import ExportRefused, ExportRuntime, ask_for_export
from portal.i18n import gettext as _
from portal.models import Assurance, IdentifierKind, Subject, SubjectIdentifier
from portal.workflows.contacts import RequestContact
from portal.workflows.requests import (
    Actor,
    DataRequest,
    DuplicateRequest,
    RequestType,
    file_request,
)

AUDIT_ACTION = "request.file_on_behalf"
MAX_ADDRESS = 320


class OnBehalfRefused(Exception):
    """The request was not filed; the message says why, for the agent. Nothing changed."""


@dataclass(frozen=True)
class Filed:
    request_id: int
    address: str
    export: Export | None  # None when the copy could not start (the DPO's queue shows it)


def proven_addresses(db: Session, subject_id: int) -> tuple[str, ...]:
    """The e-mail addresses the person proved are theirs (see the module docstring), in the
    order they were proven."""
    proven = db.exec(
        select(SubjectIdentifier.value)
        .where(
            SubjectIdentifier.subject_id == subject_id,
            SubjectIdentifier.kind == IdentifierKind.email,
            SubjectIdentifier.assurance == Assurance.low,
        )
        .order_by(col(SubjectIdentifier.created_at), col(SubjectIdentifier.id))
    ).all()
    confirmed = db.exec(
        select(func.lower(RequestContact.email))
        .join(DataRequest, col(DataRequest.id) == col(RequestContact.request_id))
        .where(
            DataRequest.subject_id == subject_id,
            DataRequest.assurance == Assurance.low,
            col(RequestContact.verified_at).is_not(None),
        )
        .order_by(col(RequestContact.confirmed_at))
    ).all()
    return tuple(dict.fromkeys([*proven, *confirmed]))


def file_access_request(
    engine: Engine,
    rt: ExportRuntime,
    *,
    subject_id: int,
    address: str,
    staff_id: int,
    reason: str,
    lookup_id: int,
    now: datetime,
) -> Filed:
    """File the access request, its copy to ``address`` (one of ``proven_addresses``), and
    start the copy. OnBehalfRefused, with nothing filed, for another address or while the
    person has an open access request."""
    with session_scope(engine) as db:
        request_id, language = _file(db, subject_id, address, staff_id, reason, lookup_id, now)
    try:
        export = ask_for_export(
            engine,
            subject_id=subject_id,
            rt=rt,
            now=now,
            language=language,
            request_id=request_id,
        )
    except ExportRefused:
        export = None
    return Filed(request_id, address, export)


def _file(
    db: Session,
    subject_id: int,
    address: str,
    staff_id: int,
    reason: str,
    lookup_id: int,
    now: datetime,
) -> tuple[int, str]:
    subject = db.get(Subject, subject_id)
    if subject is None:
        raise OnBehalfRefused(_("There is no such person."))
    if address not in proven_addresses(db, subject_id):
        raise OnBehalfRefused(_("Choose one of the addresses the person has proven."))
    language = subject.preferred_language or i18n.DEFAULT_LANGUAGE
    contact = RequestContact(
        name=subject.display_name,
        email=address,
        confirmed_at=now,
        verified_at=now,
        verified_by=staff_id,
        verification=_(
            "Filed by customer service on a call; the copy goes to this address, "
            "which the person had proven"
        ),
    )
    try:
        request = file_request(
            db,
            subject_id=subject_id,
            type=RequestType.access,
            assurance=Assurance.staff,
            actor=Actor.staff,
            actor_id=staff_id,
            language=language,
            contact=contact,
            now=now,
        )
    except DuplicateRequest as refused:
        raise OnBehalfRefused(
            _(
                "The person already has an open access request (number %(id)d): it is answered "
                "first.",
                id=refused.open_request_id,
            )
        ) from refused
    record(
        db,
        actor=AuditActor.staff,
        actor_id=staff_id,
        action=AUDIT_ACTION,
        subject_id=subject_id,
        reason=reason,
        details={"request_id": request.id, "lookup": lookup_id},
        now=now,
    )
    return request.id or 0, language
