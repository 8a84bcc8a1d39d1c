"""Who works a request: the DPO assigns requests to themselves or to another DPO, one at a time
or many at once, and takes an assignment back.

Only members of staff who hold the dpo role can be assigned: they are the ones who can open the
queue and the case page. Each change is an event in the request's history (``assign`` or
``unassign``, naming the assignee by staff id; staff-only, never shown to the person) and an
entry in the audit log, in the same transaction.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlmodel import Session, col, select

from portal.audit import AuditActor, record
from portal.i18n import gettext as _
from portal.models import StaffMember, StaffRole, StaffRoleName
from portal.workflows.requests import Actor, DataRequest, record_event

# At most this many requests in one bulk assignment: the queue's largest page.
MAX_BULK = 100

# The events of a request's history only staff read: the person's timeline leaves them out.
STAFF_ONLY_EVENTS = frozenset({"assign", "unassign"})


class AssignmentRefused(ValueError):
    """Nothing was assigned; the message says why."""


def assignable(db: Session) -> list[StaffMember]:
    """The members of staff a request can be assigned to (those holding the dpo role), by
    name."""
    members = db.exec(
        select(StaffMember)
        .join(StaffRole, col(StaffRole.staff_id) == col(StaffMember.id))
        .where(StaffRole.role == StaffRoleName.dpo)
        .order_by(col(StaffMember.name), col(StaffMember.id))
    )
    return list(members)


def assign(
    db: Session,
    request_ids: Iterable[int],
    assignee_id: int | None,
    *,
    staff_id: int,
    now: datetime,
) -> list[int]:
    """Assign the requests to ``assignee_id`` (None: to nobody), by ``staff_id``; returns the
    ids of those that changed (one already so assigned is left as it is, with no event).

    Refused, with nothing written, when no request is named, more than MAX_BULK are, one of
    them does not exist, or the assignee does not hold the dpo role."""
    ids = sorted(set(request_ids))
    if not ids:
        raise AssignmentRefused(_("Choose at least one request."))
    if len(ids) > MAX_BULK:
        raise AssignmentRefused(_("Assign at most %(count)d requests at a time.", count=MAX_BULK))
    if assignee_id is not None and assignee_id not in {m.id for m in assignable(db)}:
        raise AssignmentRefused(_("Requests can only be assigned to a data protection officer."))
    # Locked in id order, so that two bulk assignments at once never wait on each other.
    found = db.exec(
        select(DataRequest)
        .where(col(DataRequest.id).in_(ids))
        .order_by(col(DataRequest.id))
        .with_for_update()
    ).all()
    if len(found) != len(ids):
        raise AssignmentRefused(_("There is no such request."))
    changed = [
        request.id or 0
        for request in found
        if _assign_one(db, request, assignee_id, staff_id=staff_id, now=now)
    ]
    db.flush()
    return changed


def _assign_one(
    db: Session, request: DataRequest, assignee_id: int | None, *, staff_id: int, now: datetime
) -> bool:
    previous = request.assignee_id
    if previous == assignee_id:
        return False
    request.assignee_id = assignee_id
    db.add(request)
    action = "assign" if assignee_id is not None else "unassign"
    data = {"assignee_id": assignee_id, "previous_id": previous}
    record_event(db, request, action, actor=Actor.dpo, actor_id=staff_id, now=now, data=data)
    record(
        db,
        actor=AuditActor.staff,
        actor_id=staff_id,
        action=f"request.{action}",
        subject_id=request.subject_id,
        details={"request_id": request.id, **data},
        now=now,
    )
    return True
