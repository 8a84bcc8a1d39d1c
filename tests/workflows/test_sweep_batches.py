"""The retention sweep at scale (issue #21): the narrowed scan and the batched run do exactly what
the whole scan in one transaction per source did (which rows go, which are anonymised and kept,
what the audit says), on the demo company and on a small shop without national IDs whose
invoices point at customers and whose lines point at invoices through foreign keys; and a sweep
stopped half-way is finished by the next."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlmodel import Session

from portal.audit import AuditEntry
from portal.datamap import DataMap, load_datamap
from portal.datamap.retention import (
    CaseHold,
    RetentionReport,
    SweepReader,
    _ends,
    due_before,
    due_for_retention,
)
from portal.db import session_scope
from portal.demo import EDGE_CASES_BY_KEY
from portal.workflows import erasure_run
from portal.workflows.erasure_run import sweep
from tests.erasure_support import TODAY
from tests.small_company import company
from tests.small_shop import create, map_text
from tests.workflows.test_erasure_run import KEY, NOW, new_demo, snapshot

__all__ = ["new_demo"]  # the fixture, imported for pytest

LATER = date(2031, 6, 1)  # the demo's and the shop's 2025 bookkeeping years are over


def run(
    engine: Engine, datamap: DataMap, sources: dict[str, Engine], today: date, **how: Any
) -> tuple[RetentionReport, dict[str, Any]]:
    """A sweep (dry run, then the run); the report and the audit entry's details."""
    with session_scope(engine) as db:
        dry = sweep(db, datamap=datamap, sources=sources, today=today, now=NOW, **how)
    with session_scope(engine) as db:
        sweep(db, datamap=datamap, sources=sources, today=today, dry_run=False, now=NOW, **how)
    with Session(engine) as db:
        statement = (
            select(AuditEntry)
            .where(AuditEntry.action == "retention.sweep")
            .order_by(AuditEntry.id.desc())  # type: ignore[union-attr]
        )
        entry = db.execute(statement).scalars().first()
    assert entry is not None
    return dry, entry.details


def batch_entries(engine: Engine) -> list[dict[str, Any]]:
    """The details of every batch's audit entry, oldest first."""
    with Session(engine) as db:
        statement = (
            select(AuditEntry)
            .where(AuditEntry.action == "retention.sweep.batch")
            .order_by(AuditEntry.id)  # type: ignore[arg-type]
        )
        return [entry.details for entry in db.execute(statement).scalars()]


def test_due_before_is_the_boundary_of_every_rule(datamap: DataMap) -> None:
    """A row is past a rule exactly when its event is before ``due_before``, around the
    boundary and across the fiscal year's end, a leap day and a month's last days."""
    for rule in datamap.retention_rules.values():
        for today in (TODAY, date(2027, 1, 1), date(2028, 2, 29), date(2030, 12, 31), LATER):
            boundary = due_before(datamap, rule, today)
            for offset in range(-800, 800):
                event = boundary + timedelta(days=offset)
                ended = _ends(datamap, event, rule.period, rule.counts_from) < today
                assert ended == (event < boundary), (rule.name.en, today, event)


@pytest.mark.parametrize("today", [TODAY, LATER])
def test_demo_sweep_as_before(
    engine: Engine,
    new_demo: Callable[[], Engine],
    datamap: DataMap,
    monkeypatch: pytest.MonkeyPatch,
    today: date,
) -> None:
    monkeypatch.setenv(datamap.settings.pseudonym_key_env, KEY)
    before, after = new_demo(), new_demo()
    assert snapshot(datamap, before) == snapshot(datamap, after)
    old_sources, new_sources = (
        dict.fromkeys(datamap.sources, before),
        dict.fromkeys(datamap.sources, after),
    )
    old, old_audit = run(engine, datamap, old_sources, today, batch=None, narrow=False)
    new, new_audit = run(engine, datamap, new_sources, today, batch=3)
    assert new.due == old.due and new.held == old.held
    assert any(item.then == "anonymise" for item in old.due)  # keyed pseudonyms, in batches
    assert sum(new.scanned.values()) < sum(old.scanned.values())  # fewer rows read
    assert snapshot(datamap, after) == snapshot(datamap, before)
    assert new_audit == old_audit


def shop_map(directory: Path) -> DataMap:
    """The small shop's map with a retention rule: invoices and their lines go five years after
    their fiscal year, lines dated by their invoice (a date one link up)."""
    text = map_text()
    text = text.replace(
        'holds = [{ hold = "bookkeeping", from = "IssuedOn" }]',
        'holds = [{ hold = "bookkeeping", from = "IssuedOn" }]\n'
        'retention = [{ rule = "bookkeeping_over", from = "IssuedOn" }]',
    )
    text = text.replace(
        'holds = [{ hold = "bookkeeping", from = "Invoice.IssuedOn" }]',
        'holds = [{ hold = "bookkeeping", from = "Invoice.IssuedOn" }]\n'
        'retention = [{ rule = "bookkeeping_over", from = "Invoice.IssuedOn" }]',
    )
    text += """
[retention_rules.bookkeeping_over]
jurisdiction = "NO"
citation = { nb = "bokføringsloven § 13", sv = "bokföringslagen § 13", en = "Bookkeeping Act 13" }
name = { nb = "Regnskapsbilag", sv = "Räkenskapsinformation", en = "Bookkeeping records" }
period = "P5Y"
counts_from = "end_of_fiscal_year"
then = "delete_row"
"""
    path = directory / "shop_retention.toml"
    path.write_text(text)
    return load_datamap(path)


def test_shop_with_foreign_keys_swept_as_before(
    engine: Engine, db_kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    datamap = shop_map(tmp_path)
    monkeypatch.setenv(datamap.settings.pseudonym_key_env, KEY)
    (tmp_path / "old").mkdir()
    (tmp_path / "new").mkdir()
    with (
        company(db_kind, tmp_path / "old", create) as before,
        company(db_kind, tmp_path / "new", create) as after,
    ):
        old, old_audit = run(engine, datamap, {"shop": before}, LATER, batch=None, narrow=False)
        new, new_audit = run(engine, datamap, {"shop": after}, LATER, batch=1)
        assert {(item.table, item.keys) for item in old.due} == {
            ("Invoice", (10, 20, 30)),
            ("InvoiceLine", (100, 101, 200, 300)),
        }
        assert new.due == old.due and new.held == old.held
        # Only rows whose invoice is old enough were read: the 2026 invoice and its line not.
        assert new.scanned == {"Invoice": 3, "InvoiceLine": 4}
        assert snapshot(datamap, after) == snapshot(datamap, before)
        assert new_audit == old_audit
        with session_scope(engine) as db:  # nothing is due today
            now = sweep(db, datamap=datamap, sources={"shop": after}, today=TODAY, now=NOW)
        assert now.due == () and now.scanned == {"Invoice": 0, "InvoiceLine": 0}


def test_stopped_sweep_is_finished_by_the_next(
    engine: Engine,
    new_demo: Callable[[], Engine],
    datamap: DataMap,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Batches are committed one by one: a sweep stopped after two leaves those two done, and
    the next sweep ends where an uninterrupted one does."""
    monkeypatch.setenv(datamap.settings.pseudonym_key_env, KEY)
    whole, stopped = new_demo(), new_demo()
    untouched = snapshot(datamap, stopped)
    _, whole_audit = run(engine, datamap, dict.fromkeys(datamap.sources, whole), LATER, batch=3)
    earlier = len(batch_entries(engine))
    real = erasure_run.apply_steps
    done: list[int] = []

    def stop_after_two(*args: Any, **kwargs: Any) -> int:
        if len(done) == 2:
            raise KeyboardInterrupt  # as a worker killed between two batches
        done.append(real(*args, **kwargs))
        return done[-1]

    monkeypatch.setattr(erasure_run, "apply_steps", stop_after_two)
    sources = dict.fromkeys(datamap.sources, stopped)
    with pytest.raises(KeyboardInterrupt), session_scope(engine) as db:
        sweep(db, datamap=datamap, sources=sources, today=LATER, dry_run=False, now=NOW, batch=3)
    halfway = snapshot(datamap, stopped)
    assert len(done) == 2 and halfway != untouched and halfway != snapshot(datamap, whole)
    # The two batches done are in the audit log, though the sweep's own entry never came.
    assert [entry["changed"] for entry in batch_entries(engine)[earlier:]] == done
    monkeypatch.setattr(erasure_run, "apply_steps", real)
    with session_scope(engine) as db:
        sweep(db, datamap=datamap, sources=sources, today=LATER, dry_run=False, now=NOW, batch=3)
    assert snapshot(datamap, stopped) == snapshot(datamap, whole)
    # Both runs' batches together count what one uninterrupted sweep counted, per table and rule.
    counted: dict[tuple[str, str], int] = {}
    for entry in batch_entries(engine)[earlier:]:
        counted[entry["table"], entry["rule"]] = counted.get((entry["table"], entry["rule"]), 0)
        counted[entry["table"], entry["rule"]] += entry["rows"]
    assert counted == {(item["table"], item["rule"]): item["rows"] for item in whole_audit["due"]}
    report = due_for_retention(datamap, sources, LATER)
    assert [item for item in report.due if item.then == "delete_row"] == []


def test_case_holds_on_tables_settled_by_keys(
    new_demo: Callable[[], Engine], datamap: DataMap
) -> None:
    """Tables whose one rule is decided by their own date (calls, e-mails, accounts) are read
    as keys alone; a person's case hold and a record hold still keep their rows, as before."""
    demo = new_demo()
    sources = dict.fromkeys(datamap.sources, demo)
    plain = due_for_retention(datamap, sources, LATER, narrow=False)
    first = {item.table: item.keys[0] for item in plain.due}
    records = [
        CaseHold("r1", "litigation", "Lawsuit", "record", "shop_accounts", first["shop_accounts"]),
        CaseHold("r2", "other", "Case", "record", "contact_calls", str(first["contact_calls"])),
    ]
    people = {
        person.national_id: [CaseHold("p1", "complaint", "Complaint", "person")]
        for person in EDGE_CASES_BY_KEY.values()
    }
    wide = due_for_retention(
        datamap, sources, LATER, case_holds=records, held_people=people, narrow=False
    )
    narrow = due_for_retention(datamap, sources, LATER, case_holds=records, held_people=people)
    assert narrow.due == wide.due and narrow.held == wide.held
    held = {(item.table, item.hold) for item in wide.held}
    assert {("shop_accounts", "case:r1"), ("contact_calls", "case:r2")} <= held
    assert ("contact_emails", "case:p1") in held
    # Without record holds the calls are settled by keys alone: still the same report.
    wide = due_for_retention(datamap, sources, LATER, held_people=people, narrow=False)
    narrow = due_for_retention(datamap, sources, LATER, held_people=people)
    assert narrow.due == wide.due and narrow.held == wide.held
    assert narrow.queries < wide.queries


def test_keys_of_another_type_are_read_as_the_column(
    new_demo: Callable[[], Engine], datamap: DataMap
) -> None:
    """Key lists go to PostgreSQL as one array cast to the column's type, so keys that came as
    text (a form's record key, a link's values) find their rows as IN did."""
    sources = dict.fromkeys(datamap.sources, new_demo())
    reader = SweepReader(datamap, sources, 1000)
    assert sorted(row.key for row in reader.load("contact_calls", "id", ["1", "2"])) == [1, 2]
    assert [row.key for row in reader.load("contact_calls", "id", [2, 1, 2])] == [1, 2]
