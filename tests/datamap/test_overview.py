"""The first view's counting (datamap/overview.py) finds exactly what the walk finds
(identity.resolve), or says it cannot: on the demo company, the small shop and the small
company, on the --db kind."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, select
from sqlalchemy.engine import Engine

from portal.datamap import DataMap, load_datamap, parse_datamap, resolve
from portal.datamap.overview import Overview, overview, supported
from portal.demo import EDGE_CASES
from portal.demo import schema as demo
from tests.small_company import KARI, OLA_EMAIL, company
from tests.small_company import write_map as write_company_map
from tests.small_shop import KARI_EMAIL, OLA_PHONE
from tests.small_shop import create as create_shop
from tests.small_shop import write_map as write_shop_map


def as_walked(datamap: DataMap, sources: Mapping[str, Engine], national_id: str, **proven):
    found = resolve(datamap, sources, national_id, proven=proven)
    counts = {name: found.count(name) for name in datamap.table_order() if found.count(name)}
    return counts, found.identifiers, found.withheld, found.shared_identifiers


def as_counted(counted: Overview | None):
    assert counted is not None
    return counted.counts, counted.identifiers, counted.withheld, counted.shared_identifiers


def demo_people(demo_engine: Engine) -> list[str]:
    with demo_engine.connect() as connection:
        stored = connection.execute(
            select(demo.crm_customers.c.national_id).where(
                demo.crm_customers.c.national_id.is_not(None)
            )
        ).scalars()
        return sorted({*stored, *(case.national_id for case in EDGE_CASES)})


def test_every_demo_person_is_counted_as_the_walk_finds_them(
    datamap: DataMap, demo_sources: dict[str, Engine], demo_engine: Engine
) -> None:
    people = demo_people(demo_engine)
    assert len(people) > 200
    walked = set()
    for national_id in people:
        counted = overview(datamap, demo_sources, national_id)
        assert as_counted(counted) == as_walked(datamap, demo_sources, national_id), national_id
        walked.add(counted.walked)
    # Both ways are taken: most people have nothing under their addresses and numbers but
    # their own anchored rows (no walk); some have a newsletter, a shared number (the walk).
    assert walked == {True, False}
    # The demo's shared addresses and numbers are there to be counted: some rows are withheld.
    assert any(overview(datamap, demo_sources, person).withheld for person in people)


def test_identifiers_a_person_proved_count_as_in_the_walk(
    datamap: DataMap, demo_sources: dict[str, Engine], demo_engine: Engine
) -> None:
    with demo_engine.connect() as connection:
        rows = connection.execute(
            select(demo.crm_customers.c.email, demo.crm_customers.c.customer_number).limit(40)
        ).all()
    for email, number in rows:
        proven = {"email": [email] if email else [], "customer_number": [str(number)]}
        counted = overview(datamap, demo_sources, EDGE_CASES[5].national_id, proven=proven)
        walked = as_walked(datamap, demo_sources, EDGE_CASES[5].national_id, **proven)
        assert as_counted(counted) == walked, (email, number)


def test_the_demo_counts_in_two_statements_and_a_short_walk(
    datamap: DataMap, demo_sources: dict[str, Engine]
) -> None:
    ordinary = EDGE_CASES[0].national_id
    counted = overview(datamap, demo_sources, ordinary)
    walked = resolve(datamap, demo_sources, ordinary)
    assert counted is not None and counted.total == sum(map(len, walked.keys.values()))
    # A round to learn her customer number, one to find what it leads to; the rest are the
    # walk's look-ups under e-mail addresses and phone numbers, a table at a time.
    assert counted.queries < walked.queries


@pytest.fixture
def shop(db_kind: str, tmp_path: Path) -> Iterator[Engine]:
    with company(db_kind, tmp_path, create_shop) as engine:
        yield engine


def test_the_small_shop_without_national_ids_counts_as_the_walk(
    shop: Engine, tmp_path: Path
) -> None:
    datamap, sources = load_datamap(write_shop_map(tmp_path)), {"shop": shop}
    for proven in ({}, {"email": [KARI_EMAIL]}, {"phone": [OLA_PHONE]}, {"phone": ["+4741000000"]}):
        counted = overview(datamap, sources, KARI, proven=proven)
        assert as_counted(counted) == as_walked(datamap, sources, KARI, **proven)
    assert overview(datamap, sources, KARI, proven={"email": [KARI_EMAIL]}).total == 6


def test_the_small_company_counts_as_the_walk(db_kind: str, tmp_path: Path) -> None:
    with company(db_kind, tmp_path) as engine:
        datamap = load_datamap(write_company_map(tmp_path))
        sources = dict.fromkeys(datamap.sources, engine)
        for proven in ({}, {"email": [OLA_EMAIL]}):
            counted = overview(datamap, sources, KARI, proven=proven)
            assert as_counted(counted) == as_walked(datamap, sources, KARI, **proven)
        assert overview(datamap, sources, KARI).total > 0


# --- where only the walk can tell --------------------------------------------------------------

_MAP = """
[settings]
jurisdiction = "NO"
[controller]
name = "Test AS"
organisation_number = "912345678"
country = "NO"
contact = "privacy@test.example"
supervisory_authority = {{ nb = "Datatilsynet", sv = "Datatilsynet", en = "Datatilsynet" }}
[sources.a]
url_env = "OVERVIEW_A_URL"
name = {{ nb = "A", sv = "A", en = "A" }}
[sources.b]
url_env = "OVERVIEW_B_URL"
name = {{ nb = "B", sv = "B", en = "B" }}
[categories.identity]
name = {{ nb = "Identitet", sv = "Identitet", en = "Identity" }}
[purposes.service]
name = {{ nb = "Kundeservice", sv = "Kundtjänst", en = "Customer service" }}
[legal_bases.contract]
article = "6(1)(b)"
name = {{ nb = "Avtale", sv = "Avtal", en = "Contract" }}
[origins.subject]
name = {{ nb = "Fra deg", sv = "Från dig", en = "From you" }}
provided_by_subject = true
[tables.people]
source = "a"
name = {{ nb = "Kunder", sv = "Kunder", en = "Customers" }}
links = [
  {{ column = "national_id", identifier = "national_id" }},
  {{ column = "email", identifier = "email" }},
]
defaults = {defaults}
[tables.people.fields]
id = {{}}
national_id = {{}}
email = {{}}
[tables.notes]
source = "{notes_source}"
name = {{ nb = "Notater", sv = "Anteckningar", en = "Notes" }}
links = [{{ column = "person_id", table = "people" }}]
defaults = {defaults}
[tables.notes.fields]
id = {{}}
person_id = {{}}
text = {{}}
"""

_DEFAULTS = (
    '{ category = "identity", purposes = ["service"], legal_basis = "contract", '
    'origin = "subject", erasure = "delete_row" }'
)
_metadata = MetaData()
PEOPLE = Table(
    "people",
    _metadata,
    Column("id", Integer, primary_key=True),
    Column("national_id", String(20)),
    Column("email", String(100)),
)
NOTES = Table(
    "notes",
    _metadata,
    Column("id", Integer, primary_key=True),
    Column("person_id", Integer),
    Column("text", String(100)),
)


def _fill(engine: Engine) -> None:
    _metadata.create_all(engine)
    with engine.begin() as connection:
        connection.execute(
            PEOPLE.insert(),
            [
                {"id": 1, "national_id": KARI, "email": "kari@example.no"},
                # Her national ID stored with a space before it: the walk reaches the row
                # under her e-mail address and trims it; the statement compares it as stored.
                {"id": 2, "national_id": f" {KARI}", "email": "kari@example.no"},
            ],
        )
        connection.execute(
            NOTES.insert(),
            [{"id": 10, "person_id": 1, "text": "a"}, {"id": 20, "person_id": 2, "text": "b"}],
        )


@pytest.fixture
def padded(db_kind: str, tmp_path: Path) -> Iterator[Engine]:
    with company(db_kind, tmp_path, _fill) as engine:
        yield engine


def _map(notes_source: str) -> DataMap:
    text = _MAP.format(notes_source=notes_source, defaults=_DEFAULTS)
    return parse_datamap(text.encode(), "overview.toml")


def test_where_the_statement_and_the_walk_would_disagree_it_says_so(padded: Engine) -> None:
    datamap = _map("a")
    sources = dict.fromkeys(datamap.sources, padded)
    assert supported(datamap, sources)
    assert overview(datamap, sources, KARI) is None
    # The walk finds both of her rows and the notes under them.
    assert resolve(datamap, sources, KARI).keys == {"people": (1, 2), "notes": (10, 20)}


def test_a_map_linking_across_databases_is_left_to_the_walk(
    padded: Engine, db_kind: str, tmp_path: Path
) -> None:
    datamap = _map("b")
    (tmp_path / "other").mkdir()
    with company(db_kind, tmp_path / "other", _fill) as other:
        sources = {"a": padded, "b": other}
        assert not supported(datamap, sources)
        assert overview(datamap, sources, KARI) is None
    # One database for both sources: the statement can say.
    assert supported(datamap, dict.fromkeys(datamap.sources, padded))
