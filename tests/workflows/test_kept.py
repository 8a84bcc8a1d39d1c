"""What an erasure keeps, as the person sees it afterwards: on /me after a new sign-in, in every
export file, until the deferred erasure has run (GDPR recital 26, art. 15)."""

# ruff: noqa: F811 - fixtures imported from test_erasure_run are parameters here

from __future__ import annotations

import csv
import io
import json
import zipfile
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import jsonschema
import pytest
from pypdf import PdfReader
from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from starlette.testclient import TestClient

from portal import i18n
from portal.app import create_app
from portal.datamap import DataMap, resolve
from portal.db import session_scope
from portal.exports.build import build_files
from portal.exports.csv_zip import ENCODING, KEPT_CSV
from portal.exports.document import SCHEMA_FILE
from portal.exports.models import ExportFile, ExportScope
from portal.exports.service import person_of
from portal.exports.store import ExportStore
from portal.models import Subject
from portal.settings import Settings
from portal.workflows.erasure import ErasurePlan
from portal.workflows.erasure_service import release_case_hold, set_case_hold
from portal.workflows.kept import kept_records
from portal.workflows.records import DeferredDone
from tests.conftest import TEST_SECRET, make_settings
from tests.support import signed_in_client
from tests.workflows.test_erasure_run import (  # noqa: F401 - fixtures
    NOW,
    demo,
    dpo,
    erase,
    national_id,
    new_demo,
    run_jobs,
    runtime,
    sources,
    stored_plan,
    subject_id,
)
from tests.workflows.test_erasure_run import Runtime as RuntimeType

# The deferred erasures of Kari's bookkeeping records (kept until 31 Dec 2026 ... 2031).
AFTER_EVERY_HOLD = datetime(2032, 1, 2, 1, tzinfo=UTC)


def retained(engine: Engine, plan_id: int) -> list:
    plan = ErasurePlan.from_dict(stored_plan(engine, plan_id).plan)
    return [step for step in plan.steps if step.action == "retain"]


def kept_now(engine: Engine, subject: int, datamap: DataMap, sources) -> tuple:
    """What /me and the exports list: kept rows the person's sign-in no longer finds."""
    with Session(engine) as db:
        national = db.get(Subject, subject).national_id
        found = resolve(datamap, sources, national).keys
        return kept_records(db, subject, found=found, order=datamap.table_order())


def test_kept_records_are_grouped_by_table_day_and_hold_until_the_deferred_erasure(
    engine: Engine, runtime: RuntimeType, dpo: int, datamap: DataMap
) -> None:
    request_id, plan_id = erase(engine, "ordinary", runtime, dpo)
    steps = retained(engine, plan_id)
    assert len(steps) > 5
    subject = subject_id(engine, request_id)
    tables = kept_now(engine, subject, datamap, runtime.sources)

    # Every kept row once, by table and day, in the map's order; the counts add up.
    expected = Counter((step.table, step.until) for step in steps)
    found = Counter()
    for table in tables:
        assert table.count == sum(group.count for group in table.groups)
        for group in table.groups:
            found[(table.table, group.until)] += group.count
            assert group.reasons and all(reason.until == group.until for reason in group.reasons)
    assert found == expected
    order = datamap.table_order()
    assert [t.table for t in tables] == sorted((t.table for t in tables), key=order.index)
    invoices = next(table for table in tables if table.table == "billing_invoices")
    assert invoices.name_in("nb") == "Fakturaer og kvitteringer"
    days = [group.until for group in invoices.groups]
    assert days == sorted(days) and len(days) >= 2  # each release day on its own, soonest first
    first = invoices.groups[0]
    assert first.hold_texts("nb")[0] == ("Regnskapsbilag", "bokføringsloven § 13 andre ledd")
    assert first.until_text("nb") == i18n.format_day(first.until, "nb")
    assert first.then_text("en") == "then erased"

    # The first deferred erasure (1 Jan the year after the soonest day) takes that day's rows.
    soonest = min(step.until for step in steps)
    run_jobs(engine, datetime(soonest.year + 1, 1, 1, 1, tzinfo=UTC))
    later = kept_now(engine, subject, datamap, runtime.sources)
    assert sum(t.count for t in later) == sum(1 for s in steps if s.until != soonest)
    assert all(group.until != soonest for table in later for group in table.groups)
    with Session(engine) as db:
        assert db.exec(select(DeferredDone)).first() is not None

    run_jobs(engine, AFTER_EVERY_HOLD)
    assert kept_now(engine, subject, datamap, runtime.sources) == ()


def test_a_row_a_hold_still_keeps_stays_listed_until_the_hold_is_released(
    engine: Engine, runtime: RuntimeType, dpo: int, datamap: DataMap
) -> None:
    # Erased in 2026; the recent collection case is kept until 24 Nov 2028.
    request_id, plan_id = erase(engine, "two_collection_cases", runtime, dpo)
    subject = subject_id(engine, request_id)
    before = kept_now(engine, subject, datamap, runtime.sources)
    assert sum(t.count for t in before) == len(retained(engine, plan_id))
    cases = next(t for t in before if t.table == "collection_cases")
    assert [g.until for g in cases.groups] == [date(2028, 11, 24)]
    with session_scope(engine) as db:
        hold = set_case_hold(
            db,
            subject_id=subject,
            kind="authority_request",
            reason="Police request",
            scope="person",
            staff_id=dpo,
            now=datetime(2028, 6, 1, tzinfo=UTC),
            datamap=datamap,
        )
        hold_id = hold.id or 0
    # The deferred erasure finds the DPO's hold: the case stays, now until it is released.
    run_jobs(engine, datetime(2028, 11, 25, 1, tzinfo=UTC))
    held = kept_now(engine, subject, datamap, runtime.sources)
    cases = next(t for t in held if t.table == "collection_cases")
    assert [(g.until, g.case) for g in cases.groups] == [(None, True)]
    assert cases.groups[0].until_text("en") == "until the hold is released"
    assert cases.groups[0].then_text("en") is None

    released = datetime(2028, 12, 1, 9, tzinfo=UTC)
    with session_scope(engine) as db:
        release_case_hold(db, hold_id, staff_id=dpo, reason="Closed", now=released)
    run_jobs(engine, released)
    after = kept_now(engine, subject, datamap, runtime.sources)
    assert "collection_cases" not in {t.table for t in after}


@pytest.fixture
def app_client(
    engine: Engine, runtime: RuntimeType, var_dir: Path, database_url: str
) -> Iterator[TestClient]:
    settings: Settings = make_settings(database_url, var_dir, ME_CACHE_SECONDS="0")
    app = create_app(settings, sources=runtime.sources)
    with TestClient(app, follow_redirects=False) as client:
        yield client


def test_me_after_erasure_lists_what_is_kept_until_the_deferred_erasure(
    engine: Engine, runtime: RuntimeType, dpo: int, app_client: TestClient
) -> None:
    request_id, plan_id = erase(engine, "ordinary", runtime, dpo)
    steps = retained(engine, plan_id)
    subject = subject_id(engine, request_id)
    # The erasure blanked the name and ended the sessions; a new BankID sign-in finds the
    # same subject by national ID (identity/subjects.py), here as a fresh session.
    with Session(engine) as db:
        assert db.get(Subject, subject).given_name == ""
    signed_in_client(app_client, secret_key=TEST_SECRET, subject_id=subject)
    response = app_client.get("/me")
    assert response.status_code == 200
    page = response.context["page"]
    assert not page.empty
    assert page.kept_total == len(steps) == page.total  # nothing else is found any more
    assert "Vi har ingen personopplysninger om deg" not in response.text
    assert "Beholdes etter slettingen" in response.text
    assert "bokføringsloven § 13 andre ledd" in response.text
    invoices = next(table for table in page.kept if table.table == "billing_invoices")
    assert invoices.name == "Fakturaer og kvitteringer"
    assert sum(line.count for line in invoices.lines) == invoices.count
    soonest = min(step.until for step in steps if step.table == "billing_invoices")
    assert f"31. des. {soonest.year}" in response.text

    run_jobs(engine, AFTER_EVERY_HOLD)
    response = app_client.get("/me")
    assert response.context["page"].empty
    assert "Vi har ingen personopplysninger om deg" in response.text


def test_every_export_file_lists_what_is_kept_until_the_deferred_erasure(
    engine: Engine, runtime: RuntimeType, dpo: int, datamap: DataMap, tmp_path: Path
) -> None:
    request_id, plan_id = erase(engine, "ordinary", runtime, dpo)
    steps = retained(engine, plan_id)
    subject = subject_id(engine, request_id)
    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    store = ExportStore(tmp_path / "exports")

    def export(name: str) -> Path:
        with Session(engine) as db:
            person = person_of(db, db.get(Subject, subject))
        build_files(
            datamap,
            runtime.sources,
            store,
            export_id=name,
            person=person,
            scope=ExportScope.access,
            language="nb",
            made_at=NOW,
            schema_url="http://testserver/schemas/export-v1.json",
        )
        return store.directory(name)

    built = export("after-erasure")
    document = json.loads((built / ExportFile.json.filename).read_text(encoding="utf-8"))
    jsonschema.validate(document, schema, cls=jsonschema.Draft202012Validator)
    kept = document["kept_after_erasure"]
    assert sum(table["count"] for table in kept) == len(steps)
    invoices = next(table for table in kept if table["table"] == "billing_invoices")
    group = invoices["groups"][0]
    assert (
        group["until"] == min(s.until for s in steps if s.table == "billing_invoices").isoformat()
    )
    assert group["holds"][0]["citation"] == "bokføringsloven § 13 andre ledd"
    assert group["then"] == "erase"

    with zipfile.ZipFile(built / ExportFile.zip.filename) as archive:
        lines = list(csv.DictReader(io.StringIO(archive.read(KEPT_CSV).decode(ENCODING))))
        readme = archive.read("README.txt").decode("utf-8")
    assert sum(int(line["records"]) for line in lines) == len(steps)
    assert {line["kept_until"] for line in lines if line["table"] == "billing_invoices"} == {
        s.until.isoformat() for s in steps if s.table == "billing_invoices"
    }
    assert KEPT_CSV in readme

    pages = PdfReader(built / ExportFile.pdf.filename).pages
    text = " ".join(" ".join(page.extract_text() for page in pages).split())
    assert "Beholdes etter slettingen" in text
    assert "bokføringsloven § 13 andre ledd" in text

    run_jobs(engine, AFTER_EVERY_HOLD)
    again = export("after-deferred")
    document = json.loads((again / ExportFile.json.filename).read_text(encoding="utf-8"))
    jsonschema.validate(document, schema, cls=jsonschema.Draft202012Validator)
    assert document["kept_after_erasure"] == []
    with zipfile.ZipFile(again / ExportFile.zip.filename) as archive:
        assert KEPT_CSV not in archive.namelist()


def test_the_deferred_record_is_kept_for_each_run(
    engine: Engine, runtime: RuntimeType, dpo: int
) -> None:
    _request_id, plan_id = erase(engine, "ordinary", runtime, dpo)
    run_jobs(engine, AFTER_EVERY_HOLD)
    with Session(engine) as db:
        runs = db.exec(select(DeferredDone)).all()
    judged = [(run.table_name, key) for run in runs for key in run.keys]
    steps = retained(engine, plan_id)
    assert sorted(map(str, judged)) == sorted(str((s.table, s.key)) for s in steps if s.until)
    assert all(run.plan_id == plan_id and run.kept == [] for run in runs)
    assert {run.done_at.replace(tzinfo=UTC) for run in runs} == {AFTER_EVERY_HOLD}
