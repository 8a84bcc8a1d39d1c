"""The erasure API the DPO and person pages call: versions, approval, case holds."""

# ruff: noqa: F811 - fixtures imported from test_erasure_run are parameters here

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlmodel import Session

from portal.audit import AuditEntry
from portal.datamap import DataMap
from portal.db import session_scope
from portal.jobs.queue import Job
from portal.models import Assurance
from portal.workflows.erasure import ErasurePlan, Phase
from portal.workflows.erasure_service import (
    CaseHoldRefused,
    PlanRefused,
    approve_plan,
    latest_plan,
    plan_phase,
    plan_request,
    release_case_hold,
    set_case_hold,
)
from portal.workflows.records import PlanStatus, StoredPlan
from portal.workflows.requests import (
    Actor,
    RequestStatus,
    RequestType,
    TransitionRefused,
    file_request,
)
from tests.workflows.test_erasure_run import (  # noqa: F401 - fixtures
    NOW,
    demo,
    dpo,
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


def jobs_of(engine: Engine, kind: str) -> list[Job]:
    with Session(engine) as db:
        return list(db.execute(select(Job).where(Job.kind == kind)).scalars())


def test_replanning_supersedes_and_only_the_latest_is_approved(
    engine: Engine, runtime: RuntimeType, dpo: int
) -> None:
    request_id = new_request(engine, "shop_customer")
    first = plan(engine, request_id, runtime)
    assert request_of(engine, request_id).status == "awaiting_approval"
    second = plan(engine, request_id, runtime)
    assert request_of(engine, request_id).status == "awaiting_approval"
    assert stored_plan(engine, first).status == PlanStatus.superseded
    assert (stored_plan(engine, second).version, stored_plan(engine, second).status) == (
        2,
        PlanStatus.proposed,
    )
    with Session(engine) as db:
        latest = latest_plan(db, request_id)
        assert latest is not None and latest.id == second

    with session_scope(engine) as db, pytest.raises(PlanRefused):
        approve_plan(db, first, staff_id=dpo, now=NOW)
    with session_scope(engine) as db:
        approved = approve_plan(db, second, staff_id=dpo, now=NOW)
        assert (approved.status, approved.approved_by) == (PlanStatus.approved, dpo)
    with session_scope(engine) as db, pytest.raises(PlanRefused):
        approve_plan(db, second, staff_id=dpo, now=NOW)
    assert request_of(engine, request_id).status == "in_progress"
    [job] = jobs_of(engine, "erasure.execute")
    assert job.payload == {"plan_id": second}
    # A plan cannot be made once the request is under way.
    with session_scope(engine) as db, pytest.raises(TransitionRefused):
        plan_request(db, request_id, datamap=runtime.datamap, sources=runtime.sources, now=NOW)
    with Session(engine) as db:
        actions = [e.action for e in db.execute(select(AuditEntry)).scalars()]
    assert actions == ["erasure.plan", "erasure.plan", "erasure.approve"]


def test_a_plan_that_keeps_something_waits_for_the_dpo(
    engine: Engine, runtime: RuntimeType
) -> None:
    request_id = new_request(engine, "shop_customer")
    plan_id = plan(engine, request_id, runtime, auto_approve=True)
    assert stored_plan(engine, plan_id).status == PlanStatus.proposed
    with session_scope(engine) as db, pytest.raises(PlanRefused):
        approve_plan(db, plan_id, staff_id=None, now=NOW)
    assert jobs_of(engine, "erasure.execute") == []


def test_only_erasure_requests_are_planned(engine: Engine, runtime: RuntimeType) -> None:
    request_id = new_request(engine, "ordinary")
    with session_scope(engine) as db:
        other = file_request(
            db,
            subject_id=subject_id(engine, request_id),
            type=RequestType.access,
            assurance=Assurance.high,
            actor=Actor.person,
            now=NOW,
        )
        other_id = other.id or 0
    with session_scope(engine) as db, pytest.raises(PlanRefused):
        plan_request(db, other_id, datamap=runtime.datamap, sources=runtime.sources, now=NOW)


def test_case_holds_are_validated(engine: Engine, datamap: DataMap, dpo: int) -> None:
    request_id = new_request(engine, "ordinary")
    person = subject_id(engine, request_id)
    base = {
        "subject_id": person,
        "kind": "litigation",
        "reason": "Lawsuit",
        "scope": "person",
        "staff_id": dpo,
        "now": NOW,
        "datamap": datamap,
    }
    bad = [
        {"reason": "  "},
        {"kind": "whim"},
        {"scope": "everything"},
        {"scope": "record"},
        {"scope": "record", "table_name": "no_such_table", "row_key": "1"},
        {"scope": "record", "table_name": "shop_orders"},
        {"subject_id": person + 1000},
    ]
    for change in bad:
        with session_scope(engine) as db, pytest.raises(CaseHoldRefused):
            set_case_hold(db, **{**base, **change})
    with session_scope(engine) as db:
        hold = set_case_hold(
            db, **{**base, "scope": "record", "table_name": "shop_orders", "row_key": 3}
        )
        hold_id = hold.id or 0
        assert (hold.table_name, hold.row_key) == ("shop_orders", "3")
    with session_scope(engine) as db, pytest.raises(CaseHoldRefused):
        release_case_hold(db, hold_id, staff_id=dpo, reason="", now=NOW)
    with session_scope(engine) as db:
        release_case_hold(db, hold_id, staff_id=dpo, reason="Dropped", now=NOW)
    with session_scope(engine) as db, pytest.raises(CaseHoldRefused):
        release_case_hold(db, hold_id, staff_id=dpo, reason="Again", now=NOW)
    with Session(engine) as db:
        entries = list(db.execute(select(AuditEntry).order_by(AuditEntry.id)).scalars())
    assert [(e.action, e.subject_id, e.reason) for e in entries] == [
        ("case_hold.set", person, "Lawsuit"),
        ("case_hold.release", person, "Dropped"),
    ]
    assert entries[0].details["table"] == "shop_orders"


def test_a_record_hold_keeps_that_order_and_what_hangs_under_it(
    engine: Engine, runtime: RuntimeType, dpo: int
) -> None:
    request_id = new_request(engine, "ordinary")
    before = ErasurePlan.from_dict(stored_plan(engine, plan(engine, request_id, runtime)).plan)
    order = next(s for s in before.steps if s.table == "shop_orders")
    with session_scope(engine) as db:
        set_case_hold(
            db,
            subject_id=subject_id(engine, request_id),
            kind="complaint",
            reason="Complaint to the consumer council",
            scope="record",
            table_name="shop_orders",
            row_key=order.key,
            staff_id=dpo,
            datamap=runtime.datamap,
            now=NOW,
        )
    after = ErasurePlan.from_dict(stored_plan(engine, plan(engine, request_id, runtime)).plan)
    held = [s for s in after.steps if any(r.source == "case" for r in s.reasons)]
    # The order, its lines, and its receipt (linked by order number) with the payment.
    assert {s.table for s in held} == {
        "shop_orders",
        "shop_order_lines",
        "billing_invoices",
        "billing_payments",
    }
    assert [s.key for s in held if s.table == "shop_orders"] == [order.key]
    assert all((s.action, s.until) == ("retain", None) for s in held)


def test_a_hold_released_yesterday_keeps_nothing(
    engine: Engine, runtime: RuntimeType, dpo: int
) -> None:
    request_id = new_request(engine, "ordinary")
    with session_scope(engine) as db:
        hold = set_case_hold(
            db,
            subject_id=subject_id(engine, request_id),
            kind="litigation",
            reason="Lawsuit",
            scope="person",
            staff_id=dpo,
            now=datetime(2026, 1, 5, 9, tzinfo=UTC),
        )
        release_case_hold(
            db,
            hold.id or 0,
            staff_id=dpo,
            reason="Settled",
            now=datetime(2026, 11, 23, 16, tzinfo=UTC),
        )
    plan_id = plan(engine, request_id, runtime)
    stored = ErasurePlan.from_dict(stored_plan(engine, plan_id).plan)
    assert stored.case_holds == ()
    assert not any(r.source == "case" for s in stored.steps for r in s.reasons)
    # No executed plan kept anything under it: nothing is queued on release.
    assert jobs_of(engine, "erasure.deferred") == []
    with Session(engine) as db:
        assert db.get(StoredPlan, plan_id) is not None
    run_jobs(engine)


@pytest.mark.parametrize(
    ("plan_status", "request_status", "phase"),
    [
        # Before execution: what it will do, while it can still be approved or is under way.
        (PlanStatus.proposed, RequestStatus.awaiting_approval, Phase.planned),
        (PlanStatus.proposed, RequestStatus.verified, Phase.planned),
        (PlanStatus.proposed, RequestStatus.waiting_for_subject, Phase.planned),
        (PlanStatus.approved, RequestStatus.in_progress, Phase.planned),
        # After: what it did.
        (PlanStatus.executed, RequestStatus.completed, Phase.carried_out),
        (PlanStatus.executed, RequestStatus.partially_completed, Phase.carried_out),
        # Never: the request closed without it, or a newer version replaced it.
        (PlanStatus.proposed, RequestStatus.cancelled, Phase.never),
        (PlanStatus.proposed, RequestStatus.rejected, Phase.never),
        (PlanStatus.superseded, RequestStatus.awaiting_approval, Phase.never),
        (PlanStatus.superseded, RequestStatus.completed, Phase.never),
    ],
)
def test_a_plans_phase_follows_the_plan_and_its_request(
    plan_status: PlanStatus, request_status: RequestStatus, phase: Phase
) -> None:
    assert plan_phase(plan_status, request_status) == phase
