"""Washing call lists against the block list (seed 001: "NIX-tvätt" and "NIX-märkning").

Staff upload a CSV in any column order, say which columns hold phone numbers, e-mail addresses
or national IDs, and get it back either cleaned (blocked rows removed) or marked (a reason column
added). The file is read as a stream in batches: each batch's values are normalised and looked
up with one set-based query per kind and chunk (``block_list.lookup``), and written out before the
next batch is read, so memory stays flat whatever the file's size.

Rows that cannot be washed (a number that is not one, the wrong number of columns) are left out
of the result and reported by line number; the rest is washed. Messages never quote a value.

Files live under ``<var_dir>/washing``, named by the wash's random id; both the upload and the
result are personal data and are deleted ``KEEP_FILES`` after the upload (``wash.cleanup``).
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import os
import re
import secrets
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from functools import lru_cache
from itertools import compress, repeat
from operator import not_
from pathlib import Path
from typing import Any, BinaryIO, TextIO

from sqlalchemy import JSON, Column, String, Text, update
from sqlmodel import Field, Session, SQLModel, select

from portal import audit
from portal.db import utcnow
from portal.i18n import gettext as _
from portal.i18n import lazy_gettext as _l
from portal.jobs.queue import JobContext, enqueue, handler
from portal.marketing.block_list import (
    Channel,
    Kind,
    Labels,
    blocking,
    entry_count,
    labels_of,
    lookup,
    normalise,
    order_labels,
)
from portal.marketing.wording import ReasonWords
from portal.phone_numbers import key_function, keys_function
from portal.spreadsheet import SafeWriter

BATCH = 5000  # rows per lookup round
SAMPLE = 64 * 1024  # bytes read to detect encoding, delimiter and header
INLINE_BYTES = 256 * 1024  # smaller files are washed while staff wait; larger ones by a job
KEEP_FILES = timedelta(hours=24)
MAX_REPORTED = 100  # bad rows listed by line number; beyond that only counted
DELIMITERS = (",", ";", "\t")
ENCODINGS = ("utf-8", "cp1252")
# Marked files get two columns: the reasons in the washer's language, and their stable codes.
REASON_COLUMN = "block_reason"
REASON_CODE_COLUMN = "block_reason_code"
# Binary formats people upload by mistake, by their first bytes.
_MAGIC = (b"PK\x03\x04", b"%PDF", b"\x89PNG", b"GIF8", b"\xff\xd8\xff", b"\xd0\xcf\x11\xe0")
# Header names that suggest a column's kind (lower-case, compared without spaces).
_HINTS = {
    Kind.phone: ("phone", "telefon", "telefonnummer", "tlf", "mobil", "mobile", "nummer", "msisdn"),
    Kind.email: ("email", "e-mail", "epost", "e-post", "mail"),
    Kind.national_id: (
        "fødselsnummer",
        "fodselsnummer",
        "fnr",
        "personnummer",
        "pnr",
        "national_id",
        "nationalid",
    ),
}


class WashStatus(StrEnum):
    uploaded = "uploaded"  # waiting for staff to choose the columns
    queued = "queued"  # a job will run it
    running = "running"
    done = "done"
    failed = "failed"  # the message says why; nothing to download
    expired = "expired"  # the files were deleted (KEEP_FILES)


class WashMode(StrEnum):
    remove = "remove"  # leave blocked rows out
    mark = "mark"  # keep every row, add the reason column


class WashError(ValueError):
    """The file cannot be washed: ``code`` (and the line) say why, ``message()`` in words for
    staff, in the language of the page that shows it. Never a value from the file."""

    def __init__(self, code: str, line: int | None = None, encoding: str | None = None) -> None:
        super().__init__(code)
        self.code = code
        self.line = line
        self.encoding = encoding

    def stored(self) -> dict[str, Any]:
        return {"code": self.code, "line": self.line, "encoding": self.encoding}

    def message(self) -> str:
        return error_message(self.stored())


def error_message(error: dict[str, Any]) -> str:
    code, line = error.get("code"), error.get("line")
    if code == "empty":
        return _("The file is empty.")
    if code == "not_text":
        return _("This is not a CSV file: it is neither UTF-8 nor Windows-1252 text.")
    if code == "encoding":
        name = "UTF-8" if error.get("encoding") == "utf-8" else "Windows-1252"
        return _(
            "Line %(line)s is not %(encoding)s text. Choose the other encoding and try again.",
            line=line,
            encoding=name,
        )
    if code == "csv":
        # A field over the csv module's 128 KB limit stops the reader as an open quote does.
        return _(
            "Line %(line)s cannot be read as CSV (a field is too long or a quote is not closed).",
            line=line,
        )
    return _(
        "This is not a CSV file. Save the list as CSV (comma or semicolon separated) and "
        "upload it again."
    )


def problem_message(problem: dict[str, Any]) -> str:
    """A bad row's problem, in words."""
    kind = problem.get("problem")
    if kind == "columns":
        return _(
            "%(found)s columns, not %(expected)s",
            found=problem.get("found"),
            expected=problem.get("expected"),
        )
    return {
        Kind.phone: _("not a phone number"),
        Kind.email: _("not an e-mail address"),
        Kind.national_id: _("not a valid national identity number"),
    }.get(kind, _("cannot be read"))


class Wash(SQLModel, table=True):
    __tablename__ = "wash_job"

    # Random and unguessable: it names the files and appears in the staff pages' addresses.
    id: str = Field(primary_key=True, max_length=32)
    staff_id: int = Field(foreign_key="staff_member.id", index=True)
    # The role the wash was made under: staff holding it may download the result too.
    role: str = Field(max_length=10)
    created_at: datetime = Field(default_factory=utcnow, index=True)
    status: WashStatus = Field(default=WashStatus.uploaded, sa_type=String(10))
    directory: str = Field(max_length=500)
    size_bytes: int = 0
    encoding: str = Field(default="utf-8", max_length=10)
    delimiter: str = Field(default=",", max_length=1)
    has_header: bool = True
    # The header's names, or "1", "2"... without one. Column names are not personal data.
    columns: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    phone_column: int | None = None
    email_column: int | None = None
    national_id_column: int | None = None
    channel: str = Field(default=Channel.phone, max_length=10)
    purpose: str | None = Field(default=None, max_length=60)
    mode: WashMode = Field(default=WashMode.remove, sa_type=String(10))
    region: str = Field(default="NO", max_length=2)
    # The language of the marked file's reason words: the staff member's, when they chose.
    language: str = Field(default="nb", max_length=5)
    # The consent purposes' names in that language, for reasons such as "consent withdrawn (…)".
    topic_names: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    bytes_done: int = 0
    rows_done: int = 0
    summary: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    bad_rows: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    error: str | None = Field(default=None, sa_type=Text)
    finished_at: datetime | None = None

    @property
    def upload_path(self) -> Path:
        return Path(self.directory) / f"{self.id}.csv"

    @property
    def result_path(self) -> Path:
        return Path(self.directory) / f"{self.id}.result.csv"

    @property
    def error_text(self) -> str | None:
        return error_message(json.loads(self.error)) if self.error else None

    @property
    def progress(self) -> int:
        """Per cent of the file read."""
        if self.status == WashStatus.done:
            return 100
        return min(99, self.bytes_done * 100 // self.size_bytes) if self.size_bytes else 0


# --- upload and detection ------------------------------------------------------------------------


@dataclass(frozen=True)
class Detected:
    encoding: str
    delimiter: str
    has_header: bool
    columns: list[str]
    guesses: dict[str, int]  # kind -> column index


def store_upload(
    db: Session,
    stream: BinaryIO,
    *,
    directory: Path,
    staff_id: int,
    role: str,
    region: str,
    now: datetime,
) -> Wash:
    """Save the uploaded file under a random name and detect its shape; refuses a non-CSV file
    (the file is then deleted and nothing is recorded)."""
    directory.mkdir(parents=True, exist_ok=True)
    wash_id = secrets.token_hex(16)
    path = directory / f"{wash_id}.csv"
    size = 0
    with path.open("wb") as out:
        os.chmod(path, 0o600)
        while chunk := stream.read(1024 * 1024):
            out.write(chunk)
            size += len(chunk)
    try:
        with path.open("rb") as handle:
            detected = detect(handle.read(SAMPLE), complete=size <= SAMPLE, region=region)
    except WashError:
        path.unlink(missing_ok=True)
        raise
    wash = Wash(
        id=wash_id,
        staff_id=staff_id,
        role=role,
        created_at=now,
        directory=str(directory.resolve()),
        size_bytes=size,
        encoding=detected.encoding,
        delimiter=detected.delimiter,
        has_header=detected.has_header,
        columns=detected.columns,
        phone_column=detected.guesses.get(Kind.phone),
        email_column=detected.guesses.get(Kind.email),
        national_id_column=detected.guesses.get(Kind.national_id),
        region=region,
    )
    db.add(wash)
    db.flush()
    return wash


def detect(sample: bytes, *, complete: bool, region: str = "NO") -> Detected:
    """Encoding, delimiter, header and likely columns, from the file's first bytes."""
    if not sample.strip():
        raise WashError("empty")
    if sample.startswith(_MAGIC) or b"\x00" in sample:
        raise WashError("not_csv")
    text, encoding = _decode_sample(sample, complete=complete)
    lines = text.splitlines()
    if not complete and len(lines) > 1:
        lines = lines[:-1]  # the sample may end inside a line
    delimiter = _delimiter(lines[:50])
    first = next(csv.reader(lines[:1], delimiter=delimiter), [])
    has_header = not any(_looks_like_value(cell, region) for cell in first)
    columns = [c.strip() for c in first] if has_header else [str(i + 1) for i in range(len(first))]
    guesses: dict[str, int] = {}
    if has_header:
        for index, name in enumerate(columns):
            compact = name.lower().replace(" ", "")
            for kind, hints in _HINTS.items():
                if kind not in guesses and any(hint in compact for hint in hints):
                    guesses[kind] = index
                    break
    elif len(columns) == 1:
        guesses[Kind.phone] = 0
    return Detected(encoding, delimiter, has_header, columns, guesses)


def _decode_sample(sample: bytes, *, complete: bool) -> tuple[str, str]:
    try:
        decoder = codecs.getincrementaldecoder("utf-8-sig")()
        return decoder.decode(sample, final=complete), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return sample.decode("cp1252"), "cp1252"
    except UnicodeDecodeError:
        raise WashError("not_text") from None


def _delimiter(lines: list[str]) -> str:
    """The candidate found the same number of times (at least once) on the most lines."""
    best, best_score = ",", (0, 0)
    for candidate in DELIMITERS:
        counts = [len(row) - 1 for row in csv.reader(lines, delimiter=candidate) if row]
        if not counts or counts[0] == 0:
            continue
        score = (sum(1 for c in counts if c == counts[0]), counts[0])
        if score > best_score:
            best, best_score = candidate, score
    return best


def _looks_like_value(cell: str, region: str) -> bool:
    text = cell.strip()
    return any(normalise(kind, text, region) is not None for kind in Kind) if text else False


# --- choosing the columns ----------------------------------------------------------------------


@dataclass(frozen=True)
class Options:
    phone_column: int | None
    email_column: int | None
    national_id_column: int | None
    channel: str
    mode: str
    encoding: str
    delimiter: str
    has_header: bool
    purpose: str | None = None
    language: str = "nb"  # of the reason words in a marked file


def configure(wash: Wash, options: Options, *, purposes: Mapping[str, str]) -> dict[str, str]:
    """Apply the staff's choices; returns problems by field (then nothing changes).
    ``purposes`` names the consent purposes (key -> name in ``options.language``)."""
    errors: dict[str, Any] = {}
    chosen = [options.phone_column, options.email_column, options.national_id_column]
    if all(column is None for column in chosen):
        errors["columns"] = _l("Choose at least one column to wash by.")
    width = len(wash.columns)
    if any(column is not None and not 0 <= column < width for column in chosen):
        errors["columns"] = _l("Choose columns the file has.")
    if options.channel not in {str(c) for c in Channel if c != Channel.all}:
        errors["channel"] = _l("Choose the channel the list is for.")
    if options.mode not in set(WashMode):
        errors["mode"] = _l("Choose what to do with blocked rows.")
    if options.encoding not in ENCODINGS:
        errors["encoding"] = _l("Choose the file's character encoding.")
    if options.delimiter not in DELIMITERS:
        errors["delimiter"] = _l("Choose the separator between columns.")
    if options.purpose and options.purpose not in purposes:
        errors["purpose"] = _l("Choose one of the purposes listed.")
    if errors:
        return {name: str(message) for name, message in errors.items()}
    wash.phone_column = options.phone_column
    wash.email_column = options.email_column
    wash.national_id_column = options.national_id_column
    wash.channel = options.channel
    wash.mode = WashMode(options.mode)
    wash.encoding = options.encoding
    wash.delimiter = options.delimiter
    wash.purpose = options.purpose or None
    wash.language = options.language
    wash.topic_names = dict(purposes)
    if options.has_header != wash.has_header:
        wash.has_header = options.has_header
        wash.columns = _columns_again(wash)
    return {}


def _columns_again(wash: Wash) -> list[str]:
    with wash.upload_path.open("rb") as handle:
        text, _enc = _decode_sample(handle.read(SAMPLE), complete=wash.size_bytes <= SAMPLE)
    first = next(csv.reader(text.splitlines()[:1], delimiter=wash.delimiter), [])
    if wash.has_header:
        return [c.strip() for c in first]
    return [str(i + 1) for i in range(len(first))]


def start(db: Session, wash: Wash, *, staff_id: int, now: datetime) -> bool:
    """Queue the wash; True when it is small enough for the caller to run it at once."""
    audit.record(
        db,
        actor=audit.AuditActor.staff,
        actor_id=staff_id,
        action="wash.start",
        details={"wash_id": wash.id, "mode": str(wash.mode), "channel": wash.channel},
        now=now,
    )
    inline = wash.size_bytes <= INLINE_BYTES
    wash.status = WashStatus.running if inline else WashStatus.queued
    db.add(wash)
    if not inline:
        enqueue(db, "wash.run", {"wash_id": wash.id}, now=now)
    db.flush()
    return inline


# --- the wash itself -----------------------------------------------------------------------------


@dataclass
class Summary:
    rows: int = 0  # data rows read
    written: int = 0
    blocked: int = 0
    bad: int = 0
    reasons: dict[str, int] = field(default_factory=dict)  # reason -> rows with it
    bad_rows: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "written": self.written,
            "blocked": self.blocked,
            "bad": self.bad,
            "reasons": self.reasons,
        }


Progress = Callable[[int, int], None]  # (bytes read, rows read)


def run(db: Session, wash: Wash, *, now: datetime, progress: Progress | None = None) -> Summary:
    """Wash the uploaded file into the result file; raises ``WashError`` if it cannot be read."""
    kinds = [
        (Kind.phone, wash.phone_column),
        (Kind.email, wash.email_column),
        (Kind.national_id, wash.national_id_column),
    ]
    columns = [_Column(kind, index, *_key_functions(kind, wash.region)) for kind, index in kinds]
    columns = [column for column in columns if column.index is not None]
    blocks = _Blocks(db, wash, [column.kind for column in columns], now)
    summary = Summary()
    tmp = wash.result_path.with_suffix(".part")
    with (
        wash.upload_path.open("rb") as raw,
        tmp.open("w", encoding=wash.encoding, newline="", buffering=OUT_BUFFER) as out,
    ):
        os.chmod(tmp, 0o600)
        writer = SafeWriter(csv.writer(out, delimiter=wash.delimiter, lineterminator="\r\n"))
        width = len(wash.columns)
        reader = _Reader(raw, wash.encoding, wash.delimiter)
        batches = reader.batches(BATCH, header=wash.has_header)
        if wash.has_header:
            first = next(batches, None)
            if first is not None:
                header = first.cells(wash.delimiter)[0]
                width = len(header)
                added = [REASON_COLUMN, REASON_CODE_COLUMN] if wash.mode == WashMode.mark else []
                writer.writerow(header + added)
        washer = _Washer(wash, columns, blocks, width, out, writer, summary)
        for batch in batches:
            washer.wash(batch)
            if progress is not None:
                progress(raw.tell(), summary.rows)
        washer.count_reasons()
    tmp.replace(wash.result_path)
    return summary


OUT_BUFFER = 1024 * 1024
DECODE_BLOCK = 1024 * 1024  # bytes decoded at once when reading the upload
# The whole block list of a kind is loaded for a file of at least LOAD_MIN_ROWS rows, when it
# has at most LOAD_PER_ROW entries per row of the file (reading an entry costs about a tenth of
# probing the index for a row) and at most LOAD_MAX entries (about 75 MB as integers).
LOAD_MIN_ROWS = 20_000
LOAD_PER_ROW = 4
LOAD_MAX = 3_000_000


@dataclass(frozen=True)
class _Column:
    kind: Kind
    index: int | None
    key: Callable[[str], Any]  # the cell's key in the block list, None when it is not one
    keys: Callable[[list[str]], list[Any]]  # ``key`` of each cell of a list, at once


def _key_functions(
    kind: Kind, region: str
) -> tuple[Callable[[str], Any], Callable[[list[str]], list[Any]]]:
    if kind == Kind.phone:
        # An integer, the number's E.164 digits; a column's at once with C-level operations.
        return key_function(region), keys_function(region)
    one = lambda cell: normalise(kind, cell, region)  # noqa: E731
    return one, lambda cells: list(map(one, cells))


class _Blocks:
    """Which labels block each key, per kind: the whole block list loaded once
    (``block_list.blocking``) when the file is large next to it, else looked up batch by batch
    (``block_list.lookup``), as a small file or a list of many millions would be."""

    def __init__(self, db: Session, wash: Wash, kinds: list[Kind], now: datetime) -> None:
        self.db, self.wash, self.now = db, wash, now
        rows = _estimated_rows(wash)
        self.loaded: dict[Kind, bool] = {}
        self.tables: dict[Kind, dict[Any, Labels]] = {}
        for kind in kinds:
            load = rows >= LOAD_MIN_ROWS and entry_count(db, kind) <= min(
                LOAD_MAX, rows * LOAD_PER_ROW
            )
            self.loaded[kind] = load
            self.tables[kind] = (
                blocking(db, kind, channel=wash.channel, now=now, purpose=wash.purpose)
                if load
                else {}
            )

    def prepare(self, kind: Kind, keys: set[Any]) -> None:
        """Before a batch is washed: look its keys up, unless the whole list is loaded."""
        if self.loaded[kind] or not keys:
            return
        values = {("+" + str(key) if kind == Kind.phone else key): key for key in keys}
        wash = self.wash
        found = lookup(
            self.db, kind, values, channel=wash.channel, now=self.now, purpose=wash.purpose
        )
        self.tables[kind] = {values[value]: labels_of(matches) for value, matches in found.items()}


def _estimated_rows(wash: Wash) -> int:
    """The file's rows, from the length of the lines in its first bytes."""
    with wash.upload_path.open("rb") as handle:
        sample = handle.read(SAMPLE)
    lines = sample.count(b"\n") or 1
    return wash.size_bytes * lines // max(1, len(sample))


class _Washer:
    """Washes batch after batch of records into the result, counting into the summary.

    A batch read without the csv module (``_Batch.texts``: no quote, no carriage return, no
    cell a spreadsheet would run) whose rows all have ``width`` cells is washed a column at a
    time: the cells cut out of the lines joined, their keys at once (``_Column.keys``), the
    table looked up with ``map``, and the rows kept written back as the lines they were read
    as, which is what csv.writer would write for them. Any other batch goes row by row.
    """

    def __init__(
        self,
        wash: Wash,
        columns: list[_Column],
        blocks: _Blocks,
        width: int,
        out: TextIO,
        writer: SafeWriter,
        summary: Summary,
    ) -> None:
        self.columns = columns
        self.blocks = blocks
        # The columns were chosen from the first line as detection split it; read with the
        # separator chosen after, the file may have fewer (then no row can be washed, and each
        # says so): a row is washed only with ``width`` cells, and ``width`` must reach them.
        self.expected = max([width, *(column.index + 1 for column in columns)])  # type: ignore[operator]
        self.width = width if width == self.expected else -1
        self.delimiter = wash.delimiter
        self.out = out
        self.writer = writer
        self.summary = summary
        self.mark = wash.mode == WashMode.mark
        self.words = ReasonWords(wash.language, wash.topic_names)
        self.blocked: dict[Labels, int] = {}  # rows blocked, by their labels
        self.merged: dict[tuple[Labels, Labels], Labels] = {}
        self.marks: dict[Labels, list[str]] = {(): ["", ""]}
        self.line = io.StringIO()  # one row as csv.writer writes it (a marked blocked row)
        self.line_writer = SafeWriter(
            csv.writer(self.line, delimiter=wash.delimiter, lineterminator="\r\n")
        )

    def wash(self, batch: _Batch) -> None:
        if batch.texts is not None and batch.safe and self._wash_lines(batch.lines, batch.texts):
            return
        self._wash_rows(batch.lines, batch.cells(self.delimiter))

    def _wash_lines(self, lines: list[int], texts: list[str]) -> bool:
        """The batch a column at a time; False (having done nothing) when a row has not
        ``width`` cells."""
        width, delimiter, count = self.width, self.delimiter, len(texts)
        if width < 1:
            return False
        separators = list(map(str.count, texts, repeat(delimiter, count)))
        if separators.count(width - 1) != count:
            return False
        cells = delimiter.join(texts).split(delimiter) if width > 1 else texts
        found: list[Any] = [None] * count
        bad: dict[int, Kind] = {}
        for column in self.columns:
            keys = self._keys(column, list(map(str.strip, cells[column.index :: width])))
            if None in keys:
                for i, key in enumerate(keys):
                    if key is None:
                        bad.setdefault(i, column.kind)
            if not self.blocks.loaded[column.kind]:
                self.blocks.prepare(column.kind, set(keys) - {None, _EMPTY})
            labels = list(map(self.blocks.tables[column.kind].get, keys))
            if column is self.columns[0]:
                found = labels
                continue
            for i, more in enumerate(labels):
                if more:
                    found[i] = self._merge(found[i], more) if found[i] else more
        summary = self.summary
        summary.rows += count
        for i in sorted(bad):
            found[i] = _BAD
            _bad(summary, {"line": lines[i], "problem": str(bad[i])})
        for labels, rows in Counter(filter(None, found)).items():
            if labels is not _BAD:
                self.blocked[labels] = self.blocked.get(labels, 0) + rows
        if self.mark:
            kept = [
                text + delimiter + delimiter if labels is None else self._marked(text, labels)
                for text, labels in zip(texts, found, strict=True)
                if labels is not _BAD
            ]
        else:
            kept = list(compress(texts, map(not_, found)))
        if kept:
            self.out.write("\r\n".join(kept))
            self.out.write("\r\n")
        summary.written += len(kept)
        return True

    def _keys(self, column: _Column, cells: list[str]) -> list[Any]:
        """Each cell's key: _EMPTY for an empty cell (not washed by), None when it is not one."""
        if "" not in cells:
            return column.keys(cells)
        keys: list[Any] = [_EMPTY] * len(cells)
        where = [i for i, cell in enumerate(cells) if cell]
        for i, key in zip(where, column.keys([cells[i] for i in where]), strict=True):
            keys[i] = key
        return keys

    def _marked(self, text: str, labels: Labels) -> str:
        self.line.seek(0)
        self.line.truncate()
        self.line_writer.write_cells(text.split(self.delimiter) + self._marks(labels))
        return self.line.getvalue()[:-2]

    def _wash_rows(self, lines: list[int], rows: list[list[str]]) -> None:
        if not all(self.blocks.loaded.values()):
            self._prepare(rows)
        summary, width, tables = self.summary, self.width, self.blocks.tables
        write, blocked, mark = self.writer.write_cells, self.blocked, self.mark
        for line, row in zip(lines, rows, strict=True):
            summary.rows += 1
            if len(row) != width:
                expected = self.expected
                problem = {
                    "line": line,
                    "problem": "columns",
                    "found": len(row),
                    "expected": expected,
                }
                _bad(summary, problem)
                continue
            labels: Labels = ()
            for column in self.columns:
                cell = row[column.index].strip()  # type: ignore[index]
                if not cell:
                    continue
                key = column.key(cell)
                if key is None:
                    _bad(summary, {"line": line, "problem": str(column.kind)})
                    break
                found = tables[column.kind].get(key)
                if found:
                    labels = self._merge(labels, found) if labels else found
            else:
                if labels:
                    blocked[labels] = blocked.get(labels, 0) + 1
                if mark:
                    write(row + self._marks(labels))
                elif labels:
                    continue
                else:
                    write(row)
                summary.written += 1

    def _prepare(self, rows: list[list[str]]) -> None:
        for column in self.columns:
            keys = set()
            for row in rows:
                if len(row) == self.width and (cell := row[column.index].strip()):  # type: ignore[index]
                    keys.add(column.key(cell))
            keys.discard(None)
            self.blocks.prepare(column.kind, keys)

    def _merge(self, labels: Labels, more: Labels) -> Labels:
        both = self.merged.get((labels, more))
        if both is None:
            both = self.merged[(labels, more)] = order_labels((*labels, *more))
        return both

    def _marks(self, labels: Labels) -> list[str]:
        cells = self.marks.get(labels)
        if cells is None:
            cells = self.marks[labels] = [self.words.row(list(labels)), "; ".join(labels)]
        return cells

    def count_reasons(self) -> None:
        reasons = self.summary.reasons
        for labels, rows in self.blocked.items():
            self.summary.blocked += rows
            for reason in dict.fromkeys(label.split(":")[0] for label in labels):
                reasons[reason] = reasons.get(reason, 0) + rows


_EMPTY = object()  # the key of an empty cell: not washed by, never in a table
_BAD = object()  # a row that cannot be washed (reported, not written)


@dataclass
class _Batch:
    """Records read: each one's first line number, and its cells or, when read without the
    csv module, its line as read (``texts``, without the line end; ``cells`` splits them)."""

    lines: list[int]
    rows: list[list[str]] | None = None
    texts: list[str] | None = None
    # No cell of the texts is one safe_cell would change (so they are written as they are).
    safe: bool = False

    def __len__(self) -> int:
        return len(self.lines)

    def cells(self, delimiter: str) -> list[list[str]]:
        if self.rows is None:
            self.rows = [text.split(delimiter) for text in self.texts or ()]
        return self.rows

    def part(self, start: int, end: int) -> _Batch:
        if self.texts is not None:
            return _Batch(self.lines[start:end], None, self.texts[start:end], self.safe)
        return _Batch(self.lines[start:end], (self.rows or [])[start:end])

    def then(self, other: _Batch, delimiter: str) -> _Batch:
        lines = self.lines + other.lines
        if self.texts is not None and other.texts is not None:
            return _Batch(lines, None, self.texts + other.texts, self.safe and other.safe)
        return _Batch(lines, self.cells(delimiter) + other.cells(delimiter))


class _Reader:
    """The upload's records. It is decoded a block of about DECODE_BLOCK bytes at a time, split
    at ``\\n`` only (as reading it in binary does). A block with no quote, no carriage return
    but in ``\\r\\n``, no NUL and no line longer than the csv module's field limit is split
    into lines and cells by ``str`` methods, which is how the csv module reads it. Any other
    block goes through the csv module, and so do the blocks after it until a record ends at the
    end of one (a quoted field may run on). A block that does not decode is decoded line by
    line, so that the error names its line and comes only when the reader reaches that line."""

    def __init__(self, raw: BinaryIO, encoding: str, delimiter: str) -> None:
        self.raw = raw
        self.encoding = encoding
        self.delimiter = delimiter
        self.done = 0  # lines read
        self.last = 0  # the line the last record ended on

    def batches(self, size: int, *, header: bool = False) -> Iterator[_Batch]:
        """The records ``size`` at a time (the header first on its own, when there is one);
        blank lines are skipped."""
        rest: _Batch | None = None
        for piece in self._pieces():
            rest = piece if rest is None else rest.then(piece, self.delimiter)
            start = 0
            while len(rest) - start >= (1 if header else size):
                end = start + (1 if header else size)
                yield rest.part(start, end)
                start, header = end, False
            if start:
                rest = rest.part(start, len(rest))
        if rest is not None and len(rest):
            yield rest

    def _pieces(self) -> Iterator[_Batch]:
        blocks = self._blocks()
        for text, block in blocks:
            plain = _plain(text) if text is not None else None
            texts = plain[0].split(plain[1]) if plain is not None else None
            # A line longer than a field may hold a field over the csv module's limit (an error).
            if plain is not None and texts and max(map(len, texts)) <= csv.field_size_limit():
                yield self._split(*plain, texts)
            else:
                yield self._read_csv(text, block, blocks)

    def _split(self, text: str, newline: str, texts: list[str]) -> _Batch:
        if text.endswith(newline):
            texts.pop()
        numbers = range(self.done + 1, self.done + len(texts) + 1)
        self.done = self.last = numbers.stop - 1
        safe = _safe(text, self.delimiter)
        if "" in texts:  # blank lines: the csv module reads no record from them
            kept = [i for i, line in enumerate(texts) if line]
            return _Batch([numbers[i] for i in kept], None, [texts[i] for i in kept], safe)
        return _Batch(list(numbers), None, texts, safe)

    def _read_csv(
        self, text: str | None, block: bytes, blocks: Iterator[tuple[str | None, bytes]]
    ) -> _Batch:
        """The block's records through the csv module, and the next blocks' while a record
        runs on past the end of the lines read so far."""
        start = self.done
        available = [self.done]  # lines of the blocks handed to the reader

        def lines() -> Iterator[str]:
            yield from self._lines(text, block, available)
            for more in blocks:  # a record runs on past the block
                yield from self._lines(*more, available)

        reader = csv.reader(lines(), delimiter=self.delimiter)
        numbers: list[int] = []
        rows: list[list[str]] = []
        try:
            for row in reader:
                first, self.last = self.last + 1, start + reader.line_num
                if row:
                    numbers.append(first)
                    rows.append(row)
                if self.last == available[0]:
                    break  # the record ended where the lines read so far end
        except csv.Error:
            raise WashError("csv", self.last + 1) from None
        self.done = available[0]
        return _Batch(numbers, rows)

    def _lines(self, text: str | None, block: bytes, available: list[int]) -> Iterator[str]:
        before = available[0]
        available[0] += block.count(b"\n") + (not block.endswith(b"\n") and len(block) > 0)
        if text is not None:
            yield from io.StringIO(text, newline="\n")
            return
        for number, data in enumerate(io.BytesIO(block), start=before + 1):
            try:
                yield data.decode(self.encoding)
            except UnicodeDecodeError:
                raise WashError("encoding", number, self.encoding) from None

    def _blocks(self) -> Iterator[tuple[str | None, bytes]]:
        """(text, bytes) of each block ending at a line end (or the file's end); text None
        when the block does not decode."""
        rest = b""
        first = self.encoding == "utf-8"
        while True:
            data = self.raw.read(DECODE_BLOCK)
            block = rest + data
            cut = len(block) if not data else block.rfind(b"\n") + 1
            if not cut:
                if not data:
                    return
                rest = block
                continue
            block, rest = block[:cut], block[cut:]
            if first:
                block, first = block.removeprefix(codecs.BOM_UTF8), False
            try:
                text: str | None = block.decode(self.encoding)
            except UnicodeDecodeError:
                text = None
            if block:
                yield text, block
            if not data:
                return


def _plain(text: str) -> tuple[str, str] | None:
    """The block and the line end to split it at into lines the csv module would read by
    splitting them at the separator: ``\\r\\n`` when every line ends so, else ``\\n`` (mixed
    line ends made ``\\n``). None for a quote, a NUL or a carriage return not before ``\\n``."""
    if '"' in text or "\x00" in text:
        return None
    crlf = text.count("\r\n")
    if not crlf:
        return None if "\r" in text else (text, "\n")
    if text.count("\r") != crlf:
        return None
    if crlf == text.count("\n"):
        return text, "\r\n"
    return text.replace("\r\n", "\n"), "\n"


def _safe(text: str, delimiter: str) -> bool:
    """Whether no cell of the block's lines is one ``safe_cell`` would change: none starts
    with a quote or with =, @ or a tab, and every one that starts with + or - is a signed
    number. A character search first (memchr: a character not in the block at all costs
    nothing), then a separator or line end before it, then a pattern for + and -."""
    lines = "\n" + text
    for char in "'=@\t+-":
        if char not in text:
            continue
        for start in (delimiter, "\n"):
            if start + char not in lines:
                continue
            if char not in "+-" or _not_signed(start + char, delimiter).search(lines):
                return False
    return True


@lru_cache(maxsize=16)
def _not_signed(start: str, delimiter: str) -> re.Pattern[str]:
    """``start`` (a separator or line end, then + or -) beginning a cell that is not a signed
    number as ``spreadsheet._SIGNED_NUMBER`` reads one."""
    ends = re.escape(delimiter) + r"\r\n"  # a carriage return in a plain block ends a line
    return re.compile(re.escape(start) + rf"(?![0-9 .,()/\-]*(?:[{ends}]|\Z))")


def _bad(summary: Summary, problem: dict[str, Any]) -> None:
    summary.bad += 1
    if len(summary.bad_rows) < MAX_REPORTED:
        summary.bad_rows.append(problem)


def finish(
    db: Session, wash: Wash, summary: Summary | None, error: WashError | None, now: datetime
) -> None:
    """Record the outcome in the caller's transaction."""
    wash.status = WashStatus.failed if error else WashStatus.done
    wash.error = json.dumps(error.stored()) if error else None
    wash.finished_at = now
    if summary is not None:
        wash.summary = summary.as_dict()
        wash.bad_rows = summary.bad_rows
        wash.rows_done = summary.rows
        wash.bytes_done = wash.size_bytes
    db.add(wash)
    audit.record(
        db,
        actor=audit.AuditActor.system,
        actor_id=None,
        action="wash.finished",
        details={"wash_id": wash.id, "status": str(wash.status), **(wash.summary or {})},
        now=now,
    )


def run_and_finish(
    db: Session, wash: Wash, *, now: datetime, progress: Progress | None = None
) -> None:
    try:
        summary = run(db, wash, now=now, progress=progress)
    except WashError as exc:
        wash.result_path.with_suffix(".part").unlink(missing_ok=True)
        finish(db, wash, None, exc, now)
        return
    finish(db, wash, summary, None, now)


@handler("wash.run")
def wash_job(db: Session, payload: dict[str, Any], ctx: JobContext) -> None:
    wash = db.get(Wash, str(payload["wash_id"]))
    if wash is None or wash.status not in (WashStatus.queued, WashStatus.running):
        return  # deleted, expired or already done: nothing to do
    engine = db.get_bind()

    def progress(done: int, rows: int) -> None:
        # Its own short transaction, so the page sees progress while the job's is still open.
        with Session(engine) as other:
            other.execute(
                update(Wash)
                .where(Wash.id == wash.id)
                .values(status=WashStatus.running, bytes_done=done, rows_done=rows)
            )
            other.commit()

    run_and_finish(db, wash, now=ctx.now, progress=progress)


# --- access and clean-up -------------------------------------------------------------------------


def may_see(wash: Wash, staff_id: int, roles: tuple[str, ...]) -> bool:
    """The uploader, or staff holding the role it was made under."""
    return wash.staff_id == staff_id or wash.role in roles


def open_result(
    db: Session, wash_id: str, *, staff_id: int, roles: tuple[str, ...], now: datetime
) -> Wash | None:
    """A finished wash whose washed file staff may download, with the download audit-logged;
    None when it is not theirs to see, not done, or its file is gone."""
    wash = db.get(Wash, wash_id)
    if wash is None or not may_see(wash, staff_id, roles):
        return None
    if wash.status != WashStatus.done or not wash.result_path.is_file():
        return None
    audit.record(
        db,
        actor=audit.AuditActor.staff,
        actor_id=staff_id,
        action="wash.download",
        details={"wash_id": wash.id},
        now=now,
    )
    return wash


def recent(db: Session, roles: tuple[str, ...], staff_id: int, limit: int = 20) -> list[Wash]:
    statement = (
        select(Wash)
        .where((Wash.staff_id == staff_id) | Wash.role.in_(roles))  # type: ignore[attr-defined]
        .order_by(Wash.created_at.desc())  # type: ignore[attr-defined]
        .limit(limit)
    )
    return list(db.exec(statement))


def expire(db: Session, now: datetime) -> int:
    """Delete the files of washes uploaded more than KEEP_FILES ago; returns how many."""
    statement = select(Wash).where(
        Wash.created_at < now - KEEP_FILES, Wash.status != WashStatus.expired
    )
    count = 0
    for wash in db.exec(statement):
        for path in (wash.upload_path, wash.result_path, wash.result_path.with_suffix(".part")):
            path.unlink(missing_ok=True)
        wash.status = WashStatus.expired
        db.add(wash)
        count += 1
    db.flush()
    return count


@handler("wash.cleanup", every=timedelta(hours=1))
def cleanup_job(db: Session, payload: dict[str, Any], ctx: JobContext) -> None:
    expire(db, ctx.now)
