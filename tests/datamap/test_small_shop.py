"""A company without national IDs (issue #18): docs/datamap.md's web shop checks clean, and
people are found by the identifiers they prove, whatever form the shop stored them in. On the
--db kind, so SQLite and PostgreSQL both run it."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from portal.datamap import check_against_sources, collect, load_datamap
from portal.datamap.check_file import check_file
from portal.datamap.cli import register
from tests.small_company import company
from tests.small_shop import KARI_EMAIL, OLA_PHONE, UNSAFE, create, write_map

SOMEONE = "12038410081"  # the national ID she signed in with: the shop holds none


@pytest.fixture
def shop(db_kind: str, tmp_path: Path) -> Iterator[Engine]:
    with company(db_kind, tmp_path, create) as engine:
        yield engine


def keys(engine: Engine, tmp_path: Path, **proven: list[str]) -> dict[str, tuple]:
    datamap = load_datamap(write_map(tmp_path))
    found = collect(datamap, {"shop": engine}, SOMEONE, proven=proven)
    return {name: tuple(sorted(r.key for r in rows)) for name, rows in found.tables.items() if rows}


def test_the_map_checks_clean_and_says_how_people_are_found(
    shop: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    path = write_map(tmp_path)
    assert check_against_sources(load_datamap(path), {"shop": shop}) == []
    monkeypatch.setenv("SHOP_DATABASE_URL", shop.url.render_as_string(hide_password=False))
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    args = parser.parse_args(["datamap", "check", str(path)])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert "No table holds national IDs" in out
    assert "email (Customer): read from the person's anchored rows, proven by the person" in out
    assert "phone (Customer)" in out and "national_id" not in out


def test_a_proven_address_finds_exactly_her_rows_whatever_its_case_and_spaces(
    shop: Engine, tmp_path: Path
) -> None:
    assert keys(shop, tmp_path, email=[KARI_EMAIL]) == {
        "Customer": (1,),
        "Invoice": (10, 11),
        "InvoiceLine": (100, 101, 110),
    }


def test_a_phone_number_staff_linked_finds_a_number_stored_with_spaces(
    shop: Engine, tmp_path: Path
) -> None:
    # Stored as "912 34 567" (national, spaced) and "+47 22 44 22 22" (international, spaced).
    assert keys(shop, tmp_path, phone=[OLA_PHONE]) == {
        "Customer": (2,),
        "Invoice": (20,),
        "InvoiceLine": (200,),
    }
    assert keys(shop, tmp_path, phone=["+4722442222"])["Customer"] == (1,)
    # Stored as "0047 41 00 00 00".
    assert keys(shop, tmp_path, phone=["+4741000000"])["Customer"] == (3,)


def test_the_same_digits_of_another_country_find_nothing(shop: Engine, tmp_path: Path) -> None:
    # "912 34 567" is a Norwegian number (the map's phone_region); +45 91234567 is Danish.
    assert keys(shop, tmp_path, phone=["+4591234567"]) == {}
    assert keys(shop, tmp_path, email=["kari@example.no"]) == {}
    assert keys(shop, tmp_path) == {}  # her national ID alone finds nothing here


# Each unsafe change to the shop's map, refused by the check naming the table and the field
# (the key mapped as a customer number is refused by the file alone here: an anonymised table
# must erase its link columns).
UNSAFE_PLACES = {
    "kept_child": "table 'Invoice', field 'CustomerId': points at rows of 'Customer'",
    "integer_pseudonym": "table 'Invoice', field 'Total': erasure 'pseudonymise' writes",
    "short_pseudonym": "table 'Invoice', field 'Currency': erasure 'pseudonymise' writes",
    "key_as_customer_number": "table 'Customer', field 'Id': ",
}


@pytest.mark.parametrize("unsafe", sorted(UNSAFE))
def test_each_unsafe_map_is_refused_naming_table_and_field(
    shop: Engine, tmp_path: Path, unsafe: str
) -> None:
    path = write_map(tmp_path, unsafe)
    url = shop.url.render_as_string(hide_password=False)
    checked = check_file(path, environ={"SHOP_DATABASE_URL": url})
    assert checked.datamap is None or len(checked.problems) == 1, checked.problems
    assert checked.problems[0].startswith(f"{path}: {UNSAFE_PLACES[unsafe]}"), checked.problems
