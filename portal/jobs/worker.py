"""The worker: claims due jobs and runs their handlers (portal/jobs/queue.py has the guarantees).

`portal worker` runs one in its own process; on PostgreSQL run as many as you like. In
development the web server runs one in a thread (`start_in_thread`); on SQLite run only one.
SIGTERM or SIGINT stops a worker after the job in hand; a second signal stops it at once (the
job's transaction is then rolled back and the job retried after its lease).

Each job logs one line: kind, id, attempt, outcome and duration. Never the payload or the error
message, which stay in the database for staff.

A handler that raises `Unretryable` has its job parked at once (portal/jobs/queue.py). A worker
counts the runs that failed (`failed`): `portal worker --burst` and `--once` exit 1 when any did,
so a script or a CI step sees that work was left undone.

A worker outlives its database: when the database cannot be reached (down, restarting), `run`
logs one line, waits (0.5 s, doubling up to 5 s) and tries again, and logs one line when it
answers again. A job whose database went away while it ran was rolled back with its connection;
its failure is recorded as soon as the database answers, so it is retried after its backoff
rather than after its lease. Either way it runs to completion exactly once.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import FrameType

from sqlalchemy.engine import Engine
from sqlmodel import Session

from portal.db import utcnow
from portal.jobs import queue as jobs
from portal.jobs.outbox import tell_dpo_parked
from portal.jobs.queue import Handler, Job, JobContext, OnPark, Periodic
from portal.settings import dpo_email_from

logger = logging.getLogger("portal.jobs.worker")

DEFAULT_LEASE = timedelta(minutes=5)
DEFAULT_POLL_INTERVAL = 1.0
# How often a worker makes sure the current period's periodic jobs exist.
SCHEDULE_EVERY = 60.0
# Pauses after the database itself failed (down, restarting, locked), so a worker does not spin:
# doubling from the first to the longest while the failures go on.
FIRST_ERROR_PAUSE = 0.5
ERROR_PAUSE = 5.0


def error_pause(failures: int) -> float:
    """Seconds to wait after `failures` failed tries in a row to reach the database."""
    return min(ERROR_PAUSE, FIRST_ERROR_PAUSE * 2 ** min(failures - 1, 10))


def default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"[:100]


class Worker:
    """Runs due jobs from the job table, one at a time.

    `lease` is how long a claim lasts before another worker may take the job over if this one
    died. On PostgreSQL the running job's row lock keeps other workers off it for as long as the
    handler runs, so the lease only bounds how soon a dead worker's job is retried; on SQLite it
    must exceed the longest job.

    A job parked by this worker is told to the DPO's mailbox (DPO_EMAIL, when set; `on_park`
    replaces that).
    """

    def __init__(
        self,
        engine: Engine,
        worker_id: str | None = None,
        handlers: Mapping[str, Handler] | None = None,
        *,
        now: Callable[[], datetime] = utcnow,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        lease: timedelta = DEFAULT_LEASE,
        schedule: Iterable[Periodic] | None = None,
        backoff: Callable[[int], timedelta] = jobs.default_backoff,
        on_park: OnPark | None = None,
    ) -> None:
        self.engine = engine
        self.worker_id = worker_id or default_worker_id()
        self.handlers = jobs.HANDLERS if handlers is None else handlers
        self.now = now
        self.poll_interval = poll_interval
        self.lease = lease
        self.schedule = list(jobs.SCHEDULE if schedule is None else schedule)
        self.backoff = backoff
        self.on_park = on_park or _tell_dpo(dpo_email_from(os.environ) or None)
        self._next_schedule = 0.0
        # Runs that failed (retried later or parked) since the worker started.
        self.failed = 0
        # Failed runs the database was not there to record: (job, error, permanent).
        self._unrecorded: list[tuple[Job, str, bool]] = []

    def run_once(self) -> bool:
        """Claim one due job and run it; False when none was due.

        Raises the database's error when it cannot be reached (`run` waits and tries again).
        """
        self._record_unrecorded()
        job = jobs.claim(self.engine, self.worker_id, self.now(), self.lease, self.on_park)
        if job is None:
            return False
        started = time.perf_counter()
        outcome = self._run(job)
        logger.info(
            "job kind=%s id=%s attempt=%s outcome=%s duration=%.1fms",
            job.kind,
            job.id,
            job.attempts,
            outcome,
            (time.perf_counter() - started) * 1000,
        )
        return True

    def run(self, stop: threading.Event, *, burst: bool = False) -> None:
        """Run jobs until `stop` is set (the job in hand is finished first).

        With `burst`, return as soon as no job is due.
        """
        logger.info("worker started id=%s", self.worker_id)
        failures = 0
        while not stop.is_set():
            try:
                self.schedule_periodic()
                ran = self.run_once()
            except Exception as exc:
                # The database, not a handler (those are caught in _run): wait and try again.
                # One line per outage, not one per try: the class only (the message may name
                # the host).
                failures += 1
                if failures == 1:
                    name = jobs.describe_error(exc).split(":")[0]
                    logger.warning("worker cannot reach the database error=%s; retrying", name)
                stop.wait(error_pause(failures))
                continue
            if failures:
                logger.info("worker reached the database again after %d tries", failures + 1)
                failures = 0
            if not ran:
                if burst:
                    break
                stop.wait(self.poll_interval)
        logger.info("worker stopped id=%s", self.worker_id)

    def schedule_periodic(self, *, force: bool = False) -> None:
        """Make sure this period's periodic jobs exist (checked at most every SCHEDULE_EVERY s)."""
        if not self.schedule or (not force and time.monotonic() < self._next_schedule):
            return
        jobs.enqueue_periodic(self.engine, self.schedule, self.now())
        self._next_schedule = time.monotonic() + SCHEDULE_EVERY

    def _run(self, job: Job) -> str:
        handler = self.handlers.get(job.kind)
        if handler is None:
            error = f"UnknownJobKind: no handler for {job.kind!r}"
            jobs.park(self.engine, job, self.now(), error, self.on_park)
            return "parked"
        context = JobContext(
            job_id=job.id or 0,
            kind=job.kind,
            attempt=job.attempts,
            max_attempts=job.max_attempts,
            worker_id=self.worker_id,
            now=job.started_at or self.now(),
        )
        try:
            with Session(self.engine, expire_on_commit=False) as db:
                if not jobs.hold(db, job):
                    return "lost"
                handler(db, dict(job.payload), context)
                db.flush()
                if not jobs.complete(db, job, self.now()):
                    db.rollback()
                    return "lost"
                db.commit()
                return "done"
        except Exception as exc:
            # The session's context has rolled the handler's writes back.
            error, permanent = jobs.describe_error(exc), isinstance(exc, jobs.Unretryable)
            try:
                status = self._record_failure(job, error, permanent)
            except Exception:
                # The database went away under the job (its transaction went with it): record
                # the failure once it is back, rather than leave the job to its lease.
                self._unrecorded.append((job, error, permanent))
                raise
            return _outcome(status, type(exc).__name__)

    def _record_failure(self, job: Job, error: str, permanent: bool) -> jobs.JobStatus | None:
        status = jobs.fail(
            self.engine,
            job,
            self.now(),
            error,
            self.backoff,
            permanent=permanent,
            on_park=self.on_park,
        )
        if status is not None:
            self.failed += 1
        return status

    def _record_unrecorded(self) -> None:
        """Record the failed runs the database missed, oldest first (raises while it is down)."""
        while self._unrecorded:
            job, error, permanent = self._unrecorded[0]
            status = self._record_failure(job, error, permanent)
            self._unrecorded.pop(0)
            logger.info(
                "job kind=%s id=%s attempt=%s outcome=%s (recorded late)",
                job.kind,
                job.id,
                job.attempts,
                _outcome(status, error.split(":")[0]),
            )


def _outcome(status: jobs.JobStatus | None, error: str) -> str:
    if status is None:
        return "lost"
    outcome = "parked" if status == jobs.JobStatus.parked else "retry"
    return f"{outcome} error={error}"


def _tell_dpo(mailbox: str | None) -> OnPark:
    def on_park(db: Session, job: Job, now: datetime) -> None:
        tell_dpo_parked(db, job, now, mailbox=mailbox)

    return on_park


@dataclass
class WorkerThread:
    """A worker running in a thread of this process (development); `stop()` ends it."""

    worker: Worker
    thread: threading.Thread
    stop_event: threading.Event

    def stop(self, timeout: float | None = 30) -> None:
        self.stop_event.set()
        self.thread.join(timeout)


def start_in_thread(engine: Engine, **worker_kwargs: object) -> WorkerThread:
    """Start a worker in a daemon thread, e.g. from the app's lifespan in development.

    Without `handlers`, the portal's handler modules are imported and their handlers used.
    """
    if "handlers" not in worker_kwargs:
        jobs.load_handler_modules()
    worker = Worker(engine, **worker_kwargs)  # type: ignore[arg-type]
    stop = threading.Event()
    thread = threading.Thread(
        target=worker.run, args=(stop,), name=f"worker-{worker.worker_id}", daemon=True
    )
    thread.start()
    return WorkerThread(worker, thread, stop)


def stop_on_signals(stop: threading.Event) -> None:
    """SIGTERM/SIGINT: finish the job in hand, then stop. A second one stops at once."""

    def handle(signum: int, _frame: FrameType | None) -> None:
        if stop.is_set():
            raise SystemExit(128 + signum)
        logger.info("worker stopping after the current job (signal %s)", signum)
        stop.set()

    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGINT, handle)


def main(
    database_url: str,
    *,
    once: bool = False,
    burst: bool = False,
    worker_id: str | None = None,
    handler_modules: Iterable[str] = (),
    lease: timedelta = DEFAULT_LEASE,
    poll_interval: float = DEFAULT_POLL_INTERVAL,
    now: Callable[[], datetime] = utcnow,
) -> int:
    """`portal worker`: the portal's handlers plus those in `handler_modules`. The exit code:
    1 when a job failed in a `once` or `burst` run (0 otherwise, and always for a worker that
    runs until stopped: its failures are on the DPO's pages)."""
    from portal.db import make_engine

    jobs.load_handler_modules(handler_modules)
    engine = make_engine(database_url)
    try:
        worker = Worker(engine, worker_id, lease=lease, poll_interval=poll_interval, now=now)
        if once:
            worker.schedule_periodic(force=True)
            worker.run_once()
        else:
            stop = threading.Event()
            stop_on_signals(stop)
            worker.run(stop, burst=burst)
        return 1 if (once or burst) and worker.failed else 0
    finally:
        engine.dispose()
