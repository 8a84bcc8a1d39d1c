"""Restriction of processing (art. 18): lifting it tells the person first, in one transaction."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlmodel import Session

from portal.db import session_scope
from portal.jobs.outbox import OutboxMessage
from portal.models import Assurance, StaffMember, Subject
from portal.workflows.erasure_service import CaseHoldRefused, release_case_hold, set_case_hold
from portal.workflows.records import CaseHoldRecord
from portal.workflows.requests import Actor, RequestType, file_request
from portal.workflows.restriction import MESSAGE_KIND, restrict_processing
from tests.support import email_text

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
NATIONAL_ID = "200101011234"


@pytest.fixture
def restricted(engine: Engine) -> tuple[int, int, int, int]:
    """A Swedish person with a restriction request (hold set), and a DPO: their ids."""
    with session_scope(engine) as db:
        subject = Subject(national_id=NATIONAL_ID, country="SE", given_name="Åsa")
        staff = StaffMember(issuer="test", sub="dpo", name="DPO")
        db.add_all([subject, staff])
        db.flush()
        request = file_request(
            db,
            subject_id=subject.id,
            type=RequestType.restriction,
            assurance=Assurance.high,
            actor=Actor.person,
            details="I dispute the debt.",
            language="sv",
            now=NOW,
        )
        restrict_processing(db, subject.id or 0, request.id or 0, NOW)
        hold = db.exec(select(CaseHoldRecord)).scalars().one()
        return subject.id or 0, request.id or 0, hold.id or 0, staff.id or 0


def messages(engine: Engine) -> list[OutboxMessage]:
    """The messages besides the one that said the request was received."""
    with Session(engine) as db:
        statement = select(OutboxMessage).where(OutboxMessage.kind != "request_received")
        return list(db.execute(statement).scalars())


def test_lifting_tells_the_person_in_their_language(
    engine: Engine, restricted: tuple[int, int, int, int]
) -> None:
    subject_id, request_id, hold_id, staff_id = restricted
    assert messages(engine) == []  # setting it sends nothing
    with session_scope(engine) as db:
        release_case_hold(db, hold_id, staff_id=staff_id, reason="The debt is confirmed", now=NOW)
    [message] = messages(engine)
    assert (message.kind, message.subject_id, message.language) == (
        "restriction_lifted",
        subject_id,
        "sv",
    )
    assert message.context == {
        "hold_id": hold_id,
        "request_id": request_id,
        "lifted_at": NOW.isoformat(),
        "has_account": True,
    }
    subject, body = email_text(MESSAGE_KIND, message.context, "sv", "https://innsyn.example")
    assert "\n" not in subject and subject
    assert "24 nov. 2026" in body and str(request_id) in body
    assert f"https://innsyn.example/me/requests/{request_id}\n" in body
    assert NATIONAL_ID not in body and "Åsa" not in body


def test_no_message_without_the_release_and_none_for_other_holds(
    engine: Engine, restricted: tuple[int, int, int, int]
) -> None:
    subject_id, _request_id, hold_id, staff_id = restricted
    # Refused: nothing changes, nothing is sent.
    with pytest.raises(CaseHoldRefused), session_scope(engine) as db:
        release_case_hold(db, hold_id, staff_id=staff_id, reason=" ", now=NOW)
    # Rolled back after the release: the message goes with it (one transaction).
    with pytest.raises(RuntimeError), session_scope(engine) as db:
        release_case_hold(db, hold_id, staff_id=staff_id, reason="Lifted", now=NOW)
        lifted = select(OutboxMessage).where(OutboxMessage.kind == MESSAGE_KIND)
        assert len(db.exec(lifted).all()) == 1
        raise RuntimeError("crash before commit")
    assert messages(engine) == []
    with Session(engine) as db:
        assert db.get(CaseHoldRecord, hold_id).released_at is None
    # Releasing a litigation hold does not write to the person.
    with session_scope(engine) as db:
        other = set_case_hold(
            db,
            subject_id=subject_id,
            kind="litigation",
            reason="Lawsuit",
            scope="person",
            staff_id=staff_id,
            now=NOW,
        )
        release_case_hold(db, other.id or 0, staff_id=staff_id, reason="Settled", now=NOW)
    assert messages(engine) == []
