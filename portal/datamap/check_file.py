"""`portal datamap check FILE`: the file's problems and the databases' in one run.

A valid map is compared with its databases in full (``schema_check.py``). A map that is not
valid yet, but is TOML (a starting map from ``portal datamap init`` with its decisions still to
make, or a map with a typo), is compared as far as it can be: each source it can locate is
opened, and each table it lists is looked up, with its columns, so that a column the database
has and the map does not list, or the other way round, is found in the same run as the file's
own problems. Sources are opened read-only: the check never writes, and never creates a SQLite
file that is not there (``no such database file: PATH``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.engine import Dialect

from portal.datamap.loader import Reading, read_datamap
from portal.datamap.model import DataMap, FieldSpec, SourceLocation
from portal.datamap.schema_check import check_against_sources, check_columns, open_inspector
from portal.datamap.sources import dispose_engines, open_read_only

_LOCATION = ("url", "url_env", "url_default", "schema")


@dataclass(frozen=True)
class Checked:
    """The problems found, file first; the map when the file is valid."""

    problems: list[str]
    datamap: DataMap | None
    dialects: dict[str, Dialect] = field(default_factory=dict)  # source -> its SQL, once opened


def check_file(
    path: str | Path, *, offline: bool = False, environ: Mapping[str, str] | None = None
) -> Checked:
    reading = read_datamap(path)
    problems = list(reading.problems)
    if offline or reading.parsed is None:
        return Checked(problems, reading.datamap)
    datamap = reading.datamap
    sources = datamap.sources if datamap is not None else _sources(reading)
    engines, unavailable = open_read_only(sources, environ)
    try:
        if datamap is not None:
            problems += check_against_sources(datamap, engines, unavailable=unavailable)
        else:
            problems += _check_outline(reading, sources, engines, unavailable)
        dialects = {name: engine.dialect for name, engine in engines.items()}
    finally:
        dispose_engines(engines)
    return Checked(problems, datamap, dialects)


def _sources(reading: Reading) -> dict[str, SourceLocation]:
    """Where each source is, for the sources whose location is valid (whatever else is not)."""
    found: dict[str, SourceLocation] = {}
    raw = reading.raw.get("sources")
    for name, value in (raw if isinstance(raw, dict) else {}).items():
        if not isinstance(value, dict):
            continue
        keys = {key: value[key] for key in _LOCATION if key in value}
        try:
            found[name] = SourceLocation.model_validate(keys)
        except ValueError:  # pydantic's ValidationError; the file's problems name it
            continue
    return found


def _check_outline(
    reading: Reading,
    sources: Mapping[str, SourceLocation],
    engines: Mapping,
    unavailable: Mapping[str, str],
) -> list[str]:
    """The tables and columns of a map that is not valid, against the databases."""
    assert reading.parsed is not None
    label = reading.label
    problems: list[str] = []
    inspectors = {
        name: open_inspector(label, name, engines, problems, unavailable) for name in sources
    }
    tables = reading.raw.get("tables")
    for name, value in (tables if isinstance(tables, dict) else {}).items():
        if not isinstance(value, dict):
            continue
        source, db_name = value.get("source"), value.get("table", name)
        inspector = inspectors.get(source) if isinstance(source, str) else None
        if inspector is None or not isinstance(db_name, str):
            continue
        valid = reading.parsed.fields.get(name, {})
        fields: dict[str, FieldSpec | None] = {
            column: valid.get(column) for column in reading.parsed.raw_fields.get(name, {})
        }
        found, _ = check_columns(
            label, name, source, db_name, sources[source].schema_, fields, inspector
        )
        problems += found
    return problems
