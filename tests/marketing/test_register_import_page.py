"""Importing an external do-not-call register on the staff page: replaces that register only,
reports counts and bad lines, refuses bad input without changing anything, DPO and admin only,
CSRF, and an audit entry without numbers. Also the command line, which shares the function."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import select
from starlette.testclient import TestClient

from portal.app import create_app
from portal.audit import AuditActor, AuditEntry
from portal.cli import main as cli_main
from portal.db import session_scope
from portal.marketing import block_list, registers
from portal.marketing.block_list import BlockEntry, Channel, Kind, NewEntry, Reason
from portal.models import StaffRoleName, Subject
from portal.settings import Settings
from tests.conftest import TEST_SECRET
from tests.support import csrf_token_from, sign_in_staff, signed_in_client

NOW = datetime(2026, 11, 24, 12, tzinfo=UTC)
PAGE = "/staff/block-list/import"
OLD_NIX = "+46701111111"
OLD_RESERVED = "+4791111111"
STAFF_ENTRY = "+4791999999"


@pytest.fixture
def client(settings: Settings, demo_sources) -> Iterator[TestClient]:
    app = create_app(settings, now=lambda: NOW, sources=demo_sources)
    with TestClient(app, follow_redirects=False) as c:
        yield c


@pytest.fixture
def existing(client: TestClient) -> None:
    """A register imported before, another register, and an entry staff made for a caller."""
    with session_scope(client.app.state.engine) as db:
        for source, number in (("reservasjonsregisteret", OLD_RESERVED), ("nix", OLD_NIX)):
            block_list.replace_source(
                db,
                source,
                [NewEntry(Kind.phone, number, Reason.external_register, Channel.phone)],
                now=datetime(2026, 10, 2, tzinfo=UTC),
                source_date=date(2026, 10, 1),
            )
        db.add(
            BlockEntry(
                kind=Kind.phone,
                value=STAFF_ENTRY,
                reason=Reason.reserved,
                channel=Channel.phone,
                source=block_list.STAFF,
                note="caller asked",
            )
        )


def upload(
    client: TestClient,
    content: bytes | None,
    source: str = "reservasjonsregisteret",
    file_date: str = "",
    token_page: str = PAGE,
    region: str = "NO",
):
    token = csrf_token_from(client.get(token_page).text)
    files = {"file": ("register.txt", content, "text/plain")} if content is not None else None
    form = {"source": source, "source_date": file_date, "region": region, "csrf_token": token}
    return client.post(PAGE, data=form, files=files)


def entries(client: TestClient) -> dict[str, set[str]]:
    """Active entries, by source: what an import may and may not change."""
    found: dict[str, set[str]] = {}
    with session_scope(client.app.state.engine) as db:
        for entry in db.exec(select(BlockEntry).where(BlockEntry.removed_at.is_(None))):
            found.setdefault(entry.source, set()).add(entry.value)
    return found


BEFORE = {
    "reservasjonsregisteret": {OLD_RESERVED},
    "nix": {OLD_NIX},
    "staff": {STAFF_ENTRY},
}


def import_log(client: TestClient) -> list[AuditEntry]:
    with session_scope(client.app.state.engine) as db:
        statement = select(AuditEntry).where(AuditEntry.action == "block_list.import")
        return list(db.exec(statement.order_by(AuditEntry.id)))


# --- importing -----------------------------------------------------------------------------------


def test_an_import_replaces_that_registers_entries_and_reports_the_bad_lines(
    client: TestClient, existing: None
) -> None:
    staff_id = sign_in_staff(client, StaffRoleName.dpo)
    content = b"91234567\n+47 912 34 568\nnot a number\n\n0047 912 34 567\nhello\n"
    response = upload(client, content, file_date="2026-11-01")
    assert response.status_code == 303
    assert response.headers["location"] == PAGE
    assert entries(client) == {
        "reservasjonsregisteret": {"+4791234567", "+4791234568"},  # the old number is gone
        "nix": {OLD_NIX},
        "staff": {STAFF_ENTRY},
    }
    page = client.get(PAGE)
    assert (
        "2 numbers were imported into Reservasjonsregisteret. "
        "2 lines were not phone numbers: lines 3, 6."
    ) in page.text
    rows = {row.source: row for row in page.context["page"].registers}
    assert (rows["reservasjonsregisteret"].entries, rows["nix"].entries) == ("2", "1")
    assert rows["reservasjonsregisteret"].imported == "24 Nov 2026, 13:00"  # Oslo time
    assert rows["reservasjonsregisteret"].file_date == "1 Nov 2026"
    assert rows["nix"].file_date == "1 Oct 2026"
    assert "staff" not in rows  # the portal's own sources are not registers
    (entry,) = import_log(client)
    assert (entry.actor, entry.actor_id, entry.subject_id) == (AuditActor.staff, staff_id, None)
    assert entry.details == {
        "source": "reservasjonsregisteret",
        "file_date": "2026-11-01",
        "imported": 2,
        "bad_lines": 2,
    }
    assert "912" not in str(entry.details) and entry.reason is None  # no numbers


def test_a_swedish_register_without_a_date_is_dated_today_and_listed(
    client: TestClient,
) -> None:
    sign_in_staff(client, StaffRoleName.admin)
    page = client.get(PAGE)
    assert page.context["page"].form["region"] == "NO"  # the portal's PHONE_REGION by default
    content = "telefon;navn\r\n070-123 45 67;Sven\r\n".encode("cp1252")
    assert upload(client, content, "nix", region="NO").status_code == 400  # not Norwegian
    response = upload(client, content, "nix", region="SE")
    assert response.status_code == 303
    assert entries(client) == {"nix": {"+46701234567"}}
    with session_scope(client.app.state.engine) as db:
        (entry,) = db.exec(select(BlockEntry)).all()
    assert entry.source_date == NOW.date()
    page = client.get(PAGE)
    assert "1 number was imported into NIX-Telefon." in page.text
    assert "not phone numbers" not in page.text


def test_only_the_first_hundred_bad_lines_are_listed(client: TestClient) -> None:
    sign_in_staff(client, StaffRoleName.dpo)
    content = b"91234567\n" + b"x\n" * 150
    assert upload(client, content, "nix").status_code == 303
    flash = client.get(PAGE).text
    assert "150 lines were not phone numbers: lines 2, 3," in flash
    assert ", 101. Only the first 100 are listed." in flash


@pytest.mark.parametrize(
    ("source", "content", "file_date", "message"),
    [
        ("Reservasjons register", b"91234567\n", "", "A register&#39;s name is 2 to 41"),
        ("x", b"91234567\n", "", "A register&#39;s name is 2 to 41"),
        ("staff", b"91234567\n", "", "is one of the portal&#39;s own sources"),
        ("reservasjonsregisteret", b"", "", "The file is empty."),
        ("reservasjonsregisteret", b" \r\n\n", "", "The file is empty."),
        ("reservasjonsregisteret", None, "", "Choose the register&#39;s file."),
        (
            "reservasjonsregisteret",
            b"PK\x03\x04\x14\x00\x06\x00\x08\x00\x00\x00!\x00",
            "",
            "This is not a text file of phone numbers.",
        ),
        (
            "reservasjonsregisteret",
            "navn\nÅse\nØystein\n".encode("utf-16"),
            "",
            "This is not a text file of phone numbers.",
        ),
        (
            "reservasjonsregisteret",
            b"hello\nworld\n\xff\xfe\n",
            "",
            "The file holds no phone numbers.",
        ),
        ("reservasjonsregisteret", b"91234567\n", "1st of November", "Give the file&#39;s date"),
        ("reservasjonsregisteret", b"91234567\n", "2027-01-01", "date is in the future."),
    ],
)
def test_bad_input_re_renders_the_form_and_changes_nothing(
    client: TestClient,
    existing: None,
    source: str,
    content: bytes | None,
    file_date: str,
    message: str,
) -> None:
    sign_in_staff(client, StaffRoleName.dpo)
    response = upload(client, content, source, file_date)
    assert response.status_code == 400
    assert message in response.text
    assert 'id="import-form"' in response.text
    page = response.context["page"]
    typed = {"source": source.lower(), "source_date": file_date, "region": "NO"}
    assert page.form == typed  # kept for a retry
    assert entries(client) == BEFORE
    assert import_log(client) == []


def test_an_unknown_country_is_refused(client: TestClient, existing: None) -> None:
    sign_in_staff(client, StaffRoleName.dpo)
    response = upload(client, b"91234567\n", region="XX")
    assert response.status_code == 400
    assert "Choose the country of numbers written without a country code." in response.text
    assert entries(client) == BEFORE


def test_a_file_over_the_limit_is_refused(
    client: TestClient, existing: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(registers, "MAX_UPLOAD_BYTES", 2**20)
    sign_in_staff(client, StaffRoleName.dpo)
    content = b"91234567\n" * (2**20 // 9 + 1)
    response = upload(client, content)
    assert response.status_code == 400
    assert "The file is larger than 1 MB." in response.text
    assert entries(client) == BEFORE
    assert import_log(client) == []


def test_a_failed_import_keeps_the_entries_a_later_good_one_replaces(
    client: TestClient, existing: None
) -> None:
    sign_in_staff(client, StaffRoleName.dpo)
    assert upload(client, b"nothing\nuseful\n").status_code == 400
    assert entries(client)["reservasjonsregisteret"] == {OLD_RESERVED}
    assert upload(client, b"91234567\n").status_code == 303
    assert entries(client)["reservasjonsregisteret"] == {"+4791234567"}


# --- who may -------------------------------------------------------------------------------------


def test_the_block_list_links_to_the_import_for_the_dpo_only(client: TestClient) -> None:
    sign_in_staff(client, StaffRoleName.dpo)
    assert 'href="/staff/block-list/import"' in client.get("/staff/block-list").text
    sign_in_staff(client, StaffRoleName.staff, sub="agent")
    assert 'href="/staff/block-list/import"' not in client.get("/staff/block-list").text


def test_customer_service_may_not_import(client: TestClient, existing: None) -> None:
    sign_in_staff(client, StaffRoleName.staff)
    assert client.get(PAGE).status_code == 403
    # A valid CSRF token from a page customer service may see: the role is what refuses.
    response = upload(client, b"91234567\n", token_page="/staff/block-list")
    assert response.status_code == 403
    assert entries(client) == BEFORE


def test_a_person_and_a_visitor_may_not_import(client: TestClient, existing: None) -> None:
    with session_scope(client.app.state.engine) as db:
        subject = Subject(national_id="01017012345", country="NO", given_name="Kari")
        db.add(subject)
        db.flush()
        subject_id = subject.id
    signed_in_client(client, secret_key=TEST_SECRET, subject_id=subject_id)
    assert client.get(PAGE).status_code == 403
    response = upload(client, b"91234567\n", token_page=PAGE)  # the refusal page has the token
    assert response.status_code == 403
    client.cookies.clear()
    visitor = client.get(PAGE)
    assert visitor.status_code == 303 and visitor.headers["location"].startswith("/auth/login")
    assert entries(client) == BEFORE


def test_an_import_without_the_csrf_token_is_refused(client: TestClient, existing: None) -> None:
    sign_in_staff(client, StaffRoleName.dpo)
    response = client.post(
        PAGE,
        data={"source": "reservasjonsregisteret"},
        files={"file": ("register.txt", b"91234567\n", "text/plain")},
    )
    assert response.status_code == 403
    assert entries(client) == BEFORE
    assert import_log(client) == []


# --- the domain function, without the page -------------------------------------------------------


def test_the_function_takes_bytes_or_an_open_file(engine: Engine) -> None:
    with session_scope(engine) as db:
        registers.import_register(
            db, "nix", b"070 123 45 67\n", region="SE", source_date=None, now=NOW
        )
    with session_scope(engine) as db:
        result = registers.import_register(
            db,
            "nix",
            io.BytesIO(b"0701234568\n"),
            region="SE",
            source_date=None,
            now=NOW,
            max_bytes=100,
        )
        assert result.imported == 1
        assert block_list.source_counts(db) == {"nix": 1}
    with pytest.raises(registers.RegisterError) as refused, session_scope(engine) as db:
        registers.import_register(
            db, "nix", io.BytesIO(b"0701234569\n" * 20), region="SE", source_date=None, now=NOW,
            max_bytes=100,
        )  # fmt: skip
    assert refused.value.code == "too_large"


def test_the_command_line_still_imports_and_is_audited_as_the_system(
    engine: Engine,
    database_url: str,
    var_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("SECRET_KEY", TEST_SECRET)
    monkeypatch.setenv("PORTAL_VAR_DIR", str(var_dir))
    monkeypatch.setenv("PHONE_REGION", "NO")
    register = tmp_path / "reservasjon.txt"
    register.write_bytes(b"91234567\nnope\n")
    argv = ["block-list", "import", "--source", "reservasjonsregisteret", "--date", "2026-11-01"]
    assert cli_main([*argv, str(register)]) == 0
    out, err = capsys.readouterr()
    assert "Imported 1 numbers into reservasjonsregisteret." in out
    assert "1 lines were not phone numbers: 2" in err
    register.write_bytes(b"")
    assert cli_main([*argv, str(register)]) == 1
    assert "portal: the file is empty; the old entries are kept" in capsys.readouterr().err
    with session_scope(engine) as db:
        assert block_list.source_counts(db) == {"reservasjonsregisteret": 1}
        (entry,) = db.exec(select(AuditEntry)).all()
    assert (entry.action, entry.actor, entry.actor_id) == ("block_list.import", "system", None)
