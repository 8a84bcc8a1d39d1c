"""`portal datamap check` against live databases refuses maps an erasure could not carry out
(issue #18): each unsafe map of the small company (tests/small_company.py) is refused with a
message naming the file, the table, the field, the reason and the fix; the safe map and the demo
company's map pass. On the --db kind, so SQLite and PostgreSQL both run it."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Column, ForeignKey, Integer, MetaData, String, Table, text
from sqlalchemy.engine import Engine

from portal.datamap import check_against_sources, load_datamap
from portal.datamap.cli import register
from tests.small_company import URL_ENV, company, write_map


@pytest.fixture
def small(db_kind: str, tmp_path: Path) -> Iterator[Engine]:
    with company(db_kind, tmp_path) as engine:
        yield engine


def problems(directory: Path, engine: Engine, unsafe: str | None = None) -> list[str]:
    datamap = load_datamap(write_map(directory, unsafe))
    return check_against_sources(datamap, {"billing": engine})


def test_the_safe_map_passes(tmp_path: Path, small: Engine) -> None:
    assert problems(tmp_path, small) == []


def test_a_deleted_parent_whose_children_are_kept_is_refused(tmp_path: Path, small: Engine) -> None:
    path = tmp_path / "kept_child.toml"
    assert problems(tmp_path, small, "kept_child") == [
        f"{path}: table 'Invoices', field 'CustomerId': points at rows of 'Customers', and an "
        "erasure deletes rows of 'Customers', but its rows may be kept under hold "
        "'bookkeeping', which does not cover 'Customers': deleting such a row fails "
        "(PostgreSQL) or leaves rows of this table pointing at nothing (SQLite); add covers = "
        "[\"Customers\"] to hold 'bookkeeping' of this table (the hold then keeps the row of "
        "'Customers' too), or make 'CustomerId' nullable so that the portal cuts the link first"
    ]


def test_pseudonymise_on_an_integer_column_is_refused(tmp_path: Path, small: Engine) -> None:
    path = tmp_path / "integer_pseudonym.toml"
    assert problems(tmp_path, small, "integer_pseudonym") == [
        f"{path}: table 'Invoices', field 'Reference': erasure 'pseudonymise' writes a "
        "pseudonym, but the column is INTEGER, not text; use null, delete_row or keep, or make "
        "it a text column of at least 11 characters"
    ]


def test_pseudonymise_on_a_short_text_column_is_refused(tmp_path: Path, small: Engine) -> None:
    path = tmp_path / "short_pseudonym.toml"
    assert problems(tmp_path, small, "short_pseudonym") == [
        f"{path}: table 'Invoices', field 'Code': erasure 'pseudonymise' writes a pseudonym, "
        "but the column holds at most 8 characters and a pseudonym needs 11 ('ps:' and at "
        "least 8 digits of its keyed hash); use null, delete_row or keep, or make it a text "
        "column of at least 11 characters"
    ]


def test_a_customer_number_on_the_tables_own_key_is_refused(tmp_path: Path, small: Engine) -> None:
    [problem] = problems(tmp_path, small, "key_as_customer_number")
    assert problem.startswith(
        f"{tmp_path / 'key_as_customer_number.toml'}: table 'Customers', field 'Id': every row "
        "carries a customer number here (it is the table's key) and no other table links by "
        "customer_number, so the e-mail and phone links of this table can never find a row"
    )
    assert "remove this link" in problem


def test_identifiers_of_rows_kept_to_a_date_must_hold_a_pseudonym(
    tmp_path: Path, small: Engine
) -> None:
    # Invoices kept under the bookkeeping hold have their identifiers pseudonymised, whatever
    # their own erasure says: an INTEGER customer number there cannot take one.
    text_map = write_map(tmp_path).read_text()
    text_map = text_map.replace(
        'links = [{ column = "CustomerId", table = "Customers" }]',
        'links = [\n  { column = "CustomerId", table = "Customers" },\n'
        '  { column = "Reference", identifier = "customer_number" },\n]',
    )
    path = tmp_path / "held_identifier.toml"
    path.write_text(text_map)
    found = check_against_sources(load_datamap(path), {"billing": small})
    assert found == [
        f"{path}: table 'Invoices', field 'Reference': rows kept under hold 'bookkeeping' have "
        "their identifiers pseudonymised, but the column is INTEGER, not text; make it a text "
        "column of at least 11 characters, or link the table to the person through another "
        "table instead"
    ]


def test_a_foreign_key_from_a_table_the_map_does_not_describe(
    tmp_path: Path, small: Engine
) -> None:
    """The database's foreign keys count, found by inspection: rows of an unmapped table are
    never erased, so a customer's row they point at cannot be deleted."""
    extra = MetaData()
    Table("Customers", extra, Column("Id", Integer, primary_key=True))
    Table(
        "LoyaltyCards",
        extra,
        Column("Id", Integer, primary_key=True),
        Column("CustomerId", Integer, ForeignKey("Customers.Id"), nullable=False),
    )
    extra.tables["LoyaltyCards"].create(small)
    path = tmp_path / "safe.toml"
    assert problems(tmp_path, small) == [
        f"{path}: table 'Customers', field 'Id': rows of table 'LoyaltyCards', which the data "
        "map does not describe, point at it by a foreign key ('LoyaltyCards.CustomerId'), and "
        "an erasure deletes rows of 'Customers': the portal never changes rows of "
        "'LoyaltyCards', so deleting such a row fails (PostgreSQL) or leaves them pointing at "
        "nothing (SQLite); map table 'LoyaltyCards', or give its foreign key ON DELETE SET NULL "
        "or CASCADE, or do not delete rows of 'Customers'"
    ]
    # The database's own rule for them is enough.
    with small.begin() as connection:
        connection.execute(text('DROP TABLE "LoyaltyCards"'))
    cascading = MetaData()
    Table("Customers", cascading, Column("Id", Integer, primary_key=True))
    Table(
        "LoyaltyCards",
        cascading,
        Column("Id", Integer, primary_key=True),
        Column("CustomerId", Integer, ForeignKey("Customers.Id", ondelete="CASCADE")),
        Column("Tier", String(10)),
    )
    cascading.tables["LoyaltyCards"].create(small)
    assert problems(tmp_path, small) == []


def test_a_nullable_link_is_cut_so_the_parent_may_go(tmp_path: Path, small: Engine) -> None:
    """A kept child whose link may be NULL is no problem: the executor cuts the link first."""
    text_map = write_map(tmp_path, "kept_child").read_text()
    path = tmp_path / "nullable.toml"
    path.write_text(text_map)
    with small.begin() as connection:
        if small.dialect.name == "postgresql":
            connection.execute(
                text('ALTER TABLE "Invoices" ALTER COLUMN "CustomerId" DROP NOT NULL')
            )
        else:
            _sqlite_nullable_customer_id(connection)
    assert check_against_sources(load_datamap(path), {"billing": small}) == []


def _sqlite_nullable_customer_id(connection) -> None:
    connection.execute(text('ALTER TABLE "Invoices" RENAME TO "InvoicesOld"'))
    connection.execute(
        text(
            'CREATE TABLE "Invoices" ("Id" INTEGER PRIMARY KEY, "CustomerId" INTEGER '
            'REFERENCES "Customers" ("Id"), "InvoiceNumber" VARCHAR(20) NOT NULL, '
            '"IssuedOn" DATE NOT NULL, "BillingName" VARCHAR(100) NOT NULL, '
            '"Reference" INTEGER, "Code" VARCHAR(8))'
        )
    )
    connection.execute(text('INSERT INTO "Invoices" SELECT * FROM "InvoicesOld"'))
    connection.execute(text('DROP TABLE "InvoicesOld"'))


def test_the_cli_refuses_an_unsafe_map(
    tmp_path: Path,
    small: Engine,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv(URL_ENV, small.url.render_as_string(hide_password=False))
    parser = argparse.ArgumentParser(prog="portal")
    register(parser.add_subparsers(dest="command", required=True))
    path = write_map(tmp_path, "short_pseudonym")
    args = parser.parse_args(["datamap", "check", str(path)])
    assert args.func(args) == 1
    assert capsys.readouterr().out.startswith(f"{path}: table 'Invoices', field 'Code': ")
    args = parser.parse_args(["datamap", "check", str(write_map(tmp_path))])
    assert args.func(args) == 0
    assert "OK: 1 sources, 2 tables" in capsys.readouterr().out
