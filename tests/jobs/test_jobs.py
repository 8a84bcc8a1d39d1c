"""The job table and one worker in this process: enqueue, run, retry, park, take over."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, insert, select
from sqlalchemy.engine import Engine
from sqlmodel import Session

from portal.db import session_scope
from portal.jobs import queue as jobs
from portal.jobs.queue import Job, JobContext, JobStatus, Periodic, enqueue
from portal.jobs.worker import Worker
from tests.jobs.worker_handlers import job_effect, metadata, record, record_job

T0 = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


class Clock:
    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def effects(engine: Engine) -> Iterator[None]:
    metadata.create_all(engine)
    yield
    metadata.drop_all(engine)


@pytest.fixture
def clock() -> Clock:
    return Clock()


def failing(db: Session, payload: dict[str, Any], ctx: JobContext) -> None:
    record(db, ctx)
    raise RuntimeError("boom")


def worker(engine: Engine, clock: Clock, **kwargs: Any) -> Worker:
    handlers = {"test.record": record_job, "test.fail": failing, **kwargs.pop("handlers", {})}
    return Worker(engine, "w1", handlers, now=clock, **kwargs)


def add_job(engine: Engine, kind: str, **kwargs: Any) -> int:
    with session_scope(engine) as db:
        job_id = enqueue(
            db, kind, kwargs.pop("payload", {}), now=T0, run_at=kwargs.pop("run_at", T0), **kwargs
        )
    assert job_id is not None
    return job_id


def get(engine: Engine, job_id: int) -> Job:
    with Session(engine) as db:
        job = db.get(Job, job_id)
        assert job is not None
        return job


def effect_rows(engine: Engine) -> list[tuple]:
    with engine.connect() as connection:
        return [tuple(row) for row in connection.execute(select(job_effect))]


def test_enqueued_job_runs_once_and_commits_with_its_work(
    engine: Engine, effects: None, clock: Clock
) -> None:
    job_id = add_job(engine, "test.record", payload={"request_id": 7})
    w = worker(engine, clock)

    assert w.run_once() is True
    assert w.run_once() is False

    job = get(engine, job_id)
    assert job.status == JobStatus.done
    assert job.attempts == 1
    assert job.finished_at == T0
    assert job.locked_by is None and job.locked_until is None
    assert effect_rows(engine) == [(job_id, "w1", 1, "done")]


def test_enqueue_belongs_to_the_callers_transaction(engine: Engine) -> None:
    with Session(engine) as db:
        assert enqueue(db, "test.record", now=T0) is not None
        db.rollback()
    with Session(engine) as db:
        assert db.execute(select(func.count()).select_from(Job)).scalar_one() == 0


def test_a_job_not_yet_due_waits(engine: Engine, effects: None, clock: Clock) -> None:
    add_job(engine, "test.record", run_at=T0 + timedelta(minutes=5))
    w = worker(engine, clock)
    assert w.run_once() is False
    clock.now = T0 + timedelta(minutes=5)
    assert w.run_once() is True


def test_the_same_dedupe_key_enqueues_one_job(engine: Engine, effects: None, clock: Clock) -> None:
    first = add_job(engine, "test.record", dedupe_key="erasure:42")
    with session_scope(engine) as db:
        assert enqueue(db, "test.record", dedupe_key="erasure:42", now=T0) is None
        # The caller's transaction is unharmed by the conflict (PostgreSQL would abort it).
        assert enqueue(db, "test.record", dedupe_key="erasure:43", now=T0) is not None
    worker(engine, clock).run_once()
    assert get(engine, first).status == JobStatus.done
    with session_scope(engine) as db:
        # Still taken after the job has run.
        assert enqueue(db, "test.record", dedupe_key="erasure:42", now=T0) is None
        assert db.execute(select(func.count()).select_from(Job)).scalar_one() == 2


def test_a_failing_handler_leaves_no_writes_and_is_retried_later(
    engine: Engine, effects: None, clock: Clock
) -> None:
    job_id = add_job(engine, "test.fail")
    assert worker(engine, clock).run_once() is True

    assert effect_rows(engine) == []
    job = get(engine, job_id)
    assert job.status == JobStatus.queued
    assert job.attempts == 1
    assert job.run_at > T0
    assert job.last_error == "RuntimeError: boom"
    assert job.locked_by is None
    # Not due again until its backoff has passed.
    assert worker(engine, clock).run_once() is False


def test_backoff_grows_and_the_job_is_parked_after_max_attempts(
    engine: Engine, effects: None, clock: Clock
) -> None:
    job_id = add_job(engine, "test.fail", max_attempts=5)
    w = worker(engine, clock)
    delays = []
    for attempt in range(1, 5):
        assert w.run_once() is True
        job = get(engine, job_id)
        assert (job.status, job.attempts) == (JobStatus.queued, attempt)
        delays.append(job.run_at - clock.now)
        clock.now = job.run_at
    assert delays == sorted(delays) and len(set(delays)) == 4

    assert w.run_once() is True
    job = get(engine, job_id)
    assert (job.status, job.attempts) == (JobStatus.parked, 5)
    assert job.finished_at == clock.now
    clock.now += timedelta(days=30)
    assert w.run_once() is False
    with Session(engine) as db:
        assert [parked.id for parked in jobs.parked_jobs(db)] == [job_id]


def test_default_backoff_doubles_within_jitter_and_is_capped() -> None:
    for attempts in range(1, 12):
        delay = jobs.default_backoff(attempts).total_seconds()
        nominal = min(30 * 2 ** (attempts - 1), 3600)
        assert 0.75 * nominal <= delay <= 1.25 * nominal
    assert jobs.default_backoff(1000) <= timedelta(hours=1.25)


def test_a_parked_job_can_be_retried(engine: Engine, effects: None, clock: Clock) -> None:
    job_id = add_job(engine, "test.flaky", max_attempts=1)
    calls = []

    def flaky(db: Session, payload: dict[str, Any], ctx: JobContext) -> None:
        calls.append(ctx.attempt)
        if len(calls) == 1:
            raise ConnectionError("the source was down")
        record(db, ctx)

    w = worker(engine, clock, handlers={"test.flaky": flaky})
    w.run_once()
    assert get(engine, job_id).status == JobStatus.parked

    with session_scope(engine) as db:
        jobs.retry_parked(db, job_id, now=clock.now)
    job = get(engine, job_id)
    assert (job.status, job.attempts, job.run_at) == (JobStatus.queued, 0, T0)
    assert w.run_once() is True
    assert get(engine, job_id).status == JobStatus.done
    assert calls == [1, 1]

    with session_scope(engine) as db, pytest.raises(LookupError):
        jobs.retry_parked(db, job_id, now=T0)


def test_a_job_without_a_handler_is_parked_with_a_clear_error(engine: Engine, clock: Clock) -> None:
    job_id = add_job(engine, "no.such.kind")
    assert worker(engine, clock).run_once() is True
    job = get(engine, job_id)
    assert job.status == JobStatus.parked
    assert job.last_error == "UnknownJobKind: no handler for 'no.such.kind'"


def test_database_errors_are_recorded_without_values(
    engine: Engine, effects: None, clock: Clock
) -> None:
    def duplicate(db: Session, payload: dict[str, Any], ctx: JobContext) -> None:
        for _ in range(2):
            db.execute(
                insert(job_effect).values(job_id=1, worker_id="01017012345", attempt=1, step="x")
            )

    job_id = add_job(engine, "test.duplicate")
    worker(engine, clock, handlers={"test.duplicate": duplicate}).run_once()
    error = get(engine, job_id).last_error
    assert error is not None and error.startswith(("IntegrityError", "UniqueViolation"))
    assert "01017012345" not in error
    assert "INSERT" not in error


def test_a_dead_workers_job_is_taken_over_after_its_lease(
    engine: Engine, effects: None, clock: Clock
) -> None:
    job_id = add_job(engine, "test.record")
    # Worker "dead" claims the job and is never heard from again.
    dead = jobs.claim(engine, "dead", T0, timedelta(minutes=1))
    assert dead is not None and dead.id == job_id

    w = worker(engine, clock)
    clock.now = T0 + timedelta(seconds=59)
    assert w.run_once() is False
    clock.now = T0 + timedelta(minutes=2)
    assert w.run_once() is True
    job = get(engine, job_id)
    assert (job.status, job.attempts) == (JobStatus.done, 2)
    assert effect_rows(engine) == [(job_id, "w1", 2, "done")]

    # Had the first worker been only slow, its work could no longer be committed.
    with Session(engine) as db:
        assert jobs.hold(db, dead) is False
        assert jobs.complete(db, dead, clock.now) is False


def test_a_job_that_kills_its_worker_on_the_last_attempt_is_parked(
    engine: Engine, clock: Clock
) -> None:
    job_id = add_job(engine, "test.record", max_attempts=1)
    assert jobs.claim(engine, "dead", T0, timedelta(minutes=1)) is not None
    assert jobs.claim(engine, "w1", T0 + timedelta(minutes=2), timedelta(minutes=1)) is None
    job = get(engine, job_id)
    assert job.status == JobStatus.parked
    assert job.last_error is not None and job.last_error.startswith("WorkerLost")


def test_periodic_jobs_are_enqueued_once_per_period(engine: Engine, clock: Clock) -> None:
    schedule = [Periodic("test.sweep", timedelta(days=1))]
    clock.now = T0 + timedelta(hours=3)
    first, second = (Worker(engine, name, {}, now=clock, schedule=schedule) for name in "ab")
    first.schedule_periodic(force=True)
    second.schedule_periodic(force=True)
    clock.now += timedelta(days=1)
    second.schedule_periodic(force=True)
    with Session(engine) as db:
        rows = db.execute(select(Job.dedupe_key, Job.run_at).order_by(Job.id)).all()
    assert rows == [
        ("test.sweep:2026-11-24T00:00Z", datetime(2026, 11, 24, tzinfo=UTC)),
        ("test.sweep:2026-11-25T00:00Z", datetime(2026, 11, 25, tzinfo=UTC)),
    ]


def test_handlers_register_by_kind() -> None:
    registry: dict[str, jobs.Handler] = {}
    jobs.handler("test.x", registry=registry)(record_job)
    assert registry == {"test.x": record_job}
    with pytest.raises(ValueError, match="already registered"):
        jobs.handler("test.x", registry=registry)(failing)


def test_postgres_claim_skips_rows_other_workers_hold(
    engine: Engine, effects: None, clock: Clock, db_kind: str
) -> None:
    if db_kind != "postgres":
        pytest.skip("row locks and SKIP LOCKED are PostgreSQL's; SQLite runs one worker")
    first = add_job(engine, "test.record")
    second = add_job(engine, "test.record")
    # A running job whose lease has passed but whose worker is alive, mid-handler, holding it.
    slow = jobs.claim(engine, "slow", T0, timedelta(seconds=1))
    assert slow is not None and slow.id == first
    with Session(engine) as db:
        assert jobs.hold(db, slow)
        clock.now = T0 + timedelta(minutes=10)
        taken = jobs.claim(engine, "w1", clock.now, timedelta(minutes=1))
        assert taken is not None and taken.id == second
        assert jobs.claim(engine, "w2", clock.now, timedelta(minutes=1)) is None
        assert jobs.complete(db, slow, clock.now)
        db.commit()
    assert get(engine, first).attempts == 1


def test_an_unretryable_error_parks_the_job_at_once_and_tells_its_kind(
    engine: Engine, effects: None, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    told: list[tuple[int | None, str, datetime]] = []

    def stuck(db: Session, payload: dict[str, Any], ctx: JobContext) -> None:
        record(db, ctx)
        raise jobs.Unretryable("table 'T': cannot be carried out")

    def on_park(db: Session, job: Job, error: str, now: datetime) -> None:
        told.append((job.id, error, now))
        record(db, JobContext(0, job.kind, 0, 0, "hook", now), step="told")

    monkeypatch.setitem(jobs.PARK_HOOKS, "test.stuck", on_park)
    job_id = add_job(engine, "test.stuck")
    w = worker(engine, clock, handlers={"test.stuck": stuck})
    assert w.run_once() is True

    job = get(engine, job_id)
    assert (job.status, job.attempts) == (JobStatus.parked, 1)
    assert job.last_error == "Unretryable: table 'T': cannot be carried out"
    assert told == [(job_id, job.last_error, T0)]
    # The hook wrote in the parking's transaction; the handler's writes were rolled back.
    assert effect_rows(engine) == [(0, "hook", 0, "told")]
    assert w.failed == 1


def test_a_failing_park_hook_still_parks_the_job(
    engine: Engine, effects: None, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(db: Session, job: Job, error: str, now: datetime) -> None:
        record(db, JobContext(0, job.kind, 0, 0, "hook", now), step="half")
        raise RuntimeError("the hook broke")

    monkeypatch.setitem(jobs.PARK_HOOKS, "test.fail", broken)
    job_id = add_job(engine, "test.fail", max_attempts=1)
    assert worker(engine, clock).run_once() is True
    assert get(engine, job_id).status == JobStatus.parked
    assert effect_rows(engine) == []  # the hook's savepoint rolled back, the parking stood


def test_the_worker_counts_failed_runs(engine: Engine, effects: None, clock: Clock) -> None:
    add_job(engine, "test.record")
    add_job(engine, "test.fail")
    w = worker(engine, clock)
    while w.run_once():
        pass
    assert w.failed == 1


def test_a_settled_parked_job_never_runs(engine: Engine, clock: Clock) -> None:
    job_id = add_job(engine, "no.such.kind")
    worker(engine, clock).run_once()
    with session_scope(engine) as db:
        jobs.settle_parked(db, job_id, T0 + timedelta(hours=1))
    job = get(engine, job_id)
    assert (job.status, job.finished_at) == (JobStatus.done, T0 + timedelta(hours=1))
    assert job.last_error is not None  # the record of what happened stays
    with session_scope(engine) as db, pytest.raises(LookupError):
        jobs.settle_parked(db, job_id, T0)
