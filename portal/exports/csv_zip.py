"""The export as a ZIP: one CSV per table, the JSON document, and a README in the person's language.

CSV files are UTF-8 with a byte-order mark (so spreadsheet programs read æ, ø, å, ä and ö right),
comma-separated, every field quoted when needed (Python's csv module, ``excel`` dialect). The
first two columns are the row's key and how it links to the person, then the table's exported
columns in the data map's order, named as in the JSON. Values are written as in the JSON (dates
in ISO 8601, decimals exact), except that a code the data map labels ("delivered") is written as
its label in the person's language ("levert"); an empty field is a missing value. A value a
spreadsheet would take for a formula (it begins with = + - @) is written with a ' in front
(portal/spreadsheet.py says how a program gets it back); the JSON has every value exactly.

Rows are written one at a time to files on disk, and the ZIP is assembled from those files in
chunks, so neither step holds a table in memory.
"""

from __future__ import annotations

import csv
import shutil
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from portal.exports.document import Value
from portal.spreadsheet import SafeWriter

ENCODING = "utf-8-sig"
KEY_COLUMN = "row_key"
LINK_COLUMN = "linked_by"
README = "README.txt"
# What an erasure keeps, at the top of the ZIP: one line per table, day and hold.
KEPT_CSV = "kept_after_erasure.csv"
KEPT_COLUMNS = ("table", "table_name", "records", "kept_until", "then", "hold", "law")
JSON_NAME = "export.json"
CSV_DIR = "csv"


def csv_text(value: Value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class CsvTables:
    """Writes one CSV file per table into ``directory``, a row at a time."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.names: list[str] = []
        self._file: IO[str] | None = None
        self._writer: Any = None

    def begin(self, table: str, columns: Sequence[str]) -> None:
        self.end()
        self._file = (self.directory / f"{table}.csv").open("w", encoding=ENCODING, newline="")
        self._writer = SafeWriter(csv.writer(self._file))
        self._writer.writerow([KEY_COLUMN, LINK_COLUMN, *columns])
        self.names.append(table)

    def row(self, key: Value, linked_by: str, values: Iterable[Value]) -> None:
        self._writer.writerow([csv_text(key), linked_by, *(csv_text(v) for v in values)])

    def end(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def __enter__(self) -> CsvTables:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.end()


def write_kept_csv(path: Path, kept: Iterable[Mapping[str, Any]]) -> None:
    """The records an erasure keeps (``kept.kept_plain``): per table, day and holds, how many;
    several holds deciding one day are joined with "; "."""
    with path.open("w", encoding=ENCODING, newline="") as out:
        writer = SafeWriter(csv.writer(out))
        writer.writerow(KEPT_COLUMNS)
        for table in kept:
            for group in table["groups"]:
                holds = group["holds"]
                writer.writerow(
                    [
                        table["table"],
                        table["name"],
                        group["count"],
                        group["until"] or group["until_text"],
                        group["then"] or "",
                        "; ".join(hold["name"] for hold in holds),
                        # A citation not verified is null: left out, the hold named alone.
                        "; ".join(hold["citation"] for hold in holds if hold["citation"]),
                    ]
                )


def write_zip(
    target: Path,
    *,
    readme: str,
    json_file: Path,
    csv_files: Mapping[str, Path],
    made_at: datetime,
    extra: Mapping[str, Path] | None = None,
) -> None:
    """The ZIP: README.txt, export.json, csv/<table>.csv and the ``extra`` files by name (the
    kept records), stamped with the export's time."""
    stamp = made_at.astimezone(UTC).timetuple()[:6]

    def entry(name: str) -> zipfile.ZipInfo:
        info = zipfile.ZipInfo(name, date_time=stamp)
        info.compress_type = zipfile.ZIP_DEFLATED
        info.external_attr = 0o644 << 16
        return info

    with zipfile.ZipFile(target, "w", allowZip64=True) as archive:
        archive.writestr(entry(README), readme.encode("utf-8"))
        for name, path in (
            (JSON_NAME, json_file),
            *((f"{CSV_DIR}/{t}.csv", p) for t, p in csv_files.items()),
            *(extra or {}).items(),
        ):
            with path.open("rb") as source, archive.open(entry(name), "w", force_zip64=True) as out:
                shutil.copyfileobj(source, out, 1024 * 1024)
