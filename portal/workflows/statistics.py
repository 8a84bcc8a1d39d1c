"""The DPO's overview in numbers: requests per week by type, how long completing one takes,
what is open and overdue, holds that end soon, and work that stopped.

Every number comes from the portal's own tables, never the company's databases:

- weeks are the controller's calendar weeks (Monday first, in the data map's time zone), the
  current one and the eleven before it, counted by when a request was received;
- days to complete are from receipt to closing, in days with fractions, less the time the
  request waited for its person (its deadline was paused meanwhile: ``paused_seconds``), over
  the requests completed (fully or partially) in the last 90 days; the 90th percentile is the
  nearest-rank one (the smallest value that at least 90 % of them do not exceed), so it is
  always a real request's time;
- holds ending: records an executed erasure keeps under a rule's hold until a day in the next
  30 days (today and the 29 after). Those are exactly the deferred erasures queued for the day
  after (``erasure_run.schedule_deferred``: one job per day and table, due at 00:00 UTC, listing
  the rows' keys), so the number is read from the job table's index, no plan opened. A DPO's
  case hold has no end, only a review day: those due for review in the same 30 days are counted
  apart, and those whose review day has passed.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func
from sqlmodel import Session, col, select

from portal.i18n import local_day
from portal.jobs.queue import Job, JobStatus
from portal.workflows.records import CaseHoldRecord
from portal.workflows.requests import OPEN, DataRequest, RequestStatus, RequestType

WEEKS = 12
COMPLETED_WITHIN = timedelta(days=90)
HOLDS_WITHIN = 30  # days
DONE = (RequestStatus.completed, RequestStatus.partially_completed)
DEFERRED_KIND = "erasure.deferred"


@dataclass(frozen=True)
class Week:
    start: date  # its Monday
    counts: dict[RequestType, int]  # every type, 0 included

    @property
    def total(self) -> int:
        return sum(self.counts.values())


@dataclass(frozen=True)
class Overview:
    weeks: tuple[Week, ...]  # oldest first, the current week last
    completed: int  # requests completed in the last 90 days
    median_days: float | None  # None: none completed
    p90_days: float | None
    open: int
    overdue: int  # open, and past their deadline
    kept_ending: int  # records kept under a rule's hold until a day in the next 30 days
    kept_ending_erasures: int  # the erasure plans those records belong to
    case_holds_review_soon: int  # case holds to review in the next 30 days
    case_holds_review_passed: int  # case holds whose review day has passed
    parked_jobs: int


def overview(db: Session, now: datetime, tz: str) -> Overview:
    weeks = requests_per_week(db, now, tz)
    days = days_to_complete(db, now)
    open_count, overdue = open_and_overdue(db, now)
    kept, erasures = kept_ending(db, now)
    soon, passed = case_holds_to_review(db, local_day(now, tz))
    return Overview(
        weeks=weeks,
        completed=len(days),
        median_days=statistics.median(days) if days else None,
        p90_days=percentile(days, 90) if days else None,
        open=open_count,
        overdue=overdue,
        kept_ending=kept,
        kept_ending_erasures=erasures,
        case_holds_review_soon=soon,
        case_holds_review_passed=passed,
        parked_jobs=db.exec(
            select(func.count()).select_from(Job).where(Job.status == JobStatus.parked)
        ).one(),
    )


def requests_per_week(db: Session, now: datetime, tz: str) -> tuple[Week, ...]:
    today = local_day(now, tz)
    this_monday = today - timedelta(days=today.weekday())
    mondays = [this_monday - timedelta(weeks=back) for back in range(WEEKS - 1, -1, -1)]
    since = datetime.combine(mondays[0], time(), ZoneInfo(tz)).astimezone(UTC)
    counts = {monday: dict.fromkeys(RequestType, 0) for monday in mondays}
    received = db.exec(
        select(DataRequest.type, DataRequest.received_at).where(
            col(DataRequest.received_at) >= since
        )
    )
    for kind, at in received:
        day = local_day(at if at.tzinfo else at.replace(tzinfo=UTC), tz)
        monday = day - timedelta(days=day.weekday())
        if monday in counts:  # a request received "in the future" of ``now`` is left out
            counts[monday][RequestType(kind)] += 1
    return tuple(Week(monday, counts[monday]) for monday in mondays)


def days_to_complete(db: Session, now: datetime) -> list[float]:
    """From receipt to closing, in days, of each request completed in the last 90 days, the
    time spent waiting for the person left out (a request is completed only after their
    answer, so every wait has ended and is in ``paused_seconds``)."""
    rows = db.exec(
        select(DataRequest.received_at, DataRequest.closed_at, DataRequest.paused_seconds).where(
            col(DataRequest.status).in_([str(status) for status in DONE]),
            col(DataRequest.closed_at) >= now - COMPLETED_WITHIN,
            col(DataRequest.closed_at) <= now,
        )
    )
    return sorted(
        ((closed - received).total_seconds() - (paused or 0)) / 86400
        for received, closed, paused in rows
        if closed
    )


def percentile(values: Sequence[float], p: int) -> float:
    """The nearest-rank percentile: the smallest value that at least ``p`` % do not exceed."""
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def open_and_overdue(db: Session, now: datetime) -> tuple[int, int]:
    is_open = col(DataRequest.status).in_([str(status) for status in OPEN])
    total = db.exec(select(func.count()).select_from(DataRequest).where(is_open)).one()
    # A request waiting for its person has its deadline paused: never overdue meanwhile.
    running = col(DataRequest.paused_at).is_(None)
    overdue = db.exec(
        select(func.count())
        .select_from(DataRequest)
        .where(is_open, running, DataRequest.due_at < now)
    ).one()
    return total, overdue


def kept_ending(db: Session, now: datetime) -> tuple[int, int]:
    """(records, erasure plans) kept under a rule's hold until a day from today to 29 days on:
    the deferred erasures queued for the days after (see the module's docstring)."""
    today = now.astimezone(UTC).date()
    first = datetime.combine(today + timedelta(days=1), time(), UTC)
    end = datetime.combine(today + timedelta(days=HOLDS_WITHIN + 1), time(), UTC)
    payloads = db.exec(
        select(Job.payload).where(
            Job.kind == DEFERRED_KIND,
            Job.status == JobStatus.queued,
            col(Job.run_at) >= first,
            col(Job.run_at) < end,
        )
    )
    records, plans = 0, set()
    for payload in payloads:
        records += len(payload.get("keys", ()))
        plans.add(payload.get("plan_id"))
    return records, len(plans)


def case_holds_to_review(db: Session, today: date) -> tuple[int, int]:
    """(to review in the next 30 days, review day passed) of the case holds not released."""
    active = col(CaseHoldRecord.released_at).is_(None)
    soon = db.exec(
        select(func.count())
        .select_from(CaseHoldRecord)
        .where(
            active,
            col(CaseHoldRecord.review_at) >= today,
            col(CaseHoldRecord.review_at) < today + timedelta(days=HOLDS_WITHIN),
        )
    ).one()
    passed = db.exec(
        select(func.count())
        .select_from(CaseHoldRecord)
        .where(active, col(CaseHoldRecord.review_at) < today)
    ).one()
    return soon, passed
