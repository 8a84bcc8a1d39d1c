"""The collector against the demo company, on SQLite and on PostgreSQL.

Every edge case is compared with direct SQL counts per table (the oracle below states the
identity rule of docs/datamap.md in plain SQL), and no person may ever see another's rows.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import date

import pytest
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Engine

from portal.datamap import DataMap, collect, resolve, stream
from portal.demo import EDGE_CASES, EDGE_CASES_BY_KEY
from portal.demo.seed import seed
from tests.support import postgres_database

TODAY = date(2026, 11, 24)
PEOPLE = 300

# The person's identifiers: customers with their national ID, and shop accounts with one of
# their customer numbers. An e-mail address or phone number is shared ("foreign") when a row
# that belongs to someone else carries it.
ORACLE = """
WITH me AS (SELECT id, customer_number, email, phone FROM crm_customers WHERE national_id = :nid),
anchored_accounts AS (
  SELECT id, email, phone FROM shop_accounts
  WHERE customer_number IN (SELECT customer_number FROM me)),
my_emails AS (
  SELECT lower(email) AS v FROM me WHERE email IS NOT NULL
  UNION SELECT lower(email) FROM anchored_accounts),
my_phones AS (
  SELECT phone AS v FROM me WHERE phone IS NOT NULL
  UNION SELECT phone FROM anchored_accounts WHERE phone IS NOT NULL),
candidate_accounts AS (
  SELECT id FROM anchored_accounts
  UNION SELECT id FROM shop_accounts WHERE customer_number IS NULL
    AND (lower(email) IN (SELECT v FROM my_emails) OR phone IN (SELECT v FROM my_phones))),
foreign_emails AS (
  SELECT lower(email) AS v FROM crm_customers WHERE national_id <> :nid AND email IS NOT NULL
  UNION SELECT lower(email) FROM shop_accounts WHERE customer_number IS NOT NULL
    AND customer_number NOT IN (SELECT customer_number FROM me)
  UNION SELECT lower(email) FROM shop_orders WHERE account_id IS NOT NULL
    AND account_id NOT IN (SELECT id FROM candidate_accounts)
  UNION SELECT lower(from_address) FROM contact_emails WHERE customer_id IS NOT NULL
    AND customer_id NOT IN (SELECT id FROM me)
  UNION SELECT lower(email) FROM marketing_list_members WHERE email IS NOT NULL
    AND customer_number IS NOT NULL AND customer_number NOT IN (SELECT customer_number FROM me)),
foreign_phones AS (
  SELECT phone AS v FROM crm_customers WHERE national_id <> :nid AND phone IS NOT NULL
  UNION SELECT phone FROM shop_accounts WHERE phone IS NOT NULL AND customer_number IS NOT NULL
    AND customer_number NOT IN (SELECT customer_number FROM me)
  UNION SELECT caller_phone FROM contact_calls WHERE caller_phone IS NOT NULL
    AND customer_id IS NOT NULL AND customer_id NOT IN (SELECT id FROM me)
  UNION SELECT phone FROM marketing_list_members WHERE phone IS NOT NULL
    AND customer_number IS NOT NULL AND customer_number NOT IN (SELECT customer_number FROM me)),
free_emails AS (SELECT v FROM my_emails WHERE v NOT IN (SELECT v FROM foreign_emails)),
free_phones AS (SELECT v FROM my_phones WHERE v NOT IN (SELECT v FROM foreign_phones)),
my_accounts AS (
  SELECT id FROM anchored_accounts
  UNION SELECT id FROM shop_accounts WHERE customer_number IS NULL
    AND (lower(email) IN (SELECT v FROM free_emails) OR phone IN (SELECT v FROM free_phones))),
my_orders AS (
  SELECT id, order_number FROM shop_orders WHERE account_id IN (SELECT id FROM my_accounts)
    OR (account_id IS NULL AND lower(email) IN (SELECT v FROM free_emails))),
my_invoices AS (
  SELECT id, invoice_number FROM billing_invoices
  WHERE customer_number IN (SELECT customer_number FROM me)),
my_cases AS (
  SELECT id FROM collection_cases WHERE debtor_national_id = :nid
    OR (debtor_national_id IS NULL
        AND invoice_number IN (SELECT invoice_number FROM my_invoices)))
SELECT count(*) FROM {table} WHERE {condition}
"""
MINE = {
    "crm_customers": "national_id = :nid",
    "crm_addresses": "customer_id IN (SELECT id FROM me)",
    "crm_consents": "customer_id IN (SELECT id FROM me)",
    "crm_credit_checks": "customer_id IN (SELECT id FROM me)",
    "shop_accounts": "id IN (SELECT id FROM my_accounts)",
    "shop_orders": "id IN (SELECT id FROM my_orders)",
    "shop_order_lines": "order_id IN (SELECT id FROM my_orders)",
    "shop_complaints": "order_id IN (SELECT id FROM my_orders)",
    "billing_invoices": "id IN (SELECT id FROM my_invoices)",
    "billing_payments": "invoice_id IN (SELECT id FROM my_invoices)",
    "collection_cases": "id IN (SELECT id FROM my_cases)",
    "collection_events": "case_id IN (SELECT id FROM my_cases)",
    "contact_calls": "customer_id IN (SELECT id FROM me) OR (customer_id IS NULL "
    "AND caller_phone IN (SELECT v FROM free_phones))",
    "contact_emails": "customer_id IN (SELECT id FROM me) OR (customer_id IS NULL "
    "AND lower(from_address) IN (SELECT v FROM free_emails))",
    "marketing_newsletter": "lower(email) IN (SELECT v FROM free_emails)",
    "marketing_list_members": "customer_number IN (SELECT customer_number FROM me) OR "
    "(customer_number IS NULL AND (lower(email) IN (SELECT v FROM free_emails) "
    "OR phone IN (SELECT v FROM free_phones)))",
}


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def demo_db(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Engine]:
    """The demo company, seeded once per database kind. PostgreSQL must be running: an
    unreachable server stops the run (tests.support), it is never skipped silently."""
    if request.param == "sqlite":
        engine = create_engine(f"sqlite:///{tmp_path_factory.mktemp('demo') / 'demo.db'}")
        seed(engine, PEOPLE, today=TODAY)
        yield engine
        engine.dispose()
        return
    with postgres_database(f"innsyn_demo_{uuid.uuid4().hex[:10]}") as url:
        engine = create_engine(url)
        seed(engine, PEOPLE, today=TODAY)
        yield engine
        engine.dispose()


@pytest.fixture(scope="module")
def engines(datamap: DataMap, demo_db: Engine) -> dict[str, Engine]:
    # All six sources live in one database here, as in the default demo.
    return dict.fromkeys(datamap.sources, demo_db)


def oracle_counts(engine: Engine, national_id: str) -> dict[str, int]:
    with engine.connect() as connection:
        return {
            table: connection.execute(
                text(ORACLE.format(table=table, condition=condition)), {"nid": national_id}
            ).scalar_one()
            for table, condition in MINE.items()
        }


def sample_national_ids(engine: Engine, count: int) -> list[str]:
    with engine.connect() as connection:
        return list(
            connection.execute(
                text("SELECT national_id FROM crm_customers WHERE id > 100 ORDER BY id LIMIT :n"),
                {"n": count},
            ).scalars()
        )


@pytest.mark.parametrize("case", EDGE_CASES, ids=lambda case: case.key)
def test_edge_case_found_completely(datamap, engines, demo_db, case) -> None:
    collection = collect(datamap, engines, case.national_id)
    found = {table: collection.count(table) for table in datamap.tables}
    assert found == oracle_counts(demo_db, case.national_id)


def test_generated_people_found_completely(datamap, engines, demo_db) -> None:
    for national_id in sample_national_ids(demo_db, 25):
        found = {table: resolve(datamap, engines, national_id).count(table) for table in MINE}
        assert found == oracle_counts(demo_db, national_id), national_id


def test_no_row_is_shown_to_two_people(datamap, engines, demo_db) -> None:
    owners: dict[tuple[str, object], str] = {}
    people = [case.national_id for case in EDGE_CASES] + sample_national_ids(demo_db, 40)
    for national_id in people:
        resolution = resolve(datamap, engines, national_id)
        for table, keys in resolution.keys.items():
            for key in keys:
                assert (table, key) not in owners, (table, key, owners.get((table, key)))
                owners[(table, key)] = national_id


def test_shared_family_phone(datamap, engines) -> None:
    lars = collect(datamap, engines, EDGE_CASES_BY_KEY["shared_phone_a"].national_id)
    mette = collect(datamap, engines, EDGE_CASES_BY_KEY["shared_phone_b"].national_id)
    for person in (lars, mette):
        [me] = person.tables["crm_customers"]
        assert [row.value("customer_id") for row in person.tables["contact_calls"]] == [me.key]
        assert person.withheld == {"contact_calls": 2}
        assert person.shared_identifiers == {"phone": ("+4722334455",)}
    assert lars.identifiers["phone"] == mette.identifiers["phone"] == ("+4722334455",)


def test_living_at_anothers_old_address(datamap, engines) -> None:
    erik = collect(datamap, engines, EDGE_CASES_BY_KEY["previous_resident"].national_id)
    silje = collect(datamap, engines, EDGE_CASES_BY_KEY["current_resident"].national_id)

    def addresses(person):
        return [
            (row.value("street"), row.value("valid_to")) for row in person.tables["crm_addresses"]
        ]

    assert addresses(erik) == [("Storgata 12", date(2024, 11, 23)), ("Kirkeveien 3", None)]
    assert addresses(silje) == [("Fjordveien 8", date(2024, 11, 24)), ("Storgata 12", None)]


def test_reused_email_is_withheld_from_both(datamap, engines) -> None:
    for key in ("reused_email_a", "reused_email_b"):
        person = collect(datamap, engines, EDGE_CASES_BY_KEY[key].national_id)
        assert person.count("marketing_newsletter") == person.count("shop_orders") == 0
        assert person.withheld == {"shop_orders": 1, "marketing_newsletter": 1}
        assert person.shared_identifiers == {"email": ("familien.vik@example.com",)}


def test_two_systems_two_addresses_and_an_unproven_one(datamap, engines) -> None:
    ola = collect(datamap, engines, EDGE_CASES_BY_KEY["two_systems"].national_id)
    assert ola.identifiers["email"] == ("ola.n@example.net", "ola.nordmann@example.com")
    [account] = ola.tables["shop_accounts"]
    assert account.value("email") == "Ola.N@Example.net"
    assert account.via == "customer_number"
    assert [row.value("email") for row in ola.tables["marketing_newsletter"]] == [
        "ola.n@example.net"
    ]
    assert all(row.value("email") != "ola1979@example.org" for row in ola.tables["shop_orders"])
    assert ola.withheld == {}
    assert "email" in ola.may_hold_more["shop_accounts"]
    # Once he proves the old address (a later issue), its rows are his.
    proven = collect(datamap, engines, ola.national_id, proven={"email": ["OLA1979@example.org"]})
    assert proven.count("shop_accounts") == 2
    assert proven.count("marketing_newsletter") == 2
    assert proven.count("shop_orders") == ola.count("shop_orders") + 1


def test_nothing_held(datamap, engines) -> None:
    case = EDGE_CASES_BY_KEY["nothing_held"]
    collection = collect(datamap, engines, case.national_id)
    assert collection.empty
    assert collection.identifiers == {"national_id": (case.national_id,)}
    assert collection.by_category() == {}


def test_values_come_back_exactly(datamap, engines) -> None:
    case = EDGE_CASES_BY_KEY["special_characters"]
    collection = collect(datamap, engines, case.national_id)
    [me] = collection.tables["crm_customers"]
    assert (me.value("given_name"), me.value("family_name")) == (case.given_name, case.family_name)
    [complaint] = collection.tables["shop_complaints"]
    assert "<img src=x onerror=alert(1)>" in complaint.value("description")


def test_open_collection_case_and_deceased(datamap, engines) -> None:
    jonas = collect(datamap, engines, EDGE_CASES_BY_KEY["open_collection"].national_id)
    [case] = jonas.tables["collection_cases"]
    assert (case.value("status"), case.value("agency"), case.via) == (
        "open",
        "Alektum Group",
        "national_id",
    )
    assert case.as_dict()["debtor_name"] == "Jonas Lie"
    assert [row.value("status") for row in jonas.tables["billing_invoices"]] == ["overdue"]
    assert jonas.count("collection_events") == 3
    ingrid = collect(datamap, engines, EDGE_CASES_BY_KEY["deceased"].national_id)
    assert ingrid.tables["crm_customers"][0].value("deceased_on") == date(2026, 5, 8)


def test_result_by_category_carries_field_metadata(datamap, engines) -> None:
    kari = collect(datamap, engines, EDGE_CASES_BY_KEY["ordinary"].national_id)
    grouped = kari.by_category()
    assert list(grouped) == [c for c in datamap.categories if c in grouped]
    [customer] = grouped["contact"]["crm_customers"]
    assert [field.name for field in customer.fields] == ["email", "phone", "protected_address"]
    email = customer.fields[0]
    assert email.value == "kari.nordmann@example.com"
    assert (email.spec.purposes, email.spec.legal_basis, email.spec.erasure) == (
        ["customer_relationship"],
        "contract",
        "null",
    )
    payments = grouped["payment"]["billing_payments"]
    assert payments and all(f.spec.recipients == ["nets"] for row in payments for f in row.fields)
    assert kari.datamap_version == datamap.version


class StatementCounter:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.count = 0

    def __enter__(self) -> StatementCounter:
        event.listen(self.engine, "before_cursor_execute", self._count)
        return self

    def __exit__(self, *exc: object) -> None:
        event.remove(self.engine, "before_cursor_execute", self._count)

    def _count(self, *args: object) -> None:
        self.count += 1


def test_queries_do_not_grow_with_rows(datamap, engines, demo_db) -> None:
    def statements(key: str) -> int:
        with StatementCounter(demo_db) as counter:
            collect(datamap, engines, EDGE_CASES_BY_KEY[key].national_id)
        return counter.count

    big = collect(datamap, engines, EDGE_CASES_BY_KEY["frequent_buyer"].national_id)
    assert sum(len(rows) for rows in big.tables.values()) > 700
    links = sum(len(spec.links) for spec in datamap.tables.values())
    # At most one statement per link per round (a few rounds) plus one read per table.
    assert statements("frequent_buyer") <= 4 * links + len(datamap.tables)
    assert statements("frequent_buyer") <= statements("ordinary") + 2


def test_small_chunks_give_the_same_result(datamap, engines) -> None:
    nid = EDGE_CASES_BY_KEY["frequent_buyer"].national_id
    whole = collect(datamap, engines, nid)
    chunked = collect(datamap, engines, nid, chunk_size=7)
    assert chunked == whole
    assert [row.key for row in whole.tables["shop_orders"]] == sorted(
        row.key for row in whole.tables["shop_orders"]
    )


def test_stream_reads_table_by_table_lazily(datamap, engines, demo_db) -> None:
    nid = EDGE_CASES_BY_KEY["frequent_buyer"].national_id
    resolution = resolve(datamap, engines, nid)
    with StatementCounter(demo_db) as counter:
        parts = list(stream(datamap, engines, resolution, chunk_size=50))
        assert counter.count == 0  # nothing read until a table's rows are iterated
        lines = next(part for part in parts if part.name == "shop_order_lines")
        rows = list(lines.rows)
    assert len(rows) == lines.count == resolution.count("shop_order_lines")
    assert counter.count == -(-lines.count // 50)  # one statement per chunk
    assert [part.name for part in parts] == datamap.table_order()
    collection = collect(datamap, engines, nid)
    assert tuple(rows) == collection.tables["shop_order_lines"]
