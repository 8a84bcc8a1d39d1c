"""Restriction of processing (GDPR art. 18): set when the person asks, lifted by the DPO.

While restricted, the person's data is only stored: a "restriction" case hold on the person
keeps every record from erasure. Art. 18(3): the person must be told before the restriction is
lifted, so releasing that hold queues a message to them in the same transaction
(`tell_before_lifting`, called by `erasure_service.release_case_hold`): the hold is never
released without the message, nor the message written for a release that was rolled back.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from portal import i18n
from portal.audit import AuditActor, record
from portal.i18n import gettext as _
from portal.jobs.outbox import MessageSite, OutboxMessage, queue_message
from portal.models import Subject
from portal.workflows import notices
from portal.workflows.records import CaseHoldKind, CaseHoldRecord
from portal.workflows.requests import DataRequest, RequestType

MESSAGE_KIND = "restriction_lifted"


def restrict_processing(db: Session, subject_id: int, request_id: int, now: datetime) -> None:
    """From the moment the person asks, their data is only stored: a case hold on the person
    keeps every record from erasure and marks it restricted, until the DPO lifts it."""
    hold = CaseHoldRecord(
        subject_id=subject_id,
        kind=CaseHoldKind.restriction,
        reason=_("The person asked for restriction of processing (request %(id)d).", id=request_id),
        scope="person",
        request_id=request_id,
        set_at=now,
    )
    db.add(hold)
    db.flush()
    record(
        db,
        actor=AuditActor.person,
        actor_id=subject_id,
        action="case_hold.set",
        subject_id=subject_id,
        reason="restriction",
        details={"hold_id": hold.id, "request_id": request_id},
        now=now,
    )


def tell_before_lifting(db: Session, hold: CaseHoldRecord, now: datetime) -> OutboxMessage:
    """The art. 18(3) message for a restriction hold about to be released, in the person's
    language (their latest restriction request's). Names the request, never the data."""
    if hold.kind != CaseHoldKind.restriction:
        raise ValueError("only a restriction hold is lifted with a message to the person")
    request = db.exec(
        select(DataRequest)
        .where(
            DataRequest.subject_id == hold.subject_id,
            DataRequest.type == RequestType.restriction,
        )
        .order_by(col(DataRequest.received_at).desc(), col(DataRequest.id).desc())
        .limit(1)
    ).first()
    subject = db.get(Subject, hold.subject_id)
    language = (
        request.language
        if request is not None
        else (subject.preferred_language if subject else None) or i18n.DEFAULT_LANGUAGE
    )
    context: dict[str, Any] = {
        "hold_id": hold.id,
        "request_id": request.id if request is not None else None,
        "lifted_at": now.isoformat(),
        "has_account": True,
    }
    # A restriction asked for without BankID: to the address confirmed for it, with its link.
    to = notices.recipient(db, request) if request is not None else None
    if to is not None and to.follow:
        context |= {"follow": True, "has_account": False}
    return queue_message(
        db,
        MESSAGE_KIND,
        language=language,
        subject_id=hold.subject_id,
        email=to.email if to is not None else None,
        context=context,
        now=now,
    )


def lifted_values(context: Mapping[str, Any], language: str, site: MessageSite) -> dict[str, Any]:
    """The e-mail's values (templates/emails/restriction_lifted.*, portal/mail/kinds.py)."""
    values = notices.follow_values(context, language, site) if context.get("request_id") else {}
    return {**context, **values, "lifted": site.day(context, "lifted", language)}
