"""Customer service records a caller's choice, given on the phone: in the person's own history
through channel "staff", naming who recorded it and when; the block list follows; a consent
carries the version of the text read out; lifting a reservation or an objection is not taken
on a caller's word; each choice is audit-logged with the look-up's reason."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from portal.audit import AuditEntry
from portal.datamap import DataMap
from portal.jobs.queue import Job
from portal.marketing.block_list import BlockEntry, Channel, Kind, Reason
from portal.marketing.by_phone import AUDIT_ACTION, record_by_phone
from portal.marketing.consent import Actor, ConsentEvent, ConsentRefused, TopicKind, Via
from tests.support import add_demo_subject

NOW = datetime(2026, 11, 24, 12, tzinfo=UTC)

pytestmark = pytest.mark.usefixtures("english")


def record(engine, datamap, sources, subject_id, agent, kind, topic, active):
    return record_by_phone(
        engine,
        datamap,
        sources,
        subject_id,
        kind=kind,
        topic=topic,
        active=active,
        staff_id=agent,
        reason="reservation: no more calls",
        lookup_id=7,
        region="NO",
        now=NOW,
    )


def test_a_reservation_by_phone_is_the_persons_choice_recorded_by_the_agent(
    engine: Engine, datamap: DataMap, demo_sources, agent: int
) -> None:
    kari = add_demo_subject(engine, "ordinary")
    choices = record(engine, datamap, demo_sources, kari, agent, "reservation", "phone", True)
    assert "phone" in choices.choices.reserved
    with Session(engine) as db:
        [event] = db.exec(select(ConsentEvent)).all()
        entries = db.exec(
            select(BlockEntry).where(BlockEntry.subject_id == kari, BlockEntry.channel == "phone")
        ).all()
        [audit] = db.exec(select(AuditEntry).where(AuditEntry.action == AUDIT_ACTION)).all()
    assert (event.kind, event.topic, event.active) == (TopicKind.reservation, "phone", True)
    assert (event.via, event.actor, event.actor_id) == (Via.staff, Actor.staff, agent)
    assert event.at.replace(tzinfo=UTC) == NOW
    # Her number is on the block list for calls, as if she had reserved herself on /me.
    assert (Kind.phone, "+4791000001", Reason.reserved, Channel.phone) in {
        (e.kind, e.value, e.reason, e.channel) for e in entries
    }
    assert (audit.subject_id, audit.actor_id, audit.reason) == (
        kari,
        agent,
        "reservation: no more calls",
    )
    assert audit.details == {
        "kind": "reservation",
        "topic": "phone",
        "active": True,
        "event_id": event.id,
        "lookup": 7,
    }


def test_a_consent_given_and_withdrawn_by_phone_carries_the_text_version(
    engine: Engine, datamap: DataMap, demo_sources, agent: int
) -> None:
    kari = add_demo_subject(engine, "ordinary")
    given = record(engine, datamap, demo_sources, kari, agent, "consent", "newsletter", True)
    assert {s.purpose: s.given for s in given.choices.consents}["newsletter"]
    withdrawn = record(engine, datamap, demo_sources, kari, agent, "consent", "newsletter", False)
    assert not {s.purpose: s.given for s in withdrawn.choices.consents}["newsletter"]
    with Session(engine) as db:
        mine = db.exec(select(ConsentEvent).where(ConsentEvent.via == Via.staff)).all()
        jobs = db.exec(select(Job).where(Job.kind == "consent.withdrawal")).all()
    version = datamap.purposes["newsletter"].consent.version
    assert [(e.active, e.text_version, e.actor_id) for e in mine] == [
        (True, version, agent),
        (False, version, agent),
    ]
    assert len(jobs) == 1  # the company's systems are told of the withdrawal


@pytest.mark.parametrize(
    ("kind", "topic", "active", "why"),
    [
        ("reservation", "phone", False, "lifted by the person"),
        ("objection", "direct_marketing", False, "lifted by the person"),
        ("consent", "no_such_purpose", True, "no such consent"),
        ("reservation", "pigeon", True, "no such channel"),
        ("nonsense", "phone", True, "no such choice"),
    ],
)
def test_what_is_not_taken_on_a_callers_word_is_refused_and_nothing_recorded(
    engine: Engine, datamap: DataMap, demo_sources, agent: int, kind, topic, active, why
) -> None:
    kari = add_demo_subject(engine, "ordinary")
    with pytest.raises(ConsentRefused, match=f"(?i){why}"):
        record(engine, datamap, demo_sources, kari, agent, kind, topic, active)
    with Session(engine) as db:
        assert db.exec(select(ConsentEvent).where(ConsentEvent.via == Via.staff)).all() == []
        assert db.exec(select(AuditEntry)).all() == []
