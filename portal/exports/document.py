"""The export as JSON: every row with its field metadata, against a published JSON Schema.

The document (format ``innsyn-export/1``, schema ``export-v1.schema.json`` next to this module,
served at ``/schemas/export-v1.json``; docs/exports.md describes every member) holds:

* ``export``: for whom, when (``generated_at``), in which language, under which data map version;
* the data map's vocabulary: categories, purposes, legal bases, origins, recipients, retention
  rules and holds, each named once by key with its texts in the person's language (a law
  citation the map marks as not verified is null);
* ``tables``: per mapped table its metadata (fields with category, purposes, legal basis, origin,
  recipients; the labels of coded values; retention in plain words) and its rows, each with its
  key, how it links to the person, and its values as stored (a code stays a code).

It is written row by row to a binary file (``JsonWriter``), never held in memory, and it is
deterministic: tables in the map's order (parents first), rows newest first as on /me
(datamap/order.py), fields in the map's order, so the same data gives the same bytes except
``export.generated_at``.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

from portal.datamap import DataMap, FieldSpec, TableSpec, Text
from portal.datamap.wording import describe_period, describe_retention, field_label
from portal.exports.models import ExportScope

FORMAT = "innsyn-export/1"
SCHEMA_FILE = Path(__file__).with_name("export-v1.schema.json")
SCHEMA_PATH = "/schemas/export-v1.json"
# Art. 20(1): data the person provided, processed on consent or a contract.
PORTABLE_ARTICLES = frozenset({"6(1)(a)", "6(1)(b)", "9(2)(a)"})

Value = str | int | float | bool | None


def plain(value: Any) -> Value:
    """A column value as JSON: dates and times in ISO 8601, decimals as exact text."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if value == value and abs(value) != float("inf") else str(value)
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    return str(value)


def timestamp(moment: datetime) -> str:
    """UTC to the second, e.g. 2026-11-24T12:00:00Z."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def portable(datamap: DataMap, spec: FieldSpec) -> bool:
    """Art. 20 covers what the person gave us under consent or a contract, nothing else."""
    origin = datamap.origins[spec.origin]
    article = datamap.legal_bases[spec.legal_basis].article
    return origin.provided_by_subject and article in PORTABLE_ARTICLES


def exported_fields(datamap: DataMap, table: TableSpec, scope: ExportScope) -> list[str]:
    """The table's columns in this export, in the map's order (all of them for access)."""
    return [
        name
        for name, spec in table.fields.items()
        if scope == ExportScope.access or portable(datamap, spec)
    ]


# --- metadata ----------------------------------------------------------------------------------


def _text(item: Text | None, language: str) -> str | None:
    return item.get(language) if item is not None else None


def vocabulary(datamap: DataMap, language: str) -> dict[str, list[dict[str, Any]]]:
    """The map's named things, each once, in the map's order."""
    return {
        "categories": [
            {
                "key": key,
                "name": item.name.get(language),
                "description": _text(item.description, language),
                "special": item.special,
            }
            for key, item in datamap.categories.items()
        ],
        "purposes": [
            {
                "key": key,
                "name": item.name.get(language),
                "description": _text(item.description, language),
                "automated_decision": _text(item.automated_decision, language),
            }
            for key, item in datamap.purposes.items()
        ],
        "legal_bases": [
            {
                "key": key,
                "article": item.article,
                "name": item.name.get(language),
                "description": _text(item.description, language),
            }
            for key, item in datamap.legal_bases.items()
        ],
        "origins": [
            {
                "key": key,
                "name": item.name.get(language),
                "provided_by_subject": item.provided_by_subject,
            }
            for key, item in datamap.origins.items()
        ],
        "recipients": [
            {
                "key": key,
                "name": item.name,
                "role": item.role,
                "country": item.country,
                "description": item.description.get(language),
                "transfer_safeguard": _text(item.transfer_safeguard, language),
            }
            for key, item in datamap.processors.items()
        ],
        "retention_rules": [
            {
                "key": key,
                "name": item.name.get(language),
                "jurisdiction": item.jurisdiction,
                "citation": item.citation_for_person(language),
                "period": item.period,
                "period_text": describe_period(item.period, item.counts_from),
                "counts_from": item.counts_from,
                "then": item.then,
            }
            for key, item in datamap.retention_rules.items()
        ],
        "holds": [
            {
                "key": key,
                "name": item.name.get(language),
                "jurisdiction": item.jurisdiction,
                "citation": item.citation_for_person(language),
                "period": item.period,
                "counts_from": item.counts_from,
            }
            for key, item in datamap.holds.items()
        ],
    }


def field_metadata(datamap: DataMap, name: str, spec: FieldSpec, language: str) -> dict[str, Any]:
    return {
        "name": name,
        "label": field_label(name, spec, language),
        "description": _text(spec.description, language),
        "category": spec.category,
        "purposes": list(spec.purposes),
        "legal_basis": spec.legal_basis,
        "origin": spec.origin,
        "recipients": list(spec.recipients),
        "portable": portable(datamap, spec),
        # The company's codes in the person's words; the rows keep the codes themselves.
        "value_labels": {code: label.get(language) for code, label in spec.values.items()},
    }


def table_metadata(
    datamap: DataMap, name: str, fields: Iterable[str], language: str
) -> dict[str, Any]:
    """A table's description, its retention in plain words, and its exported fields."""
    table = datamap.tables[name]
    return {
        "key": name,
        "name": table.name.get(language),
        "description": _text(table.description, language),
        "source": table.source,
        "source_name": datamap.sources[table.source].name.get(language),
        "row_key": table.key,
        "retention": [ref.rule for ref in table.retention],
        "holds": [ref.hold for ref in table.holds],
        "retention_text": list(describe_retention(datamap, table, language)),
        "fields": [field_metadata(datamap, f, table.fields[f], language) for f in fields],
    }


@dataclass(frozen=True)
class Header:
    """The export's own metadata: for whom, when, which data map version."""

    schema_url: str
    generated_at: datetime
    scope: ExportScope
    language: str
    datamap_version: str
    subject_name: str
    national_id: str  # masked: the date part only
    identifiers: tuple[tuple[str, str], ...]  # (kind, value) the data was found by

    def as_dict(self, datamap: DataMap) -> dict[str, Any]:
        controller = datamap.controller
        return {
            "generated_at": timestamp(self.generated_at),
            "scope": str(self.scope),
            "language": self.language,
            "data_map_version": self.datamap_version,
            "subject": {"name": self.subject_name, "national_id": self.national_id},
            "identifiers": [{"kind": kind, "value": value} for kind, value in self.identifiers],
            "controller": {
                "name": controller.name,
                "organisation_number": controller.organisation_number,
                "country": controller.country,
                "contact": controller.contact,
                "dpo_contact": controller.dpo_contact,
                "supervisory_authority": controller.supervisory_authority.get(self.language),
            },
        }


# --- the writer --------------------------------------------------------------------------------


def _dump(value: Any, *, indent: int | None = None) -> bytes:
    return json.dumps(value, ensure_ascii=False, indent=indent).encode("utf-8")


class JsonWriter:
    """Writes the document piece by piece: metadata first, then each table's rows one per line.

    Call ``begin_table``/``row``/``end_table`` per table in order, then ``close``.
    """

    def __init__(self, out: IO[bytes], header: Header, datamap: DataMap) -> None:
        self.out = out
        self.tables = 0
        self.rows = 0
        self.total = 0
        out.write(b'{\n"$schema": ' + _dump(header.schema_url))
        out.write(b',\n"format": ' + _dump(FORMAT))
        out.write(b',\n"export": ' + _dump(header.as_dict(datamap), indent=2))
        for key, items in vocabulary(datamap, header.language).items():
            out.write(b",\n" + _dump(key) + b": " + _dump(items, indent=2))
        out.write(b',\n"tables": [')

    def begin_table(self, metadata: Mapping[str, Any]) -> None:
        opening = _dump(dict(metadata), indent=2)
        assert opening.endswith(b"\n}")
        self.out.write((b",\n" if self.tables else b"\n") + opening[:-2] + b',\n  "rows": [')
        self.tables += 1
        self.rows = 0

    def row(self, key: Any, linked_by: str, values: Mapping[str, Value]) -> None:
        item = {"key": plain(key), "linked_by": linked_by, "values": dict(values)}
        self.out.write((b",\n" if self.rows else b"\n") + _dump(item))
        self.rows += 1

    def end_table(self) -> None:
        self.out.write(b"\n  ],\n  " + _dump("row_count") + b": " + _dump(self.rows) + b"\n}")
        self.total += self.rows

    def close(
        self,
        withheld: Mapping[str, int],
        may_hold_more: Iterable[str],
        kept: Iterable[Mapping[str, Any]] = (),
    ) -> None:
        """The end: ``kept`` is what the person's erasures keep (``kept.kept_plain``)."""
        self.out.write(b"\n],\n")
        self.out.write(b'"kept_after_erasure": ' + _dump(list(kept), indent=2) + b",\n")
        self.out.write(b'"withheld": ' + _dump(dict(withheld)) + b",\n")
        self.out.write(b'"may_hold_more": ' + _dump(list(may_hold_more)) + b",\n")
        self.out.write(b'"row_count": ' + _dump(self.total) + b"\n}\n")
