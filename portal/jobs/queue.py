"""Jobs: work that takes time, stored in the portal's database and run by `portal worker`.

A job is a row in `job`: a kind, a small JSON payload and when it may run. Code that causes work
calls `enqueue(db, ...)` inside its own transaction, so the job exists exactly when the change
that caused it was committed. Workers (portal/jobs/worker.py) claim due jobs and run the handler
registered for the kind with `@handler("kind")`.

Guarantees, and what handlers must do for them to hold:

- A claim is a single statement: on PostgreSQL `... FOR UPDATE SKIP LOCKED`, so any number of
  workers run side by side and never take the same job; on SQLite one statement in one database
  file cannot race (SQLite is meant for one worker, or the in-process worker in development).
- The handler runs in one transaction of the portal database, and the job is marked done in that
  same transaction: a crash (even SIGKILL) commits both or neither. Handlers must not commit.
- While the handler runs, its worker holds the job's row lock (PostgreSQL) and a lease
  (`locked_until`). A worker that dies loses both; once the lease has passed another worker takes
  the job over. Marking done is conditional on still holding the claim, so a worker that lost
  its claim rolls its work back instead of committing it twice.
- Handlers that change anything outside the portal database (erasure in the company's systems,
  e-mail) can run more than once (a crash after the outside change, before our commit): they must
  be idempotent, e.g. "delete where still present", and check what is already done.
- A failed run is rolled back and retried with exponential backoff and jitter; after
  `max_attempts` runs the job is parked for the DPO (`parked_jobs`, `retry_parked`). A handler
  that knows running again cannot help (a data map that cannot be carried out) raises
  `Unretryable`: the job is parked at once. A kind's `on_park` hook, run in the transaction that
  parks the job, lets the work it belongs to say so (a request is marked "needs attention").
- Payloads hold internal ids only, never personal data. Exception messages end up in
  `last_error`, shown to staff: handlers must not put personal data in them (database errors are
  reduced to their first line, without the statement or its parameters).
"""

from __future__ import annotations

import importlib
import logging
import random
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column, Index, String, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, StatementError
from sqlmodel import Field, Session, SQLModel

from portal.db import utcnow

logger = logging.getLogger("portal.jobs")

DEFAULT_MAX_ATTEMPTS = 8
# With these, eight attempts span about an hour: long enough to ride out a short outage.
BACKOFF_BASE = timedelta(seconds=30)
BACKOFF_CAP = timedelta(hours=1)
ERROR_LENGTH = 500

# Modules whose import registers the portal's own handlers (the worker imports them all).
HANDLER_MODULES: tuple[str, ...] = (
    "portal.workflows.erasure_run",
    "portal.exports.jobs",
    "portal.workflows.reminders",
    "portal.workflows.holds",
    "portal.marketing.withdrawal",
    "portal.marketing.registers",
    "portal.marketing.washing",
    "portal.workflows.email_requests",
    "portal.mail.sender",
    "portal.audit.chain",
)


class JobStatus(StrEnum):
    # Waiting for run_at: new, or failed and waiting for its retry.
    queued = "queued"
    # Claimed by locked_by, whose lease lasts until locked_until.
    running = "running"
    # Finished; kept for the record (and so a dedupe key stays taken).
    done = "done"
    # Failed max_attempts times, or has no handler: waits for the DPO.
    parked = "parked"


class Job(SQLModel, table=True):
    __tablename__ = "job"
    __table_args__ = (Index("ix_job_status_run_at", "status", "run_at"),)

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=100)
    # Internal ids only, never personal data.
    payload: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    status: JobStatus = Field(default=JobStatus.queued, sa_type=String(20))
    run_at: datetime = Field(default_factory=utcnow)
    attempts: int = 0
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    # Exception class and the first line of its message; see the module docstring.
    last_error: str | None = Field(default=None, max_length=ERROR_LENGTH)
    locked_by: str | None = Field(default=None, max_length=100)
    locked_until: datetime | None = None
    # Enqueueing a second job with the same key is a no-op (even after the first has run).
    dedupe_key: str | None = Field(default=None, max_length=200, unique=True)
    created_at: datetime = Field(default_factory=utcnow)
    started_at: datetime | None = None
    finished_at: datetime | None = None


@dataclass(frozen=True)
class JobContext:
    """What a handler may want to know about the run it is in."""

    job_id: int
    kind: str
    attempt: int  # 1 on the first run
    max_attempts: int
    worker_id: str
    now: datetime  # when this run started, by the worker's clock


Handler = Callable[[Session, dict[str, Any], JobContext], None]
# Told that a job of its kind was parked: (db, the job, its error as in last_error, now).
ParkHook = Callable[[Session, "Job", str, datetime], None]
# Told that any job was parked (the worker tells the DPO's mailbox): (db, the job, now).
OnPark = Callable[[Session, "Job", datetime], None]


class Unretryable(Exception):
    """Raised by a handler when running the job again cannot help until someone fixes the
    cause (a data map that cannot be carried out, a plan in the wrong state): the job is parked
    at once instead of retried. Its message, like every handler error's, holds no personal
    data: staff read it."""


@dataclass(frozen=True)
class Periodic:
    """A job the workers enqueue once per period (`every`), keyed so N workers make one copy."""

    kind: str
    every: timedelta
    payload: Mapping[str, Any] | None = None


HANDLERS: dict[str, Handler] = {}
SCHEDULE: list[Periodic] = []
PARK_HOOKS: dict[str, ParkHook] = {}


def handler(
    kind: str,
    *,
    every: timedelta | None = None,
    registry: dict[str, Handler] | None = None,
    on_park: ParkHook | None = None,
) -> Callable[[Handler], Handler]:
    """Register a handler `(db, payload, ctx) -> None` for a kind of job.

    With `every`, the workers also enqueue the job once per period (retention sweeps, reminders).
    The handler writes through `db` and does not commit: the worker commits its writes together
    with marking the job done. An exception rolls them back and schedules a retry
    (`Unretryable`: parks the job at once). `on_park` is called when a job of the kind is parked.
    """
    target = HANDLERS if registry is None else registry

    def register(fn: Handler) -> Handler:
        if kind in target and target[kind] is not fn:
            raise ValueError(f"a handler for job kind {kind!r} is already registered")
        target[kind] = fn
        if every is not None and registry is None:
            SCHEDULE.append(Periodic(kind, every))
        if on_park is not None:
            PARK_HOOKS[kind] = on_park
        return fn

    return register


def load_handler_modules(extra: Iterable[str] = ()) -> None:
    """Import the modules that register handlers: the portal's own and any named (tests)."""
    for name in (*HANDLER_MODULES, *extra):
        importlib.import_module(name)


def enqueue(
    db: Session,
    kind: str,
    payload: Mapping[str, Any] | None = None,
    *,
    now: datetime,
    run_at: datetime | None = None,
    dedupe_key: str | None = None,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
) -> int | None:
    """Add a job in the caller's transaction, due at `run_at` (default: `now`); returns its id,
    or None when `dedupe_key` is taken.

    The caller commits: the job then exists exactly when the change that caused it does.
    """
    values = {
        "kind": kind,
        "payload": dict(payload or {}),
        "status": JobStatus.queued,
        "run_at": run_at or now,
        "attempts": 0,
        "max_attempts": max_attempts,
        "dedupe_key": dedupe_key,
        "created_at": now,
    }
    # ON CONFLICT DO NOTHING, not a caught IntegrityError: on PostgreSQL an error would abort the
    # caller's whole transaction.
    dialect = postgresql if db.get_bind().dialect.name == "postgresql" else sqlite
    statement = (
        dialect.insert(Job)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["dedupe_key"])
        .returning(Job.id)
    )
    return db.execute(statement).scalar_one_or_none()


def claim(
    engine: Engine,
    worker_id: str,
    now: datetime,
    lease: timedelta,
    on_park: OnPark | None = None,
) -> Job | None:
    """Take one due job for `worker_id` and commit the claim; None when nothing is due.

    Due: queued with run_at passed, or running with a lease that ran out (its worker died).
    Each claim counts as an attempt, so a job that kills its worker is parked in the end.
    """
    candidate = (
        select(Job.id)
        .where(
            or_(
                (Job.status == JobStatus.queued) & (Job.run_at <= now),
                (Job.status == JobStatus.running) & (Job.locked_until < now),
            )
        )
        .order_by(Job.run_at, Job.id)
        .limit(1)
        # PostgreSQL: rows other workers hold are skipped, not waited for. SQLite renders none:
        # the single UPDATE statement below is atomic within the database file.
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    statement = (
        update(Job)
        .where(Job.id == candidate)
        .values(
            status=JobStatus.running,
            attempts=Job.attempts + 1,
            locked_by=worker_id,
            locked_until=now + lease,
            started_at=now,
        )
        .returning(Job)
        .execution_options(synchronize_session=False)
    )
    with Session(engine, expire_on_commit=False) as db:
        job = db.execute(statement).scalars().first()
        if job is not None and job.attempts > job.max_attempts:
            # Only a job whose worker died during its last attempt gets here.
            lost = "WorkerLost: the worker stopped during the last attempt"
            _park(db, job, now, lost)
            _tell_parked(db, job, lost, now, on_park)
            db.commit()
            return claim(engine, worker_id, now, lease, on_park)
        db.commit()
        return job


def hold(db: Session, job: Job) -> bool:
    """Start the run's transaction by locking the job's row; False when the claim was lost.

    On PostgreSQL the row lock lasts until the handler's work commits, so other workers skip the
    job even after its lease has passed; it is released when this worker's connection dies.
    """
    held = db.execute(
        select(Job.id).where(*_claimed_by(job)).with_for_update()
    ).scalar_one_or_none()
    return held is not None


def complete(db: Session, job: Job, now: datetime) -> bool:
    """Mark the job done in the handler's transaction; False when the claim was lost."""
    result = db.execute(
        update(Job)
        .where(*_claimed_by(job))
        .values(
            status=JobStatus.done,
            finished_at=now,
            locked_by=None,
            locked_until=None,
            last_error=None,
        )
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


def fail(
    engine: Engine,
    job: Job,
    now: datetime,
    error: str,
    backoff: Callable[[int], timedelta],
    *,
    permanent: bool = False,
    on_park: OnPark | None = None,
) -> JobStatus | None:
    """Record a failed run: queued again after a backoff, or parked after the last attempt (at
    once when ``permanent``: the handler raised `Unretryable`). Parking runs the kind's
    `on_park` hook, then the worker's `on_park`, in the same transaction.

    Returns the new status, or None when the claim had already been lost.
    """
    parked = permanent or job.attempts >= job.max_attempts
    values: dict[str, Any] = {"last_error": error, "locked_by": None, "locked_until": None}
    if parked:
        values |= {"status": JobStatus.parked, "finished_at": now}
    else:
        values |= {"status": JobStatus.queued, "run_at": now + backoff(job.attempts)}
    with Session(engine) as db:
        result = db.execute(
            update(Job)
            .where(*_claimed_by(job))
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount == 1 and parked:
            _tell_parked(db, job, error, now, on_park)
        db.commit()
    if result.rowcount != 1:
        return None
    return JobStatus.parked if parked else JobStatus.queued


def park(
    engine: Engine, job: Job, now: datetime, error: str, on_park: OnPark | None = None
) -> None:
    """Park a claimed job at once (no handler for its kind)."""
    with Session(engine) as db:
        if _park(db, job, now, error):
            _tell_parked(db, job, error, now, on_park)
        db.commit()


def _tell_parked(
    db: Session, job: Job, error: str, now: datetime, on_park: OnPark | None = None
) -> None:
    """Run the kind's `on_park` hook, then the worker's `on_park` (the DPO's mailbox), each in
    a savepoint: a hook that fails leaves the job parked (and logs its class only), rather
    than the job running for ever."""
    hooks: list[Callable[[], None]] = []
    kind_hook = PARK_HOOKS.get(job.kind)
    if kind_hook is not None:
        hooks.append(lambda: kind_hook(db, job, error[:ERROR_LENGTH], now))
    if on_park is not None:
        hooks.append(lambda: on_park(db, job, now))
    for hook in hooks:
        try:
            with db.begin_nested():
                hook()
        except Exception as exc:  # the parking itself must stand
            name = type(exc).__name__
            logger.warning("on_park hook failed kind=%s id=%s error=%s", job.kind, job.id, name)


def _park(db: Session, job: Job, now: datetime, error: str) -> bool:
    """Mark a claimed job parked; False when the claim was lost."""
    result = db.execute(
        update(Job)
        .where(*_claimed_by(job))
        .values(
            status=JobStatus.parked,
            finished_at=now,
            last_error=error[:ERROR_LENGTH],
            locked_by=None,
            locked_until=None,
        )
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


def _claimed_by(job: Job) -> tuple[Any, ...]:
    return (
        Job.id == job.id,
        Job.status == JobStatus.running,
        Job.locked_by == job.locked_by,
        # A later claim of the same job (after a lease ran out) has a later attempt number.
        Job.attempts == job.attempts,
    )


def default_backoff(attempts: int) -> timedelta:
    """The wait before the next run after `attempts` failed runs: doubling, capped, ±25 %."""
    doubled = BACKOFF_BASE * 2 ** min(attempts - 1, 30)
    jitter = random.uniform(0.75, 1.25)  # noqa: S311 - spreads retries, not a secret
    return min(doubled, BACKOFF_CAP) * jitter


def describe_error(exc: BaseException) -> str:
    """The exception class and the first line of its message, for `last_error`.

    Database errors give only the driver's own first line: SQLAlchemy's message would add the
    statement and its parameters, and PostgreSQL's DETAIL line quotes the offending values.
    """
    if isinstance(exc, DBAPIError | StatementError) and exc.orig is not None:
        exc = exc.orig
    lines = str(exc).strip().splitlines()
    text = f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__
    return text[:ERROR_LENGTH]


def parked_jobs(db: Session) -> list[Job]:
    """Jobs that failed for good, newest first: for the DPO's view."""
    statement = (
        select(Job)
        .where(Job.status == JobStatus.parked)
        .order_by(Job.finished_at.desc(), Job.id.desc())
    )
    return list(db.execute(statement).scalars())


def settle_parked(db: Session, job_id: int, now: datetime) -> Job:
    """Close a parked job without running it (newer work replaced it); its error stays, as the
    record of what happened. Raises LookupError when there is no such parked job."""
    job = db.get(Job, job_id, with_for_update=True)
    if job is None or job.status != JobStatus.parked:
        raise LookupError(f"job {job_id} is not parked")
    job.status = JobStatus.done
    job.finished_at = now
    db.add(job)
    db.flush()
    return job


def retry_parked(db: Session, job_id: int, now: datetime) -> Job:
    """Queue a parked job again with a fresh set of attempts (the DPO fixed the cause).

    Raises LookupError when there is no such parked job. The last error stays until the next run.
    """
    job = db.get(Job, job_id, with_for_update=True)
    if job is None or job.status != JobStatus.parked:
        raise LookupError(f"job {job_id} is not parked")
    job.status = JobStatus.queued
    job.run_at = now
    job.attempts = 0
    job.finished_at = None
    db.add(job)
    db.flush()
    return job


def period_key(kind: str, every: timedelta, now: datetime) -> tuple[str, datetime]:
    """The dedupe key and start of the period `now` falls in, counted from the Unix epoch."""
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    start = epoch + every * ((now - epoch) // every)
    return f"{kind}:{start:%Y-%m-%dT%H:%MZ}", start


def enqueue_periodic(engine: Engine, schedule: Iterable[Periodic], now: datetime) -> int:
    """Enqueue each periodic job for the current period unless it exists; returns how many."""
    added = 0
    with Session(engine) as db:
        for entry in schedule:
            key, start = period_key(entry.kind, entry.every, now)
            # Looking first keeps N polling workers from burning sequence numbers on conflicts.
            if db.execute(select(Job.id).where(Job.dedupe_key == key)).first() is not None:
                continue
            job_id = enqueue(db, entry.kind, entry.payload, now=now, run_at=start, dedupe_key=key)
            added += job_id is not None
        db.commit()
    return added
