"""A small company of our own for the data map's safety tests (issue #18).

Two tables with CamelCase names, as real company databases have them: ``Customers`` and
``Invoices``, with a NOT NULL foreign key from invoices to customers. ``map_text`` is a data map
that describes them safely; each of ``UNSAFE`` changes one thing into a map the issue found
passing the check and then breaking erasure (or finding nothing):

* ``kept_child``: invoices are kept under a bookkeeping hold that does not reach the customer,
  and the customer's row is deleted;
* ``integer_pseudonym``: ``pseudonymise`` on an INTEGER column;
* ``short_pseudonym``: ``pseudonymise`` on a text column too short for a pseudonym;
* ``key_as_customer_number``: the customer table's own integer key mapped as a customer number.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path

from sqlalchemy import Column, Date, ForeignKey, Integer, MetaData, String, Table, create_engine
from sqlalchemy.engine import Engine

from tests.support import postgres_database

URL_ENV = "SMALL_COMPANY_URL"
NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
KARI = "12038410081"  # a customer with a national ID, two invoices from 2025
OLA_EMAIL = "ola@example.no"  # a customer without one: found by an e-mail address staff link

metadata = MetaData()
CUSTOMERS = Table(
    "Customers",
    metadata,
    Column("Id", Integer, primary_key=True, autoincrement=False),
    Column("NationalId", String(11)),
    Column("Email", String(200)),
    Column("Name", String(100), nullable=False),
)
INVOICES = Table(
    "Invoices",
    metadata,
    Column("Id", Integer, primary_key=True, autoincrement=False),
    Column("CustomerId", Integer, ForeignKey("Customers.Id"), nullable=False),
    Column("InvoiceNumber", String(20), nullable=False),
    Column("IssuedOn", Date, nullable=False),
    Column("BillingName", String(100), nullable=False),
    Column("Reference", Integer),
    Column("Code", String(8)),
)


def create(engine: Engine) -> None:
    """The schema and its rows: Kari (national ID, two invoices), Ola (no national ID, one)."""
    metadata.create_all(engine)
    with engine.begin() as connection:
        connection.execute(
            CUSTOMERS.insert(),
            [
                {"Id": 1, "NationalId": KARI, "Email": "kari@example.no", "Name": "Kari"},
                {"Id": 2, "NationalId": None, "Email": OLA_EMAIL, "Name": "Ola"},
            ],
        )
        connection.execute(
            INVOICES.insert(),
            [
                _invoice(10, 1, "F-10", "Kari Nordmann", 4711, "A1"),
                _invoice(11, 1, "F-11", "Kari Nordmann", 4712, "A2"),
                _invoice(20, 2, "F-20", "Ola Nordmann", 4713, "B1"),
            ],
        )


def _invoice(key: int, customer: int, number: str, name: str, ref: int, code: str) -> dict:
    return {
        "Id": key,
        "CustomerId": customer,
        "InvoiceNumber": number,
        "IssuedOn": date(2025, 3, 1),
        "BillingName": name,
        "Reference": ref,
        "Code": code,
    }


_HEADER = """
[settings]
jurisdiction = "NO"

[controller]
name = "Liten Butikk AS"
organisation_number = "912345678"
country = "NO"
contact = "personvern@liten.example"
supervisory_authority = { nb = "Datatilsynet", sv = "Datatilsynet", en = "Datatilsynet" }

[sources.billing]
url_env = "SMALL_COMPANY_URL"
url_default = "sqlite:///var/small_company.db"
name = { nb = "Fakturering", sv = "Fakturering", en = "Billing" }

[categories.identity]
name = { nb = "Identitet", sv = "Identitet", en = "Identity" }

[categories.payment]
name = { nb = "Betaling", sv = "Betalning", en = "Payment" }

[purposes.billing]
name = { nb = "Fakturering", sv = "Fakturering", en = "Billing" }

[legal_bases.obligation]
article = "6(1)(c)"
name = { nb = "Rettslig plikt", sv = "Rättslig förpliktelse", en = "Legal obligation" }

[origins.subject]
name = { nb = "Fra deg", sv = "Från dig", en = "From you" }
provided_by_subject = true

[holds.bookkeeping]
jurisdiction = "NO"
citation = { nb = "bokføringsloven § 13", sv = "bokføringsloven § 13", en = "Bookkeeping Act" }
name = { nb = "Regnskapsbilag", sv = "Räkenskapsinformation", en = "Bookkeeping records" }
period = "P5Y"
counts_from = "end_of_fiscal_year"
"""

_CUSTOMERS = """
[tables.Customers]
source = "billing"
key = "Id"
name = { nb = "Kunder", sv = "Kunder", en = "Customers" }
erasure = "delete_row"
links = [
  { column = "NationalId", identifier = "national_id" },
  { column = "Email", identifier = "email" },
]
[tables.Customers.defaults]
category = "identity"
purposes = ["billing"]
legal_basis = "obligation"
origin = "subject"
erasure = "keep"
[tables.Customers.fields]
Id = {}
NationalId = {}
Email = {}
Name = {}
"""

_INVOICES = """
[tables.Invoices]
source = "billing"
key = "Id"
name = { nb = "Fakturaer", sv = "Fakturor", en = "Invoices" }
erasure = "delete_row"
links = [{ column = "CustomerId", table = "Customers" }]
holds = [{ hold = "bookkeeping", from = "IssuedOn", covers = ["Customers"] }]
[tables.Invoices.defaults]
category = "payment"
purposes = ["billing"]
legal_basis = "obligation"
origin = "subject"
erasure = "keep"
[tables.Invoices.fields]
Id = {}
CustomerId = {}
InvoiceNumber = {}
IssuedOn = {}
BillingName = { erasure = "pseudonymise" }
Reference = {}
Code = {}
"""

# Each unsafe map: (text in the safe map, what replaces it).
UNSAFE: dict[str, tuple[str, str]] = {
    "kept_child": (', covers = ["Customers"]', ""),
    "integer_pseudonym": ("Reference = {}", 'Reference = { erasure = "pseudonymise" }'),
    "short_pseudonym": ("Code = {}", 'Code = { erasure = "pseudonymise" }'),
    "key_as_customer_number": (
        '  { column = "Email", identifier = "email" },\n',
        '  { column = "Email", identifier = "email" },\n'
        '  { column = "Id", identifier = "customer_number" },\n',
    ),
}


def map_text(unsafe: str | None = None) -> str:
    """The safe map, or the safe map with one unsafe change."""
    text = _HEADER + _CUSTOMERS + _INVOICES
    if unsafe is not None:
        old, new = UNSAFE[unsafe]
        assert text.count(old) == 1, unsafe
        text = text.replace(old, new)
    return text


def write_map(directory: Path, unsafe: str | None = None) -> Path:
    path = directory / f"{unsafe or 'safe'}.toml"
    path.write_text(map_text(unsafe))
    return path


@contextmanager
def company(
    db_kind: str, directory: Path, fill: Callable[[Engine], None] | None = None
) -> Iterator[Engine]:
    """The small company (or another that ``fill`` creates), created and filled, in a database
    of the kind under test."""
    fill = fill or create
    if db_kind == "sqlite":
        engine = create_engine(f"sqlite:///{directory / 'small_company.db'}")
        try:
            fill(engine)
            yield engine
        finally:
            engine.dispose()
        return
    with postgres_database(f"innsyn_small_{uuid.uuid4().hex[:10]}") as url:
        engine = create_engine(url)
        try:
            fill(engine)
            yield engine
        finally:
            engine.dispose()
