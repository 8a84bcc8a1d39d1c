"""The request state machine, without HTTP."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from portal import i18n
from portal.models import Assurance, Subject
from portal.workflows.requests import (
    TRANSITIONS,
    Actor,
    DataRequest,
    RequestStatus,
    RequestType,
    TransitionRefused,
    add_months,
    allowed_actions,
    apply,
    days_left,
    file_request,
    history,
)

NOW = datetime(2026, 1, 31, 10, 0, tzinfo=UTC)
S = RequestStatus


# Refusals are shown to people in their language; these tests read the English source texts.
pytestmark = pytest.mark.usefixtures("english")


@pytest.fixture
def db(engine: Engine) -> Session:
    with Session(engine, expire_on_commit=False) as session:
        subject = Subject(national_id="15038512010", country="NO", given_name="Åse")
        session.add(subject)
        session.commit()
        yield session


def new(
    db: Session, kind: RequestType = RequestType.erasure, assurance: Assurance = Assurance.high
) -> DataRequest:
    return file_request(
        db,
        subject_id=_subject_id(db),
        type=kind,
        assurance=assurance,
        actor=Actor.person,
        now=NOW,
    )


def _subject_id(db: Session) -> int:
    return db.exec(select(Subject.id)).one()


@pytest.mark.parametrize(
    ("start", "months", "expected"),
    [
        (datetime(2026, 1, 31, tzinfo=UTC), 1, datetime(2026, 2, 28, tzinfo=UTC)),
        (datetime(2028, 1, 31, tzinfo=UTC), 1, datetime(2028, 2, 29, tzinfo=UTC)),
        (datetime(2026, 3, 15, tzinfo=UTC), 1, datetime(2026, 4, 15, tzinfo=UTC)),
        (datetime(2026, 11, 30, tzinfo=UTC), 3, datetime(2027, 2, 28, tzinfo=UTC)),
        (datetime(2026, 12, 1, tzinfo=UTC), 2, datetime(2027, 2, 1, tzinfo=UTC)),
    ],
)
def test_add_months_clamps_to_the_end_of_the_month(start, months, expected) -> None:
    assert add_months(start, months) == expected


def test_bankid_request_is_verified_and_due_in_one_month(db: Session) -> None:
    request = new(db)
    assert request.status == S.verified
    assert request.due_at == datetime(2026, 2, 28, 10, 0, tzinfo=UTC)
    assert days_left(request, NOW) == 28
    events = history(db, request.id)
    assert [(e.action, e.from_status, e.to_status, e.actor) for e in events] == [
        ("file", None, "verified", "person")
    ]


def test_email_link_request_waits_for_verification(db: Session) -> None:
    request = new(db, assurance=Assurance.low)
    assert request.status == S.received
    with pytest.raises(TransitionRefused):
        apply(db, request, "start", actor=Actor.staff, now=NOW)
    apply(db, request, "verify", actor=Actor.dpo, actor_id=7, now=NOW)
    assert request.status == S.verified


def test_erasure_happy_path_records_every_step(db: Session) -> None:
    request = new(db)
    apply(db, request, "submit_plan", actor=Actor.system, now=NOW)
    apply(db, request, "approve", actor=Actor.dpo, actor_id=3, now=NOW)
    apply(db, request, "complete_partially", actor=Actor.system, reason="receipts kept", now=NOW)
    assert request.status == S.partially_completed
    assert request.closed_at == NOW
    assert request.outcome == "receipts kept"
    assert [e.action for e in history(db, request.id)] == [
        "file",
        "submit_plan",
        "approve",
        "complete_partially",
    ]


@pytest.mark.parametrize(
    ("path", "action", "actor"),
    [
        (["start", "complete"], "approve", Actor.dpo),  # approve a completed request
        (["start"], "cancel", Actor.person),  # cancel an executing one
        (["start", "complete"], "cancel", Actor.person),
        ([], "approve", Actor.dpo),  # nothing to approve yet
        (["reject"], "start", Actor.staff),
    ],
)
def test_invalid_transitions_are_refused_and_change_nothing(
    db: Session, path: list[str], action: str, actor: Actor
) -> None:
    request = new(db)
    for step in path:
        apply(db, request, step, actor=Actor.dpo, reason="because", now=NOW)
    db.commit()
    before = (request.status, len(history(db, request.id)), request.closed_at)
    with pytest.raises(TransitionRefused, match="cannot be"):
        apply(db, request, action, actor=actor, now=NOW)
    db.commit()
    db.refresh(request)
    assert (request.status, len(history(db, request.id)), request.closed_at) == before


def test_only_the_right_actor_may_act(db: Session) -> None:
    request = new(db)
    apply(db, request, "submit_plan", actor=Actor.system, now=NOW)
    with pytest.raises(TransitionRefused, match="not allowed"):
        apply(db, request, "approve", actor=Actor.person, now=NOW)
    with pytest.raises(TransitionRefused, match="not allowed"):
        apply(db, request, "approve", actor=Actor.staff, now=NOW)
    assert request.status == S.awaiting_approval


def test_rejection_needs_a_reason(db: Session) -> None:
    request = new(db)
    with pytest.raises(TransitionRefused, match="reason"):
        apply(db, request, "reject", actor=Actor.dpo, reason="  ", now=NOW)
    apply(db, request, "reject", actor=Actor.dpo, reason="Manifestly unfounded: …", now=NOW)
    assert request.status == S.rejected
    assert request.outcome.startswith("Manifestly unfounded")


def test_person_cancels_before_execution(db: Session) -> None:
    request = new(db)
    apply(db, request, "cancel", actor=Actor.person, now=NOW)
    assert request.status == S.cancelled


def test_extension_once_by_up_to_two_months_within_the_first_month(db: Session) -> None:
    request = new(db)
    with pytest.raises(TransitionRefused, match="reason"):
        apply(db, request, "extend", actor=Actor.dpo, now=NOW)
    with pytest.raises(TransitionRefused, match="one or two months"):
        apply(db, request, "extend", actor=Actor.dpo, reason="x", data={"months": 3}, now=NOW)
    apply(db, request, "extend", actor=Actor.dpo, reason="Many systems", now=NOW)
    assert request.due_at == datetime(2026, 4, 28, 10, 0, tzinfo=UTC)
    assert request.status == S.verified
    assert "extend" not in allowed_actions(request, Actor.dpo)
    with pytest.raises(TransitionRefused, match="already been extended"):
        apply(db, request, "extend", actor=Actor.dpo, reason="again", now=NOW)


def test_extension_after_the_deadline_is_refused(db: Session) -> None:
    request = new(db)
    late = request.due_at + timedelta(days=1)
    with pytest.raises(TransitionRefused, match="deadline has passed"):
        apply(db, request, "extend", actor=Actor.dpo, reason="late", now=late)
    assert request.extended_at is None


def test_every_action_has_a_label_and_every_status_is_reachable() -> None:
    from portal.workflows.requests import ACTION_LABELS, STATUS_LABELS

    assert set(TRANSITIONS) == set(ACTION_LABELS)
    assert set(STATUS_LABELS) == set(RequestStatus)
    reachable = {t.target for t in TRANSITIONS.values() if t.target} | {S.received, S.verified}
    assert reachable == set(RequestStatus)


def test_refusals_are_in_the_persons_language(db: Session) -> None:
    request = new(db)
    apply(db, request, "start", actor=Actor.staff, now=NOW)
    i18n.set_language("nb")
    with pytest.raises(TransitionRefused) as refused:
        apply(db, request, "cancel", actor=Actor.person, now=NOW)
    assert str(refused.value) == "En henvendelse som er under behandling, kan ikke bli avbrutt."
