"""The DPO's case holds as a whole (the holds page, /dpo/holds): the holds active now and those
released lately, setting one on a person, releasing one with a reason, changing its review day,
and the reminder of each review day.

A case hold keeps a person's data (or one record's) from erasure until the DPO releases it
(DESIGN §5). Setting and releasing go through `erasure_service` (validation, the audit entry,
the art. 18(3) message before a restriction is lifted, the deferred erasure of rows an executed
plan kept under the hold), and then re-plan the person's open erasures
(`replan_open_erasures`), so that no plan says that something stays or goes when the holds now
say otherwise.

Review reminders: a daily periodic job ("holds.review_reminders", only when DPO_EMAIL is set)
enqueues one "holds.review_reminder" job per active hold whose review day has come, keyed by the
hold and its review day: the job table's dedupe key makes each reminder happen once, and a hold
given a new review day is reminded again when that day comes. The reminder (mail kind
``hold_review``) names the hold's number and links the holds page, nothing about the person.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from portal import i18n
from portal.audit import AuditActor, record
from portal.datamap import DataMap
from portal.i18n import gettext as _
from portal.i18n import lazy_gettext as _l
from portal.identity.identifiers import person_by_national_id
from portal.identity.national_id import InvalidNationalId
from portal.jobs.outbox import MessageSite, OutboxMessage, queue_message
from portal.jobs.queue import JobContext, enqueue, handler
from portal.models import StaffMember, Subject
from portal.workflows import erasure_service, reminders
from portal.workflows.erasure_service import MAX_HOLD_REASON, CaseHoldRefused
from portal.workflows.notices import dpo_mailbox
from portal.workflows.records import CaseHoldKind, CaseHoldRecord, PlanStatus
from portal.workflows.requests import Actor, DataRequest, RequestStatus, RequestType

HOLD_KIND_LABELS = {
    CaseHoldKind.litigation: _l("Litigation"),
    CaseHoldKind.complaint: _l("Complaint"),
    CaseHoldKind.authority_request: _l("Request from an authority"),
    CaseHoldKind.restriction: _l("Restriction of processing (art. 18)"),
    CaseHoldKind.other: _l("Other"),
}

# The holds page lists the holds released in the last RELEASED_DAYS days, at most RELEASED_SHOWN.
RELEASED_DAYS = 90
RELEASED_SHOWN = 50
# A national ID typed into the form is at most this long (spaces and a dash allowed).
MAX_NATIONAL_ID = 20

PAGE = "/dpo/holds"
MESSAGE_KIND = "hold_review"
SCHEDULE_KIND = "holds.review_reminders"
REMINDER_KIND = "holds.review_reminder"


class HoldRefused(ValueError):
    """The form was refused; ``field`` names the field at fault, if one. Nothing changed."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class HoldEntry:
    """One case hold with what the holds page says about it: whose it is (their subject id and
    name, blank when the portal has none), who of staff set and released it, and the request it
    came from (id and type)."""

    hold: CaseHoldRecord
    subject_id: int
    person: str
    national_id: str
    set_by: str | None
    released_by: str | None
    request_id: int | None
    request_type: RequestType | None


# --- reading ------------------------------------------------------------------------------------


def active_holds(db: Session) -> list[HoldEntry]:
    """Every hold not released: the review day soonest first (those without one last), then
    the oldest first."""
    statement = (
        select(CaseHoldRecord)
        .where(col(CaseHoldRecord.released_at).is_(None))
        .order_by(
            col(CaseHoldRecord.review_at).is_(None),
            col(CaseHoldRecord.review_at),
            col(CaseHoldRecord.set_at),
            col(CaseHoldRecord.id),
        )
    )
    return _entries(db, list(db.exec(statement)))


def released_holds(
    db: Session, now: datetime, days: int = RELEASED_DAYS, limit: int = RELEASED_SHOWN
) -> list[HoldEntry]:
    """The holds released in the last ``days`` days, the latest first, at most ``limit``."""
    statement = (
        select(CaseHoldRecord)
        .where(col(CaseHoldRecord.released_at) >= now - timedelta(days=days))
        .order_by(col(CaseHoldRecord.released_at).desc(), col(CaseHoldRecord.id).desc())
        .limit(limit)
    )
    return _entries(db, list(db.exec(statement)))


def _entries(db: Session, holds: Sequence[CaseHoldRecord]) -> list[HoldEntry]:
    people = _by_id(db, Subject, {hold.subject_id for hold in holds})
    staff = _by_id(db, StaffMember, {h.set_by for h in holds} | {h.released_by for h in holds})
    requests = _by_id(db, DataRequest, {hold.request_id for hold in holds})
    entries = []
    for hold in holds:
        person = people[hold.subject_id]
        request = requests.get(hold.request_id)
        entries.append(
            HoldEntry(
                hold=hold,
                subject_id=hold.subject_id,
                person=person.display_name,
                national_id=person.national_id,
                set_by=_staff_name(staff.get(hold.set_by)),
                released_by=_staff_name(staff.get(hold.released_by)),
                request_id=hold.request_id,
                request_type=RequestType(request.type) if request is not None else None,
            )
        )
    return entries


def _by_id(db: Session, model: Any, ids: set[int | None]) -> dict[int | None, Any]:
    wanted = {item for item in ids if item is not None}
    if not wanted:
        return {}
    return {row.id: row for row in db.exec(select(model).where(col(model.id).in_(wanted)))}


def _staff_name(member: StaffMember | None) -> str | None:
    if member is None:
        return None
    return member.name or _("member of staff %(id)d", id=member.id or 0)


def record_view(db: Session, entries: Sequence[HoldEntry], staff_id: int, now: datetime) -> None:
    """The holds page names each hold's person: a view of their data, one entry per person."""
    for subject_id in dict.fromkeys(entry.subject_id for entry in entries):
        record(
            db,
            actor=AuditActor.staff,
            actor_id=staff_id,
            action="case_hold.view",
            subject_id=subject_id,
            details={"page": PAGE},
            now=now,
        )


# --- changing -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sources:
    """The data map and the company's databases: re-planning an erasure reads them."""

    datamap: DataMap
    engines: Mapping[str, Engine]


def set_hold(
    db: Session,
    *,
    request_id: int | None,
    national_id: str,
    kind: str,
    reason: str,
    review_at: date | None,
    staff_id: int,
    now: datetime,
    today: date,
    sources: Sources,
) -> CaseHoldRecord:
    """A hold on a person: the person of request ``request_id``, or the person with this
    national ID (known to the portal from now on, as when staff link an identifier), exactly
    one of the two. Audit-logged; the person's open erasures are planned again."""
    _check_form(kind, reason, review_at, today)
    subject_id = _whose(db, request_id, national_id)
    try:
        hold = erasure_service.set_case_hold(
            db,
            subject_id=subject_id,
            kind=kind,
            reason=reason,
            scope="person",
            review_at=review_at,
            staff_id=staff_id,
            now=now,
            datamap=sources.datamap,
            request_id=request_id,
        )
    except CaseHoldRefused as refused:
        raise HoldRefused(str(refused)) from refused
    replan_open_erasures(db, subject_id, staff_id=staff_id, now=now, sources=sources)
    return hold


def _check_form(kind: str, reason: str, review_at: date | None, today: date) -> None:
    if kind not in set(CaseHoldKind) or kind == CaseHoldKind.restriction:
        # A restriction hold is the person's own request's (art. 18), never set by hand.
        raise HoldRefused(_("Choose the kind of hold."), "kind")
    _check_reason(reason)
    if review_at is not None and review_at < today:
        raise HoldRefused(_("The review date cannot be in the past."), "review_at")


def _check_reason(reason: str) -> None:
    if not reason.strip():
        raise HoldRefused(_("Please give a reason."), "reason")
    if len(reason.strip()) > MAX_HOLD_REASON:
        message = _("Please keep this under %(count)d characters.", count=MAX_HOLD_REASON)
        raise HoldRefused(message, "reason")


def _whose(db: Session, request_id: int | None, national_id: str) -> int:
    if (request_id is None) == (not national_id.strip()):
        raise HoldRefused(
            _("Give either the request's number or the person's national identity number."),
            "person",
        )
    if request_id is not None:
        request = db.get(DataRequest, request_id)
        if request is None:
            raise HoldRefused(_("There is no request %(id)d.", id=request_id), "request_id")
        if request.subject_id is None:
            raise HoldRefused(
                _("Request %(id)d's person is not verified yet.", id=request_id), "request_id"
            )
        return request.subject_id
    if len(national_id) > MAX_NATIONAL_ID:
        raise HoldRefused(_("That is not a national identity number."), "national_id")
    try:
        return person_by_national_id(db, national_id).id or 0
    except InvalidNationalId as invalid:
        raise HoldRefused(str(invalid), "national_id") from invalid


def release_hold(
    db: Session,
    hold_id: int,
    *,
    reason: str,
    staff_id: int,
    now: datetime,
    sources: Sources,
) -> CaseHoldRecord:
    """End a hold, with the reason (audit-logged); the person's open erasures are planned
    again, and what an executed erasure kept under it is queued for erasure."""
    _check_reason(reason)
    try:
        hold = erasure_service.release_case_hold(
            db, hold_id, staff_id=staff_id, reason=reason, now=now, datamap=sources.datamap
        )
    except CaseHoldRefused as refused:
        raise HoldRefused(str(refused)) from refused
    replan_open_erasures(db, hold.subject_id, staff_id=staff_id, now=now, sources=sources)
    return hold


def set_review_date(
    db: Session, hold_id: int, review_at: date, *, staff_id: int, now: datetime, today: date
) -> CaseHoldRecord:
    """Give an active hold a new review day (not in the past); audit-logged with the old one.
    A plan does not name review days: nothing is planned again."""
    hold = db.get(CaseHoldRecord, hold_id, with_for_update=True)
    if hold is None or hold.released_at is not None:
        raise HoldRefused(_("There is no such hold."))
    if review_at < today:
        raise HoldRefused(_("The review date cannot be in the past."), "review_at")
    previous = hold.review_at
    hold.review_at = review_at
    db.add(hold)
    db.flush()
    record(
        db,
        actor=AuditActor.staff,
        actor_id=staff_id,
        action="case_hold.review_date",
        subject_id=hold.subject_id,
        details={
            "hold_id": hold.id,
            "review_at": review_at.isoformat(),
            "previous": previous.isoformat() if previous else None,
        },
        now=now,
    )
    return hold


def replan_open_erasures(
    db: Session, subject_id: int, *, staff_id: int | None, now: datetime, sources: Sources
) -> list[int]:
    """Plan the person's open erasures again under the holds as they are now; returns the
    requests planned again.

    - verified, or waiting for approval: a new proposed version (`plan_request`);
    - under way (approved, not yet carried out) and planned under other holds: the sources not
      yet done are judged again, as a new approved version (`replan_rest`) whose job takes over;
      the old version's queued job then does nothing. A request whose erasure stopped is left
      to "Run it again", which does the same.
    Other states have no plan to change (not verified yet, waiting for the person, closed)."""
    statement = select(DataRequest).where(
        DataRequest.subject_id == subject_id,
        DataRequest.type == RequestType.erasure,
        col(DataRequest.status).in_(
            [RequestStatus.verified, RequestStatus.awaiting_approval, RequestStatus.in_progress]
        ),
    )
    planned = []
    for request in list(db.exec(statement)):
        if request.status == RequestStatus.in_progress:
            if not _replan_under_way(db, request, staff_id, now, sources):
                continue
        else:
            erasure_service.plan_request(
                db,
                request.id or 0,
                datamap=sources.datamap,
                sources=sources.engines,
                now=now,
                actor=Actor.dpo if staff_id is not None else Actor.system,
                actor_id=staff_id,
            )
        planned.append(request.id or 0)
    return planned


def _replan_under_way(
    db: Session, request: DataRequest, staff_id: int | None, now: datetime, sources: Sources
) -> bool:
    if request.attention_job_id is not None:
        return False
    latest = erasure_service.latest_plan(db, request.id or 0)
    if latest is None or latest.status != PlanStatus.approved:
        return False
    # Wait for a worker carrying out a source of it, then read what it has done.
    db.refresh(latest, with_for_update=True)
    if latest.status != PlanStatus.approved or erasure_service.plan_is_current(
        db, latest, sources.datamap, i18n.local_day(now, sources.datamap.controller.time_zone)
    ):
        return False
    erasure_service.replan_rest(
        db, latest, datamap=sources.datamap, sources=sources.engines, staff_id=staff_id, now=now
    )
    return True


# --- review reminders ---------------------------------------------------------------------------


def due_for_review(db: Session, today: date) -> list[CaseHoldRecord]:
    """The active holds whose review day is ``today`` (the controller's) or has passed."""
    statement = (
        select(CaseHoldRecord)
        .where(
            col(CaseHoldRecord.released_at).is_(None),
            col(CaseHoldRecord.review_at).is_not(None),
            col(CaseHoldRecord.review_at) <= today,
        )
        .order_by(col(CaseHoldRecord.review_at), col(CaseHoldRecord.id))
    )
    return list(db.exec(statement))


def reminder_key(hold: CaseHoldRecord) -> str:
    assert hold.review_at is not None
    return f"hold_review:{hold.id}:{hold.review_at.isoformat()}"


def schedule_review_reminders(db: Session, today: date, now: datetime) -> int:
    """Enqueue the reminder of each hold due for review that was never enqueued for its
    review day; returns how many are new."""
    added = 0
    for hold in due_for_review(db, today):
        payload = {"hold_id": hold.id, "review_on": hold.review_at.isoformat()}  # type: ignore[union-attr]
        if enqueue(db, REMINDER_KIND, payload, now=now, dedupe_key=reminder_key(hold)):
            added += 1
    return added


def queue_review_reminder(
    db: Session, hold_id: int, review_on: date, *, mailbox: str, now: datetime
) -> OutboxMessage | None:
    """The reminder's message to the DPO's mailbox, unless the hold was released or given
    another review day since the reminder was scheduled."""
    hold = db.get(CaseHoldRecord, hold_id)
    if hold is None or hold.released_at is not None or hold.review_at != review_on:
        return None
    context = {"hold_id": hold.id, "review_on": review_on.isoformat()}
    return queue_message(
        db, MESSAGE_KIND, language=i18n.DEFAULT_LANGUAGE, email=mailbox, context=context, now=now
    )


def review_values(context: Mapping[str, Any], language: str, site: MessageSite) -> dict[str, Any]:
    """The reminder's values (templates/emails/hold_review.*): the hold's number, its review
    day and a link to it on the holds page."""
    return {
        **context,
        "review": site.day(context, "review", language),
        "holds_url": site.url(f"{PAGE}#hold-{int(context['hold_id'])}"),
    }


def _controller_today(now: datetime) -> date:
    from portal.workflows.erasure_run import runtime

    return i18n.local_day(now, runtime().datamap.controller.time_zone)


# Scheduled only with a mailbox to remind (DPO_EMAIL); the holds page shows what is due anyway.
@handler(SCHEDULE_KIND, every=timedelta(days=1) if dpo_mailbox() else None)
def schedule_job(db: Session, payload: dict[str, Any], ctx: JobContext) -> None:
    schedule_review_reminders(db, _controller_today(ctx.now), ctx.now)


@handler(REMINDER_KIND)
def reminder_job(db: Session, payload: dict[str, Any], ctx: JobContext) -> None:
    queue_review_reminder(
        db,
        int(payload["hold_id"]),
        date.fromisoformat(str(payload["review_on"])),
        mailbox=reminders.mailbox(),
        now=ctx.now,
    )
