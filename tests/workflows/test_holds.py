"""The holds page's domain: listing active and released case holds, setting one (a reason
required, on one person), releasing one (the person's open erasure planned again), the review
date, and the review reminders (once per hold and review date)."""

# ruff: noqa: F811 - fixtures imported from test_erasure_run are parameters here

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlmodel import Session

from portal.audit import AuditEntry
from portal.datamap import DataMap, collect
from portal.db import session_scope
from portal.jobs import queue as jobs
from portal.jobs.outbox import OutboxMessage
from portal.jobs.queue import Job, enqueue
from portal.jobs.worker import Worker
from portal.models import Assurance, StaffMember, Subject
from portal.workflows import erasure_run, holds
from portal.workflows.erasure import ErasurePlan
from portal.workflows.holds import HoldRefused, Sources
from portal.workflows.records import CaseHoldRecord, PlanSourceDone, PlanStatus, StoredPlan
from portal.workflows.requests import (
    Actor,
    DataRequest,
    RequestStatus,
    RequestType,
    file_request,
)
from tests.support import email_text
from tests.workflows.test_erasure_run import (  # noqa: F401 - fixtures
    NOW,
    approve,
    demo,
    dpo,
    national_id,
    new_demo,
    new_request,
    plan,
    request_of,
    run_jobs,
    runtime,
    sources,
    stored_plan,
    subject_id,
)
from tests.workflows.test_erasure_run import Runtime as RuntimeType
from tests.workflows.test_kept import kept_now

TODAY = date(2026, 11, 24)
MAILBOX = "personvernombud@nordlys.example"
KARI = "01017012345"  # not a valid number: the listing never parses it
VALID_NO = "15076500565"


def person(db: Session, number: str = KARI, name: str = "Kari") -> int:
    subject = Subject(national_id=number, country="NO", given_name=name, family_name="Nordmann")
    db.add(subject)
    db.flush()
    return subject.id or 0


def staff(db: Session, name: str) -> int:
    member = StaffMember(issuer="test", sub=name, name=name)
    db.add(member)
    db.flush()
    return member.id or 0


def hold(db: Session, subject: int, **values: object) -> int:
    fields: dict[str, object] = {
        "kind": "litigation",
        "reason": "Lawsuit",
        "scope": "person",
        "set_at": NOW - timedelta(days=10),
        **values,
    }
    row = CaseHoldRecord(subject_id=subject, **fields)
    db.add(row)
    db.flush()
    return row.id or 0


def sources_of(rt: RuntimeType) -> Sources:
    return Sources(rt.datamap, rt.sources)


def audit_actions(engine: Engine) -> list[tuple[str, int | None, str | None]]:
    with Session(engine) as db:
        entries = db.execute(select(AuditEntry).order_by(AuditEntry.id)).scalars()
        return [(e.action, e.subject_id, e.reason) for e in entries]


# --- listing ------------------------------------------------------------------------------------


def test_active_holds_by_review_day_and_recently_released_ones(engine: Engine) -> None:
    with session_scope(engine) as db:
        kari = person(db)
        ola = person(db, "02027012345", "Ola")
        per = staff(db, "Per")
        lise = staff(db, "Lise")
        request = file_request(
            db,
            subject_id=kari,
            type=RequestType.erasure,
            assurance=Assurance.high,
            actor=Actor.person,
            now=NOW,
        )
        later = hold(db, kari, review_at=date(2027, 3, 1), set_by=per, request_id=request.id)
        sooner = hold(db, ola, review_at=date(2026, 12, 1), set_by=lise)
        never = hold(db, ola, kind="complaint")
        recent = hold(
            db, kari, released_at=NOW - timedelta(days=2), released_by=lise, release_reason="Won"
        )
        hold(db, kari, released_at=NOW - timedelta(days=91), released_by=lise, release_reason="Old")
        request_id = request.id
    with Session(engine) as db:
        active = holds.active_holds(db)
        released = holds.released_holds(db, NOW)
    assert [entry.hold.id for entry in active] == [sooner, later, never]
    first = active[1]
    assert (first.person, first.set_by, first.request_id, first.request_type) == (
        "Kari Nordmann",
        "Per",
        request_id,
        RequestType.erasure,
    )
    assert (active[2].person, active[2].set_by, active[2].request_id) == (
        "Ola Nordmann",
        None,
        None,
    )
    assert [(e.hold.id, e.released_by, e.hold.release_reason) for e in released] == [
        (recent, "Lise", "Won")
    ]


def test_viewing_the_holds_is_logged_once_per_person(engine: Engine) -> None:
    with session_scope(engine) as db:
        kari, ola = person(db), person(db, "02027012345", "Ola")
        viewer = staff(db, "Per")
        for subject in (kari, ola, kari):
            hold(db, subject)
    with session_scope(engine) as db:
        holds.record_view(db, holds.active_holds(db), viewer, NOW)
    assert audit_actions(engine) == [("case_hold.view", kari, None), ("case_hold.view", ola, None)]


# --- setting, releasing, the review date --------------------------------------------------------


def set_form(**changes: object) -> dict[str, object]:
    return {
        "request_id": None,
        "national_id": VALID_NO,
        "kind": "litigation",
        "reason": "Lawsuit from the customer, case 26-1234",
        "review_at": date(2027, 1, 15),
        **changes,
    }


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"reason": "  "}, "reason"),
        ({"reason": "x" * 2001}, "reason"),
        ({"kind": "whim"}, "kind"),
        ({"kind": "restriction"}, "kind"),  # the person's own request sets that one
        ({"national_id": ""}, "person"),  # neither a request nor a person
        ({"request_id": 1}, "person"),  # both
        ({"national_id": "12345678901"}, "national_id"),
        ({"national_id": "1" * 21}, "national_id"),
        ({"review_at": date(2026, 11, 23)}, "review_at"),
        ({"national_id": "", "request_id": 999}, "request_id"),
    ],
)
def test_a_hold_needs_a_kind_a_reason_and_one_person(
    engine: Engine, datamap: DataMap, changes: dict[str, object], field: str
) -> None:
    with session_scope(engine) as db:
        officer = staff(db, "Per")
    with session_scope(engine) as db, pytest.raises(HoldRefused) as refused:
        holds.set_hold(
            db,
            **set_form(**changes),  # type: ignore[arg-type]
            staff_id=officer,
            now=NOW,
            today=TODAY,
            sources=Sources(datamap, {}),
        )
    assert refused.value.field == field
    with Session(engine) as db:
        assert db.execute(select(CaseHoldRecord)).first() is None
        assert db.execute(select(Subject)).first() is None


def test_a_request_whose_person_is_not_verified_cannot_be_held(
    engine: Engine, datamap: DataMap
) -> None:
    with session_scope(engine) as db:
        officer = staff(db, "Per")
        filed = DataRequest(
            type=RequestType.erasure,
            status=RequestStatus.received,
            assurance=Assurance.low,
            received_at=NOW,
            due_at=NOW + timedelta(days=30),
        )
        db.add(filed)
        db.flush()
        request_id = filed.id
    with session_scope(engine) as db, pytest.raises(HoldRefused) as refused:
        holds.set_hold(
            db,
            **set_form(national_id="", request_id=request_id),  # type: ignore[arg-type]
            staff_id=officer,
            now=NOW,
            today=TODAY,
            sources=Sources(datamap, {}),
        )
    assert refused.value.field == "request_id"


def test_a_hold_on_a_person_by_national_id_makes_them_known(
    engine: Engine, datamap: DataMap
) -> None:
    with session_scope(engine) as db:
        officer = staff(db, "Per")
    with session_scope(engine) as db:
        made = holds.set_hold(
            db,
            **set_form(national_id="150765 00565"),  # type: ignore[arg-type]
            staff_id=officer,
            now=NOW,
            today=TODAY,
            sources=Sources(datamap, {}),
        )
        hold_id, subject = made.id, made.subject_id
    with Session(engine) as db:
        found = db.get(Subject, subject)
        assert found is not None and found.national_id == VALID_NO
        row = db.get(CaseHoldRecord, hold_id)
        assert row is not None
        assert (row.kind, row.scope, row.request_id, row.review_at, row.set_by) == (
            "litigation",
            "person",
            None,
            date(2027, 1, 15),
            officer,
        )
    assert audit_actions(engine) == [
        ("case_hold.set", subject, "Lawsuit from the customer, case 26-1234")
    ]


def test_the_review_date_changes_and_is_logged(engine: Engine) -> None:
    with session_scope(engine) as db:
        kari, officer = person(db), staff(db, "Per")
        held = hold(db, kari, review_at=date(2026, 12, 1))
        released = hold(db, kari, released_at=NOW)
    with session_scope(engine) as db, pytest.raises(HoldRefused) as refused:
        holds.set_review_date(db, held, date(2026, 11, 23), staff_id=officer, now=NOW, today=TODAY)
    assert refused.value.field == "review_at"
    with session_scope(engine) as db, pytest.raises(HoldRefused):
        holds.set_review_date(
            db, released, date(2027, 1, 1), staff_id=officer, now=NOW, today=TODAY
        )
    with session_scope(engine) as db:
        holds.set_review_date(db, held, date(2027, 2, 1), staff_id=officer, now=NOW, today=TODAY)
    with Session(engine) as db:
        row = db.get(CaseHoldRecord, held)
        assert row is not None and row.review_at == date(2027, 2, 1)
        entry = db.execute(select(AuditEntry)).scalar_one()
    assert (entry.action, entry.subject_id, entry.details) == (
        "case_hold.review_date",
        kari,
        {"hold_id": held, "review_at": "2027-02-01", "previous": "2026-12-01"},
    )


def plan_steps(engine: Engine, plan_id: int) -> ErasurePlan:
    return ErasurePlan.from_dict(stored_plan(engine, plan_id).plan)


def latest(engine: Engine, request_id: int) -> StoredPlan:
    with Session(engine) as db:
        rows = db.execute(
            select(StoredPlan)
            .where(StoredPlan.request_id == request_id)
            .order_by(StoredPlan.version.desc())
        ).scalars()
        return next(iter(rows))


def hold_request(engine: Engine, request_id: int, runtime: RuntimeType, dpo: int) -> int:
    """The DPO's case hold on the person of a request (the form's defaults); its id."""
    with session_scope(engine) as db:
        return (
            holds.set_hold(
                db,
                **set_form(national_id="", request_id=request_id),  # type: ignore[arg-type]
                staff_id=dpo,
                now=NOW,
                today=TODAY,
                sources=sources_of(runtime),
            ).id
            or 0
        )


def test_setting_and_releasing_a_hold_plans_the_open_erasure_again(
    engine: Engine, runtime: RuntimeType, dpo: int
) -> None:
    request_id = new_request(engine, "ordinary")
    first = plan(engine, request_id, runtime)
    assert not any(r.source == "case" for s in plan_steps(engine, first).steps for r in s.reasons)
    with session_scope(engine) as db:
        made = holds.set_hold(
            db,
            **set_form(national_id="", request_id=request_id),  # type: ignore[arg-type]
            staff_id=dpo,
            now=NOW,
            today=TODAY,
            sources=sources_of(runtime),
        )
        hold_id = made.id or 0
        assert made.request_id == request_id
    held = latest(engine, request_id)
    assert (held.version, held.status) == (2, PlanStatus.proposed)
    assert stored_plan(engine, first).status == PlanStatus.superseded
    steps = ErasurePlan.from_dict(held.plan).steps
    assert steps and all(s.action == "retain" and s.until is None for s in steps)

    with session_scope(engine) as db, pytest.raises(HoldRefused) as refused:
        holds.release_hold(
            db, hold_id, reason=" ", staff_id=dpo, now=NOW, sources=sources_of(runtime)
        )
    assert refused.value.field == "reason"
    with session_scope(engine) as db:
        holds.release_hold(
            db, hold_id, reason="Settled", staff_id=dpo, now=NOW, sources=sources_of(runtime)
        )
    again = latest(engine, request_id)
    assert (again.version, again.status) == (3, PlanStatus.proposed)
    assert not any(
        r.source == "case" for s in ErasurePlan.from_dict(again.plan).steps for r in s.reasons
    )
    assert request_of(engine, request_id).status == "awaiting_approval"
    person_id = subject_id(engine, request_id)
    assert [a for a in audit_actions(engine) if a[0].startswith("case_hold")] == [
        ("case_hold.set", person_id, "Lawsuit from the customer, case 26-1234"),
        ("case_hold.release", person_id, "Settled"),
    ]
    with session_scope(engine) as db, pytest.raises(HoldRefused):
        holds.release_hold(
            db, hold_id, reason="Again", staff_id=dpo, now=NOW, sources=sources_of(runtime)
        )


def test_a_hold_set_while_the_erasure_is_under_way_keeps_what_it_covers(
    engine: Engine, runtime: RuntimeType, dpo: int, datamap: DataMap
) -> None:
    """The approved plan is made again for what is not yet done; its old job does nothing."""
    request_id = new_request(engine, "ordinary")
    approved = plan(engine, request_id, runtime)
    approve(engine, approved, dpo)
    hold_request(engine, request_id, runtime, dpo)
    newer = latest(engine, request_id)
    assert (newer.version, newer.status, newer.approved_by) == (2, PlanStatus.approved, dpo)
    assert stored_plan(engine, approved).status == PlanStatus.superseded
    run_jobs(engine)
    assert stored_plan(engine, newer.id or 0).status == PlanStatus.executed
    assert request_of(engine, request_id).status == "partially_completed"
    # Everything found for her is kept (pseudonymised, no longer found by her national ID).
    kept = ErasurePlan.from_dict(newer.plan).steps
    assert kept and all(s.action == "retain" and s.until is None for s in kept)
    with Session(engine) as db:
        execute_jobs = db.execute(select(Job).where(Job.kind == "erasure.execute")).scalars()
        assert {job.status for job in execute_jobs} == {"done"}


def test_releasing_a_hold_erases_what_an_executed_erasure_kept_under_it(
    engine: Engine, runtime: RuntimeType, dpo: int, datamap: DataMap
) -> None:
    request_id = new_request(engine, "ordinary")
    hold_id = hold_request(engine, request_id, runtime, dpo)
    approve(engine, plan(engine, request_id, runtime), dpo)
    run_jobs(engine)
    assert request_of(engine, request_id).status == "partially_completed"
    with session_scope(engine) as db:
        holds.release_hold(
            db, hold_id, reason="Settled", staff_id=dpo, now=NOW, sources=sources_of(runtime)
        )
    run_jobs(engine)
    assert collect(datamap, runtime.sources, national_id("ordinary")).empty


def test_a_hold_released_half_way_through_an_erasure_erases_what_the_done_sources_kept(
    engine: Engine, runtime: RuntimeType, dpo: int, datamap: DataMap
) -> None:
    """One source carried out under the hold (its rows kept), then the hold released: the rest
    is planned again, and the rows the done source kept under the hold are erased too, not left
    kept with no reason until a retention sweep."""
    request_id = new_request(engine, "ordinary")
    hold_id = hold_request(engine, request_id, runtime, dpo)
    first = plan(engine, request_id, runtime)
    approve(engine, first, dpo)
    worker = Worker(engine, "one-source", jobs.HANDLERS, now=lambda: NOW, schedule=[])
    done: list[str] = []
    while not done and worker.run_once():  # until the first source is carried out
        with Session(engine) as db:
            done = list(db.execute(select(PlanSourceDone.source)).scalars())
    assert len(done) == 1 and stored_plan(engine, first).status == PlanStatus.approved
    kept_there = [
        s for s in plan_steps(engine, first).steps if datamap.tables[s.table].source in done
    ]
    assert kept_there and all(s.action == "retain" for s in kept_there)
    with session_scope(engine) as db:
        holds.release_hold(
            db, hold_id, reason="Settled", staff_id=dpo, now=NOW, sources=sources_of(runtime)
        )
    run_jobs(engine)
    newer = latest(engine, request_id)
    assert newer.status == PlanStatus.executed and newer.id != first
    person = subject_id(engine, request_id)
    left = kept_now(engine, person, datamap, runtime.sources)
    # What the law keeps anyway (bookkeeping) may stay; nothing stays for the released hold.
    assert left and not any(group.case for table in left for group in table.groups)
    # Her customer record, kept in the done source only for the hold, is gone with the rest.
    assert collect(datamap, runtime.sources, national_id("ordinary")).empty


# --- review reminders ---------------------------------------------------------------------------


def run_reminders(engine: Engine, now: datetime, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DPO_EMAIL", MAILBOX)
    worker = Worker(engine, "holds", jobs.HANDLERS, now=lambda: now, schedule=[])
    with session_scope(engine) as db:
        key, start = jobs.period_key(holds.SCHEDULE_KIND, timedelta(days=1), now)
        enqueue(db, holds.SCHEDULE_KIND, run_at=start, dedupe_key=key, now=now)
    while worker.run_once():
        pass


def reminders_sent(engine: Engine) -> list[dict[str, object]]:
    with Session(engine) as db:
        rows = db.execute(
            select(OutboxMessage)
            .where(OutboxMessage.kind == holds.MESSAGE_KIND)
            .order_by(OutboxMessage.id)
        ).scalars()
        return [dict(row.context, email=row.email) for row in rows]


@pytest.fixture
def company(datamap: DataMap, monkeypatch: pytest.MonkeyPatch) -> None:
    """The workers' data map (the controller's time zone), without its databases."""
    monkeypatch.setattr(erasure_run, "_RUNTIME", RuntimeType(datamap, {}))


def test_a_review_reminder_is_sent_once_per_hold_and_review_date(
    engine: Engine, monkeypatch: pytest.MonkeyPatch, company: None
) -> None:
    with session_scope(engine) as db:
        kari = person(db)
        officer = staff(db, "Per")
        today = hold(db, kari, review_at=date(2026, 11, 25))
        passed = hold(db, kari, review_at=date(2026, 11, 1))
        tomorrow = hold(db, kari, review_at=date(2026, 11, 26))
        hold(db, kari)  # no review date
        hold(db, kari, review_at=date(2026, 11, 1), released_at=NOW)  # released
    # 23:30 UTC on the 24th is already the 25th in Oslo, the company's day.
    evening = datetime(2026, 11, 24, 23, 30, tzinfo=UTC)
    run_reminders(engine, evening, monkeypatch)
    assert reminders_sent(engine) == [
        {"hold_id": passed, "review_on": "2026-11-01", "email": MAILBOX},
        {"hold_id": today, "review_on": "2026-11-25", "email": MAILBOX},
    ]
    # The next day: the hold due that day, no second reminder of the others.
    run_reminders(engine, evening + timedelta(days=1), monkeypatch)
    assert reminders_sent(engine)[2:] == [
        {"hold_id": tomorrow, "review_on": "2026-11-26", "email": MAILBOX}
    ]
    # A new review date is reminded when it comes.
    with session_scope(engine) as db:
        holds.set_review_date(db, today, date(2026, 12, 1), staff_id=officer, now=NOW, today=TODAY)
    run_reminders(engine, evening + timedelta(days=3), monkeypatch)
    assert len(reminders_sent(engine)) == 3
    run_reminders(engine, datetime(2026, 12, 1, 8, tzinfo=UTC), monkeypatch)
    assert reminders_sent(engine)[3:] == [
        {"hold_id": today, "review_on": "2026-12-01", "email": MAILBOX}
    ]


def test_a_reminder_for_a_hold_released_meanwhile_is_not_sent(engine: Engine) -> None:
    with session_scope(engine) as db:
        held = hold(db, person(db), review_at=TODAY)
        assert holds.schedule_review_reminders(db, TODAY, NOW) == 1
        assert holds.schedule_review_reminders(db, TODAY, NOW) == 0
        row = db.get(CaseHoldRecord, held)
        assert row is not None
        row.released_at = NOW
        db.add(row)
        db.flush()
        assert holds.queue_review_reminder(db, held, TODAY, mailbox=MAILBOX, now=NOW) is None


def test_the_reminder_names_the_hold_and_links_it_nothing_about_the_person() -> None:
    subject, text = email_text(
        holds.MESSAGE_KIND, {"hold_id": 7, "review_on": "2026-12-01"}, "en", "https://p.example"
    )
    assert subject == "Case hold 7 is due for review (1 Dec 2026)"
    assert "https://p.example/dpo/holds#hold-7" in text
