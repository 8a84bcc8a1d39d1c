"""Building an export's files: one pass over the person's rows writes the JSON and the CSVs, then
the ZIP and the PDF report are made from them.

The rows come from the collector's ``stream`` (table by table, read in chunks), go to the JSON
writer and the current table's CSV file, and are then forgotten: memory stays flat whatever
the number of rows. Only the PDF report, for at most ``report.ROW_LIMIT`` rows, reads the
person's rows into memory (retention needs a row's relatives). Everything runs in the
person's language.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine

from portal import i18n
from portal.datamap import DataMap, FieldSpec, Resolution, collect, resolve, stream
from portal.datamap.collect import may_hold_more
from portal.datamap.wording import value_label
from portal.exports import report
from portal.exports.csv_zip import KEPT_CSV, CsvTables, write_kept_csv, write_zip
from portal.exports.document import (
    Header,
    JsonWriter,
    Value,
    exported_fields,
    plain,
    table_metadata,
)
from portal.exports.models import ExportFile, ExportScope
from portal.exports.store import ExportStore
from portal.identity.national_id import mask_national_id, parse_national_id
from portal.workflows.kept import KeptTable, StillKept, kept_plain, kept_total
from portal.workflows.letters import PDF_ENV, in_language

README_TEMPLATE = "exports/readme.txt"
# How often (in rows) progress is reported while the rows are read.
PROGRESS_EVERY = 1000

Progress = Callable[[int], None]


@dataclass(frozen=True)
class Person:
    """Whom the export is for: the name on the cover, the national ID the data is found by,
    and the identifiers they have proven (staff-linked addresses and numbers)."""

    name: str
    national_id: str
    proven: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    # What the person's erasures keep (pseudonymised: not found by the national ID any more).
    kept: StillKept = field(default_factory=StillKept)


@dataclass(frozen=True)
class Built:
    rows: int  # rows exported, and records kept after an erasure
    counts: dict[str, int]  # table -> rows exported
    files: dict[str, int]  # file kind -> bytes
    datamap_version: str


def count_rows(datamap: DataMap, sources: Mapping[str, Engine], person: Person) -> int:
    """How many rows the person has (decides whether the worker builds the export)."""
    resolution = resolve(datamap, sources, person.national_id, proven=person.proven)
    return sum(len(keys) for keys in resolution.keys.values())


def build_files(
    datamap: DataMap,
    sources: Mapping[str, Engine],
    store: ExportStore,
    *,
    export_id: str,
    person: Person,
    scope: ExportScope,
    language: str,
    made_at: datetime,
    schema_url: str,
    progress: Progress | None = None,
) -> Built:
    """Write export.json, export.zip and report.pdf for the export, replacing any earlier."""
    return in_language(
        language,
        _build,
        datamap,
        sources,
        store,
        export_id,
        person,
        scope,
        language,
        made_at,
        schema_url,
        progress or (lambda _rows: None),
    )


def _build(
    datamap: DataMap,
    sources: Mapping[str, Engine],
    store: ExportStore,
    export_id: str,
    person: Person,
    scope: ExportScope,
    language: str,
    made_at: datetime,
    schema_url: str,
    progress: Progress,
) -> Built:
    resolution = resolve(datamap, sources, person.national_id, proven=person.proven)
    kept = person.kept.tables(resolution.keys, datamap.table_order())
    header = Header(
        schema_url=schema_url,
        generated_at=made_at,
        scope=scope,
        language=language,
        datamap_version=datamap.version,
        subject_name=person.name,
        national_id=_masked(person.national_id),
        identifiers=_identifiers(resolution),
    )
    with store.writing(export_id) as scratch:
        json_path = scratch / ExportFile.json.filename
        csv_dir = scratch / "csv"
        counts = _write_rows(
            datamap, sources, resolution, header, scope, kept, json_path, csv_dir, progress
        )
        readme = _readme(datamap, header, counts, kept)
        csv_files = {name: csv_dir / f"{name}.csv" for name in counts}
        extra = {}
        if kept:
            extra[KEPT_CSV] = csv_dir / KEPT_CSV
            write_kept_csv(extra[KEPT_CSV], kept_plain(kept, language))
        write_zip(
            scratch / ExportFile.zip.filename,
            readme=readme,
            json_file=json_path,
            csv_files=csv_files,
            made_at=made_at,
            extra=extra,
        )
        for path in (*csv_files.values(), *extra.values()):
            path.unlink()
        csv_dir.rmdir()
        _write_report(
            datamap,
            sources,
            resolution,
            person,
            counts,
            kept,
            scope,
            language,
            made_at,
            scratch / ExportFile.pdf.filename,
        )
        files = {kind.value: (scratch / kind.filename).stat().st_size for kind in ExportFile}
    return Built(sum(counts.values()) + kept_total(kept), counts, files, datamap.version)


def _masked(national_id: str) -> str:
    return mask_national_id(parse_national_id(national_id))


def _identifiers(resolution: Resolution) -> tuple[tuple[str, str], ...]:
    """What the data was found by; the national ID number by its date part only."""
    return tuple(
        (kind, _masked(value) if kind == "national_id" else value)
        for kind, values in resolution.identifiers.items()
        for value in values
    )


def _write_rows(
    datamap: DataMap,
    sources: Mapping[str, Engine],
    resolution: Resolution,
    header: Header,
    scope: ExportScope,
    kept: tuple[KeptTable, ...],
    json_path: Path,
    csv_dir: Path,
    progress: Progress,
) -> dict[str, int]:
    """The one pass over the rows: JSON and CSV together. Returns table -> rows written."""
    counts: dict[str, int] = {}
    done = 0
    with json_path.open("wb") as out, CsvTables(csv_dir) as csvs:
        writer = JsonWriter(out, header, datamap)
        for part in stream(datamap, sources, resolution, newest_first=True):
            columns = exported_fields(datamap, part.spec, scope)
            if not columns:  # portability: nothing in this table is the person's to take
                done += part.count
                continue
            writer.begin_table(table_metadata(datamap, part.name, columns, header.language))
            csvs.begin(part.name, columns)
            specs = {name: part.spec.fields[name] for name in columns}
            for row in part.rows:
                values = row.as_dict()
                exported = {name: plain(values[name]) for name in columns}
                key = plain(row.key)
                writer.row(key, row.via, exported)
                csvs.row(key, row.via, _labelled(specs, values, exported, header.language))
                done += 1
                if done % PROGRESS_EVERY == 0:
                    progress(done)
            writer.end_table()
            counts[part.name] = writer.rows
        withheld = {name: n for name, n in resolution.withheld.items() if n}
        writer.close(withheld, may_hold_more(datamap), kept_plain(kept, header.language))
    progress(done)
    return counts


def _labelled(
    specs: Mapping[str, FieldSpec],
    values: Mapping[str, Any],
    exported: Mapping[str, Value],
    language: str,
) -> list[Value]:
    """A row's CSV values: people read the CSV in a spreadsheet, so a code the map labels is
    written as its label ("levert"), the rest as in the JSON (which keeps the code, with the
    labels in its field metadata)."""
    result: list[Value] = []
    for name, value in exported.items():
        label = value_label(specs[name], values[name], language)
        result.append(value if label is None else label)
    return result


def _readme(
    datamap: DataMap, header: Header, counts: Mapping[str, int], kept: tuple[KeptTable, ...]
) -> str:
    language = header.language
    return PDF_ENV.get_template(README_TEMPLATE).render(
        header=header,
        controller=datamap.controller,
        made_on=i18n.format_day(
            i18n.local_day(header.generated_at, datamap.controller.time_zone), language
        ),
        tables=[(name, datamap.tables[name].name.get(language), n) for name, n in counts.items()],
        kept_file=KEPT_CSV if kept else None,
        kept=[(table.name_in(language), table.count) for table in kept],
    )


def _write_report(
    datamap: DataMap,
    sources: Mapping[str, Engine],
    resolution: Resolution,
    person: Person,
    counts: Mapping[str, int],
    kept: tuple[KeptTable, ...],
    scope: ExportScope,
    language: str,
    made_at: datetime,
    target: Path,
) -> None:
    total = sum(counts.values())
    collection = None
    if total <= report.ROW_LIMIT:
        collection = collect(datamap, sources, person.national_id, proven=person.proven)
    content = report.report_content(
        datamap,
        collection=collection,
        counts=counts,
        kept=kept,
        identifiers=resolution.identifiers,
        withheld=sum(resolution.withheld.values()),
        person_name=person.name,
        scope=scope,
        language=language,
        made_at=made_at,
    )
    target.write_bytes(report.render_report(content, datamap, language))
