"""Deadline reminders to the DPO's mailbox: which requests, once per request and threshold."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlmodel import Session

from portal.db import session_scope
from portal.jobs import queue as jobs
from portal.jobs.outbox import OutboxMessage
from portal.jobs.queue import Job, JobStatus, enqueue
from portal.jobs.worker import Worker
from portal.models import Assurance, Subject
from portal.settings import SettingsError, dpo_email_from
from portal.workflows import reminders
from portal.workflows.reminders import (
    ReminderError,
    Threshold,
    schedule_reminders,
)
from portal.workflows.requests import Actor, DataRequest, RequestType, apply, file_request
from tests.support import email_text

NOW = datetime(2026, 11, 24, 6, 0, tzinfo=UTC)
MAILBOX = "personvernombud@nordlys.example"


def add_request(
    db: Session, subject_id: int, days_left: int, type: RequestType, **changes: object
) -> int:
    request = file_request(
        db,
        subject_id=subject_id,
        type=type,
        assurance=Assurance.high,
        actor=Actor.person,
        now=NOW - timedelta(days=20),
    )
    request.due_at = NOW + timedelta(days=days_left)
    for name, value in changes.items():
        setattr(request, name, value)
    db.add(request)
    db.flush()
    return request.id or 0


@pytest.fixture
def people(engine: Engine) -> dict[str, int]:
    """Requests 3, 7 and 8 days from their deadline, one overdue, one overdue but completed
    (of different types: a person has one open request of a type at a time)."""
    with session_scope(engine) as db:
        subject = Subject(national_id="01017012345", country="NO", given_name="Kari")
        db.add(subject)
        db.flush()
        sid = subject.id or 0
        return {
            "three": add_request(db, sid, 3, RequestType.access),
            "seven": add_request(db, sid, 7, RequestType.portability),
            "eight": add_request(db, sid, 8, RequestType.rectification),
            "overdue": add_request(db, sid, -2, RequestType.objection),
            "closed": add_request(db, sid, -2, RequestType.restriction, status="completed"),
        }


def run_worker(engine: Engine, now: datetime) -> None:
    worker = Worker(engine, "reminders", jobs.HANDLERS, now=lambda: now, schedule=[])
    with session_scope(engine) as db:
        key, start = jobs.period_key("requests.deadline_reminders", timedelta(days=1), now)
        enqueue(db, "requests.deadline_reminders", run_at=start, dedupe_key=key, now=NOW)
    while worker.run_once():
        pass


def sent(engine: Engine) -> list[tuple[int, str, str]]:
    with Session(engine) as db:
        messages = db.execute(
            select(OutboxMessage)
            .where(OutboxMessage.kind == "deadline_reminder")
            .order_by(OutboxMessage.id)
        ).scalars()
        return [
            (m.context["request_id"], m.context["threshold"], m.context["due_at"][:10])
            for m in messages
        ]


def test_reminders_once_per_request_and_threshold(
    engine: Engine, people: dict[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DPO_EMAIL", MAILBOX)
    run_worker(engine, NOW)
    assert sorted(sent(engine)) == sorted(
        [
            (people["overdue"], "overdue", "2026-11-22"),
            (people["three"], "due_soon", "2026-11-27"),
            (people["seven"], "due_soon", "2026-12-01"),
        ]
    )
    with Session(engine) as db:
        messages = list(
            db.execute(
                select(OutboxMessage).where(OutboxMessage.kind == "deadline_reminder")
            ).scalars()
        )
    for message in messages:
        # To the DPO's mailbox, about no one: the request number and the deadline only.
        assert (message.kind, message.email, message.subject_id) == (
            "deadline_reminder",
            MAILBOX,
            None,
        )
        assert set(message.context) == {"request_id", "due_at", "threshold"}
    # Later the same day, and the next day: nothing new (request 8 days out is now 7).
    run_worker(engine, NOW + timedelta(hours=5))
    assert len(sent(engine)) == 3
    run_worker(engine, NOW + timedelta(days=1))
    assert sent(engine)[3:] == [(people["eight"], "due_soon", "2026-12-02")]
    # Four days on, the request due in three days is overdue: one more reminder, once.
    run_worker(engine, NOW + timedelta(days=4))
    run_worker(engine, NOW + timedelta(days=5))
    assert sent(engine)[4:] == [(people["three"], "overdue", "2026-11-27")]
    with Session(engine) as db:
        # (Deliveries are not this worker's: tests/mail delivers.)
        undone = select(Job).where(Job.status != JobStatus.done, Job.kind != "mail.deliver")
        assert db.execute(undone).first() is None


def test_an_extended_deadline_gets_its_own_reminders_and_a_closed_request_none(
    engine: Engine, people: dict[str, int]
) -> None:
    with session_scope(engine) as db:
        assert schedule_reminders(db, NOW) == 3
        assert schedule_reminders(db, NOW) == 0
        request = db.get(DataRequest, people["three"])
        apply(
            db,
            request,
            "extend",
            actor=Actor.dpo,
            reason="Many systems",
            data={"months": 1},
            now=NOW,
        )
        apply(db, db.get(DataRequest, people["seven"]), "cancel", actor=Actor.person, now=NOW)
    with session_scope(engine) as db:
        # Queued before the change: the jobs find nothing to say about them any more.
        for name in ("three", "seven"):
            assert (
                reminders.queue_reminder(
                    db, people[name], Threshold.due_soon, mailbox=MAILBOX, now=NOW
                )
                is None
            )
        # A week before the new deadline, the extended request is reminded of again (and the
        # request 8 days out at first is overdue by then); the overdue one is not, again.
        later = NOW + timedelta(days=3 + 31 - 7)
        due = {(r.id, t) for r, t in reminders.due_reminders(db, later)}
        assert due == {
            (people["three"], Threshold.due_soon),
            (people["eight"], Threshold.overdue),
            (people["overdue"], Threshold.overdue),
        }
        assert schedule_reminders(db, later) == 2


def test_the_reminder_email_names_the_request_and_deadline_only(
    engine: Engine, people: dict[str, int], english: None
) -> None:
    with session_scope(engine) as db:
        message = reminders.queue_reminder(
            db, people["overdue"], Threshold.overdue, mailbox=MAILBOX, now=NOW
        )
        assert message is not None
        context = dict(message.context)
    subject, body = email_text("deadline_reminder", context, "en", "https://innsyn.example/")
    assert subject == f"Request {people['overdue']} is overdue (deadline 22 Nov 2026)"
    assert f"https://innsyn.example/dpo/requests/{people['overdue']}\n" in body
    assert "Kari" not in body and "01017012345" not in body
    soon = {**context, "threshold": "due_soon"}
    subject, body = email_text("deadline_reminder", soon, "nb", "https://innsyn.example")
    assert "22. nov. 2026" in subject and "\n" not in subject


def test_no_mailbox_no_schedule_and_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    assert reminders._every({}) is None
    assert reminders._every({"DPO_EMAIL": MAILBOX}) == timedelta(days=1)
    with pytest.raises(ReminderError, match="DPO_EMAIL is not set"):
        reminders.mailbox({})
    assert dpo_email_from({"DPO_EMAIL": f" {MAILBOX} "}) == MAILBOX
    for bad in ("dpo", "dpo@localhost", "a b@example.no", "@example.no"):
        with pytest.raises(SettingsError, match="DPO_EMAIL"):
            dpo_email_from({"DPO_EMAIL": bad})
