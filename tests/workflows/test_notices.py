"""What the person and the DPO are told, queued in the transaction of the change."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from portal.db import session_scope
from portal.jobs.outbox import OutboxMessage
from portal.models import Assurance, Subject
from portal.workflows.contacts import RequestContact
from portal.workflows.requests import (
    Actor,
    RequestType,
    TransitionRefused,
    apply,
    file_request,
)

NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


def person(db: Session) -> int:
    subject = Subject(national_id="01017012345", country="NO")
    db.add(subject)
    db.flush()
    return subject.id or 0


def outbox(engine: Engine) -> list[OutboxMessage]:
    with Session(engine) as db:
        return list(db.exec(select(OutboxMessage).order_by(OutboxMessage.id)))


def test_filing_tells_the_person_and_the_dpo(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DPO_EMAIL", "dpo@nordlys.example")
    with session_scope(engine) as db:
        subject_id = person(db)
        request = file_request(
            db,
            subject_id=subject_id,
            type=RequestType.erasure,
            assurance=Assurance.high,
            actor=Actor.person,
            language="sv",
            now=NOW,
        )
        request_id = request.id
    received, new = outbox(engine)
    assert (received.kind, received.subject_id, received.email, received.language) == (
        "request_received",
        subject_id,
        None,
        "sv",
    )
    assert received.context == {
        "request_id": request_id,
        "type": "erasure",
        "received_at": "2026-11-24T09:00:00+00:00",
        "due_at": "2026-12-24T09:00:00+00:00",
        "has_account": True,
    }
    # The DPO hears of the request: its number, type and deadline, nothing about the person.
    assert (new.kind, new.subject_id, new.email) == ("new_request", None, "dpo@nordlys.example")
    assert new.context == {
        "request_id": request_id,
        "type": "erasure",
        "due_at": "2026-12-24T09:00:00+00:00",
    }


def test_a_refused_filing_tells_no_one(engine: Engine) -> None:
    with session_scope(engine) as db:
        subject_id = person(db)
        file_request(
            db,
            subject_id=subject_id,
            type=RequestType.access,
            assurance=Assurance.high,
            actor=Actor.person,
            now=NOW,
        )
    with pytest.raises(TransitionRefused), session_scope(engine) as db:
        file_request(
            db,
            subject_id=subject_id,
            type=RequestType.access,
            assurance=Assurance.high,
            actor=Actor.person,
            now=NOW,
        )
    assert [m.kind for m in outbox(engine)] == ["request_received"]


@pytest.mark.parametrize(
    ("actions", "kind"),
    [
        ([("ask_subject", "Which e-mail address did you use?")], "more_info"),
        ([("extend", "Many systems to search.")], "deadline_extended"),
        ([("reject", "The same request was answered last week.")], "request_rejected"),
        ([("start", None), ("complete", "We corrected your address.")], "request_completed"),
        ([("start", None), ("complete", None)], "request_completed"),
    ],
)
def test_the_dpo_s_actions_tell_the_person_why(
    engine: Engine, actions: list[tuple[str, str | None]], kind: str
) -> None:
    with session_scope(engine) as db:
        request = file_request(
            db,
            subject_id=person(db),
            type=RequestType.rectification,
            assurance=Assurance.high,
            actor=Actor.person,
            details="My address is wrong.",
            now=NOW,
        )
        for action, why in actions:
            apply(
                db,
                request,
                action,
                actor=Actor.dpo,
                reason=why,
                now=NOW + timedelta(days=1),
                data={"months": 1} if action == "extend" else None,
            )
    messages = outbox(engine)
    assert [m.kind for m in messages] == ["request_received", kind]
    told = messages[-1]
    expected = actions[-1][1]
    assert told.context.get("reason") == expected
    if kind == "deadline_extended":
        assert told.context["due_at"] == "2027-01-24T09:00:00+00:00"


def test_notify_off_leaves_the_telling_to_the_caller(engine: Engine) -> None:
    with session_scope(engine) as db:
        request = file_request(
            db,
            subject_id=person(db),
            type=RequestType.access,
            assurance=Assurance.high,
            actor=Actor.person,
            now=NOW,
        )
        apply(db, request, "start", actor=Actor.system, now=NOW)
        apply(db, request, "complete", actor=Actor.system, now=NOW, notify=False)
    assert [m.kind for m in outbox(engine)] == ["request_received"]


def test_a_request_filed_without_bankid_is_told_at_its_confirmed_address(engine: Engine) -> None:
    """Its messages go to the address confirmed for it (its contact), with its follow link, also
    once the DPO has tied it to a person; with neither a person nor a contact, no one is told."""
    with session_scope(engine) as db:
        request = file_request(
            db,
            subject_id=None,
            type=RequestType.access,
            assurance=Assurance.low,
            actor=Actor.person,
            now=NOW,
        )
        assert outbox_in(db) == []  # filed, but its address is confirmed only now
        db.add(
            RequestContact(
                request_id=request.id or 0, name="Kari", email="kari@example.no", confirmed_at=NOW
            )
        )
        db.flush()
        apply(db, request, "verify", actor=Actor.dpo, reason="ID document seen", now=NOW)
        apply(db, request, "ask_subject", actor=Actor.dpo, reason="Your customer number?", now=NOW)
        apply(db, request, "subject_replied", actor=Actor.dpo, now=NOW)
        request.subject_id = person(db)  # as verify_identity ties it to the person
        apply(db, request, "extend", actor=Actor.dpo, reason="Many systems.", now=NOW)
        subject_id = request.subject_id
    asked, extended = outbox(engine)
    assert (asked.kind, asked.subject_id, asked.email) == ("more_info", None, "kari@example.no")
    assert (extended.subject_id, extended.email) == (subject_id, "kari@example.no")
    for message in (asked, extended):
        assert message.context["follow"] is True and message.context["has_account"] is False
        assert "kari" not in str(message.context).lower()


def outbox_in(db: Session) -> list[OutboxMessage]:
    return list(db.exec(select(OutboxMessage)))
