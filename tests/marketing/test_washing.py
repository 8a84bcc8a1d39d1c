"""Washing call lists: detection, cleaning and marking, bad rows by line number, refusals, the
worker job with progress, and deleting the files after their time."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import select

from portal.audit import AuditEntry
from portal.db import session_scope
from portal.jobs.queue import Job, JobContext
from portal.marketing import block_list, washing
from portal.marketing.block_list import Channel, Kind, NewEntry, Reason
from portal.marketing.washing import Options, Wash, WashError, WashStatus
from portal.marketing.wording import ReasonWords
from portal.models import StaffMember

NOW = datetime(2026, 11, 24, 12, tzinfo=UTC)


@pytest.fixture(autouse=True, params=["looked up by batch", "loaded at once"])
def strategy(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every wash both ways, with the same results: the block list looked up batch by batch (a
    small file, or a list far larger than it) and loaded at once (a large file)."""
    load = request.param == "loaded at once"
    monkeypatch.setattr(washing, "LOAD_MIN_ROWS", 0 if load else 10**12)
    monkeypatch.setattr(washing, "LOAD_PER_ROW", 10**6)
    return request.param


@pytest.fixture
def staff_id(engine: Engine) -> int:
    with session_scope(engine) as db:
        member = StaffMember(issuer="test", sub="agent", name="Agent")
        db.add(member)
        db.flush()
        return member.id


@pytest.fixture
def blocked(engine: Engine) -> None:
    """One number per reason a wash reports."""
    with session_scope(engine) as db:
        for source, reason, channel, value in (
            ("person", Reason.reserved, Channel.phone, "+4791000001"),
            ("person", Reason.objected, Channel.all, "+4791000002"),
            ("nix", Reason.external_register, Channel.phone, "+46701234567"),
            ("deceased", Reason.deceased, Channel.all, "+4791000004"),
            ("person", Reason.reserved, Channel.email, "+4791000005"),  # e-mail only
        ):
            block_list.replace_source(
                db, f"{source}-{value}", [NewEntry(Kind.phone, value, reason, channel)], now=NOW
            )


def upload(engine: Engine, tmp_path: Path, staff_id: int, content: bytes) -> Wash:
    with session_scope(engine) as db:
        return washing.store_upload(
            db,
            io.BytesIO(content),
            directory=tmp_path / "washing",
            staff_id=staff_id,
            role="staff",
            region="NO",
            now=NOW,
        )


def wash(engine: Engine, wash_id: str, **options: object) -> Wash:
    with session_scope(engine) as db:
        item = db.get(Wash, wash_id)
        chosen = {
            "phone_column": item.phone_column,
            "email_column": item.email_column,
            "national_id_column": item.national_id_column,
            "channel": "phone",
            "mode": "remove",
            "encoding": item.encoding,
            "delimiter": item.delimiter,
            "has_header": item.has_header,
            **options,
        }
        purposes = {"phone_marketing": "Telefonsalg"}
        assert washing.configure(item, Options(**chosen), purposes=purposes) == {}
        washing.start(db, item, staff_id=item.staff_id, now=NOW)
        washing.run_and_finish(db, item, now=NOW)
        return item


LIST = (
    "Navn;Kommentar;Telefon\r\n"
    "Kari;ringt før;+47 910 00 001\r\n"
    "Ola;;91000002\r\n"
    "Sven;svensk;+46 70 123 45 67\r\n"
    "Ingrid;;0047 91000004\r\n"
    "Åse Ødegård;ok;91000005\r\n"
    "Per;;\r\n"
).encode("cp1252")


def test_detection_finds_encoding_separator_header_and_the_phone_column(
    engine: Engine, tmp_path: Path, staff_id: int
) -> None:
    item = upload(engine, tmp_path, staff_id, LIST)
    assert (item.encoding, item.delimiter, item.has_header) == ("cp1252", ";", True)
    assert item.columns == ["Navn", "Kommentar", "Telefon"]
    assert (item.phone_column, item.email_column) == (2, None)
    assert item.upload_path.read_bytes() == LIST
    assert item.upload_path.name == f"{item.id}.csv" and len(item.id) == 32


def test_blocked_rows_are_removed_and_counted_by_reason(
    engine: Engine, tmp_path: Path, staff_id: int, blocked: None
) -> None:
    item = upload(engine, tmp_path, staff_id, LIST)
    done = wash(engine, item.id)
    assert done.status == WashStatus.done
    result = done.result_path.read_bytes().decode("cp1252")
    assert result == "Navn;Kommentar;Telefon\r\nÅse Ødegård;ok;91000005\r\nPer;;\r\n"
    assert done.summary == {
        "rows": 6,
        "written": 2,
        "blocked": 4,
        "bad": 0,
        "reasons": {"reserved": 1, "objected": 1, "external_register": 1, "deceased": 1},
    }


def test_marking_keeps_every_row_and_adds_the_reason_in_words_and_codes(
    engine: Engine, tmp_path: Path, staff_id: int, blocked: None
) -> None:
    item = upload(engine, tmp_path, staff_id, LIST)
    done = wash(engine, item.id, mode="mark")
    lines = done.result_path.read_bytes().decode("cp1252").splitlines()
    assert lines[0] == "Navn;Kommentar;Telefon;block_reason;block_reason_code"
    # Words in the washer's language (nb by default), stable codes beside them for programs.
    assert [tuple(line.split(";")[3:]) for line in lines[1:]] == [
        ("reservert mot telefonsalg", "reserved:phone"),
        ("protestert mot direkte markedsføring", "objected"),
        ("i et eksternt register (nix-+46701234567)", "external_register:nix-+46701234567"),
        ("død", "deceased"),
        ("", ""),
        ("", ""),
    ]


def test_the_reason_words_follow_the_language_the_staff_member_washed_in(
    engine: Engine, tmp_path: Path, staff_id: int, blocked: None
) -> None:
    item = upload(engine, tmp_path, staff_id, LIST)
    done = wash(engine, item.id, mode="mark", language="sv")
    lines = done.result_path.read_bytes().decode("cp1252").splitlines()
    assert lines[1].split(";")[3:] == ["reserverad mot telefonförsäljning", "reserved:phone"]
    english = ReasonWords("en", {"newsletter": "Newsletter"})
    assert english.row(["consent_withdrawn:newsletter", "reserved:sms"]) == (
        "consent withdrawn (Newsletter); reserved against text messages"
    )
    # A code a later version adds is written as itself, never dropped.
    assert english("something_new:x") == "something_new:x"


def test_columns_in_any_order_and_several_kinds(
    engine: Engine, tmp_path: Path, staff_id: int, blocked: None
) -> None:
    with session_scope(engine) as db:
        block_list.replace_source(
            db,
            "person",
            [NewEntry(Kind.email, "ola@example.com", Reason.objected, Channel.all)],
            now=NOW,
        )
    content = b"email,id,mobil\r\nOLA@example.com,1,\r\nkari@example.com,2,91000001\r\n"
    item = upload(engine, tmp_path, staff_id, content)
    assert (item.delimiter, item.encoding, item.email_column, item.phone_column) == (
        ",",
        "utf-8",
        0,
        2,
    )
    done = wash(engine, item.id)
    assert done.result_path.read_bytes() == b"email,id,mobil\r\n"
    assert done.summary["reasons"] == {"objected": 1, "reserved": 1}


def test_bad_rows_are_reported_by_line_and_the_rest_is_washed(
    engine: Engine, tmp_path: Path, staff_id: int, blocked: None, english: None
) -> None:
    content = (
        b"name,phone\n"
        b"Kari,91000001\n"
        b"Bad,not-a-number\n"
        b"\n"
        b"Short\n"
        b"Ok,91000009\n"
        b'"Multi\nline",91000008\n'
        b"Long,91000007,extra\n"
    )
    item = upload(engine, tmp_path, staff_id, content)
    done = wash(engine, item.id)
    assert done.result_path.read_bytes() == (
        b'name,phone\r\nOk,91000009\r\n"Multi\nline",91000008\r\n'
    )
    assert [(bad["line"], washing.problem_message(bad)) for bad in done.bad_rows] == [
        (3, "not a phone number"),
        (5, "1 columns, not 2"),
        (9, "3 columns, not 2"),
    ]
    assert (done.summary["bad"], done.summary["blocked"], done.summary["written"]) == (3, 1, 2)


@pytest.mark.parametrize(
    "content",
    [
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
        b"PK\x03\x04\x14\x00\x06\x00",
        b"%PDF-1.7\n",
        b"name,phone\x00\x01\x02",
        b"   \n",
    ],
)
def test_a_file_that_is_not_csv_is_refused_with_a_message(
    engine: Engine, tmp_path: Path, staff_id: int, english: None, content: bytes
) -> None:
    with pytest.raises(WashError) as refused:
        upload(engine, tmp_path, staff_id, content)
    assert "CSV" in refused.value.message() or "empty" in refused.value.message()
    assert list((tmp_path / "washing").iterdir()) == []  # the upload is not kept
    with session_scope(engine) as db:
        assert db.exec(select(Wash)).first() is None


def test_the_wrong_encoding_fails_the_wash_with_the_line(
    engine: Engine, tmp_path: Path, staff_id: int, english: None
) -> None:
    item = upload(engine, tmp_path, staff_id, LIST)
    done = wash(engine, item.id, encoding="utf-8")
    assert done.status == WashStatus.failed
    assert done.error_text == ("Line 2 is not UTF-8 text. Choose the other encoding and try again.")
    assert not done.result_path.exists()


def test_choices_are_checked(engine: Engine, tmp_path: Path, staff_id: int) -> None:
    item = upload(engine, tmp_path, staff_id, LIST)
    options = Options(None, None, None, "fax", "shred", "latin-9", "|", True, "nope")
    errors = washing.configure(item, options, purposes={"phone_marketing": "Telefonsalg"})
    assert set(errors) == {"columns", "channel", "mode", "encoding", "delimiter", "purpose"}
    assert item.channel == "phone" and item.phone_column == 2  # unchanged


def test_a_large_file_is_washed_by_a_job_with_progress(
    engine: Engine,
    tmp_path: Path,
    staff_id: int,
    blocked: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rows = [f"Person {i};91{i:06d}" for i in range(30000)]
    content = ("navn;telefon\n" + "\n".join(rows) + "\n").encode()
    assert len(content) > washing.INLINE_BYTES
    item = upload(engine, tmp_path, staff_id, content)
    with session_scope(engine) as db:
        current = db.get(Wash, item.id)
        inline = washing.start(db, current, staff_id=staff_id, now=NOW)
    assert inline is False
    with session_scope(engine) as db:
        job = db.exec(select(Job).where(Job.kind == "wash.run")).one()
        assert db.get(Wash, item.id).status == WashStatus.queued
    seen: list[int] = []
    real = washing.run

    def watching(db, wash, *, now, progress=None):
        def spy(done: int, rows: int) -> None:
            progress(done, rows)
            with session_scope(engine) as other:
                seen.append(other.get(Wash, wash.id).rows_done)

        return real(db, wash, now=now, progress=spy)

    monkeypatch.setattr(washing, "run", watching)
    with session_scope(engine) as db:
        washing.wash_job(db, job.payload, JobContext(job.id, "wash.run", 1, 8, "w", NOW))
    assert seen[:3] == [5000, 10000, 15000]  # visible to others while the job runs
    with session_scope(engine) as db:
        done = db.get(Wash, item.id)
    assert (done.status, done.progress, done.summary["rows"]) == (WashStatus.done, 100, 30000)
    assert done.summary["reasons"] == {"reserved": 1, "objected": 1, "deceased": 1}


def test_starting_and_finishing_a_wash_are_audit_logged(
    engine: Engine, tmp_path: Path, staff_id: int, blocked: None
) -> None:
    item = upload(engine, tmp_path, staff_id, LIST)
    wash(engine, item.id)
    with session_scope(engine) as db:
        log = db.exec(select(AuditEntry).order_by(AuditEntry.id)).all()
    assert [(e.action, e.actor_id, e.details["wash_id"]) for e in log] == [
        ("wash.start", staff_id, item.id),
        ("wash.finished", None, item.id),
    ]
    assert "91000001" not in str([e.details for e in log])


def test_files_are_deleted_after_their_time(engine: Engine, tmp_path: Path, staff_id: int) -> None:
    item = upload(engine, tmp_path, staff_id, LIST)
    done = wash(engine, item.id)
    with session_scope(engine) as db:
        assert washing.expire(db, NOW + washing.KEEP_FILES - timedelta(minutes=1)) == 0
        assert done.result_path.exists()
        assert washing.expire(db, NOW + washing.KEEP_FILES + timedelta(minutes=1)) == 1
        assert db.get(Wash, item.id).status == WashStatus.expired
    assert list((tmp_path / "washing").iterdir()) == []


def test_who_may_see_a_wash(engine: Engine, tmp_path: Path, staff_id: int) -> None:
    item = upload(engine, tmp_path, staff_id, LIST)
    assert washing.may_see(item, staff_id, ())
    assert washing.may_see(item, staff_id + 1, ("staff",))
    assert not washing.may_see(item, staff_id + 1, ("dpo", "admin"))


def test_a_washed_cell_a_spreadsheet_would_run_comes_back_neutralised(
    engine: Engine, tmp_path: Path, staff_id: int, blocked: None
) -> None:
    hostile = b"Navn;Telefon\r\n=cmd|' /C calc'!A0;91000005\r\n@SUM(A1);+47 910 00 006\r\n"
    item = upload(engine, tmp_path, staff_id, hostile)
    done = wash(engine, item.id, mode="mark")
    lines = done.result_path.read_bytes().decode("utf-8").splitlines()
    # The formulas get a ' in front; the phone number's + is a number's sign and stays.
    assert lines[1:] == ["'=cmd|' /C calc'!A0;91000005;;", "'@SUM(A1);+47 910 00 006;;"]
