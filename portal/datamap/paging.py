"""A person's rows a page at a time, for the "my data" page.

The resolution (identity.py) already holds every one of the person's rows in outline: its key,
its link columns and the date it is shown by. That is enough to count a table, put it in order
and pick a page without reading the table; only the rows shown are then read in full, with the
rows their retention needs (retention.holds_for reads the rows a row hangs under and the rows
whose holds cover it). A person with 2,000 rows thus costs the resolution plus about a page per
table, not 2,000 rows. Exports and erasure read everything, through collect.stream.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Engine

from portal.datamap.collect import Collection, may_hold_more, read_rows_on
from portal.datamap.identity import DEFAULT_CHUNK, Resolution
from portal.datamap.model import DataMap, Link
from portal.datamap.order import newest_first
from portal.datamap.retention import nearest_common, table_ancestors
from portal.datamap.sources import SourceConnections

RowId = tuple[str, Any]


@dataclass(frozen=True)
class Section:
    """One table's rows, every key in display order: newest first (order.py)."""

    table: str
    keys: tuple[Any, ...]
    # A history (addresses, consents) is shown as a timeline.
    timeline: bool

    def page(self, number: int, size: int) -> tuple[int, int, tuple[Any, ...]]:
        """(page number clamped to what exists, pages, the keys on that page)."""
        pages = page_count(len(self.keys), size)
        number = min(max(number, 1), pages)
        return number, pages, self.keys[(number - 1) * size : number * size]


def page_count(rows: int, size: int) -> int:
    """Pages of ``size`` rows for ``rows`` rows; an empty table is one (empty) page."""
    return max(1, -(-rows // size))


def sections(datamap: DataMap, resolution: Resolution) -> list[Section]:
    """The person's tables, in the map's order (parents first), each once with all its rows."""
    return [
        Section(
            name, newest_first(datamap, resolution, name), datamap.tables[name].timeline is not None
        )
        for name in datamap.table_order()
        if resolution.keys.get(name)
    ]


def with_relatives(
    datamap: DataMap, resolution: Resolution, shown: Mapping[str, Iterable[Any]]
) -> dict[str, set[Any]]:
    """The shown rows and every row their retention reads: the rows they hang under, the rows
    whose holds cover them, and the rows those hang under."""
    family = _Family(datamap, resolution)
    wanted = {(table, key) for table, keys in shown.items() for key in keys}
    for table in {table for table, _ in wanted}:
        wanted |= family.covering(table, {key for name, key in wanted if name == table})
    for row in list(wanted):
        wanted |= family.ancestors(row)
    found: dict[str, set[Any]] = {}
    for table, key in wanted:
        found.setdefault(table, set()).add(key)
    return found


class _Family:
    """Parents, ancestors and covering rows of the person's rows, from the resolution's outline."""

    def __init__(self, datamap: DataMap, resolution: Resolution) -> None:
        self.map = datamap
        self.outline = resolution.skeleton
        self._by_value: dict[tuple[str, str], dict[Any, list[Any]]] = {}
        self._ancestors: dict[RowId, frozenset[RowId]] = {}
        self._child_links: dict[str, list[tuple[str, Link]]] | None = None

    def _lookup(self, table: str, column: str) -> dict[Any, list[Any]]:
        index = self._by_value.get((table, column))
        if index is None:
            index = {}
            for key, values in self.outline.get(table, {}).items():
                index.setdefault(values[column], []).append(key)
            self._by_value[(table, column)] = index
        return index

    def ancestors(self, row: RowId) -> frozenset[RowId]:
        known = self._ancestors.get(row)
        if known is None:
            table, key = row
            found: set[RowId] = set()
            values = self.outline[table][key]
            for link in self.map.tables[table].parent_links:
                value = values[link.column]
                if value is None:
                    continue
                parent_table = link.table or ""
                index = self._lookup(parent_table, self.map.parent_key(link))
                for parent in index.get(value, ()):
                    found.add((parent_table, parent))
                    found |= self.ancestors((parent_table, parent))
            known = self._ancestors[row] = frozenset(found)
        return known

    def covering(self, target: str, keys: set[Any]) -> set[RowId]:
        """Rows of other tables whose holds may cover these rows of ``target`` (a superset of
        what retention.holds_for finds: it also checks each hold's conditions)."""
        found: set[RowId] = set()
        shown = {(target, key) for key in keys}
        for source, spec in self.map.tables.items():
            if not any(target in ref.covers for ref in spec.holds):
                continue
            if target in table_ancestors(self.map, source):
                # Up: an order line's complaint period holds its order.
                found |= self.below(shown, source)
                continue
            # Sideways or down, through the nearest tables both hang under.
            common = set(nearest_common(self.map, source, target))
            anchors = {
                above for row in shown for above in self.ancestors(row) if above[0] in common
            }
            found |= {row for row in anchors if row[0] == source} | self.below(anchors, source)
        return found

    def below(self, rows: set[RowId], source: str) -> set[RowId]:
        """The rows of ``source`` that hang under any of ``rows``, any depth. Walks down from
        ``rows`` (a page's worth) rather than up from every row of ``source`` (all of them)."""
        path = table_ancestors(self.map, source) | {source}
        found: set[RowId] = set()
        frontier = rows
        while frontier:
            reached: set[RowId] = set()
            for table, key in frontier:
                values = self.outline[table][key]
                for child, link in self._children(table):
                    if child not in path:
                        continue
                    value = values[self.map.parent_key(link)]
                    if value is None:
                        continue
                    index = self._lookup(child, link.column)
                    reached.update((child, found_key) for found_key in index.get(value, ()))
            reached -= found
            found |= reached
            frontier = reached
        return {row for row in found if row[0] == source}

    def _children(self, table: str) -> list[tuple[str, Link]]:
        """The tables that link to ``table``, with their link."""
        if self._child_links is None:
            self._child_links = {}
            for name, spec in self.map.tables.items():
                for link in spec.parent_links:
                    self._child_links.setdefault(link.table or "", []).append((name, link))
        return self._child_links.get(table, [])


def read(
    datamap: DataMap,
    engines: Mapping[str, Engine],
    resolution: Resolution,
    wanted: Mapping[str, Iterable[Any]],
    chunk_size: int = DEFAULT_CHUNK,
) -> Collection:
    """These rows of the person, read in full: a Collection holding only them."""
    tables = {}
    with SourceConnections(engines) as connections:
        for name in datamap.table_order():
            mine = set(resolution.keys.get(name, ()))
            keys = tuple(sorted(key for key in wanted.get(name, ()) if key in mine))
            if not keys:  # no connection opened for a source with nothing to read
                tables[name] = ()
                continue
            connection = connections.to(datamap.tables[name].source)
            via = resolution.via.get(name, {})
            tables[name] = tuple(read_rows_on(connection, datamap, name, keys, via, chunk_size))
    return Collection(
        national_id=resolution.national_id,
        datamap_version=datamap.version,
        identifiers=resolution.identifiers,
        tables=tables,
        withheld=resolution.withheld,
        shared_identifiers=resolution.shared_identifiers,
        may_hold_more=may_hold_more(datamap),
        category_order=tuple(datamap.categories),
    )
