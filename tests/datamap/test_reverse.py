"""From an identifier back to people, and protected identities, against the demo company (on
the database kind under test), and the map's check of a ``protected`` column."""

from __future__ import annotations

import pytest
from sqlalchemy import event
from sqlalchemy.engine import Engine

from portal.datamap import DataMap, DataMapError, load_datamap, parse_datamap
from portal.datamap.reverse import national_ids_with, protected_national_ids
from portal.demo import DATAMAP_PATH, EDGE_CASES_BY_KEY
from tests.datamap.test_datamap_loader import MAPS

KARI = EDGE_CASES_BY_KEY["ordinary"].national_id
KNUT = EDGE_CASES_BY_KEY["protected_address"].national_id


@pytest.fixture(scope="module")
def datamap() -> DataMap:
    return load_datamap(DATAMAP_PATH)


@pytest.mark.parametrize(
    ("kind", "typed"),
    [
        ("customer_number", " 900001 "),
        ("email", "Kari.Nordmann@Example.com "),
        ("phone", "+47 910 00 001"),
        ("phone", "91000001"),
    ],
)
def test_an_identifier_finds_the_national_id_on_the_same_row(
    datamap: DataMap, demo_sources: dict[str, Engine], kind: str, typed: str
) -> None:
    assert national_ids_with(datamap, demo_sources, kind, typed) == {KARI}


def test_an_identifier_nobody_has_finds_nobody(
    datamap: DataMap, demo_sources: dict[str, Engine]
) -> None:
    assert national_ids_with(datamap, demo_sources, "customer_number", "123456789") == set()
    assert national_ids_with(datamap, demo_sources, "email", "nobody@example.org") == set()


def test_one_statement_per_table_carrying_both(
    datamap: DataMap, demo_sources: dict[str, Engine]
) -> None:
    """Only the customer register carries a customer number beside a national ID: the other
    tables with customer numbers are not read at all."""
    engine = next(iter(demo_sources.values()))
    statements: list[str] = []

    def seen(conn, cursor, statement, parameters, context, executemany) -> None:
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", seen)
    try:
        national_ids_with(datamap, demo_sources, "customer_number", "900001")
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert len(statements) == 1 and "crm_customers" in statements[0]


@pytest.mark.parametrize("chunk_size", [1, 1000])
def test_protected_identities_are_found_in_chunks(
    datamap: DataMap, demo_sources: dict[str, Engine], chunk_size: int
) -> None:
    wanted = [KARI, KNUT, "01010112345", " "]
    found = protected_national_ids(datamap, demo_sources, wanted, chunk_size=chunk_size)
    assert found == {KNUT}
    assert protected_national_ids(datamap, demo_sources, []) == set()


def test_a_protected_column_is_checked() -> None:
    text = (MAPS / "minimal.toml").read_text()
    good = text.replace(
        'links = [{ column = "national_id", identifier = "national_id" }]',
        'protected = "email"\nlinks = [{ column = "national_id", identifier = "national_id" }]',
    )
    assert parse_datamap(good.encode(), "m.toml").tables["customers"].protected == "email"
    bad = good.replace('protected = "email"', 'protected = "secret"').replace(
        'links = [{ column = "customer_id", table = "customers" }]',
        'protected = "text"\nlinks = [{ column = "customer_id", table = "customers" }]',
    )
    with pytest.raises(DataMapError) as caught:
        parse_datamap(bad.encode(), "m.toml")
    assert caught.value.problems == [
        "m.toml: table 'customers', field 'secret': the protected column is not among the fields",
        "m.toml: table 'notes', field 'text': a protected column needs a table that links by "
        "national_id",
    ]
