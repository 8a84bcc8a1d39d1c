"""The erasure workflow as other code calls it: plan a request, approve a plan, set and release
the DPO's case holds (DESIGN §5). Execution itself is in `erasure_run`.

Every function works in the caller's transaction and does not commit; jobs and audit entries are
written in that same transaction, so they exist exactly when the change does.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from portal.audit import AuditActor, record
from portal.datamap import DataMap, collect
from portal.datamap.identity import DEFAULT_CHUNK
from portal.datamap.retention import CaseHold, SweepReader
from portal.i18n import gettext as _
from portal.identity.identifiers import proven_identifiers
from portal.jobs.queue import enqueue
from portal.models import StaffMember, Subject
from portal.workflows.erasure import ErasurePlan, Phase, Step, plan_erasure, plan_row, with_steps
from portal.workflows.erasure_run import schedule_deferred
from portal.workflows.records import (
    CaseHoldKind,
    CaseHoldRecord,
    PlanSourceDone,
    PlanStatus,
    StoredPlan,
    case_holds_for,
)
from portal.workflows.requests import (
    OPEN,
    Actor,
    DataRequest,
    RequestStatus,
    RequestType,
    TransitionRefused,
    apply,
)
from portal.workflows.restriction import tell_before_lifting

SCOPES = ("person", "record")
# A hold's reason, and the reason it is released with, are at most this long.
MAX_HOLD_REASON = 2000


class PlanRefused(TransitionRefused):
    """The plan cannot be made or approved now; the message says why in plain words."""


class CaseHoldRefused(ValueError):
    """The case hold was refused; the message says why. Nothing changed."""


# --- plans ------------------------------------------------------------------------------------


def latest_plan(db: Session, request_id: int) -> StoredPlan | None:
    statement = (
        select(StoredPlan)
        .where(StoredPlan.request_id == request_id)
        .order_by(col(StoredPlan.version).desc())
        .limit(1)
    )
    return db.exec(statement).first()


def plan_phase(plan_status: PlanStatus, request_status: RequestStatus) -> Phase:
    """Whether a stored plan is still to be carried out, was carried out, or never will be: a
    superseded version never is, nor a plan whose request closed without it (cancelled,
    rejected). Every page, letter and message describes the plan in this phase's tense."""
    if plan_status == PlanStatus.executed:
        return Phase.carried_out
    if plan_status == PlanStatus.superseded:
        return Phase.never
    if plan_status == PlanStatus.approved or RequestStatus(request_status) in OPEN:
        return Phase.planned
    return Phase.never


def plan_request(
    db: Session,
    request_id: int,
    *,
    datamap: DataMap,
    sources: Mapping[str, Engine],
    now: datetime,
    actor: Actor = Actor.system,
    actor_id: int | None = None,
    auto_approve: bool = False,
) -> StoredPlan:
    """Plan the erasure of everything found for the request's person, as a new version."""
    request = _erasure_request(db, request_id)
    if request.status not in (RequestStatus.verified, RequestStatus.awaiting_approval):
        raise PlanRefused(_("This request cannot be planned now."))
    subject = db.get(Subject, request.subject_id)
    if subject is None:
        raise PlanRefused(_("There is no such person."))
    collection = collect(
        datamap, sources, subject.national_id, proven=proven_identifiers(db, subject.id or 0)
    )
    plan = plan_erasure(datamap, collection, now.date(), case_holds_for(db, subject.id or 0))
    stored = _store(db, request, plan)
    if request.status == RequestStatus.verified:
        apply(
            db,
            request,
            "submit_plan",
            actor=actor,
            actor_id=actor_id,
            now=now,
            data={"plan_id": stored.id, "version": stored.version},
        )
    _audit_plan(db, "erasure.plan", stored, request, plan, actor_id, now)
    if auto_approve and not plan.holds_anything:
        return approve_plan(db, stored.id or 0, staff_id=None, now=now)
    return stored


def _erasure_request(db: Session, request_id: int) -> DataRequest:
    request = db.get(DataRequest, request_id, with_for_update=True)
    if request is None or request.type != RequestType.erasure:
        raise PlanRefused(_("There is no such erasure request."))
    return request


def _store(db: Session, request: DataRequest, plan: ErasurePlan) -> StoredPlan:
    previous = db.exec(
        select(func.max(StoredPlan.version)).where(StoredPlan.request_id == request.id)
    ).one()
    for older in db.exec(
        select(StoredPlan).where(
            StoredPlan.request_id == request.id, StoredPlan.status == PlanStatus.proposed
        )
    ):
        older.status = PlanStatus.superseded
        db.add(older)
    stored = StoredPlan(
        request_id=request.id or 0,
        version=(previous or 0) + 1,
        status=PlanStatus.proposed,
        datamap_version=plan.datamap_version,
        plan=plan.to_dict(),
    )
    db.add(stored)
    db.flush()
    return stored


def approve_plan(db: Session, plan_id: int, *, staff_id: int | None, now: datetime) -> StoredPlan:
    """Approve the latest proposed version and queue its execution. ``staff_id`` None is the
    system's automatic approval, allowed only for a plan that keeps nothing."""
    stored = db.get(StoredPlan, plan_id, with_for_update=True)
    if stored is None:
        raise PlanRefused(_("There is no such plan."))
    latest = latest_plan(db, stored.request_id)
    if stored.status != PlanStatus.proposed or latest is None or latest.id != stored.id:
        raise PlanRefused(_("Only the latest proposed version of a plan can be approved."))
    plan = ErasurePlan.from_dict(stored.plan)
    if staff_id is None and plan.holds_anything:
        raise PlanRefused(_("A plan that keeps data must be approved by the DPO."))
    request = _erasure_request(db, stored.request_id)
    data = {"plan_id": stored.id, "version": stored.version}
    if staff_id is None:
        apply(db, request, "start", actor=Actor.system, now=now, data=data)
    else:
        apply(db, request, "approve", actor=Actor.dpo, actor_id=staff_id, now=now, data=data)
    stored.status = PlanStatus.approved
    stored.approved_at = now
    stored.approved_by = staff_id
    db.add(stored)
    db.flush()
    enqueue(
        db,
        "erasure.execute",
        {"plan_id": stored.id},
        now=now,
        dedupe_key=f"erasure.execute:{plan_id}",
    )
    _audit_plan(db, "erasure.approve", stored, request, plan, staff_id, now)
    return stored


def plan_is_current(db: Session, stored: StoredPlan, datamap: DataMap, today: date) -> bool:
    """Whether a stored plan was made under this data map and the DPO's case holds active now:
    if not, running it again plans its rest anew (``replan_rest``)."""
    if stored.datamap_version != datamap.version:
        return False
    request = db.get(DataRequest, stored.request_id)
    holds = case_holds_for(db, request.subject_id) if request and request.subject_id else []
    active = {hold.key for hold in holds if hold.active_on(today)}
    return active == set(ErasurePlan.from_dict(stored.plan).case_holds)


def replan_rest(
    db: Session,
    stored: StoredPlan,
    *,
    datamap: DataMap,
    sources: Mapping[str, Engine],
    staff_id: int | None,
    now: datetime,
) -> StoredPlan:
    """An approved plan whose execution stopped, made again in part under the current data map
    (the DPO fixed it and runs the erasure again): the steps of the sources already done stay
    as they were carried out; the plan's rows in the other sources are read again by key and
    judged afresh, as a deferred erasure judges kept rows. The new version is approved by the
    DPO who asked for it (``staff_id``), takes over the done sources and is queued; the old
    one is superseded. Audit-logged like any plan."""
    request = _erasure_request(db, stored.request_id)
    if stored.status != PlanStatus.approved:
        raise PlanRefused(_("Only an approved plan that has not been carried out can run again."))
    old = ErasurePlan.from_dict(stored.plan)
    done = list(db.exec(select(PlanSourceDone).where(PlanSourceDone.plan_id == stored.id)))
    done_sources = {row.source for row in done}
    steps: list[Step] = []
    pending: dict[str, list[Any]] = {}
    for step in old.steps:
        spec = datamap.tables.get(step.table)
        if spec is None:
            raise PlanRefused(
                _("The data map no longer has the table %(table)s of this plan.", table=step.table)
            )
        if spec.source in done_sources:
            steps.append(step)
        else:
            pending.setdefault(step.table, []).append(step.key)
    holds = case_holds_for(db, request.subject_id) if request.subject_id is not None else []
    reader = SweepReader(datamap, sources, DEFAULT_CHUNK)
    for table, keys in pending.items():
        rows = reader.load(table, datamap.tables[table].key, keys)
        context = reader.context(table, rows)
        steps.extend(plan_row(datamap, context, row, now.date(), holds) for row in rows)
    plan = with_steps(datamap, old, steps, now.date())
    latest = db.exec(
        select(func.max(StoredPlan.version)).where(StoredPlan.request_id == request.id)
    ).one()
    stored.status = PlanStatus.superseded
    db.add(stored)
    newer = StoredPlan(
        request_id=request.id or 0,
        version=(latest or 0) + 1,
        status=PlanStatus.approved,
        datamap_version=plan.datamap_version,
        plan=plan.to_dict(),
        created_at=now,
        approved_at=now,
        approved_by=staff_id,
    )
    db.add(newer)
    db.flush()
    for row in done:
        db.add(
            PlanSourceDone(plan_id=newer.id, source=row.source, done_at=row.done_at, rows=row.rows)
        )
    enqueue(
        db,
        "erasure.execute",
        {"plan_id": newer.id},
        now=now,
        dedupe_key=f"erasure.execute:{newer.id}",
    )
    released = _kept_for_released_holds(steps, done_sources, datamap, holds, now.date())
    if released:
        # The done sources' rows kept only for a hold released since: no later release will
        # come for them (the deferred job judges each again: the law may still keep some).
        schedule_deferred(
            db, newer.id or 0, {now.date(): released}, datamap, f"replan:{newer.id}", now=now
        )
    _audit_plan(db, "erasure.replan_rest", newer, request, plan, staff_id, now)
    return newer


def _kept_for_released_holds(
    steps: Sequence[Step],
    done: set[str],
    datamap: DataMap,
    holds: Sequence[CaseHold],
    today: date,
) -> list[Step]:
    """Steps of the done sources that kept a row for a case hold no longer active."""
    active = {f"case:{hold.key}" for hold in holds if hold.active_on(today)}
    return [
        step
        for step in steps
        if step.action == "retain"
        and datamap.tables[step.table].source in done
        and any(r.source == "case" and r.key not in active for r in step.reasons)
    ]


def _audit_plan(
    db: Session,
    action: str,
    stored: StoredPlan,
    request: DataRequest,
    plan: ErasurePlan,
    actor_id: int | None,
    now: datetime,
) -> None:
    counts = {a: sum(s.action == a for s in plan.steps) for a in ("erase", "anonymise", "retain")}
    record(
        db,
        actor=AuditActor.system if actor_id is None else AuditActor.staff,
        actor_id=actor_id,
        action=action,
        subject_id=request.subject_id,
        details={
            "request_id": request.id,
            "plan_id": stored.id,
            "version": stored.version,
            **counts,
        },
        now=now,
    )


# --- case holds -------------------------------------------------------------------------------


def set_case_hold(
    db: Session,
    *,
    subject_id: int,
    kind: str,
    reason: str,
    scope: str,
    table_name: str | None = None,
    row_key: Any = None,
    review_at: date | None = None,
    staff_id: int | None,
    now: datetime,
    datamap: DataMap | None = None,
    request_id: int | None = None,
) -> CaseHoldRecord:
    """A DPO's hold on a person, or on one record of the data map (``datamap``: the default
    map when not given), from the request ``request_id`` if one. Audit-logged; plans made from
    now on keep what it covers."""
    _check_hold(db, subject_id, kind, reason, scope, table_name, row_key, staff_id, datamap)
    hold = CaseHoldRecord(
        subject_id=subject_id,
        kind=CaseHoldKind(kind),
        reason=reason.strip(),
        scope=scope,
        table_name=table_name if scope == "record" else None,
        row_key=str(row_key) if scope == "record" else None,
        set_at=now,
        set_by=staff_id,
        review_at=review_at,
        request_id=request_id,
    )
    db.add(hold)
    db.flush()
    _audit_hold(db, "case_hold.set", hold, staff_id, hold.reason, now)
    return hold


def _check_hold(
    db: Session,
    subject_id: int,
    kind: str,
    reason: str,
    scope: str,
    table_name: str | None,
    row_key: Any,
    staff_id: int | None,
    datamap: DataMap | None,
) -> None:
    _check_reason(reason)
    if kind not in set(CaseHoldKind):
        raise CaseHoldRefused(_("There is no such kind of hold."))
    if scope not in SCOPES:
        raise CaseHoldRefused(_("A hold is on a person or on one record."))
    if db.get(Subject, subject_id) is None:
        raise CaseHoldRefused(_("There is no such person."))
    if staff_id is not None and db.get(StaffMember, staff_id) is None:
        raise CaseHoldRefused(_("There is no such member of staff."))
    if scope == "record":
        if datamap is None:
            from portal.workflows.erasure_run import runtime

            datamap = runtime().datamap
        if not table_name or table_name not in datamap.tables or row_key in (None, ""):
            raise CaseHoldRefused(_("A hold on a record needs a table of the data map and a key."))


def _check_reason(reason: str) -> None:
    if not reason or not reason.strip():
        raise CaseHoldRefused(_("Please give a reason."))
    if len(reason.strip()) > MAX_HOLD_REASON:
        raise CaseHoldRefused(
            _("Please keep this under %(count)d characters.", count=MAX_HOLD_REASON)
        )


def release_case_hold(
    db: Session,
    hold_id: int,
    *,
    staff_id: int | None,
    reason: str,
    now: datetime,
    datamap: DataMap | None = None,
) -> CaseHoldRecord:
    """End a hold. Rows an executed plan kept because of it are queued for erasure at once (the
    deferred job judges them again: other holds may still keep them)."""
    _check_reason(reason)
    hold = db.get(CaseHoldRecord, hold_id, with_for_update=True)
    if hold is None:
        raise CaseHoldRefused(_("There is no such hold."))
    if hold.released_at is not None:
        raise CaseHoldRefused(_("This hold has already been released."))
    if hold.kind == CaseHoldKind.restriction:
        # Art. 18(3): the person is told before the restriction is lifted.
        tell_before_lifting(db, hold, now)
    hold.released_at = now
    hold.released_by = staff_id
    hold.release_reason = reason.strip()
    db.add(hold)
    db.flush()
    _audit_hold(db, "case_hold.release", hold, staff_id, hold.release_reason, now)
    _queue_released(db, hold, now, datamap)
    return hold


def _queue_released(
    db: Session, hold: CaseHoldRecord, now: datetime, datamap: DataMap | None
) -> None:
    key = f"case:{hold.id}"
    plans = db.exec(
        select(StoredPlan)
        .join(DataRequest, col(DataRequest.id) == StoredPlan.request_id)
        .where(DataRequest.subject_id == hold.subject_id, StoredPlan.status == PlanStatus.executed)
    )
    if datamap is None:
        from portal.workflows.erasure_run import runtime

        datamap = runtime().datamap
    for stored in plans:
        plan = ErasurePlan.from_dict(stored.plan)
        # Rows kept under this hold, and rows whose dated hold has ended meanwhile (their
        # deferred job may have found this hold, set later, still active). The job judges each
        # row again, so queueing one too many is harmless.
        kept: list[Step] = [
            step
            for step in plan.steps
            if step.action == "retain"
            and (
                any(r.key == key for r in step.reasons)
                or (step.until is not None and step.until < now.date())
            )
        ]
        if kept:
            schedule_deferred(
                db, stored.id or 0, {now.date(): kept}, datamap, f"release:{hold.id}", now=now
            )


def _audit_hold(
    db: Session,
    action: str,
    hold: CaseHoldRecord,
    staff_id: int | None,
    reason: str | None,
    now: datetime,
) -> None:
    record(
        db,
        actor=AuditActor.system if staff_id is None else AuditActor.staff,
        actor_id=staff_id,
        action=action,
        subject_id=hold.subject_id,
        reason=reason,
        details={
            "hold_id": hold.id,
            "kind": str(hold.kind),
            "scope": hold.scope,
            "table": hold.table_name,
            "review_at": hold.review_at.isoformat() if hold.review_at else None,
            "request_id": hold.request_id,
        },
        now=now,
    )
