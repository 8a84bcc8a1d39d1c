"""Work that stopped for good, and running it again (issue #18, "Failures are visible").

A job doing a request's work (an erasure, a deferred erasure, an export) that is parked marks
its request "needs attention" (`requests.needs_attention`, called by the kind's `on_park` hook):
the DPO's queue flags it, and the case page gives the reason (the job's error: no personal data)
and a button to run it again. Nothing else changes: the request keeps its status and deadline.

`run_again` is that button, and the stopped-jobs page's: the job is queued with a fresh set of
attempts, the mark cleared, and both audit-logged. An erasure whose data map changed since its
plan was made (the usual fix: `portal datamap check` names the problem and the fix), or whose
person's case holds changed (a hold the DPO set on a record to keep it with the record it points
at), does not run the old plan again: its rows in the sources not yet done are planned again
under the current map and holds (`erasure_service.replan_rest`), approved by the DPO who asked,
and that version runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from portal.audit import AuditActor, record
from portal.datamap import DataMap
from portal.i18n import gettext as _
from portal.jobs import queue as jobs
from portal.workflows import erasure_service
from portal.workflows.records import PlanStatus, StoredPlan
from portal.workflows.requests import DataRequest, TransitionRefused

EXECUTE = "erasure.execute"
DEFERRED = "erasure.deferred"


class RunAgainRefused(TransitionRefused):
    """There is nothing to run again; the message says why. Nothing changed."""


def run_again(
    db: Session,
    job_id: int,
    *,
    staff_id: int | None,
    now: datetime,
    datamap: DataMap,
    sources: Mapping[str, Engine],
) -> list[DataRequest]:
    """Run a parked job again (see the module docstring); returns the requests it clears."""
    job = db.get(jobs.Job, job_id, with_for_update=True)
    if job is None or job.status != jobs.JobStatus.parked:
        raise RunAgainRefused(_("This work has not stopped, so there is nothing to run again."))
    details: dict[str, Any] = {"job_id": job_id, "kind": job.kind}
    stored = db.get(StoredPlan, int(job.payload.get("plan_id", 0))) if job.kind == EXECUTE else None
    if (
        stored is not None
        and stored.status == PlanStatus.approved
        and not erasure_service.plan_is_current(db, stored, datamap, now.date())
    ):
        newer = erasure_service.replan_rest(
            db, stored, datamap=datamap, sources=sources, staff_id=staff_id, now=now
        )
        jobs.settle_parked(db, job_id, now)
        details |= {"plan_id": stored.id, "new_plan_id": newer.id}
    else:
        jobs.retry_parked(db, job_id, now)
    # A plan's deferred erasures run one per table and day: those that stopped beside this one
    # (for the same cause, as a rule) run again with it.
    siblings = _stopped_deferred(db, job) if job.kind == DEFERRED else []
    for sibling in siblings:
        jobs.retry_parked(db, sibling, now)
    if siblings:
        details["also"] = siblings
    cleared = list(db.exec(select(DataRequest).where(DataRequest.attention_job_id == job_id)))
    for request in cleared:
        request.attention = None
        request.attention_at = None
        request.attention_job_id = None
        db.add(request)
    record(
        db,
        actor=AuditActor.staff if staff_id is not None else AuditActor.system,
        actor_id=staff_id,
        action="job.run_again",
        subject_id=cleared[0].subject_id if cleared else None,
        details={**details, "requests": [request.id for request in cleared]},
        now=now,
    )
    db.flush()
    return cleared


def _stopped_deferred(db: Session, job: jobs.Job) -> list[int]:
    """The other parked deferred erasures of the job's plan (parked jobs are few: read them)."""
    plan_id = job.payload.get("plan_id")
    return [
        other.id or 0
        for other in jobs.parked_jobs(db)
        if other.kind == DEFERRED and other.id != job.id and other.payload.get("plan_id") == plan_id
    ]


def run_request_again(
    db: Session,
    request: DataRequest,
    *,
    staff_id: int,
    now: datetime,
    datamap: DataMap,
    sources: Mapping[str, Engine],
) -> None:
    """The case page's button: run again the job that stopped the request's work."""
    if request.attention_job_id is None:
        raise RunAgainRefused(_("This request does not need attention."))
    run_again(
        db,
        request.attention_job_id,
        staff_id=staff_id,
        now=now,
        datamap=datamap,
        sources=sources,
    )
