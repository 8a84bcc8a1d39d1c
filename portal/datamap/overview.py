"""How much of each table is the person's, counted mostly by the database: the first view.

identity.py decides row by row, in Python, which rows are the person's: it reads an outline of
every one of them (about 2,000 for a long-standing customer) to count, order and page them.
Most of those rows are the person's only by hanging under an *anchored* row (the rule:
docs/datamap.md, "Identity"): an order line under an order under the account that carries the
national ID. The database can decide those itself, so here it does, and counts them:

* One statement per database and round: a common table expression per table holds the keys of
  its anchored rows (carrying the person's national ID or customer number, or linking to an
  anchored row of a table before it), and the statement returns those keys and the identifiers
  on them (customer numbers, e-mail addresses, phone numbers), which the rule then follows. A
  round that learns a new customer number is followed by another, as the walk's rounds are.
* The rest (rows found under an e-mail address or phone number, and the rows under those, where
  withholding is decided) is the walk itself (identity.resolve_rest), told which rows are
  anchored already: a handful of rows, not thousands.

The statement says "anchored" exactly as the walk does: a row is reached by its anchor columns
compared as stored, or by a link to an anchored row, and decided by its first anchor column
that holds a value, trimmed of what Python's ``str.strip`` trims. Should the two still disagree
(the walk, told of the anchored rows, finds another: a national ID stored with spaces, reached
only under an e-mail address), the overview says so by returning None, and the caller resolves
the whole way. So does a map whose links cross databases or loop (``supported``). A test holds
the overview to the walk on the demo company and both example companies.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from sqlalchemy import (
    Text,
    and_,
    bindparam,
    case,
    cast,
    exists,
    func,
    literal,
    or_,
    select,
    true,
    union,
)
from sqlalchemy.engine import Dialect, Engine

from portal.datamap.identity import (
    KINDS,
    Resolution,
    _clause,
    reported_identifiers,
    resolve_rest,
)
from portal.datamap.matching import column_expression, normalise, searched_values
from portal.datamap.model import ANCHOR_KINDS, CONTACT_KINDS, DataMap
from portal.datamap.sources import SourceConnections

# What str.strip() removes: the statement trims anchors exactly as identity._normal does.
_WHITESPACE = "".join(chr(code) for code in range(0x110000) if chr(code).isspace())
_MAX_ROUNDS = 50  # a guard only, as in identity.py


@dataclass(frozen=True)
class Overview:
    """The person's rows counted per table, and what the page says about how they were found."""

    national_id: str
    counts: dict[str, int]  # table -> the person's rows (anchored and floating)
    identifiers: dict[str, tuple[str, ...]]  # as Resolution.identifiers
    withheld: dict[str, int]
    shared_identifiers: dict[str, tuple[str, ...]]
    queries: int
    # Whether the walk ran (rows under the person's contact identifiers outside the anchored).
    walked: bool = False

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def count(self, table_name: str) -> int:
        return self.counts.get(table_name, 0)


def overview(
    datamap: DataMap,
    engines: Mapping[str, Engine],
    national_id: str,
    *,
    proven: Mapping[str, Iterable[str]] | None = None,
) -> Overview | None:
    """The person's rows counted (see the module docstring); None when only the whole walk
    can tell (a map the statement cannot express, or a row it and the walk would decide
    differently): resolve with identity.resolve then."""
    groups = _groups(datamap, engines)
    if groups is None:
        return None
    region = datamap.settings.region
    ids: dict[str, set[str]] = {kind: set() for kind in KINDS}
    ids["national_id"].add(normalise("national_id", national_id, region))
    for kind, values in (proven or {}).items():
        ids[kind].update(normalise(kind, value, region) for value in values)
    queries = 0
    with SourceConnections(engines) as connections:
        # A first look for the identifiers on the rows the anchors find by themselves (the
        # person's customer record): most people's rounds are then one.
        for value, (_table, kind) in _run(datamap, connections, groups, ids, "first"):
            ids[kind or ""].add(normalise(kind or "", value, region))
        queries += len(groups)
        for _ in range(_MAX_ROUNDS):
            counted, learnt, outside = _count(datamap, connections, groups, ids)
            asked = {kind: set(ids[kind]) for kind in CONTACT_KINDS}
            queries += len(groups)
            new = learnt["customer_number"] - ids["customer_number"]
            for kind, values in learnt.items():
                ids[kind] |= values
            if not new:
                break
        # The walk, unless the statement saw that it would find nothing: no row outside the
        # anchored ones under the person's addresses and numbers, all of which it looked for.
        # It is told the anchored rows' keys (which only it needs), and looks under those
        # identifiers only in the tables where such rows are (everywhere, if it has some the
        # statement did not look for).
        rest: Resolution | None = None
        unasked = any(ids[kind] - asked[kind] for kind in CONTACT_KINDS)
        if outside or unasked:
            settled = _anchored_keys(datamap, connections, groups, ids)
            where = None if unasked else frozenset(outside)
            rest = resolve_rest(datamap, connections, national_id, ids, settled, where)
            if rest is None:
                return None
            queries += len(groups) + rest.queries
    counts = {
        name: counted.get(name, 0) + (rest.count(name) if rest else 0)
        for name in datamap.table_order()
    }
    return Overview(
        national_id=national_id,
        counts={name: count for name, count in counts.items() if count},
        identifiers=reported_identifiers(datamap, ids),
        withheld=rest.withheld if rest else {},
        shared_identifiers=rest.shared_identifiers if rest else {},
        queries=queries,
        walked=rest is not None,
    )


def _count(
    datamap: DataMap, connections: SourceConnections, groups: list[list[str]], ids: _Ids
) -> tuple[dict[str, int], dict[str, set[str]], set[str]]:
    """A round: the anchored rows counted per table, the identifiers on them, and the tables
    with rows under the person's contact identifiers that are not anchored."""
    region = datamap.settings.region
    counted: dict[str, int] = {}
    learnt: dict[str, set[str]] = {kind: set() for kind in KINDS}
    outside: set[str] = set()
    for value, (table_name, kind) in _run(datamap, connections, groups, ids, "counting"):
        if kind == _COUNT:
            counted[table_name] = int(value)
        elif kind == _OUTSIDE:
            if int(value):
                outside.add(table_name)
        elif kind is not None:
            learnt[kind].add(normalise(kind, value, region))
    return counted, learnt, outside


def _anchored_keys(
    datamap: DataMap, connections: SourceConnections, groups: list[list[str]], ids: _Ids
) -> dict[str, frozenset[str]]:
    """The keys (as text) of the anchored rows the walk may reach: of every table but those
    under one parent alone (a row the walk reaches there hangs under one it found)."""
    keys: dict[str, set[str]] = {}
    for value, (table_name, kind) in _run(datamap, connections, groups, ids, "keyed"):
        if kind is None:
            keys.setdefault(table_name, set()).add(value)
    return {name: frozenset(found) for name, found in keys.items()}


def _run(
    datamap: DataMap,
    connections: SourceConnections,
    groups: list[list[str]],
    ids: _Ids,
    which: str,
) -> Iterator[tuple[str, tuple[str, str | None]]]:
    """The result rows of one of each group's statements: the value, and what it is."""
    parameters = _parameters(ids, datamap.settings.region)
    for tables in groups:
        connection = connections.to(datamap.tables[tables[0]].source)
        built = _statements(datamap, connection.dialect, tables)
        statement, codes = {
            "first": (built.first, built.first_codes),
            "counting": (built.counting, built.codes),
            "keyed": (built.keyed, built.codes),
        }[which]
        if statement is None:
            continue
        for code, value in connection.execute(statement, parameters).all():
            yield value, codes[code]


def _parameters(ids: Mapping[str, set[str]], region: str) -> dict[str, list[str]]:
    """The statements' parameters: anchors as compared, contact identifiers as searched."""
    parameters = {kind: sorted(ids[kind]) for kind in ANCHOR_KINDS}
    for kind in CONTACT_KINDS:
        parameters[f"{kind}_search"] = sorted(searched_values(kind, ids[kind], region))
    return parameters


def supported(datamap: DataMap, engines: Mapping[str, Engine]) -> bool:
    """Whether the statement can count this map's anchored rows: every link to another table
    stays in one database and points at a table before it (no loops)."""
    return _groups(datamap, engines) is not None


def _groups(datamap: DataMap, engines: Mapping[str, Engine]) -> list[list[str]] | None:
    """The map's tables by database, each list in the map's order; None if a link crosses
    databases or points forward."""
    order = datamap.table_order()
    position = {name: index for index, name in enumerate(order)}
    by_engine: dict[int, list[str]] = {}
    for name in order:
        spec = datamap.tables[name]
        engine = engines[spec.source]
        for link in spec.parent_links:
            parent = datamap.tables[link.table or ""]
            if engines[parent.source] is not engine or position[link.table or ""] >= position[name]:
                return None
        by_engine.setdefault(id(engine), []).append(name)
    return list(by_engine.values())


# --- the statement ------------------------------------------------------------------------

# (what a result row is: table, and the identifier kind it learns, or None for a key, or
# _COUNT for the number of the table's anchored rows)
_COUNT = "count"
_OUTSIDE = "outside"  # rows under the person's contact identifiers that are not anchored
_Codes = list[tuple[str, str | None]]
_Ids = Mapping[str, set[str]]


class _Built(NamedTuple):
    """A group's statements (None where there is nothing to ask), built once per map."""

    keyed: Any  # the anchored rows' keys
    counting: Any  # the anchored rows counted, the identifiers on them, the rows outside
    codes: _Codes  # what each result row of those two is, by its first column
    first: Any  # the first look: identifiers on the rows the anchors find by themselves
    first_codes: _Codes


_STATEMENTS: dict[tuple[int, str, tuple[str, ...]], tuple[DataMap, _Built]] = {}
_LOCK = threading.Lock()
_MAX_STATEMENTS = 64


def _statements(datamap: DataMap, dialect: Dialect, tables: list[str]) -> _Built:
    """The statement that finds the anchored rows, and the first look that learns customer
    numbers from the rows the anchors find by themselves (None where nothing can be found:
    the group's tables have no anchors, or no customer numbers). Built once per map,
    database kind and group of tables; their parameters are the anchor identifiers,
    ``national_id`` and ``customer_number``."""
    key = (id(datamap), dialect.name, tuple(tables))
    with _LOCK:
        entry = _STATEMENTS.get(key)
    if entry is None or entry[0] is not datamap:
        built = _build(datamap, dialect, tables)
        with _LOCK:
            if len(_STATEMENTS) >= _MAX_STATEMENTS:
                _STATEMENTS.clear()
            entry = _STATEMENTS[key] = (datamap, built)
    return entry[1]


def _build(datamap: DataMap, dialect: Dialect, tables: list[str]) -> _Built:
    referenced: dict[str, set[str]] = {name: set() for name in tables}
    for name in tables:
        for link in datamap.tables[name].parent_links:
            referenced[link.table or ""].add(datamap.parent_key(link))
    learnt_kinds = {"customer_number", "email", "phone"}
    ctes: dict[str, Any] = {}
    counting: list[Any] = []  # counts, identifiers learnt, rows outside
    keyed: list[Any] = []  # the anchored rows' keys, for the walk
    codes: _Codes = []
    # The first look: customer numbers on the rows the anchors find by themselves.
    first_parts: list[Any] = []
    first_codes: _Codes = []
    for index, name in enumerate(tables):
        spec = datamap.tables[name]
        learn = [link for link in spec.identifier_links if link.identifier in learnt_kinds]
        columns = list(
            dict.fromkeys([spec.key, *sorted(referenced[name]), *(link.column for link in learn)])
        )
        read = [*columns, *(link.column for link in spec.links)]
        clause = _clause(datamap, name, list(dict.fromkeys(read)))
        anchors = [
            (kind, clause.c[link.column])
            for kind in ANCHOR_KINDS
            for link in spec.identifier_links
            if link.identifier == kind
        ]
        # A parent with no anchored rows ever (found by contact identifiers alone) has no
        # expression: rows under it are the walk's.
        parents = [
            clause.c[link.column].in_(select(ctes[link.table].c[datamap.parent_key(link)]))
            for link in spec.parent_links
            if link.table in ctes
        ]
        if not anchors and not parents:
            # Never anchored: found by e-mail address or phone number alone.
            counting += _outside(spec, clause, None, codes, name)
            continue
        # The walk decides by the first anchor column that holds a value, else by the parents.
        whens = [
            (column.is_not(None), _trimmed(dialect, column).in_(bindparam(kind, expanding=True)))
            for kind, column in anchors
        ]
        # Each way the walk reaches a row is a SELECT of its own (an OR of them keeps the
        # database from its indexes), decided as the walk decides, less what the way itself
        # settles: a row found by its i-th anchor column as stored holds a value there (so the
        # anchors after it are not asked), and a row under an anchored row needs no more
        # parents. An anchor compared as stored is one of the person's trimmed, too.
        ways = [
            (column.in_(bindparam(kind, expanding=True)), whens[:position])
            for position, (kind, column) in enumerate(anchors)
        ]
        ways += [(parent, whens) for parent in parents]
        selects = [
            select(*(clause.c[column] for column in columns)).where(
                and_(way, case(*earlier, else_=true())) if earlier else way
            )
            for way, earlier in ways
        ]
        for link in learn:
            value = clause.c[link.column]
            first_codes.append((name, link.identifier))
            first_parts += [
                select(literal(len(first_codes) - 1), cast(value, Text)).where(
                    and_(way, case(*earlier, else_=true()), value.is_not(None))
                    if earlier
                    else and_(way, value.is_not(None))
                )
                for way, earlier in ways[: len(anchors)]
            ]
        chosen = union(*selects) if len(selects) > 1 else selects[0]
        cte = ctes[name] = chosen.cte(f"anchored_{index}")
        shared = _outside(spec, clause, cte, codes, name)
        for link in learn:
            value = cte.c[link.column]
            codes.append((name, link.identifier))
            shared.append(
                select(literal(len(codes) - 1), cast(value, Text))
                .where(value.is_not(None))
                .distinct()
            )
        codes.append((name, _COUNT))
        counting += [*shared, _select_count(len(codes) - 1, cte)]
        # Under one parent alone, a row the walk reaches (under a row it found) is not
        # anchored: the walk needs no keys there.
        if spec.identifier_links or len(spec.parent_links) != 1:
            codes.append((name, None))
            keyed.append(select(literal(len(codes) - 1), cast(cte.c[spec.key], Text)))
    return _Built(
        _union(keyed), _union(counting), codes, _union(first_parts, distinct=True), first_codes
    )


def _select_count(code: int, cte: Any) -> Any:
    return select(literal(code), cast(func.count(), Text)).select_from(cte)


def _outside(spec: Any, clause: Any, cte: Any, codes: _Codes, name: str) -> list[Any]:
    """How many of the table's rows carry one of the person's e-mail addresses or phone
    numbers (as the walk compares them) and are not anchored: none anywhere, and the walk
    would find nothing."""
    contacts = [link for link in spec.identifier_links if link.identifier in CONTACT_KINDS]
    if not contacts:
        return []
    matched = or_(
        *(
            column_expression(link.identifier, clause.c[link.column]).in_(
                bindparam(f"{link.identifier}_search", expanding=True)
            )
            for link in contacts
        )
    )
    if cte is not None:
        key = clause.c[spec.key]
        matched = and_(matched, ~exists().where(cte.c[spec.key] == key))
    codes.append((name, _OUTSIDE))
    return [select(literal(len(codes) - 1), cast(func.count(), Text)).where(matched)]


def _union(parts: list[Any], *, distinct: bool = False) -> Any:
    if not parts:
        return None
    if len(parts) == 1:
        return parts[0]
    return union(*parts) if distinct else parts[0].union_all(*parts[1:])


def _trimmed(dialect: Dialect, column: Any) -> Any:
    text = cast(column, Text)
    if dialect.name == "postgresql":
        return func.btrim(text, literal(_WHITESPACE, Text))
    return func.trim(text, literal(_WHITESPACE, Text))
