"""Erasure plans on seeded demo people: the acceptance scenarios of the issue, exactly."""

# ruff: noqa: F811 - fixtures imported from tests.erasure_support are parameters here

from __future__ import annotations

import json
from datetime import UTC, date, datetime

from sqlalchemy.engine import Engine

from portal.datamap import Collection, DataMap
from portal.datamap.retention import CaseHold
from portal.workflows.erasure import (
    ErasurePlan,
    Phase,
    Step,
    describe_plan,
    plan_erasure,
    pseudonym,
)
from tests.erasure_support import TODAY, datamap, demo, engines, person  # noqa: F401 - fixtures

ORDER_FIELDS = (("account_id",), ("email", "delivery_name", "delivery_street"))
INVOICE_FIELDS = ((), ("customer_number", "billing_name", "billing_address"))
RECEIPT_PAYMENT_FIELDS = (("card_last4",), ("payer_name",))  # paid by card
INVOICE_PAYMENT_FIELDS = ((), ("payer_name",))  # paid by bank transfer: no card number


def outline(plan: ErasurePlan) -> dict[str, list[tuple]]:
    """table -> (action, delete_row, (null, pseudonymise), until, then, reason keys) by key."""
    found: dict[str, list[tuple]] = {}
    for step in plan.steps:
        found.setdefault(step.table, []).append(
            (
                step.action,
                step.delete_row,
                (step.null, step.pseudonymise),
                step.until,
                step.then,
                tuple(reason.key for reason in step.reasons),
            )
        )
    return found


ERASE_ROW = ("erase", True, ((), ()), None, None, ())


def test_scenario_1_shop_customer(datamap: DataMap, engines: dict[str, Engine]) -> None:
    """Receipts from two years ago, an open complaint, a newsletter and calls."""
    marte = person(datamap, engines, "shop_customer")
    plan = plan_erasure(datamap, marte, TODAY)
    # Orders of 15 and 25 Sep 2024: bookkeeping, 5 years after the fiscal year ends
    # (31 Dec 2024) = 31 Dec 2029; their 2-year complaint period ended in Sep 2026.
    old = date(2029, 12, 31)
    # The television of 16 Aug 2026: 31 Dec 2031 under bookkeeping, delivered 19 Aug 2026 so
    # its 5-year complaint period runs to 19 Aug 2031, and the open complaint holds it (and its
    # order) while open: no end date, so it is kept as it is.
    tv = ("bookkeeping_no", "complaint_period_durable_no", "open_complaint")
    assert outline(plan) == {
        "crm_customers": [ERASE_ROW],
        "crm_addresses": [ERASE_ROW] * marte.count("crm_addresses"),
        "shop_accounts": [ERASE_ROW],
        "shop_orders": [
            ("retain", False, ORDER_FIELDS, old, "erase", ("bookkeeping_no",)),
            ("retain", False, ORDER_FIELDS, old, "erase", ("bookkeeping_no",)),
            ("retain", False, ((), ()), None, "erase", tv),
        ],
        "shop_order_lines": [
            ("retain", False, ((), ()), old, "erase", ("bookkeeping_no",)),
            ("retain", False, ((), ()), old, "erase", ("bookkeeping_no",)),
            ("retain", False, ((), ()), None, "erase", tv),
        ],
        "shop_complaints": [("retain", False, ((), ()), None, "erase", ("open_complaint",))],
        "billing_invoices": [
            ("retain", False, INVOICE_FIELDS, old, "erase", ("bookkeeping_no",)),
            ("retain", False, INVOICE_FIELDS, old, "erase", ("bookkeeping_no",)),
            ("retain", False, INVOICE_FIELDS, date(2031, 12, 31), "erase", ("bookkeeping_no",)),
        ],
        "billing_payments": [
            ("retain", False, RECEIPT_PAYMENT_FIELDS, old, "erase", ("bookkeeping_no",)),
            ("retain", False, RECEIPT_PAYMENT_FIELDS, old, "erase", ("bookkeeping_no",)),
            (
                "retain",
                False,
                RECEIPT_PAYMENT_FIELDS,
                date(2031, 12, 31),
                "erase",
                ("bookkeeping_no",),
            ),
        ],
        "contact_calls": [ERASE_ROW, ERASE_ROW],
        "marketing_newsletter": [ERASE_ROW],
    }
    assert [(s.table, s.erase, s.anonymise, s.retain) for s in plan.tables][-2:] == [
        ("contact_calls", 2, 0, 0),
        ("marketing_newsletter", 1, 0, 0),
    ]
    assert plan.holds_anything
    assert describe_plan(plan, "en")[3:] == [
        "Orders: 2 will be kept until 31 Dec 2029 under Norwegian Bookkeeping Act section 13(2), "
        "then erased.",
        "Orders: 1 will be kept while the case is open (Open complaint, GDPR article 17(3)(e)).",
        "Order lines: 2 will be kept until 31 Dec 2029 under Norwegian Bookkeeping Act section "
        "13(2), then erased.",
        "Order lines: 1 will be kept while the case is open (Open complaint, GDPR article "
        "17(3)(e)).",
        "Complaints: 1 will be kept while the case is open (Open complaint, GDPR article "
        "17(3)(e)).",
        "Invoices and receipts: 2 will be kept until 31 Dec 2029 under Norwegian Bookkeeping Act "
        "section 13(2), then erased.",
        "Invoices and receipts: 1 will be kept until 31 Dec 2031 under Norwegian Bookkeeping Act "
        "section 13(2), then erased.",
        "Payments: 2 will be kept until 31 Dec 2029 under Norwegian Bookkeeping Act section "
        "13(2), then erased.",
        "Payments: 1 will be kept until 31 Dec 2031 under Norwegian Bookkeeping Act section "
        "13(2), then erased.",
        "Calls with customer service: 2 will be erased.",
        "Newsletter: 1 will be erased.",
    ]
    assert describe_plan(plan, "nb")[:4] == [
        "Kundekort: 1 vil bli slettet.",
        f"Adressehistorikk: {marte.count('crm_addresses')} vil bli slettet.",
        "Konto i nettbutikken: 1 vil bli slettet.",
        "Ordrer: 2 vil bli oppbevart til 31. des. 2029 etter bokføringsloven § 13 andre ledd, og "
        "deretter slettet.",
    ]


def test_the_words_follow_the_plans_phase(datamap: DataMap, engines: dict[str, Engine]) -> None:
    """Will be (planned), was (carried out: kept rows are kept now), would have been (never)."""
    plan = plan_erasure(datamap, person(datamap, engines, "shop_customer"), TODAY)
    done = describe_plan(plan, "en", Phase.carried_out)
    assert done[0] == "Customer record: 1 was erased."
    assert "Calls with customer service: 2 were erased." in done
    assert (
        "Orders: 2 are kept until 31 Dec 2029 under Norwegian Bookkeeping Act section 13(2), "
        "then erased." in done
    )
    assert "Orders: 1 is kept while the case is open (Open complaint, GDPR article 17(3)(e))." in (
        done
    )
    never = describe_plan(plan, "en", Phase.never)
    assert never[0] == "Customer record: 1 would have been erased."
    assert (
        "Orders: 2 would have been kept until 31 Dec 2029 under Norwegian Bookkeeping Act "
        "section 13(2), then erased." in never
    )
    assert describe_plan(plan, "nb", Phase.carried_out)[0] == "Kundekort: 1 ble slettet."
    assert describe_plan(plan, "nb", Phase.never)[0] == "Kundekort: 1 ville blitt slettet."
    assert describe_plan(plan, "sv", Phase.carried_out)[0].endswith(": 1 raderades.")
    assert describe_plan(plan, "sv", Phase.never)[0].endswith(": 1 skulle ha raderats.")
    # One line per outcome in every phase; no phase leaks the words of another.
    assert len(done) == len(never) == len(describe_plan(plan, "en"))
    assert not any("will be" in line for line in done + never)
    anonymised = plan_erasure(datamap, person(datamap, engines, "two_collection_cases"), TODAY)
    words = {
        phase: " ".join(describe_plan(anonymised, "en", phase))
        for phase in (Phase.planned, Phase.carried_out, Phase.never)
    }
    assert "will be anonymised and kept without any link to you" in words[Phase.planned]
    assert "anonymised and is kept without any link to you" in words[Phase.carried_out]
    assert "would have been anonymised" in words[Phase.never]
    assert "would have been kept until" in words[Phase.never]


def test_scenario_2_debtor_with_two_cases(datamap: DataMap, engines: dict[str, Engine]) -> None:
    """One case closed four years ago (24 Nov 2022), one a year ago (24 Nov 2025)."""
    geir = person(datamap, engines, "two_collection_cases")
    plan = plan_erasure(datamap, geir, TODAY)
    # The old case's hold ended 24 Nov 2025 (closed + 3 years): its personal link is
    # anonymised, its events with it. The recent one is kept until 24 Nov 2028, pseudonymised,
    # then anonymised; its events are covered by the same hold.
    recent = date(2028, 11, 24)
    link = ("collection_link",)
    held = ("closed_collection_case",)
    # Invoices issued 27 Jun 2022 and 2025 (30 days before each case opened): bookkeeping to
    # 31 Dec 2027 and 31 Dec 2030; paid by transfer on their due dates, 11 Jul.
    assert outline(plan) == {
        "crm_customers": [ERASE_ROW],
        "crm_addresses": [ERASE_ROW] * geir.count("crm_addresses"),
        "billing_invoices": [
            ("retain", False, INVOICE_FIELDS, date(2027, 12, 31), "erase", ("bookkeeping_no",)),
            ("retain", False, INVOICE_FIELDS, date(2030, 12, 31), "erase", ("bookkeeping_no",)),
        ],
        "billing_payments": [
            (
                "retain",
                False,
                INVOICE_PAYMENT_FIELDS,
                date(2027, 12, 31),
                "erase",
                ("bookkeeping_no",),
            ),
            (
                "retain",
                False,
                INVOICE_PAYMENT_FIELDS,
                date(2030, 12, 31),
                "erase",
                ("bookkeeping_no",),
            ),
        ],
        "collection_cases": [
            (
                "anonymise",
                False,
                (("debtor_national_id", "debtor_name", "debtor_address"), ("invoice_number",)),
                None,
                None,
                ("anonymise",),
            ),
            (
                "retain",
                False,
                (("debtor_name", "debtor_address"), ("invoice_number", "debtor_national_id")),
                recent,
                "anonymise",
                held,
            ),
        ],
        "collection_events": [("anonymise", False, ((), ()), None, None, link)] * 3
        + [("retain", False, ((), ()), recent, "anonymise", held)] * 3,
    }
    jobs = plan.deferred()
    assert list(jobs) == [date(2028, 1, 1), date(2028, 11, 25), date(2031, 1, 1)]
    assert [step.table for step in jobs[date(2028, 11, 25)]] == ["collection_cases"] + [
        "collection_events"
    ] * 3


def test_scenario_3_hold_ended_yesterday_keeps_nothing(
    datamap: DataMap, engines: dict[str, Engine]
) -> None:
    """Per Hansen's last hold: his credit check, 5 years after the relationship ended on
    24 Nov 2024 (anti-money-laundering) = 24 Nov 2029, and with it his customer record, which
    the credit check points at (the hold covers it). Bookkeeping for his 2022 orders ended
    31 Dec 2027, their durable goods' complaint period in Oct 2027."""
    per = person(datamap, engines, "ended_relationship")
    last_day = plan_erasure(datamap, per, date(2029, 11, 24))
    assert [(s.table, s.until) for s in last_day.steps if s.action == "retain"] == [
        ("crm_customers", date(2029, 11, 24)),
        ("crm_credit_checks", date(2029, 11, 24)),
    ]
    day_after = plan_erasure(datamap, per, date(2029, 11, 25))
    assert not day_after.holds_anything
    assert {step.action for step in day_after.steps} == {"erase"}
    # A DPO's case hold released yesterday keeps nothing either.
    released = CaseHold(
        "lit-1",
        "litigation",
        "Settled",
        "person",
        set_at=datetime(2026, 1, 5, 9, 0, tzinfo=UTC),
        released_at=datetime(2026, 11, 23, 16, 30, tzinfo=UTC),
    )
    kari = person(datamap, engines, "ordinary")
    with_released = plan_erasure(datamap, kari, TODAY, [released])
    without = plan_erasure(datamap, kari, TODAY)
    assert with_released.steps == without.steps
    assert with_released.case_holds == ()


def test_scenario_4_litigation_hold_overrides_everything(
    datamap: DataMap, engines: dict[str, Engine]
) -> None:
    kari = person(datamap, engines, "ordinary")
    hold = CaseHold(
        "lit-2",
        "litigation",
        "Lawsuit about a delivery",
        "person",
        set_at=datetime(2026, 11, 1, 9, 0, tzinfo=UTC),
        review_at=date(2027, 5, 1),
    )
    plan = plan_erasure(datamap, kari, TODAY, [hold])
    total = sum(len(rows) for rows in kari.tables.values())
    assert len(plan.steps) == total > 10
    for step in plan.steps:
        # Kept as it is (no pseudonym, nothing nulled: evidence is not altered) until released.
        assert (step.action, step.until, step.null, step.pseudonymise) == ("retain", None, (), ())
        assert "case:lit-2" in [reason.key for reason in step.reasons]
    assert plan.case_holds == ("lit-2",)
    assert describe_plan(plan, "en")[0] == (
        "Customer record: 1 will be kept until the hold is released (Litigation, GDPR article "
        "17(3)(e))."
    )
    assert describe_plan(plan, "en", Phase.carried_out)[0] == (
        "Customer record: 1 is kept until the hold is released (Litigation, GDPR article 17(3)(e))."
    )
    released = CaseHold(**{**hold.__dict__, "released_at": datetime(2026, 11, 20, tzinfo=UTC)})
    assert (
        plan_erasure(datamap, kari, TODAY, [released]).steps
        == plan_erasure(datamap, kari, TODAY).steps
    )


def test_plan_round_trips_through_json(datamap: DataMap, engines: dict[str, Engine]) -> None:
    for key in ("shop_customer", "two_collection_cases", "ordinary"):
        collection = person(datamap, engines, key)
        plan = plan_erasure(datamap, collection, TODAY)
        text = json.dumps(plan.to_dict(), sort_keys=True)
        again = ErasurePlan.from_dict(json.loads(text))
        assert again == plan
        assert json.dumps(again.to_dict(), sort_keys=True) == text
        assert again.datamap_version == datamap.version


def test_plans_are_deterministic(datamap: DataMap, engines: dict[str, Engine]) -> None:
    first = plan_erasure(datamap, person(datamap, engines, "shop_customer"), TODAY)
    second = plan_erasure(datamap, person(datamap, engines, "shop_customer"), TODAY)
    assert json.dumps(first.to_dict()) == json.dumps(second.to_dict())


def test_empty_plan_and_withheld(datamap: DataMap, engines: dict[str, Engine]) -> None:
    nobody = plan_erasure(datamap, person(datamap, engines, "nothing_held"), TODAY)
    assert (nobody.steps, nobody.tables) == ((), ())
    assert describe_plan(nobody, "sv") == ["Vi har inga uppgifter om dig."]
    anders = person(datamap, engines, "reused_email_a")
    plan = plan_erasure(datamap, anders, TODAY)
    # Rows under the shared family address are not certainly his: counted, left out.
    assert plan.withheld == {"marketing_newsletter": 1, "shop_orders": 1}
    assert not any(step.table == "marketing_newsletter" for step in plan.steps)


def test_every_row_gets_exactly_one_step(datamap: DataMap, engines: dict[str, Engine]) -> None:
    collection: Collection = person(datamap, engines, "frequent_buyer")
    plan = plan_erasure(datamap, collection, TODAY)
    expected = sorted((t, r.key) for t, rows in collection.tables.items() for r in rows)
    assert sorted((step.table, step.key) for step in plan.steps) == expected
    assert all(isinstance(step, Step) for step in plan.steps)


def test_pseudonym_is_keyed_and_stable() -> None:
    key = b"k" * 32
    assert pseudonym(key, "email", "Marte.Lund@Example.com", "NO") == pseudonym(
        key, "email", "marte.lund@example.com", "NO"
    )
    assert pseudonym(key, "email", "a@example.com", "NO") != pseudonym(
        b"x" * 32, "email", "a@example.com", "NO"
    )
    assert len(pseudonym(key, "national_id", "07038510007", "NO")) == 64
