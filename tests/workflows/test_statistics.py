"""The DPO's overview in numbers, from fixed data, without HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session

from portal.datamap import load_datamap
from portal.demo import DATAMAP_PATH
from portal.jobs.queue import Job, JobStatus
from portal.models import Assurance, Subject
from portal.workflows.erasure import ErasurePlan, Step
from portal.workflows.erasure_run import schedule_deferred
from portal.workflows.records import CaseHoldKind, CaseHoldRecord
from portal.workflows.requests import DataRequest, RequestStatus, RequestType
from portal.workflows.statistics import days_to_complete, overview, percentile

# Thursday 26 Nov 2026, 10:00 in Oslo.
NOW = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
OSLO = "Europe/Oslo"


@pytest.fixture
def db(engine: Engine) -> Iterator[Session]:
    with Session(engine, expire_on_commit=False) as session:
        yield session


def subject(db: Session) -> int:
    person = Subject(national_id="01010112345", country="NO")
    db.add(person)
    db.flush()
    return person.id or 0


def request(
    db: Session,
    received: datetime,
    *,
    type: RequestType = RequestType.access,
    status: RequestStatus = RequestStatus.verified,
    closed: datetime | None = None,
    due: datetime | None = None,
    paused_days: int = 0,
) -> None:
    db.add(
        DataRequest(
            subject_id=None,
            type=type,
            status=status,
            assurance=Assurance.high,
            received_at=received,
            due_at=due or received + timedelta(days=30),
            closed_at=closed,
            paused_seconds=paused_days * 86400,
        )
    )
    db.flush()


def test_median_and_90th_percentile_of_days_to_complete(db: Session) -> None:
    for days in (2, 10, 40):
        closed = NOW - timedelta(days=5)
        request(db, closed - timedelta(days=days), status=RequestStatus.completed, closed=closed)
    # Partially completed counts; rejected, cancelled and those closed over 90 days ago do not.
    closed = NOW - timedelta(days=1)
    request(db, closed - timedelta(days=20), status=RequestStatus.rejected, closed=closed)
    request(db, closed - timedelta(days=1), status=RequestStatus.cancelled, closed=closed)
    old = NOW - timedelta(days=91)
    request(db, old - timedelta(days=1), status=RequestStatus.completed, closed=old)
    numbers = overview(db, NOW, OSLO)
    assert (numbers.completed, numbers.median_days, numbers.p90_days) == (3, 10, 40)
    request(
        db,
        NOW - timedelta(days=13),
        status=RequestStatus.partially_completed,
        closed=NOW - timedelta(days=1),
    )
    numbers = overview(db, NOW, OSLO)
    assert (numbers.completed, numbers.median_days, numbers.p90_days) == (4, 11, 40)


def test_days_to_complete_leave_out_the_wait_for_the_person(db: Session) -> None:
    """A request that waited 12 of its 20 days for the person's answer took 8 days of ours."""
    closed = NOW - timedelta(days=2)
    received = closed - timedelta(days=20)
    request(db, received, status=RequestStatus.completed, closed=closed, paused_days=12)
    request(db, received, status=RequestStatus.completed, closed=closed)
    request(db, received, status=RequestStatus.completed, closed=closed)
    numbers = overview(db, NOW, OSLO)
    assert (numbers.completed, numbers.median_days, numbers.p90_days) == (3, 20, 20)
    assert min(days_to_complete(db, NOW)) == 8


def test_the_90th_percentile_is_a_real_value_nearest_rank() -> None:
    assert percentile([5.0], 90) == 5.0
    assert percentile([float(n) for n in range(1, 11)], 90) == 9.0
    assert percentile([float(n) for n in range(1, 21)], 90) == 18.0


def test_no_requests_no_times(db: Session) -> None:
    numbers = overview(db, NOW, OSLO)
    assert (numbers.completed, numbers.median_days, numbers.p90_days) == (0, None, None)
    assert (numbers.open, numbers.overdue, numbers.parked_jobs) == (0, 0, 0)
    assert [week.total for week in numbers.weeks] == [0] * 12


def test_requests_per_week_by_type_on_the_controllers_calendar(db: Session) -> None:
    # This week began Monday 23 Nov, 00:00 in Oslo (22 Nov, 23:00 UTC).
    request(db, datetime(2026, 11, 22, 23, 30, tzinfo=UTC))  # Monday 00:30 in Oslo
    request(db, datetime(2026, 11, 22, 22, 30, tzinfo=UTC), type=RequestType.erasure)  # Sunday
    request(db, datetime(2026, 11, 25, 12, 0, tzinfo=UTC), type=RequestType.erasure)
    # The first of the twelve weeks began Monday 7 Sep; the Sunday before is out.
    request(db, datetime(2026, 9, 7, 8, 0, tzinfo=UTC), type=RequestType.objection)
    request(db, datetime(2026, 9, 6, 8, 0, tzinfo=UTC), type=RequestType.objection)
    weeks = overview(db, NOW, OSLO).weeks
    assert len(weeks) == 12
    assert weeks[0].start == date(2026, 9, 7) and weeks[-1].start == date(2026, 11, 23)
    assert weeks[-1].counts[RequestType.access] == 1
    assert weeks[-1].counts[RequestType.erasure] == 1
    assert weeks[-1].total == 2
    assert weeks[-2].counts[RequestType.erasure] == 1 and weeks[-2].total == 1
    assert weeks[0].counts[RequestType.objection] == 1 and weeks[0].total == 1
    assert sum(week.total for week in weeks) == 4


def test_open_and_overdue(db: Session) -> None:
    request(db, NOW - timedelta(days=40), due=NOW - timedelta(days=10))  # overdue
    request(db, NOW - timedelta(days=40), status=RequestStatus.waiting_for_subject,
            due=NOW - timedelta(minutes=1))  # fmt: skip
    request(db, NOW - timedelta(days=3))
    request(db, NOW - timedelta(days=40), status=RequestStatus.completed,
            closed=NOW - timedelta(days=1), due=NOW - timedelta(days=10))  # fmt: skip
    numbers = overview(db, NOW, OSLO)
    assert (numbers.open, numbers.overdue) == (3, 2)


def test_holds_ending_in_the_next_30_days_from_the_deferred_erasures_scheduled(
    db: Session,
) -> None:
    """The plan's deferred erasures, scheduled as execution schedules them: rows kept until
    today or within the 29 days after count; those kept until day 30 or later do not."""
    datamap = load_datamap(DATAMAP_PATH)
    today = NOW.date()

    def kept(table: str, key: int, until: date) -> Step:
        return Step(table=table, key=key, action="retain", until=until, then="erase")

    plan = ErasurePlan(
        datamap_version="x",
        planned_on=today,
        jurisdiction="NO",
        case_holds=(),
        tables=(),
        steps=(
            kept("shop_orders", 1, today),
            kept("shop_orders", 2, today + timedelta(days=29)),
            kept("shop_order_lines", 3, today + timedelta(days=29)),
            kept("shop_orders", 4, today + timedelta(days=30)),
            kept("shop_orders", 5, today - timedelta(days=1)),
        ),
    )
    schedule_deferred(db, 7, plan.deferred(), datamap, "plan", now=NOW)
    other = ErasurePlan(
        "x", today, "NO", (), (), (kept("shop_orders", 9, today + timedelta(days=3)),)
    )
    schedule_deferred(db, 8, other.deferred(), datamap, "plan", now=NOW)
    numbers = overview(db, NOW, OSLO)
    assert (numbers.kept_ending, numbers.kept_ending_erasures) == (4, 2)
    # A deferred erasure that already ran, or stopped, no longer waits.
    for job in db.exec(Job.__table__.select()).all():  # type: ignore[attr-defined]
        if job.payload["plan_id"] == 8:
            db.get(Job, job.id).status = JobStatus.done
    db.flush()
    assert overview(db, NOW, OSLO).kept_ending == 3


def test_case_holds_to_review_and_parked_jobs(db: Session) -> None:
    person = subject(db)
    today = date(2026, 11, 26)
    for review, released in (
        (today, None),
        (today + timedelta(days=29), None),
        (today + timedelta(days=30), None),
        (today - timedelta(days=1), None),
        (today + timedelta(days=2), NOW),
        (None, None),
    ):
        db.add(
            CaseHoldRecord(
                subject_id=person,
                kind=CaseHoldKind.litigation,
                reason="x",
                scope="person",
                review_at=review,
                released_at=released,
            )
        )
    for status in (JobStatus.parked, JobStatus.parked, JobStatus.queued, JobStatus.done):
        db.add(Job(kind="anything", status=status, run_at=NOW))
    db.flush()
    numbers = overview(db, NOW, OSLO)
    assert (numbers.case_holds_review_soon, numbers.case_holds_review_passed) == (2, 1)
    assert numbers.parked_jobs == 2
