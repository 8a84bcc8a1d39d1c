"""The request state machine, without HTTP."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from portal import i18n
from portal.models import Assurance, Subject
from portal.workflows.requests import (
    CLOSED,
    OPEN,
    TRANSITIONS,
    Actor,
    DataRequest,
    DuplicateRequest,
    RequestEvent,
    RequestStatus,
    RequestType,
    TransitionRefused,
    add_months,
    allowed_actions,
    apply,
    days_left,
    file_request,
    history,
    open_request_of,
    open_requests,
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


# --- one open request of a type at a time --------------------------------------------------------


def counts(engine: Engine) -> tuple[int, int]:
    with Session(engine) as fresh:
        return (
            len(fresh.exec(select(DataRequest)).all()),
            len(fresh.exec(select(RequestEvent)).all()),
        )


@pytest.mark.parametrize("status", sorted(OPEN))
def test_a_second_open_request_of_the_same_type_is_refused_and_nothing_is_written(
    db: Session, engine: Engine, status: RequestStatus
) -> None:
    first = new(db)
    first.status = status
    db.add(first)
    db.commit()
    before = counts(engine)
    with pytest.raises(DuplicateRequest) as refused:
        new(db)
    db.rollback()
    assert refused.value.open_request_id == first.id
    assert str(refused.value) == (
        f"You already have an open request of this kind (number {first.id}). Follow it on its "
        "page; you can send a new one when it is closed."
    )
    assert counts(engine) == before
    # An e-mail filing of the same kind is refused alike: the rule is the person's, not the form's.
    with pytest.raises(DuplicateRequest):
        new(db, assurance=Assurance.low)
    db.rollback()
    assert counts(engine) == before


@pytest.mark.parametrize("status", sorted(CLOSED))
def test_a_closed_request_does_not_stand_in_the_way(db: Session, status: RequestStatus) -> None:
    first = new(db)
    first.status = status
    db.add(first)
    db.flush()
    second = new(db)
    assert second.id != first.id and second.status == S.verified


def test_other_types_and_other_people_are_not_duplicates(db: Session) -> None:
    erasure = new(db)
    access = new(db, RequestType.access)
    subject_id = _subject_id(db)
    assert open_requests(db, subject_id) == {
        RequestType.erasure: erasure.id,
        RequestType.access: access.id,
    }
    # Cancelled, the erasure no longer blocks a new one.
    apply(db, erasure, "cancel", actor=Actor.person, now=NOW)
    assert open_request_of(db, subject_id, RequestType.erasure) is None
    again = new(db)
    assert again.status == S.verified
    # Someone else's open erasure is theirs alone.
    other = Subject(national_id="01017012345", country="NO")
    db.add(other)
    db.flush()
    theirs = file_request(
        db,
        subject_id=other.id,
        type=RequestType.erasure,
        assurance=Assurance.high,
        actor=Actor.person,
        now=NOW,
    )
    assert theirs.id not in (erasure.id, access.id, again.id)


# real_clock: the threads meet through timed waits, which never return under libfaketime.
@pytest.mark.real_clock
def test_two_filings_at_once_make_one_request(db: Session, engine: Engine) -> None:
    """A double click: the second filing waits for the first to commit, then is refused."""
    subject_id = _subject_id(db)
    first_filed, second_done = threading.Event(), threading.Event()
    # By thread, not in the order they end: once the first commits, the second may be refused
    # and record it before the first has recorded its id.
    outcome: dict[str, object] = {}

    def file_in_own_session(signal: threading.Event | None) -> None:
        me = "second" if signal is None else "first"
        with Session(engine) as session:
            try:
                filed = file_request(
                    session,
                    subject_id=subject_id,
                    type=RequestType.erasure,
                    assurance=Assurance.high,
                    actor=Actor.person,
                    now=NOW,
                )
                if signal is not None:
                    signal.set()
                    # Hold the transaction open while the second filing tries.
                    second_done.wait(timeout=1.0)
                session.commit()
                outcome[me] = filed.id
            except DuplicateRequest as refused:
                outcome[me] = refused

    first = threading.Thread(target=file_in_own_session, args=(first_filed,))
    first.start()
    assert first_filed.wait(timeout=10)
    second = threading.Thread(target=lambda: (file_in_own_session(None), second_done.set()))
    second.start()
    # The second is held by the first's lock until the first commits (after 1 s at most).
    first.join(timeout=15)
    second.join(timeout=15)
    assert not first.is_alive() and not second.is_alive()
    first_id, refused = outcome["first"], outcome["second"]
    assert isinstance(first_id, int)
    assert isinstance(refused, DuplicateRequest) and refused.open_request_id == first_id
    assert counts(engine)[0] == 1
