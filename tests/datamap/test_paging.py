"""/me reads a page per table, not every row: it must show exactly what reading everything shows."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

import pytest
from sqlalchemy.engine import Engine

from portal.datamap import Collection, DataMap, collect, resolve
from portal.datamap.paging import read, sections
from portal.datamap.retention import describe, holds_for, latest_until, retention_for
from portal.datamap.wording import format_field
from portal.demo import EDGE_CASES, EDGE_CASES_BY_KEY
from portal.views.my_data import PAGE_SIZE, build_page, table_page
from tests.conftest import DEMO_TODAY

CASES = [case.key for case in EDGE_CASES]


def expected_kept(datamap: DataMap, everything: Collection, row: Any, today: date) -> str:
    """The retention text as the page showed it when it read every row (the oracle)."""
    holds = holds_for(datamap, everything, row, today)
    if holds:
        until = latest_until(holds)
        return describe(next(hold for hold in holds if hold.until == until), "en")
    outcome = retention_for(datamap, everything, row)
    return describe(outcome, "en") if outcome else "No set time"


def expected_order(datamap: DataMap, rows: tuple[Any, ...]) -> list:
    """Newest first by the table's order_by (else timeline) date, newest key first on a tie
    and for tables without a date; rows without a date last."""
    spec = datamap.tables[rows[0].table]
    column = spec.order_by or spec.timeline
    if column is None:
        return sorted(rows, key=lambda row: row.key, reverse=True)

    def newest(row: Any) -> tuple[tuple[int, str], Any]:
        value = row.value(column)
        return ((0, "") if value is None else (1, value.isoformat()), row.key)

    return sorted(rows, key=newest, reverse=True)


class CountingReader:
    """paging.read, counting the rows it reads."""

    def __init__(self, datamap: DataMap, sources: Mapping[str, Engine], resolution) -> None:
        self.args = (datamap, sources, resolution)
        self.rows = 0

    def __call__(self, wanted: Mapping[str, Any]) -> Collection:
        found = read(*self.args, wanted)
        self.rows += sum(len(rows) for rows in found.tables.values())
        return found


@pytest.mark.parametrize("key", CASES)
def test_every_page_shows_what_reading_everything_shows(
    datamap: DataMap, demo_sources: dict[str, Engine], english: None, key: str
) -> None:
    national_id = EDGE_CASES_BY_KEY[key].national_id
    tz = datamap.controller.time_zone
    everything = collect(datamap, demo_sources, national_id)
    resolution = resolve(datamap, demo_sources, national_id)
    reader = CountingReader(datamap, demo_sources, resolution)
    page = build_page(datamap, resolution, reader, "en", DEMO_TODAY)

    # Each table once, in the map's order; the headline is the sum of the tables' counts.
    held = [name for name in datamap.table_order() if everything.tables[name]]
    assert [table.key for table in page.tables] == held
    assert page.total == sum(table.total for table in page.tables)
    assert page.total == sum(len(rows) for rows in everything.tables.values())
    assert [section.table for section in sections(datamap, resolution)] == held
    for first in page.tables:
        spec = datamap.tables[first.key]
        rows = expected_order(datamap, everything.tables[first.key])
        assert [column.name for column in first.columns] == spec.shown
        assert [field.name for field in first.fields] == list(spec.fields)
        for number in range(1, first.pages + 1):
            # Each page on its own, as the pager asks for it: it must read its own relatives.
            table = table_page(datamap, resolution, reader, first.key, number, "en", DEMO_TODAY)
            if number == 1:
                assert table == first
            assert table is not None and table.total == len(rows)
            on_page = rows[(number - 1) * PAGE_SIZE : number * PAGE_SIZE]
            assert [row.shown for row in table.rows] == [
                tuple(format_field(spec.fields[c], row.value(c), "en", tz) for c in spec.shown)
                for row in on_page
            ]
            assert [row.fields for row in table.rows] == [
                tuple((first.fields[i].label, format_field(item.spec, item.value, "en", tz))
                      for i, item in enumerate(row.fields))
                for row in on_page
            ]  # fmt: skip
            assert [row.kept for row in table.rows] == [
                expected_kept(datamap, everything, row, DEMO_TODAY) for row in on_page
            ]


def test_the_first_page_reads_a_page_per_table_not_every_row(
    datamap: DataMap, demo_sources: dict[str, Engine]
) -> None:
    buyer = EDGE_CASES_BY_KEY["frequent_buyer"].national_id
    resolution = resolve(datamap, demo_sources, buyer)
    reader = CountingReader(datamap, demo_sources, resolution)
    page = build_page(datamap, resolution, reader, "en", DEMO_TODAY)
    tables_shown = {table.key for table in page.tables}
    assert page.total > 700
    # A page per table, and what retention needs: each shown order's lines (two or so each).
    assert reader.rows <= len(tables_shown) * PAGE_SIZE * 3
    assert reader.rows < page.total / 2


def test_a_page_past_the_end_shows_the_last_page(
    datamap: DataMap, demo_sources: dict[str, Engine]
) -> None:
    buyer = EDGE_CASES_BY_KEY["frequent_buyer"].national_id
    resolution = resolve(datamap, demo_sources, buyer)
    reader = CountingReader(datamap, demo_sources, resolution)
    last = table_page(datamap, resolution, reader, "shop_orders", 999, "en", DEMO_TODAY)
    assert last is not None and last.page == last.pages > 1
    assert 0 < len(last.rows) <= PAGE_SIZE
    assert table_page(datamap, resolution, reader, "no_such_table", 1, "en", DEMO_TODAY) is None
