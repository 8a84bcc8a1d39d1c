"""Requests from people without BankID: filed on a public form, confirmed by a link, verified by
the DPO, followed and answered through e-mail links only.

1. **Filed** (``file_unconfirmed``): the form's name, e-mail address, what the person wants and,
   optionally, a customer number or phone number are kept as a ``PendingRequest``, and a link
   to confirm the address is e-mailed (``request_confirm``). Nothing else happens: the company's
   data is not looked at, so the page and the message are the same whether or not we hold
   anything under that address. An unconfirmed request is removed after
   UNCONFIRMED_REQUEST_HOURS (``remove_unconfirmed``, the hourly clean-up job).
2. **Confirmed** (``confirm``): the single-use link is spent in the transaction that files the
   request (``received``, low assurance, no person yet) with its ``RequestContact``; a link to
   follow it is e-mailed (``request_received``). It is now in the DPO's queue, with a deadline.
3. **Verified** (``verify_identity``): the DPO checks who the person is and records how
   ("matched customer number and last invoice amount", "ID document seen") and the person's
   national identity number, which ties the request to them. Only then can anything about them
   be shared: an access or portability request gets its export, whose download links are
   e-mailed (portal/exports/message.py, ``export_link_ready``), bound to the request and
   expiring with the export.

The person follows the request with the link from the e-mail (``follow_request``), and can ask
for new links with their address (``ask_for_links``): the page says the same whatever the
address, and a message goes only to an address that has requests. The form, the link requests
(and address claims, portal/identity/addresses.py) are rate-limited per client and per address
(portal/ratelimit.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import String, Text, delete, update
from sqlmodel import Field, Session, SQLModel, col, select

from portal import links, ratelimit
from portal.audit import AuditActor, record
from portal.db import utcnow
from portal.i18n import gettext as _
from portal.identity import sessions
from portal.identity.addresses import remove_expired_claims
from portal.identity.identifiers import IdentifierRefused, normalise_identifier
from portal.identity.national_id import InvalidNationalId, parse_national_id
from portal.jobs.outbox import MessageSite, queue_message
from portal.jobs.queue import JobContext, handler
from portal.models import Assurance, IdentifierKind, Subject
from portal.settings import Settings
from portal.workflows import notices
from portal.workflows.contacts import (
    MAX_CUSTOMER_NUMBER,
    MAX_EMAIL,
    MAX_NAME,
    MAX_PHONE,
    RequestContact,
    contact_of,
)
from portal.workflows.requests import (
    Actor,
    DataRequest,
    RequestType,
    TransitionRefused,
    apply,
    file_request,
    open_request_of,
)

CLEANUP_JOB = "links.clean_up"
CLEANUP_EVERY = timedelta(hours=1)
# Message kinds (the outbox's templates, portal/templates/emails/).
CONFIRM_MESSAGE = "request_confirm"
LINKS_MESSAGE = "request_link"
# Paths the e-mailed links open.
CONFIRM_PATH = "/requests/confirm"
FOLLOW_PATH = "/requests/follow"
FORM_PATH = "/requests/new-without-bankid"

# Size bounds of the form's fields.
MAX_DETAILS = 4000
MAX_HOW = 2000
# At most this many requests are named in one message of new links.
MAX_LINKED = 10


class PendingRequest(SQLModel, table=True):
    """A request filed without BankID whose address is not confirmed yet: removed when it is
    (it becomes a DataRequest and its RequestContact) or when its time is up."""

    __tablename__ = "pending_request"

    id: int | None = Field(default=None, primary_key=True)
    type: RequestType = Field(sa_type=String(20))
    name: str = Field(max_length=MAX_NAME)
    email: str = Field(max_length=MAX_EMAIL, index=True)
    details: str | None = Field(default=None, sa_type=Text)
    customer_number: str | None = Field(default=None, max_length=MAX_CUSTOMER_NUMBER)
    phone: str | None = Field(default=None, max_length=MAX_PHONE)
    language: str = Field(max_length=5)
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime = Field(index=True)


class FilingRefused(ValueError):
    """The form cannot be filed as it is; ``errors`` by field name. Nothing was written."""

    def __init__(self, errors: Mapping[str, str]) -> None:
        super().__init__("; ".join(errors.values()))
        self.errors = dict(errors)


class VerificationRefused(ValueError):
    """The DPO's verification was refused; ``field`` names the form field at fault."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Filing:
    """The public form, checked and normalised."""

    type: RequestType
    name: str
    email: str
    details: str | None = None
    customer_number: str | None = None
    phone: str | None = None


def check_filing(form: Mapping[str, Any], *, region: str = "NO") -> Filing:
    """The form as a Filing, or FilingRefused naming every field at fault."""
    errors: dict[str, str] = {}
    text = {name: str(form.get(name, "") or "").strip() for name in _FIELDS}
    bounds = {
        "name": MAX_NAME,
        "email": MAX_EMAIL,
        "details": MAX_DETAILS,
        "customer_number": MAX_CUSTOMER_NUMBER,
        "phone": MAX_PHONE,
    }
    for name, bound in bounds.items():
        if len(text[name]) > bound:
            errors[name] = _("Please keep this under %(count)d characters.", count=bound)
    if text["type"] not in set(RequestType):
        errors["type"] = _("Choose what you want us to do.")
    if not text["name"]:
        errors.setdefault("name", _("Tell us your name."))
    email = _checked(IdentifierKind.email, text["email"], region, errors, "email", required=True)
    phone = _checked(IdentifierKind.phone, text["phone"], region, errors, "phone")
    customer = _checked(
        IdentifierKind.customer_number, text["customer_number"], region, errors, "customer_number"
    )
    if errors:
        raise FilingRefused(errors)
    return Filing(
        type=RequestType(text["type"]),
        name=text["name"],
        email=email or "",
        details=text["details"] or None,
        customer_number=customer,
        phone=phone,
    )


_FIELDS = ("type", "name", "email", "details", "customer_number", "phone")


def _checked(
    kind: IdentifierKind,
    value: str,
    region: str,
    errors: dict[str, str],
    field: str,
    *,
    required: bool = False,
) -> str | None:
    if field in errors:
        return None
    if not value:
        if required:
            errors[field] = _("Tell us your e-mail address.")
        return None
    try:
        return normalise_identifier(kind, value, region=region)
    except IdentifierRefused as refused:
        errors[field] = str(refused)
        return None


# --- 1. filing -----------------------------------------------------------------------------------


def file_unconfirmed(
    db: Session,
    filing: Filing,
    *,
    client: ratelimit.Client,
    language: str,
    now: datetime,
    settings: Settings,
) -> PendingRequest:
    """Keep the filing until its address is confirmed, and e-mail the link that confirms it.
    RateLimited (nothing written) when this client or address has filed too often."""
    ratelimit.hit(
        db,
        ratelimit.FILE_REQUEST,
        client=client,
        address_key=ratelimit.key_of(settings.secret_key, "address", filing.email),
        limits=ratelimit.Limits.from_settings(settings),
        now=now,
    )
    pending = PendingRequest(
        type=filing.type,
        name=filing.name,
        email=filing.email,
        details=filing.details,
        customer_number=filing.customer_number,
        phone=filing.phone,
        language=language,
        created_at=now,
        expires_at=now + timedelta(hours=settings.unconfirmed_request_hours),
    )
    db.add(pending)
    db.flush()
    _send_confirmation(db, pending, now, settings)
    return pending


def _send_confirmation(
    db: Session, pending: PendingRequest, now: datetime, settings: Settings
) -> None:
    expires = min(now + links.lifetime(settings, links.Purpose.confirm_request), pending.expires_at)
    link = links.issue(
        db,
        links.Purpose.confirm_request,
        pending.id or 0,
        expires_at=expires,
        now=now,
        language=pending.language,
    )
    url = links.absolute(settings.base_url, CONFIRM_PATH, links.sign(settings.secret_key, link))
    queue_message(
        db,
        CONFIRM_MESSAGE,
        language=pending.language,
        email=pending.email,
        context={
            "confirm_url": url,
            "type": str(pending.type),
            "expires_at": expires.isoformat(),
        },
        now=now,
    )


# --- 2. confirming -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ToConfirm:
    """What the confirmation page shows before the button is pressed."""

    type: RequestType
    language: str


def read_confirmation(db: Session, token: str, *, now: datetime, settings: Settings) -> ToConfirm:
    """The request a confirmation link is for, without acting (GET: e-mail scanners open
    links; only the button confirms). LinkRefused as ``confirm`` would refuse it."""
    link = links.verify(settings.secret_key, token, links.Purpose.confirm_request, now)
    if links.spent(db, link):
        raise links.LinkRefused(links.Refusal.used, link)
    pending = _pending(db, link)
    return ToConfirm(RequestType(pending.type), pending.language)


def confirm(db: Session, token: str, *, now: datetime, settings: Settings) -> DataRequest:
    """Spend the link and file the request (received, low assurance) in one transaction, and
    e-mail the link to follow it. LinkRefused, with nothing done, for a link that is not whole,
    past its time, or used."""
    link = links.verify(settings.secret_key, token, links.Purpose.confirm_request, now)
    links.spend(db, link, now)
    pending = _pending(db, link)
    request = file_request(
        db,
        subject_id=None,
        type=RequestType(pending.type),
        assurance=Assurance.low,
        actor=Actor.person,
        details=pending.details,
        language=pending.language,
        now=now,
    )
    assert request.id is not None
    db.add(
        RequestContact(
            request_id=request.id,
            name=pending.name,
            email=pending.email,
            customer_number=pending.customer_number,
            phone=pending.phone,
            confirmed_at=now,
        )
    )
    db.delete(pending)
    db.flush()
    # Now that the request has its contact, its messages go to the confirmed address, with
    # the follow link (the sender signs it as it sends).
    notices.tell_person(db, request, notices.RECEIVED, now=now)
    return request


def confirm_values(context: Mapping[str, Any], language: str, site: MessageSite) -> dict[str, Any]:
    """``request_confirm``'s values (templates/emails/request_confirm.*): the link, and when
    it stops working."""
    return {
        **context,
        "confirm_url": site.url(str(context["confirm_url"])),
        "expires": site.moment(context, "expires", language),
    }


def _pending(db: Session, link: links.Link) -> PendingRequest:
    try:
        pending = db.get(PendingRequest, int(link.object_id))
    except ValueError:
        pending = None
    if pending is None:
        # Removed after its time: the link cannot have been used (that removes it too, but
        # the spent nonce says so first).
        raise links.LinkRefused(links.Refusal.expired, link)
    return pending


# --- following -----------------------------------------------------------------------------------


def follow_url(request_id: int, language: str, now: datetime, settings: Settings) -> str:
    expires = now + links.lifetime(settings, links.Purpose.follow_request)
    link = links.Link(links.Purpose.follow_request, str(request_id), expires, language=language)
    return links.absolute(settings.base_url, FOLLOW_PATH, links.sign(settings.secret_key, link))


def followed(db: Session, token: str, *, now: datetime, settings: Settings) -> links.Link:
    """The request a follow link opens (its ``object_id``); LinkRefused when the link is not
    whole or past its time, or its request is gone or was not filed without BankID."""
    link = links.verify(settings.secret_key, token, links.Purpose.follow_request, now)
    if contact_of(db, _int(link.object_id)) is None:
        raise links.LinkRefused(links.Refusal.invalid, link)
    return link


def _int(value: str) -> int | None:
    try:
        return int(value)
    except ValueError:
        return None


def ask_for_links(
    db: Session,
    address: str,
    *,
    client: ratelimit.Client,
    language: str,
    now: datetime,
    settings: Settings,
) -> None:
    """New links for everything filed from an address: a new confirmation link for each
    request still unconfirmed, and one message with a link to follow each confirmed one (the
    newest MAX_LINKED). Nothing is sent to an address with no requests, and the caller says
    the same either way. IdentifierRefused for a malformed address; RateLimited (nothing
    sent) when this client or address has asked too often."""
    email = normalise_identifier(IdentifierKind.email, address[:MAX_EMAIL])
    ratelimit.hit(
        db,
        ratelimit.ASK_FOR_LINKS,
        client=client,
        address_key=ratelimit.key_of(settings.secret_key, "address", email),
        limits=ratelimit.Limits.from_settings(settings),
        now=now,
    )
    pending = db.exec(
        select(PendingRequest)
        .where(PendingRequest.email == email, col(PendingRequest.expires_at) > now)
        .order_by(col(PendingRequest.created_at).desc())
        .limit(MAX_LINKED)
    ).all()
    for each in pending:
        _send_confirmation(db, each, now, settings)
    confirmed = db.exec(
        select(DataRequest)
        .join(RequestContact, col(RequestContact.request_id) == col(DataRequest.id))
        .where(RequestContact.email == email)
        .order_by(col(DataRequest.received_at).desc(), col(DataRequest.id).desc())
        .limit(MAX_LINKED)
    ).all()
    if confirmed:
        queue_message(
            db,
            LINKS_MESSAGE,
            language=language,
            email=email,
            context={
                "requests": [
                    {
                        "request_id": request.id,
                        "type": str(request.type),
                        "follow_url": follow_url(request.id or 0, language, now, settings),
                    }
                    for request in confirmed
                ]
            },
            now=now,
        )


def links_values(context: Mapping[str, Any], language: str, site: MessageSite) -> dict[str, Any]:
    """``request_link``'s values (templates/emails/request_link.*): each request's number and
    follow link, as queued."""
    requests = [
        {**each, "follow_url": site.url(str(each["follow_url"]))}
        for each in context.get("requests", ())
    ]
    return {**context, "requests": requests}


# --- 3. verifying --------------------------------------------------------------------------------


def verify_identity(
    db: Session,
    request: DataRequest,
    *,
    staff_id: int,
    how: str,
    national_id: str = "",
    now: datetime,
) -> DataRequest:
    """The DPO has verified who filed a request without BankID, and records how. A request
    with no person yet is tied to the one whose national identity number the DPO gives (found
    or created); then it is verified (TransitionRefused when it cannot be), and its data may be
    shared. Audit-logged without the number."""
    how = how.strip()
    if not how:
        raise VerificationRefused(_("Say how you verified who the person is."), "how")
    if len(how) > MAX_HOW:
        message = _("Please keep this under %(count)d characters.", count=MAX_HOW)
        raise VerificationRefused(message, "how")
    # The workflow refuses first (already verified, closed): then nothing else is written.
    apply(db, request, "verify", actor=Actor.dpo, actor_id=staff_id, reason=how, now=now)
    if request.subject_id is None:
        request.subject_id = _person_for(db, request, national_id, now)
        db.add(request)
    contact = contact_of(db, request.id)
    if contact is not None:
        contact.verified_at = now
        contact.verified_by = staff_id
        contact.verification = how
        db.add(contact)
    record(
        db,
        actor=AuditActor.staff,
        actor_id=staff_id,
        action="request.verify_identity",
        subject_id=request.subject_id,
        reason=how,
        details={"request_id": request.id},
        now=now,
    )
    db.flush()
    return request


def _person_for(db: Session, request: DataRequest, national_id: str, now: datetime) -> int:
    if not national_id.strip():
        message = _("Give the person's national identity number, found when verifying them.")
        raise VerificationRefused(message, "national_id")
    try:
        parsed = parse_national_id(national_id[:40], today=now.date())
    except InvalidNationalId:
        message = _("That is not a valid national identity number.")
        raise VerificationRefused(message, "national_id") from None
    subject = db.exec(select(Subject).where(Subject.national_id == parsed.number)).first()
    if subject is None:
        contact = contact_of(db, request.id)
        subject = Subject(
            national_id=parsed.number,
            country=parsed.country,
            given_name=contact.name if contact is not None else "",
            created_at=now,
        )
        db.add(subject)
        db.flush()
    assert subject.id is not None
    already = open_request_of(db, subject.id, RequestType(request.type))
    if already is not None and already.id != request.id:
        raise TransitionRefused(
            _(
                "This person already has an open request of this kind (number %(id)d). Handle "
                "that one, and reject this one as a duplicate.",
                id=already.id or 0,
            )
        )
    return subject.id


def forget_contacts(db: Session, subject_id: int) -> None:
    """An erasure blanks what the person typed when filing without BankID; the address stays,
    as the request's messages (the outcome) go there."""
    request_ids = select(DataRequest.id).where(DataRequest.subject_id == subject_id)
    db.execute(
        update(RequestContact)
        .where(col(RequestContact.request_id).in_(request_ids))
        .values(name="", customer_number=None, phone=None)
    )


# --- clean-up ------------------------------------------------------------------------------------


def remove_unconfirmed(db: Session, now: datetime) -> int:
    """Remove the requests whose address was not confirmed in time, with what they held."""
    result = db.execute(delete(PendingRequest).where(col(PendingRequest.expires_at) <= now))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def clean_up(db: Session, now: datetime) -> dict[str, int]:
    """What the hourly job removes: unconfirmed requests and address claims past their time,
    the nonces of expired links, rate-limit hits too old to count, and browser sessions that
    ended or outlived their lifetime (anonymous ones too). Counts only."""
    return {
        "unconfirmed_requests": remove_unconfirmed(db, now),
        "address_claims": remove_expired_claims(db, now),
        "link_nonces": links.purge(db, now),
        "rate_limit_hits": ratelimit.purge(db, now),
        "web_sessions": sessions.purge(db, now),
    }


@handler(CLEANUP_JOB, every=CLEANUP_EVERY)
def clean_up_job(db: Session, payload: dict[str, Any], ctx: JobContext) -> None:
    clean_up(db, ctx.now)
