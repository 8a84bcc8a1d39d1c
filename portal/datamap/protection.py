"""Which people have a protected identity: a true value in a table's ``protected`` column
(Norway's strengt fortrolig adresse, Sweden's skyddad identitet), read for the national IDs a
staff page is about to name, one statement per such table and chunk of IDs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import bindparam, column, select, table
from sqlalchemy.engine import Engine
from sqlalchemy.sql.expression import TableClause

from portal.datamap.identity import DEFAULT_CHUNK, chunks
from portal.datamap.model import DataMap, Link, TableSpec


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


def is_protected(datamap: DataMap, sources: Mapping[str, Engine], national_id: str) -> bool:
    """Whether one person's identity is protected (see `protected_national_ids`)."""
    return national_id.strip() in protected_national_ids(datamap, sources, [national_id])


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
