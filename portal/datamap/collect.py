"""The collector: every row a person's identifiers lead to, with each field's metadata.

``collect`` returns everything at once (the "my data" page, staff views, erasure plans);
``stream`` yields table by table and reads rows in chunks, so a large export never holds all rows
in memory. Both first run ``identity.resolve``, which decides whose rows are whose.
Order is deterministic: tables parents first (then file order), rows by key.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from sqlalchemy import Column, MetaData, Table, inspect, select
from sqlalchemy.engine import Connection, Engine

from portal.datamap.identity import DEFAULT_CHUNK, Resolution, among_parameter, resolve
from portal.datamap.model import CONTACT_KINDS, DataMap, FieldSpec, TableSpec
from portal.datamap.order import newest_first as keys_newest_first


class FieldValue(NamedTuple):
    """One field of a row. A named tuple, not a frozen dataclass: a page builds one per field
    of every row it reads (about 2,000), and a frozen dataclass takes twice as long to make."""

    name: str
    value: Any
    spec: FieldSpec  # category, purposes, legal basis, origin, recipients, erasure

    @property
    def category(self) -> str:
        return self.spec.category


@dataclass(frozen=True)
class Row:
    table: str
    key: Any
    via: str  # how the row links to the person: national_id, email, ..., or table:<parent>
    fields: tuple[FieldValue, ...]

    def value(self, name: str) -> Any:
        for item in self.fields:
            if item.name == name:
                return item.value
        raise KeyError(name)

    def as_dict(self) -> dict[str, Any]:
        return {item.name: item.value for item in self.fields}


@dataclass(frozen=True)
class TableStream:
    """One table's rows, read lazily in chunks when ``rows`` is iterated."""

    name: str
    spec: TableSpec
    count: int
    rows: Iterator[Row]


@dataclass(frozen=True)
class Collection:
    """All data held about a person, table by table in the map's order."""

    national_id: str
    datamap_version: str
    identifiers: dict[str, tuple[str, ...]]
    tables: dict[str, tuple[Row, ...]]  # every mapped table, possibly empty
    withheld: dict[str, int]  # rows under a shared identifier: not shown, but counted
    shared_identifiers: dict[str, tuple[str, ...]]
    # Tables that can hold rows under an e-mail address or phone number alone: rows under
    # addresses the person has not proven are not found, so the page says more may be held.
    may_hold_more: dict[str, tuple[str, ...]]
    category_order: tuple[str, ...]

    def count(self, table_name: str) -> int:
        return len(self.tables.get(table_name, ()))

    @property
    def empty(self) -> bool:
        return not any(self.tables.values())

    def by_category(self) -> dict[str, dict[str, list[Row]]]:
        """category -> table -> rows holding only that category's fields (and the same key)."""
        buckets: dict[str, dict[str, list[Row]]] = {}
        # One pass over the rows; every row of a table has the same columns, so its split by
        # category is worked out once per table.
        for name, rows in self.tables.items():
            if not rows:
                continue
            split: dict[str, list[int]] = {}
            for index, item in enumerate(rows[0].fields):
                split.setdefault(item.category, []).append(index)
            for category, indexes in split.items():
                bucket = buckets.setdefault(category, {}).setdefault(name, [])
                for row in rows:
                    fields = tuple(row.fields[i] for i in indexes)
                    bucket.append(Row(row.table, row.key, row.via, fields))
        return {
            category: buckets[category] for category in self.category_order if category in buckets
        }


def collect(
    datamap: DataMap,
    engines: Mapping[str, Engine],
    national_id: str,
    *,
    proven: Mapping[str, Iterable[str]] | None = None,
    chunk_size: int = DEFAULT_CHUNK,
) -> Collection:
    """Everything held about the person with this (normalised) national ID."""
    resolution = resolve(datamap, engines, national_id, proven=proven, chunk_size=chunk_size)
    tables = {
        part.name: tuple(part.rows) for part in stream(datamap, engines, resolution, chunk_size)
    }
    return Collection(
        national_id=national_id,
        datamap_version=datamap.version,
        identifiers=resolution.identifiers,
        tables=tables,
        withheld=resolution.withheld,
        shared_identifiers=resolution.shared_identifiers,
        may_hold_more=may_hold_more(datamap),
        category_order=tuple(datamap.categories),
    )


def stream(
    datamap: DataMap,
    engines: Mapping[str, Engine],
    resolution: Resolution,
    chunk_size: int = DEFAULT_CHUNK,
    *,
    newest_first: bool = False,
) -> Iterator[TableStream]:
    """The person's rows table by table; each table's rows are read when iterated. By key, or
    with ``newest_first`` as a person reads them (order.py: the exports)."""
    for name in datamap.table_order():
        keys = resolution.keys.get(name, ())
        if newest_first:
            keys = keys_newest_first(datamap, resolution, name)
        spec = datamap.tables[name]
        rows = read_rows(datamap, engines, name, keys, resolution.via.get(name, {}), chunk_size)
        yield TableStream(name=name, spec=spec, count=len(keys), rows=rows)


def may_hold_more(datamap: DataMap) -> dict[str, tuple[str, ...]]:
    found: dict[str, tuple[str, ...]] = {}
    for name, spec in datamap.tables.items():
        kinds = tuple(
            dict.fromkeys(
                link.identifier
                for link in spec.identifier_links
                if link.identifier in CONTACT_KINDS
            )
        )
        if kinds:
            found[name] = kinds  # type: ignore[assignment]
    return found


def read_rows(
    datamap: DataMap,
    engines: Mapping[str, Engine],
    name: str,
    keys: tuple[Any, ...],
    via: Mapping[Any, str],
    chunk_size: int,
) -> Iterator[Row]:
    if not keys:
        return
    engine = engines[datamap.tables[name].source]
    with engine.connect() as connection:
        yield from read_rows_on(connection, datamap, name, keys, via, chunk_size)


def read_rows_on(
    connection: Connection,
    datamap: DataMap,
    name: str,
    keys: tuple[Any, ...],
    via: Mapping[Any, str],
    chunk_size: int,
) -> Iterator[Row]:
    """``read_rows`` on a connection to the table's source that the caller holds (a page
    reads a few rows of every table: one connection for all of them, not one per table).
    Rows come in the order of ``keys``."""
    spec = datamap.tables[name]
    schema = datamap.sources[spec.source].schema_
    reflected = reflected_table(connection.engine, connection, datamap.db_table(name), schema)
    # Built once per table and field list, the keys a parameter: SQLAlchemy then compiles it
    # once, and coerces no key into it (a page reads a few rows of every table, every visit).
    fields = tuple(spec.fields)
    statement = reflected.info.get(("read", spec.key, fields))
    if statement is None:
        key_column = reflected.c[spec.key]
        # The key first, labelled: it may be one of the fields as well.
        columns = [key_column.label("row_key"), *(reflected.c[c] for c in fields)]
        where = among_parameter(connection, key_column, "keys")
        statement = reflected.info[("read", spec.key, fields)] = select(*columns).where(where)
    described = tuple(spec.fields.items())
    for start in range(0, len(keys), chunk_size):
        chunk = list(keys[start : start + chunk_size])
        position = {key: index for index, key in enumerate(chunk)}
        found = connection.execute(statement, {"keys": chunk}).all()
        for key, *values in sorted(found, key=lambda row: position.get(row[0], len(position))):
            fields = tuple(
                FieldValue(column_name, value, field_spec)
                for (column_name, field_spec), value in zip(described, values, strict=True)
            )
            yield Row(table=name, key=key, via=via.get(key, ""), fields=fields)


# Reflected tables per engine, so that values come back typed (dates, decimals, booleans) on
# every database; reflection runs once per table and engine, not once per person.
_REFLECTED: weakref.WeakKeyDictionary[Engine, dict[tuple[str | None, str], Table]] = (
    weakref.WeakKeyDictionary()
)
_REFLECT_LOCK = threading.Lock()


def forget_reflected(engine: Engine) -> None:
    """Reflect this engine's tables afresh next time: their schema changed (a column fixed)."""
    with _REFLECT_LOCK:
        _REFLECTED.pop(engine, None)


def reflected_table(engine: Engine, connection: Connection, name: str, schema: str | None) -> Table:
    with _REFLECT_LOCK:
        tables = _REFLECTED.setdefault(engine, {})
        if (schema, name) not in tables:
            # Columns only: reflecting indexes warns about expression indexes (lower(email)).
            columns = inspect(connection).get_columns(name, schema=schema)
            tables[(schema, name)] = Table(
                name, MetaData(), *(Column(c["name"], c["type"]) for c in columns), schema=schema
            )
        return tables[(schema, name)]
