"""Staff link and unlink identifiers with a reason; every change is in the audit log."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from portal.audit import AuditEntry, AuditLogIsAppendOnly, entries_for
from portal.cli import main
from portal.datamap import collect, load_datamap
from portal.demo import DATAMAP_PATH, EDGE_CASES_BY_KEY
from portal.identity.cli import terminal_language
from portal.identity.identifiers import (
    IdentifierRefused,
    link_identifier,
    normalise_identifier,
    proven_identifiers,
    unlink_identifier,
)
from portal.models import StaffMember, Subject, SubjectIdentifier

NOW = datetime(2026, 11, 24, 12, tzinfo=UTC)

# Refusals are shown in the reader's language; these tests read the English source texts.
pytestmark = pytest.mark.usefixtures("english")


@pytest.fixture
def db(engine: Engine) -> Iterator[Session]:
    with Session(engine, expire_on_commit=False) as session:
        yield session


def make_people(db: Session) -> tuple[int, int, int]:
    ola = Subject(national_id=EDGE_CASES_BY_KEY["two_systems"].national_id, country="NO")
    kari = Subject(national_id=EDGE_CASES_BY_KEY["ordinary"].national_id, country="NO")
    agent = StaffMember(issuer="https://idp", sub="agent-1", name="Agent")
    db.add_all([ola, kari, agent])
    db.commit()
    return ola.id, kari.id, agent.id


@pytest.mark.parametrize(
    ("kind", "raw", "expected"),
    [
        ("email", "  Ola.Nordmann@Example.COM ", "ola.nordmann@example.com"),
        ("phone", "+47 912 34 567", "+4791234567"),
        ("phone", "0047 91234567", "+4791234567"),
        ("phone", "91234567", "+4791234567"),
        ("customer_number", " 900002 ", "900002"),
    ],
)
def test_values_are_normalised(kind: str, raw: str, expected: str) -> None:
    assert normalise_identifier(kind, raw) == expected


@pytest.mark.parametrize(
    ("kind", "raw"), [("email", "not-an-address"), ("phone", "12"), ("national_id", "x")]
)
def test_bad_values_are_refused(kind: str, raw: str) -> None:
    with pytest.raises(IdentifierRefused):
        normalise_identifier(kind, raw)


def test_link_and_unlink_are_audited_without_the_value(db: Session) -> None:
    ola, _kari, agent = make_people(db)
    link = link_identifier(
        db, subject_id=ola, kind="email", value="Ola@Gammel.example", staff_id=agent,
        reason="Showed an old receipt by phone",
        now=NOW,
    )  # fmt: skip
    db.commit()
    assert proven_identifiers(db, ola) == {"email": ["ola@gammel.example"]}
    unlink_identifier(
        db, subject_id=ola, kind="email", value="ola@gammel.example", staff_id=agent,
        reason="Linked by mistake",
        now=NOW,
    )  # fmt: skip
    db.commit()
    assert proven_identifiers(db, ola) == {}
    entries = entries_for(db, ola)
    assert [(e.action, e.actor, e.actor_id, e.reason) for e in entries] == [
        ("identifier.link", "staff", agent, "Showed an old receipt by phone"),
        ("identifier.unlink", "staff", agent, "Linked by mistake"),
    ]
    assert all(e.details == {"kind": "email", "identifier_id": link.id} for e in entries)
    assert "gammel" not in repr([e.details for e in entries])


def test_refusals_change_nothing(db: Session) -> None:
    ola, kari, agent = make_people(db)
    link_identifier(
        db, subject_id=ola, kind="phone", value="91234567", staff_id=agent, reason="r", now=NOW
    )
    db.commit()
    attempts = [
        dict(subject_id=ola, kind="phone", value="91234567", staff_id=agent, reason=" "),
        dict(subject_id=ola, kind="phone", value="+47 912 34 567", staff_id=agent, reason="again"),
        dict(subject_id=kari, kind="phone", value="91234567", staff_id=agent, reason="hers?"),
        dict(subject_id=ola, kind="email", value="x@y.example", staff_id=999, reason="who?"),
    ]
    for attempt in attempts:
        with pytest.raises(IdentifierRefused):
            link_identifier(db, **attempt, now=NOW)
        db.rollback()
    assert len(db.exec(select(SubjectIdentifier)).all()) == 1
    assert len(db.exec(select(AuditEntry)).all()) == 1
    with pytest.raises(IdentifierRefused, match="not linked"):
        unlink_identifier(db, subject_id=kari, kind="phone", value="91234567", staff_id=agent,
                          reason="r", now=NOW)  # fmt: skip


def test_the_audit_log_cannot_be_changed(db: Session) -> None:
    ola, _kari, agent = make_people(db)
    link_identifier(
        db, subject_id=ola, kind="phone", value="91234567", staff_id=agent, reason="r", now=NOW
    )
    db.commit()
    entry = db.exec(select(AuditEntry)).one()
    entry.reason = "rewritten"
    with pytest.raises(AuditLogIsAppendOnly):
        db.commit()
    db.rollback()
    with pytest.raises(AuditLogIsAppendOnly):
        db.delete(db.exec(select(AuditEntry)).one())
        db.commit()
    db.rollback()
    assert db.exec(select(AuditEntry.reason)).one() == "r"


def test_a_linked_address_opens_rows_held_only_under_it(db: Session, demo_sources) -> None:
    """Ola's old shop account under a third address is not shown until staff link it."""
    datamap = load_datamap(DATAMAP_PATH)
    nid = EDGE_CASES_BY_KEY["two_systems"].national_id
    before = collect(datamap, demo_sources, nid)
    floating = _unlinked_account_email(demo_sources["shop"], before)
    ola, _kari, agent = make_people(db)
    link_identifier(
        db, subject_id=ola, kind="email", value=floating, staff_id=agent, reason="r", now=NOW
    )
    db.commit()
    after = collect(datamap, demo_sources, nid, proven=proven_identifiers(db, ola))
    assert after.count("shop_accounts") == before.count("shop_accounts") + 1


def _unlinked_account_email(engine: Engine, collection) -> str:
    from sqlalchemy import text

    mine = {row.key for row in collection.tables["shop_accounts"]}
    with engine.connect() as connection:
        rows = connection.execute(
            text("SELECT id, email FROM shop_accounts WHERE customer_number IS NULL "
                 "AND lower(display_name) LIKE 'ola%'")
        ).all()  # fmt: skip
    candidates = [email for key, email in rows if key not in mine]
    assert candidates, "the demo should hold Ola's unlinked shop account"
    return candidates[0]


def test_cli_links_with_a_reason_as_the_staff_member_who_signs_in_by_that_name(
    db: Session, settings, monkeypatch, capsys
) -> None:
    _ola, _kari, agent = make_people(db)
    monkeypatch.setenv("DATABASE_URL", settings.database_url)
    monkeypatch.setenv("SECRET_KEY", settings.secret_key)
    for name in ("LANGUAGE", "LC_ALL", "LC_MESSAGES"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LANG", "C.UTF-8")
    nid = EDGE_CASES_BY_KEY["ordinary"].national_id
    args = ["--national-id", nid, "--kind", "phone", "--value", "+47 912 34 567",
            "--staff", "agent-1"]  # fmt: skip
    assert main(["identifier", "link", *args, "--reason", "Called from this number"]) == 0
    assert capsys.readouterr().out == "Linked.\n"
    assert main(["identifier", "link", *args, "--reason", "again"]) == 1
    assert capsys.readouterr().err == "portal: That identifier is already linked to this person.\n"
    kari = db.exec(select(Subject).where(Subject.national_id == nid)).one()
    assert proven_identifiers(db, kari.id) == {"phone": ["+4791234567"]}
    entry = db.exec(select(AuditEntry).where(AuditEntry.action == "identifier.link")).one()
    assert entry.actor_id == agent and entry.reason == "Called from this number"

    # In the terminal's language where the portal speaks it; an unknown login is refused.
    monkeypatch.setenv("LANG", "nb_NO.UTF-8")
    assert main(["identifier", "link", *args, "--reason", "again"]) == 1
    assert capsys.readouterr().err == ("portal: Dette er allerede knyttet til denne personen.\n")
    monkeypatch.setenv("LANG", "en_GB.UTF-8")
    nobody = [*args[:-1], "nobody"]
    assert main(["identifier", "unlink", *nobody, "--reason", "r"]) == 1
    assert "No member of staff signs in as nobody" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("environ", "language"),
    [
        ({}, "en"),
        ({"LANG": "C.UTF-8"}, "en"),
        ({"LANG": "sv_SE.UTF-8"}, "sv"),
        ({"LANG": "nb_NO.UTF-8"}, "nb"),
        ({"LANG": "no_NO"}, "nb"),
        ({"LANG": "de_DE.UTF-8"}, "en"),
        ({"LANG": "en_GB.UTF-8", "LC_ALL": "sv_SE.UTF-8"}, "sv"),
        ({"LANGUAGE": "nb:en", "LANG": "en_GB.UTF-8"}, "nb"),
    ],
)
def test_the_terminal_language(environ: dict[str, str], language: str) -> None:
    assert terminal_language(environ) == language


def test_postgresql_refuses_changes_to_the_audit_log_itself(db: Session, db_kind: str) -> None:
    if db_kind != "postgres":
        pytest.skip("the database trigger exists on PostgreSQL; SQLite relies on the ORM guard")
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    ola, _kari, agent = make_people(db)
    link_identifier(
        db, subject_id=ola, kind="phone", value="91234567", staff_id=agent, reason="r", now=NOW
    )
    db.commit()
    for statement in ("UPDATE audit_log SET reason = 'x'", "DELETE FROM audit_log"):
        with pytest.raises(DBAPIError, match="append-only"):
            db.exec(text(statement))
        db.rollback()
    assert db.exec(select(AuditEntry.reason)).one() == "r"
