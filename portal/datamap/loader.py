"""Reading a data map file: TOML in, a validated ``DataMap`` out, or every problem at once."""

from __future__ import annotations

import hashlib
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from portal.datamap.checks import check_map
from portal.datamap.model import (
    Category,
    Controller,
    DataMap,
    DataSubjects,
    FieldDefaults,
    FieldSpec,
    Hold,
    LegalBasis,
    Origin,
    Processor,
    Purpose,
    RetentionRule,
    Settings,
    Source,
    TableSpec,
)
from portal.datamap.parsed import Parsed
from portal.datamap.problems import LEFT_TO_DECIDE, DataMapError, Problems, where

# Sections of named items, each with its model and the word used for it in messages.
NAMED_SECTIONS: dict[str, tuple[type[BaseModel], str]] = {
    "sources": (Source, "source"),
    "categories": (Category, "category"),
    "purposes": (Purpose, "purpose"),
    "data_subjects": (DataSubjects, "data subjects"),
    "legal_bases": (LegalBasis, "legal basis"),
    "processors": (Processor, "processor"),
    "origins": (Origin, "origin"),
    "retention_rules": (RetentionRule, "retention rule"),
    "holds": (Hold, "hold"),
}
SINGLE_SECTIONS: dict[str, type[BaseModel]] = {"settings": Settings, "controller": Controller}
REQUIRED = ("settings", "controller", "sources", "categories", "purposes", "legal_bases", "origins")
OPTIONAL = ("processors", "retention_rules", "holds", "data_subjects")


@dataclass
class Reading:
    """A data map file as far as it could be read: the map, when it is valid; every problem; and,
    when the file is TOML, the items validated one by one (``parsed``), for the checks against
    the databases that need no valid whole (``check_file.py``)."""

    label: str  # the file, as messages name it
    datamap: DataMap | None
    problems: list[str]
    parsed: Parsed | None = None
    raw: dict[str, Any] = field(default_factory=dict)


def load_datamap(path: str | Path) -> DataMap:
    """Load and validate a data map; raise ``DataMapError`` listing every problem found."""
    return _valid(read_datamap(path))


def parse_datamap(content: bytes, label: str) -> DataMap:
    """Validate a data map given as bytes; ``label`` names it in messages."""
    return _valid(read_content(content, label))


def _valid(reading: Reading) -> DataMap:
    if reading.datamap is None:
        raise DataMapError(reading.problems)
    return reading.datamap


def read_datamap(path: str | Path) -> Reading:
    """Read a data map file, whatever its problems."""
    path = Path(path)
    label = str(path)
    try:
        content = path.read_bytes()
    except OSError as exc:
        return Reading(label, None, [f"{label}: cannot read the file ({exc.strerror})"])
    return read_content(content, label)


def read_content(content: bytes, label: str) -> Reading:
    """A data map given as bytes, whatever its problems; ``label`` names it in messages."""
    problems = Problems(label)
    try:
        raw = tomllib.loads(content.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        return Reading(label, None, [f"{label}: not a valid TOML file: {exc}"])
    parsed = _validate_items(raw, problems)
    check_map(parsed, problems)
    if problems:
        return Reading(label, None, problems.messages, parsed, raw)
    datamap = DataMap(
        path=label,
        version="sha256:" + hashlib.sha256(content).hexdigest(),
        tables=parsed.tables,
        **parsed.single,
        **parsed.items,
    )
    return Reading(label, datamap, [], parsed, raw)


def _validate_items(raw: dict[str, Any], problems: Problems) -> Parsed:
    parsed = Parsed()
    known = {*NAMED_SECTIONS, *SINGLE_SECTIONS, "tables"}
    for key in raw:
        if key not in known:
            problems.add("", f"unknown section '{key}'")
    for name in (*REQUIRED, "tables"):
        if name not in raw:
            problems.add("", f"section '{name}' is missing")
    for name, model in SINGLE_SECTIONS.items():
        value = _validate(model, raw.get(name), problems, where(section=name))
        if value is not None:
            parsed.single[name] = value
    for section, (model, word) in NAMED_SECTIONS.items():
        entries = _section(raw, section, problems)
        parsed.declared[section] = set(entries)
        parsed.items[section] = {}
        for name, value in entries.items():
            item = _validate(model, value, problems, where(section=word, item=name))
            if item is not None:
                parsed.items[section][name] = item
    tables = _section(raw, "tables", problems)
    parsed.declared["tables"] = set(tables)
    for name, value in tables.items():
        table = _validate_table(name, value, problems, parsed)
        if table is not None:
            parsed.tables[name] = table
    parsed.complete = not problems
    return parsed


def _section(raw: dict[str, Any], section: str, problems: Problems) -> dict[str, Any]:
    value = raw.get(section, {})
    if not isinstance(value, dict):
        problems.add("", f"section '{section}' must be a table of named entries")
        return {}
    return value


def _validate(model: type[BaseModel], value: Any, problems: Problems, place: str) -> Any:
    if value is None:
        return None
    try:
        return model.model_validate(value)
    except ValidationError as exc:
        problems.add_validation(place, exc)
        return None


def _validate_table(name: str, value: Any, problems: Problems, parsed: Parsed) -> TableSpec | None:
    """The table with the fields that are valid; None if the table's own keys are not."""
    place = where(table=name)
    if not isinstance(value, dict):
        problems.add(place, "must be a table of keys")
        return None
    raw = dict(value)
    parsed.table_keys[name] = set(raw)
    raw_fields = raw.pop("fields", {})
    raw_defaults = raw.pop("defaults", {})
    table = _validate(TableSpec, raw, problems, place)
    defaults = _validate(FieldDefaults, raw_defaults, problems, f"{place}, defaults")
    if not isinstance(raw_fields, dict) or not raw_fields:
        problems.add(place, "has no fields: every column holding data must be listed")
        raw_fields = {}
    if "key" not in raw and raw_fields and "id" not in raw_fields:
        problems.add(
            place,
            LEFT_TO_DECIDE + "key (the column that identifies a row; there is no column 'id', "
            "the default)",
        )
    parsed.raw_defaults[name] = raw_defaults if isinstance(raw_defaults, dict) else {}
    parsed.raw_fields[name] = {
        column: spec if isinstance(spec, dict) else {} for column, spec in raw_fields.items()
    }
    fields: dict[str, FieldSpec] = {}
    parsed.fields[name] = fields
    for column, spec in raw_fields.items():
        field_place = where(table=name, field=column)
        if not isinstance(spec, dict):
            problems.add(field_place, "must be a table such as { category = ..., erasure = ... }")
        elif defaults is not None:  # else each field would repeat the defaults' problem
            inherited = defaults.model_dump(exclude_none=True)
            checked = _validate(FieldSpec, {**inherited, **spec}, problems, field_place)
            if checked is not None:
                fields[column] = checked
    if table is None:
        return None
    return table.model_copy(update={"fields": fields, "defaults": defaults})
