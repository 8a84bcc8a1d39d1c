"""Comparing a data map with the live databases it describes.

A map this check accepts can always be carried out (issue #18): besides the tables and columns
existing and being classified, every change an erasure or the retention sweep may make fits the
database (``effects.py`` says, from the map, what those changes are):

* ``null`` only on a column that may be NULL;
* a pseudonym only in a text column long enough for one (``MIN_PSEUDONYM`` characters);
* a row is deleted only when nothing that may outlive it still points at it: rows of other
  tables of its source (the map's links) and rows the database's foreign keys tie to it, found
  by inspection, whether or not their table is mapped;
* no identifier link that can never find a row (``_check_customer_numbers``).

Each problem names the file, the table and the field, the reason, and the fix.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Enum, String, inspect
from sqlalchemy.engine import Engine, Inspector
from sqlalchemy.exc import SQLAlchemyError

from portal.datamap.effects import (
    MIN_PSEUDONYM,
    Deletion,
    deletions,
    emptied_identifiers,
    outlives,
    pseudonym_columns,
)
from portal.datamap.model import CONTACT_KINDS, DataMap, FieldSpec, TableSpec
from portal.datamap.problems import where
from portal.datamap.sources import safe_url

Columns = dict[str, dict[str, Any]]  # column name -> what the inspector says about it


def check_against_sources(
    datamap: DataMap,
    engines: Mapping[str, Engine],
    *,
    unavailable: Mapping[str, str] | None = None,
) -> list[str]:
    """Every mismatch between the map and the databases, one message each (empty: all fine).

    Checked: each source is reachable, each mapped table and column exists, every column of a
    mapped table is classified, and everything an erasure may do fits the database (see the
    module docstring). ``unavailable`` says why a source has no engine, where the caller knows
    ("source 'crm': no such database file: ...").
    """
    problems: list[str] = []
    inspectors: dict[str, Inspector | None] = {}
    for name in datamap.sources:
        inspectors[name] = open_inspector(datamap.path, name, engines, problems, unavailable)
    live: dict[str, Columns] = {}
    for name, table in datamap.tables.items():
        inspector = inspectors.get(table.source)
        if inspector is not None:
            found, columns = _check_table(datamap, name, table, inspector)
            problems.extend(found)
            if columns is not None:
                live[name] = columns
    for name in datamap.tables:
        if name in live:
            problems.extend(_check_deletes(datamap, name, engines, inspectors, live))
    problems.extend(_check_customer_numbers(datamap, live))
    return problems


def open_inspector(
    label: str,
    name: str,
    engines: Mapping[str, Engine],
    problems: list[str],
    unavailable: Mapping[str, str] | None = None,
) -> Inspector | None:
    """The source's inspector, or None with the reason added to ``problems``."""
    engine = engines.get(name)
    if engine is None:
        why = (unavailable or {}).get(name, f"source '{name}': no database connection given")
        problems.append(f"{label}: {why}")
        return None
    try:
        return inspect(engine)
    except SQLAlchemyError as exc:
        problems.append(
            f"{label}: source '{name}': cannot connect to {safe_url(engine.url)} "
            f"({type(exc).__name__})"
        )
        return None


def _check_table(
    datamap: DataMap, name: str, table: TableSpec, inspector: Inspector
) -> tuple[list[str], Columns | None]:
    problems, columns = check_columns(
        datamap.path,
        name,
        table.source,
        datamap.db_table(name),
        datamap.sources[table.source].schema_,
        table.fields,
        inspector,
    )
    if columns is not None:
        problems.extend(_check_pseudonyms(datamap, name, columns))
    return problems, columns


def check_columns(
    label: str,
    name: str,
    source: str,
    db_name: str,
    schema: str | None,
    fields: Mapping[str, FieldSpec | None],
    inspector: Inspector,
) -> tuple[list[str], Columns | None]:
    """Whether the table and each listed column exist, whether every column is listed, and
    ``null`` only where a column may be NULL (for the fields given a spec: a map that is not
    valid yet lists columns whose keys are not)."""
    if not inspector.has_table(db_name, schema=schema):
        return [f"{label}: {where(table=name)}: no table '{db_name}' in source '{source}'"], None
    columns = {column["name"]: column for column in inspector.get_columns(db_name, schema=schema)}
    problems = []
    for column, spec in fields.items():
        place = where(table=name, field=column)
        if column not in columns:
            problems.append(f"{label}: {place}: no column '{column}' in table '{db_name}'")
        elif spec is not None and spec.erasure == "null" and not columns[column]["nullable"]:
            problems.append(
                f"{label}: {place}: erasure 'null' on a NOT NULL column; "
                "use delete_row, pseudonymise or keep"
            )
    for column in columns:
        if column not in fields:
            problems.append(
                f"{label}: {where(table=name, field=column)}: column is not classified "
                "in the data map"
            )
    return problems, columns


# --- pseudonyms ---------------------------------------------------------------------------------


def holds_text(kind: Any) -> bool:
    """Whether a column of this type holds any text (an enumeration holds only its values)."""
    return isinstance(kind, String) and not isinstance(kind, Enum)


def pseudonym_misfit(column: Mapping[str, Any]) -> str | None:
    """Why a column cannot hold a pseudonym, or None when it can."""
    kind = column["type"]
    if not holds_text(kind):
        return f"the column is {_type_name(kind)}, not text"
    length = getattr(kind, "length", None)
    if length is not None and length < MIN_PSEUDONYM:
        return (
            f"the column holds at most {length} characters and a pseudonym needs "
            f"{MIN_PSEUDONYM} ('ps:' and at least 8 digits of its keyed hash)"
        )
    return None


def _type_name(kind: Any) -> str:
    try:
        return str(kind)
    except Exception:  # a type only its dialect can name
        return type(kind).__name__


def _check_pseudonyms(datamap: DataMap, name: str, columns: Columns) -> list[str]:
    problems = []
    writes = pseudonym_columns(datamap, name)
    for column in emptied_identifiers(datamap, name):
        if column in columns and not columns[column]["nullable"]:
            writes.setdefault(
                column,
                "an anonymised row loses its identifiers, and a NOT NULL one gets a pseudonym",
            )
    for column, why in writes.items():
        misfit = pseudonym_misfit(columns[column]) if column in columns else None
        if misfit is None:
            continue
        if why.startswith("erasure"):
            fix = (
                f"use null, delete_row or keep, or make it a text column of at least "
                f"{MIN_PSEUDONYM} characters"
            )
        else:
            fix = (
                f"make it a text column of at least {MIN_PSEUDONYM} characters, or link the "
                "table to the person through another table instead"
            )
        problems.append(
            f"{datamap.path}: {where(table=name, field=column)}: {why}, but {misfit}; {fix}"
        )
    return problems


# --- deleted rows and what points at them -----------------------------------------------------


@dataclass(frozen=True)
class _Reference:
    """Rows of one table that point at rows of another, in the same database."""

    db_table: str  # the referencing table's name in the database
    column: str
    child: str | None  # its name in the map, None when the map does not describe it
    same_source: bool  # erased in the same transaction as the rows it points at
    nullable: bool
    ondelete: str | None = None  # the foreign key's ON DELETE, if the database has one
    referred: str = ""  # the column pointed at


def _check_deletes(
    datamap: DataMap,
    name: str,
    engines: Mapping[str, Engine],
    inspectors: Mapping[str, Inspector | None],
    live: Mapping[str, Columns],
) -> list[str]:
    ways = deletions(datamap, name)
    if not ways:
        return []
    problems = []
    for reference in references_to(datamap, name, engines, inspectors, live):
        for deletion in ways:
            problem = _judge(datamap, name, reference, deletion)
            if problem is not None:
                problems.append(f"{datamap.path}: {problem}")
                break
    return problems


def _judge(datamap: DataMap, name: str, ref: _Reference, deletion: Deletion) -> str | None:
    action = (ref.ondelete or "").upper()
    if action == "SET NULL":
        return None
    broken = "deleting such a row fails (PostgreSQL) or leaves them pointing at nothing (SQLite)"
    if ref.child is None:
        if action == "CASCADE":
            return None
        return (
            f"{where(table=name, field=ref.referred)}: rows of table '{ref.db_table}', which "
            f"the data map does not describe, point at it by a foreign key "
            f"('{ref.db_table}.{ref.column}'), and {deletion.describe(name)}: the portal never "
            f"changes rows of '{ref.db_table}', so {broken}; map table '{ref.db_table}', or "
            f"give its foreign key ON DELETE SET NULL or CASCADE, or do not delete rows of "
            f"'{name}'"
        )
    if ref.same_source and ref.nullable:
        return None  # the executor sets the column to NULL before it deletes
    place = where(table=ref.child, field=ref.column)
    if not ref.same_source:
        if action == "CASCADE" and outlives(datamap, ref.child, ref.column, name, deletion) is None:
            return None
        return (
            f"{place}: points at rows of '{name}' by a foreign key, and "
            f"{deletion.describe(name)}, but this table is in another source, which is erased "
            f"in its own transaction, so {broken.replace('them', 'this table')}; map both "
            "tables in one source"
        )
    outliving = outlives(datamap, ref.child, ref.column, name, deletion)
    if outliving is None:
        return None
    if action == "CASCADE":
        return (
            f"{place}: points at rows of '{name}', and {deletion.describe(name)}, but "
            f"{outliving.reason}, and the database would delete them with it (ON DELETE "
            f"CASCADE): the plan would keep rows that are gone; {outliving.fix}"
        )
    return (
        f"{place}: points at rows of '{name}', and {deletion.describe(name)}, but "
        f"{outliving.reason}: {broken.replace('them', 'rows of this table')}; {outliving.fix}"
    )


def references_to(
    datamap: DataMap,
    name: str,
    engines: Mapping[str, Engine],
    inspectors: Mapping[str, Inspector | None],
    live: Mapping[str, Columns],
) -> list[_Reference]:
    """What points at rows of table ``name`` in its database: the links of other tables of its
    source, and the database's foreign keys (from any table, mapped or not)."""
    spec = datamap.tables[name]
    found: dict[tuple[str, str], _Reference] = {}
    for child, child_spec in datamap.tables.items():
        if child_spec.source != spec.source or child not in live:
            continue
        for link in child_spec.parent_links:
            if link.table == name and link.column in live[child]:
                found[(datamap.db_table(child), link.column)] = _Reference(
                    datamap.db_table(child),
                    link.column,
                    child,
                    True,
                    bool(live[child][link.column]["nullable"]),
                    referred=datamap.parent_key(link),
                )
    inspector = inspectors.get(spec.source)
    if inspector is None:
        return list(found.values())
    schema = datamap.sources[spec.source].schema_
    target = datamap.db_table(name)
    for (_schema, db_table), keys in _foreign_keys(inspector, schema).items():
        for key in keys:
            if key.get("referred_table") != target or not key.get("constrained_columns"):
                continue
            if key.get("referred_schema") not in (None, schema):
                continue
            column = key["constrained_columns"][0]
            ondelete = (key.get("options") or {}).get("ondelete")
            known = found.get((db_table, column))
            if known is not None:
                found[(db_table, column)] = _with_ondelete(known, ondelete)
                continue
            child = _mapped(datamap, engines, spec.source, db_table, schema)
            found[(db_table, column)] = _Reference(
                db_table,
                column,
                child,
                child is not None and datamap.tables[child].source == spec.source,
                child is not None and bool(live.get(child, {}).get(column, {}).get("nullable")),
                ondelete,
                (key.get("referred_columns") or [spec.key])[0],
            )
    return list(found.values())


def _with_ondelete(reference: _Reference, ondelete: str | None) -> _Reference:
    return _Reference(
        reference.db_table,
        reference.column,
        reference.child,
        reference.same_source,
        reference.nullable,
        ondelete,
        reference.referred,
    )


def _foreign_keys(inspector: Inspector, schema: str | None) -> dict[tuple[Any, str], list]:
    """Every foreign key of the schema, by table, read once per inspector."""
    cache = inspector.info_cache.setdefault(("innsyn_foreign_keys", schema), {})
    if not cache:
        cache.update(inspector.get_multi_foreign_keys(schema=schema))
    return cache


def _mapped(
    datamap: DataMap,
    engines: Mapping[str, Engine],
    source: str,
    db_table: str,
    schema: str | None,
) -> str | None:
    """The map's name for a database table of the same database as ``source`` (a table of
    ``source`` itself first), or None when the map does not describe it."""
    engine = engines.get(source)
    candidates = [
        name
        for name, spec in datamap.tables.items()
        if engines.get(spec.source) is engine
        and datamap.sources[spec.source].schema_ == schema
        and datamap.db_table(name) == db_table
    ]
    candidates.sort(key=lambda name: datamap.tables[name].source != source)
    return candidates[0] if candidates else None


# --- identifier links that can never find a row -------------------------------------------------


def _check_customer_numbers(datamap: DataMap, live: Mapping[str, Columns]) -> list[str]:
    """A customer-number link on a column every row has, on the only table that links by
    customer number, beside e-mail or phone links: see docs/datamap.md, "Links that can never
    find a row"."""
    carriers = [
        name
        for name, spec in datamap.tables.items()
        if any(link.identifier == "customer_number" for link in spec.identifier_links)
    ]
    if len(carriers) != 1 or carriers[0] not in live:
        return []
    name = carriers[0]
    spec = datamap.tables[name]
    if not any(link.identifier in CONTACT_KINDS for link in spec.identifier_links):
        return []
    problems = []
    for link in spec.identifier_links:
        if link.identifier != "customer_number":
            continue
        column = live[name].get(link.column)
        if link.column == spec.key:
            always = "it is the table's key"
        elif column is not None and not column["nullable"]:
            always = "the column is NOT NULL"
        else:
            continue
        problems.append(
            f"{datamap.path}: {where(table=name, field=link.column)}: every row carries a "
            f"customer number here ({always}) and no other table links by customer_number, so "
            "the e-mail and phone links of this table can never find a row (a row carrying a "
            "customer number the person is not known to have is someone else's), and the "
            "number can only be learnt from rows found already; remove this link (other "
            "tables link to this one by 'table'), or link by customer_number the tables that "
            "carry these numbers"
        )
    return problems
