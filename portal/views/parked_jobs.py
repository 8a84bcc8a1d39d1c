"""/dpo/jobs: work the worker gave up on (parked jobs), and queueing one again."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.engine import Engine

from portal import i18n
from portal.datamap import DataMap
from portal.db import session_scope
from portal.i18n import gettext as _
from portal.jobs import queue as jobs
from portal.views.common import Done, moment
from portal.workflows import attention


@dataclass(frozen=True)
class ParkedJob:
    id: int
    kind: str
    attempts: int
    last_error: str  # the exception's class and first line: no personal data (portal.jobs.queue)
    parked_at: str


def load_parked_jobs(engine: Engine, tz: str) -> tuple[ParkedJob, ...]:
    """Parked jobs, newest first, for the DPO to look into; when, in the controller's zone."""
    language = i18n.current_language()
    with session_scope(engine) as db:
        return tuple(
            ParkedJob(
                id=job.id or 0,
                kind=job.kind,
                attempts=job.attempts,
                last_error=job.last_error or "",
                parked_at=moment(job.finished_at, language, tz) if job.finished_at else "",
            )
            for job in jobs.parked_jobs(db)
        )


def retry_job(
    engine: Engine,
    job_id: int,
    *,
    staff_id: int,
    now: datetime,
    datamap: DataMap,
    sources: Mapping[str, Engine],
) -> Done | None:
    """Run a parked job again, as the case page's button does (workflows/attention.py): a
    request it stopped no longer needs attention; audit-logged. None: no such parked job."""
    try:
        with session_scope(engine) as db:
            attention.run_again(
                db, job_id, staff_id=staff_id, now=now, datamap=datamap, sources=sources
            )
    except attention.RunAgainRefused:
        return None
    return Done("/dpo/jobs", _("The job is queued again."))
