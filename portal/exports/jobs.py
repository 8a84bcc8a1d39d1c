"""The worker's export jobs: build a large export, delete an export's files when it expires, and
an hourly sweep that deletes any expired files a missed job left behind.

Registered by listing this module in portal.jobs.queue.HANDLER_MODULES. Payloads hold the export's
random id only.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session

from portal.exports import service
from portal.exports.models import Export
from portal.jobs.queue import Job, JobContext, handler
from portal.workflows.requests import needs_attention

CLEANUP_EVERY = timedelta(hours=1)


def _mark_request(db: Session, job: Job, error: str, now: datetime) -> None:
    """A parked build: the export's request needs the DPO's attention, with the job's error."""
    export = db.get(Export, str(job.payload.get("export_id", "")))
    if export is not None:
        needs_attention(db, export.request_id, reason=error, job_id=job.id, now=now)


@handler(service.BUILD_JOB, on_park=_mark_request)
def build_job(db: Session, payload: dict[str, Any], ctx: JobContext) -> None:
    last = ctx.attempt >= ctx.max_attempts
    service.build_in_job(db, str(payload["export_id"]), service.runtime(), ctx.now, last)


@handler(service.EXPIRE_JOB)
def expire_job(db: Session, payload: dict[str, Any], ctx: JobContext) -> None:
    export = db.get(Export, str(payload["export_id"]))
    if export is not None:
        service.expire(db, export, service.runtime().store, ctx.now)


@handler(service.CLEANUP_JOB, every=CLEANUP_EVERY)
def cleanup_job(db: Session, payload: dict[str, Any], ctx: JobContext) -> None:
    service.expire_due(db, service.runtime().store, ctx.now)
