"""Executing erasure plans against a freshly seeded demo company per test, on the --db kind.

The issue's scenarios assert the plan and the company's database afterwards; then: no
identifier of an erased person is left in any mapped column, execution is idempotent, a worker
killed mid-erasure leaves no source half-done and a restart finishes the plan exactly as a clean
run does, and the retention sweep.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import String, create_engine, func, select
from sqlalchemy.engine import Engine
from sqlmodel import Session
from sqlmodel import select as sm_select

from portal.audit import AuditEntry
from portal.datamap import Collection, DataMap, collect
from portal.datamap.collect import reflected_table
from portal.db import session_scope
from portal.demo import EDGE_CASES_BY_KEY
from portal.demo.seed import seed
from portal.jobs import queue as jobs
from portal.jobs.outbox import OutboxMessage
from portal.jobs.queue import Job
from portal.jobs.worker import Worker
from portal.models import Assurance, StaffMember, Subject, SubjectIdentifier, WebSession
from portal.workflows import erasure_run
from portal.workflows.erasure import ErasurePlan
from portal.workflows.erasure_run import PREFIX, Runtime, execute_plan, sweep
from portal.workflows.erasure_service import (
    approve_plan,
    plan_request,
    release_case_hold,
    set_case_hold,
)
from portal.workflows.letters import outcome_context
from portal.workflows.records import PlanSourceDone, PlanStatus, StoredPlan
from portal.workflows.requests import Actor, DataRequest, RequestType, file_request
from tests.conftest import TEST_SECRET
from tests.erasure_support import PEOPLE, TODAY
from tests.support import email_text, postgres_database

ROOT = Path(__file__).resolve().parents[2]
KEY = "test-pseudonym-key-0123456789abcdef"
NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


# --- fixtures and helpers (test_erasure_service.py uses them too) ------------------------------


@pytest.fixture
def new_demo(db_kind: str, tmp_path: Path) -> Iterator[Callable[[], Engine]]:
    """Fresh demo companies, as many as a test needs: erasure changes them for good."""
    made: list[Any] = []

    def make() -> Engine:
        if db_kind == "sqlite":
            engine = create_engine(f"sqlite:///{tmp_path / f'demo{len(made)}.db'}")
        else:
            context = postgres_database(f"innsyn_erun_{uuid.uuid4().hex[:10]}")
            engine = create_engine(context.__enter__())
            made.append(context)
        made.append(engine)
        seed(engine, PEOPLE, today=TODAY)
        return engine

    yield make
    for item in reversed(made):
        if isinstance(item, Engine):
            item.dispose()
        else:
            item.__exit__(None, None, None)


@pytest.fixture
def demo(new_demo: Callable[[], Engine]) -> Engine:
    return new_demo()


@pytest.fixture
def sources(datamap: DataMap, demo: Engine) -> dict[str, Engine]:
    return dict.fromkeys(datamap.sources, demo)


@pytest.fixture
def runtime(
    datamap: DataMap, sources: dict[str, Engine], monkeypatch: pytest.MonkeyPatch
) -> Runtime:
    """The job handlers' map and engines: this test's demo company."""
    monkeypatch.setenv(datamap.settings.pseudonym_key_env, KEY)
    found = Runtime(datamap, sources)
    monkeypatch.setattr(erasure_run, "_RUNTIME", found)
    return found


@pytest.fixture
def dpo(engine: Engine) -> int:
    with session_scope(engine) as db:
        staff = StaffMember(issuer="test", sub="dpo", name="DPO")
        db.add(staff)
        db.flush()
        return staff.id or 0


def national_id(key: str) -> str:
    return EDGE_CASES_BY_KEY[key].national_id


def new_request(engine: Engine, key: str, language: str = "en") -> int:
    with session_scope(engine) as db:
        subject = Subject(national_id=national_id(key), country="NO")
        db.add(subject)
        db.flush()
        request = file_request(
            db,
            subject_id=subject.id,
            type=RequestType.erasure,
            assurance=Assurance.high,
            actor=Actor.person,
            language=language,
            now=NOW,
        )
        return request.id or 0


def subject_id(engine: Engine, request_id: int) -> int:
    with Session(engine) as db:
        request = db.get(DataRequest, request_id)
        assert request is not None and request.subject_id is not None
        return request.subject_id


def plan(engine: Engine, request_id: int, rt: Runtime, now: datetime = NOW, **kw: Any) -> int:
    with session_scope(engine) as db:
        stored = plan_request(db, request_id, datamap=rt.datamap, sources=rt.sources, now=now, **kw)
        return stored.id or 0


def approve(engine: Engine, plan_id: int, staff_id: int | None) -> None:
    with session_scope(engine) as db:
        approve_plan(db, plan_id, staff_id=staff_id, now=NOW)


def run_jobs(engine: Engine, now: datetime = NOW) -> int:
    """Run every job due at ``now`` in this process; fails on any job that failed."""
    worker = Worker(engine, "test-worker", jobs.HANDLERS, now=lambda: now, schedule=[])
    ran = 0
    while worker.run_once():
        ran += 1
    with Session(engine) as db:
        errors = db.execute(select(Job.kind, Job.last_error).where(Job.last_error.is_not(None)))
        assert list(errors) == []
    return ran


def stored_plan(engine: Engine, plan_id: int) -> StoredPlan:
    with Session(engine) as db:
        found = db.get(StoredPlan, plan_id)
        assert found is not None
        return found


def erase(engine: Engine, key: str, rt: Runtime, dpo_id: int) -> tuple[int, int]:
    request_id = new_request(engine, key)
    plan_id = plan(engine, request_id, rt)
    approve(engine, plan_id, dpo_id)
    run_jobs(engine)
    return request_id, plan_id


def snapshot(datamap: DataMap, demo: Engine) -> dict[str, list[tuple]]:
    """Every row of every mapped table, by key: the company's whole state."""
    found: dict[str, list[tuple]] = {}
    with demo.connect() as connection:
        for name, spec in datamap.tables.items():
            table = reflected_table(demo, connection, datamap.db_table(name), None)
            rows = connection.execute(select(table).order_by(table.c[spec.key]))
            found[name] = [tuple(str(value) for value in row) for row in rows]
    return found


def row(demo: Engine, table: str, column: str, value: Any) -> dict[str, Any] | None:
    """The row of ``table`` whose ``column`` is ``value``, typed (dates as dates)."""
    with demo.connect() as connection:
        reflected = reflected_table(demo, connection, table, None)
        statement = select(reflected).where(reflected.c[column] == value)
        found = connection.execute(statement).mappings().first()
        return dict(found) if found else None


def keys(collection: Collection, table: str) -> list[Any]:
    return [item.key for item in collection.tables[table]]


def job_rows(engine: Engine, kind: str) -> list[Job]:
    with Session(engine) as db:
        statement = select(Job).where(Job.kind == kind).order_by(Job.run_at, Job.id)
        return list(db.execute(statement).scalars())


def request_of(engine: Engine, request_id: int) -> DataRequest:
    with Session(engine) as db:
        found = db.get(DataRequest, request_id)
        assert found is not None
        return found


# --- the scenarios ---------------------------------------------------------------------


def test_scenario_1_shop_customer(
    engine: Engine, demo: Engine, runtime: Runtime, dpo: int, datamap: DataMap
) -> None:
    marte = collect(datamap, runtime.sources, national_id("shop_customer"))
    orders = {r.key: r.as_dict() for r in marte.tables["shop_orders"]}
    complaint = marte.tables["shop_complaints"][0].as_dict()
    request_id, plan_id = erase(engine, "shop_customer", runtime, dpo)

    steps = ErasurePlan.from_dict(stored_plan(engine, plan_id).plan).steps
    actions = {(s.table, s.action, s.until) for s in steps}
    assert ("marketing_newsletter", "erase", None) in actions
    assert ("contact_calls", "erase", None) in actions
    assert ("shop_complaints", "retain", None) in actions
    assert ("billing_invoices", "retain", date(2029, 12, 31)) in actions

    # The newsletter and the calls are gone; the person finds nothing any more.
    for table in ("marketing_newsletter", "contact_calls", "crm_customers", "shop_accounts"):
        for key in keys(marte, table):
            assert row(demo, table, "id", key) is None, table
    assert collect(datamap, runtime.sources, national_id("shop_customer")).empty

    # Receipts and orders are kept, found by their order number only, pseudonymised.
    open_order = complaint["order_id"]
    for key, order in orders.items():
        kept = row(demo, "shop_orders", "order_number", order["order_number"])
        assert kept is not None and kept["account_id"] is None
        if key == open_order:  # kept as it is while the complaint is open
            assert kept["email"] == order["email"]
            assert kept["delivery_name"] == order["delivery_name"]
        else:
            assert kept["email"].startswith(PREFIX) and len(kept["email"]) <= 320
            assert kept["delivery_name"].startswith(PREFIX)
            assert kept["total"] == order["total"]
        invoice = row(demo, "billing_invoices", "order_number", order["order_number"])
        assert invoice is not None
        assert invoice["customer_number"].startswith(PREFIX)
        assert invoice["billing_name"].startswith(PREFIX)
        assert len(invoice["customer_number"]) <= 20
    kept_complaint = row(demo, "shop_complaints", "id", complaint["id"])
    assert kept_complaint == complaint

    request = request_of(engine, request_id)
    assert request.status == "partially_completed" and request.outcome
    assert stored_plan(engine, plan_id).status == PlanStatus.executed
    with Session(engine) as db:
        message = (
            db.execute(select(OutboxMessage).where(OutboxMessage.kind == "erasure_outcome"))
            .scalars()
            .one()
        )
        assert (message.kind, message.language) == ("erasure_outcome", "en")
        # One code path: the message the letters module builds, with the plan in plain words.
        expected = outcome_context(
            ErasurePlan.from_dict(stored_plan(engine, plan_id).plan),
            request_id=request_id,
            plan_id=plan_id,
            received_at=request.received_at,
            controller=datamap.controller,
            language="en",
        )
        # Filed with BankID: the letter is on the request's page, not attached.
        assert message.context == json.loads(json.dumps({**expected, "letter_attached": False}))
        _subject, body = email_text(
            "erasure_outcome", message.context, "en", "https://innsyn.example"
        )
        assert f"https://innsyn.example/me/requests/{request_id}\n" in body
        assert "bookkeeping" in body.lower()
        done = db.execute(select(PlanSourceDone.source).order_by(PlanSourceDone.id))
        assert list(done.scalars()) == ["crm", "shop", "billing", "contact_log", "marketing"]
    deferred = job_rows(engine, "erasure.deferred")
    assert {job.run_at.date() for job in deferred} == {date(2030, 1, 1), date(2032, 1, 1)}
    # Children's jobs first, so a parent is never deleted under its lines.
    first_day = [job.payload["table"] for job in deferred if job.run_at.date().year == 2030]
    assert first_day.index("shop_order_lines") < first_day.index("shop_orders")


def test_scenario_2_debtor_with_two_cases(
    engine: Engine, demo: Engine, runtime: Runtime, dpo: int, datamap: DataMap
) -> None:
    geir = collect(datamap, runtime.sources, national_id("two_collection_cases"))
    old, recent = sorted(geir.tables["collection_cases"], key=lambda r: r.value("closed_on"))
    erase(engine, "two_collection_cases", runtime, dpo)

    anonymised = row(demo, "collection_cases", "id", old.key)
    assert anonymised is not None
    assert (anonymised["debtor_national_id"], anonymised["debtor_name"]) == (None, None)
    assert anonymised["debtor_address"] is None
    assert anonymised["invoice_number"].startswith(PREFIX)
    assert anonymised["amount_due"] == old.value("amount_due")
    kept = row(demo, "collection_cases", "id", recent.key)
    assert kept is not None
    assert kept["debtor_national_id"].startswith(PREFIX) and len(kept["debtor_national_id"]) == 12
    assert (kept["debtor_name"], kept["debtor_address"]) == (None, None)
    assert kept["case_number"] == recent.value("case_number")

    # Kept until closing + 3 years (24 Nov 2028): the deferred job runs the day after.
    jobs_for_cases = [
        job
        for job in job_rows(engine, "erasure.deferred")
        if job.payload["table"] == "collection_cases"
    ]
    assert [(j.run_at.date(), j.payload["keys"], j.payload["then"]) for j in jobs_for_cases] == [
        (date(2028, 11, 25), [recent.key], "anonymise")
    ]
    # 1 Jan 2028: the old invoice and its payment, and the message telling Nets, the payment's
    # recipient, to erase it too (art. 19); the recent case is still kept.
    assert run_jobs(engine, datetime(2028, 11, 24, 23, tzinfo=UTC)) == 3
    assert row(demo, "collection_cases", "id", recent.key)["debtor_national_id"] is not None
    run_jobs(engine, datetime(2028, 11, 25, 1, tzinfo=UTC))
    done = row(demo, "collection_cases", "id", recent.key)
    assert done is not None and done["debtor_national_id"] is None
    assert done["case_number"] == recent.value("case_number")


def test_scenario_3_hold_ended_yesterday_keeps_nothing(
    engine: Engine, demo: Engine, runtime: Runtime, datamap: DataMap
) -> None:
    # Per Hansen's last hold (anti-money-laundering) ended 24 Nov 2029: planned the day after,
    # nothing is kept, and the plan is approved automatically.
    per = collect(datamap, runtime.sources, national_id("ended_relationship"))
    request_id = new_request(engine, "ended_relationship")
    planned = datetime(2029, 11, 25, 12, tzinfo=UTC)
    plan_id = plan(engine, request_id, runtime, now=planned, auto_approve=True)
    stored = stored_plan(engine, plan_id)
    assert stored.status == PlanStatus.approved and stored.approved_by is None
    assert not ErasurePlan.from_dict(stored.plan).holds_anything
    run_jobs(engine, planned + timedelta(minutes=1))

    assert request_of(engine, request_id).status == "completed"
    assert collect(datamap, runtime.sources, national_id("ended_relationship")).empty
    for table in ("crm_customers", "crm_credit_checks", "shop_accounts"):
        for key in keys(per, table):
            assert row(demo, table, "id", key) is None, table
    # Invoices are erased field by field, as the map says: the person is gone from them.
    for key in keys(per, "billing_invoices"):
        invoice = row(demo, "billing_invoices", "id", key)
        assert invoice is not None and invoice["billing_name"].startswith(PREFIX)
    assert job_rows(engine, "erasure.deferred") == []


def test_a_credit_check_kept_under_the_aml_hold_keeps_its_customer_until_both_go(
    engine: Engine, demo: Engine, runtime: Runtime, dpo: int, datamap: DataMap
) -> None:
    """Issue #18: on the last day of Per Hansen's anti-money-laundering hold, his credit check
    was kept while his customer record, which it points at (NOT NULL), was deleted: a
    ForeignKeyViolation on PostgreSQL (the request in progress for ever), a credit check
    pointing at nothing on SQLite. The hold now covers the record: both are kept, with the date
    the hold counts from, and both go the day after it ends."""
    per = collect(datamap, runtime.sources, national_id("ended_relationship"))
    [customer] = keys(per, "crm_customers")
    [check] = keys(per, "crm_credit_checks")
    request_id = new_request(engine, "ended_relationship")
    last_day = datetime(2029, 11, 24, 12, tzinfo=UTC)
    approve(engine, plan(engine, request_id, runtime, now=last_day), dpo)
    run_jobs(engine, last_day + timedelta(minutes=1))

    assert request_of(engine, request_id).status == "partially_completed"
    kept = row(demo, "crm_customers", "id", customer)
    assert kept is not None and kept["national_id"].startswith(PREFIX)
    assert kept["relationship_ended_on"] == date(2024, 11, 24)
    assert row(demo, "crm_credit_checks", "id", check) is not None
    run_jobs(engine, datetime(2029, 11, 25, 1, tzinfo=UTC))
    assert row(demo, "crm_credit_checks", "id", check) is None
    assert row(demo, "crm_customers", "id", customer) is None


def test_scenario_4_litigation_hold_keeps_everything_until_released(
    engine: Engine,
    new_demo: Callable[[], Engine],
    demo: Engine,
    runtime: Runtime,
    dpo: int,
    datamap: DataMap,
) -> None:
    request_id = new_request(engine, "ordinary")
    with session_scope(engine) as db:
        hold = set_case_hold(
            db,
            subject_id=subject_id(engine, request_id),
            kind="litigation",
            reason="Lawsuit about a delivery",
            scope="person",
            review_at=date(2027, 5, 1),
            staff_id=dpo,
            now=NOW,
            datamap=datamap,
        )
        hold_id = hold.id or 0
    before = snapshot(datamap, demo)
    plan_id = plan(engine, request_id, runtime)
    steps = ErasurePlan.from_dict(stored_plan(engine, plan_id).plan).steps
    assert {(s.action, s.until) for s in steps} == {("retain", None)}
    approve(engine, plan_id, dpo)
    run_jobs(engine)
    assert snapshot(datamap, demo) == before  # evidence is not altered
    assert request_of(engine, request_id).status == "partially_completed"

    with session_scope(engine) as db:
        release_case_hold(db, hold_id, staff_id=dpo, reason="Settled", now=NOW, datamap=datamap)
    assert len(job_rows(engine, "erasure.deferred")) == len({s.table for s in steps})
    run_jobs(engine)
    assert collect(datamap, runtime.sources, national_id("ordinary")).empty

    # The same as erasing her without the hold, on a fresh copy of the company.
    other = new_demo()
    clean = Runtime(datamap, dict.fromkeys(datamap.sources, other))
    with session_scope(engine) as db:
        request = db.get(DataRequest, request_id)
        assert request is not None
        second = file_request(
            db,
            subject_id=request.subject_id,
            type=RequestType.erasure,
            assurance=Assurance.high,
            actor=Actor.person,
            now=NOW,
        ).id
    with session_scope(engine) as db:
        stored = plan_request(db, second or 0, datamap=datamap, sources=clean.sources, now=NOW)
        assert not any(
            s.action == "retain" and s.until is None
            for s in ErasurePlan.from_dict(stored.plan).steps
        )
        approve_plan(db, stored.id or 0, staff_id=dpo, now=NOW)
        execute_plan(db, stored, datamap=datamap, sources=clean.sources, now=NOW)
    assert snapshot(datamap, demo) == snapshot(datamap, other)


def test_a_hold_set_after_execution_stops_the_deferred_job_until_released(
    engine: Engine, demo: Engine, runtime: Runtime, dpo: int, datamap: DataMap
) -> None:
    geir = collect(datamap, runtime.sources, national_id("two_collection_cases"))
    recent = max(geir.tables["collection_cases"], key=lambda r: r.value("closed_on"))
    request_id, _ = erase(engine, "two_collection_cases", runtime, dpo)
    with session_scope(engine) as db:
        hold = set_case_hold(
            db,
            subject_id=subject_id(engine, request_id),
            kind="authority_request",
            reason="Police request",
            scope="person",
            staff_id=dpo,
            now=datetime(2028, 6, 1, tzinfo=UTC),
            datamap=datamap,
        )
        hold_id = hold.id or 0
    run_jobs(engine, datetime(2028, 11, 25, 1, tzinfo=UTC))
    kept = row(demo, "collection_cases", "id", recent.key)
    assert kept is not None and kept["debtor_national_id"].startswith(PREFIX)

    released = datetime(2028, 12, 1, 9, tzinfo=UTC)
    with session_scope(engine) as db:
        release_case_hold(db, hold_id, staff_id=dpo, reason="Closed", now=released)
    run_jobs(engine, released)
    done = row(demo, "collection_cases", "id", recent.key)
    assert done is not None and done["debtor_national_id"] is None


# --- after erasure ------------------------------------------------------------------------------


def test_no_identifier_of_an_erased_person_is_left(
    engine: Engine, demo: Engine, runtime: Runtime, dpo: int, datamap: DataMap
) -> None:
    kari = collect(datamap, runtime.sources, national_id("ordinary"))
    values = {national_id("ordinary")} | {
        value for kind in ("customer_number", "email", "phone") for value in kari.identifiers[kind]
    }
    assert len(values) >= 4
    hits_before = _scan(datamap, demo, values)
    assert hits_before
    request_id = new_request(engine, "ordinary")
    person = subject_id(engine, request_id)
    with session_scope(engine) as db:
        db.add(SubjectIdentifier(subject_id=person, kind="email", value="kari@old.example",
                                 assurance="staff"))  # fmt: skip
        db.add(WebSession(id="s" * 64, subject_id=person))
        named = db.get(Subject, person)
        named.given_name, named.family_name = "Kari", "Nordmann"  # as a BankID sign-in sets
        db.add(named)
    approve(engine, plan(engine, request_id, runtime), dpo)
    run_jobs(engine)
    assert _scan(datamap, demo, values) == []
    # The portal forgets too: the name, linked identifiers and live sessions; the national ID
    # stays, as the key of the evidence (the request, its plan, the audit log).
    with session_scope(engine) as db:
        assert db.exec(sm_select(SubjectIdentifier)).all() == []
        assert db.get(WebSession, "s" * 64).ended_at is not None
        kept = db.get(Subject, person)
        assert (kept.national_id, kept.given_name, kept.family_name) == (
            national_id("ordinary"),
            "",
            "",
        )


def _scan(datamap: DataMap, demo: Engine, values: set[str]) -> list[tuple[str, str]]:
    """(table, column) of every mapped text column holding one of the values, in any case."""
    hits: list[tuple[str, str]] = []
    with demo.connect() as connection:
        for name in datamap.tables:
            table = reflected_table(demo, connection, datamap.db_table(name), None)
            for column in table.c:
                if not isinstance(column.type, String):
                    continue
                for value in values:
                    statement = select(func.count()).where(
                        func.lower(column).contains(value.lower(), autoescape=True)
                    )
                    if connection.execute(statement).scalar_one():
                        hits.append((name, column.name))
    return hits


def test_executing_twice_changes_nothing_more(
    engine: Engine, demo: Engine, runtime: Runtime, dpo: int, datamap: DataMap
) -> None:
    _, plan_id = erase(engine, "shop_customer", runtime, dpo)
    after = snapshot(datamap, demo)
    with session_scope(engine) as db:
        stored = db.get(StoredPlan, plan_id)
        assert stored is not None
        assert execute_plan(db, stored, datamap=datamap, sources=runtime.sources, now=NOW)
    # Re-apply every source from scratch, as after a crash before the markers were written.
    with session_scope(engine) as db:
        db.execute(PlanSourceDone.__table__.delete())
        stored = db.get(StoredPlan, plan_id)
        assert stored is not None
        stored.status = PlanStatus.approved
        db.add(stored)
        db.flush()
        execute_plan(db, stored, datamap=datamap, sources=runtime.sources, now=NOW)
    assert snapshot(datamap, demo) == after


@pytest.mark.real_clock
def test_a_worker_killed_mid_erasure_is_finished_by_the_next(
    engine: Engine,
    database_url: str,
    new_demo: Callable[[], Engine],
    demo: Engine,
    runtime: Runtime,
    dpo: int,
    datamap: DataMap,
    tmp_path: Path,
) -> None:
    request_id = new_request(engine, "ordinary")
    plan_id = plan(engine, request_id, runtime)
    approve(engine, plan_id, dpo)
    pause = tmp_path / "paused"
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "SECRET_KEY": TEST_SECRET,
        "PORTAL_VAR_DIR": str(tmp_path),
        "DEMO_DATABASE_URL": demo.url.render_as_string(hide_password=False),
        datamap.settings.pseudonym_key_env: KEY,
        erasure_run.PAUSE_ENV: str(pause),
    }
    command = [sys.executable, "-m", "portal.cli", "worker", "--poll", "0.05", "--lease", "1"]

    def start(name: str) -> subprocess.Popen[bytes]:
        with (tmp_path / f"{name}.log").open("w") as log:
            return subprocess.Popen(
                [*command, "--id", name], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
            )

    first = start("w-killed")
    try:
        _wait(pause.exists)
        # The first source (crm) is committed in the company's database, its marker is not.
        assert (
            collect(datamap, runtime.sources, national_id("ordinary")).count("crm_customers") == 0
        )
        first.send_signal(signal.SIGKILL)
        assert first.wait(timeout=30) == -signal.SIGKILL
    finally:
        if first.poll() is None:
            first.kill()
    with Session(engine) as db:
        assert db.execute(select(func.count()).select_from(PlanSourceDone)).scalar_one() == 0
    second = start("w-restarted")
    try:
        _wait(lambda: stored_plan(engine, plan_id).status == PlanStatus.executed)
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(timeout=30)

    # A clean run on a fresh copy ends in exactly the same state.
    other = new_demo()
    clean = dict.fromkeys(datamap.sources, other)
    with session_scope(engine) as db:
        stored = db.get(StoredPlan, plan_id)
        assert stored is not None
        copy = StoredPlan(
            request_id=stored.request_id,
            version=99,
            status=PlanStatus.approved,
            datamap_version=stored.datamap_version,
            plan=stored.plan,
        )
        db.add(copy)
        db.flush()
        execute_plan(db, copy, datamap=datamap, sources=clean, now=NOW)
    assert snapshot(datamap, demo) == snapshot(datamap, other)
    with Session(engine) as db:
        done = db.execute(select(PlanSourceDone.source).where(PlanSourceDone.plan_id == plan_id))
        sources_done = list(done.scalars())
    assert sorted(sources_done) == sorted(set(sources_done))  # each source once
    assert request_of(engine, request_id).status == "partially_completed"


def _wait(condition: Callable[[], bool], timeout: float = 60) -> None:
    import time

    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


# --- retention sweep ------------------------------------------------------------------------------


def test_retention_sweep_dry_run_then_apply(
    engine: Engine, demo: Engine, runtime: Runtime, datamap: DataMap
) -> None:
    before = snapshot(datamap, demo)
    with session_scope(engine) as db:
        report = sweep(db, datamap=datamap, sources=runtime.sources, today=TODAY, now=NOW)
    assert report.due and snapshot(datamap, demo) == before  # a dry run changes nothing
    counts = report.counts()
    with session_scope(engine) as db:
        sweep(db, datamap=datamap, sources=runtime.sources, today=TODAY, dry_run=False, now=NOW)
    with session_scope(engine) as db:
        again = sweep(db, datamap=datamap, sources=runtime.sources, today=TODAY, now=NOW)
    assert [item for item in again.due if item.then == "delete_row"] == []
    for item in report.due:
        if item.then == "delete_row":
            for key in item.keys:
                assert row(demo, item.table, datamap.tables[item.table].key, key) is None
    with Session(engine) as db:
        entry = (
            db.execute(select(AuditEntry).where(AuditEntry.action == "retention.sweep"))
            .scalars()
            .one()
        )
    assert {(d["table"], d["rule"]): d["rows"] for d in entry.details["due"]} == {
        key: value for key, value in counts.items()
    }
    assert entry.subject_id is None
    assert "keys" not in str(entry.details)


def test_pseudonym_key_and_sweep_schedule(datamap: DataMap, tmp_path: Path) -> None:
    name = datamap.settings.pseudonym_key_env
    assert erasure_run.pseudonym_key(datamap, {name: KEY}) == KEY.encode()
    with pytest.raises(erasure_run.ErasureError) as refused:
        erasure_run.pseudonym_key(datamap, {"PORTAL_ENV": "production"})
    assert name in str(refused.value)
    development = {"PORTAL_VAR_DIR": str(tmp_path)}
    generated = erasure_run.pseudonym_key(datamap, development)
    assert len(generated) == 64 and erasure_run.pseudonym_key(datamap, development) == generated
    # Daily in production; a development or test worker sweeps only when told to.
    assert erasure_run._sweep_every({"PORTAL_ENV": "production"}) == timedelta(days=1)
    assert (
        erasure_run._sweep_every({"PORTAL_ENV": "production", "INNSYN_RETENTION_SWEEP": "off"})
        is None
    )
    assert erasure_run._sweep_every({}) is None
    assert erasure_run._sweep_every({"INNSYN_RETENTION_SWEEP": "on"}) == timedelta(days=1)
