"""Job handlers for benchmarks/faults.py, loaded by its workers with `portal worker --handlers
benchmarks.fault_hooks`; nothing in the portal imports this module.

- `faults.record`: writes one row to `faults_effect` (a table the script makes) in the job's
  transaction, after an optional pause: a job that can be counted, to see that each one ran to
  completion exactly once across a database restart.
- FAULTS_PAUSE_KINDS=kind,kind and FAULTS_PAUSE_DIR=dir: the handlers of those kinds are
  wrapped so that, the first time a job of the kind runs (anywhere: the mark is a file), the real
  handler does all its work, outside effects included (rows erased in the company's database,
  files written, the message handed to SMTP), and then the worker writes the mark and sleeps
  before its transaction commits: the script kills it there with SIGKILL, the worst moment.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from sqlalchemy import Column, Integer, MetaData, String, Table, insert
from sqlmodel import Session

from portal.jobs import queue as jobs
from portal.jobs.queue import Handler, JobContext, handler

metadata = MetaData()
faults_effect = Table(
    "faults_effect",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("job_id", Integer, nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("worker_id", String(100), nullable=False),
)
PAUSE_SECONDS = 600.0


@handler("faults.record")
def record(db: Session, payload: dict[str, Any], ctx: JobContext) -> None:
    time.sleep(float(payload.get("sleep", 0)))
    db.execute(
        insert(faults_effect).values(
            job_id=ctx.job_id, attempt=ctx.attempt, worker_id=ctx.worker_id
        )
    )


def paused(kind: str, real: Handler, directory: Path) -> Handler:
    def run(db: Session, payload: dict[str, Any], ctx: JobContext) -> None:
        real(db, payload, ctx)
        db.flush()  # the job's own writes are sent, not yet committed
        mark = directory / f"{kind}.paused"
        if mark.exists():
            return
        mark.write_text(f"{os.getpid()} {ctx.job_id} {ctx.attempt}\n")
        time.sleep(PAUSE_SECONDS)

    return run


def _install() -> None:
    directory = os.environ.get("FAULTS_PAUSE_DIR")
    kinds = [k for k in os.environ.get("FAULTS_PAUSE_KINDS", "").split(",") if k]
    if not directory or not kinds:
        return
    jobs.load_handler_modules()
    for kind in kinds:
        jobs.HANDLERS[kind] = paused(kind, jobs.HANDLERS[kind], Path(directory))


_install()
