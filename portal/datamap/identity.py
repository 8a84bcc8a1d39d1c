"""Whose rows are whose: from a national ID to the keys of every row that is the person's.

The rule (docs/datamap.md, "Identity"):

* The national ID proven at sign-in is the root.
* A row is *anchored* to the person when it carries their national ID, or a customer number found
  on an anchored row, or links (by a mapped foreign key, any depth) to an anchored row. A row that
  carries someone else's national ID or customer number is never the person's.
* Identifiers (customer numbers, e-mail addresses, phone numbers) are learnt only from anchored
  rows; those, and identifiers proven otherwise (``proven``), are followed further.
* A row with no anchor and no parent is *floating*: it is the person's when it carries one of
  their e-mail addresses or phone numbers, unless that value is also found on a row that is not
  theirs (a shared family phone, a reused address). Such rows are *withheld*: counted, not shown.

Every round issues at most one query per table, for all of its links at once (split into chunks
of ``chunk_size`` values), whatever the number of rows; rounds end when nothing new is learnt.
Only the columns needed to decide ownership are read here; ``collect.py`` reads the rows
themselves afterwards.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from sqlalchemy import ARRAY, any_, bindparam, cast, column, or_, select, table
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.sql.expression import TableClause
from sqlalchemy.sql.sqltypes import NullType

from portal.datamap.matching import column_expression, normalise, searched_values
from portal.datamap.model import ANCHOR_KINDS, CONTACT_KINDS, DataMap, Link, TableSpec
from portal.datamap.sources import SourceConnections

KINDS = (*ANCHOR_KINDS, *CONTACT_KINDS)
_Shapes = tuple[dict[str, list[str]], dict[str, TableClause], dict[tuple[Any, ...], Any]]
DEFAULT_CHUNK = 1000
_MAX_ROUNDS = 50  # a guard only; real maps settle in a handful of rounds


class Status(StrEnum):
    anchored = "anchored"
    floating = "floating"
    withheld = "withheld"  # found only under an identifier someone else also has
    foreign = "foreign"


_NONE: frozenset[tuple[str, str]] = frozenset()


@dataclass(slots=True)
class _Row:
    values: dict[str, Any]
    # The contact identifiers that found it; most rows have none, and share one empty set.
    found_by: frozenset[tuple[str, str]] | set[tuple[str, str]] = _NONE
    status: Status = Status.foreign
    via: str = ""


@dataclass(frozen=True)
class Resolution:
    """The outcome: which rows are the person's, and what the page must say about the rest."""

    national_id: str
    identifiers: dict[str, tuple[str, ...]]  # kind -> values the person has (learnt or proven)
    keys: dict[str, tuple[Any, ...]]  # table -> keys of the person's rows, ascending
    via: dict[str, dict[Any, str]]  # table -> key -> how the row links to the person
    withheld: dict[str, int]  # table -> rows under a shared identifier, not shown
    shared_identifiers: dict[str, tuple[str, ...]]  # the person's identifiers others also have
    queries: int  # statements issued, for tests of the per-table bound
    # table -> key -> the columns read to decide ownership (the key, the link columns, the
    # columns children link to, the timeline and order_by dates) of each of the person's rows:
    # enough to order a table and find a row's relatives without reading the rows themselves.
    skeleton: dict[str, dict[Any, dict[str, Any]]] = field(default_factory=dict)

    def count(self, table_name: str) -> int:
        return len(self.keys.get(table_name, ()))


def resolve(
    datamap: DataMap,
    engines: Mapping[str, Engine],
    national_id: str,
    *,
    proven: Mapping[str, Iterable[str]] | None = None,
    chunk_size: int = DEFAULT_CHUNK,
) -> Resolution:
    """Find the keys of every row that is the person's (see the module docstring for the rule)."""
    with SourceConnections(engines) as connections:
        resolver = _Resolver(datamap, connections, chunk_size)
        return resolver.run(national_id, proven or {})


def resolve_rest(
    datamap: DataMap,
    connections: SourceConnections,
    national_id: str,
    ids: Mapping[str, set[str]],
    settled: Mapping[str, frozenset[str]],
    contact_tables: frozenset[str] | None = None,
    chunk_size: int = DEFAULT_CHUNK,
) -> Resolution | None:
    """The walk for what overview.py leaves to it: the person's identifiers all known
    (normalised, by kind), and the anchored rows already found (``settled``: table -> keys as
    text). Follows only e-mail addresses, phone numbers (in ``contact_tables`` only, when
    given: the tables where such rows are not all anchored) and the rows found under them; the
    Resolution holds those rows alone. None if the walk finds an anchored row the database did
    not: the two disagree, and only the whole walk can tell."""
    resolver = _Resolver(datamap, connections, chunk_size, settled, contact_tables)
    for kind, values in ids.items():
        resolver.ids[kind].update(values)
    resolution = resolver.run(national_id, {})
    rows = (row for table_rows in resolver.rows.values() for row in table_rows.values())
    if any(row.status is Status.anchored for row in rows):
        return None
    return resolution


class _Resolver:
    def __init__(
        self,
        datamap: DataMap,
        connections: SourceConnections,
        chunk_size: int,
        settled: Mapping[str, frozenset[str]] | None = None,
        contact_tables: frozenset[str] | None = None,
    ) -> None:
        self.map = datamap
        # Anchored rows found by the database (resolve_rest): not read again, and the anchor
        # identifiers not followed (every row they lead to is anchored or someone else's).
        self.settled = settled
        # The tables to look in under e-mail addresses and phone numbers (None: every one).
        self.contact_tables = contact_tables
        self.connections = connections
        self.chunk_size = chunk_size
        self.region = datamap.settings.region
        self.order = datamap.table_order()
        self.rows: dict[str, dict[Any, _Row]] = {name: {} for name in self.order}
        self.queried: dict[tuple[str, str], set[Any]] = defaultdict(set)
        self.ids: dict[str, set[str]] = {kind: set() for kind in KINDS}
        # The map's link lists are computed properties: read them once, not once per row.
        self.id_links = {name: spec.identifier_links for name, spec in datamap.tables.items()}
        self.parent_links = {name: spec.parent_links for name, spec in datamap.tables.items()}
        # Columns, table clauses and statements depend on the map alone: built once per map,
        # not once per person (for a person with a few rows, building them was a good part
        # of a first view).
        self.columns, self.clauses, self.statements = _shapes(datamap)
        self.queries = 0
        self.normals: dict[tuple[str, Any], str] = {}
        # What classifying a table depends on, versioned, so that a table none of whose inputs
        # changed since its last classification is not classified again (most of a round).
        self.ids_version = 0
        self.status_version = dict.fromkeys(self.order, 0)
        self.classified: dict[str, tuple[Any, ...]] = {}
        self.parent_seen: dict[tuple[str, str], tuple[int, int]] = {}
        self.learnt_from: dict[str, tuple[int, int]] = {}

    def _normal(self, kind: str, value: Any) -> str:
        # A person's rows repeat a few values (the same e-mail address on 300 orders): each is
        # normalised once per resolution, not once per row and look.
        known = self.normals.get((kind, value))
        if known is None:
            known = self.normals[(kind, value)] = normalise(kind, value, self.region)
        return known

    # --- the rounds -----------------------------------------------------------------------

    def run(self, national_id: str, proven: Mapping[str, Iterable[str]]) -> Resolution:
        self.ids["national_id"].add(self._normal("national_id", national_id))
        for kind, values in proven.items():
            self.ids[kind].update(self._normal(kind, value) for value in values)
        for _ in range(_MAX_ROUNDS):
            if not self._round():
                break
        contested = self._settle_contests()
        return self._resolution(national_id, contested)

    def _round(self) -> bool:
        """One pass over all tables, parents first; True while something new was learnt."""
        learnt = False
        for name in self.order:
            spec = self.map.tables[name]
            learnt |= self._follow(name, spec)
            self._classify(name, frozenset())
            learnt |= self._learn(name, spec)
        return learnt

    def _follow(self, name: str, spec: TableSpec) -> bool:
        """Look for the table's rows under every link with something new to look for: the
        person's identifiers not yet looked for, and the keys of the person's rows in a parent
        table not yet followed. All of them in one statement (per chunk of values), so that a
        table costs one round trip a round, not one per link."""
        wanted: list[tuple[Link, list[Any]]] = []
        for link in self.id_links[name]:
            kind = link.identifier or ""
            if self.settled is not None and kind in ANCHOR_KINDS:
                continue
            if self.contact_tables is not None and name not in self.contact_tables:
                continue
            done = self.queried[(name, f"id:{link.column}")]
            new = self.ids[kind] - done
            if new:
                done.update(new)
                wanted.append((link, _sorted(searched_values(kind, new, self.region))))
        for link in self.parent_links[name]:
            new_keys = self._new_parent_keys(name, link)
            if new_keys:
                wanted.append((link, _sorted(new_keys)))
        if not wanted:
            return False
        size = self.chunk_size
        for start in range(0, max(len(values) for _, values in wanted), size):
            part = [(link, values[start : start + size]) for link, values in wanted]
            self._select(name, spec, [item for item in part if item[1]])
        return True

    def _new_parent_keys(self, name: str, link: Link) -> set[Any]:
        parent = link.table or ""
        seen = (len(self.rows[parent]), self.status_version[parent])
        if self.parent_seen.get((name, link.column)) == seen:
            return set()  # the parent's rows and their statuses are as last time
        self.parent_seen[(name, link.column)] = seen
        reference = self.map.parent_key(link)
        mine = {
            row.values[reference]
            for row in self.rows[parent].values()
            if row.status in (Status.anchored, Status.floating)
            and row.values[reference] is not None
        }
        done = self.queried[(name, f"parent:{link.column}")]
        new = mine - done
        done.update(new)
        return new

    def _learn(self, name: str, spec: TableSpec) -> bool:
        """Identifiers on the person's anchored rows become theirs."""
        # Identifiers only grow: rows and statuses as at the last look have nothing new.
        seen = (len(self.rows[name]), self.status_version[name])
        if self.learnt_from.get(name) == seen:
            return False
        self.learnt_from[name] = seen
        learnt = False
        for link in self.id_links[name]:
            kind = link.identifier or ""
            for row in self.rows[name].values():
                value = row.values[link.column]
                if row.status is Status.anchored and value is not None:
                    text = self._normal(kind, value)
                    if text not in self.ids[kind]:
                        self.ids[kind].add(text)
                        learnt = True
        if learnt:
            self.ids_version += 1
        return learnt

    # --- ownership -------------------------------------------------------------------------

    def _classify(self, name: str, contested: frozenset[tuple[str, str]]) -> None:
        links = self.parent_links[name]
        inputs = (
            len(self.rows[name]),
            self.ids_version,
            contested,
            *(self.status_version[link.table or ""] for link in links),
        )
        if self.classified.get(name) == inputs:
            return
        self.classified[name] = inputs
        parents = [(link.column, self._parent_index(link), f"table:{link.table}") for link in links]
        # The anchor links in the order they decide (a national ID before a customer number).
        anchors = [
            (kind, link.column)
            for kind in ANCHOR_KINDS
            for link in self.id_links[name]
            if link.identifier == kind
        ]
        changed = False
        for row in self.rows[name].values():
            status, via = self._status(name, row, anchors, parents, contested)
            if status is not row.status or via != row.via:
                row.status, row.via = status, via
                changed = True
        if changed:
            self.status_version[name] += 1

    def _parent_index(self, link: Link) -> dict[Any, Status]:
        """The best status among the parent's rows for each referenced value."""
        reference = self.map.parent_key(link)
        rank = {status: position for position, status in enumerate(Status)}
        index: dict[Any, Status] = {}
        for row in self.rows[link.table or ""].values():
            value = row.values[reference]
            current = index.get(value)
            if current is None or rank[row.status] < rank[current]:
                index[value] = row.status
        return index

    def _status(
        self,
        name: str,
        row: _Row,
        anchors: list[tuple[str, str]],
        parents: list[tuple[str, dict[Any, Status], str]],
        contested: frozenset[tuple[str, str]],
    ) -> tuple[Status, str]:
        values = row.values
        for kind, column_name in anchors:
            value = values[column_name]
            if value is not None:
                mine = self._normal(kind, value) in self.ids[kind]
                return (Status.anchored if mine else Status.foreign), kind
        seen = [
            (index.get(values[column_name], Status.foreign), via)
            for column_name, index, via in parents
            if values[column_name] is not None
        ]
        for wanted in (Status.anchored, Status.floating):
            for status, via in seen:
                if status is wanted:
                    return status, via
        if seen:
            return Status.foreign, ""
        return self._contact_status(name, row, contested)

    def _contact_status(
        self, name: str, row: _Row, contested: frozenset[tuple[str, str]]
    ) -> tuple[Status, str]:
        matched = sorted(
            (link.identifier or "", self._normal(link.identifier or "", row.values[link.column]))
            for link in self.id_links[name]
            if row.values[link.column] is not None
            and self._normal(link.identifier or "", row.values[link.column])
            in self.ids[link.identifier or ""]
        )
        free = [pair for pair in matched if pair not in contested]
        if free:
            return Status.floating, free[0][0]
        return (Status.withheld if matched else Status.foreign), ""

    def _settle_contests(self) -> frozenset[tuple[str, str]]:
        """A contact identifier found on a row that is not the person's is shared: rows found
        only under it are withheld. Withholding can make more rows foreign, so repeat."""
        contested: frozenset[tuple[str, str]] = frozenset()
        while True:
            for name in self.order:
                self._classify(name, contested)
            found = {
                pair
                for rows in self.rows.values()
                for row in rows.values()
                if row.status is Status.foreign
                for pair in row.found_by
            }
            if found <= contested:
                return contested
            contested = contested | found

    def _resolution(self, national_id: str, contested: frozenset[tuple[str, str]]) -> Resolution:
        keys: dict[str, tuple[Any, ...]] = {}
        via: dict[str, dict[Any, str]] = {}
        skeleton: dict[str, dict[Any, dict[str, Any]]] = {}
        withheld: dict[str, int] = {}
        for name in self.map.tables:
            rows = {
                key: row
                for key, row in self.rows[name].items()
                if row.status in (Status.anchored, Status.floating)
            }
            keys[name] = tuple(_sorted(rows))
            via[name] = {key: row.via for key, row in rows.items()}
            skeleton[name] = {key: row.values for key, row in rows.items()}
            held = sum(1 for row in self.rows[name].values() if row.status is Status.withheld)
            if held:
                withheld[name] = held
        shared: dict[str, set[str]] = defaultdict(set)
        for kind, value in contested:
            if value in self.ids[kind]:
                shared[kind].add(value)
        return Resolution(
            national_id=national_id,
            # Only the kinds the map links by were looked for (a map may hold no national IDs).
            identifiers=reported_identifiers(self.map, self.ids),
            keys=keys,
            via=via,
            withheld=withheld,
            shared_identifiers={kind: tuple(sorted(values)) for kind, values in shared.items()},
            queries=self.queries,
            skeleton=skeleton,
        )

    # --- database access -------------------------------------------------------------------

    def _column(self, name: str, column_name: str) -> Any:
        return self.clauses[name].c[column_name]

    def _select(self, name: str, spec: TableSpec, wanted: list[tuple[Link, list[Any]]]) -> None:
        """Rows with any link's column among its values (identifiers compared as matching.py
        says); a row found under a contact identifier remembers it (``found_by``)."""
        connection = self.connections.to(spec.source)
        links = tuple(link for link, _ in wanted)
        statement = self._statement(connection, name, links)
        store = self.rows[name]
        names = self.columns[name]
        width = len(names)
        key_index = names.index(spec.key)
        # A column per contact link: whether the row was found under it (the database says,
        # as it compared: the same expression, the same values).
        contacts = list(
            enumerate((link for link in links if link.identifier in CONTACT_KINDS), start=width)
        )
        self.queries += 1
        parameters = {f"v{position}": values for position, (_, values) in enumerate(wanted)}
        settled = self.settled.get(name, frozenset()) if self.settled is not None else None
        # Plain tuples, fetched at once: a RowMapping per row, or a fetch per row, was a
        # good part of the resolution's time.
        for values_row in connection.execute(statement, parameters).all():
            key = values_row[key_index]
            if settled and str(key) in settled:
                continue
            row = store.get(key)
            if row is None:
                values = values_row[:width] if contacts else values_row
                row = store[key] = _Row(dict(zip(names, values, strict=True)))
            for position, link in contacts:
                value = row.values[link.column]
                if values_row[position] and value is not None:
                    kind = link.identifier or ""
                    if row.found_by is _NONE:
                        row.found_by = set()
                    row.found_by.add((kind, self._normal(kind, value)))  # type: ignore[union-attr]

    def _statement(self, connection: Connection, name: str, links: tuple[Link, ...]) -> Any:
        """One statement per table and set of links, their values parameters ``v0``, ``v1``
        …: SQLAlchemy compiles it once, and no value is coerced into the statement (that was
        a part of each query). Keys read from the database (parent links) may go as one
        array; identifiers are compared as matching.py says."""
        cache_key = (
            connection.dialect.name,
            name,
            tuple((link.column, link.identifier, link.table) for link in links),
        )
        statement = self.statements.get(cache_key)
        if statement is None:
            conditions = []
            for position, link in enumerate(links):
                target = self._column(name, link.column)
                parameter = f"v{position}"
                if link.table is not None:
                    conditions.append(among_parameter(connection, target, parameter))
                else:
                    expression = column_expression(link.identifier or "", target)
                    conditions.append(expression.in_(bindparam(parameter, expanding=True)))
            flags = [
                condition.label(f"found_{position}")
                for position, (condition, link) in enumerate(zip(conditions, links, strict=True))
                if link.identifier in CONTACT_KINDS
            ]
            statement = select(*self.clauses[name].c, *flags).where(or_(*conditions))
            # Two threads may build the same statement at once: either one will do.
            self.statements[cache_key] = statement
        return statement


# Per data map (kept while the map is, at most a few maps): the columns the resolution reads of
# each table, the table clauses, and the statements built from them, by table and links.
_SHAPES: dict[int, tuple[DataMap, _Shapes]] = {}
_SHAPES_LOCK = threading.Lock()
_MAX_MAPS = 8


def _shapes(datamap: DataMap) -> _Shapes:
    with _SHAPES_LOCK:
        entry = _SHAPES.get(id(datamap))
        if entry is None or entry[0] is not datamap:
            if len(_SHAPES) >= _MAX_MAPS:
                _SHAPES.clear()
            columns = _needed_columns(datamap)
            clauses = {name: _clause(datamap, name, columns[name]) for name in datamap.tables}
            entry = _SHAPES[id(datamap)] = (datamap, (columns, clauses, {}))
        return entry[1]


def _needed_columns(datamap: DataMap) -> dict[str, list[str]]:
    """Per table: its key, its link columns, and the columns its children's links point at."""
    needed: dict[str, list[str]] = {}
    for name, spec in datamap.tables.items():
        needed.setdefault(name, [])
        needed[name] += [spec.key, *(link.column for link in spec.links)]
        # The dates the rows are shown by (order.py): a table is ordered from the outline.
        needed[name] += [column for column in (spec.timeline, spec.order_by) if column]
        for link in spec.parent_links:
            needed.setdefault(link.table or "", []).append(datamap.parent_key(link))
    return {name: list(dict.fromkeys(columns)) for name, columns in needed.items()}


def _clause(datamap: DataMap, name: str, columns: list[str]) -> TableClause:
    spec = datamap.tables[name]
    schema = datamap.sources[spec.source].schema_
    return table(datamap.db_table(name), *(column(c) for c in columns), schema=schema)


def among(connection: Connection, expression: Any, keys: list[Any]) -> Any:
    """``expression IN keys``. On PostgreSQL one array parameter (``= ANY(%s)``): the same
    statement whatever the number of keys, so the driver neither re-parses it nor binds and
    casts a parameter per key. Only for keys read from the database, whose type is the
    column's (an array of text against an integer column would not compare)."""
    if connection.dialect.name == "postgresql":
        return expression == any_(bindparam("keys", keys))
    return expression.in_(keys)


def among_as_column(connection: Connection, expression: Any, keys: list[Any]) -> Any:
    """``among`` for keys that need not have the column's type (another table's values, a
    stored plan's keys): on PostgreSQL the array is cast to the column's type, as ``IN`` binds
    each key as that type. One parameter instead of a thousand spares the driver parsing and
    binding (a third of the sweep's run at 20,000 people)."""
    if connection.dialect.name == "postgresql" and not isinstance(expression.type, NullType):
        array = ARRAY(expression.type)
        return expression == any_(cast(bindparam(None, keys, type_=array), array))
    return expression.in_(keys)


def among_parameter(connection: Connection, expression: Any, name: str) -> Any:
    """``among``, the keys given at execution as parameter ``name``: a statement to reuse."""
    if connection.dialect.name == "postgresql":
        return expression == any_(bindparam(name))
    return expression.in_(bindparam(name, expanding=True))


def reported_identifiers(
    datamap: DataMap, ids: Mapping[str, set[str]]
) -> dict[str, tuple[str, ...]]:
    """The person's identifiers as a Resolution gives them: only the kinds the map links by
    were looked for (a map may hold no national IDs)."""
    linked = {link.identifier for spec in datamap.tables.values() for link in spec.identifier_links}
    return {kind: tuple(sorted(ids[kind])) for kind in KINDS if ids[kind] and kind in linked}


def chunks(values: Iterable[Any], size: int) -> Iterator[list[Any]]:
    ordered = _sorted(values)
    for start in range(0, len(ordered), size):
        yield ordered[start : start + size]


def _sorted(values: Iterable[Any]) -> list[Any]:
    items = list(values)
    try:
        return sorted(items)
    except TypeError:
        return sorted(items, key=repr)


# How each kind of identifier becomes a person's, for `finding_summary` (English: it is read
# by the integrator on a terminal).
_HOW = {
    "national_id": "the national ID proven at sign-in",
    "customer_number": "read from the person's anchored rows, or linked by staff",
    "email": "read from the person's anchored rows, proven by the person through a link, "
    "or linked by staff",
    "phone": "read from the person's anchored rows, or linked by staff",
}


def finding_summary(datamap: DataMap) -> list[str]:
    """How people will be found with this map: a line per identifier kind the map links by,
    naming its tables; first a warning line when no table holds national IDs."""
    tables: dict[str, list[str]] = defaultdict(list)
    for name, spec in datamap.tables.items():
        for link in spec.identifier_links:
            tables[link.identifier or ""].append(name)
    lines = []
    if "national_id" not in tables:
        lines.append(
            "No table holds national IDs: a person's rows are found only through e-mail "
            "addresses they prove by a link, and identifiers staff link to them."
        )
    for kind in KINDS:
        if kind in tables:
            names = ", ".join(dict.fromkeys(tables[kind]))
            lines.append(f"  {kind} ({names}): {_HOW[kind]}")
    return lines
