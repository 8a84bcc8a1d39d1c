"""Newest first, wherever a person reads their rows: /me, and the JSON, CSV and PDF of an export.

A table's rows are ordered by its date column, newest first: the map's ``order_by``, else its
``timeline`` (docs/datamap.md). Rows without a date come last; rows of the same date, and the
rows of a table with no date column, newest key first (keys are handed out in order). The
resolution's outline holds that column for every one of the person's rows
(identity._needed_columns), so a table is put in order without reading it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from portal.datamap.identity import Resolution
from portal.datamap.model import DataMap, TableSpec


def order_column(spec: TableSpec) -> str | None:
    """The date column a table's rows are ordered by, newest first (None: by key)."""
    return spec.order_by or spec.timeline


def newest_first_key(value: Any) -> tuple[int, str]:
    """A date as a sort key (with reverse=True, newest first): None sorts last; dates,
    datetimes and SQLite's ISO text compare as text."""
    if value is None:
        return (0, "")
    return (1, value.isoformat() if hasattr(value, "isoformat") else str(value))


def newest_first(datamap: DataMap, resolution: Resolution, table: str) -> tuple[Any, ...]:
    """The keys of the person's rows of ``table``, newest first, from the resolution's outline."""
    keys = resolution.keys.get(table, ())
    column = order_column(datamap.tables[table])
    if column is None:
        return tuple(reversed(keys))  # the resolution's keys ascend
    outline = resolution.skeleton[table]
    return tuple(
        sorted(keys, key=lambda key: (newest_first_key(outline[key][column]), key), reverse=True)
    )


def newest_first_rows(spec: TableSpec, rows: Iterable[Any]) -> list[Any]:
    """Rows already read (collect.Row), in the same order (the PDF report reads them whole)."""
    column = order_column(spec)
    if column is None:
        return sorted(rows, key=lambda row: row.key, reverse=True)
    return sorted(
        rows, key=lambda row: (newest_first_key(row.value(column)), row.key), reverse=True
    )
