"""CSV under arbitrary input: the call-list wash (detection and the wash itself) and the register
import answer arbitrary bytes with a result or their own refusal (WashError, RegisterError),
never a crash; a bad line is reported by its own line number; and a washed list's cells come
back exactly through portal/spreadsheet.py's safe_cell/unsafe_cell."""

from __future__ import annotations

import csv
import io
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from unittest import mock

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy.engine import Engine
from sqlmodel import Session

from portal.marketing import registers, washing
from portal.marketing.block_list import Kind
from portal.marketing.registers import ImportResult, RegisterError
from portal.marketing.washing import Wash, WashError, WashMode
from portal.spreadsheet import _SIGNED_NUMBER, TRIGGERS, safe_cell, unsafe_cell

NOW = datetime(2026, 11, 24, 12, tzinfo=UTC)
# The engine is the session's; the autouse table truncation runs once per test, not per example,
# which is fine: a wash only reads the (empty) block list.
uses_engine = settings(suppress_health_check=[HealthCheck.function_scoped_fixture])

NUMBERS = st.from_regex(r"9[0-9]{7}", fullmatch=True)
NOT_VALUES = ("x", "12", "nope", "+47 12", "999999999999999999")
NOT_NUMBERS = st.sampled_from(NOT_VALUES)
# Cell text as people and spreadsheets write it: anything but NUL, which a CSV file cannot hold.
CELLS = st.text(st.characters(exclude_characters="\x00", exclude_categories=["Cs"]), max_size=12)


@contextmanager
def _wash(content: bytes, **fields: object) -> Iterator[Wash]:
    with tempfile.TemporaryDirectory() as directory:
        wash = Wash(
            id="f" * 32,
            staff_id=1,
            role="staff",
            directory=directory,
            size_bytes=len(content),
            columns=["phone"],
            phone_column=0,
            **fields,
        )
        wash.upload_path.write_bytes(content)
        yield wash


def _run(engine: Engine, wash: Wash) -> washing.Summary:
    with Session(engine) as db:
        return washing.run(db, wash, now=NOW)


# --- detection and the wash ----------------------------------------------------------------------


@given(st.binary(max_size=300), st.booleans())
@example(b"\xef\xbb\xbf", True)
@example(b'"unclosed\n1;2', False)
@example("a\rb\x0bc\x1cd\u2028e".encode(), True)  # line breaks to splitlines, not to csv
def test_detection_of_any_bytes_is_a_shape_or_a_wash_error(sample: bytes, complete: bool) -> None:
    try:
        detected = washing.detect(sample, complete=complete)
    except WashError as error:
        assert error.code in {"empty", "not_csv", "not_text"}
        assert error.message()
        return
    assert detected.delimiter in washing.DELIMITERS
    assert detected.encoding in washing.ENCODINGS
    assert all(0 <= index < max(len(detected.columns), 1) for index in detected.guesses.values())


@uses_engine
@given(
    st.binary(max_size=400),
    st.sampled_from(washing.ENCODINGS),
    st.sampled_from(washing.DELIMITERS),
    st.booleans(),
    st.sampled_from(list(WashMode)),
)
@example(b'"' + b"1" * 140_000 + b'"\n', "utf-8", ",", False, WashMode.mark)  # > csv's field limit
@example(b"91234567\r91234568\n", "utf-8", ",", False, WashMode.remove)  # a bare CR
def test_washing_any_bytes_gives_a_summary_or_a_wash_error_naming_the_line(
    engine: Engine, content: bytes, encoding: str, delimiter: str, header: bool, mode: WashMode
) -> None:
    lines = content.count(b"\n") + 1
    with _wash(content, encoding=encoding, delimiter=delimiter, has_header=header, mode=mode) as w:
        try:
            summary = _run(engine, w)
        except WashError as error:
            assert error.code in {"encoding", "csv"}
            assert error.line is not None and 1 <= error.line <= lines
            assert f" {error.line} " in error.message()  # "Line 3 ...", "Linje 3 ..."
            return
    assert summary.rows == summary.written + summary.bad + (summary.blocked * (mode == "remove"))
    assert all(1 <= bad["line"] <= lines for bad in summary.bad_rows)


@st.composite
def list_with_one_bad_line(draw: st.DrawFn) -> tuple[list[bytes], int, str]:
    """Good numbers, one line of them replaced by a bad one; (lines, its line number, the kind
    of problem: not a number, not UTF-8, or a quote left open)."""
    lines = [n.encode() for n in draw(st.lists(NUMBERS, min_size=1, max_size=30))]
    index = draw(st.integers(0, len(lines) - 1))
    kind = draw(st.sampled_from(["phone", "encoding", "quote"]))
    lines[index] = {
        "phone": draw(NOT_NUMBERS).encode(),
        "encoding": b"9123\xff4567",
        "quote": b'"' + lines[index],
    }[kind]
    return lines, index + 1, kind


@uses_engine
@given(list_with_one_bad_line(), st.sampled_from(["\n", "\r\n"]))
def test_a_bad_line_is_reported_by_its_line_number(
    engine: Engine, case: tuple[list[bytes], int, str], newline: str
) -> None:
    lines, number, kind = case
    content = newline.encode().join(lines) + newline.encode()
    with _wash(content, encoding="utf-8", has_header=False) as w:
        try:
            summary = _run(engine, w)
        except WashError as error:
            assert (error.code, error.line) == ({"encoding": "encoding"}.get(kind, "csv"), number)
            return
    # A quote left open runs to the end of the file: one record, starting on its line (on the
    # last line it is one number, which the csv module reads as such).
    last_line_quote = kind == "quote" and number == len(lines)
    assert [bad["line"] for bad in summary.bad_rows] == ([] if last_line_quote else [number])
    expected = (
        len(lines) if last_line_quote else (len(lines) - 1 if kind == "phone" else number - 1)
    )
    assert summary.written == expected


@uses_engine
@given(
    st.lists(st.tuples(NUMBERS, CELLS, CELLS), min_size=1, max_size=20),
    st.sampled_from(washing.DELIMITERS),
    st.sampled_from(list(WashMode)),
)
@example([("91234567", "=1+1", "'@x")], ",", WashMode.mark)
@example([("91234567", "-", "''=x")], ";", WashMode.remove)
def test_a_washed_lists_cells_come_back_exactly_through_unsafe_cell(
    engine: Engine, rows: list[tuple[str, str, str]], delimiter: str, mode: WashMode
) -> None:
    upload = io.StringIO(newline="")
    writer = csv.writer(upload, delimiter=delimiter, lineterminator="\r\n")
    writer.writerow(["phone", "name", "note"])
    writer.writerows(rows)
    content = upload.getvalue().encode("utf-8")
    with _wash(content, encoding="utf-8", delimiter=delimiter, has_header=True, mode=mode) as w:
        w.columns = ["phone", "name", "note"]
        summary = _run(engine, w)
        written = w.result_path.read_bytes().decode("utf-8")  # line ends as written
    back = list(csv.reader(io.StringIO(written, newline=""), delimiter=delimiter))
    assert summary.bad == 0
    width = 3 if mode == WashMode.remove else 5
    assert [[unsafe_cell(cell) for cell in row[:3]] for row in back] == [
        ["phone", "name", "note"],
        *[list(row) for row in rows],
    ]
    assert all(len(row) == width for row in back)
    for row in back:
        for cell in row:  # nothing a spreadsheet would run
            assert not cell.startswith(TRIGGERS) or _SIGNED_NUMBER.fullmatch(cell)


class _TwoNumbers:
    """A block list of two numbers, loaded at once: the reader and the washer are under test."""

    def __init__(self, *_args: object) -> None:
        self.loaded = {Kind.phone: True}
        self.tables = {
            Kind.phone: {4791234567: ("external_register:nix",), 4790000001: ("deceased",)}
        }

    def prepare(self, kind: Kind, keys: set[object]) -> None:
        raise AssertionError("loaded at once")


# Cells of the common, plain kind (the line-at-a-time path), mixed with any text at all.
PLAIN_CELLS = st.sampled_from(
    ["91234567", "+47 912 34 567", "0047 90000001", "", "x", "=1", "-1", "+1", "+47 12 ab", "'a"]
)


@given(
    st.lists(st.lists(st.one_of(PLAIN_CELLS, PLAIN_CELLS, CELLS), min_size=3, max_size=3)),
    st.sampled_from(washing.DELIMITERS),
    st.sampled_from(list(WashMode)),
    st.sampled_from(["\n", "\r\n"]),
    st.sampled_from([7, 64, 1 << 20]),
)
@example([["91234567", "a", "b"], ["90000001", "+1", "=x"]], ";", WashMode.mark, "\r\n", 64)
def test_washing_a_line_at_a_time_writes_what_the_csv_module_and_row_by_row_would(
    rows: list[list[str]], delimiter: str, mode: WashMode, newline: str, block: int
) -> None:
    """The fast path (blocks split by str methods, columns washed at once, kept lines written
    back as read) against the csv module and the row-by-row wash, on the same bytes."""
    upload = io.StringIO(newline="")
    writer = csv.writer(upload, delimiter=delimiter, lineterminator=newline)
    writer.writerows([["phone", "name", "note"], *rows])
    content = upload.getvalue().encode("utf-8")
    results = []
    for plain in (washing._plain, lambda _text: None):
        with (
            mock.patch.multiple(washing, _Blocks=_TwoNumbers, BATCH=3, DECODE_BLOCK=block),
            mock.patch.object(washing, "_plain", plain),
            _wash(content, encoding="utf-8", delimiter=delimiter, has_header=True, mode=mode) as w,
        ):
            w.columns = ["phone", "name", "note"]
            try:
                summary = washing.run(None, w, now=NOW)  # type: ignore[arg-type]
            except WashError as error:  # a bare CR the writer left unquoted: both say so
                results.append((error.code, error.line))
                continue
            results.append((w.result_path.read_bytes(), summary))
    assert results[0] == results[1]


@given(st.text())
@example("'=x")
@example("''-1")
@example("-1+1")
@example("@")
def test_safe_cell_and_unsafe_cell_round_trip(value: str) -> None:
    assert unsafe_cell(safe_cell(value)) == value
    assert safe_cell(safe_cell(value)) in (safe_cell(value), "'" + safe_cell(value))


# --- the register import -------------------------------------------------------------------------


@given(st.binary(max_size=400), st.sampled_from(["NO", "SE"]))
@example(b"phone;x\n" + b'"' + b"1" * 140_000 + b'"\n', "NO")  # > csv's field limit
@example(b'phone,x\n"91234567\n', "NO")
@example(b"phone;x\r91234567;a\r", "NO")  # bare CR line ends
@example(b"91234567\x00", "NO")
def test_reading_a_register_file_of_any_bytes_gives_numbers_or_a_register_error(
    content: bytes, region: str
) -> None:
    result = ImportResult("nix")
    try:
        numbers = list(registers.read_numbers(content, region, result))
    except RegisterError as error:
        assert error.message() and str(error)
        if error.code == "csv":
            assert error.line is not None and f" {error.line} " in error.message()
        return
    assert all(number.startswith("+") for number in numbers)
    lines = max(len(content.decode("utf-8", "replace").splitlines()), 1)
    assert all(1 <= line <= lines for line in result.bad_lines)


@given(
    st.lists(st.one_of(NUMBERS, NOT_NUMBERS), min_size=1, max_size=30),
    st.sampled_from([None, ";", ",", "\t"]),
    st.sampled_from(["\n", "\r\n"]),
)
def test_a_register_files_bad_lines_are_named_by_their_line_number(
    values: list[str], delimiter: str | None, newline: str
) -> None:
    lines = values if delimiter is None else ["name;phone".replace(";", delimiter)]
    if delimiter is not None:
        lines += [f"Kari{delimiter}{value}" for value in values]
    content = newline.join(lines).encode() + newline.encode()
    result = ImportResult("nix")
    numbers = list(registers.read_numbers(content, "NO", result))
    first = 1 if delimiter is None else 2
    bad = [line for line, value in enumerate(values, start=first) if value in NOT_VALUES]
    # Without a header, a bad first line is taken for a header with a name we do not know.
    assert result.bad_lines == [line for line in bad if delimiter is not None or line > 1]
    assert len(numbers) == sum(1 for value in values if value not in NOT_VALUES)
