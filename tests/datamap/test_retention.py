"""Retention rules and holds: date arithmetic, conditions, covers, parent dates, the wording,
the Swedish variant by changing only the map, and the retention sweep's dry run."""

# ruff: noqa: F811 - fixtures imported from tests.erasure_support are parameters here

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from portal.datamap import DataMap, Period
from portal.datamap.retention import (
    ActiveHold,
    CaseHold,
    add_period,
    column_date,
    condition_holds,
    describe,
    due_for_retention,
    fiscal_year_end,
    holds_for,
    kept_text,
    period_start,
    retention_for,
)
from portal.demo import EDGE_CASES_BY_KEY
from tests.erasure_support import TODAY, datamap, demo, edited_map, engines, person, rows  # noqa: F401 - fixtures

# --- dates ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "period", "expected"),
    [
        (date(2024, 2, 29), "P1Y", date(2025, 2, 28)),  # no 29 Feb: the month's last day
        (date(2024, 2, 29), "P4Y", date(2028, 2, 29)),
        (date(2025, 1, 31), "P1M", date(2025, 2, 28)),
        (date(2024, 12, 31), "P5Y", date(2029, 12, 31)),
        (date(2024, 12, 31), "P3Y6M", date(2028, 6, 30)),
        (date(2024, 12, 31), "P30D", date(2025, 1, 30)),
        (date(2024, 11, 5), "P0D", date(2024, 11, 5)),
        (date(2023, 11, 30), "P1Y3M1D", date(2025, 3, 1)),  # 28 Feb 2025, then a day
    ],
)
def test_add_period(start: date, period: str, expected: date) -> None:
    assert add_period(start, Period.parse(period)) == expected


def test_fiscal_years() -> None:
    assert fiscal_year_end(date(2024, 3, 1), "12-31") == date(2024, 12, 31)
    # A fiscal year ending 30 June: 1 July starts the next one.
    assert fiscal_year_end(date(2024, 6, 30), "06-30") == date(2024, 6, 30)
    assert fiscal_year_end(date(2024, 7, 1), "06-30") == date(2025, 6, 30)
    assert fiscal_year_end(date(2023, 3, 1), "02-29") == date(2024, 2, 29)
    assert fiscal_year_end(date(2024, 3, 1), "02-29") == date(2025, 2, 28)
    # Sweden counts from the end of the calendar year in which the fiscal year ended.
    assert period_start(date(2024, 8, 1), "end_of_fiscal_year", "06-30") == date(2025, 6, 30)
    assert period_start(
        date(2024, 8, 1), "end_of_calendar_year_of_fiscal_year_end", "06-30"
    ) == date(2025, 12, 31)
    assert period_start(date(2024, 8, 1), "date", "06-30") == date(2024, 8, 1)


# --- rules and holds on seeded people -------------------------------------------------------------


def test_receipts_under_bookkeeping(datamap: DataMap, engines: dict[str, Engine]) -> None:
    marte = person(datamap, engines, "shop_customer")
    issued = [(row.value("issued_on"), row) for row in rows(marte, "billing_invoices")]
    assert [day for day, _ in issued] == [date(2024, 9, 15), date(2024, 9, 25), date(2026, 8, 16)]
    for day, row in issued:
        # Five years after the end of the fiscal year (31 Dec) the receipt was issued in.
        end = date(day.year + 5, 12, 31)
        outcome = retention_for(datamap, marte, row)
        assert outcome is not None
        assert (outcome.rule, outcome.ends_on, outcome.then) == (
            "bookkeeping_no",
            end,
            "delete_row",
        )
        [hold] = holds_for(datamap, marte, row, TODAY)
        assert (hold.key, hold.until, hold.source) == ("bookkeeping_no", end, "rule")
        assert hold.on == ("billing_invoices", row.key)


def test_parent_from_columns(datamap: DataMap, engines: dict[str, Engine]) -> None:
    marte = person(datamap, engines, "shop_customer")
    line = rows(marte, "shop_order_lines")[0]
    # Order lines count from their order's ordered_at (a datetime), 15 Sep 2024.
    assert column_date(datamap, marte, line, "shop_orders.ordered_at") == date(2024, 9, 15)
    assert retention_for(datamap, marte, line).ends_on == date(2029, 12, 31)  # type: ignore[union-attr]
    per = person(datamap, engines, "ended_relationship")
    [check] = rows(per, "crm_credit_checks")
    # Anti-money-laundering: five years after the relationship ended (24 Nov 2024).
    assert column_date(datamap, per, check, "crm_customers.relationship_ended_on") == date(
        2024, 11, 24
    )
    [hold] = holds_for(datamap, per, check, TODAY)
    assert (hold.key, hold.until) == ("aml_no", date(2029, 11, 24))


def test_hold_ending_yesterday_is_over(datamap: DataMap, engines: dict[str, Engine]) -> None:
    per = person(datamap, engines, "ended_relationship")
    [check] = rows(per, "crm_credit_checks")
    assert [h.until for h in holds_for(datamap, per, check, date(2029, 11, 24))] == [
        date(2029, 11, 24)  # the last day it keeps the row
    ]
    assert holds_for(datamap, per, check, date(2029, 11, 25)) == []


def test_conditions(datamap: DataMap, engines: dict[str, Engine]) -> None:
    marte = person(datamap, engines, "shop_customer")
    [complaint] = rows(marte, "shop_complaints")
    [open_ref] = datamap.tables["shop_complaints"].holds
    closed_ref, order_ref, _ = datamap.tables["shop_complaints"].retention
    assert condition_holds(open_ref, complaint)  # when = { status = ["open", "in_progress"] }
    assert not condition_holds(closed_ref, complaint)  # when_not_null = ["closed_on"]
    # Until it is closed, only its order's bookkeeping period bounds it (never longer than the
    # order it is about); the open complaint holds both.
    outcome = retention_for(datamap, marte, complaint)
    assert outcome is not None and outcome.rule == order_ref.rule == "bookkeeping_no"
    [hold] = holds_for(datamap, marte, complaint, TODAY)
    assert (hold.key, hold.until) == ("open_complaint", None)
    kari = person(datamap, engines, "ordinary")
    [closed] = rows(kari, "shop_complaints")
    assert condition_holds(closed_ref, closed) and not condition_holds(open_ref, closed)
    assert holds_for(datamap, kari, closed, TODAY) == []
    outcome = retention_for(datamap, kari, closed)
    assert outcome is not None and outcome.rule == "complaint_records"
    assert outcome.ends_on == add_period(closed.value("closed_on"), Period(3, 0, 0))
    # when_null: the newsletter's "unsubscribed" rule applies only once unsubscribed.
    [letter] = rows(marte, "marketing_newsletter")
    outcome = retention_for(datamap, marte, letter)
    assert outcome is not None and outcome.rule == "marketing_inactive"
    assert outcome.ends_on == date(2028, 10, 20)  # subscribed 20 Oct 2025 + 3 years


def test_covers(datamap: DataMap, engines: dict[str, Engine]) -> None:
    marte = person(datamap, engines, "shop_customer")
    [complaint] = rows(marte, "shop_complaints")
    tv_order = next(r for r in rows(marte, "shop_orders") if r.key == complaint.value("order_id"))
    tv_line = next(
        r for r in rows(marte, "shop_order_lines") if r.value("order_id") == tv_order.key
    )
    for row in (tv_order, tv_line):
        by_key = {hold.key: hold for hold in holds_for(datamap, marte, row, TODAY)}
        assert set(by_key) == {"bookkeeping_no", "complaint_period_durable_no", "open_complaint"}
        # The open complaint holds the order it is about and that order's lines.
        assert by_key["open_complaint"].on == ("shop_complaints", complaint.key)
        assert by_key["open_complaint"].until is None
        # The television's line (durable) holds its order: delivered 19 Aug 2026 + 5 years.
        assert by_key["complaint_period_durable_no"].until == date(2031, 8, 19)
        assert by_key["complaint_period_durable_no"].on == ("shop_order_lines", tv_line.key)
    for order in rows(marte, "shop_orders"):
        if order.key != tv_order.key:
            # Headphones and a cable: a 2-year complaint period from Sep 2024, over by now.
            keys = [hold.key for hold in holds_for(datamap, marte, order, TODAY)]
            assert keys == ["bookkeeping_no"]


def test_case_holds(datamap: DataMap, engines: dict[str, Engine]) -> None:
    marte = person(datamap, engines, "shop_customer")
    order = rows(marte, "shop_orders")[0]
    line = next(r for r in rows(marte, "shop_order_lines") if r.value("order_id") == order.key)
    record = CaseHold(
        "lit-7", "litigation", "Dispute over delivery", "record", "shop_orders", str(order.key)
    )
    # A record hold reaches the record and the rows under it, not its siblings.
    for row in (order, line):
        assert [h.key for h in holds_for(datamap, marte, row, TODAY, [record])] == [
            "bookkeeping_no",
            "case:lit-7",
        ]
    [other] = [r for r in rows(marte, "shop_orders") if r.key != order.key][:1]
    assert "case:lit-7" not in [h.key for h in holds_for(datamap, marte, other, TODAY, [record])]
    released = CaseHold(
        "lit-8",
        "litigation",
        "Settled",
        "person",
        released_at=datetime(2026, 11, 23, 15, 0, tzinfo=UTC),
    )
    assert holds_for(datamap, marte, other, TODAY, [released]) == holds_for(
        datamap, marte, other, TODAY
    )


# --- the map decides: Sweden, another fiscal year -------------------------------------------------


def test_swedish_bookkeeping_by_changing_only_the_map(engines: dict[str, Engine]) -> None:
    swedish = edited_map(('[settings]\njurisdiction = "NO"', '[settings]\njurisdiction = "SE"'))
    marte = person(swedish, engines, "shop_customer")
    receipt = rows(marte, "billing_invoices")[0]  # issued 15 Sep 2024
    outcome = retention_for(swedish, marte, receipt)
    # Seven years, "till och med det sjunde året" after the calendar year 2024 ended.
    assert outcome is not None
    assert (outcome.rule, outcome.ends_on) == ("bookkeeping_se", date(2031, 12, 31))
    assert [(h.key, h.until) for h in holds_for(swedish, marte, receipt, TODAY)] == [
        ("bookkeeping_se", date(2031, 12, 31))
    ]


def test_bookkeeping_period_and_fiscal_year_are_map_settings(engines: dict[str, Engine]) -> None:
    # Only the Norwegian hold's period and count start change: the Swedish reading, 7 years.
    seven = edited_map(
        (
            'period = "P5Y"\ncounts_from = "end_of_fiscal_year"\n\n[holds.bookkeeping_se]',
            'period = "P7Y"\ncounts_from = "end_of_calendar_year_of_fiscal_year_end"\n\n'
            "[holds.bookkeeping_se]",
        )
    )
    marte = person(seven, engines, "shop_customer")
    receipt = rows(marte, "billing_invoices")[0]
    assert [(h.key, h.until) for h in holds_for(seven, marte, receipt, TODAY)] == [
        ("bookkeeping_no", date(2031, 12, 31))
    ]
    # A fiscal year ending 30 June: 15 Sep 2024 falls in the year ending 30 Jun 2025.
    june = edited_map(('fiscal_year_end = "12-31"', 'fiscal_year_end = "06-30"'))
    marte = person(june, engines, "shop_customer")
    receipt = rows(marte, "billing_invoices")[0]
    assert [(h.key, h.until) for h in holds_for(june, marte, receipt, TODAY)] == [
        ("bookkeeping_no", date(2030, 6, 30))
    ]
    assert retention_for(june, marte, receipt).ends_on == date(2030, 6, 30)  # type: ignore[union-attr]


# --- plain words ----------------------------------------------------------------------------------


def test_wording(datamap: DataMap, engines: dict[str, Engine]) -> None:
    marte = person(datamap, engines, "shop_customer")
    receipt = rows(marte, "billing_invoices")[0]
    [hold] = holds_for(datamap, marte, receipt, TODAY)
    assert describe(hold, "nb") == (
        "Oppbevares til 31. des. 2029 etter bokføringsloven § 13 andre ledd"
    )
    assert describe(hold, "en") == (
        "Kept until 31 Dec 2029 under Norwegian Bookkeeping Act section 13(2)"
    )
    assert describe(hold, "sv") == (
        "Sparas till 31 dec. 2029 enligt norska bokföringslagen (bokføringsloven) § 13 "
        "andra stycket"
    )
    [complaint] = rows(marte, "shop_complaints")
    [open_hold] = holds_for(datamap, marte, complaint, TODAY)
    assert describe(open_hold, "en") == (
        "Kept while the case is open (Open complaint, GDPR article 17(3)(e))"
    )
    assert describe(open_hold, "nb") == (
        "Oppbevares så lenge saken er åpen (Åpen reklamasjon, personvernforordningen artikkel 17 "
        "nr. 3 bokstav e)"
    )
    outcome = retention_for(datamap, marte, receipt)
    assert outcome is not None
    assert describe(outcome, "en") == (
        "Erased after 31 Dec 2029 (Bookkeeping records (Norway), Norwegian Bookkeeping Act "
        "section 13(2))"
    )
    case = ActiveHold("case:x", *_litigation_texts(), until=None, source="case", on=("", None))
    assert describe(case, "sv") == (
        "Sparas tills spärren hävs (Rättstvist, dataskyddsförordningen artikel 17.3 e)"
    )


def test_a_row_no_rule_ends_says_so_in_the_language_asked_for(
    datamap: DataMap, engines: dict[str, Engine]
) -> None:
    # The demo map gives every table a rule: take the customers' rule and holds away.
    table = datamap.tables["crm_customers"].model_copy(update={"retention": (), "holds": ()})
    bare = datamap.model_copy(update={"tables": {**datamap.tables, "crm_customers": table}})
    marte = person(bare, engines, "shop_customer")
    [customer] = rows(marte, "crm_customers")
    assert retention_for(bare, marte, customer) is None
    assert holds_for(bare, marte, customer, TODAY) == []
    # Whatever the language of the current request (bokmål by default): the one asked for.
    assert kept_text(bare, marte, customer, TODAY, "sv") == "Ingen bestämd tid"
    assert kept_text(bare, marte, customer, TODAY, "en") == "No set time"
    assert kept_text(bare, marte, customer, TODAY, "de") == "No set time"


def _litigation_texts() -> tuple:
    from portal.datamap.retention import CASE_HOLD_TEXTS

    return CASE_HOLD_TEXTS["litigation"]


# --- the sweep ------------------------------------------------------------------------------------


def _count(engine: Engine, sql: str) -> int:
    with engine.connect() as connection:
        return connection.execute(text(sql)).scalar_one()


def test_sweep_dry_run(datamap: DataMap, engines: dict[str, Engine], demo: Engine) -> None:
    report = due_for_retention(datamap, engines, TODAY)
    counts = report.counts()
    # Calls and e-mails: two years after the contact, so those before 24 Nov 2024 are due.
    assert counts[("contact_calls", "customer_service_log")] == _count(
        demo, "SELECT count(*) FROM contact_calls WHERE started_at < '2024-11-24'"
    )
    assert counts[("contact_emails", "customer_service_log")] == _count(
        demo, "SELECT count(*) FROM contact_emails WHERE received_at < '2024-11-24'"
    )
    # Only Geir Bakken's old case closed more than three years ago (24 Nov 2022).
    geir = person(datamap, engines, "two_collection_cases")
    old_case = rows(geir, "collection_cases")[0]
    assert old_case.value("closed_on") == date(2022, 11, 24)
    [cases] = [item for item in report.due if item.table == "collection_cases"]
    assert (cases.rule, cases.then, cases.keys) == ("collection_link", "anonymise", (old_case.key,))
    # Bookkeeping records are kept by their hold exactly as long as their rule allows.
    assert not [item for item in report.due if item.rule.startswith("bookkeeping")]
    assert report.held == ()
    # Bounded: a handful of queries per table, not one per row.
    assert report.queries < 4 * len(datamap.tables)
    assert report.describe("en")[0].endswith(
        "(Three years after the last sign-in, GDPR article 5(1)(e))."
    )
    # The same result whatever the chunk size.
    small = due_for_retention(datamap, engines, TODAY, chunk_size=7)
    assert (small.due, small.held) == (report.due, report.held)
    assert small.queries > report.queries


def test_sweep_respects_case_holds(datamap: DataMap, engines: dict[str, Engine]) -> None:
    geir = person(datamap, engines, "two_collection_cases")
    old_case = rows(geir, "collection_cases")[0]
    record = CaseHold(
        "c1", "authority_request", "Police request", "record", "collection_cases", old_case.key
    )
    report = due_for_retention(datamap, engines, TODAY, case_holds=[record])
    assert "collection_cases" not in [item.table for item in report.due]
    held = {(item.table, item.hold): item.keys for item in report.held}
    assert held[("collection_cases", "case:c1")] == (old_case.key,)
    # The case's events hang under it, so the record hold keeps them too.
    assert len(held[("collection_events", "case:c1")]) == 3
    on_person = CaseHold("c2", "litigation", "Lawsuit", "person")
    nid = EDGE_CASES_BY_KEY["two_collection_cases"].national_id
    report = due_for_retention(datamap, engines, TODAY, held_people={nid: [on_person]})
    assert "collection_cases" not in [item.table for item in report.due]
    assert report.describe("nb")[-1] == (
        "Hendelser i inkassosaker: 3 har passert lagringstiden, men oppbevares (Rettstvist, "
        "personvernforordningen artikkel 17 nr. 3 bokstav e)."
    )
