"""The outbox: messages are written in the caller's transaction, or not at all."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlmodel import Session

from portal.db import session_scope
from portal.jobs.outbox import DELIVER_JOB, OutboxMessage, queue_message
from portal.jobs.queue import Job
from portal.models import Subject

NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


def add_subject(db: Session) -> int:
    subject = Subject(national_id="01017012345", country="NO")
    db.add(subject)
    db.flush()
    assert subject.id is not None
    return subject.id


def messages(engine: Engine) -> list[OutboxMessage]:
    with Session(engine) as db:
        return list(db.execute(select(OutboxMessage).order_by(OutboxMessage.id)).scalars())


def test_a_message_is_committed_with_its_cause(engine: Engine) -> None:
    with session_scope(engine) as db:
        subject_id = add_subject(db)
        queued = queue_message(
            db,
            "request_received",
            language="nb",
            subject_id=subject_id,
            context={"request": 7},
            now=NOW,
        )
        assert queued.id is not None

    [message] = messages(engine)
    assert (message.kind, message.subject_id, message.email) == (
        "request_received",
        subject_id,
        None,
    )
    assert (message.language, message.context) == ("nb", {"request": 7})
    assert message.sent_at is None and message.attempts == 0
    assert message.created_at == NOW
    # Its delivery job was committed with it, once per message.
    with Session(engine) as db:
        [job] = db.execute(select(Job)).scalars()
    assert (job.kind, job.payload, job.dedupe_key) == (
        DELIVER_JOB,
        {"message_id": message.id},
        f"{DELIVER_JOB}:{message.id}",
    )


def test_a_rolled_back_cause_leaves_no_message(engine: Engine) -> None:
    with pytest.raises(RuntimeError), session_scope(engine) as db:
        subject_id = add_subject(db)
        queue_message(db, "request_received", language="nb", subject_id=subject_id, now=NOW)
        raise RuntimeError("the change failed")
    assert messages(engine) == []
    with Session(engine) as db:
        assert db.execute(select(Job)).first() is None


def test_a_message_can_go_to_an_address_alone(engine: Engine) -> None:
    with session_scope(engine) as db:
        queue_message(db, "verify_email", language="sv", email="kari@example.no", now=NOW)
    assert [m.email for m in messages(engine)] == ["kari@example.no"]


def test_a_message_needs_a_recipient(engine: Engine) -> None:
    with Session(engine) as db, pytest.raises(ValueError, match="recipient"):
        queue_message(db, "request_received", language="nb", now=NOW)


def test_the_outcome_letter_outlives_the_erased_subject(engine: Engine) -> None:
    with session_scope(engine) as db:
        subject_id = add_subject(db)
        queue_message(
            db,
            "erasure_outcome",
            language="nb",
            subject_id=subject_id,
            email="kari@example.no",
            now=NOW,
        )
    with session_scope(engine) as db:
        subject = db.get(Subject, subject_id)
        db.delete(subject)
    [message] = messages(engine)
    assert (message.subject_id, message.email) == (None, "kari@example.no")
