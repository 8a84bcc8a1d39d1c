"""Who an identifier leads to: the other way round from ``identity.resolve``, for the caller
look-up (portal/workflows/caller_lookup.py).

Customer service types what a caller gives (a phone number, an e-mail address, a national ID, a
customer number). ``holders`` finds the company's rows that carry it, compared as the company
typed it (matching.py), and climbs from them to the people they may be: up the links to the
rows they hang under (a call to its customer, an order to its account), and along the customer
numbers found on the way (an account to its customer record). The national IDs on those rows
are the candidates; every identifier seen on them is returned too, so that the portal can find
people who proved one of them (a map may hold no national IDs at all).

Contact identifiers found on the way (another phone, another address) are never followed: they
may be shared, and would lead to other people. The candidates are only candidates: the caller
look-up resolves each as /me would and keeps those whose own rows carry the value. Only the
columns that link a row are read, never a row's other fields.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import bindparam, column, select, table
from sqlalchemy.engine import Engine

from portal.datamap.identity import DEFAULT_CHUNK, Resolution, among, chunks
from portal.datamap.matching import column_expression, normalise, searched_values
from portal.datamap.model import DataMap
from portal.datamap.paging import read
from portal.datamap.sources import SourceConnections

# A guard: an identifier on more rows than this (a switchboard number, a shared mailbox) stops
# the climb there; the look-up then has enough candidates to ask for another identifier.
MAX_ROWS = 2000


@dataclass(frozen=True)
class Holders:
    """What the rows under one identifier lead to."""

    rows: int  # rows that carry the identifier itself
    national_ids: tuple[str, ...]  # on the rows it leads to, as stored (trimmed), sorted
    # kind -> values (normalised as matching.py compares them) on the rows it leads to
    identifiers: dict[str, tuple[str, ...]] = field(default_factory=dict)
    capped: bool = False  # MAX_ROWS was reached: there may be more


def holders(datamap: DataMap, engines: Mapping[str, Engine], kind: str, value: str) -> Holders:
    """The rows carrying ``value`` (an identifier of ``kind``, normalised: a phone number in
    E.164, an e-mail address lower-cased) and what they lead to (see the module docstring)."""
    with SourceConnections(engines) as connections:
        return _Climb(datamap, connections).run(kind, value)


def person_name(datamap: DataMap, engines: Mapping[str, Engine], resolution: Resolution) -> str:
    """The person's name as the first table with a ``person_name`` (in the map's order) holds
    it on one of their rows, a row carrying their national ID first; "" when none does. One
    row is read."""
    for name in datamap.table_order():
        spec = datamap.tables[name]
        keys = resolution.keys.get(name, ())
        if not spec.person_name or not keys:
            continue
        via = resolution.via.get(name, {})
        first = sorted(keys, key=lambda key: via.get(key) != "national_id")[0]
        for row in read(datamap, engines, resolution, {name: [first]}).tables[name]:
            parts = (row.value(column) for column in spec.person_name)
            text = " ".join(str(part).strip() for part in parts if part not in (None, ""))
            if text:
                return text
    return ""


def address_fields(datamap: DataMap) -> frozenset[tuple[str, str]]:
    """(table, column) of every field the map marks as an address (``address = true``)."""
    return frozenset(
        (name, column)
        for name, spec in datamap.tables.items()
        for column, field_spec in spec.fields.items()
        if field_spec.address
    )


class _Climb:
    def __init__(self, datamap: DataMap, connections: SourceConnections) -> None:
        self.map = datamap
        self.connections = connections
        self.region = datamap.settings.region
        self.seen: dict[str, set[Any]] = defaultdict(set)  # table -> keys read
        self.searched: set[tuple[str, str]] = set()  # (kind, value) searched for
        self.fetched: set[tuple[str, str, Any]] = set()  # (table, column, value) climbed to
        self.found: dict[str, set[str]] = defaultdict(set)
        self.rows = 0
        self.capped = False
        # Per table: its key, its link columns, and the columns its children's links point at.
        self.columns: dict[str, list[str]] = defaultdict(list)
        for name, spec in datamap.tables.items():
            self.columns[name] += [spec.key, *(link.column for link in spec.links)]
            for link in spec.parent_links:
                self.columns[link.table or ""].append(datamap.parent_key(link))
        self.columns = defaultdict(
            list, {n: list(dict.fromkeys(c)) for n, c in self.columns.items()}
        )

    def run(self, kind: str, value: str) -> Holders:
        self.searched.add((kind, value))
        self.rows = len(self._climb(self._search(kind, {value})))
        national_ids = tuple(sorted(self.found.pop("national_id", set())))
        return Holders(
            rows=self.rows,
            national_ids=national_ids,
            identifiers={k: tuple(sorted(v)) for k, v in self.found.items() if v},
            capped=self.capped,
        )

    def _climb(self, first: list[tuple[str, dict[str, Any]]]) -> list[tuple[str, dict[str, Any]]]:
        """Learn from the rows, then from the rows they lead to, until nothing new is found."""
        frontier = first
        while frontier and not self.capped:
            parents: dict[tuple[str, str], set[Any]] = defaultdict(set)
            customer_numbers: set[str] = set()
            for name, row in frontier:
                for link in self.map.tables[name].links:
                    found = row.get(link.column)
                    if found is None or str(found).strip() == "":
                        continue
                    if link.table is not None:
                        target = (link.table, self.map.parent_key(link), found)
                        if target not in self.fetched:
                            self.fetched.add(target)
                            parents[(link.table, self.map.parent_key(link))].add(found)
                        continue
                    normal = normalise(link.identifier or "", found, self.region)
                    self.found[link.identifier or ""].add(normal)
                    anchor = ("customer_number", normal)
                    if link.identifier == "customer_number" and anchor not in self.searched:
                        self.searched.add(anchor)
                        customer_numbers.add(normal)
            frontier = []
            for (name, column_name), values in parents.items():
                frontier += self._read(name, column_name, values)
            if customer_numbers:
                frontier += self._search("customer_number", customer_numbers)
        return first

    def _search(self, kind: str, values: set[str]) -> list[tuple[str, dict[str, Any]]]:
        """Rows of every table linking by ``kind`` whose column holds one of ``values``."""
        found = []
        searched = searched_values(kind, values, self.region)
        for name, spec in self.map.tables.items():
            for link in spec.identifier_links:
                if link.identifier == kind:
                    found += self._read(name, link.column, searched, kind=kind)
        return found

    def _read(
        self, name: str, column_name: str, values: Iterable[Any], *, kind: str = ""
    ) -> list[tuple[str, dict[str, Any]]]:
        """The link columns of ``name``'s rows whose ``column_name`` is among ``values``
        (compared as identifiers of ``kind`` are), each row once."""
        spec = self.map.tables[name]
        names = self.columns[name]
        clause = table(
            self.map.db_table(name),
            *(column(c) for c in names),
            schema=self.map.sources[spec.source].schema_,
        )
        connection = self.connections.to(spec.source)
        target = column_expression(kind, clause.c[column_name])
        found = []
        for chunk in chunks(values, DEFAULT_CHUNK):
            if kind:
                where = target.in_(bindparam("values", expanding=True))
                rows = connection.execute(select(*clause.c).where(where), {"values": chunk})
            else:  # values read from the company's own columns: of the column's type
                rows = connection.execute(select(*clause.c).where(among(connection, target, chunk)))
            for values_row in rows.all():
                row = dict(zip(names, values_row, strict=True))
                key = row[spec.key]
                if key in self.seen[name]:
                    continue
                self.seen[name].add(key)
                found.append((name, row))
                if sum(len(keys) for keys in self.seen.values()) >= MAX_ROWS:
                    self.capped = True
                    return found
        return found
