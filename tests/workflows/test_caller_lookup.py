"""The caller look-up's domain, without HTTP: each kind of identifier as an agent types it, a
reason required, nobody found who is not a customer (and the outcome says why), several people
under a shared number, a company without national IDs, and an audit entry for every look-up and
every view, without the value looked up."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from portal.audit import AuditEntry
from portal.datamap import DataMap, load_datamap
from portal.demo import EDGE_CASES_BY_KEY
from portal.models import Assurance, IdentifierKind, StaffMember, Subject, SubjectIdentifier
from portal.workflows import caller_lookup
from portal.workflows.caller_lookup import LookupRefused, NotFound, check_query, look_up
from portal.workflows.requests import Actor, RequestType, file_request
from tests.small_company import company
from tests.small_shop import create as create_shop
from tests.small_shop import write_map

NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
KARI = EDGE_CASES_BY_KEY["ordinary"]

pytestmark = pytest.mark.usefixtures("english")


def query(kind: str, value: str, reason: str = "own_data", note: str = "") -> caller_lookup.Query:
    form = {"kind": kind, "value": value, "reason": reason, "note": note}
    return check_query(form, region="NO", today=NOW.date())


def search(
    engine: Engine,
    datamap: DataMap,
    sources: dict[str, Engine],
    agent: int,
    kind: str,
    value: str,
    **more: str,
) -> caller_lookup.Outcome:
    return look_up(engine, datamap, sources, query(kind, value, **more), staff_id=agent, now=NOW)


def entries(engine: Engine) -> list[AuditEntry]:
    with Session(engine) as db:
        return list(db.exec(select(AuditEntry).order_by(AuditEntry.seq)))


def subject_of(engine: Engine, national_id: str) -> Subject | None:
    with Session(engine) as db:
        return db.exec(select(Subject).where(Subject.national_id == national_id)).first()


@pytest.mark.parametrize(
    ("kind", "typed"),
    [
        ("phone", "910 00 001"),  # as the caller says it; stored as +4791000001
        ("phone", "0047 91000001"),
        ("email", " Kari.Nordmann@Example.COM "),
        ("national_id", KARI.national_id[:6] + " " + KARI.national_id[6:]),
        ("customer_number", "900001"),
    ],
)
def test_each_kind_of_identifier_finds_the_customer_as_typed(
    engine: Engine, demo_sources: dict[str, Engine], datamap: DataMap, agent: int, kind, typed
) -> None:
    outcome = search(engine, datamap, demo_sources, agent, kind, typed)
    assert outcome.not_found is None
    [match] = outcome.matches
    # Named from the customer record (the map's person_name): she never signed in.
    assert match.name == "Kari Nordmann"
    assert match.national_id == f"{KARI.national_id[:6]} *****"
    assert match.records > 10 and match.open_requests == 0
    subject = subject_of(engine, KARI.national_id)
    assert subject is not None and subject.id == match.subject_id


def test_every_look_up_is_logged_with_its_reason_and_never_the_value(
    engine: Engine, demo_sources: dict[str, Engine], datamap: DataMap, agent: int
) -> None:
    found = search(engine, datamap, demo_sources, agent, "phone", "91000001", reason="reservation")
    nobody = search(
        engine,
        datamap,
        demo_sources,
        agent,
        "phone",
        "+47 99 99 99 99",
        reason="other",
        note="Asked whether we have her number",
    )
    first, second = entries(engine)
    assert (first.action, first.actor_id, first.reason) == ("lookup.search", agent, "reservation")
    assert first.id == found.lookup_id and first.subject_id == found.matches[0].subject_id
    assert first.details["kind"] == "phone" and first.details["found"] == 1
    assert first.details["subjects"] == [found.matches[0].subject_id]
    assert second.id == nobody.lookup_id and second.subject_id is None
    assert second.reason == "other: Asked whether we have her number"
    assert second.details["found"] == 0 and second.details["not_found"] == "not_a_customer"
    for entry in (first, second):
        text = json.dumps([entry.reason, entry.details])
        assert "91000001" not in text and "99999999" not in text and "+47" not in text


@pytest.mark.parametrize(
    ("kind", "typed"),
    [
        ("national_id", EDGE_CASES_BY_KEY["nothing_held"].national_id),
        ("phone", "+47 99 99 99 99"),
        ("email", "nobody@example.org"),
        ("customer_number", "123456789"),
    ],
)
def test_someone_who_is_not_a_customer_is_not_found_and_the_outcome_says_why(
    engine: Engine, demo_sources: dict[str, Engine], datamap: DataMap, agent: int, kind, typed
) -> None:
    outcome = search(engine, datamap, demo_sources, agent, kind, typed)
    assert outcome.matches == () and outcome.not_found == NotFound.not_a_customer
    # Looking did not make them known to the portal.
    with Session(engine) as db:
        assert db.exec(select(Subject)).all() == []
    assert [entry.action for entry in entries(engine)] == ["lookup.search"]


def test_someone_with_an_open_request_is_found_though_nothing_is_held(
    engine: Engine, demo_sources: dict[str, Engine], datamap: DataMap, agent: int
) -> None:
    tone = EDGE_CASES_BY_KEY["nothing_held"]
    with Session(engine) as db:
        subject = Subject(national_id=tone.national_id, country="NO", given_name="Tone")
        db.add(subject)
        db.flush()
        file_request(
            db,
            subject_id=subject.id,
            type=RequestType.access,
            assurance=Assurance.high,
            actor=Actor.person,
            now=NOW - timedelta(days=2),
        )
        db.commit()
    outcome = search(engine, datamap, demo_sources, agent, "national_id", tone.national_id)
    [match] = outcome.matches
    assert (match.name, match.records, match.open_requests) == ("Tone", 0, 1)


def test_a_shared_phone_lists_both_people_and_nothing_else(
    engine: Engine, demo_sources: dict[str, Engine], datamap: DataMap, agent: int
) -> None:
    outcome = search(engine, datamap, demo_sources, agent, "phone", "22 33 44 55")
    assert sorted(match.name for match in outcome.matches) == ["Lars Dahl", "Mette Dahl"]
    [entry] = entries(engine)
    assert entry.subject_id is None
    assert sorted(entry.details["subjects"]) == sorted(m.subject_id for m in outcome.matches)


def test_an_address_in_the_shop_finds_the_customer_through_the_customer_number(
    engine: Engine, demo_sources: dict[str, Engine], datamap: DataMap, agent: int
) -> None:
    # Ola's shop account is under another address than his customer record; the account
    # carries his customer number.
    outcome = search(engine, datamap, demo_sources, agent, "email", "ola.n@example.net")
    assert [match.name for match in outcome.matches] == ["Ola Nordmann"]


def test_data_no_one_can_be_named_from_is_not_shown_until_the_person_proves_it(
    engine: Engine, demo_sources: dict[str, Engine], datamap: DataMap, agent: int
) -> None:
    # An old shop account under an address nothing links to Ola.
    old = "ola1979@example.org"
    outcome = search(engine, datamap, demo_sources, agent, "email", old)
    assert outcome.matches == () and outcome.not_found == NotFound.unnamed
    ola = EDGE_CASES_BY_KEY["two_systems"]
    with Session(engine) as db:
        subject = Subject(
            national_id=ola.national_id, country="NO", given_name="Ola", family_name="Nordmann"
        )
        db.add(subject)
        db.flush()
        db.add(
            SubjectIdentifier(
                subject_id=subject.id, kind=IdentifierKind.email, value=old, assurance=Assurance.low
            )
        )
        db.commit()
    again = search(engine, datamap, demo_sources, agent, "email", old)
    assert [match.name for match in again.matches] == ["Ola Nordmann"]


def test_a_look_up_without_a_reason_is_refused_before_anything_is_looked_up() -> None:
    with pytest.raises(LookupRefused) as refused:
        check_query({"kind": "phone", "value": "91000001"}, region="NO")
    assert refused.value.errors == {"reason": "Choose why you look the caller up."}
    with pytest.raises(LookupRefused) as refused:
        check_query({"kind": "phone", "value": "91000001", "reason": "other"}, region="NO")
    assert refused.value.errors == {"note": "Say why you look the caller up."}
    with pytest.raises(LookupRefused) as refused:
        check_query({"kind": "phone", "value": "12", "reason": "nonsense"}, region="NO")
    assert set(refused.value.errors) == {"reason", "value"}
    with pytest.raises(LookupRefused) as refused:
        check_query({"kind": "national_id", "value": "12038410082", "reason": "right"}, region="NO")
    assert refused.value.errors == {"value": "That is not a valid national identity number."}


def test_a_view_is_logged_only_for_the_agent_who_found_the_person_and_while_the_call_lasts(
    engine: Engine, demo_sources: dict[str, Engine], datamap: DataMap, agent: int
) -> None:
    outcome = search(engine, datamap, demo_sources, agent, "customer_number", "900001")
    kari = outcome.matches[0].subject_id
    with Session(engine) as db:
        other = StaffMember(issuer="https://idp", sub="other", name="Other")
        db.add(other)
        db.flush()
        assert caller_lookup.record_view(db, outcome.lookup_id, kari, staff_id=agent, now=NOW)
        assert not caller_lookup.record_view(
            db, outcome.lookup_id, kari, staff_id=other.id or 0, now=NOW
        )
        assert not caller_lookup.record_view(
            db, outcome.lookup_id, kari + 1, staff_id=agent, now=NOW
        )
        later = NOW + timedelta(hours=caller_lookup.LOOKUP_HOURS, minutes=1)
        assert not caller_lookup.record_view(db, outcome.lookup_id, kari, staff_id=agent, now=later)
        db.commit()
    views = [e for e in entries(engine) if e.action == "lookup.view"]
    assert [(v.subject_id, v.actor_id, v.reason, v.details) for v in views] == [
        (kari, agent, "own_data", {"lookup": outcome.lookup_id})
    ]


def test_a_company_without_national_ids_finds_a_number_as_typed_once_the_person_proved_one(
    db_kind: str, tmp_path: Path, engine: Engine, agent: int
) -> None:
    shop_map = load_datamap(write_map(tmp_path))
    with company(db_kind, tmp_path, create_shop) as shop:
        sources = {"shop": shop}
        # Ola's number is stored as "912 34 567": found, but nobody can be named from it.
        first = search(engine, shop_map, sources, agent, "phone", "+47 91234567")
        assert first.not_found == NotFound.unnamed
        with Session(engine) as db:
            ola = Subject(national_id="04077910005", country="NO", given_name="Ola")
            db.add(ola)
            db.flush()
            db.add(
                SubjectIdentifier(
                    subject_id=ola.id,
                    kind=IdentifierKind.email,
                    value="ola@example.no",
                    assurance=Assurance.low,
                )
            )
            db.commit()
        # He proved his address: the row under it carries the number.
        second = search(engine, shop_map, sources, agent, "phone", "912 34 567")
        assert [(m.name, m.records) for m in second.matches] == [("Ola", 3)]


def test_a_protected_identity_is_found_and_marked(
    engine: Engine, demo_sources: dict[str, Engine], datamap: DataMap, agent: int
) -> None:
    knut = search(engine, datamap, demo_sources, agent, "customer_number", "900015")
    kari = search(engine, datamap, demo_sources, agent, "customer_number", "900001")
    assert [(m.name, m.protected) for m in knut.matches] == [("Knut Svendsen", True)]
    assert [(m.name, m.protected) for m in kari.matches] == [("Kari Nordmann", False)]
