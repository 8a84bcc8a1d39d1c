"""Duplicate requests: a request of the same type from the same person, received within a set
window of another (DUPLICATE_WINDOW_DAYS), closed ones included.

`file_request` already refuses a second *open* request of a type for a person signed in with
BankID; this catches the rest: a new request soon after one was answered, and requests filed
without BankID, which have no person until the DPO verifies them and so are matched by the
address the person confirmed (case-insensitively) as well as by person.

The DPO sees them flagged on the case page and may merge the request they are on into the
other: it closes as cancelled with a ``merge`` event naming the request kept (which gets a
``merged_in`` event), and the person is told (``request_merged``). A merged request is no one's
duplicate any more.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func
from sqlmodel import Session, col, or_, select

from portal.audit import AuditActor, record
from portal.i18n import gettext as _
from portal.workflows import notices
from portal.workflows.contacts import RequestContact, contact_of
from portal.workflows.requests import (
    Actor,
    DataRequest,
    RequestEvent,
    RequestStatus,
    TransitionRefused,
    apply,
    record_event,
)

DEFAULT_WINDOW_DAYS = 30

# A request closed without being answered is no request to handle another as.
NOT_KEPT = frozenset({RequestStatus.cancelled, RequestStatus.rejected})


def can_keep(request: DataRequest) -> bool:
    """Whether a duplicate may be merged into ``request``: open, or answered."""
    return RequestStatus(request.status) not in NOT_KEPT


def duplicates_of(db: Session, request: DataRequest, window_days: int) -> list[DataRequest]:
    """The other requests of this type from this person (by person, or by the confirmed address
    of a request filed without BankID) received within ``window_days`` of it, before or after,
    oldest first; merged requests left out (and none at all for a merged request)."""
    if _merged(db, request.id):
        return []
    window = timedelta(days=window_days)
    same_person = []
    if request.subject_id is not None:
        same_person.append(DataRequest.subject_id == request.subject_id)
    contact = contact_of(db, request.id)
    if contact is not None:
        by_address = select(RequestContact.request_id).where(
            func.lower(RequestContact.email) == contact.email.lower()
        )
        same_person.append(col(DataRequest.id).in_(by_address))
    if not same_person:
        return []
    merged = select(RequestEvent.request_id).where(RequestEvent.action == "merge")
    return list(
        db.exec(
            select(DataRequest)
            .where(
                DataRequest.type == request.type,
                DataRequest.id != request.id,
                or_(*same_person),
                DataRequest.received_at >= request.received_at - window,
                DataRequest.received_at <= request.received_at + window,
                col(DataRequest.id).not_in(merged),
            )
            .order_by(col(DataRequest.received_at), col(DataRequest.id))
        )
    )


def merge(
    db: Session,
    request: DataRequest,
    kept_id: int,
    *,
    reason: str | None,
    staff_id: int,
    window_days: int,
    now: datetime,
) -> DataRequest:
    """Close ``request`` as a duplicate of ``kept_id`` (one of its `duplicates_of`, open or
    answered: `can_keep`): cancelled
    with a ``merge`` event, a ``merged_in`` event on the kept request, the person told, the
    DPO's act audit-logged. Refused (TransitionRefused, nothing written by the caller's
    rollback) when ``kept_id`` is not a duplicate of it or the request can no longer be
    cancelled. Returns the kept request."""
    candidates = duplicates_of(db, request, window_days)
    kept = next((found for found in candidates if found.id == kept_id and can_keep(found)), None)
    if kept is None:
        raise TransitionRefused(_("Choose one of the requests this one may repeat."))
    reason = (reason or "").strip() or None
    apply(
        db,
        request,
        "merge",
        actor=Actor.dpo,
        actor_id=staff_id,
        reason=reason,
        now=now,
        data={"kept_id": kept.id},
        notify=False,
    )
    record_event(
        db,
        kept,
        "merged_in",
        actor=Actor.dpo,
        actor_id=staff_id,
        now=now,
        data={"merged_id": request.id},
    )
    notices.tell_person(
        db, request, notices.MERGED, now=now, reason=reason, extra={"kept_id": kept.id}
    )
    record(
        db,
        actor=AuditActor.staff,
        actor_id=staff_id,
        action="request.merge",
        subject_id=request.subject_id,
        details={"request_id": request.id, "kept_id": kept.id},
        now=now,
    )
    return kept


def _merged(db: Session, request_id: int | None) -> bool:
    found = db.exec(
        select(RequestEvent.id)
        .where(RequestEvent.request_id == request_id, RequestEvent.action == "merge")
        .limit(1)
    ).first()
    return found is not None
