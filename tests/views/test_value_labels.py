"""The company's codes in words (#16 item 4): the data map labels coded values ("delivered" is
"levert"), and every place a person reads a value shows the label in their language: /me, the
CSV files and the PDF report. The JSON keeps the code, with the labels beside it."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from pypdf import PdfReader
from starlette.testclient import TestClient

from portal.app import create_app
from portal.datamap import DataMap, FieldSpec, Text, load_datamap
from portal.datamap.wording import format_field, format_value, value_label
from portal.demo import DATAMAP_PATH, EDGE_CASES_BY_KEY
from portal.exports.build import Person, build_files
from portal.exports.csv_zip import ENCODING
from portal.exports.models import ExportFile, ExportScope
from portal.exports.store import ExportStore
from portal.settings import Settings
from tests.conftest import TEST_SECRET
from tests.support import add_demo_subject, signed_in_client

DELIVERED = {"nb": "levert", "sv": "levererad", "en": "delivered"}
PAID = {"nb": "betalt", "sv": "betald", "en": "paid"}
LANGUAGES = tuple(DELIVERED)
OSLO = "Europe/Oslo"


def test_format_field_gives_the_label_in_each_language_and_other_values_as_they_are() -> None:
    spec = FieldSpec(
        category="c",
        purposes=["p"],
        legal_basis="b",
        origin="o",
        erasure="keep",
        values={
            "delivered": Text(nb="levert", sv="levererad", en="delivered"),
            "2": Text(nb="to", sv="två", en="two"),
        },
    )
    for language, word in DELIVERED.items():
        assert format_field(spec, "delivered", language, OSLO) == word
    assert format_field(spec, 2, "sv", OSLO) == "två"  # a whole number matches its key as written
    assert format_field(spec, "returned", "nb", OSLO) == "returned"  # unlabelled: as it is
    assert value_label(spec, "returned", "nb") is None
    assert value_label(spec, True, "nb") is None  # booleans are yes/no, never a code
    for value in (None, "", Decimal("12.50"), date(2026, 1, 31)):
        assert format_field(spec, value, "nb", OSLO) == format_value(value, "nb", OSLO)


@pytest.fixture
def client(settings: Settings, demo_sources) -> Iterator[TestClient]:
    with TestClient(create_app(settings, sources=demo_sources), follow_redirects=False) as c:
        yield c


@pytest.mark.parametrize("language", LANGUAGES)
def test_my_data_shows_order_and_invoice_statuses_in_words(
    client: TestClient, language: str
) -> None:
    subject_id = add_demo_subject(client.app.state.engine, "ordinary")
    signed_in_client(client, secret_key=TEST_SECRET, subject_id=subject_id)
    client.cookies.set("lang", language)
    response = client.get("/me")
    assert response.status_code == 200
    tables = {table.key: table for table in response.context["page"].tables}
    orders = tables["shop_orders"]
    status = [column.name for column in orders.columns].index("status")
    shown = {row.shown[status] for row in orders.rows}
    assert DELIVERED[language] in shown
    assert shown <= {DELIVERED[language], *_labels("shop_orders", "status", language)}
    invoices = tables["billing_invoices"]
    status = [column.name for column in invoices.columns].index("status")
    assert PAID[language] in {row.shown[status] for row in invoices.rows}
    # Every field of a record, too: the payment method of a payment, the kind of an invoice.
    payments = tables["billing_payments"]
    methods = {value for row in payments.rows for label, value in row.fields if label}
    assert methods & set(_labels("billing_payments", "method", language))
    if language != "en":  # the English label of "delivered" is the word itself
        assert ">delivered<" not in response.text
        assert DELIVERED[language] in response.text


def _labels(table: str, column: str, language: str) -> list[str]:
    spec = load_datamap(DATAMAP_PATH).tables[table].fields[column]
    return [label.get(language) for label in spec.values.values()]


@pytest.fixture(scope="module")
def exports(
    datamap: DataMap, demo_sources, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Path]:
    """Kari's access export in each language, built once for the module."""
    store = ExportStore(tmp_path_factory.mktemp("exports"))
    case = EDGE_CASES_BY_KEY["ordinary"]
    built = {}
    for language in LANGUAGES:
        build_files(
            datamap,
            demo_sources,
            store,
            export_id=f"labels-{language}",
            person=Person(case.name, case.national_id),
            scope=ExportScope.access,
            language=language,
            made_at=datetime(2026, 11, 24, 11, 0, tzinfo=UTC),
            schema_url="http://testserver/schemas/export-v1.json",
        )
        built[language] = store.directory(f"labels-{language}")
    return built


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_csv_writes_the_label_and_the_json_keeps_the_code(
    exports: dict[str, Path], language: str
) -> None:
    directory = exports[language]
    document = json.loads((directory / ExportFile.json.filename).read_text(encoding="utf-8"))
    orders = next(table for table in document["tables"] if table["key"] == "shop_orders")
    status = next(field for field in orders["fields"] if field["name"] == "status")
    assert status["value_labels"]["delivered"] == DELIVERED[language]
    assert status["value_labels"]["placed"]
    codes = [row["values"]["status"] for row in orders["rows"]]
    assert "delivered" in codes and set(codes) <= set(status["value_labels"])
    with zipfile.ZipFile(directory / ExportFile.zip.filename) as archive:
        text = archive.read("csv/shop_orders.csv").decode(ENCODING)
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    assert [row["status"] for row in rows] == [status["value_labels"][code] for code in codes]
    assert DELIVERED[language] in {row["status"] for row in rows}


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_pdf_report_shows_the_label(exports: dict[str, Path], language: str) -> None:
    reader = PdfReader(exports[language] / ExportFile.pdf.filename)
    text = " ".join(" ".join(page.extract_text() for page in reader.pages).split())
    assert DELIVERED[language] in text
    assert PAID[language] in text
    if language == "nb":
        assert "delivered" not in text and " paid" not in text
