"""The audit log's hash chain: every append links to the one before, `portal audit verify` names
the first entry that was changed, removed or rewritten, and concurrent writers keep one chain.

Tampering is done as an intruder would: SQL straight to the table, past the ORM's guard, and on
PostgreSQL with the append-only trigger disabled inside the tampering transaction only."""

from __future__ import annotations

import itertools
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session, col, select

from portal.audit import (
    GENESIS,
    AuditActor,
    AuditChainHead,
    AuditEntry,
    AuditLogIsAppendOnly,
    entry_hash,
    record,
)
from portal.audit.chain import (
    AuditVerification,
    check_and_record,
    last_verification,
    verify_chain,
)
from portal.cli import main
from portal.db import make_engine, session_scope
from portal.migrations import upgrade
from tests.support import postgres_database

T0 = datetime(2026, 11, 24, 9, 30, 15, 123456, tzinfo=UTC)


def append(engine: Engine, count: int, *, start: int = 0) -> None:
    """`count` entries, one transaction each, with details and reasons of every kind."""
    for number in range(start, start + count):
        with session_scope(engine) as db:
            record(
                db,
                actor=AuditActor.staff if number % 2 else AuditActor.system,
                actor_id=number % 3 or None,
                action=f"test.action_{number % 4}",
                subject_id=number,
                reason="Ringte og spurte om ærend «nr. 2»" if number % 2 else None,
                details={"request_id": number, "tables": ("a", "b"), "z": 1.5, "a": None},
                now=T0 + timedelta(minutes=number),
            )


@contextmanager
def tampering(engine: Engine) -> Iterator[Connection]:
    """A connection that writes past the ORM and, on PostgreSQL, past the trigger."""
    with engine.begin() as connection:
        postgres = engine.dialect.name == "postgresql"
        if postgres:
            connection.execute(text("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only"))
        yield connection
        if postgres:
            connection.execute(text("ALTER TABLE audit_log ENABLE TRIGGER audit_log_append_only"))


def verify(monkeypatch, capsys, database_url: str) -> tuple[int, str, str]:
    monkeypatch.setenv("DATABASE_URL", database_url)
    code = main(["audit", "verify"])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_each_entry_carries_the_hash_of_the_one_before(engine: Engine) -> None:
    append(engine, 5)
    with session_scope(engine) as db:
        entries = db.exec(select(AuditEntry).order_by(col(AuditEntry.seq))).all()
        head = db.get(AuditChainHead, 1)
    assert [entry.seq for entry in entries] == [1, 2, 3, 4, 5]
    assert entries[0].prev_hash == GENESIS
    for before, after in itertools.pairwise(entries):
        assert after.prev_hash == before.hash
    for entry in entries:
        fields = {name: getattr(entry, name) for name in AuditEntry.model_fields}
        assert entry.hash == entry_hash(fields)
    # Stored as they are read back: the tuple a list, the keys as given.
    assert entries[1].details == {"request_id": 1, "tables": ["a", "b"], "z": 1.5, "a": None}
    assert head is not None and (head.seq, head.hash) == (5, entries[-1].hash)


def test_the_hash_covers_every_field(engine: Engine) -> None:
    append(engine, 1)
    with session_scope(engine) as db:
        entry = db.exec(select(AuditEntry)).one()
    fields = {name: getattr(entry, name) for name in AuditEntry.model_fields}
    changes = {
        "seq": 2,
        "at": entry.at + timedelta(microseconds=1),
        "actor": "person",
        "actor_id": 9,
        "action": "other",
        "subject_id": 99,
        "reason": "x",
        "details": {**entry.details, "extra": 1},
        "prev_hash": "1" * 64,
    }
    for name, value in changes.items():
        assert entry_hash({**fields, name: value}) != entry.hash, name
    # The same moment in another zone is the same moment.
    cet = entry.at.astimezone(datetime.now().astimezone().tzinfo)
    assert entry_hash({**fields, "at": cet}) == entry.hash


def test_verify_says_how_many_entries_are_whole_and_records_it(
    engine: Engine, database_url: str, monkeypatch, capsys
) -> None:
    append(engine, 4)
    code, out, err = verify(monkeypatch, capsys, database_url)
    assert code == 0 and err == ""
    assert out.startswith("portal: the audit log is whole: 4 entries verified; the last, number 4")
    with session_scope(engine) as db:
        found = last_verification(db)
        head = db.get(AuditChainHead, 1)
    assert found is not None and found.ok and found.entries == 4 and found.broken_seq is None
    assert head is not None and found.last_hash == head.hash and head.hash in out


def test_an_empty_log_is_whole(engine: Engine) -> None:
    with session_scope(engine) as db:
        assert verify_chain(db).ok and verify_chain(db).entries == 0


COLUMN_CHANGES = {
    "at": "at = at",  # replaced below per database: a second later
    "actor": "actor = 'person'",
    "actor_id": "actor_id = 42",
    "action": "action = 'test.harmless'",
    "subject_id": "subject_id = 7777",
    "reason": "reason = 'nothing to see'",
    "details": """details = '{"request_id": 3}'""",
    "prev_hash": "prev_hash = '" + "a" * 64 + "'",
    "hash": "hash = '" + "b" * 64 + "'",
}


@pytest.mark.parametrize("column", COLUMN_CHANGES)
def test_changing_any_column_of_an_entry_breaks_the_chain_at_that_entry(
    engine: Engine, database_url: str, monkeypatch, capsys, column: str
) -> None:
    append(engine, 6)
    change = COLUMN_CHANGES[column]
    if column == "at":
        later = "at + interval '1 second'" if engine.dialect.name == "postgresql" else None
        change = f"at = {later}" if later else "at = datetime(at, '+1 second')"
    with tampering(engine) as connection:
        row_id = connection.execute(text("SELECT id FROM audit_log WHERE seq = 4")).scalar_one()
        connection.execute(text(f"UPDATE audit_log SET {change} WHERE seq = 4"))
    code, out, err = verify(monkeypatch, capsys, database_url)
    assert code == 1 and out == ""
    problem = "it does not carry the hash" if column == "prev_hash" else "no longer give its hash"
    assert err.startswith(f"portal: the audit log is broken at entry number 4 (row id {row_id}): ")
    assert problem in err and "The 3 entries before it are whole." in err
    with session_scope(engine) as db:
        found = last_verification(db)
    assert found is not None and not found.ok and (found.broken_seq, found.entries) == (4, 3)


def test_a_deleted_entry_is_named_as_missing(
    engine: Engine, database_url: str, monkeypatch, capsys
) -> None:
    append(engine, 5)
    with tampering(engine) as connection:
        connection.execute(text("DELETE FROM audit_log WHERE seq = 2"))
    code, _out, err = verify(monkeypatch, capsys, database_url)
    assert code == 1
    assert err.startswith("portal: the audit log is broken at entry number 2: it is missing")


def test_a_log_cut_short_is_named_at_its_first_missing_entry(
    engine: Engine, database_url: str, monkeypatch, capsys
) -> None:
    append(engine, 5)
    with tampering(engine) as connection:
        connection.execute(text("DELETE FROM audit_log WHERE seq >= 4"))
    code, _out, err = verify(monkeypatch, capsys, database_url)
    assert code == 1
    assert "broken at entry number 4: it is missing" in err


def test_a_chain_computed_anew_is_caught_by_the_last_verification(engine: Engine) -> None:
    """Someone who rewrites entry 2 and every hash after it, and the head, leaves a chain that
    holds together: the hash an earlier verification recorded for entry 3 no longer matches."""
    append(engine, 3)
    assert check_and_record(engine, T0).ok
    with tampering(engine) as connection:
        rows = connection.execute(
            text("SELECT id FROM audit_log WHERE seq >= 2 ORDER BY seq")
        ).all()
        connection.execute(text("UPDATE audit_log SET reason = 'forged' WHERE seq = 2"))
    with session_scope(engine) as db:
        entries = {e.id: e for e in db.exec(select(AuditEntry))}
        previous = next(e.hash for e in entries.values() if e.seq == 1)
    with tampering(engine) as connection:
        for (row_id,) in rows:
            entry = entries[row_id]
            fields = {name: getattr(entry, name) for name in AuditEntry.model_fields}
            forged = entry_hash({**fields, "prev_hash": previous})
            connection.execute(
                text("UPDATE audit_log SET prev_hash = :p, hash = :h WHERE id = :id"),
                {"p": previous, "h": forged, "id": row_id},
            )
            previous = forged
        connection.execute(text("UPDATE audit_chain_head SET hash = :h"), {"h": previous})
    check = check_and_record(engine, T0 + timedelta(hours=1))
    assert check.broken is not None and (check.broken.seq, check.broken.problem) == (3, "rewritten")


def test_a_changed_head_is_named(engine: Engine) -> None:
    append(engine, 2)
    with engine.begin() as connection:
        connection.execute(text("UPDATE audit_chain_head SET hash = :h"), {"h": "c" * 64})
    with session_scope(engine) as db:
        check = verify_chain(db)
    assert check.broken is not None and check.broken.problem == "head"


def test_a_missing_head_is_started_again_from_the_last_entry(engine: Engine) -> None:
    append(engine, 2)
    with engine.begin() as connection:
        connection.execute(text("DELETE FROM audit_chain_head"))
    append(engine, 1, start=2)
    with session_scope(engine) as db:
        check = verify_chain(db)
    assert check.ok and check.entries == 3


def test_the_orm_and_postgresql_still_refuse_changes(engine: Engine) -> None:
    append(engine, 1)
    with Session(engine) as db:
        entry = db.exec(select(AuditEntry)).one()
        entry.reason = "changed"
        with pytest.raises(AuditLogIsAppendOnly):
            db.flush()
    if engine.dialect.name == "postgresql":
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as connection:
            connection.execute(text("UPDATE audit_log SET reason = 'x'"))


@pytest.mark.real_clock
def test_concurrent_writers_keep_one_chain(engine: Engine, database_url: str) -> None:
    """Threads, each with its own engine (its own connections), append at once; every entry
    gets its own number and the chain verifies."""
    writers, each = 4, 15
    append(engine, 1)
    start = threading.Barrier(writers)
    failures: list[BaseException] = []

    def write(offset: int) -> None:
        own = make_engine(database_url)
        try:
            start.wait(timeout=30)
            append(own, each, start=offset)
        except BaseException as exc:  # reported below, with the others
            failures.append(exc)
        finally:
            own.dispose()

    threads = [threading.Thread(target=write, args=(1 + i * each,)) for i in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert failures == []
    with session_scope(engine) as db:
        check = verify_chain(db)
        seqs = db.exec(select(AuditEntry.seq).order_by(col(AuditEntry.seq))).all()
        subjects = set(db.exec(select(AuditEntry.subject_id)).all())
    assert check.ok, check
    assert check.entries == 1 + writers * each
    assert list(seqs) == list(range(1, 2 + writers * each))
    assert subjects == set(range(1 + writers * each))


@pytest.fixture
def fresh_url(db_kind: str, tmp_path) -> Iterator[str]:
    """An empty database of the kind under test, for migrating step by step."""
    if db_kind == "sqlite":
        yield f"sqlite:///{tmp_path / 'old.db'}"
        return
    with postgres_database(f"innsyn_audit_{uuid.uuid4().hex[:10]}") as url:
        yield url


def test_the_migration_chains_the_entries_written_before_it_in_id_order(fresh_url: str) -> None:
    upgrade(fresh_url, "0010")
    old = make_engine(fresh_url)
    try:
        with old.begin() as connection:
            for row_id, action in ((3, "request.view"), (5, "identifier.link"), (9, "x")):
                connection.execute(
                    text(
                        "INSERT INTO audit_log (id, at, actor, actor_id, action, subject_id,"
                        " reason, details) VALUES (:id, :at, 'staff', 1, :action, 12, :reason,"
                        " :details)"
                    ),
                    {
                        "id": row_id,
                        "at": T0 + timedelta(seconds=row_id),
                        "action": action,
                        "reason": "Kunden ringte" if row_id == 5 else None,
                        "details": '{"request_id": 4, "kind": "email"}',
                    },
                )
        upgrade(fresh_url)
        with session_scope(old) as db:
            entries = db.exec(select(AuditEntry).order_by(col(AuditEntry.id))).all()
            assert [(e.id, e.seq) for e in entries] == [(3, 1), (5, 2), (9, 3)]
            check = verify_chain(db)
            assert check.ok and check.entries == 3
            record(db, actor=AuditActor.system, actor_id=None, action="after", now=T0)
        with session_scope(old) as db:
            assert verify_chain(db).entries == 4
        if old.dialect.name == "postgresql":  # the trigger is back
            with pytest.raises(DBAPIError, match="append-only"), old.begin() as connection:
                connection.execute(text("DELETE FROM audit_log"))
    finally:
        old.dispose()


def test_verifications_are_kept(engine: Engine) -> None:
    append(engine, 2)
    check_and_record(engine, T0)
    check_and_record(engine, T0 + timedelta(days=1))
    with session_scope(engine) as db:
        runs = db.exec(select(AuditVerification).order_by(col(AuditVerification.id))).all()
        latest = last_verification(db)
    assert [(run.at, run.entries, run.ok) for run in runs] == [
        (T0, 2, True),
        (T0 + timedelta(days=1), 2, True),
    ]
    assert latest is not None and latest.at == T0 + timedelta(days=1)


def test_the_workers_verify_the_chain_daily(engine: Engine) -> None:
    from portal.jobs.queue import HANDLERS, SCHEDULE, JobContext, load_handler_modules

    load_handler_modules()
    [periodic] = [p for p in SCHEDULE if p.kind == "audit.verify"]
    assert periodic.every == timedelta(days=1)
    append(engine, 3)
    context = JobContext(1, "audit.verify", 1, 8, "test", T0 + timedelta(days=1))
    with session_scope(engine) as db:
        HANDLERS["audit.verify"](db, {}, context)
    with session_scope(engine) as db:
        found = last_verification(db)
    assert found is not None and (found.at, found.entries, found.ok) == (context.now, 3, True)
