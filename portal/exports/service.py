"""An export's life: asked for, built (at once or by the worker), delivered, downloaded, deleted.

* ``start_export`` ties the export to an access or portability request of the person's (an
  open one of theirs, or a new one filed with BankID assurance), starts the request and counts
  the person's rows: up to EXPORT_BACKGROUND_ROWS the route builds it at once
  (``build_now``); above, a worker job does (``exports.build`` in portal/exports/jobs.py) while
  the page shows progress.
* ``finish`` marks it ready and **delivered**: the files exist and the person is told (on the
  page at once, or by a message in the outbox when the worker built it), so the request is
  completed then, with an event. Downloads are recorded on the request as they happen; the
  files go when the link expires (EXPORT_LINK_DAYS), which is recorded too.

Progress is written in its own short transactions, so the page sees it while the build is
still running (a worker's job transaction only commits at the end).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from portal.datamap import DataMap
from portal.db import session_scope
from portal.exports.build import Built, Person, build_files, count_rows
from portal.exports.document import SCHEMA_PATH
from portal.exports.links import DownloadLink
from portal.exports.message import queue_links_message, queue_ready_message
from portal.exports.models import Export, ExportFile, ExportScope, ExportStatus
from portal.exports.store import ExportStore
from portal.i18n import gettext as _
from portal.identity.identifiers import proven_identifiers
from portal.jobs.queue import describe_error, enqueue
from portal.models import Assurance, Subject
from portal.settings import Settings
from portal.workflows.kept import still_kept
from portal.workflows.requests import (
    Actor,
    DataRequest,
    DuplicateRequest,
    RequestEvent,
    RequestStatus,
    RequestType,
    apply,
    file_request,
)

BUILD_JOB = "exports.build"
EXPIRE_JOB = "exports.expire"
CLEANUP_JOB = "exports.cleanup"
# Request events that change no status (the others come from the workflow's own actions).
EVENT_STARTED = "export_started"
EVENT_READY = "export_ready"
EVENT_DOWNLOADED = "export_downloaded"
EVENT_DELETED = "export_deleted"
EXPORT_TYPES = {
    RequestType.access: ExportScope.access,
    RequestType.portability: ExportScope.portability,
}
# A request an export can serve: identified, and not yet done.
USABLE = frozenset({RequestStatus.verified, RequestStatus.in_progress})


class ExportRefused(Exception):
    """The export cannot be made; the message says why, for the page. Nothing changed."""


@dataclass(frozen=True)
class ExportRuntime:
    """What building and serving exports needs besides the database."""

    datamap: DataMap
    sources: Mapping[str, Engine]
    store: ExportStore
    schema_url: str
    link_days: int = 7
    background_rows: int = 500
    # For the download links e-mailed to a person who filed without BankID.
    secret_key: str = ""
    base_url: str = ""


def runtime_for(
    settings: Settings, datamap: DataMap, sources: Mapping[str, Engine]
) -> ExportRuntime:
    """The web app's runtime, from its settings."""
    return ExportRuntime(
        datamap=datamap,
        sources=sources,
        store=ExportStore(Path(settings.var_dir) / "exports"),
        schema_url=settings.base_url + SCHEMA_PATH,
        link_days=settings.export_link_days,
        background_rows=settings.export_background_rows,
        secret_key=settings.secret_key,
        base_url=settings.base_url,
    )


_RUNTIME: ExportRuntime | None = None
_RUNTIME_LOCK = threading.Lock()


def set_runtime(runtime: ExportRuntime | None) -> None:
    """Use this runtime in the job handlers (a test, or a process that knows better)."""
    global _RUNTIME
    _RUNTIME = runtime


def runtime() -> ExportRuntime:
    """The worker's runtime: the data map and engines the erasure jobs use, and the settings
    from the environment (PORTAL_VAR_DIR, PORTAL_BASE_URL, EXPORT_LINK_DAYS), as `portal
    worker` reads them."""
    global _RUNTIME
    with _RUNTIME_LOCK:
        if _RUNTIME is None:
            from portal.workflows.erasure_run import runtime as erasure_runtime

            shared = erasure_runtime()
            _RUNTIME = runtime_for(Settings.from_env(), shared.datamap, shared.sources)
        return _RUNTIME


# --- asking for an export ----------------------------------------------------------------------


def start_export(
    db: Session,
    *,
    subject_id: int,
    rt: ExportRuntime,
    now: datetime,
    language: str,
    scope: ExportScope = ExportScope.access,
    request_id: int | None = None,
) -> Export:
    """A new export for the person, or the one already under way for the same request (or,
    with no request named, of the same scope): asking twice makes one export."""
    request = _request_for(db, subject_id, scope, request_id, language, now)
    under_way = select(Export).where(
        Export.subject_id == subject_id,
        col(Export.status).in_([ExportStatus.queued, ExportStatus.building]),
    )
    if request_id is None:
        under_way = under_way.where(Export.scope == scope)
    else:
        under_way = under_way.where(Export.request_id == request.id)
    running = db.exec(under_way).first()
    if running is not None:
        return running
    subject = db.get(Subject, subject_id)
    assert subject is not None
    export = Export(
        subject_id=subject_id,
        request_id=request.id,
        scope=EXPORT_TYPES[RequestType(request.type)],
        language=language,
        created_at=now,
        datamap_version=rt.datamap.version,
    )
    export.rows_total = count_rows(rt.datamap, rt.sources, person_of(db, subject))
    export.background = export.rows_total > rt.background_rows
    db.add(export)
    db.flush()
    data = {"export": export.id, "rows": export.rows_total}
    if request.status == RequestStatus.verified:
        apply(db, request, "start", actor=Actor.system, now=now, data=data)
    else:  # already in progress (a retry, or staff started it): recorded all the same
        note(db, request.id, EVENT_STARTED, Actor.person, subject_id, now, export_id=export.id)
    if export.background:
        key = f"{BUILD_JOB}:{export.id}"
        enqueue(db, BUILD_JOB, {"export_id": export.id}, now=now, dedupe_key=key)
    return export


def _request_for(
    db: Session,
    subject_id: int,
    scope: ExportScope,
    request_id: int | None,
    language: str,
    now: datetime,
) -> DataRequest:
    if request_id is not None:
        request = db.get(DataRequest, request_id)
        if request is None or request.subject_id != subject_id:
            raise ExportRefused(_("There is no such request."))
        if request.type not in EXPORT_TYPES:
            raise ExportRefused(_("Only access and portability requests come with an export."))
        if request.status not in USABLE:
            raise ExportRefused(
                _("This request is closed or waiting. Ask for a new export on the exports page.")
            )
        return request
    wanted = RequestType.portability if scope == ExportScope.portability else RequestType.access
    # An open request of the same type without an export serves; otherwise a new one is filed.
    candidates = db.exec(
        select(DataRequest)
        .where(
            DataRequest.subject_id == subject_id,
            DataRequest.type == wanted,
            col(DataRequest.status).in_(list(USABLE)),
        )
        .order_by(col(DataRequest.id))
    ).all()
    for request in candidates:
        # A failed export leaves its request open: trying again uses it.
        served = select(Export.id).where(
            Export.request_id == request.id, Export.status != ExportStatus.failed
        )
        if db.exec(served).first() is None:
            return request
    try:
        return file_request(
            db,
            subject_id=subject_id,
            type=wanted,
            assurance=Assurance.high,
            actor=Actor.person,
            actor_id=subject_id,
            language=language,
            now=now,
        )
    except DuplicateRequest as refused:
        # One open request of a type at a time: a new export joins the open one if it can.
        already = db.get(DataRequest, refused.open_request_id)
        if already is not None and already.status in USABLE:
            return already
        raise ExportRefused(str(refused)) from refused


def person_of(db: Session, subject: Subject) -> Person:
    assert subject.id is not None
    proven = proven_identifiers(db, subject.id)
    return Person(
        name=subject.display_name,
        national_id=subject.national_id,
        proven={kind: tuple(values) for kind, values in proven.items()},
        kept=still_kept(db, subject.id),
    )


def ask_for_export(
    engine: Engine,
    *,
    subject_id: int,
    rt: ExportRuntime,
    now: datetime,
    language: str,
    scope: ExportScope = ExportScope.access,
    request_id: int | None = None,
) -> Export:
    """What the person's "Make an export" does: start it, and build it at once when small (a
    large one is left to the worker). ExportRefused changes nothing."""
    with session_scope(engine) as db:
        export = start_export(
            db,
            subject_id=subject_id,
            rt=rt,
            now=now,
            language=language,
            scope=scope,
            request_id=request_id,
        )
    if not export.background and export.open:
        export = build_now(engine, export.id, rt, now)
    return export


def export_for_filed_request(
    engine: Engine,
    request_id: int,
    *,
    subject_id: int,
    rt: ExportRuntime,
    now: datetime,
    language: str,
) -> Export | None:
    """An access or portability request the person has just filed in the portal gets its
    export at once (the copy is what they asked for); None for other requests, or when the
    export cannot start (the request page then offers it)."""
    with session_scope(engine) as db:
        request = db.get(DataRequest, request_id)
        if request is None or request.type not in EXPORT_TYPES:
            return None
    try:
        return ask_for_export(
            engine,
            subject_id=subject_id,
            rt=rt,
            now=now,
            language=language,
            request_id=request_id,
        )
    except ExportRefused:
        return None


# --- building ----------------------------------------------------------------------------------


def build_now(engine: Engine, export_id: str, rt: ExportRuntime, now: datetime) -> Export:
    """Build an export in this thread (small ones, on request); returns it ready or failed."""
    with session_scope(engine) as db:
        export, person = _begin(db, export_id, now)
    try:
        built = _build(engine, export, person, rt, now)
    except Exception as exc:
        return _failed(engine, export_id, describe_error(exc))
    with session_scope(engine) as db:
        export = db.get(Export, export_id)
        assert export is not None
        finish(db, export, built, rt, now, notify=False)
        return export


def _begin(db: Session, export_id: str, now: datetime) -> tuple[Export, Person]:
    export = db.get(Export, export_id)
    if export is None:
        raise LookupError(f"no export {export_id}")
    subject = db.get(Subject, export.subject_id)
    assert subject is not None
    export.status = ExportStatus.building
    export.started_at = now
    export.rows_done = 0
    db.add(export)
    return export, person_of(db, subject)


def _build(
    engine: Engine, export: Export, person: Person, rt: ExportRuntime, now: datetime
) -> Built:
    return build_files(
        rt.datamap,
        rt.sources,
        rt.store,
        export_id=export.id,
        person=person,
        scope=ExportScope(export.scope),
        language=export.language,
        made_at=now,
        schema_url=rt.schema_url,
        progress=lambda rows: record_progress(engine, export.id, rows),
    )


def record_progress(engine: Engine, export_id: str, rows: int) -> None:
    with session_scope(engine) as db:
        export = db.get(Export, export_id)
        if export is not None:
            export.rows_done = rows
            db.add(export)


def _failed(engine: Engine, export_id: str, error: str) -> Export:
    with session_scope(engine) as db:
        export = db.get(Export, export_id)
        assert export is not None
        export.status = ExportStatus.failed
        export.error = error[:500]
        db.add(export)
        return export


def build_in_job(db: Session, export_id: str, rt: ExportRuntime, now: datetime, last: bool) -> None:
    """The worker's part: build, then finish in the job's transaction (``db``). Progress and the
    status go through their own transactions; ``last`` marks the final attempt, whose failure
    marks the export failed (and parks the job: the DPO may run it again, which builds the
    failed export afresh)."""
    engine = db.get_bind()
    export = db.get(Export, export_id)
    if export is None or not (export.open or export.status == ExportStatus.failed):
        return  # already built (a repeated job), or gone
    with session_scope(engine) as own:
        _, person = _begin(own, export_id, now)
    try:
        built = _build(engine, export, person, rt, now)
    except Exception as exc:
        if last:
            _failed(engine, export_id, describe_error(exc))
        raise
    db.refresh(export)
    finish(db, export, built, rt, now, notify=True)


def finish(
    db: Session, export: Export, built: Built, rt: ExportRuntime, now: datetime, *, notify: bool
) -> None:
    """Ready and delivered: the request completes, the files' deletion is scheduled, and (for
    a background export) the person gets a message; a person who filed without BankID always
    does, with the download links."""
    export.status = ExportStatus.ready
    export.ready_at = now
    export.expires_at = now + timedelta(days=rt.link_days)
    export.rows_done = built.rows
    export.files = dict(built.files)
    export.datamap_version = built.datamap_version
    export.error = None
    db.add(export)
    request = db.get(DataRequest, export.request_id)
    assert request is not None
    data = {"export": export.id, "rows": built.rows, "files": sorted(built.files)}
    if request.status == RequestStatus.in_progress and not request.details:
        # The person is on the page, or gets the "ready" message below: no second one.
        apply(db, request, "complete", actor=Actor.system, now=now, data=data, notify=False)
    else:
        # A question in the request waits for the DPO's answer; a request staff closed
        # meanwhile stays closed. Either way the delivery is recorded.
        note(db, export.request_id, EVENT_READY, Actor.system, None, now, export_id=export.id)
    enqueue(
        db,
        EXPIRE_JOB,
        {"export_id": export.id},
        now=now,
        run_at=export.expires_at,
        dedupe_key=f"{EXPIRE_JOB}:{export.id}",
    )
    if request.assurance in (Assurance.low, Assurance.staff):
        # Filed without BankID, or by customer service on a call: the files go out by e-mail
        # links only, to the request's address, whoever built them.
        queue_links_message(
            db,
            export,
            secret_key=rt.secret_key,
            base_url=rt.base_url,
            now=now,
            by_staff=request.assurance == Assurance.staff,
        )
    elif notify:
        queue_ready_message(db, export, now=now)
    db.flush()


# --- downloading and deleting ------------------------------------------------------------------


def open_download(
    db: Session,
    link: DownloadLink,
    subject_id: int,
    store: ExportStore,
    now: datetime,
    *,
    record: bool = True,
) -> Path | None:
    """The file a checked link points at, with the download recorded on the request (unless
    `record` is off: a HEAD); None when the export is not the person's, not ready, past its
    time or its file is gone."""
    export = db.get(Export, link.export_id) if link.export_id is not None else None
    if (
        export is None
        or export.subject_id != subject_id
        or export.status != ExportStatus.ready
        or export.expires_at is None
        or export.expires_at <= now
    ):
        return None
    path = store.path(export.id, link.file)
    if not path.is_file():
        return None
    if not record:
        return path
    export.downloads += 1
    db.add(export)
    note(
        db, export.request_id, EVENT_DOWNLOADED, Actor.person, subject_id, now, link.file, export.id
    )
    return path


def open_request_download(
    db: Session, link: DownloadLink, store: ExportStore, now: datetime, *, record: bool = True
) -> tuple[Path, Export] | None:
    """The file an e-mailed link of a request filed without BankID points at: of the request's
    ready export, within its time. None when there is none (not verified yet, expired, gone).
    The download is recorded on the request, with no person id: no one is signed in."""
    request = db.get(DataRequest, link.request_id) if link.request_id is not None else None
    if request is None or request.assurance != Assurance.low or request.subject_id is None:
        return None
    export = db.exec(
        select(Export)
        .where(
            Export.request_id == request.id,
            Export.status == ExportStatus.ready,
            col(Export.expires_at) > now,
        )
        .order_by(col(Export.ready_at).desc())
    ).first()
    if export is None:
        return None
    path = store.path(export.id, link.file)
    if not path.is_file():
        return None
    if record:
        export.downloads += 1
        db.add(export)
        note(db, export.request_id, EVENT_DOWNLOADED, Actor.person, None, now, link.file, export.id)
    return path, export


def note(
    db: Session,
    request_id: int,
    action: str,
    actor: Actor,
    actor_id: int | None,
    now: datetime,
    file: ExportFile | None = None,
    export_id: str | None = None,
) -> RequestEvent:
    """An event on the request that changes no status (a download, a deletion)."""
    request = db.get(DataRequest, request_id)
    assert request is not None
    data: dict[str, str] = {}
    if file is not None:
        data["file"] = str(file)
    if export_id is not None:
        data["export"] = export_id
    event = RequestEvent(
        request_id=request_id,
        at=now,
        action=action,
        from_status=str(request.status),
        to_status=str(request.status),
        actor=actor,
        actor_id=actor_id,
        data=data,
    )
    db.add(event)
    db.flush()
    return event


def expire(db: Session, export: Export, store: ExportStore, now: datetime) -> bool:
    """Delete a ready export's files once its time is up; True when it did."""
    if export.status != ExportStatus.ready or export.expires_at is None or export.expires_at > now:
        return False
    store.delete(export.id)
    export.status = ExportStatus.expired
    export.deleted_at = now
    db.add(export)
    note(db, export.request_id, EVENT_DELETED, Actor.system, None, now, export_id=export.id)
    return True


def expire_due(db: Session, store: ExportStore, now: datetime) -> int:
    """Every export past its time (the periodic sweep behind the per-export jobs)."""
    due = db.exec(
        select(Export).where(Export.status == ExportStatus.ready, col(Export.expires_at) <= now)
    ).all()
    return sum(expire(db, export, store, now) for export in due)
