"""Comparing a data map with the live databases it describes."""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import inspect
from sqlalchemy.engine import Engine, Inspector
from sqlalchemy.exc import SQLAlchemyError

from portal.datamap.model import DataMap, TableSpec
from portal.datamap.problems import where
from portal.datamap.sources import safe_url


def check_against_sources(datamap: DataMap, engines: Mapping[str, Engine]) -> list[str]:
    """Every mismatch between the map and the databases, one message each (empty: all fine).

    Checked: each source is reachable, each mapped table and column exists, every column of a
    mapped table is classified, and no NOT NULL column is to be erased by setting it to null.
    """
    problems: list[str] = []
    inspectors: dict[str, Inspector | None] = {}
    for name in datamap.sources:
        inspectors[name] = _inspector(datamap, name, engines, problems)
    for name, table in datamap.tables.items():
        inspector = inspectors.get(table.source)
        if inspector is not None:
            problems.extend(_check_table(datamap, name, table, inspector))
    return problems


def _inspector(
    datamap: DataMap, name: str, engines: Mapping[str, Engine], problems: list[str]
) -> Inspector | None:
    engine = engines.get(name)
    if engine is None:
        problems.append(f"{datamap.path}: source '{name}': no database connection given")
        return None
    try:
        return inspect(engine)
    except SQLAlchemyError as exc:
        problems.append(
            f"{datamap.path}: source '{name}': cannot connect to {safe_url(engine.url)} "
            f"({type(exc).__name__})"
        )
        return None


def _check_table(datamap: DataMap, name: str, table: TableSpec, inspector: Inspector) -> list[str]:
    prefix = datamap.path
    db_name = datamap.db_table(name)
    schema = datamap.sources[table.source].schema_
    if not inspector.has_table(db_name, schema=schema):
        return [f"{prefix}: {where(table=name)}: no table '{db_name}' in source '{table.source}'"]
    columns = {column["name"]: column for column in inspector.get_columns(db_name, schema=schema)}
    problems = []
    for column, spec in table.fields.items():
        place = where(table=name, field=column)
        if column not in columns:
            problems.append(f"{prefix}: {place}: no column '{column}' in table '{db_name}'")
        elif spec.erasure == "null" and not columns[column]["nullable"]:
            problems.append(
                f"{prefix}: {place}: erasure 'null' on a NOT NULL column; "
                "use delete_row, pseudonymise or keep"
            )
    for column in columns:
        if column not in table.fields:
            problems.append(
                f"{prefix}: {where(table=name, field=column)}: column is not classified "
                "in the data map"
            )
    return problems
