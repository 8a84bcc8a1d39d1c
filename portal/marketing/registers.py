"""Sources the block list takes whole: external do-not-call registers, and the deceased.

External registers (Norway's Reservasjonsregisteret, Sweden's NIX-Telefon) arrive as files: one
number a line, or CSV with a column of numbers. An import replaces every entry of that source in
one transaction, so a re-import never leaves a mix of old and new, and a failed one leaves the old.
Files come from the command line (a path) or the staff page (the upload, never stored).

The deceased come from the company's own data: a table of the data map with a ``deceased`` date
column (the demo's ``crm_customers.deceased_on``). A daily job puts every identifier of every
deceased person on the list (reason "deceased", all channels), replacing the previous run's.
"""

from __future__ import annotations

import csv
import io
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy import column, func, select, table
from sqlalchemy.engine import Engine
from sqlmodel import Session

from portal import audit
from portal.datamap.identity import resolve
from portal.datamap.model import DataMap
from portal.i18n import gettext as _
from portal.jobs.queue import JobContext, handler
from portal.marketing import block_list
from portal.marketing.block_list import BlockEntry, Channel, Kind, NewEntry, Reason
from portal.phone_numbers import normalise_phone

# Display names of the registers we know; any other name is shown as given.
KNOWN_REGISTERS = {
    "reservasjonsregisteret": "Reservasjonsregisteret",
    "nix": "NIX-Telefon",
}
_SOURCE_NAME = re.compile(r"^[a-z][a-z0-9_-]{1,40}$")
_NUMBER_COLUMNS = ("phone", "telefon", "telefonnummer", "nummer", "number", "msisdn", "tel")
MAX_BAD_LINES = 100  # listed by line number; beyond that only counted
# The staff page's limit. The page waits while the whole file is read and imported: about
# 16 µs and 300 bytes of memory a number, so 32 MB (2.5-3.5 million numbers) is about a minute
# and 1 GB. Bigger files go through the command line, which has no limit.
MAX_UPLOAD_BYTES = 32 * 1024 * 1024

# Why a file or a name cannot be used: English for the command line; ``message()`` for the page.
_ENGLISH = {
    "source_name": (
        "a source name is 2-41 lower-case letters, digits, - or _, starting with a letter"
    ),
    "own_source": "'{source}' is the portal's own source; choose another name",
    "no_file": "no file was given",
    "empty": "the file is empty; the old entries are kept",
    "too_large": "the file is larger than {mb} MB; import it with the command line",
    "not_text": "this is not a text file of phone numbers",
    "csv": "line {line} cannot be read as CSV (a field is too long or a quote is not closed)",
    "no_numbers": "the file holds no phone numbers; the old entries are kept",
    "date": "the file's date is not a date (YYYY-MM-DD)",
    "future_date": "the file's date is in the future",
    "region": "choose the country of numbers written without a country code",
}


class RegisterError(ValueError):
    """The file, its date or the source name cannot be used; nothing was changed.

    ``code`` says why; ``str()`` is English (the command line), ``message()`` is in the language
    of the page that shows it. Never a value from the file."""

    def __init__(self, code: str, *, source: str = "", line: int | None = None) -> None:
        mb = MAX_UPLOAD_BYTES // 2**20
        super().__init__(_ENGLISH[code].format(source=source, mb=mb, line=line))
        self.code = code
        self.source = source
        self.line = line

    def message(self) -> str:
        code = self.code
        if code == "source_name":
            return _(
                "A register's name is 2 to 41 characters: lower-case letters a-z, digits, - "
                "or _, starting with a letter (for example reservasjonsregisteret or nix)."
            )
        if code == "own_source":
            return _(
                "“%(source)s” is one of the portal's own sources. Give the register's name.",
                source=self.source,
            )
        if code == "csv":
            return _(
                "Line %(line)s cannot be read as CSV (a field is too long or a quote is not "
                "closed).",
                line=self.line,
            )
        if code == "too_large":
            return _(
                "The file is larger than %(size)s MB. Import it with the command line "
                "(portal block-list import).",
                size=MAX_UPLOAD_BYTES // 2**20,
            )
        return {
            "no_file": _("Choose the register's file."),
            "empty": _("The file is empty."),
            "not_text": _("This is not a text file of phone numbers."),
            "no_numbers": _("The file holds no phone numbers."),
            "date": _("Give the file's date as a date, for example 2026-11-01."),
            "future_date": _("The file's date is in the future."),
            "region": _("Choose the country of numbers written without a country code."),
        }[code]


@dataclass
class ImportResult:
    source: str
    imported: int = 0
    bad_lines: list[int] = field(default_factory=list)
    bad_count: int = 0


@dataclass(frozen=True)
class RegisterSource:
    """A register on the block list: its entries and when it was last imported."""

    source: str
    entries: int
    imported_at: datetime
    file_date: date | None


def check_source_name(source: str) -> str:
    if not _SOURCE_NAME.match(source):
        raise RegisterError("source_name")
    if source in block_list.OWN_SOURCES:
        raise RegisterError("own_source", source=source)
    return source


def parse_file_date(text: str, today: date) -> date | None:
    """The file's date as staff typed it (ISO); None when left empty (the import takes today).
    A day's grace for the future: today in Oslo can be tomorrow in UTC."""
    if not text.strip():
        return None
    try:
        day = date.fromisoformat(text.strip())
    except ValueError:
        raise RegisterError("date") from None
    if day > today + timedelta(days=1):
        raise RegisterError("future_date")
    return day


def read_numbers(content: bytes, region: str, result: ImportResult) -> Iterator[str]:
    """E.164 numbers from a register file; bad lines are counted in ``result``."""
    text = _decode(content)
    lines = text.splitlines()
    first = lines[0] if lines else ""
    delimiter = next((d for d in (";", ",", "\t") if d in first), None)
    index = 0
    start = 1
    if delimiter is not None:
        _line, cells = next(_numbered(csv.reader([first], delimiter=delimiter)), (1, []))
        header = [cell.strip().lower() for cell in cells]
        named = [i for i, name in enumerate(header) if name in _NUMBER_COLUMNS]
        if named:
            index, start = named[0], 2
        # newline="": the csv module's own line handling, so a quoted field may hold a line
        # break and a file with bare CR line ends reads as lines, not as one bad field.
        rows = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    else:
        rows = ([line] for line in lines)
    for line_number, row in _numbered(rows):
        if line_number < start or not any(cell.strip() for cell in row):
            continue
        number = normalise_phone(row[index], region) if index < len(row) else None
        if number is None:
            if line_number == 1:
                continue  # a header line with a name we do not know
            result.bad_count += 1
            if len(result.bad_lines) < MAX_BAD_LINES:
                result.bad_lines.append(line_number)
            continue
        yield number


def _numbered(rows: Any) -> Iterator[tuple[int, list[str]]]:
    """(the line a record starts on, its cells); a record the csv module cannot read (a field
    over its 128 KB limit) stops the import naming its line, instead of a crash."""
    line = 0
    try:
        for row in rows:
            start, line = line + 1, getattr(rows, "line_num", line + 1)
            yield start, row
    except csv.Error:
        raise RegisterError("csv", line=line + 1) from None


def _decode(content: bytes) -> str:
    if b"\x00" in content[:4096]:
        raise RegisterError("not_text")
    try:
        return content.decode("utf-8-sig")
    except UnicodeDecodeError:
        return content.decode("cp1252", errors="replace")


def import_register(
    db: Session,
    source: str,
    file: Path | bytes | BinaryIO,
    *,
    region: str,
    source_date: date | None,
    now: datetime,
    staff_id: int | None = None,
    max_bytes: int | None = None,
) -> ImportResult:
    """Replace the register's entries with the numbers in ``file`` (a path, the bytes, or an
    open binary file such as an upload), in the caller's transaction: on RegisterError the
    caller rolls back and the old entries stay. Audit-logged with counts only, as ``staff_id``
    (the page) or as the system (the command line). ``max_bytes`` refuses a larger file."""
    check_source_name(source)
    content = _read(file, max_bytes)
    if not content or content.isspace():
        raise RegisterError("empty")
    result = ImportResult(source)
    entries = (
        NewEntry(Kind.phone, number, Reason.external_register, Channel.phone)
        for number in read_numbers(content, region, result)
    )
    file_date = source_date or now.date()
    result.imported = block_list.replace_source(db, source, entries, now=now, source_date=file_date)
    if result.imported == 0:
        raise RegisterError("no_numbers")
    audit.record(
        db,
        actor=audit.AuditActor.staff if staff_id is not None else audit.AuditActor.system,
        actor_id=staff_id,
        action="block_list.import",
        details={
            "source": source,
            "file_date": file_date.isoformat(),
            "imported": result.imported,
            "bad_lines": result.bad_count,
        },
        now=now,
    )
    return result


def _read(file: Path | bytes | BinaryIO, max_bytes: int | None) -> bytes:
    if isinstance(file, Path):
        if max_bytes is not None and file.stat().st_size > max_bytes:
            raise RegisterError("too_large")
        return file.read_bytes()
    content = (
        file if isinstance(file, bytes) else file.read(-1 if max_bytes is None else max_bytes + 1)
    )
    if max_bytes is not None and len(content) > max_bytes:
        raise RegisterError("too_large")
    return content


def register_sources(db: Session) -> list[RegisterSource]:
    """Each external register on the block list, by name: entries, last import, file date.
    A re-import deletes and re-inserts, so the newest ``created_at`` is the last import."""
    entry = BlockEntry.__table__  # type: ignore[attr-defined]
    statement = (
        select(
            entry.c.source,
            func.count(),
            func.max(entry.c.created_at),
            func.max(entry.c.source_date),
        )
        .where(entry.c.source.not_in(block_list.OWN_SOURCES))
        .where(entry.c.removed_at.is_(None))
        .group_by(entry.c.source)
        .order_by(entry.c.source)
    )
    return [RegisterSource(*row) for row in db.execute(statement)]


# --- the deceased --------------------------------------------------------------------------------


def deceased_national_ids(datamap: DataMap, sources: Mapping[str, Engine]) -> set[str]:
    """National IDs the company's data records as deceased (tables with a ``deceased`` column)."""
    found: set[str] = set()
    for name, spec in datamap.tables.items():
        if spec.deceased is None:
            continue
        link = next(link for link in spec.identifier_links if link.identifier == "national_id")
        clause = table(
            datamap.db_table(name),
            column(link.column),
            column(spec.deceased),
            schema=datamap.sources[spec.source].schema_,
        )
        statement = select(clause.c[link.column]).where(clause.c[spec.deceased].is_not(None))
        with sources[spec.source].connect() as connection:
            found.update(str(value).strip() for (value,) in connection.execute(statement) if value)
    return found


def sync_deceased(
    db: Session, datamap: DataMap, sources: Mapping[str, Engine], *, region: str, now: datetime
) -> int:
    """Put every identifier of every deceased person on the block list; returns the entries."""
    entries: list[NewEntry] = []
    for national_id in sorted(deceased_national_ids(datamap, sources)):
        resolution = resolve(datamap, sources, national_id)
        ids = block_list.person_identifiers(resolution.identifiers, national_id, region)
        entries += [
            NewEntry(kind, value, Reason.deceased, Channel.all)
            for kind, values in ids.items()
            for value in sorted(values)
        ]
    return block_list.replace_source(db, block_list.DECEASED, entries, now=now)


@handler("block_list.deceased", every=timedelta(days=1))
def deceased_job(db: Session, payload: dict[str, Any], ctx: JobContext) -> None:
    from portal.settings import phone_region_from
    from portal.workflows.erasure_run import runtime

    rt = runtime()
    region = phone_region_from(os.environ)
    sync_deceased(db, rt.datamap, rt.sources, region=region, now=ctx.now)
