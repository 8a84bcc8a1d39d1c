"""A worker outlives its database: it keeps trying, says so once, and loses or repeats no job.

The outage is an engine pointed at a port where nothing listens, swapped in and out of the
worker, so no test waits for a real restart or a wall clock."""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError
from sqlmodel import Session

from portal.db import make_engine
from portal.jobs.queue import JobContext, JobStatus
from portal.jobs.worker import ERROR_PAUSE, Worker, error_pause
from tests.jobs.test_jobs import Clock, add_job, effect_rows, get
from tests.jobs.worker_handlers import metadata, record, record_job

DriverError = psycopg.OperationalError


@pytest.fixture
def effects(engine: Engine) -> Iterator[None]:
    metadata.create_all(engine)
    yield
    metadata.drop_all(engine)


@pytest.fixture
def unreachable() -> Iterator[Engine]:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    engine = make_engine(f"postgresql+psycopg://postgres@127.0.0.1:{port}/innsyn")
    yield engine
    engine.dispose()


def test_a_worker_without_its_database_raises_then_runs_the_job_once_it_is_back(
    engine: Engine, unreachable: Engine, effects: None
) -> None:
    job_id = add_job(engine, "test.record")
    worker = Worker(unreachable, "w1", {"test.record": record_job}, now=Clock())
    with pytest.raises(OperationalError):
        worker.run_once()
    worker.engine = engine  # the database is back
    assert worker.run_once() is True
    assert worker.run_once() is False
    assert get(engine, job_id).status == JobStatus.done
    assert get(engine, job_id).attempts == 1
    assert effect_rows(engine) == [(job_id, "w1", 1, "done")]


def test_a_job_whose_database_went_away_mid_run_is_retried_once_it_is_back(
    engine: Engine, unreachable: Engine, effects: None
) -> None:
    """The handler's writes go with the dead connection; the failure cannot be recorded then,
    so the worker records it when the database answers again: the job is queued for a retry
    (not left running until its lease runs out), and the retry's work is the only work."""
    clock = Clock()
    job_id = add_job(engine, "test.outage")
    runs: list[int] = []

    def dies_on_first_run(db: Session, payload: dict[str, Any], ctx: JobContext) -> None:
        runs.append(ctx.attempt)
        record(db, ctx)
        if ctx.attempt == 1:
            worker.engine = unreachable  # the database goes away under the handler
            raise OperationalError("COMMIT", {}, DriverError("server closed the connection"))

    worker = Worker(engine, "w1", {"test.outage": dies_on_first_run}, now=clock)
    with pytest.raises(OperationalError):
        worker.run_once()
    with pytest.raises(OperationalError):
        worker.run_once()  # still down: nothing recorded yet, nothing lost either
    assert get(engine, job_id).status == JobStatus.running

    worker.engine = engine
    assert worker.run_once() is False  # the failure is recorded; the retry is not due yet
    job = get(engine, job_id)
    assert job.status == JobStatus.queued and job.locked_by is None
    assert job.last_error == "OperationalError: server closed the connection"
    assert effect_rows(engine) == []  # the first run's writes were rolled back

    clock.now = job.run_at
    assert worker.run_once() is True
    assert get(engine, job_id).status == JobStatus.done
    assert runs == [1, 2]
    assert effect_rows(engine) == [(job_id, "w1", 2, "done")]
    assert worker.failed == 1


class CountingStop(threading.Event):
    """A stop event whose waits return at once and are counted; set after `waits` of them."""

    def __init__(self, waits: int) -> None:
        super().__init__()
        self.waits, self.pauses = waits, []

    def wait(self, timeout: float | None = None) -> bool:
        self.pauses.append(timeout)
        if len(self.pauses) >= self.waits:
            self.set()
        return self.is_set()


def test_the_run_loop_rides_out_an_outage_and_says_so_once(
    engine: Engine, unreachable: Engine, effects: None, caplog: pytest.LogCaptureFixture
) -> None:
    job_id = add_job(engine, "test.record")
    worker = Worker(unreachable, "w1", {"test.record": record_job}, now=Clock(), schedule=[])
    stop = CountingStop(waits=5)
    tries = 0
    run_once = worker.run_once

    def comes_back_on_the_fifth_try() -> bool:
        nonlocal tries
        tries += 1
        if tries == 5:
            worker.engine = engine
        return run_once()

    worker.run_once = comes_back_on_the_fifth_try  # type: ignore[method-assign]
    with caplog.at_level(logging.INFO, logger="portal.jobs.worker"):
        worker.run(stop)

    assert get(engine, job_id).status == JobStatus.done
    assert stop.pauses[:4] == [error_pause(n) for n in range(1, 5)]
    assert stop.pauses[:4] == sorted(stop.pauses[:4]) and max(stop.pauses) <= ERROR_PAUSE
    messages = [r.getMessage() for r in caplog.records if r.name == "portal.jobs.worker"]
    assert sum("cannot reach the database" in m for m in messages) == 1
    assert "worker reached the database again after 5 tries" in messages
    assert not any("127.0.0.1" in m for m in messages)


def test_the_pause_doubles_up_to_its_cap() -> None:
    pauses = [error_pause(n) for n in range(1, 12)]
    assert pauses[0] < pauses[1] < pauses[2]
    assert pauses[-1] == ERROR_PAUSE
