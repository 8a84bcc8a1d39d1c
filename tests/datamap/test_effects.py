"""`datamap/effects.py` says from the map what erasure may do; the live check trusts it. These
tests hold it to what the planner does: for every demo edge case, on days across the holds, each
step deletes, nulls or pseudonymises only where effects.py says it may."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy.engine import Engine

from portal.datamap import DataMap, DataMapError
from portal.datamap.effects import (
    Deletion,
    deletions,
    emptied_identifiers,
    outlives,
    pseudonym_columns,
)
from portal.demo import EDGE_CASES
from portal.workflows.erasure import plan_erasure
from tests.erasure_support import datamap, demo, edited_map, engines, person  # noqa: F401

DAYS = (date(2026, 11, 24), date(2028, 6, 1), date(2031, 1, 2), date(2036, 1, 2))


def test_the_planner_stays_within_what_effects_says(
    datamap: DataMap,  # noqa: F811 - a fixture
    engines: dict[str, Engine],  # noqa: F811 - a fixture
) -> None:
    seen = {"delete": 0, "null": 0, "pseudonymise": 0}
    for case in EDGE_CASES:
        found = person(datamap, engines, case.key)
        for day in DAYS:
            for step in plan_erasure(datamap, found, day).steps:
                spec = datamap.tables[step.table]
                if step.delete_row:
                    assert Deletion(erasure=True) in deletions(datamap, step.table), step
                    seen["delete"] += 1
                nulls = {c for c, f in spec.fields.items() if f.erasure == "null"}
                assert set(step.null) <= nulls | set(emptied_identifiers(datamap, step.table))
                assert set(step.pseudonymise) <= set(pseudonym_columns(datamap, step.table))
                seen["null"] += bool(step.null)
                seen["pseudonymise"] += bool(step.pseudonymise)
    assert all(seen.values()), seen  # each kind of change was exercised


def test_what_deletes_a_tables_rows(datamap: DataMap) -> None:  # noqa: F811 - a fixture
    assert deletions(datamap, "crm_customers") == [
        Deletion(erasure=True),
        Deletion(erasure=False, rule="customer_relationship_ended"),
    ]
    # Orders are pseudonymised by an erasure, but the sweep deletes them after bookkeeping;
    # Swedish rules do not apply to a Norwegian company.
    assert deletions(datamap, "shop_orders") == [Deletion(erasure=False, rule="bookkeeping_no")]
    assert deletions(datamap, "collection_cases") == []  # anonymised, never deleted


def test_rows_that_may_outlive_the_row_they_point_at(
    datamap: DataMap,  # noqa: F811 - a fixture
) -> None:
    erasure = Deletion(erasure=True)
    sweep = Deletion(erasure=False, rule="bookkeeping_no")
    # A credit check is kept under the anti-money-laundering hold, which covers its customer.
    assert outlives(datamap, "crm_credit_checks", "customer_id", "crm_customers", erasure) is None
    # Without that cover, the customer's row would be deleted under it.
    uncovered = edited_map(
        (
            '{ hold = "aml_no", from = "crm_customers.relationship_ended_on", '
            'covers = ["crm_customers"] }',
            '{ hold = "aml_no", from = "crm_customers.relationship_ended_on" }',
        )
    )
    found = outlives(uncovered, "crm_credit_checks", "customer_id", "crm_customers", erasure)
    assert found is not None and "hold 'aml_no'" in found.reason
    # Order lines are swept by the same rule from the same date as their order.
    assert outlives(datamap, "shop_order_lines", "order_id", "shop_orders", sweep) is None
    # A complaint whose own rule outlasts its order's would be kept under a deleted order.
    complaint_rules = (
        '  { rule = "complaint_records", from = "closed_on", when_not_null = ["closed_on"] },\n'
    )
    bookkeeping = '  { rule = "bookkeeping_no", from = "shop_orders.ordered_at" },\n'
    longer = edited_map((complaint_rules + bookkeeping, complaint_rules))
    found = outlives(longer, "shop_complaints", "order_id", "shop_orders", sweep)
    assert found is not None and "kept longer" in found.reason
    # Erasure keeps order lines (erasure keep): an erasure deleting orders would break them.
    kept = outlives(datamap, "shop_order_lines", "order_id", "shop_orders", erasure)
    assert kept is not None and "kept (no field says delete_row)" in kept.reason


def test_a_date_a_hold_counts_from_is_not_erased_on_the_rows_it_keeps() -> None:
    """Checked offline: a kept row's `null` fields are cleared at once, so a hold counting from
    one would seem never to begin when the deferred erasure judges the row again."""
    with pytest.raises(DataMapError) as refused:
        edited_map(
            (
                'relationship_ended_on = { category = "customer_relationship", origin = '
                '"company", erasure = "keep"',
                'relationship_ended_on = { category = "customer_relationship", origin = '
                '"company", erasure = "null"',
            )
        )
    assert refused.value.problems == [
        f"edited-datamap.toml: table 'crm_customers', field 'relationship_ended_on': hold "
        f"'{hold}' of table 'crm_credit_checks' counts from this date, but erasure 'null' "
        "clears it on the rows kept until then, so the hold would never end; use keep (the "
        "row's own erasure still deletes or anonymises it when the hold is over)"
        for hold in ("aml_no", "aml_se")
    ]
