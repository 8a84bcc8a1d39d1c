"""The map as the loader read it, item by item: what both the loader and the whole-map checks
work on (a module of its own, so that neither imports the other)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from portal.datamap.model import FieldSpec, TableSpec


@dataclass
class Parsed:
    """What could be validated item by item, plus every name declared (valid or not), so that a
    broken definition does not also make every reference to it an "unknown" problem."""

    items: dict[str, dict[str, Any]] = field(default_factory=dict)
    single: dict[str, Any] = field(default_factory=dict)
    tables: dict[str, TableSpec] = field(default_factory=dict)
    declared: dict[str, set[str]] = field(default_factory=dict)
    # As written, per table: the defaults and each field's own keys (checked for references
    # even where a field failed validation, and only where written, so a bad default is one
    # problem, not one per field).
    raw_defaults: dict[str, dict[str, Any]] = field(default_factory=dict)
    raw_fields: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    # Per table, the keys written in its section (a key left out takes its default).
    table_keys: dict[str, set[str]] = field(default_factory=dict)
    # Per table, the fields that are valid, also in a table that is not.
    fields: dict[str, dict[str, FieldSpec]] = field(default_factory=dict)
    complete: bool = True
