"""The demo company: edge cases exist as documented, counts add up, seeding is deterministic."""

from __future__ import annotations

import argparse
import hashlib
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select
from sqlalchemy.engine import Engine

from portal.datamap import check_against_sources, load_datamap
from portal.demo import DATAMAP_PATH, EDGE_CASES, EDGE_CASES_BY_KEY
from portal.demo import schema as s
from portal.demo.cli import register
from portal.demo.seed import AlreadySeeded, generated_customer_number, seed
from portal.identity.national_id import parse_national_id

TODAY = date(2026, 11, 24)
PEOPLE = 60


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    engine = create_engine(f"sqlite:///{tmp_path_factory.mktemp('demo') / 'demo.db'}")
    seed(engine, PEOPLE, today=TODAY)
    yield engine
    engine.dispose()


def customer(engine: Engine, key: str) -> dict:
    nid = EDGE_CASES_BY_KEY[key].national_id
    with engine.connect() as connection:
        row = (
            connection.execute(select(s.crm_customers).where(s.crm_customers.c.national_id == nid))
            .mappings()
            .one()
        )
    return dict(row)


def test_edge_case_numbers_are_valid_and_distinct() -> None:
    numbers = [case.national_id for case in EDGE_CASES]
    assert len(set(numbers)) == len(numbers)
    for case in EDGE_CASES:
        assert parse_national_id(case.national_id, today=TODAY).number == case.national_id
    assert parse_national_id(EDGE_CASES_BY_KEY["coordination_number"].national_id).kind == (
        "samordningsnummer"
    )
    assert parse_national_id(EDGE_CASES_BY_KEY["special_characters"].national_id).country == "SE"


def test_counts(demo: Engine) -> None:
    with demo.connect() as connection:
        customers = connection.execute(select(func.count()).select_from(s.crm_customers)).scalar()
        people = connection.execute(
            select(func.count(func.distinct(s.crm_customers.c.national_id)))
        ).scalar()
    assert customers == PEOPLE + len(EDGE_CASES) - 1  # nothing_held has no row
    assert people == customers


def test_generated_national_ids_are_valid(demo: Engine) -> None:
    with demo.connect() as connection:
        numbers = connection.execute(select(s.crm_customers.c.national_id)).scalars().all()
    for number in numbers:
        assert parse_national_id(number, today=TODAY).number == number


def test_edge_cases_are_as_documented(demo: Engine) -> None:
    assert customer(demo, "deceased")["deceased_on"] is not None
    assert customer(demo, "ended_relationship")["relationship_ended_on"] == date(2024, 11, 24)
    assert customer(demo, "protected_address")["protected_address"] is True
    special = customer(demo, "special_characters")
    assert special["given_name"] == 'Zoë "Zed"'
    assert special["family_name"] == "O'Connor-Åström <script>alert('x')</script>"
    assert customer(demo, "shared_phone_a")["phone"] == customer(demo, "shared_phone_b")["phone"]
    assert customer(demo, "reused_email_a")["email"] == customer(demo, "reused_email_b")["email"]
    hilde_number = customer(demo, "open_complaint")["customer_number"]
    with demo.connect() as connection:
        cases = connection.execute(
            select(s.collection_cases.c.status, s.collection_cases.c.agency).where(
                s.collection_cases.c.debtor_national_id
                == EDGE_CASES_BY_KEY["open_collection"].national_id
            )
        ).all()
        complaint = (
            connection.execute(
                select(s.shop_complaints.c.status)
                .select_from(s.shop_complaints)
                .join(s.shop_orders, s.shop_orders.c.id == s.shop_complaints.c.order_id)
                .join(s.shop_accounts, s.shop_accounts.c.id == s.shop_orders.c.account_id)
                .where(s.shop_accounts.c.customer_number == hilde_number)
            )
            .scalars()
            .all()
        )
        addresses = connection.execute(
            select(s.crm_addresses.c.customer_id, s.crm_addresses.c.valid_to).where(
                s.crm_addresses.c.street == "Storgata 12"
            )
        ).all()
    assert cases == [("open", "Alektum Group")]
    assert complaint == ["in_progress"]
    previous, current = customer(demo, "previous_resident"), customer(demo, "current_resident")
    assert sorted(addresses) == sorted(
        [(previous["id"], date(2024, 11, 23)), (current["id"], None)]
    )


def test_nothing_held_is_nowhere(demo: Engine) -> None:
    nid = EDGE_CASES_BY_KEY["nothing_held"].national_id
    with demo.connect() as connection:
        for column in (s.crm_customers.c.national_id, s.collection_cases.c.debtor_national_id):
            assert connection.execute(select(func.count()).where(column == nid)).scalar() == 0


def test_address_history_covers_five_years(demo: Engine) -> None:
    with demo.connect() as connection:
        oldest = connection.execute(select(func.min(s.crm_addresses.c.valid_from))).scalar()
        open_ended = connection.execute(
            select(func.count()).where(s.crm_addresses.c.valid_to.is_(None))
        ).scalar()
    assert oldest <= date(2021, 11, 25)
    assert open_ended == PEOPLE + len(EDGE_CASES) - 1  # one current address each


def test_demo_map_matches_schema_and_classifies_every_column(demo: Engine) -> None:
    datamap = load_datamap(DATAMAP_PATH)
    assert {datamap.db_table(name) for name in datamap.tables} == set(s.metadata.tables)
    assert check_against_sources(datamap, dict.fromkeys(datamap.sources, demo)) == []


def _digest(engine: Engine) -> str:
    digest = hashlib.sha256()
    with engine.connect() as connection:
        for table in s.TABLES:
            for row in connection.execute(select(table).order_by(table.c.id)):
                digest.update(repr(tuple(row)).encode())
    return digest.hexdigest()


def test_seed_is_deterministic_and_refuses_to_add_twice(tmp_path: Path, demo: Engine) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'again.db'}")
    try:
        seed(engine, PEOPLE, today=TODAY)
        assert _digest(engine) == _digest(demo)
        with pytest.raises(AlreadySeeded):
            seed(engine, PEOPLE, today=TODAY)
        counts = seed(engine, 5, seed=2, today=TODAY, reset=True)
        assert counts["crm_customers"] == 5 + len(EDGE_CASES) - 1
        assert _digest(engine) != _digest(demo)
    finally:
        engine.dispose()


def test_cli_seed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser(prog="portal")
    register(parser.add_subparsers(dest="command", required=True))
    url = f"sqlite:///{tmp_path / 'sub' / 'cli.db'}"
    args = parser.parse_args(["demo", "seed", "--people", "3", "--database-url", url])
    assert args.func(args) == 0
    assert "3 people and the edge cases" in capsys.readouterr().out
    assert args.func(args) == 1
    assert "--reset" in capsys.readouterr().out


def test_every_code_in_a_labelled_column_has_its_label(demo: Engine) -> None:
    """The demo map labels its coded values (#16 item 4): no seeded code is shown raw."""
    datamap = load_datamap(DATAMAP_PATH)
    checked = 0
    with demo.connect() as connection:
        for name, spec in datamap.tables.items():
            table = s.metadata.tables[datamap.db_table(name)]
            for column, field in spec.fields.items():
                if not field.values:
                    continue
                found = connection.execute(select(table.c[column]).distinct()).scalars()
                for value in found:
                    if value is not None:
                        assert str(value) in field.values, (name, column, value)
                        checked += 1
    assert checked >= 30


def test_generated_customer_numbers_never_meet_the_edge_cases(demo: Engine) -> None:
    """Up to the ten million people a benchmark might seed, generated numbers are unique and
    none is an edge case's (the 800,001st person once got 900001, Kari Nordmann's)."""
    with demo.connect() as connection:
        edge = set(
            connection.execute(
                select(s.crm_customers.c.customer_number).where(
                    s.crm_customers.c.national_id.in_(
                        [case.national_id for case in EDGE_CASES if case.national_id]
                    )
                )
            ).scalars()
        )
    assert "900001" in edge
    around = [*range(0, 1000), *range(799_000, 802_000), *range(9_999_000, 10_000_000)]
    numbers = [generated_customer_number(index) for index in around]
    assert len(set(numbers)) == len(numbers)
    assert not edge & set(numbers)
    assert generated_customer_number(0) == "100000"  # the demo's numbers as they always were
