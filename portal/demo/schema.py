"""The demo company's databases: six systems, as a real Nordic retailer would have them.

Each source's tables carry its name as a prefix, so all of them can share one database file (the
default) while the data map treats them as separate sources. Foreign keys are declared only inside
a source: links across systems (a call logged against a CRM customer, an invoice for a customer
number) exist in the data map, not in the databases, as they would between real systems.
"""

from __future__ import annotations

import os

from sqlalchemy import (
    Boolean,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
    func,
    text,
)

DEFAULT_URL = "sqlite:///var/demo_company.db"
URL_ENV = "DEMO_DATABASE_URL"

# The data map compares e-mail addresses and phone numbers as expressions of the column
# (portal/datamap/matching.py); an index on the same expression serves those look-ups. The demo
# imports nothing of the portal, so the expressions are written here again (a test compares).
PHONE_SEPARATORS = " -.()/"


def email_match(column: Column) -> object:
    return func.lower(func.trim(column))


def phone_match(column: Column) -> object:
    expression: object = column
    nothing = text("''")
    for separator in PHONE_SEPARATORS:
        expression = func.replace(expression, text(f"'{separator}'"), nothing)
    return expression


SOURCES = ("crm", "shop", "billing", "collection", "contact_log", "marketing")

metadata = MetaData()


def demo_url() -> str:
    return os.environ.get(URL_ENV) or DEFAULT_URL


def _id() -> Column:
    return Column("id", Integer, primary_key=True, autoincrement=False)


# --- crm: the customer register, with five years of address history (seed 000) ---------------

crm_customers = Table(
    "crm_customers",
    metadata,
    _id(),
    Column("customer_number", String(20), nullable=False, unique=True),
    Column("national_id", String(12), index=True),
    Column("given_name", String(200), nullable=False),
    Column("family_name", String(200), nullable=False),
    Column("email", String(320)),
    Column("phone", String(20), index=True),
    Column("birth_date", Date),
    Column("country", String(2), nullable=False),
    Column("language", String(5), nullable=False),
    Column("customer_since", Date, nullable=False),
    Column("relationship_ended_on", Date),
    Column("deceased_on", Date),
    Column("protected_address", Boolean, nullable=False),
)
Index("ix_crm_customers_email_match", email_match(crm_customers.c.email))
Index("ix_crm_customers_phone_match", phone_match(crm_customers.c.phone))

crm_addresses = Table(
    "crm_addresses",
    metadata,
    _id(),
    Column("customer_id", ForeignKey("crm_customers.id"), nullable=False, index=True),
    Column("street", String(200), nullable=False),
    Column("postal_code", String(10), nullable=False),
    Column("city", String(100), nullable=False),
    Column("country", String(2), nullable=False),
    Column("valid_from", Date, nullable=False),
    Column("valid_to", Date),
)

crm_consents = Table(
    "crm_consents",
    metadata,
    _id(),
    Column("customer_id", ForeignKey("crm_customers.id"), nullable=False, index=True),
    Column("purpose", String(40), nullable=False),
    Column("given_at", DateTime, nullable=False),
    Column("withdrawn_at", DateTime),
    Column("channel", String(20), nullable=False),
    Column("text_version", String(20), nullable=False),
)

crm_credit_checks = Table(
    "crm_credit_checks",
    metadata,
    _id(),
    Column("customer_id", ForeignKey("crm_customers.id"), nullable=False, index=True),
    Column("checked_on", Date, nullable=False),
    Column("bureau", String(40), nullable=False),
    Column("score", Integer, nullable=False),
    Column("decision", String(20), nullable=False),
    Column("reason", String(200), nullable=False),
)

# --- shop: the web shop, with its own accounts (seed 003) -------------------------------------

shop_accounts = Table(
    "shop_accounts",
    metadata,
    _id(),
    Column("customer_number", String(20), index=True),
    Column("email", String(320), nullable=False),
    Column("phone", String(20), index=True),
    Column("display_name", String(200), nullable=False),
    Column("created_at", DateTime, nullable=False),
    Column("last_login_at", DateTime),
)
Index("ix_shop_accounts_email_match", email_match(shop_accounts.c.email))
Index("ix_shop_accounts_phone_match", phone_match(shop_accounts.c.phone))

shop_orders = Table(
    "shop_orders",
    metadata,
    _id(),
    Column("order_number", String(20), nullable=False, unique=True),
    Column("account_id", ForeignKey("shop_accounts.id"), index=True),  # null: a guest order
    Column("email", String(320), nullable=False),
    Column("ordered_at", DateTime, nullable=False),
    Column("delivered_on", Date),
    Column("status", String(20), nullable=False),
    Column("delivery_name", String(200), nullable=False),
    Column("delivery_street", String(200), nullable=False),
    Column("delivery_postal_code", String(10), nullable=False),
    Column("delivery_city", String(100), nullable=False),
    Column("delivery_note", Text),
    Column("total", Numeric(12, 2), nullable=False),
    Column("currency", String(3), nullable=False),
)
Index("ix_shop_orders_email_match", email_match(shop_orders.c.email))

shop_order_lines = Table(
    "shop_order_lines",
    metadata,
    _id(),
    Column("order_id", ForeignKey("shop_orders.id"), nullable=False, index=True),
    Column("sku", String(20), nullable=False),
    Column("product_name", String(200), nullable=False),
    Column("quantity", Integer, nullable=False),
    Column("unit_price", Numeric(12, 2), nullable=False),
    Column("durable", Boolean, nullable=False),  # meant to last: 5-year complaint period
)

shop_complaints = Table(
    "shop_complaints",
    metadata,
    _id(),
    Column("order_id", ForeignKey("shop_orders.id"), nullable=False, index=True),
    Column("opened_on", Date, nullable=False),
    Column("closed_on", Date),
    Column("status", String(20), nullable=False),  # open, in_progress, closed, rejected
    Column("description", Text, nullable=False),
    Column("resolution", Text),
)

# --- billing: invoices and receipts, and the payments against them ----------------------------

billing_invoices = Table(
    "billing_invoices",
    metadata,
    _id(),
    Column("invoice_number", String(20), nullable=False, unique=True),
    Column("customer_number", String(20), nullable=False, index=True),
    Column("order_number", String(20), index=True),
    Column("kind", String(10), nullable=False),  # invoice, receipt
    Column("issued_on", Date, nullable=False),
    Column("due_on", Date, nullable=False),
    Column("amount", Numeric(12, 2), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("status", String(20), nullable=False),  # paid, unpaid, overdue, credited
    Column("billing_name", String(200), nullable=False),
    Column("billing_address", String(300), nullable=False),
)

billing_payments = Table(
    "billing_payments",
    metadata,
    _id(),
    Column("invoice_id", ForeignKey("billing_invoices.id"), nullable=False, index=True),
    Column("paid_on", Date, nullable=False),
    Column("amount", Numeric(12, 2), nullable=False),
    Column("method", String(20), nullable=False),
    Column("card_last4", String(4)),
    Column("payer_name", String(200), nullable=False),
)

# --- collection: debt collection cases, handled by a collection agency (seed 004) -------------

collection_cases = Table(
    "collection_cases",
    metadata,
    _id(),
    Column("case_number", String(20), nullable=False, unique=True),
    Column("invoice_number", String(20), nullable=False, index=True),
    Column("debtor_national_id", String(12), index=True),
    Column("debtor_name", String(200)),  # null once anonymised
    Column("debtor_address", String(300)),
    Column("agency", String(100), nullable=False),
    Column("opened_on", Date, nullable=False),
    Column("closed_on", Date),
    Column("status", String(20), nullable=False),  # open, payment_plan, closed, written_off
    Column("amount_due", Numeric(12, 2), nullable=False),
)

collection_events = Table(
    "collection_events",
    metadata,
    _id(),
    Column("case_id", ForeignKey("collection_cases.id"), nullable=False, index=True),
    Column("happened_on", Date, nullable=False),
    Column("kind", String(40), nullable=False),
    Column("note", Text),
)

# --- contact_log: calls and e-mails with customer service (seed 003) ---------------------------

contact_calls = Table(
    "contact_calls",
    metadata,
    _id(),
    Column("customer_id", Integer, index=True),  # null: the caller was not identified
    Column("caller_phone", String(20), index=True),
    Column("started_at", DateTime, nullable=False),
    Column("duration_seconds", Integer, nullable=False),
    Column("agent", String(100), nullable=False),
    Column("summary", Text),
)

contact_emails = Table(
    "contact_emails",
    metadata,
    _id(),
    Column("customer_id", Integer, index=True),
    Column("from_address", String(320), nullable=False),
    Column("direction", String(3), nullable=False),  # in, out
    Column("received_at", DateTime, nullable=False),
    Column("subject", String(300), nullable=False),
    Column("body", Text),
)
Index("ix_contact_calls_caller_phone_match", phone_match(contact_calls.c.caller_phone))
Index("ix_contact_emails_from_match", email_match(contact_emails.c.from_address))

# --- marketing: newsletter sign-ups and campaign lists -----------------------------------------

marketing_newsletter = Table(
    "marketing_newsletter",
    metadata,
    _id(),
    Column("email", String(320), nullable=False),
    Column("subscribed_at", DateTime, nullable=False),
    Column("unsubscribed_at", DateTime),
    Column("signup_source", String(40), nullable=False),
    Column("confirmed", Boolean, nullable=False),
)
Index("ix_marketing_newsletter_email_match", email_match(marketing_newsletter.c.email))

marketing_list_members = Table(
    "marketing_list_members",
    metadata,
    _id(),
    Column("list_name", String(100), nullable=False),
    Column("customer_number", String(20), index=True),
    Column("email", String(320)),
    Column("phone", String(20), index=True),
    Column("channel", String(10), nullable=False),  # email, sms, phone
    Column("added_on", Date, nullable=False),
    Column("removed_on", Date),
)
Index("ix_marketing_list_members_email_match", email_match(marketing_list_members.c.email))
Index("ix_marketing_list_members_phone_match", phone_match(marketing_list_members.c.phone))

# Insert order: parents before children.
TABLES: tuple[Table, ...] = tuple(metadata.sorted_tables)
