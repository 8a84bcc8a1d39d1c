"""The request pages' content: a person's own requests, and the DPO's queue and case page.

Each dataclass below is the documented context of a template (`page` in the template):
`MyRequestsPage` for requests/list.html, `NewRequestForm` for requests/new.html,
`MyRequestPage` for requests/detail.html, `QueuePage` for dpo/queue.html and `CasePage` for
dpo/request.html. The functions here do the work the routes would otherwise grow by: they read
and change the database through the workflow modules, in the caller's transaction, and turn
a refusal into a message for the page (`ActionRefused`).

Nothing here puts personal data in a URL: pages and forms name requests, plans and holds by
their ids only.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from babel.dates import format_datetime
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select
from starlette.requests import Request
from starlette.responses import Response

from portal import i18n, jobs
from portal.audit import AuditActor, record
from portal.datamap import DataMap
from portal.db import session_scope
from portal.i18n import gettext as _
from portal.i18n import lazy_gettext as _l
from portal.models import Assurance, Subject
from portal.retention import format_day
from portal.workflows import erasure_service
from portal.workflows.erasure import ErasurePlan, describe_plan
from portal.workflows.records import CaseHoldKind, CaseHoldRecord, PlanStatus, StoredPlan
from portal.workflows.requests import (
    MAX_EXTENSION_MONTHS,
    OPEN,
    STATUS_LABELS,
    Actor,
    DataRequest,
    RequestEvent,
    RequestStatus,
    RequestType,
    TransitionRefused,
    allowed_actions,
    apply,
    days_left,
    file_request,
    history,
)

# --- words --------------------------------------------------------------------------------------

TYPE_LABELS = {
    RequestType.access: _l("Access: a copy of your data"),
    RequestType.portability: _l("Portability: your data in a machine-readable file"),
    RequestType.erasure: _l("Erasure: delete your data"),
    RequestType.rectification: _l("Rectification: correct your data"),
    RequestType.restriction: _l("Restriction: limit how we use your data"),
    RequestType.objection: _l("Objection: object to how we use your data"),
}

# One short name per type, for tables.
TYPE_NAMES = {
    RequestType.access: _l("Access"),
    RequestType.portability: _l("Portability"),
    RequestType.erasure: _l("Erasure"),
    RequestType.rectification: _l("Rectification"),
    RequestType.restriction: _l("Restriction"),
    RequestType.objection: _l("Objection"),
}

# What the text box asks for, per type; a type not here has no text.
DETAILS_LABELS = {
    RequestType.rectification: _l("What is wrong, and what should it say?"),
    RequestType.restriction: _l("Why should we limit the use of your data?"),
    RequestType.objection: _l("Which use of your data do you object to, and why?"),
}

EVENT_LABELS = {
    "file": _l("Request received"),
    "verify": _l("Identity verified"),
    "submit_plan": _l("Erasure plan made, waiting for approval"),
    "approve": _l("Erasure plan approved"),
    "start": _l("Work started"),
    "ask_subject": _l("We asked you a question"),
    "subject_replied": _l("Answer received"),
    "complete": _l("Completed"),
    "complete_partially": _l("Partially completed"),
    "reject": _l("Rejected"),
    "cancel": _l("Cancelled"),
    "extend": _l("Deadline extended"),
}

ACTOR_LABELS = {
    Actor.person: _l("you"),
    Actor.staff: _l("customer service"),
    Actor.dpo: _l("the data protection officer"),
    Actor.system: _l("Innsyn"),
}

# The DPO sees "the person", not "you".
DPO_ACTOR_LABELS = {**ACTOR_LABELS, Actor.person: _l("the person")}

HOLD_KIND_LABELS = {
    CaseHoldKind.litigation: _l("Litigation"),
    CaseHoldKind.complaint: _l("Complaint"),
    CaseHoldKind.authority_request: _l("Request from an authority"),
    CaseHoldKind.restriction: _l("Restriction of processing (art. 18)"),
    CaseHoldKind.other: _l("Other"),
}

PLAN_STATUS_LABELS = {
    PlanStatus.proposed: _l("waiting for approval"),
    PlanStatus.superseded: _l("replaced by a newer version"),
    PlanStatus.approved: _l("approved, being carried out"),
    PlanStatus.executed: _l("carried out"),
}

# Types whose outcome the DPO records in words when the work is done.
OUTCOME_TYPES = frozenset(
    {RequestType.rectification, RequestType.restriction, RequestType.objection}
)


class ActionRefused(Exception):
    """What the person or the DPO asked for was refused; nothing changed. `errors` names the
    form fields at fault (for the page to mark), `message` says why."""

    def __init__(self, message: str, errors: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.errors = dict(errors or {})


def day(moment: datetime | date, language: str) -> str:
    if isinstance(moment, datetime):
        moment = _aware(moment).date()
    return format_day(moment, language)


def _aware(moment: datetime) -> datetime:
    # SQLite hands back naive datetimes; every stored datetime is UTC.
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


# --- flash messages -----------------------------------------------------------------------------

FLASH_KEY = "flash"


def flash(request: Request, message: str) -> None:
    """A message for the next page the browser shows (after a POST's redirect)."""
    request.scope["web_session"].data[FLASH_KEY] = message


def take_flash(request: Request) -> str | None:
    return request.scope["web_session"].data.pop(FLASH_KEY, None)


def render(request: Request, name: str, page: object, status: int = 200) -> Response:
    """A request page: `page` (its dataclass) and the flash message, if any."""
    context = {"page": page, "flash": take_flash(request)}
    templates = request.app.state.templates
    return templates.TemplateResponse(request, name, context, status_code=status)


# --- shared parts -------------------------------------------------------------------------------


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


@dataclass(frozen=True)
class TimelineEntry:
    when: str
    what: str
    who: str
    reason: str | None


@dataclass(frozen=True)
class PlanTable:
    """One table of a plan: how many rows are erased, anonymised and kept."""

    name: str
    erase: int
    anonymise: int
    retain: int


@dataclass(frozen=True)
class PlanView:
    """The latest erasure plan of a request, in plain words (describe_plan) and counts."""

    id: int
    version: int
    status: str
    proposed: bool
    planned_on: str
    lines: tuple[str, ...]
    tables: tuple[PlanTable, ...]
    keeps_anything: bool
    withheld: int


def _row(request: DataRequest, language: str, now: datetime, href: str) -> RequestRow:
    left = days_left(request, now)
    is_open = RequestStatus(request.status) in OPEN
    return RequestRow(
        id=request.id or 0,
        type=str(TYPE_NAMES[RequestType(request.type)]),
        status=str(STATUS_LABELS[RequestStatus(request.status)]),
        received=day(request.received_at, language),
        deadline=day(request.due_at, language),
        days_left=left,
        overdue=is_open and left < 0,
        open=is_open,
        href=href,
    )


def _timeline(
    events: list[RequestEvent], language: str, actors: Mapping[Actor, Any]
) -> tuple[TimelineEntry, ...]:
    # Newest first, like every history in the portal.
    return tuple(
        TimelineEntry(
            when=day(event.at, language),
            what=str(EVENT_LABELS.get(event.action, event.action)),
            who=str(actors[Actor(event.actor)]),
            reason=event.reason,
        )
        for event in reversed(events)
    )


def _plan_view(stored: StoredPlan | None, language: str) -> PlanView | None:
    if stored is None:
        return None
    plan = ErasurePlan.from_dict(stored.plan)
    return PlanView(
        id=stored.id or 0,
        version=stored.version,
        status=str(PLAN_STATUS_LABELS[PlanStatus(stored.status)]),
        proposed=stored.status == PlanStatus.proposed,
        planned_on=day(plan.planned_on, language),
        lines=tuple(describe_plan(plan, language)),
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
    )


# --- the person's pages -------------------------------------------------------------------------


@dataclass(frozen=True)
class MyRequestsPage:
    """/me/requests: the person's requests, newest first."""

    requests: tuple[RequestRow, ...]


def my_requests(db: Session, subject_id: int, language: str, now: datetime) -> MyRequestsPage:
    rows = db.exec(
        select(DataRequest)
        .where(DataRequest.subject_id == subject_id)
        .order_by(col(DataRequest.received_at).desc(), col(DataRequest.id).desc())
    )
    return MyRequestsPage(
        tuple(_row(item, language, now, f"/me/requests/{item.id}") for item in rows)
    )


@dataclass(frozen=True)
class TypeChoice:
    value: str
    label: str
    details_label: str | None


@dataclass
class NewRequestForm:
    """/me/requests/new: the form, as filled in; `errors` by field name when it was refused."""

    type: str = ""
    details: str = ""
    marketing: bool = False
    errors: dict[str, str] = field(default_factory=dict)
    choices: tuple[TypeChoice, ...] = ()

    @property
    def erasure(self) -> bool:
        return self.type == RequestType.erasure


def new_request_form(type: str = "", details: str = "", marketing: bool = False) -> NewRequestForm:
    choices = tuple(
        TypeChoice(
            value=str(kind),
            label=str(TYPE_LABELS[kind]),
            details_label=str(DETAILS_LABELS[kind]) if kind in DETAILS_LABELS else None,
        )
        for kind in RequestType
    )
    chosen = type if type in set(RequestType) else ""
    return NewRequestForm(chosen, details, marketing, choices=choices)


def restrict_processing(db: Session, subject_id: int, request_id: int, now: datetime) -> None:
    """Art. 18: from the moment the person asks, their data is only stored. A case hold on the
    person keeps every record from erasure and marks it restricted; the DPO lifts it, after
    telling the person (art. 18(3)), on the request's page."""
    hold = CaseHoldRecord(
        subject_id=subject_id,
        kind=CaseHoldKind.restriction,
        reason=_("The person asked for restriction of processing (request %(id)d).", id=request_id),
        scope="person",
        set_at=now,
    )
    db.add(hold)
    db.flush()
    record(
        db,
        actor=AuditActor.person,
        actor_id=subject_id,
        action="case_hold.set",
        subject_id=subject_id,
        reason="restriction",
        details={"hold_id": hold.id, "request_id": request_id},
        now=now,
    )


def check_new_request(form: Mapping[str, Any]) -> NewRequestForm:
    """The form as posted, with `errors` filled in if it cannot be filed as it is."""
    filled = new_request_form(
        str(form.get("type", "")),
        str(form.get("details", "")).strip(),
        form.get("marketing") == "yes",
    )
    if filled.type == "":
        filled.errors["type"] = _("Choose what you want us to do.")
        return filled
    kind = RequestType(filled.type)
    if kind == RequestType.objection and filled.marketing:
        return filled  # direct marketing: absolute (art. 21(3)), no reason needed
    if kind in DETAILS_LABELS and not filled.details:
        filled.errors["details"] = {
            RequestType.rectification: _("Tell us what is wrong."),
            RequestType.restriction: _("Tell us why we should limit the use of your data."),
            RequestType.objection: _("Tell us which use of your data you object to."),
        }[kind]
    return filled


def file_new_request(
    db: Session,
    form: NewRequestForm,
    *,
    subject_id: int,
    language: str,
    now: datetime,
    datamap: DataMap,
    sources: Mapping[str, Engine],
    auto_approve: bool = False,
) -> DataRequest:
    """File a checked form for a person signed in with BankID; an erasure is planned at once
    (and approved at once when `auto_approve` is on and the plan keeps nothing)."""
    kind = RequestType(form.type)
    details = form.details if kind in DETAILS_LABELS else None
    if kind == RequestType.objection and form.marketing:
        details = "\n\n".join(filter(None, [_("Direct marketing (art. 21(3))."), form.details]))
    filed = file_request(
        db,
        subject_id=subject_id,
        type=kind,
        assurance=Assurance.high,
        actor=Actor.person,
        actor_id=subject_id,
        details=details,
        language=language,
        now=now,
    )
    if kind == RequestType.restriction:
        restrict_processing(db, subject_id, filed.id or 0, now)
    if kind == RequestType.erasure:
        erasure_service.plan_request(
            db,
            filed.id or 0,
            datamap=datamap,
            sources=sources,
            today=now.date(),
            auto_approve=auto_approve,
        )
    return filed


@dataclass(frozen=True)
class MyRequestPage:
    """/me/requests/{id}: one of the person's requests, with its history and, for erasure,
    what the latest plan does. `error` is a refusal of what the person just tried."""

    request: RequestRow
    type_label: str
    details: str | None
    extended: bool
    extension_reason: str | None
    outcome: str | None
    timeline: tuple[TimelineEntry, ...]
    plan: PlanView | None
    erasure: bool
    can_cancel: bool
    error: str | None = None


def own_request(db: Session, subject_id: int, request_id: int) -> DataRequest | None:
    """The request if it is the person's own; None both when it is missing and when it is
    someone else's, so the answer (404) never tells whether an id exists."""
    found = db.get(DataRequest, request_id)
    if found is None or found.subject_id != subject_id:
        return None
    return found


def my_request_page(
    db: Session, request: DataRequest, language: str, now: datetime, error: str | None = None
) -> MyRequestPage:
    kind = RequestType(request.type)
    plan = erasure_service.latest_plan(db, request.id or 0) if kind == RequestType.erasure else None
    return MyRequestPage(
        request=_row(request, language, now, f"/me/requests/{request.id}"),
        type_label=str(TYPE_LABELS[kind]),
        details=request.details,
        extended=request.extended_at is not None,
        extension_reason=request.extension_reason,
        outcome=request.outcome,
        timeline=_timeline(history(db, request.id or 0), language, ACTOR_LABELS),
        plan=_plan_view(plan, language),
        erasure=kind == RequestType.erasure,
        can_cancel="cancel" in allowed_actions(request, Actor.person),
        error=error,
    )


def cancel_own(db: Session, request: DataRequest, subject_id: int, now: datetime) -> None:
    try:
        apply(db, request, "cancel", actor=Actor.person, actor_id=subject_id, now=now)
    except TransitionRefused as exc:
        raise ActionRefused(str(exc)) from exc


# --- the DPO's pages ----------------------------------------------------------------------------

QUEUE_FILTERS = ("open", *[str(status) for status in RequestStatus], "all")


@dataclass(frozen=True)
class StatusFilter:
    value: str
    label: str
    selected: bool


@dataclass(frozen=True)
class QueuePage:
    """/dpo: requests ordered by deadline, soonest (and overdue) first. `status` is the filter:
    "open" (the default), "all", or one status."""

    status: str
    filters: tuple[StatusFilter, ...]
    requests: tuple[RequestRow, ...]

    @property
    def overdue(self) -> int:
        return sum(row.overdue for row in self.requests)


def queue(db: Session, status: str | None, language: str, now: datetime) -> QueuePage:
    status = status if status in QUEUE_FILTERS else "open"
    statement = select(DataRequest).order_by(col(DataRequest.due_at), col(DataRequest.id))
    if status == "open":
        statement = statement.where(col(DataRequest.status).in_([str(s) for s in OPEN]))
    elif status != "all":
        statement = statement.where(DataRequest.status == status)
    labels = {"open": _("Open"), "all": _("All")}
    filters = tuple(
        StatusFilter(
            value,
            labels.get(value) or str(STATUS_LABELS[RequestStatus(value)]).capitalize(),
            value == status,
        )
        for value in QUEUE_FILTERS
    )
    rows = tuple(
        _row(item, language, now, f"/dpo/requests/{item.id}") for item in db.exec(statement)
    )
    return QueuePage(status, filters, rows)


@dataclass(frozen=True)
class HoldView:
    id: int
    kind: str
    reason: str
    set_on: str
    review_on: str | None


@dataclass(frozen=True)
class CasePage:
    """/dpo/requests/{id}: one request as the DPO works it. `actions` names the forms to show
    (each posts to /dpo/requests/{id}/{action}, see `act`). `error` and `errors` are a refusal
    of the form just sent, `values` what was typed into it, so a refused form keeps its text."""

    request: RequestRow
    type: str
    type_label: str
    assurance: str
    person: str
    subject_id: int | None
    details: str | None
    extended: bool
    extension_reason: str | None
    outcome: str | None
    timeline: tuple[TimelineEntry, ...]
    plan: PlanView | None
    holds: tuple[HoldView, ...]
    actions: frozenset[str]
    hold_kinds: tuple[tuple[str, str], ...]
    max_extension_months: int = MAX_EXTENSION_MONTHS
    error: str | None = None
    errors: dict[str, str] = field(default_factory=dict)
    values: dict[str, str] = field(default_factory=dict)


def case_page(
    db: Session,
    request: DataRequest,
    language: str,
    now: datetime,
    *,
    error: ActionRefused | None = None,
    values: Mapping[str, str] | None = None,
) -> CasePage:
    kind = RequestType(request.type)
    subject = db.get(Subject, request.subject_id) if request.subject_id is not None else None
    stored = (
        erasure_service.latest_plan(db, request.id or 0) if kind == RequestType.erasure else None
    )
    holds = (
        db.exec(
            select(CaseHoldRecord)
            .where(
                CaseHoldRecord.subject_id == subject.id,
                col(CaseHoldRecord.released_at).is_(None),
            )
            .order_by(col(CaseHoldRecord.set_at), col(CaseHoldRecord.id))
        ).all()
        if subject is not None
        else []
    )
    return CasePage(
        request=_row(request, language, now, f"/dpo/requests/{request.id}"),
        type=str(kind),
        type_label=str(TYPE_NAMES[kind]),
        assurance=_("BankID (high)") if request.assurance == Assurance.high else _("E-mail (low)"),
        person=subject.display_name if subject is not None else _("Not identified yet"),
        subject_id=request.subject_id,
        details=request.details,
        extended=request.extended_at is not None,
        extension_reason=request.extension_reason,
        outcome=request.outcome,
        timeline=_timeline(history(db, request.id or 0), language, DPO_ACTOR_LABELS),
        plan=_plan_view(stored, language),
        holds=tuple(
            HoldView(
                id=hold.id or 0,
                kind=str(HOLD_KIND_LABELS[CaseHoldKind(hold.kind)]),
                reason=hold.reason,
                set_on=day(hold.set_at, language),
                review_on=day(hold.review_at, language) if hold.review_at else None,
            )
            for hold in holds
        ),
        actions=_available(request, stored, subject is not None),
        hold_kinds=tuple((str(k), str(label)) for k, label in HOLD_KIND_LABELS.items()),
        error=error.message if error else None,
        errors=error.errors if error else {},
        values=dict(values or {}),
    )


def _available(request: DataRequest, stored: StoredPlan | None, identified: bool) -> frozenset[str]:
    allowed = set(allowed_actions(request, Actor.dpo))
    kind = RequestType(request.type)
    status = RequestStatus(request.status)
    shown = {name for name in ("extend", "reject", "verify") if name in allowed}
    if kind == RequestType.erasure and identified and status in OPEN:
        shown.add("hold")
        shown.add("release")
        if status in (RequestStatus.verified, RequestStatus.awaiting_approval):
            shown.add("replan")
        if stored is not None and stored.status == PlanStatus.proposed and "approve" in allowed:
            shown.add("approve")
    if kind in OUTCOME_TYPES and status in (RequestStatus.verified, RequestStatus.in_progress):
        shown.add("outcome")
    return frozenset(shown)


def audit_view(db: Session, request: DataRequest, staff_id: int, now: datetime) -> None:
    """A DPO opened a request, and with it the person's name: that is a view of their data."""
    record(
        db,
        actor=AuditActor.staff,
        actor_id=staff_id,
        action="request.view",
        subject_id=request.subject_id,
        details={"request_id": request.id},
        now=now,
    )


@dataclass(frozen=True)
class Runtime:
    """What the DPO's actions need from the app besides the database."""

    datamap: DataMap
    sources: Mapping[str, Engine]
    now: datetime


def act(
    db: Session,
    request: DataRequest,
    action: str,
    form: Mapping[str, str],
    *,
    staff_id: int,
    runtime: Runtime,
) -> str:
    """Carry out one of the DPO's forms; returns the message to flash. Raises ActionRefused
    (and the caller rolls back) when the form is incomplete or the workflow refuses."""
    handler = _HANDLERS.get(action)
    if handler is None:
        raise ActionRefused(_("There is no such action."))
    try:
        return handler(db, request, form, staff_id, runtime)
    except (TransitionRefused, ValueError) as exc:
        raise ActionRefused(str(exc)) from exc


def _text(form: Mapping[str, str], name: str) -> str:
    return str(form.get(name, "")).strip()


def _reason(form: Mapping[str, str], name: str = "reason") -> str:
    reason = _text(form, name)
    if not reason:
        raise ActionRefused(_("Please give a reason."), {name: _("Please give a reason.")})
    return reason


def _int(form: Mapping[str, str], name: str, message: str) -> int:
    try:
        return int(_text(form, name))
    except ValueError:
        raise ActionRefused(message, {name: message}) from None


def _replan(db: Session, request: DataRequest, staff_id: int, runtime: Runtime) -> None:
    if request.type == RequestType.erasure and request.status in (
        RequestStatus.verified,
        RequestStatus.awaiting_approval,
    ):
        erasure_service.plan_request(
            db,
            request.id or 0,
            datamap=runtime.datamap,
            sources=runtime.sources,
            today=runtime.now.date(),
            actor=Actor.dpo,
            actor_id=staff_id,
        )


def _approve(
    db: Session, request: DataRequest, form: Mapping[str, str], staff_id: int, rt: Runtime
) -> str:
    plan_id = _int(form, "plan_id", _("There is no such plan."))
    stored = db.get(StoredPlan, plan_id)
    if stored is None or stored.request_id != request.id:
        raise ActionRefused(_("There is no such plan."))
    erasure_service.approve_plan(db, plan_id, staff_id=staff_id, now=rt.now)
    return _("The plan is approved. The erasure will be carried out shortly.")


def _hold(
    db: Session, request: DataRequest, form: Mapping[str, str], staff_id: int, rt: Runtime
) -> str:
    if request.subject_id is None:
        raise ActionRefused(_("There is no such person."))
    reason = _reason(form)
    review_at = None
    if _text(form, "review_at"):
        try:
            review_at = date.fromisoformat(_text(form, "review_at"))
        except ValueError:
            message = _("Give the review date as a date (YYYY-MM-DD).")
            raise ActionRefused(message, {"review_at": message}) from None
    erasure_service.set_case_hold(
        db,
        subject_id=request.subject_id,
        kind=_text(form, "kind"),
        reason=reason,
        scope="person",
        review_at=review_at,
        staff_id=staff_id,
        now=rt.now,
        datamap=rt.datamap,
    )
    _replan(db, request, staff_id, rt)
    return _("The hold is set, and the erasure plan was made again.")


def _release(
    db: Session, request: DataRequest, form: Mapping[str, str], staff_id: int, rt: Runtime
) -> str:
    hold_id = _int(form, "hold_id", _("There is no such hold."))
    hold = db.get(CaseHoldRecord, hold_id)
    if hold is None or hold.subject_id != request.subject_id:
        raise ActionRefused(_("There is no such hold."))
    erasure_service.release_case_hold(
        db, hold_id, staff_id=staff_id, reason=_reason(form), now=rt.now, datamap=rt.datamap
    )
    _replan(db, request, staff_id, rt)
    return _("The hold is released, and the erasure plan was made again.")


def _replan_action(
    db: Session, request: DataRequest, form: Mapping[str, str], staff_id: int, rt: Runtime
) -> str:
    if request.status not in (RequestStatus.verified, RequestStatus.awaiting_approval):
        raise ActionRefused(_("This request cannot be planned now."))
    _replan(db, request, staff_id, rt)
    return _("The erasure plan was made again.")


def _extend(
    db: Session, request: DataRequest, form: Mapping[str, str], staff_id: int, rt: Runtime
) -> str:
    message = _("The deadline can be extended by one or two months.")
    months = _int(form, "months", message)
    if not 1 <= months <= MAX_EXTENSION_MONTHS:
        raise ActionRefused(message, {"months": message})
    reason = _reason(form)
    apply(
        db,
        request,
        "extend",
        actor=Actor.dpo,
        actor_id=staff_id,
        reason=reason,
        now=rt.now,
        data={"months": months},
    )
    return _("The deadline is extended. The person is told why.")


def _reject(
    db: Session, request: DataRequest, form: Mapping[str, str], staff_id: int, rt: Runtime
) -> str:
    apply(
        db, request, "reject", actor=Actor.dpo, actor_id=staff_id, reason=_reason(form), now=rt.now
    )
    return _("The request is rejected. The person is told why.")


def _verify(
    db: Session, request: DataRequest, form: Mapping[str, str], staff_id: int, rt: Runtime
) -> str:
    apply(db, request, "verify", actor=Actor.dpo, actor_id=staff_id, now=rt.now)
    _replan(db, request, staff_id, rt)
    return _("The person is verified.")


def _outcome(
    db: Session, request: DataRequest, form: Mapping[str, str], staff_id: int, rt: Runtime
) -> str:
    if request.type not in OUTCOME_TYPES:
        raise ActionRefused(_("You are not allowed to do that with this request."))
    reason = _reason(form, "outcome")
    if request.status == RequestStatus.verified:
        apply(db, request, "start", actor=Actor.dpo, actor_id=staff_id, now=rt.now)
    apply(db, request, "complete", actor=Actor.dpo, actor_id=staff_id, reason=reason, now=rt.now)
    return _("The outcome is recorded and the request is completed.")


Handler = Callable[[Session, DataRequest, Mapping[str, str], int, Runtime], str]

_HANDLERS: dict[str, Handler] = {
    "approve": _approve,
    "hold": _hold,
    "release": _release,
    "replan": _replan_action,
    "extend": _extend,
    "reject": _reject,
    "verify": _verify,
    "outcome": _outcome,
}


# --- units of work, as the routes call them (in a thread: they block) ------------------------


@dataclass(frozen=True)
class Done:
    """A POST succeeded: flash `message`, go to `location` (303)."""

    location: str
    message: str


@dataclass(frozen=True)
class Refused:
    """A POST was refused and nothing changed: show `page` again, with the reason."""

    page: Any
    status: int = 400


def load_my_requests(
    engine: Engine, subject_id: int, language: str, now: datetime
) -> MyRequestsPage:
    with session_scope(engine) as db:
        return my_requests(db, subject_id, language, now)


def load_my_request(
    engine: Engine, subject_id: int, request_id: int, language: str, now: datetime
) -> MyRequestPage | None:
    with session_scope(engine) as db:
        found = own_request(db, subject_id, request_id)
        return my_request_page(db, found, language, now) if found else None


def submit_new_request(
    engine: Engine,
    form: Mapping[str, Any],
    *,
    subject_id: int,
    language: str,
    now: datetime,
    datamap: DataMap,
    sources: Mapping[str, Engine],
    auto_approve: bool = False,
) -> Done | Refused:
    filled = check_new_request(form)
    if filled.errors:
        return Refused(filled)
    try:
        with session_scope(engine) as db:
            filed = file_new_request(
                db,
                filled,
                subject_id=subject_id,
                language=language,
                now=now,
                datamap=datamap,
                sources=sources,
                auto_approve=auto_approve,
            )
    except (TransitionRefused, ValueError) as exc:
        filled.errors["type"] = str(exc)
        return Refused(filled, 409)
    return Done(f"/me/requests/{filed.id}", _("We have received your request."))


def cancel_my_request(
    engine: Engine, subject_id: int, request_id: int, language: str, now: datetime
) -> Done | Refused | None:
    try:
        with session_scope(engine) as db:
            found = own_request(db, subject_id, request_id)
            if found is None:
                return None
            cancel_own(db, found, subject_id, now)
    except ActionRefused as refused:
        with session_scope(engine) as db:
            found = own_request(db, subject_id, request_id)
            assert found is not None
            return Refused(my_request_page(db, found, language, now, refused.message), 409)
    return Done(f"/me/requests/{request_id}", _("Your request is cancelled."))


def load_queue(engine: Engine, status: str | None, language: str, now: datetime) -> QueuePage:
    with session_scope(engine) as db:
        return queue(db, status, language, now)


def load_case(
    engine: Engine, request_id: int, staff_id: int, language: str, now: datetime
) -> CasePage | None:
    """The DPO's page for one request; the view is audit-logged in the same transaction."""
    with session_scope(engine) as db:
        found = db.get(DataRequest, request_id)
        if found is None:
            return None
        audit_view(db, found, staff_id, now)
        return case_page(db, found, language, now)


def act_on_case(
    engine: Engine,
    request_id: int,
    action: str,
    form: Mapping[str, str],
    *,
    staff_id: int,
    language: str,
    runtime: Runtime,
) -> Done | Refused | None:
    """One of the DPO's forms, all or nothing: a refusal rolls every change back."""
    location = f"/dpo/requests/{request_id}"
    try:
        with session_scope(engine) as db:
            found = db.get(DataRequest, request_id, with_for_update=True)
            if found is None:
                return None
            message = act(db, found, action, form, staff_id=staff_id, runtime=runtime)
    except ActionRefused as refused:
        with session_scope(engine) as db:
            found = db.get(DataRequest, request_id)
            assert found is not None
            audit_view(db, found, staff_id, runtime.now)
            typed = {key: value for key, value in form.items() if key != "csrf_token"}
            page = case_page(db, found, language, runtime.now, error=refused, values=typed)
            return Refused(page, 409 if not refused.errors else 400)
    return Done(location, message)


# --- parked jobs --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ParkedJob:
    id: int
    kind: str
    attempts: int
    last_error: str  # the exception's class and first line: no personal data (portal.jobs)
    parked_at: str


def load_parked_jobs(engine: Engine) -> tuple[ParkedJob, ...]:
    """/dpo/jobs: work the worker gave up on, newest first, for the DPO to look into."""
    with session_scope(engine) as db:
        return tuple(
            ParkedJob(
                id=job.id or 0,
                kind=job.kind,
                attempts=job.attempts,
                last_error=job.last_error or "",
                parked_at=format_datetime(job.finished_at, "short", locale=_locale())
                if job.finished_at
                else "",
            )
            for job in jobs.parked_jobs(db)
        )


def retry_job(engine: Engine, job_id: int, now: datetime) -> Done | None:
    try:
        with session_scope(engine) as db:
            jobs.retry_parked(db, job_id, now)
    except LookupError:
        return None
    return Done("/dpo/jobs", _("The job is queued again."))


def _locale() -> str:
    return {"nb": "nb_NO", "sv": "sv_SE"}.get(i18n.current_language(), "en_GB")
