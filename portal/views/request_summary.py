"""One request as the pages show it: its row in a list, its timeline and its erasure plan."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from portal import i18n
from portal.views.common import day, moment
from portal.views.labels import (
    EVENT_LABELS,
    NEVER_CARRIED_OUT_LABELS,
    PLAN_STATUS_LABELS,
    TYPE_NAMES,
)
from portal.workflows.assignment import STAFF_ONLY_EVENTS
from portal.workflows.erasure import ErasurePlan, Phase, describe_plan
from portal.workflows.erasure_service import plan_phase
from portal.workflows.records import PlanStatus, StoredPlan
from portal.workflows.requests import (
    OPEN,
    STATUS_LABELS,
    Actor,
    DataRequest,
    RequestEvent,
    RequestStatus,
    RequestType,
    days_left,
)


@dataclass(frozen=True)
class RequestRow:
    """One request in a list: the person's own, or the DPO's queue."""

    id: int
    type: str
    status: str
    received: str
    deadline: str
    days_left: int
    overdue: bool
    open: bool
    href: str
    # A step of the request stopped for good (the DPO's queue flags it; workflows/attention.py).
    attention: bool = False
    # Waiting for the person's answer: the deadline is paused (days left: "paused"), and moves
    # on by the time waited when they answer.
    paused: bool = False


@dataclass(frozen=True)
class TimelineEntry:
    """One event: ``reason`` is what was written with it (a question, an answer, a reason),
    ``more`` what it changed besides the status, in words (a deadline moved on by a pause, the
    request a duplicate was merged into)."""

    when: str
    what: str
    who: str
    reason: str | None
    more: str | None = None


@dataclass(frozen=True)
class PlanTable:
    """One table of a plan: how many rows are erased, anonymised and kept."""

    name: str
    erase: int
    anonymise: int
    retain: int


@dataclass(frozen=True)
class PlanView:
    """The latest erasure plan of a request, in plain words (describe_plan) and counts, in
    the tense of its `phase` (planned, carried_out, never: erasure.Phase), which follows both
    the plan's status and its request's: a cancelled request's plan was never carried out."""

    id: int
    version: int
    status: str
    proposed: bool
    planned_on: str
    lines: tuple[str, ...]
    tables: tuple[PlanTable, ...]
    keeps_anything: bool
    withheld: int
    phase: str = Phase.planned


def request_row(
    request: DataRequest,
    language: str,
    tz: str,
    now: datetime,
    href: str,
    statuses: Mapping[RequestStatus, Any] = STATUS_LABELS,
) -> RequestRow:
    """A request as a line of a list; its days are the controller's (``tz``), its status in
    the reader's words (``statuses``: the person's, or the DPO's `DPO_STATUS_LABELS`)."""
    left = days_left(request, now)
    is_open = RequestStatus(request.status) in OPEN
    return RequestRow(
        id=request.id or 0,
        type=str(TYPE_NAMES[RequestType(request.type)]),
        status=str(statuses[RequestStatus(request.status)]),
        received=day(request.received_at, language, tz),
        deadline=day(request.due_at, language, tz),
        days_left=left,
        overdue=is_open and left < 0 and not request.paused,
        open=is_open,
        href=href,
        attention=request.attention_job_id is not None,
        paused=is_open and request.paused,
    )


def timeline(
    events: list[RequestEvent],
    language: str,
    tz: str,
    actors: Mapping[Actor, Any],
    labels: Mapping[str, Any] = EVENT_LABELS,
    staff_names: Mapping[int, str] | None = None,
) -> tuple[TimelineEntry, ...]:
    """The events, newest first (like every history in the portal), in the viewer's words:
    the person's (`EVENT_LABELS`, `ACTOR_LABELS`) or the DPO's, who also reads which member
    of staff acted (``staff_names``); each when it happened, to the minute in the controller's
    time zone ``tz``. Staff-only events (an assignment) are left out unless ``labels`` name
    them: the person's words never do."""
    names = staff_names or {}
    return tuple(
        TimelineEntry(
            when=moment(event.at, language, tz),
            what=str(labels.get(event.action, event.action)),
            who=_who(event, actors, names),
            reason=event.reason,
            more=_more(event, language, tz, names),
        )
        for event in reversed(events)
        if event.action not in STAFF_ONLY_EVENTS or event.action in labels
    )


def _who(event: RequestEvent, actors: Mapping[Actor, Any], names: Mapping[int, str]) -> str:
    actor = Actor(event.actor)
    label = str(actors[actor])
    name = names.get(event.actor_id or 0) if actor in (Actor.staff, Actor.dpo) else None
    return f"{label} ({name})" if name else label


def _more(event: RequestEvent, language: str, tz: str, names: Mapping[int, str]) -> str | None:
    data = event.data or {}
    if event.action == "assign" and data.get("assignee_id"):
        assignee = int(data["assignee_id"])
        who = names.get(assignee) or i18n.gettext("member of staff %(id)d", id=assignee)
        return i18n.gettext("Assigned to %(name)s.", name=who)
    if event.action == "subject_replied" and data.get("due_at"):
        waited = round(int(data.get("paused_seconds", 0)) / 86400)
        due = day(datetime.fromisoformat(data["due_at"]), language, tz)
        return i18n.ngettext(
            "The deadline was paused for %(num)d day while waiting, and is now %(date)s.",
            "The deadline was paused for %(num)d days while waiting, and is now %(date)s.",
            waited,
            date=due,
        )
    if event.action == "merge" and data.get("kept_id"):
        return i18n.gettext("Handled as request %(id)d.", id=int(data["kept_id"]))
    if event.action == "merged_in" and data.get("merged_id"):
        return i18n.gettext("Request %(id)d was closed into this one.", id=int(data["merged_id"]))
    return None


def plan_view(
    stored: StoredPlan | None, language: str, request_status: RequestStatus
) -> PlanView | None:
    if stored is None:
        return None
    plan = ErasurePlan.from_dict(stored.plan)
    phase = plan_phase(PlanStatus(stored.status), request_status)
    return PlanView(
        id=stored.id or 0,
        version=stored.version,
        status=plan_status_label(PlanStatus(stored.status), phase, request_status),
        proposed=stored.status == PlanStatus.proposed and phase == Phase.planned,
        planned_on=i18n.format_day(plan.planned_on, language),
        lines=tuple(describe_plan(plan, language, phase)),
        tables=tuple(
            PlanTable(
                name=summary.name.get(language, summary.table),
                erase=summary.erase,
                anonymise=summary.anonymise,
                retain=summary.retain,
            )
            for summary in plan.tables
        ),
        keeps_anything=plan.holds_anything,
        withheld=sum(plan.withheld.values()),
        phase=str(phase),
    )


def plan_status_label(status: PlanStatus, phase: Phase, request_status: RequestStatus) -> str:
    """The plan's status in words. A proposed plan waits for approval only while its request is
    open; once the request is cancelled or rejected it says it was never carried out, and why."""
    if phase == Phase.never and status == PlanStatus.proposed:
        return str(NEVER_CARRIED_OUT_LABELS.get(request_status, NEVER_CARRIED_OUT_LABELS[None]))
    return str(PLAN_STATUS_LABELS[status])
