"""`portal datamap init URL`: a starting map from a database (issue #18). On the --db kind, so
SQLite and PostgreSQL both run it: the map of the demo company's database, and of the small
CamelCase company, checks clean once what it leaves to decide is filled in; what it leaves is
named by `portal datamap check`, file, table and field; its TOML survives any name."""

from __future__ import annotations

import argparse
import tomllib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError

from portal.datamap.cli import register
from portal.datamap.loader import read_content
from portal.datamap.sources import absolute, read_only_engine
from portal.datamap.starting_map import (
    ColumnInfo,
    ColumnKind,
    DatabaseInfo,
    ForeignKeyInfo,
    TableInfo,
    guess_identifier,
    starting_map,
    toml_key,
    toml_value,
)
from portal.demo import DATAMAP_PATH
from tests.small_company import company, map_text

INVOICE_COLUMNS = "Id CustomerId InvoiceNumber IssuedOn BillingName Reference Code"
EVERY_FIELD_KEY = "left to decide: category, purposes, legal_basis, origin, erasure"


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser(prog="portal")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    code = args.func(args)
    out, err = capsys.readouterr()
    return code, out, err


def url_of(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=False)


def classified(generated: str, company_map: Mapping[str, Any]) -> str:
    """The starting map with what it left to decide taken from the company's own map: the
    sections the generator leaves empty, each source's and table's name, the links of a table
    it found none for, each column's classification. What it did decide stays as it is."""
    document = tomllib.loads(generated)
    for section in ("settings", "controller", "categories", "purposes", "legal_bases"):
        document[section] = company_map[section]
    for section in ("processors", "origins", "data_subjects"):
        document[section] = company_map.get(section, {})
    for source in document["sources"].values():
        source["name"] = {"nb": "Databasen", "sv": "Databasen", "en": "The database"}
    for name, table in document["tables"].items():
        theirs = company_map["tables"][name]
        table["name"] = theirs["name"]
        table.setdefault("links", theirs["links"])
        defaults = theirs.get("defaults", {})
        for column, spec in table["fields"].items():
            table["fields"][column] = {**defaults, **theirs["fields"][column], **spec}
    return dump(document)


def dump(document: Mapping[str, Any]) -> str:
    lines = []
    for section, content in document.items():
        named = section not in ("settings", "controller")
        for name, item in content.items() if named else [(None, content)]:
            lines.append(f"[{section}.{toml_key(name)}]" if named else f"[{section}]")
            lines += [f"{toml_key(key)} = {toml_value(value)}" for key, value in item.items()]
    return "\n".join(lines) + "\n"


# --- the demo company ---------------------------------------------------------------------------


def test_the_demo_companys_starting_map_checks_clean_once_classified(
    demo_engine: Engine, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, generated, _ = run(["datamap", "init", url_of(demo_engine), "--source", "demo"], capsys)
    assert code == 0
    assert generated.startswith("# A starting data map of ")
    header = generated[: generated.index("[settings]")]
    assert "What to do next" in header and "portal datamap check FILE" in header
    assert all(line.startswith("#") or not line for line in header.splitlines())

    document = tomllib.loads(generated)
    demo = tomllib.loads(DATAMAP_PATH.read_text(encoding="utf-8"))
    assert set(document["tables"]) == set(demo["tables"])
    for name, table in document["tables"].items():
        assert list(table["fields"]) == list(demo["tables"][name]["fields"]), name
        assert table["key"] == "id"
        assert all(spec == {} for spec in table["fields"].values())  # nothing classified
    links = {name: table.get("links") for name, table in document["tables"].items()}
    assert links["crm_customers"] == [
        {"column": "national_id", "identifier": "national_id"},
        {"column": "email", "identifier": "email"},
        {"column": "phone", "identifier": "phone"},
    ]
    assert links["shop_orders"] == [
        {"column": "account_id", "table": "shop_accounts"},
        {"column": "email", "identifier": "email"},
    ]
    assert links["collection_cases"] == [
        {"column": "debtor_national_id", "identifier": "national_id"}
    ]
    assert links["billing_invoices"] is None and links["contact_emails"] is None

    path = tmp_path / "map.toml"
    path.write_text(generated, encoding="utf-8")
    code, out, _ = run(["datamap", "check", str(path)], capsys)
    assert code == 1
    lines = out.splitlines()
    assert all(": left to decide: " in line for line in lines), lines
    assert f"{path}: table 'crm_customers', field 'given_name': {EVERY_FIELD_KEY}" in lines
    assert f"{path}: table 'billing_invoices': left to decide: name, links" in lines
    assert f"{path}: table 'crm_customers': left to decide: name" in lines
    assert f"{path}: settings: left to decide: jurisdiction" in lines
    assert f"{path}: source 'demo': left to decide: name" in lines
    fields = sum(len(table["fields"]) for table in document["tables"].values())
    assert sum(EVERY_FIELD_KEY in line for line in lines) == fields

    path.write_text(classified(generated, demo), encoding="utf-8")
    code, out, _ = run(["datamap", "check", str(path)], capsys)
    assert code == 0
    assert out.startswith(f"{path}: OK: 1 sources, 16 tables, {fields} fields")
    assert out.splitlines()[1] == "People are found by:"  # and nothing else but how


def test_a_password_in_the_url_never_reaches_the_map(
    db_kind: str, demo_engine: Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    if db_kind != "postgres":
        pytest.skip("a SQLite URL has no password")
    url = demo_engine.url.set(password="s3cret-word")  # trust authentication ignores it
    code, generated, _ = run(["datamap", "init", url.render_as_string(hide_password=False)], capsys)
    assert code == 0
    assert "s3cret-word" not in generated
    assert "url_default" not in tomllib.loads(generated)["sources"][url.database]
    assert "url_default left out: the URL has a password" in generated


def test_the_databases_are_opened_read_only(demo_engine: Engine) -> None:
    engine = read_only_engine(absolute(demo_engine.url))
    try:
        with engine.connect() as connection:
            assert connection.execute(text("SELECT count(*) FROM crm_customers")).scalar()
            with pytest.raises(DBAPIError):
                connection.execute(text("CREATE TABLE innsyn_probe (x INTEGER)"))
    finally:
        engine.dispose()


def test_init_never_creates_a_missing_sqlite_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "no" / "such.db"
    code, out, err = run(["datamap", "init", f"sqlite:///{missing}"], capsys)
    assert (code, out) == (1, "")
    assert err == f"portal datamap init: no such database file: {missing}\n"
    assert list(tmp_path.iterdir()) == []


# --- the small company: CamelCase names ---------------------------------------------------------


@pytest.fixture
def small(db_kind: str, tmp_path: Path) -> Iterator[Engine]:
    with company(db_kind, tmp_path) as engine:
        yield engine


def test_the_small_companys_camel_case_schema(
    small: Engine, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, generated, _ = run(["datamap", "init", url_of(small), "--source", "billing"], capsys)
    assert code == 0
    tables = tomllib.loads(generated)["tables"]
    assert tables == {
        "Customers": {
            "source": "billing",
            "key": "Id",
            "links": [
                {"column": "NationalId", "identifier": "national_id"},
                {"column": "Email", "identifier": "email"},
            ],
            "fields": {"Id": {}, "NationalId": {}, "Email": {}, "Name": {}},
        },
        "Invoices": {
            "source": "billing",
            "key": "Id",
            "links": [{"column": "CustomerId", "table": "Customers"}],
            "fields": {column: {} for column in INVOICE_COLUMNS.split()},
        },
    }
    assert '# dates: "IssuedOn" (for timeline' in generated
    assert "CustomerId = {}  # INTEGER, NOT NULL, links to Customers" in generated
    path = tmp_path / "small.toml"
    path.write_text(generated, encoding="utf-8")
    code, out, _ = run(["datamap", "check", str(path)], capsys)
    assert code == 1
    assert f"{path}: table 'Invoices', field 'IssuedOn': {EVERY_FIELD_KEY}" in out.splitlines()
    path.write_text(classified(generated, tomllib.loads(map_text())), encoding="utf-8")
    code, out, _ = run(["datamap", "check", str(path)], capsys)
    assert code == 0, out
    assert out.startswith(f"{path}: OK: 1 sources, 2 tables, 11 fields")


# --- the generator alone: names, links it cannot make, guesses --------------------------------


def _column(name: str, kind: ColumnKind = "text", nullable: bool = True) -> ColumnInfo:
    return ColumnInfo(name, "VARCHAR(100)" if kind == "text" else "INTEGER", kind, nullable)


def test_any_name_is_written_as_toml_the_loader_reads() -> None:
    odd = 'Unit "Price" \\ ½\nnew line\ttab'
    database = DatabaseInfo(
        source="Kunde-register 1",
        url_env="KUNDE_REGISTER_1_DATABASE_URL",
        url_default='sqlite:///var/"quoted" dir/k.db',
        shown_url="sqlite:///var/k.db\n[tables.injected]",
        schema=None,
        tables=(
            TableInfo(
                "Order Lines.2024",
                (_column("Id", "other", False), _column(odd), _column("Kunde-Epost")),
                ("Id",),
                (ForeignKeyInfo(("ParentId",), "Order Lines.2024", ("Id",)),),
            ),
            TableInfo("Æøå", (_column("a", "other"), _column("b", "other")), ("a", "b")),
        ),
    )
    generated = starting_map(database)
    document = tomllib.loads(generated)
    assert set(document["tables"]) == {"Order Lines.2024", "Æøå"}
    lines = document["tables"]["Order Lines.2024"]
    assert list(lines["fields"]) == ["Id", odd, "Kunde-Epost"]
    assert lines["links"] == [{"column": "Kunde-Epost", "identifier": "email"}]
    assert document["sources"]["Kunde-register 1"]["url_default"] == database.url_default
    assert "injected" not in document["tables"]
    assert "key" not in document["tables"]["Æøå"]
    assert (
        '# not a link: "ParentId" points at "Order Lines.2024", which would make the links'
        in generated
    )
    reading = read_content(generated.encode(), "odd.toml")
    assert reading.datamap is None
    assert (
        "odd.toml: table 'Æøå': left to decide: key (the column that identifies a row; there "
        "is no column 'id', the default)"
    ) in reading.problems
    assert (
        "odd.toml: table 'Order Lines.2024', field 'Unit \"Price\" \\ ½\\nnew line\\ttab': a "
        "column name is letters, digits and _ (not starting with a digit)"
    ) in reading.problems
    assert all("\n" not in problem for problem in reading.problems)


def test_foreign_keys_that_would_form_a_cycle_are_left_out() -> None:
    def table(name: str, columns: str, *keys: ForeignKeyInfo) -> TableInfo:
        kinds = [_column(c, "text" if c == "code" else "other") for c in columns.split()]
        return TableInfo(name, tuple(kinds), ("id",), keys)

    tables = (
        table("a", "id b_id", ForeignKeyInfo(("b_id",), "b", ("id",))),
        table("b", "id a_id code", ForeignKeyInfo(("a_id",), "a", ("id",))),
        table(
            "c",
            "id x y code",
            ForeignKeyInfo(("x", "y"), "b", ("id", "a_id")),
            ForeignKeyInfo(("code",), "b", ("code",)),
        ),
    )
    database = DatabaseInfo("db", "DB_DATABASE_URL", "sqlite:///db", "sqlite:///db", None, tables)
    document = tomllib.loads(starting_map(database))["tables"]
    assert document["a"]["links"] == [{"column": "b_id", "table": "b"}]
    assert "links" not in document["b"]
    assert document["c"]["links"] == [{"column": "code", "table": "b", "references": "code"}]


@pytest.mark.parametrize(
    ("name", "kind", "guess"),
    [
        ("email", "text", "email"),
        ("EmailAddress", "text", "email"),
        ("e_mail", "text", "email"),
        ("customer_email", "text", "email"),
        ("epost", "text", "email"),
        ("email_verified", "text", None),
        ("email", "date", None),
        ("PhoneNumber", "text", "phone"),
        ("caller_phone", "text", "phone"),
        ("mobil_nr", "text", "phone"),
        ("phone2", "text", "phone"),
        ("phone_country_code", "text", None),
        ("fnr", "text", "national_id"),
        ("Fødselsnummer", "text", "national_id"),
        ("personnummer", "text", "national_id"),
        ("SSN", "text", "national_id"),
        ("debtor_national_id", "text", "national_id"),
        ("DebtorNationalID", "text", "national_id"),
        ("business_name", "text", None),
        ("classname", "text", None),
        ("national_id", "other", None),
    ],
)
def test_identifiers_are_guessed_from_names(name: str, kind: ColumnKind, guess: str | None) -> None:
    assert guess_identifier(_column(name, kind)) == guess
