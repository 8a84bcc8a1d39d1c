"""An export's life without HTTP: asked for, built at once or by the worker with progress,
delivered (the request completes), downloaded (recorded), and deleted when it expires."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

import portal.exports.jobs  # noqa: F401 - registers the handlers
from portal.datamap import DataMap
from portal.db import session_scope
from portal.demo import EDGE_CASES_BY_KEY
from portal.exports import build, service
from portal.exports.links import DownloadLink
from portal.exports.message import MESSAGE_KIND
from portal.exports.models import Export, ExportFile, ExportScope, ExportStatus
from portal.exports.store import ExportStore
from portal.jobs import queue as jobs
from portal.jobs.outbox import DELIVER_JOB, OutboxMessage
from portal.jobs.queue import Job, JobStatus
from portal.jobs.worker import Worker
from portal.models import Assurance
from portal.workflows import attention
from portal.workflows.requests import (
    Actor,
    DataRequest,
    RequestEvent,
    RequestStatus,
    RequestType,
    apply,
    file_request,
)
from tests.support import add_demo_subject as add_subject
from tests.support import email_text

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


@pytest.fixture
def rt(datamap: DataMap, demo_sources, tmp_path: Path) -> Iterator[service.ExportRuntime]:
    runtime = service.ExportRuntime(
        datamap=datamap,
        sources=demo_sources,
        store=ExportStore(tmp_path / "exports"),
        schema_url="http://testserver/schemas/export-v1.json",
        link_days=7,
        background_rows=100,
    )
    service.set_runtime(runtime)
    yield runtime
    service.set_runtime(None)


def start(engine: Engine, subject_id: int, rt: service.ExportRuntime, **kwargs) -> Export:
    with session_scope(engine) as db:
        return service.start_export(
            db, subject_id=subject_id, rt=rt, now=NOW, language="nb", **kwargs
        )


def events(engine: Engine, request_id: int) -> list[RequestEvent]:
    with Session(engine) as db:
        query = select(RequestEvent).where(RequestEvent.request_id == request_id)
        return list(db.exec(query.order_by(RequestEvent.id)))


def get(engine: Engine, model: type, key: object):
    with Session(engine) as db:
        return db.get(model, key)


def jobs_of(engine: Engine, kind: str) -> list[Job]:
    with Session(engine) as db:
        return list(db.exec(select(Job).where(Job.kind == kind)))


def run_jobs(engine: Engine, now: datetime = NOW) -> int:
    """Run every due job; returns how many of them were not message deliveries (tests/mail
    has those)."""
    deliveries: list[int] = []
    handlers = {
        **jobs.HANDLERS,
        DELIVER_JOB: lambda db, payload, ctx: deliveries.append(payload["message_id"]),
    }
    worker = Worker(engine, "test", handlers, now=lambda: now, schedule=[])
    ran = 0
    while worker.run_once():
        ran += 1
    return ran - len(deliveries)


def test_a_small_export_is_built_at_once_and_completes_its_request(
    engine: Engine, rt: service.ExportRuntime
) -> None:
    subject_id = add_subject(engine, "ordinary")
    export = start(engine, subject_id, rt)
    assert not export.background and export.rows_total == 33
    assert jobs_of(engine, service.BUILD_JOB) == []
    request = get(engine, DataRequest, export.request_id)
    assert (request.type, request.status) == (RequestType.access, RequestStatus.in_progress)

    export = service.build_now(engine, export.id, rt, NOW)
    assert export.status == ExportStatus.ready
    assert export.rows_done == 33
    assert export.expires_at == NOW + timedelta(days=7)
    assert set(export.files) == {"json", "zip", "pdf"}
    for kind in ExportFile:
        assert rt.store.path(export.id, kind).stat().st_size == export.files[kind.value]
    request = get(engine, DataRequest, export.request_id)
    assert request.status == RequestStatus.completed
    actions = [(e.action, e.data.get("export")) for e in events(engine, request.id)]
    assert actions == [("file", None), ("start", export.id), ("complete", export.id)]
    # Delivered on the page itself: no message; the files' deletion is scheduled.
    with Session(engine) as db:
        assert db.exec(select(OutboxMessage).where(OutboxMessage.kind == MESSAGE_KIND)).all() == []
    (expiry,) = jobs_of(engine, service.EXPIRE_JOB)
    assert expiry.payload == {"export_id": export.id}
    assert expiry.run_at.replace(tzinfo=UTC) == export.expires_at.replace(tzinfo=UTC)


def test_a_large_export_is_built_by_the_worker_with_progress_and_a_message(
    engine: Engine, rt: service.ExportRuntime, monkeypatch: pytest.MonkeyPatch
) -> None:
    subject_id = add_subject(engine, "frequent_buyer")
    export = start(engine, subject_id, rt)
    assert export.background and export.rows_total == 772
    assert export.status == ExportStatus.queued
    # Asking again while it waits gives the same export, not a second one.
    assert start(engine, subject_id, rt).id == export.id

    seen: list[tuple[str, int]] = []
    record = service.record_progress

    def watch(engine_: Engine, export_id: str, rows: int) -> None:
        record(engine_, export_id, rows)
        # Another connection sees the progress while the job's own transaction is open.
        with Session(engine) as db:
            row = db.get(Export, export_id)
            seen.append((str(row.status), row.rows_done))

    monkeypatch.setattr(service, "record_progress", watch)
    monkeypatch.setattr(build, "PROGRESS_EVERY", 200)
    assert run_jobs(engine) == 1

    assert seen == [("building", 200), ("building", 400), ("building", 600), ("building", 772)]
    export = get(engine, Export, export.id)
    assert (export.status, export.rows_done) == (ExportStatus.ready, 772)
    request = get(engine, DataRequest, export.request_id)
    assert request.status == RequestStatus.completed
    with Session(engine) as db:
        (message,) = db.exec(select(OutboxMessage).where(OutboxMessage.kind == MESSAGE_KIND)).all()
    assert (message.kind, message.subject_id, message.language) == (
        MESSAGE_KIND,
        subject_id,
        "nb",
    )
    assert message.context == {
        "export_id": export.id,
        "request_id": export.request_id,
        "page": f"/me/exports/{export.id}",
        "expires_at": "2026-12-01T12:00:00+00:00",
    }
    assert EDGE_CASES_BY_KEY["frequent_buyer"].national_id not in str(message.context)
    subject, body = email_text(MESSAGE_KIND, message.context, "en", "https://portal.example")
    assert subject == "Your export is ready"
    assert f"https://portal.example/me/exports/{export.id}\n" in body
    assert "1 Dec 2026" in body and "download?link" not in body
    # A repeated job (a retry after its commit was lost) builds nothing twice.
    with session_scope(engine) as db:
        jobs.enqueue(db, service.BUILD_JOB, {"export_id": export.id}, run_at=NOW, now=NOW)
    assert run_jobs(engine) == 1
    with Session(engine) as db:
        assert (
            len(db.exec(select(OutboxMessage).where(OutboxMessage.kind == MESSAGE_KIND)).all()) == 1
        )


def test_a_failed_build_is_retried_and_marked_failed_after_the_last_attempt(
    engine: Engine, rt: service.ExportRuntime, monkeypatch: pytest.MonkeyPatch
) -> None:
    subject_id = add_subject(engine, "frequent_buyer")
    export = start(engine, subject_id, rt)

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(service, "build_files", broken)
    with session_scope(engine) as db:
        db.get(Job, jobs_of(engine, service.BUILD_JOB)[0].id).max_attempts = 2
    run_jobs(engine)
    assert get(engine, Export, export.id).status == ExportStatus.building
    (job,) = jobs_of(engine, service.BUILD_JOB)
    assert job.status == JobStatus.queued and job.last_error == "OSError: disk full"
    run_jobs(engine, NOW + timedelta(hours=2))
    export = get(engine, Export, export.id)
    assert (export.status, export.error) == (ExportStatus.failed, "OSError: disk full")
    assert jobs_of(engine, service.BUILD_JOB)[0].status == JobStatus.parked
    # The request stays open for the DPO: nothing was delivered. Trying again uses it.
    assert get(engine, DataRequest, export.request_id).status == RequestStatus.in_progress
    monkeypatch.undo()
    again = start(engine, subject_id, rt)
    assert again.id != export.id and again.request_id == export.request_id
    last = events(engine, export.request_id)[-1]
    assert (last.action, last.actor, last.data) == (
        service.EVENT_STARTED,
        Actor.person,
        {"export": again.id},
    )


def test_a_parked_build_marks_its_request_and_the_dpo_runs_it_again(
    engine: Engine, rt: service.ExportRuntime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue #18, "Failures are visible": the DPO's queue flags the request, with the reason;
    running it again (after the cause is fixed) builds the failed export and completes it."""
    subject_id = add_subject(engine, "frequent_buyer")
    export = start(engine, subject_id, rt)

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(service, "build_files", broken)
    with session_scope(engine) as db:
        db.get(Job, jobs_of(engine, service.BUILD_JOB)[0].id).max_attempts = 1
    run_jobs(engine)
    (job,) = jobs_of(engine, service.BUILD_JOB)
    request = get(engine, DataRequest, export.request_id)
    assert job.status == JobStatus.parked
    assert (request.attention, request.attention_job_id) == ("OSError: disk full", job.id)
    assert request.status == RequestStatus.in_progress

    monkeypatch.undo()  # the disk has room again
    with session_scope(engine) as db:
        attention.run_again(
            db, job.id, staff_id=None, now=NOW, datamap=rt.datamap, sources=rt.sources
        )
    assert get(engine, DataRequest, export.request_id).attention is None
    run_jobs(engine, NOW + timedelta(minutes=1))
    assert get(engine, Export, export.id).status == ExportStatus.ready
    assert get(engine, DataRequest, export.request_id).status == RequestStatus.completed


def test_portability_files_its_own_request_type(engine: Engine, rt: service.ExportRuntime) -> None:
    subject_id = add_subject(engine, "ordinary")
    export = start(engine, subject_id, rt, scope=ExportScope.portability)
    assert export.scope == ExportScope.portability
    assert get(engine, DataRequest, export.request_id).type == RequestType.portability


def test_an_open_request_is_used_and_others_are_refused(
    engine: Engine, rt: service.ExportRuntime
) -> None:
    subject_id = add_subject(engine, "ordinary")
    other = add_subject(engine, "two_systems")
    with session_scope(engine) as db:

        def filed(who: int, type: RequestType, assurance=Assurance.high) -> int:
            request = file_request(
                db, subject_id=who, type=type, assurance=assurance, actor=Actor.person, now=NOW
            )
            return request.id

        access = filed(subject_id, RequestType.access)
        erasure = filed(subject_id, RequestType.erasure)
        theirs = filed(other, RequestType.access)
        cancelled = filed(subject_id, RequestType.portability)
        apply(db, db.get(DataRequest, cancelled), "cancel", actor=Actor.person, now=NOW)
        # One open request of a type at a time: the unverified one once the other is closed.
        unverified = filed(subject_id, RequestType.portability, Assurance.low)
    # Without a request named, the open access request is used rather than a new one filed.
    assert start(engine, subject_id, rt).request_id == access
    for request_id in (erasure, unverified, theirs, cancelled, 999_999):
        with pytest.raises(service.ExportRefused):
            start(engine, subject_id, rt, request_id=request_id)
    with Session(engine) as db:
        assert len(db.exec(select(Export)).all()) == 1
        assert len(db.exec(select(DataRequest)).all()) == 5


def ready_export(engine: Engine, rt: service.ExportRuntime, key: str = "ordinary") -> Export:
    export = start(engine, add_subject(engine, key), rt)
    return service.build_now(engine, export.id, rt, NOW)


def test_a_download_is_recorded_on_the_request(engine: Engine, rt: service.ExportRuntime) -> None:
    export = ready_export(engine, rt)
    link = DownloadLink(file=ExportFile.zip, export_id=export.id)
    with session_scope(engine) as db:
        path = service.open_download(db, link, export.subject_id, rt.store, NOW)
    assert path == rt.store.path(export.id, ExportFile.zip)
    last = events(engine, export.request_id)[-1]
    assert (last.action, last.actor, last.actor_id) == (
        service.EVENT_DOWNLOADED,
        Actor.person,
        export.subject_id,
    )
    assert last.data == {"file": "zip", "export": export.id}
    assert last.from_status == last.to_status == RequestStatus.completed
    assert get(engine, Export, export.id).downloads == 1
    # Someone else, or too late: nothing served, nothing recorded.
    with session_scope(engine) as db:
        assert service.open_download(db, link, export.subject_id + 1, rt.store, NOW) is None
        late = export.expires_at + timedelta(seconds=1)
        assert service.open_download(db, link, export.subject_id, rt.store, late) is None
    assert len(events(engine, export.request_id)) == 4


def test_the_files_are_deleted_when_the_export_expires(
    engine: Engine, rt: service.ExportRuntime
) -> None:
    export = ready_export(engine, rt)
    second = ready_export(engine, rt, "open_complaint")
    assert run_jobs(engine, NOW + timedelta(days=6)) == 0  # not due yet
    assert rt.store.directory(export.id).is_dir()
    assert run_jobs(engine, NOW + timedelta(days=7, minutes=1)) == 2
    for item in (export, second):
        stored = get(engine, Export, item.id)
        assert stored.status == ExportStatus.expired
        assert not rt.store.directory(item.id).exists()
        last = events(engine, item.request_id)[-1]
        assert (last.action, last.actor, last.data) == (
            service.EVENT_DELETED,
            Actor.system,
            {"export": item.id},
        )


def test_the_hourly_sweep_deletes_what_a_missed_job_left(
    engine: Engine, rt: service.ExportRuntime
) -> None:
    export = ready_export(engine, rt)
    with session_scope(engine) as db:
        for job in db.exec(select(Job).where(Job.kind == service.EXPIRE_JOB)):
            db.delete(job)
    later = NOW + timedelta(days=8)
    with session_scope(engine) as db:
        assert service.expire_due(db, rt.store, NOW) == 0
        assert service.expire_due(db, rt.store, later) == 1
        assert service.expire_due(db, rt.store, later) == 0
    assert get(engine, Export, export.id).status == ExportStatus.expired
    assert not rt.store.directory(export.id).exists()
    assert any(p.kind == service.CLEANUP_JOB for p in jobs.SCHEDULE)


def test_the_settings_reach_the_runtime(datamap: DataMap, tmp_path: Path) -> None:
    from portal.settings import Settings, SettingsError

    base = {"SECRET_KEY": "k" * 40, "PORTAL_VAR_DIR": str(tmp_path), "DATABASE_URL": "sqlite://"}
    defaults = service.runtime_for(Settings.from_env(base), datamap, {})
    assert (defaults.link_days, defaults.background_rows) == (7, 500)
    assert defaults.schema_url == "http://127.0.0.1:8000/schemas/export-v1.json"
    assert defaults.store.root == tmp_path / "exports"
    settings = Settings.from_env({**base, "EXPORT_LINK_DAYS": "3", "EXPORT_BACKGROUND_ROWS": "0"})
    assert (settings.export_link_days, settings.export_background_rows) == (3, 0)
    for name, value in (("EXPORT_LINK_DAYS", "0"), ("EXPORT_BACKGROUND_ROWS", "many")):
        with pytest.raises(SettingsError, match=name):
            Settings.from_env({**base, name: value})


def test_a_requests_page_offers_its_export(engine: Engine, rt: service.ExportRuntime) -> None:
    from portal.views.exports import request_exports

    subject_id = add_subject(engine, "ordinary")
    with session_scope(engine) as db:

        def filed(type: RequestType, assurance=Assurance.high) -> DataRequest:
            return file_request(
                db,
                subject_id=subject_id,
                type=type,
                assurance=assurance,
                actor=Actor.person,
                now=NOW,
            )

        access, erasure = filed(RequestType.access), filed(RequestType.erasure)
        unverified = filed(RequestType.portability, Assurance.low)
        ids = access.id, erasure.id, unverified.id
    with Session(engine) as db:
        box = request_exports(db, db.get(DataRequest, ids[0]), "en", "Europe/Oslo", NOW)
        assert (box.can_start, box.unverified, box.exports) == (True, False, ())
        assert request_exports(db, db.get(DataRequest, ids[1]), "en", "Europe/Oslo", NOW) is None
        box = request_exports(db, db.get(DataRequest, ids[2]), "en", "Europe/Oslo", NOW)
        assert (box.can_start, box.unverified) == (False, True)
    export = start(engine, subject_id, rt, request_id=ids[0])
    service.build_now(engine, export.id, rt, NOW)
    with Session(engine) as db:
        box = request_exports(db, db.get(DataRequest, ids[0]), "en", "Europe/Oslo", NOW)
    assert not box.can_start
    assert [(item.href, item.status) for item in box.exports] == [
        (f"/me/exports/{export.id}", "ready")
    ]


def test_the_worker_reads_its_runtime_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = {
        "SECRET_KEY": "k" * 40,
        "PORTAL_VAR_DIR": str(tmp_path),
        "DATABASE_URL": "sqlite://",
        "PORTAL_BASE_URL": "https://portal.example",
        "EXPORT_LINK_DAYS": "3",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    service.set_runtime(None)
    try:
        found = service.runtime()
        assert found.store.root == tmp_path / "exports"
        assert found.schema_url == "https://portal.example/schemas/export-v1.json"
        assert found.link_days == 3
        assert service.runtime() is found  # loaded once per process
    finally:
        service.set_runtime(None)
