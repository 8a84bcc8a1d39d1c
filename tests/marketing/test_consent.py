"""Consent, reservation and objection: the append-only history, the current state, expiry,
the company's own records imported, and a withdrawal reaching the company's systems."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import delete, select, text, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session

from portal.datamap import DataMap
from portal.db import make_engine, session_scope
from portal.demo import EDGE_CASES_BY_KEY
from portal.demo import schema as demo
from portal.demo.seed import seed
from portal.jobs.queue import Job
from portal.marketing import block_list, preferences
from portal.marketing.block_list import BlockEntry, Channel, Kind, Reason
from portal.marketing.consent import (
    Actor,
    ConsentEvent,
    ConsentHistoryIsAppendOnly,
    ConsentRefused,
    TopicKind,
    Via,
    choices,
    history,
    record_choice,
)
from portal.marketing.preferences import Change
from portal.marketing.withdrawal import apply_withdrawal
from portal.models import Subject
from tests.conftest import DEMO_TODAY

NOW = datetime(2026, 11, 24, 12, tzinfo=UTC)
KARI = EDGE_CASES_BY_KEY["ordinary"]


@pytest.fixture
def company(tmp_path: Path, datamap: DataMap) -> Iterator[dict[str, Engine]]:
    """A demo company of its own: these tests change the company's data."""
    engine = make_engine(f"sqlite:///{tmp_path / 'company.db'}")
    seed(engine, 3, today=DEMO_TODAY)
    yield dict.fromkeys(datamap.sources, engine)
    engine.dispose()


def add_subject(engine: Engine, national_id: str = KARI.national_id, country: str = "NO") -> int:
    with session_scope(engine) as db:
        subject = Subject(national_id=national_id, country=country)
        db.add(subject)
        db.flush()
        return subject.id


def choose(db: Session, subject_id: int, topic: str, active: bool, at: datetime) -> ConsentEvent:
    return record_choice(
        db,
        subject_id=subject_id,
        kind=TopicKind.consent,
        topic=topic,
        active=active,
        via=Via.portal,
        actor=Actor.person,
        actor_id=subject_id,
        now=at,
        text_version="2024-01",
    )


# --- append-only ---------------------------------------------------------------------------------


def test_consent_events_cannot_be_updated_or_deleted_through_the_orm(engine: Engine) -> None:
    subject_id = add_subject(engine)
    with session_scope(engine) as db:
        event_id = choose(db, subject_id, "newsletter", True, NOW).id
    with Session(engine) as db:
        item = db.get(ConsentEvent, event_id)
        item.active = False
        db.add(item)
        with pytest.raises(ConsentHistoryIsAppendOnly):
            db.flush()
    with Session(engine) as db:
        db.delete(db.get(ConsentEvent, event_id))
        with pytest.raises(ConsentHistoryIsAppendOnly):
            db.flush()
    with Session(engine) as db:
        with pytest.raises(ConsentHistoryIsAppendOnly):
            db.execute(update(ConsentEvent).values(active=False))
        with pytest.raises(ConsentHistoryIsAppendOnly):
            db.execute(delete(ConsentEvent))
    with session_scope(engine) as db:
        assert db.get(ConsentEvent, event_id).active is True


def test_the_database_refuses_changes_to_consent_events(engine: Engine) -> None:
    """Below the ORM: a trigger refuses updates (and, on PostgreSQL, deletes)."""
    subject_id = add_subject(engine)
    with session_scope(engine) as db:
        choose(db, subject_id, "newsletter", True, NOW)
    with pytest.raises(DBAPIError), engine.begin() as connection:
        connection.execute(text("UPDATE consent_event SET active = false"))
    if engine.dialect.name == "postgresql":
        with pytest.raises(DBAPIError), engine.begin() as connection:
            connection.execute(text("DELETE FROM consent_event"))
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM consent_event")).scalar() == 1


# --- the current state ---------------------------------------------------------------------------


def test_withdraw_then_give_gives_and_give_then_withdraw_withdraws(
    engine: Engine, datamap: DataMap
) -> None:
    subject_id = add_subject(engine)
    with session_scope(engine) as db:
        choose(db, subject_id, "newsletter", False, NOW - timedelta(days=2))
        choose(db, subject_id, "newsletter", True, NOW - timedelta(days=1))
        choose(db, subject_id, "sms_marketing", True, NOW - timedelta(days=2))
        choose(db, subject_id, "sms_marketing", False, NOW - timedelta(days=1))
        state = choices(datamap, history(db, subject_id), country="NO", now=NOW)
    by_purpose = {s.purpose: s for s in state.consents}
    assert by_purpose["newsletter"].given is True
    assert by_purpose["sms_marketing"].given is False
    assert by_purpose["sms_marketing"].since == NOW - timedelta(days=1)
    assert by_purpose["profiling"].since is None  # never chosen
    assert state.withdrawn_channels() == {"sms": [by_purpose["sms_marketing"]]}


def test_an_expired_consent_counts_as_withdrawn(engine: Engine, datamap: DataMap) -> None:
    """Phone marketing lasts three months for Swedish people (NIX); not for Norwegians."""
    given = NOW - timedelta(days=100)
    swede = add_subject(engine, "199001012385", "SE")
    norwegian = add_subject(engine)
    with session_scope(engine) as db:
        for subject_id in (swede, norwegian):
            choose(db, subject_id, "phone_marketing", True, given)
        se = choices(datamap, history(db, swede), country="SE", now=NOW)
        no = choices(datamap, history(db, norwegian), country="NO", now=NOW)
        fresh = choices(datamap, history(db, swede), country="SE", now=given + timedelta(days=30))
    phone_se = next(s for s in se.consents if s.purpose == "phone_marketing")
    assert (phone_se.given, phone_se.expired) == (False, True)
    assert phone_se.expires_at == given.replace(month=given.month + 3)
    assert next(s for s in no.consents if s.purpose == "phone_marketing").given is True
    assert next(s for s in fresh.consents if s.purpose == "phone_marketing").given is True


def test_an_unknown_topic_is_refused(engine: Engine, datamap: DataMap, company) -> None:
    subject_id = add_subject(engine)
    for kind, topic in (
        (TopicKind.consent, "customer_service"),  # not a consent purpose
        (TopicKind.reservation, "pigeon"),
        (TopicKind.objection, "everything"),
    ):
        with pytest.raises(ConsentRefused):
            preferences.change(
                engine,
                datamap,
                company,
                subject_id,
                Change(kind, topic, True, Via.portal, Actor.person, subject_id),
                region="NO",
                now=NOW,
            )
    with session_scope(engine) as db:
        assert history(db, subject_id) == []


# --- the company's records, and reaching the company's systems -----------------------------------


def test_the_companys_consent_records_are_imported_once(
    engine: Engine, datamap: DataMap, company
) -> None:
    subject_id = add_subject(engine)
    first = preferences.load(engine, datamap, company, subject_id, region="NO", now=NOW)
    again = preferences.load(engine, datamap, company, subject_id, region="NO", now=NOW)
    assert len(first.history) == len(again.history) == 3  # newsletter given; SMS given, withdrawn
    assert {e.via for e in first.history} == {Via.import_}
    states = {s.purpose: s for s in again.choices.consents}
    assert states["newsletter"].given and not states["sms_marketing"].given
    assert states["sms_marketing"].since is not None
    with session_scope(engine) as db:
        blocked = block_list.lookup(db, Kind.phone, ["+4791000001"], channel=Channel.sms, now=NOW)
    assert [m.label for m in blocked["+4791000001"]] == ["consent_withdrawn:sms_marketing"]


def test_a_withdrawal_ends_the_newsletter_subscription_in_the_companys_system(
    engine: Engine, datamap: DataMap, company
) -> None:
    subject_id = add_subject(engine)
    preferences.load(engine, datamap, company, subject_id, region="NO", now=NOW)
    preferences.change(
        engine,
        datamap,
        company,
        subject_id,
        Change(TopicKind.consent, "newsletter", False, Via.portal, Actor.person, subject_id),
        region="NO",
        now=NOW,
    )
    with session_scope(engine) as db:
        job = db.exec(select(Job).where(Job.kind == "consent.withdrawal")).scalars().one()
        event = db.get(ConsentEvent, job.payload["event_id"])
        assert (event.topic, event.active) == ("newsletter", False)
    newsletter = demo.marketing_newsletter
    with company["marketing"].connect() as connection:
        row = connection.execute(
            select(newsletter.c.unsubscribed_at).where(
                newsletter.c.email == "kari.nordmann@example.com"
            )
        ).one()
    assert row.unsubscribed_at is None  # not before the job runs
    changed = apply_withdrawal(
        datamap, company, purpose="newsletter", national_id=KARI.national_id, proven={}, at=NOW
    )
    assert changed == {"marketing_newsletter": 1, "crm_consents": 1}
    again = apply_withdrawal(
        datamap, company, purpose="newsletter", national_id=KARI.national_id, proven={}, at=NOW
    )
    assert again == {"marketing_newsletter": 0, "crm_consents": 0}  # idempotent
    with company["marketing"].connect() as connection:
        row = connection.execute(
            select(newsletter.c.unsubscribed_at).where(
                newsletter.c.email == "kari.nordmann@example.com"
            )
        ).one()
        consents, customers = demo.crm_consents, demo.crm_customers
        kari = select(customers.c.id).where(customers.c.national_id == KARI.national_id)
        withdrawn = dict(
            connection.execute(
                select(consents.c.purpose, consents.c.withdrawn_at).where(
                    consents.c.customer_id == kari.scalar_subquery()
                )
            ).all()
        )
    assert row.unsubscribed_at == NOW.replace(tzinfo=None)
    assert withdrawn["newsletter"] == NOW.replace(tzinfo=None)
    assert withdrawn["sms_marketing"] < withdrawn["newsletter"]  # withdrawn long ago, kept


def test_the_withdrawal_job_applies_it_and_logs_it(
    engine: Engine, datamap: DataMap, company
) -> None:
    from portal.audit import entries_for
    from portal.jobs.queue import JobContext
    from portal.marketing.withdrawal import withdrawal_job
    from portal.workflows import erasure_run

    subject_id = add_subject(engine)
    with session_scope(engine) as db:
        event_id = choose(db, subject_id, "sms_marketing", False, NOW).id
    previous = erasure_run._RUNTIME
    erasure_run.set_runtime(datamap, company)
    try:
        with session_scope(engine) as db:
            withdrawal_job(db, {"event_id": event_id}, JobContext(1, "x", 1, 8, "w", NOW))
    finally:
        erasure_run._RUNTIME = previous
    members = demo.marketing_list_members
    with company["marketing"].connect() as connection:
        left = connection.execute(
            select(members.c.id).where(members.c.phone == "+4791000001")
        ).all()
    assert left == []  # the SMS campaign list row is gone
    with session_scope(engine) as db:
        (entry,) = [e for e in entries_for(db, subject_id) if e.action.startswith("consent.")]
    assert entry.details["rows"]["marketing_list_members"] == 1


# --- reservation and objection -------------------------------------------------------------------


def test_reserving_puts_every_identifier_on_the_block_list_and_lifting_takes_it_off(
    engine: Engine, datamap: DataMap, company
) -> None:
    subject_id = add_subject(engine)

    def change(kind: TopicKind, topic: str, active: bool) -> None:
        preferences.change(
            engine,
            datamap,
            company,
            subject_id,
            Change(kind, topic, active, Via.portal, Actor.person, subject_id),
            region="NO",
            now=NOW,
        )

    change(TopicKind.reservation, "phone", True)
    with session_scope(engine) as db:
        found = {
            (kind, value): block_list.lookup(db, kind, [value], channel="phone", now=NOW)
            for kind, value in (
                (Kind.phone, "+4791000001"),
                (Kind.email, "kari.nordmann@example.com"),
                (Kind.national_id, KARI.national_id),
            )
        }
        by_sms = block_list.lookup(db, Kind.phone, ["+4791000001"], channel="sms", now=NOW)
    assert all(
        [m.label for m in matches[value]] == ["reserved:phone"]
        for (_kind, value), matches in found.items()
    )
    assert by_sms == {}
    change(TopicKind.objection, "direct_marketing", True)
    change(TopicKind.reservation, "phone", False)
    with session_scope(engine) as db:
        matches = block_list.lookup(db, Kind.phone, ["+4791000001"], channel="post", now=NOW)
        lifted = (
            db.exec(select(BlockEntry).where(BlockEntry.reason == Reason.reserved)).scalars().all()
        )
    assert [m.label for m in matches["+4791000001"]] == ["objected"]
    assert lifted and all(e.removed_at is not None for e in lifted)
