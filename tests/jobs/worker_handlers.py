"""Job handlers for the worker tests, importable by worker subprocesses.

`portal worker --handlers tests.jobs.worker_handlers` registers them. They write to `job_effect`, a
table outside the portal's metadata (so the migration test never sees it) that the tests create
and drop around themselves.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from sqlalchemy import Column, Integer, MetaData, String, Table, insert
from sqlmodel import Session

from portal.jobs.queue import JobContext, handler

metadata = MetaData()

# One row per job id: the primary key makes a second run of a job fail loudly.
job_effect = Table(
    "job_effect",
    metadata,
    Column("job_id", Integer, primary_key=True),
    Column("worker_id", String(100), nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("step", String(20), nullable=False),
)


def record(db: Session, ctx: JobContext, step: str = "done") -> None:
    db.execute(
        insert(job_effect).values(
            job_id=ctx.job_id, worker_id=ctx.worker_id, attempt=ctx.attempt, step=step
        )
    )


@handler("test.record")
def record_job(db: Session, payload: dict[str, Any], ctx: JobContext) -> None:
    # A little work, so that two workers both get a share of a batch.
    time.sleep(payload.get("sleep", 0))
    record(db, ctx)


@handler("test.block")
def block_until_released(db: Session, payload: dict[str, Any], ctx: JobContext) -> None:
    """Writes a partial result, then waits for the release file: a job to kill mid-way."""
    partial = ctx.job_id + 1_000_000
    db.execute(
        insert(job_effect).values(
            job_id=partial, worker_id=ctx.worker_id, attempt=ctx.attempt, step="partial"
        )
    )
    db.flush()
    Path(payload["started"]).write_text(str(ctx.attempt))
    release = Path(payload["release"])
    while not release.exists():
        time.sleep(0.05)
    db.execute(job_effect.delete().where(job_effect.c.job_id == partial))
    record(db, ctx)


@handler("test.fail_always")
def fail_job(db: Session, payload: dict[str, Any], ctx: JobContext) -> None:
    """Fails every time: a burst that runs it exits 1."""
    raise RuntimeError("this job always fails")
