"""Identifiers compared as the company typed them (issue #18): the forms a phone number may be
stored in, the column expressions and their indexes, and maps without national IDs."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Column, MetaData, String, Table
from sqlalchemy.dialects import postgresql, sqlite

from portal.datamap import DataMapError, load_datamap
from portal.datamap.identity import finding_summary
from portal.datamap.loader import parse_datamap
from portal.datamap.matching import column_expression, index_statements, normalise
from portal.demo import schema as demo
from portal.phone_numbers import stored_forms
from tests.small_shop import write_map

MAPS = Path(__file__).parent / "datamaps"


def test_a_number_of_the_region_may_be_stored_nationally_a_foreign_one_only_with_its_code() -> None:
    assert stored_forms("+4722442222", "NO") == ("+4722442222", "004722442222", "22442222")
    assert stored_forms("+46701234567", "SE") == (
        "+46701234567",
        "0046701234567",
        "0701234567",
        "+460701234567",
    )
    assert stored_forms("+4522442222", "NO") == ("+4522442222", "004522442222")
    assert stored_forms("not a number", "NO") == ("not a number",)


@pytest.mark.parametrize(
    ("kind", "stored", "region", "normal"),
    [
        ("email", " Kari.Nordmann@Example.NO ", "NO", "kari.nordmann@example.no"),
        ("phone", "+47 22 44 22 22", "NO", "+4722442222"),
        ("phone", "22-44-22-22", "NO", "+4722442222"),
        ("phone", "(0)70-123 45 67", "SE", "+46701234567"),
        ("phone", "ext. 12", "NO", "ext12"),  # not a phone number: kept, without separators
        ("customer_number", " K-1001 ", "NO", "K-1001"),
    ],
)
def test_values_read_from_a_row_are_normalised(
    kind: str, stored: str, region: str, normal: str
) -> None:
    assert normalise(kind, stored, region) == normal


@pytest.mark.parametrize("dialect", [sqlite.dialect(), postgresql.dialect()])
def test_the_demo_indexes_are_on_the_expressions_the_look_ups_compare(dialect) -> None:
    # The demo imports nothing of the portal, so it writes the expressions again.
    column = Table("t", MetaData(), Column("c", String)).c.c
    for kind, demo_expression in (("email", demo.email_match), ("phone", demo.phone_match)):
        expected = column_expression(kind, column).compile(dialect=dialect)
        assert str(demo_expression(column).compile(dialect=dialect)) == str(expected)
    assert demo.PHONE_SEPARATORS == " -.()/"


def test_the_check_writes_an_index_per_email_and_phone_link(tmp_path: Path) -> None:
    datamap = load_datamap(write_map(tmp_path))
    assert index_statements(datamap, {"shop": postgresql.dialect()}) == [
        'CREATE INDEX ix_customer_email_match ON "Customer" (lower(trim("Email")));',
        'CREATE INDEX ix_customer_phone_match ON "Customer" (replace(replace(replace(replace('
        "replace(replace(\"Phone\", ' ', ''), '-', ''), '.', ''), '(', ''), ')', ''), '/', ''));",
    ]


def test_a_map_without_national_ids_loads_and_says_how_people_are_found() -> None:
    text = (MAPS / "minimal.toml").read_text()
    by_email = text.replace(
        '[{ column = "national_id", identifier = "national_id" }]',
        '[{ column = "email", identifier = "email" }]',
    )
    assert by_email != text
    assert finding_summary(load_map(by_email)) == [
        "No table holds national IDs: a person's rows are found only through e-mail addresses "
        "they prove by a link, and identifiers staff link to them.",
        "  email (customers): read from the person's anchored rows, proven by the person "
        "through a link, or linked by staff",
    ]
    assert finding_summary(load_map(text)) == [
        "  national_id (customers): the national ID proven at sign-in"
    ]


def test_an_unknown_phone_region_is_refused() -> None:
    text = (
        (MAPS / "minimal.toml")
        .read_text()
        .replace('jurisdiction = "NO"', 'jurisdiction = "NO"\nphone_region = "XX"', 1)
    )
    with pytest.raises(DataMapError) as caught:
        load_map(text)
    assert any(
        "phone_region" in p and "unknown phone region 'XX'" in p for p in caught.value.problems
    )


def load_map(text: str):
    return parse_datamap(text.encode(), "m.toml")
