"""`portal worker` as real processes: many at once, stopped gently, and killed mid-job."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlmodel import Session

from portal.db import session_scope, utcnow
from portal.jobs.queue import SCHEDULE, Job, JobStatus, enqueue, load_handler_modules
from portal.jobs.worker import start_in_thread
from tests.conftest import TEST_SECRET
from tests.jobs.worker_handlers import job_effect, metadata, record_job

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def effects(engine: Engine) -> Iterator[None]:
    metadata.create_all(engine)
    yield
    metadata.drop_all(engine)


class WorkerProcess:
    """`python -m portal.cli worker` with the test handlers, logging to a file."""

    def __init__(self, database_url: str, log: Path, *args: str) -> None:
        env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "SECRET_KEY": TEST_SECRET,
            "PORTAL_VAR_DIR": str(log.parent),
        }
        command = [sys.executable, "-m", "portal.cli", "worker"]
        command += ["--handlers", "tests.jobs.worker_handlers", "--poll", "0.05", *args]
        self.log = log
        with log.open("w") as out:
            self.process = subprocess.Popen(
                command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
            )

    def output(self) -> str:
        return self.log.read_text()

    def wait_started(self) -> None:
        wait_for(lambda: "worker started" in self.output() or self.process.poll() is not None)
        assert self.process.poll() is None, self.output()

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=30)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=30)


@pytest.fixture
def spawn(database_url: str, tmp_path: Path) -> Iterator[Callable[..., WorkerProcess]]:
    started: list[WorkerProcess] = []

    def spawn(*args: str) -> WorkerProcess:
        worker = WorkerProcess(database_url, tmp_path / f"worker{len(started)}.log", *args)
        started.append(worker)
        return worker

    yield spawn
    for worker in started:
        worker.kill()


def wait_for(condition: Callable[[], bool], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.05)


def count_jobs(engine: Engine, status: JobStatus, *, periodic: bool = False) -> int:
    """Jobs in this status; unless ``periodic``, not counting the portal's periodic jobs, which
    every worker schedules when it starts."""
    load_handler_modules()
    statement = select(func.count()).select_from(Job).where(Job.status == status)
    if not periodic:
        statement = statement.where(Job.kind.not_in({item.kind for item in SCHEDULE}))
    with Session(engine) as db:
        return db.execute(statement).scalar_one()


def job_outcomes(log: str) -> list[str]:
    """The outcome of every run of a test job in a worker's log."""
    return re.findall(r"kind=test\.\S+ id=\d+ attempt=\d+ outcome=(\w+)", log)


def effect_rows(engine: Engine) -> list[tuple]:
    with engine.connect() as connection:
        return [tuple(row) for row in connection.execute(select(job_effect))]


@pytest.mark.real_clock
def test_two_workers_run_each_of_200_jobs_exactly_once(
    engine: Engine, effects: None, spawn: Callable[..., WorkerProcess]
) -> None:
    # Meant for PostgreSQL; on SQLite it shows the claim cannot race either (the development
    # server's worker and a `portal worker` beside it).
    workers = [spawn("--id", "w-a"), spawn("--id", "w-b")]
    for worker in workers:
        worker.wait_started()
    with session_scope(engine) as db:
        ids = [enqueue(db, "test.record", {"sleep": 0.01}, now=utcnow()) for _ in range(200)]

    wait_for(lambda: count_jobs(engine, JobStatus.done) == 200)
    assert [worker.stop() for worker in workers] == [0, 0]

    rows = effect_rows(engine)
    # job_effect's primary key is the job id: a second run could not have added a row.
    assert sorted(row[0] for row in rows) == sorted(ids)
    assert {row[2] for row in rows} == {1}
    assert {row[1] for row in rows} == {"w-a", "w-b"}
    logs = [worker.output() for worker in workers]
    # One log line per job, all done: no run was lost to the other worker or retried.
    outcomes = [outcome for log in logs for outcome in job_outcomes(log)]
    assert outcomes == ["done"] * 200
    with Session(engine) as db:
        attempts = db.execute(select(Job.attempts).distinct()).scalars().all()
    assert attempts == [1]


@pytest.mark.real_clock
def test_a_worker_killed_mid_job_leaves_nothing_and_a_restart_finishes(
    engine: Engine, effects: None, spawn: Callable[..., WorkerProcess], tmp_path: Path
) -> None:
    started, release = tmp_path / "started", tmp_path / "release"
    with session_scope(engine) as db:
        job_id = enqueue(
            db, "test.block", {"started": str(started), "release": str(release)}, now=utcnow()
        )
    assert job_id is not None

    first = spawn("--id", "w-killed", "--lease", "1")
    wait_for(started.exists)
    first.kill()  # SIGKILL, mid-transaction: its partial write must vanish
    assert first.process.returncode == -signal.SIGKILL
    assert effect_rows(engine) == []
    with Session(engine) as db:
        job = db.get(Job, job_id)
        assert job is not None
        assert (job.status, job.locked_by) == (JobStatus.running, "w-killed")

    release.touch()
    second = spawn("--id", "w-restarted")
    wait_for(lambda: count_jobs(engine, JobStatus.done) == 1)
    assert second.stop() == 0

    assert effect_rows(engine) == [(job_id, "w-restarted", 2, "done")]
    with Session(engine) as db:
        job = db.get(Job, job_id)
        assert job is not None
        assert (job.attempts, job.locked_by, job.last_error) == (2, None, None)


@pytest.mark.real_clock
def test_sigterm_finishes_the_job_in_hand_then_stops(
    engine: Engine, effects: None, spawn: Callable[..., WorkerProcess], tmp_path: Path
) -> None:
    started, release = tmp_path / "started", tmp_path / "release"
    with session_scope(engine) as db:
        job_id = enqueue(
            db, "test.block", {"started": str(started), "release": str(release)}, now=utcnow()
        )
        enqueue(db, "test.record", run_at=None, now=utcnow())

    worker = spawn("--id", "w-term")
    wait_for(started.exists)
    worker.process.send_signal(signal.SIGTERM)
    time.sleep(0.2)
    assert worker.process.poll() is None  # still in the job
    release.touch()
    assert worker.process.wait(timeout=30) == 0

    assert effect_rows(engine) == [(job_id, "w-term", 1, "done")]
    # The second job was left for the next worker.
    assert count_jobs(engine, JobStatus.queued) == 1
    assert "stopping after the current job" in worker.output()


@pytest.mark.real_clock
def test_burst_runs_due_jobs_then_exits(
    engine: Engine, effects: None, spawn: Callable[..., WorkerProcess]
) -> None:
    with session_scope(engine) as db:
        for _ in range(3):
            enqueue(db, "test.record", now=utcnow())
        enqueue(db, "no.such.kind", now=utcnow())
    worker = spawn("--burst")
    assert worker.process.wait(timeout=30) == 0
    assert count_jobs(engine, JobStatus.done) == 3
    assert count_jobs(engine, JobStatus.parked) == 1
    log = worker.output()
    assert log.count("kind=test.record") == 3
    assert "kind=no.such.kind" in log and "outcome=parked" in log


@pytest.mark.real_clock
def test_burst_exits_1_when_a_job_failed(
    engine: Engine, effects: None, spawn: Callable[..., WorkerProcess]
) -> None:
    """A script running `portal worker --burst` sees that work was left undone."""
    with session_scope(engine) as db:
        enqueue(db, "test.record", now=utcnow())
        enqueue(db, "test.fail_always", now=utcnow())
    worker = spawn("--burst")
    assert worker.process.wait(timeout=30) == 1
    assert count_jobs(engine, JobStatus.done) == 1
    assert "kind=test.fail_always" in worker.output() and "outcome=retry" in worker.output()


@pytest.mark.real_clock
def test_once_runs_a_single_job(
    engine: Engine, effects: None, spawn: Callable[..., WorkerProcess]
) -> None:
    with session_scope(engine) as db:
        for _ in range(2):
            enqueue(db, "test.record", now=utcnow())
    assert spawn("--once").process.wait(timeout=30) == 0
    assert count_jobs(engine, JobStatus.done, periodic=True) == 1


def test_a_worker_in_a_thread_runs_jobs_until_stopped(engine: Engine, effects: None) -> None:
    running = start_in_thread(engine, handlers={"test.record": record_job}, poll_interval=0.02)
    try:
        with session_scope(engine) as db:
            enqueue(db, "test.record", now=utcnow())
        wait_for(lambda: count_jobs(engine, JobStatus.done) == 1, timeout=10)
    finally:
        running.stop()
    assert not running.thread.is_alive()
