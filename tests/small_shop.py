"""A small web shop without national IDs (issue #18), mapped by docs/datamap.md's second example.

``Customer``, ``Invoice`` and ``InvoiceLine``, with CamelCase names; e-mail addresses and phone
numbers stored as people typed them; invoices point at customers through a NOT NULL foreign key.
The data map is read from docs/datamap.md ("A web shop without national IDs"), so the example
the integrator reads is the one the tests run.

* Kari: customer 1, `` Kari.Nordmann@Example.no``, ``+47 22 44 22 22``; invoices 10 (2025)
  and 11 (2026), three lines.
* Ola: customer 2, ``ola@example.no``, ``912 34 567``; invoice 20, one line.
* Kari Hansen: customer 3, another Kari, ``kari.hansen@example.no``, ``0047 41 00 00 00``;
  invoice 30, one line.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from pathlib import Path

from sqlalchemy import Column, Date, ForeignKey, Integer, MetaData, Numeric, String, Table
from sqlalchemy.engine import Engine

DOC = Path(__file__).resolve().parents[1] / "docs" / "datamap.md"
NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
KARI_EMAIL = "kari.nordmann@example.no"  # as she proves it; stored with a space and capitals
OLA_PHONE = "+4791234567"  # as staff link it; stored as "912 34 567"

metadata = MetaData()
CUSTOMER = Table(
    "Customer",
    metadata,
    Column("Id", Integer, primary_key=True, autoincrement=False),
    Column("Name", String(100), nullable=False),
    Column("Email", String(200)),
    Column("Phone", String(30)),
)
INVOICE = Table(
    "Invoice",
    metadata,
    Column("Id", Integer, primary_key=True, autoincrement=False),
    Column("CustomerId", Integer, ForeignKey("Customer.Id"), nullable=False),
    Column("InvoiceNo", String(20), nullable=False),
    Column("IssuedOn", Date, nullable=False),
    Column("BillingName", String(100), nullable=False),
    Column("Total", Numeric(10, 2), nullable=False),
    Column("Currency", String(3), nullable=False),
)
INVOICE_LINE = Table(
    "InvoiceLine",
    metadata,
    Column("Id", Integer, primary_key=True, autoincrement=False),
    Column("InvoiceId", Integer, ForeignKey("Invoice.Id"), nullable=False),
    Column("Product", String(100), nullable=False),
    Column("Amount", Numeric(10, 2), nullable=False),
)
TABLES = (CUSTOMER, INVOICE, INVOICE_LINE)


def create(engine: Engine) -> None:
    metadata.create_all(engine)
    with engine.begin() as connection:
        connection.execute(
            CUSTOMER.insert(),
            [
                _customer(1, "Kari Nordmann", " Kari.Nordmann@Example.no", "+47 22 44 22 22"),
                _customer(2, "Ola Nordmann", "ola@example.no", "912 34 567"),
                _customer(3, "Kari Hansen", "kari.hansen@example.no", "0047 41 00 00 00"),
            ],
        )
        connection.execute(
            INVOICE.insert(),
            [
                _invoice(10, 1, "F-10", date(2025, 3, 1), "Kari Nordmann", 499),
                _invoice(11, 1, "F-11", date(2026, 2, 1), "Kari Nordmann", 1290),
                _invoice(20, 2, "F-20", date(2025, 6, 1), "Ola Nordmann", 89),
                _invoice(30, 3, "F-30", date(2025, 9, 1), "Kari Hansen", 250),
            ],
        )
        connection.execute(
            INVOICE_LINE.insert(),
            [
                {"Id": 100, "InvoiceId": 10, "Product": "Kaffekjele", "Amount": 399},
                {"Id": 101, "InvoiceId": 10, "Product": "Frakt", "Amount": 100},
                {"Id": 110, "InvoiceId": 11, "Product": "Stekepanne", "Amount": 1290},
                {"Id": 200, "InvoiceId": 20, "Product": "Kaffe", "Amount": 89},
                {"Id": 300, "InvoiceId": 30, "Product": "Te", "Amount": 250},
            ],
        )


def _customer(key: int, name: str, email: str, phone: str) -> dict:
    return {"Id": key, "Name": name, "Email": email, "Phone": phone}


def _invoice(key: int, customer: int, number: str, issued: date, name: str, total: int) -> dict:
    return {
        "Id": key,
        "CustomerId": customer,
        "InvoiceNo": number,
        "IssuedOn": issued,
        "BillingName": name,
        "Total": total,
        "Currency": "NOK",
    }


def map_text() -> str:
    """The map in docs/datamap.md, between its markers."""
    found = re.search(
        r"<!-- small-shop-map: begin -->\n```toml\n(.*?)```\n<!-- small-shop-map: end -->",
        DOC.read_text(encoding="utf-8"),
        re.DOTALL,
    )
    assert found is not None, "docs/datamap.md lost its small shop example"
    return found.group(1)


# Each unsafe map: (text in the shop's map, what replaces it). Each passed the check before
# issue #18 and then broke erasure or found nothing (tests/small_company.py says how).
UNSAFE: dict[str, tuple[str, str]] = {
    # The customer row deleted while its invoices are kept under the bookkeeping hold.
    "kept_child": ('erasure = "anonymise"     #', 'erasure = "delete_row"    #'),
    "integer_pseudonym": (
        "Total = { label",
        'Total = { erasure = "pseudonymise", label',
    ),
    "short_pseudonym": (
        "Currency = { label",
        'Currency = { erasure = "pseudonymise", label',
    ),
    "key_as_customer_number": (
        '  { column = "Phone", identifier = "phone" },\n',
        '  { column = "Phone", identifier = "phone" },\n'
        '  { column = "Id", identifier = "customer_number" },\n',
    ),
}


def write_map(directory: Path, unsafe: str | None = None) -> Path:
    text = map_text()
    if unsafe is not None:
        old, new = UNSAFE[unsafe]
        assert text.count(old) == 1, unsafe
        text = text.replace(old, new)
    path = directory / f"shop-{unsafe or 'safe'}.toml"
    path.write_text(text, encoding="utf-8")
    return path
