"""From an identifier back to people: whose national IDs the company's rows carry beside it, and
which people have a protected identity.

Finding a person's rows goes from their national ID outwards (identity.py). Staff search the
other way: "who has customer number 900015?". That is answered only where one row carries
both: a table that links by ``national_id`` and by the identifier searched (the company's
customer register). One statement per such table, whatever the number of rows; the values are
compared as identity.py compares them (matching.py), so an expression index serves both.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import bindparam, column, or_, select, table
from sqlalchemy.engine import Engine
from sqlalchemy.sql.expression import TableClause

from portal.datamap.identity import DEFAULT_CHUNK, chunks
from portal.datamap.matching import column_expression, normalise, searched_values
from portal.datamap.model import DataMap, Link, TableSpec


def national_ids_with(
    datamap: DataMap, sources: Mapping[str, Engine], kind: str, value: str
) -> frozenset[str]:
    """The national IDs on the rows that carry ``value`` as an identifier of ``kind``
    (customer_number, email, phone), trimmed; empty when no table carries both."""
    region = datamap.settings.region
    searched = sorted(searched_values(kind, [normalise(kind, value, region)], region))
    found: set[str] = set()
    for name, spec in datamap.tables.items():
        national_id = _national_id_link(spec)
        links = [link for link in spec.identifier_links if link.identifier == kind]
        if national_id is None or not links or not searched:
            continue
        clause = _table(datamap, name, spec, national_id.column, *(link.column for link in links))
        matches = [
            column_expression(kind, clause.c[link.column]).in_(bindparam("values", expanding=True))
            for link in links
        ]
        statement = select(clause.c[national_id.column]).where(or_(*matches))
        with sources[spec.source].connect() as connection:
            rows = connection.execute(statement, {"values": searched})
            found.update(str(nid).strip() for (nid,) in rows if nid)
    return frozenset(found)


def protected_national_ids(
    datamap: DataMap,
    sources: Mapping[str, Engine],
    national_ids: Iterable[str],
    *,
    chunk_size: int = DEFAULT_CHUNK,
) -> frozenset[str]:
    """Those of ``national_ids`` whose identity is protected: a true value in a ``protected``
    column of a table that links by national ID (strengt fortrolig adresse, skyddad
    identitet). One statement per such table and chunk of ``chunk_size`` IDs."""
    wanted = {nid.strip() for nid in national_ids if nid and nid.strip()}
    found: set[str] = set()
    for name, spec in datamap.tables.items():
        national_id = _national_id_link(spec)
        if spec.protected is None or national_id is None or not wanted:
            continue
        clause = _table(datamap, name, spec, national_id.column, spec.protected)
        nid_column = clause.c[national_id.column]
        statement = select(nid_column, clause.c[spec.protected]).where(
            nid_column.in_(bindparam("ids", expanding=True))
        )
        with sources[spec.source].connect() as connection:
            for chunk in chunks(wanted, chunk_size):
                rows = connection.execute(statement, {"ids": chunk})
                found.update(str(nid).strip() for nid, flag in rows if nid and _true(flag))
    return frozenset(found)


def _true(value: Any) -> bool:
    """A flag as companies store it: a boolean, 0/1, or text such as "yes" or "t"."""
    if isinstance(value, str):
        return value.strip().lower() in ("1", "t", "true", "y", "yes", "j", "ja")
    return bool(value)


def _national_id_link(spec: TableSpec) -> Link | None:
    return next((link for link in spec.identifier_links if link.identifier == "national_id"), None)


def _table(datamap: DataMap, name: str, spec: TableSpec, *columns: str) -> TableClause:
    schema = datamap.sources[spec.source].schema_
    names = dict.fromkeys(columns)  # once each, in order
    return table(datamap.db_table(name), *(column(c) for c in names), schema=schema)
