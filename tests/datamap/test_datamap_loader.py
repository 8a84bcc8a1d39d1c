"""The data map loader: a good map loads; each kind of broken map gives exact messages."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, create_engine

from portal.datamap import (
    DataMapError,
    Period,
    check_against_sources,
    load_datamap,
    parse_datamap,
    resolve_url,
)
from portal.datamap.cli import register
from portal.datamap.wording import record_label
from portal.demo import DATAMAP_PATH

MAPS = Path(__file__).parent / "datamaps"


def problems_of(name: str) -> list[str]:
    with pytest.raises(DataMapError) as caught:
        load_datamap(MAPS / name)
    return caught.value.problems


def test_minimal_map_loads_with_defaults_applied() -> None:
    datamap = load_datamap(MAPS / "minimal.toml")
    notes = datamap.tables["notes"]
    assert notes.fields["text"].category == "contact"  # from the table's defaults
    assert notes.fields["text"].purposes == ["service"]
    assert datamap.tables["customers"].fields["email"].erasure == "null"  # the field's own
    assert datamap.parent_key(notes.links[0]) == "id"
    assert datamap.table_order() == ["customers", "notes"]


def test_version_is_a_hash_of_the_content() -> None:
    content = (MAPS / "minimal.toml").read_bytes()
    first = parse_datamap(content, "a.toml")
    assert first.version == parse_datamap(content, "b.toml").version
    assert first.version.startswith("sha256:") and len(first.version) == 71
    assert parse_datamap(content + b"\n# changed\n", "a.toml").version != first.version


def test_demo_map_loads_and_classifies_every_table() -> None:
    datamap = load_datamap(DATAMAP_PATH)
    assert set(datamap.sources) == {
        "crm",
        "shop",
        "billing",
        "collection",
        "contact_log",
        "marketing",
    }
    assert len(datamap.tables) == 16
    assert datamap.settings.jurisdiction == "NO"
    assert datamap.purposes["phone_marketing"].consent.lifetime == "P3M"
    assert Period.parse(datamap.retention_rules["bookkeeping_no"].period) == Period(5, 0, 0)
    assert datamap.retention_rules["bookkeeping_se"].counts_from == (
        "end_of_calendar_year_of_fiscal_year_end"
    )
    assert datamap.tables["collection_cases"].erasure == "anonymise"
    assert datamap.origins["subject"].provided_by_subject


def test_show_and_order_by_name_columns_of_the_table() -> None:
    content = (MAPS / "minimal.toml").read_text(encoding="utf-8")
    datamap = load_datamap(MAPS / "minimal.toml")
    # Without show: every field but the key and the links to other tables.
    assert datamap.tables["notes"].shown == ["text"]
    assert datamap.tables["customers"].shown == ["national_id", "email"]
    good = content.replace(
        "[tables.notes.fields]", 'show = ["text", "id"]\norder_by = "text"\n[tables.notes.fields]'
    )
    notes = parse_datamap(good.encode(), "good.toml").tables["notes"]
    assert (notes.shown, notes.order_by) == (["text", "id"], "text")
    bad = content.replace(
        "[tables.notes.fields]",
        'show = ["text", "tekst", "text"]\norder_by = "when"\n[tables.notes.fields]',
    )
    with pytest.raises(DataMapError) as caught:
        parse_datamap(bad.encode(), "bad.toml")
    assert caught.value.problems == [
        "bad.toml: table 'notes', field 'when': a show or order_by column is not among the fields",
        "bad.toml: table 'notes', field 'tekst': a show or order_by column is not among the fields",
        "bad.toml: table 'notes': a column is named twice in show",
    ]


def test_a_label_names_fields_of_the_table_in_braces() -> None:
    content = (MAPS / "minimal.toml").read_text(encoding="utf-8")
    good = content.replace(
        "[tables.notes.fields]",
        'label = { nb = "Notat {id}: {text}", sv = "Anteckning {id}", en = "Note {id}" }\n'
        "[tables.notes.fields]",
    )
    notes = parse_datamap(good.encode(), "good.toml").tables["notes"]
    assert record_label(notes, {"id": 7, "text": None}, "nb", "Europe/Oslo") == "Notat 7: –"
    assert record_label(notes, {"id": 7}, "en", "Europe/Oslo") == "Note 7"
    bad = content.replace(
        "[tables.notes.fields]",
        'label = { nb = "Notat {when}", sv = "Anteckning {id.__class__}", en = "Note {id" }\n'
        "[tables.notes.fields]",
    )
    with pytest.raises(DataMapError) as caught:
        parse_datamap(bad.encode(), "bad.toml")
    assert caught.value.problems == [
        "bad.toml: table 'notes', field 'when': a label's column is not among the fields",
        "bad.toml: table 'notes': the sv label's braces must each hold one field name, as "
        "{order_number}",
        "bad.toml: table 'notes': the en label's braces must each hold one field name, as "
        "{order_number}",
    ]


def test_unknown_category() -> None:
    assert problems_of("unknown_category.toml") == [
        f"{MAPS / 'unknown_category.toml'}: table 'customers', field 'email': "
        "unknown category 'contakt'"
    ]


def test_missing_translation() -> None:
    assert problems_of("missing_text.toml") == [
        f"{MAPS / 'missing_text.toml'}: purpose 'service': missing sv text in name"
    ]


def test_link_to_unknown_table() -> None:
    assert problems_of("bad_link.toml") == [
        f"{MAPS / 'bad_link.toml'}: table 'notes', field 'customer_id': "
        "link to unknown table 'kunder'"
    ]


def test_link_to_unknown_column() -> None:
    assert problems_of("bad_link_column.toml") == [
        f"{MAPS / 'bad_link_column.toml'}: table 'notes', field 'customer_id': "
        "link to unknown column 'nr' of table 'customers'"
    ]


def test_cycle_in_links() -> None:
    assert problems_of("cycle.toml") == [
        f"{MAPS / 'cycle.toml'}: table 'notes', field 'customer_id': "
        "links form a cycle: customers -> notes -> customers"
    ]


def test_every_problem_is_reported_once() -> None:
    path = MAPS / "many_problems.toml"
    assert problems_of("many_problems.toml") == [
        f"{path}: legal basis 'contract': article: an article is one of 6(1)(a)-(f), "
        "9(2)(a)-(j) or 10 (got '6(1)(g)')",
        f"{path}: origin 'subject': missing sv text in name",
        f"{path}: table 'customers', field 'email': erasure: Input should be 'delete_row', "
        "'null', 'pseudonymise' or 'keep' (got 'nul')",
        f"{path}: table 'customers', field 'email': unknown category 'contakt'",
        f"{path}: table 'notes', defaults: unknown purpose 'servise' in purposes",
        f"{path}: table 'notes': unknown source 'warehouse'",
    ]


def test_not_toml() -> None:
    [problem] = problems_of("not_toml.toml")
    assert problem.startswith(f"{MAPS / 'not_toml.toml'}: not a valid TOML file: ")
    assert "line 1" in problem


def test_missing_file() -> None:
    assert problems_of("no_such_file.toml") == [
        f"{MAPS / 'no_such_file.toml'}: cannot read the file (No such file or directory)"
    ]


def _edit(replacements: list[tuple[str, str]]) -> list[str]:
    text = (MAPS / "minimal.toml").read_text()
    for old, new in replacements:
        assert old in text
        text = text.replace(old, new, 1)
    with pytest.raises(DataMapError) as caught:
        parse_datamap(text.encode(), "m.toml")
    return caught.value.problems


def test_retention_and_hold_references() -> None:
    problems = _edit(
        [
            (
                'links = [{ column = "customer_id", table = "customers" }]',
                'links = [{ column = "customer_id", table = "customers" }]\n'
                'retention = [{ rule = "forever", from = "customers.created" }]\n'
                'holds = [{ hold = "lawsuit", when = { status = ["open"] } }]',
            )
        ]
    )
    assert problems == [
        "m.toml: table 'notes': unknown retention rule 'forever'",
        "m.toml: table 'notes', field 'customers.created': retention rule 'forever' counts "
        "from an unknown column",
        "m.toml: table 'notes': unknown hold 'lawsuit'",
        "m.toml: table 'notes', field 'status': hold 'lawsuit': condition on an unknown column",
    ]


def test_unknown_keys_and_missing_sections() -> None:
    problems = _edit(
        [
            ('[settings]\njurisdiction = "NO"', '[settings]\njurisdiction = "DK"\ncolour = "red"'),
            ("[legal_bases.contract]", "[legal_basis.contract]"),
        ]
    )
    assert problems == [
        "m.toml: unknown section 'legal_basis'",
        "m.toml: section 'legal_bases' is missing",
        "m.toml: settings: jurisdiction: Input should be 'NO' or 'SE' (got 'DK')",
        "m.toml: settings: colour: unknown key",
        "m.toml: table 'customers', defaults: unknown legal basis 'contract'",
        "m.toml: table 'notes', defaults: unknown legal basis 'contract'",
    ]


def test_anonymised_table_must_cut_its_links() -> None:
    problems = _edit(
        [
            (
                'source = "crm"\nname = { nb = "Notater"',
                'source = "crm"\nerasure = "anonymise"\nname = { nb = "Notater"',
            )
        ]
    )
    assert problems == [
        "m.toml: table 'notes', field 'id': erasure 'delete_row' in a table whose rows are "
        "anonymised (erasure = 'anonymise')",
        "m.toml: table 'notes', field 'customer_id': erasure 'delete_row' in a table whose rows "
        "are anonymised (erasure = 'anonymise')",
        "m.toml: table 'notes', field 'text': erasure 'delete_row' in a table whose rows are "
        "anonymised (erasure = 'anonymise')",
        "m.toml: table 'notes', field 'customer_id': a link column of an anonymised table must "
        "be erased by null or pseudonymise, not 'delete_row'",
    ]


def test_source_url_from_environment_and_relative_sqlite(tmp_path: Path, monkeypatch) -> None:
    datamap = load_datamap(DATAMAP_PATH)
    monkeypatch.chdir(tmp_path)
    url = resolve_url("crm", datamap.sources["crm"], {})
    assert url.database == str(tmp_path / "var" / "demo_company.db")
    url = resolve_url("crm", datamap.sources["crm"], {"DEMO_DATABASE_URL": "postgresql://h/db"})
    assert url.render_as_string() == "postgresql://h/db"


def _live_schema(path: Path, *, with_email: bool, extra: bool) -> None:
    metadata = MetaData()
    columns = [Column("id", Integer, primary_key=True), Column("national_id", String(12))]
    if with_email:
        columns.append(Column("email", String(100), nullable=False))
    if extra:
        columns.append(Column("shoe_size", Integer))
    Table("customers", metadata, *columns)
    engine = create_engine(f"sqlite:///{path}")
    metadata.create_all(engine)
    engine.dispose()


def test_check_against_sources(tmp_path: Path) -> None:
    _live_schema(tmp_path / "test.db", with_email=True, extra=True)
    datamap = load_datamap(MAPS / "minimal.toml")
    engine = create_engine(f"sqlite:///{tmp_path / 'test.db'}")
    try:
        problems = check_against_sources(datamap, {"crm": engine})
    finally:
        engine.dispose()
    path = MAPS / "minimal.toml"
    assert problems == [
        f"{path}: table 'customers', field 'email': erasure 'null' on a NOT NULL column; "
        "use delete_row, pseudonymise or keep",
        f"{path}: table 'customers', field 'shoe_size': column is not classified in the data map",
        f"{path}: table 'notes': no table 'notes' in source 'crm'",
    ]


def _run_cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="portal")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


def test_cli_check_reports_problems(capsys: pytest.CaptureFixture[str]) -> None:
    path = MAPS / "bad_link.toml"
    assert _run_cli(["datamap", "check", "--offline", str(path)]) == 1
    assert capsys.readouterr().out == (
        f"{path}: table 'notes', field 'customer_id': link to unknown table 'kunder'\n"
    )


def test_cli_check_reports_file_and_database_problems_in_one_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A map with a problem of its own is still compared with its databases, as far as it can
    be: its tables and columns (#18, "Clearer check messages")."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "var").mkdir()
    _live_schema(tmp_path / "var" / "test.db", with_email=True, extra=True)
    path = MAPS / "bad_link.toml"
    assert _run_cli(["datamap", "check", str(path)]) == 1
    assert capsys.readouterr().out.splitlines() == [
        f"{path}: table 'notes', field 'customer_id': link to unknown table 'kunder'",
        f"{path}: table 'customers', field 'email': erasure 'null' on a NOT NULL column; "
        "use delete_row, pseudonymise or keep",
        f"{path}: table 'customers', field 'shoe_size': column is not classified in the data map",
        f"{path}: table 'notes': no table 'notes' in source 'crm'",
    ]


def test_cli_check_never_creates_a_missing_sqlite_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    for name in ("minimal.toml", "bad_link.toml"):  # a valid map, and one with a problem
        path = MAPS / name
        assert _run_cli(["datamap", "check", str(path)]) == 1
        assert capsys.readouterr().out.splitlines()[-1] == (
            f"{path}: source 'crm': no such database file: {tmp_path / 'var' / 'test.db'}"
        )
    assert list(tmp_path.iterdir()) == []


def test_cli_check_against_live_schema(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "var").mkdir()
    _live_schema(tmp_path / "var" / "test.db", with_email=False, extra=False)
    path = MAPS / "minimal.toml"
    assert _run_cli(["datamap", "check", str(path)]) == 1
    assert capsys.readouterr().out.splitlines() == [
        f"{path}: table 'customers', field 'email': no column 'email' in table 'customers'",
        f"{path}: table 'notes': no table 'notes' in source 'crm'",
    ]
    assert _run_cli(["datamap", "check", "--offline", str(path)]) == 0
    assert capsys.readouterr().out.startswith(f"{path}: OK: 1 sources, 2 tables, 6 fields")


# --- value labels (#16 item 4) and law citations (#16 item 7) --------------------------------

_STATUS = (
    "text = {}\n"
    'status = { values = { urgent = { nb = "haster", sv = "brådskande", en = "urgent" } } }'
)


def test_value_labels_load_with_every_language() -> None:
    text = (MAPS / "minimal.toml").read_text().replace("text = {}", _STATUS, 1)
    spec = parse_datamap(text.encode(), "m.toml").tables["notes"].fields["status"]
    assert spec.values["urgent"].get("sv") == "brådskande"
    assert (
        parse_datamap((MAPS / "minimal.toml").read_bytes(), "m.toml")
        .tables["notes"]
        .fields["text"]
        .values
        == {}
    )


def test_a_value_label_missing_a_language_names_the_file_and_the_field() -> None:
    problems = _edit([("text = {}", _STATUS.replace(', sv = "brådskande"', ""))])
    assert problems == ["m.toml: table 'notes', field 'status': missing sv text in values.urgent"]


def test_value_labels_belong_to_a_field_not_to_the_defaults() -> None:
    problems = _edit(
        [('origin = "subject", erasure = "delete_row" }\n[tables.notes.fields]',
          'origin = "subject", erasure = "delete_row", values = {} }\n[tables.notes.fields]')]
    )  # fmt: skip
    assert problems == ["m.toml: table 'notes', defaults: values: unknown key"]


_RULE = """
[retention_rules.aml]
jurisdiction = "NO"
citation = {{ nb = "{nb}", sv = "penningtvättslagen 5 kap. 3 §", en = "AML Act section 30" }}
name = {{ nb = "Kundekontroll", sv = "Kundkännedom", en = "Customer due diligence" }}
period = "P5Y"
{extra}"""


@pytest.mark.parametrize(
    ("citation", "doubt"),
    [
        ("hvitvaskingsloven § 30 (ikke bekreftet)", "ikke bekreftet"),
        ("hvitvaskingsloven § 30 (Unconfirmed)", "Unconfirmed"),
        ("hvitvaskingsloven § 30, not verified", "not verified"),
        ("penningtvättslagen 5 kap. 3 § (ej bekräftad)", "ej bekräftad"),
        ("hvitvaskingsloven § 30?", "?"),
    ],
)
def test_doubt_in_a_citation_is_refused_with_the_way_to_say_it(citation: str, doubt: str) -> None:
    text = (MAPS / "minimal.toml").read_text() + _RULE.format(nb=citation, extra="")
    with pytest.raises(DataMapError) as caught:
        parse_datamap(text.encode(), "m.toml")
    assert caught.value.problems == [
        f"m.toml: retention rule 'aml': citation: the nb text marks a doubt ({doubt!r}): give "
        "the law as it reads and set citation_verified = false instead"
    ]


def test_an_unverified_citation_is_marked_by_citation_verified() -> None:
    text = (MAPS / "minimal.toml").read_text()
    rule = _RULE.format(nb="hvitvaskingsloven § 30", extra="citation_verified = false\n")
    datamap = parse_datamap((text + rule).encode(), "m.toml")
    assert datamap.retention_rules["aml"].citation_verified is False
    assert datamap.retention_rules["aml"].citation_for_person("nb") is None
    verified = parse_datamap((text + _RULE.format(nb="§ 30", extra="")).encode(), "m.toml")
    assert verified.retention_rules["aml"].citation_for_person("nb") == "§ 30"


def test_the_demo_maps_anti_money_laundering_citations_are_confirmed() -> None:
    datamap = load_datamap(DATAMAP_PATH)
    for items in (datamap.retention_rules, datamap.holds):
        assert items["aml_no"].citation.nb == "hvitvaskingsloven § 30"
        assert items["aml_se"].citation.sv == "penningtvättslagen (2017:630) 5 kap. 3 §"
        assert items["aml_no"].citation_verified and items["aml_se"].citation_verified
    text = DATAMAP_PATH.read_text(encoding="utf-8").lower()
    for doubt in ("ikke bekreftet", "ej bekräftad", "ej bekräftat", "unconfirmed", "not confirmed"):
        assert doubt not in text


def test_the_demo_map_labels_the_coded_values_of_its_data() -> None:
    datamap = load_datamap(DATAMAP_PATH)
    status = datamap.tables["shop_orders"].fields["status"].values["delivered"]
    assert (status.nb, status.sv, status.en) == ("levert", "levererad", "delivered")
    labelled = {
        (table, column)
        for table, spec in datamap.tables.items()
        for column, field in spec.fields.items()
        if field.values
    }
    assert {
        ("shop_orders", "status"),
        ("shop_complaints", "status"),
        ("billing_invoices", "status"),
        ("billing_invoices", "kind"),
        ("billing_payments", "method"),
        ("collection_cases", "status"),
        ("collection_events", "kind"),
        ("crm_consents", "channel"),
        ("crm_consents", "purpose"),
        ("marketing_list_members", "channel"),
    } <= labelled


# --- what is left to decide, and the map's names for tables (#18) ----------------------------


def test_required_keys_left_out_are_named_together_as_left_to_decide() -> None:
    problems = _edit(
        [
            ('contact = "privacy@test.example"\n', ""),
            ('organisation_number = "912345678"\n', ""),
            ('name = { nb = "Notater", sv = "Anteckningar", en = "Notes" }\n', ""),
            ('email = { category = "contact", erasure = "null" }', "email = {}"),
        ]
    )
    assert problems == [
        "m.toml: controller: left to decide: organisation_number, contact",
        "m.toml: table 'customers', field 'email': left to decide: category",
        "m.toml: table 'notes': left to decide: name",
    ]


def test_a_key_left_out_where_there_is_no_id_column_is_left_to_decide() -> None:
    problems = _edit([("[tables.notes.fields]\nid = {}", "[tables.notes.fields]\nnote_id = {}")])
    assert problems == [
        "m.toml: table 'notes': left to decide: key (the column that identifies a row; there "
        "is no column 'id', the default)"
    ]
    notes = 'source = "crm"\nname = { nb = "Notater"'
    written = _edit(
        [
            ("[tables.notes.fields]\nid = {}", "[tables.notes.fields]\nnote_id = {}"),
            (notes, notes.replace('"crm"', '"crm"\nkey = "id"')),
        ]
    )
    assert written == ["m.toml: table 'notes', field 'id': the key column is not among the fields"]


def test_the_databases_name_for_a_table_is_answered_with_the_maps_name() -> None:
    rules = (
        '\n[retention_rules.r]\njurisdiction = "EU"\nperiod = "P1Y"\n'
        'citation = { nb = "a", sv = "a", en = "a" }\nname = { nb = "a", sv = "a", en = "a" }\n'
        '[holds.h]\njurisdiction = "EU"\nperiod = "P1Y"\n'
        'citation = { nb = "a", sv = "a", en = "a" }\nname = { nb = "a", sv = "a", en = "a" }\n'
    )
    text = (MAPS / "minimal.toml").read_text()
    customers = '[tables.customers]\nsource = "crm"'
    for old, new in [
        (customers, customers + '\ntable = "Kunder"'),
        ("[tables.notes.fields]\nid = {}", "[tables.notes.fields]\nid = {}\ncreated = {}"),
        (
            'links = [{ column = "customer_id", table = "customers" }]',
            'links = [{ column = "customer_id", table = "Kunder" }]\n'
            'retention = [{ rule = "r", from = "Kunder.created" }]\n'
            'holds = [{ hold = "h", from = "CUSTOMERS.created", covers = ["kunder"] }]',
        ),
    ]:
        text = text.replace(old, new, 1)
    with pytest.raises(DataMapError) as caught:
        parse_datamap((text + rules).encode(), "m.toml")
    assert caught.value.problems == [
        "m.toml: table 'notes', field 'customer_id': link to unknown table 'Kunder': use the "
        "map's name 'customers' for table Kunder",
        "m.toml: table 'notes', field 'Kunder.created': retention rule 'r' counts from table "
        "'Kunder', which is not a name in the map: use the map's name 'customers' for table "
        'Kunder (from = "customers.created")',
        "m.toml: table 'notes', field 'CUSTOMERS.created': hold 'h' counts from table "
        "'CUSTOMERS', which is not a name in the map: use the map's name 'customers' for table "
        'CUSTOMERS (from = "customers.created")',
        "m.toml: table 'notes': hold 'h' covers table 'kunder', which is not linked to this "
        "table: use the map's name 'customers' for table kunder",
    ]


def test_person_name_and_protected_name_columns_of_the_table() -> None:
    content = (MAPS / "minimal.toml").read_text(encoding="utf-8")
    good = content.replace(
        "[tables.customers.fields]",
        'person_name = ["email"]\nprotected = "national_id"\n[tables.customers.fields]',
    ).replace(
        'email = { category = "contact", erasure = "null" }',
        'email = { category = "contact", erasure = "null", address = true }',
    )
    customers = parse_datamap(good.encode(), "good.toml").tables["customers"]
    assert (customers.person_name, customers.protected) == (["email"], "national_id")
    assert customers.fields["email"].address and not customers.fields["id"].address
    bad = content.replace(
        "[tables.customers.fields]",
        'person_name = ["name"]\nprotected = "secret"\n[tables.customers.fields]',
    )
    with pytest.raises(DataMapError) as caught:
        parse_datamap(bad.encode(), "bad.toml")
    assert caught.value.problems == [
        "bad.toml: table 'customers', field 'name': a person_name column is not among the fields",
        "bad.toml: table 'customers', field 'secret': the protected column is not among the fields",
    ]
