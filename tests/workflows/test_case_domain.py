"""The case page's domain, without HTTP: the deadline paused while waiting for the person, their
answer, internal notes and duplicate requests."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from portal.audit import AuditEntry
from portal.jobs.outbox import OutboxMessage
from portal.models import Assurance, StaffMember, Subject
from portal.workflows import duplicates, notes, reminders, statistics
from portal.workflows.contacts import RequestContact
from portal.workflows.requests import (
    MAX_ANSWER,
    Actor,
    DataRequest,
    RequestStatus,
    RequestType,
    TransitionRefused,
    add_months,
    apply,
    days_left,
    file_request,
    history,
    person_answered,
)

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
S = RequestStatus
MAILBOX = "dpo@example.org"

pytestmark = pytest.mark.usefixtures("english")


@pytest.fixture
def db(engine: Engine) -> Iterator[Session]:
    with Session(engine, expire_on_commit=False) as session:
        session.add(Subject(national_id="15038512010", country="NO", given_name="Åse"))
        session.add(StaffMember(issuer="https://idp", sub="dpo", name="Per Personvernombud"))
        session.commit()
        yield session


def subject_id(db: Session) -> int:
    return db.exec(select(Subject.id)).one()


def staff_id(db: Session) -> int:
    return db.exec(select(StaffMember.id)).one()


def filed(
    db: Session, kind: RequestType = RequestType.rectification, at: datetime = NOW
) -> DataRequest:
    return file_request(
        db,
        subject_id=subject_id(db),
        type=kind,
        assurance=Assurance.high,
        actor=Actor.person,
        now=at,
    )


def ask(db: Session, request: DataRequest, at: datetime) -> None:
    apply(db, request, "ask_subject", actor=Actor.dpo, actor_id=1, reason="Which order?", now=at)


class TestThePause:
    def test_the_deadline_pauses_while_waiting_for_the_person(self, db: Session) -> None:
        request = filed(db)
        due = request.due_at
        asked_at = NOW + timedelta(days=10)
        ask(db, request, asked_at)
        assert request.paused and request.paused_at == asked_at
        left_when_asked = days_left(request, asked_at)
        # Weeks later, past the first deadline: still the days it had, never overdue.
        later = due + timedelta(days=12)
        assert days_left(request, later) == left_when_asked > 0
        answered_at = asked_at + timedelta(days=30, hours=3)
        event = person_answered(
            db, request, "Order 10234", subject_id=subject_id(db), now=answered_at
        )
        assert request.status == S.verified and not request.paused
        assert request.due_at == due + timedelta(days=30, hours=3)
        assert request.paused_seconds == int(timedelta(days=30, hours=3).total_seconds())
        assert days_left(request, answered_at) == left_when_asked
        assert event.reason == "Order 10234" and event.actor == Actor.person
        assert event.data["due_at"] == request.due_at.isoformat()
        assert event.data["due_before"] == due.isoformat()

    def test_two_pauses_add_up(self, db: Session) -> None:
        request = filed(db)
        due = request.due_at
        for start in (NOW + timedelta(days=1), NOW + timedelta(days=5)):
            ask(db, request, start)
            apply(db, request, "subject_replied", actor=Actor.dpo, now=start + timedelta(days=2))
        assert request.due_at == due + timedelta(days=4)
        assert request.paused_seconds == 4 * 86400

    def test_closing_while_waiting_ends_the_pause_and_keeps_the_deadline(self, db: Session) -> None:
        request = filed(db)
        due = request.due_at
        ask(db, request, NOW + timedelta(days=1))
        apply(db, request, "cancel", actor=Actor.person, now=NOW + timedelta(days=9))
        assert not request.paused and request.due_at == due and request.paused_seconds == 0

    def test_a_paused_request_gets_no_reminder_and_is_not_counted_overdue(
        self, db: Session
    ) -> None:
        waiting, running = filed(db), filed(db, RequestType.objection)
        ask(db, waiting, NOW + timedelta(days=1))
        db.flush()
        past_due = waiting.due_at + timedelta(days=3)
        assert [r.id for r, _ in reminders.due_reminders(db, past_due)] == [running.id]
        assert reminders.threshold(waiting, past_due) is None
        assert statistics.open_and_overdue(db, past_due) == (2, 1)

    def test_extending_while_waiting_counts_the_pause(self, db: Session) -> None:
        request = filed(db)
        due = request.due_at
        request_asked = NOW + timedelta(days=20)
        ask(db, request, request_asked)
        # Past the first deadline in days, but the deadline is paused: it may still be extended.
        apply(
            db,
            request,
            "extend",
            actor=Actor.dpo,
            reason="Complex",
            now=due + timedelta(days=2),
            data={"months": 1},
        )
        assert request.extended_at is not None and request.paused
        assert request.due_at == add_months(due, 1)
        apply(db, request, "subject_replied", actor=Actor.dpo, now=due + timedelta(days=5))
        assert request.due_at == add_months(due, 1) + (due + timedelta(days=5) - request_asked)


class TestTheAnswer:
    def test_goes_back_to_where_it_was_asked_from_and_tells_the_dpo(self, db: Session) -> None:
        request = file_request(
            db,
            subject_id=None,
            type=RequestType.access,
            assurance=Assurance.low,
            actor=Actor.person,
            now=NOW,
        )
        ask(db, request, NOW + timedelta(hours=1))
        person_answered(
            db,
            request,
            " My customer number is 5561 ",
            subject_id=None,
            now=NOW + timedelta(days=1),
            mailbox=MAILBOX,
        )
        assert request.status == S.received
        assert history(db, request.id)[-1].reason == "My customer number is 5561"
        told = db.exec(select(OutboxMessage).where(OutboxMessage.kind == "subject_answered")).one()
        assert told.email == MAILBOX and told.context["request_id"] == request.id
        assert "5561" not in str(told.context)  # the answer stays in the case

    @pytest.mark.parametrize(
        ("text", "message"),
        [(" ", "Please write your answer."), ("x" * (MAX_ANSWER + 1), "Please keep this under")],
    )
    def test_refuses_empty_or_long_answers(self, db: Session, text: str, message: str) -> None:
        request = filed(db)
        ask(db, request, NOW)
        with pytest.raises(TransitionRefused, match=message):
            person_answered(db, request, text, subject_id=subject_id(db), now=NOW)
        assert request.status == S.waiting_for_subject and request.paused

    def test_refuses_when_nothing_is_asked(self, db: Session) -> None:
        request = filed(db)
        with pytest.raises(TransitionRefused, match="not waiting for an answer"):
            person_answered(db, request, "Hello", subject_id=subject_id(db), now=NOW)


class TestNotes:
    def test_a_note_is_kept_with_who_and_when_and_logged_without_its_text(
        self, db: Session
    ) -> None:
        request = filed(db)
        note = notes.add_note(
            db,
            request.id,
            request.subject_id,
            " Called her: 2 orders. ",
            staff_id=staff_id(db),
            now=NOW,
        )
        assert note.text == "Called her: 2 orders." and note.staff_id == staff_id(db)
        assert [n.id for n in notes.notes_of(db, request.id)] == [note.id]
        entry = db.exec(select(AuditEntry).where(AuditEntry.action == "request.note")).one()
        assert entry.details == {"request_id": request.id, "note_id": note.id}
        assert "orders" not in str(entry.details)

    @pytest.mark.parametrize("text", ["  ", "x" * (notes.MAX_NOTE + 1)])
    def test_refuses_empty_or_long_notes(self, db: Session, text: str) -> None:
        request = filed(db)
        with pytest.raises(notes.NoteRefused):
            notes.add_note(db, request.id, None, text, staff_id=staff_id(db), now=NOW)
        assert notes.notes_of(db, request.id) == []


class TestDuplicates:
    def test_same_type_same_person_within_the_window_closed_ones_too(self, db: Session) -> None:
        first = filed(db, RequestType.erasure)
        apply(db, first, "cancel", actor=Actor.person, now=NOW + timedelta(days=1))
        second = filed(db, RequestType.erasure, at=NOW + timedelta(days=20))
        other_type = filed(db, RequestType.objection, at=NOW + timedelta(days=20))
        assert [r.id for r in duplicates.duplicates_of(db, second, 30)] == [first.id]
        assert [r.id for r in duplicates.duplicates_of(db, first, 30)] == [second.id]
        assert duplicates.duplicates_of(db, second, 10) == []
        assert duplicates.duplicates_of(db, other_type, 30) == []
        # Flagged, but not a request to keep: it was cancelled, never answered.
        with pytest.raises(TransitionRefused):
            duplicates.merge(
                db, second, first.id, reason=None, staff_id=staff_id(db), window_days=30, now=NOW
            )
        assert second.status == S.verified

    def test_requests_without_bankid_match_by_confirmed_address(self, db: Session) -> None:
        found = []
        for email in ("Kari@Example.org", "kari@example.org", "ola@example.org"):
            request = file_request(
                db,
                subject_id=None,
                type=RequestType.access,
                assurance=Assurance.low,
                actor=Actor.person,
                now=NOW,
            )
            db.add(RequestContact(request_id=request.id, name="K", email=email, confirmed_at=NOW))
            found.append(request)
        db.flush()
        assert [r.id for r in duplicates.duplicates_of(db, found[0], 30)] == [found[1].id]
        assert duplicates.duplicates_of(db, found[2], 30) == []

    def test_merge_closes_the_duplicate_points_at_the_kept_one_and_tells_the_person(
        self, db: Session
    ) -> None:
        kept = filed(db, RequestType.erasure)
        repeat = file_request(
            db,
            subject_id=None,
            type=RequestType.erasure,
            assurance=Assurance.low,
            actor=Actor.person,
            now=NOW + timedelta(days=2),
        )
        repeat.subject_id = kept.subject_id  # verified to the same person
        db.add(repeat)
        db.flush()
        with pytest.raises(TransitionRefused):
            duplicates.merge(
                db, repeat, repeat.id, reason=None, staff_id=staff_id(db), window_days=30, now=NOW
            )
        duplicates.merge(
            db,
            repeat,
            kept.id,
            reason="Same as your request last week.",
            staff_id=staff_id(db),
            window_days=30,
            now=NOW + timedelta(days=3),
        )
        assert repeat.status == S.cancelled and repeat.closed_at is not None
        merge = history(db, repeat.id)[-1]
        assert merge.action == "merge" and merge.data == {"kept_id": kept.id}
        assert history(db, kept.id)[-1].action == "merged_in"
        assert kept.status == S.verified
        told = db.exec(select(OutboxMessage).where(OutboxMessage.kind == "request_merged")).one()
        assert told.context["kept_id"] == kept.id and told.subject_id == kept.subject_id
        assert db.exec(select(AuditEntry).where(AuditEntry.action == "request.merge")).one()
        # Merged: no longer anyone's duplicate.
        assert duplicates.duplicates_of(db, kept, 30) == []
        assert duplicates.duplicates_of(db, repeat, 30) == []
