"""Sources the block list takes whole: external do-not-call registers, and the deceased.

External registers (Norway's Reservasjonsregisteret, Sweden's NIX-Telefon) arrive as files: one
number a line, or CSV with a column of numbers. An import replaces every entry of that source in
one transaction, so a re-import never leaves a mix of old and new, and a failed one leaves the old.

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
from typing import Any

from sqlalchemy import column, select, table
from sqlalchemy.engine import Engine
from sqlmodel import Session

from portal import block_list
from portal.block_list import Channel, Kind, NewEntry, Reason
from portal.datamap.identity import resolve
from portal.datamap.model import DataMap
from portal.jobs import JobContext, handler
from portal.phone_numbers import normalise_phone

# Display names of the registers we know; any other name is shown as given.
KNOWN_REGISTERS = {
    "reservasjonsregisteret": "Reservasjonsregisteret",
    "nix": "NIX-Telefon",
}
_SOURCE_NAME = re.compile(r"^[a-z][a-z0-9_-]{1,40}$")
_NUMBER_COLUMNS = ("phone", "telefon", "telefonnummer", "nummer", "number", "msisdn", "tel")
MAX_BAD_LINES = 100  # listed by line number; beyond that only counted


class RegisterError(ValueError):
    """The file or the source name cannot be used; nothing was changed."""


@dataclass
class ImportResult:
    source: str
    imported: int = 0
    bad_lines: list[int] = field(default_factory=list)
    bad_count: int = 0


def check_source_name(source: str) -> str:
    if not _SOURCE_NAME.match(source):
        raise RegisterError(
            "a source name is 2-41 lower-case letters, digits, - or _, starting with a letter"
        )
    if source in block_list.OWN_SOURCES:
        raise RegisterError(f"'{source}' is the portal's own source; choose another name")
    return source


def read_numbers(content: bytes, region: str, result: ImportResult) -> Iterator[str]:
    """E.164 numbers from a register file; bad lines are counted in ``result``."""
    text = _decode(content)
    lines = text.splitlines()
    first = lines[0] if lines else ""
    delimiter = next((d for d in (";", ",", "\t") if d in first), None)
    index = 0
    start = 1
    if delimiter is not None:
        header = [cell.strip().lower() for cell in next(csv.reader([first], delimiter=delimiter))]
        named = [i for i, name in enumerate(header) if name in _NUMBER_COLUMNS]
        if named:
            index, start = named[0], 2
        rows = csv.reader(io.StringIO(text), delimiter=delimiter)
    else:
        rows = ([line] for line in lines)
    for line_number, row in enumerate(rows, start=1):
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


def _decode(content: bytes) -> str:
    if b"\x00" in content[:4096]:
        raise RegisterError("this is not a text file of phone numbers")
    try:
        return content.decode("utf-8-sig")
    except UnicodeDecodeError:
        return content.decode("cp1252", errors="replace")


def import_register(
    db: Session,
    source: str,
    path: Path,
    *,
    region: str,
    source_date: date | None,
    now: datetime,
) -> ImportResult:
    """Replace the register's entries with the numbers in ``path`` (in the caller's transaction)."""
    check_source_name(source)
    result = ImportResult(source)
    entries = (
        NewEntry(Kind.phone, number, Reason.external_register, Channel.phone)
        for number in read_numbers(path.read_bytes(), region, result)
    )
    result.imported = block_list.replace_source(
        db, source, entries, now=now, source_date=source_date or now.date()
    )
    if result.imported == 0:
        raise RegisterError("the file holds no phone numbers; the old entries are kept")
    return result


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
