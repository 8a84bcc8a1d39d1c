"""Addresses a signed-in person proves by a link (portal/identity/addresses.py): the address
becomes a proven identifier the collector follows, under the same rules as any other."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from portal import ratelimit
from portal.audit import AuditEntry
from portal.datamap import load_datamap
from portal.datamap.collect import collect
from portal.db import session_scope
from portal.demo import DATAMAP_PATH, EDGE_CASES_BY_KEY
from portal.identity import addresses
from portal.identity.addresses import AddressClaim, AddressRefused
from portal.identity.identifiers import proven_identifiers
from portal.jobs.outbox import OutboxMessage
from portal.links import LinkRefused, Refusal
from portal.models import Assurance, IdentifierKind, Subject, SubjectIdentifier
from portal.settings import Settings

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
CLIENT = ratelimit.Client.of("k" * 40, "198.51.100.4")
OLD_ADDRESS = "ola1979@example.org"  # Ola's old shop account: nothing links it to him


def person(engine: Engine, key: str) -> int:
    case = EDGE_CASES_BY_KEY[key]
    with session_scope(engine) as db:
        subject = Subject(national_id=case.national_id, country="NO", given_name=case.given_name)
        db.add(subject)
        db.flush()
        return subject.id


def claim(engine: Engine, settings: Settings, subject_id: int, address: str) -> str:
    """Claim an address; the confirmation link's token, read from the outbox."""
    with session_scope(engine) as db:
        addresses.claim_address(
            db,
            subject_id=subject_id,
            address=address,
            client=CLIENT,
            language="nb",
            now=NOW,
            settings=settings,
        )
    with Session(engine) as db:
        message = db.exec(select(OutboxMessage).order_by(OutboxMessage.id.desc())).first()
    assert message.kind == "confirm_address" and message.subject_id is None
    return parse_qs(urlsplit(message.context["confirm_url"]).query)["link"][0]


def confirm(engine: Engine, settings: Settings, subject_id: int, token: str, at: datetime = NOW):
    with session_scope(engine) as db:
        return addresses.confirm_address(
            db, token, subject_id=subject_id, now=at, settings=settings
        )


def proven(engine: Engine, subject_id: int) -> dict[str, list[str]]:
    with Session(engine) as db:
        return proven_identifiers(db, subject_id)


def refusal(action) -> Refusal:
    with pytest.raises(LinkRefused) as caught:
        action()
    return caught.value.reason


def test_a_proven_address_opens_the_rows_held_only_under_it(
    engine: Engine, settings, demo_sources
) -> None:
    ola = person(engine, "two_systems")
    token = claim(engine, settings, ola, "  OLA1979@example.org ")
    # Sent to the address itself, never to the person's own messages.
    assert proven(engine, ola) == {}
    identifier = confirm(engine, settings, ola, token)
    assert (identifier.value, identifier.assurance) == (OLD_ADDRESS, Assurance.low)
    assert proven(engine, ola) == {"email": [OLD_ADDRESS]}
    datamap = load_datamap(DATAMAP_PATH)
    nid = EDGE_CASES_BY_KEY["two_systems"].national_id
    before = collect(datamap, demo_sources, nid)
    after = collect(datamap, demo_sources, nid, proven=proven(engine, ola))
    assert after.count("shop_accounts") == before.count("shop_accounts") + 1
    assert after.count("marketing_newsletter") == before.count("marketing_newsletter") + 1
    with Session(engine) as db:
        assert db.exec(select(AddressClaim)).all() == []
        entry = db.exec(select(AuditEntry).where(AuditEntry.action == "identifier.prove")).one()
        assert OLD_ADDRESS not in str(entry.details) and entry.subject_id == ola


def test_a_shared_address_stays_withheld_when_proven(
    engine: Engine, settings, demo_sources
) -> None:
    anders = person(engine, "reused_email_a")
    confirm(engine, settings, anders, claim(engine, settings, anders, "familien.vik@example.com"))
    nid = EDGE_CASES_BY_KEY["reused_email_a"].national_id
    found = collect(load_datamap(DATAMAP_PATH), demo_sources, nid, proven=proven(engine, anders))
    assert found.count("shop_orders") == found.count("marketing_newsletter") == 0
    assert found.withheld == {"shop_orders": 1, "marketing_newsletter": 1}


def test_a_confirmation_link_used_twice_tampered_or_expired_acts_on_nothing(
    engine: Engine, settings
) -> None:
    ola = person(engine, "two_systems")
    token = claim(engine, settings, ola, OLD_ADDRESS)
    late = NOW + timedelta(hours=settings.address_link_hours)
    assert refusal(lambda: confirm(engine, settings, ola, token, late)) == Refusal.expired
    assert refusal(lambda: confirm(engine, settings, ola, token[:-4] + "AAAA")) == Refusal.invalid
    assert proven(engine, ola) == {}
    confirm(engine, settings, ola, token)
    with session_scope(engine) as db:
        addresses.withdraw_address(
            db, subject_id=ola, identifier_id=_identifier_id(engine, ola), now=NOW
        )
    # Used once: a second use does not bring back the withdrawn address.
    assert refusal(lambda: confirm(engine, settings, ola, token)) == Refusal.used
    assert proven(engine, ola) == {}


def test_a_link_works_only_for_the_person_who_asked(engine: Engine, settings) -> None:
    ola = person(engine, "two_systems")
    kari = person(engine, "ordinary")
    token = claim(engine, settings, ola, OLD_ADDRESS)
    assert refusal(lambda: confirm(engine, settings, kari, token)) == Refusal.other_person
    assert proven(engine, kari) == proven(engine, ola) == {}


def test_an_address_another_person_proved_is_not_added(engine: Engine, settings) -> None:
    ola = person(engine, "two_systems")
    kari = person(engine, "ordinary")
    confirm(engine, settings, kari, claim(engine, settings, kari, OLD_ADDRESS))
    token = claim(engine, settings, ola, OLD_ADDRESS)
    with pytest.raises(AddressRefused):
        confirm(engine, settings, ola, token)
    assert proven(engine, ola) == {}
    # Refused and rolled back: the link was not spent.
    with Session(engine) as db:
        assert addresses.read_claim(db, token, subject_id=ola, now=NOW, settings=settings)


def test_a_person_withdraws_what_they_proved_not_what_staff_linked(
    engine: Engine, settings
) -> None:
    ola = person(engine, "two_systems")
    with session_scope(engine) as db:
        staff_link = SubjectIdentifier(
            subject_id=ola, kind=IdentifierKind.email, value="o@x.no", assurance=Assurance.staff
        )
        db.add(staff_link)
        db.flush()
        staff_link_id = staff_link.id
    with pytest.raises(AddressRefused), session_scope(engine) as db:
        addresses.withdraw_address(db, subject_id=ola, identifier_id=staff_link_id, now=NOW)
    assert proven(engine, ola) == {"email": ["o@x.no"]}
    token = claim(engine, settings, ola, OLD_ADDRESS)
    with session_scope(engine) as db:
        waiting = db.exec(select(AddressClaim)).one()
        addresses.withdraw_claim(db, subject_id=ola, claim_id=waiting.id)
    # A withdrawn claim's link adds nothing.
    assert refusal(lambda: confirm(engine, settings, ola, token)) == Refusal.expired
    assert proven(engine, ola) == {"email": ["o@x.no"]}


def test_claims_are_bounded_and_expire(engine: Engine, settings) -> None:
    ola = person(engine, "two_systems")
    for n in range(addresses.MAX_OPEN_CLAIMS):
        claim(engine, settings, ola, f"old{n}@example.org")
    with pytest.raises(AddressRefused), session_scope(engine) as db:
        addresses.claim_address(
            db, subject_id=ola, address="one.more@example.org", client=CLIENT,
            language="nb", now=NOW, settings=settings,
        )  # fmt: skip
    with session_scope(engine) as db:
        later = NOW + timedelta(hours=settings.address_link_hours)
        assert addresses.remove_expired_claims(db, later) == addresses.MAX_OPEN_CLAIMS


def _identifier_id(engine: Engine, subject_id: int) -> int:
    with Session(engine) as db:
        return (
            db.exec(select(SubjectIdentifier).where(SubjectIdentifier.subject_id == subject_id))
            .one()
            .id
        )
