"""/dpo/requests/{id}: one request as the DPO works it (opening it is audit-logged)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from portal.audit import AuditActor, record
from portal.datamap.wording import UnverifiedCitation
from portal.db import session_scope
from portal.i18n import gettext as _
from portal.models import Assurance, Subject
from portal.views.common import ActionRefused, day
from portal.views.labels import DPO_ACTOR_LABELS, DPO_EVENT_LABELS, HOLD_KIND_LABELS, TYPE_NAMES
from portal.views.request_summary import (
    PlanView,
    RequestRow,
    TimelineEntry,
    plan_view,
    request_row,
    timeline,
)
from portal.workflows import erasure_service
from portal.workflows.contacts import contact_of
from portal.workflows.erasure import ErasurePlan
from portal.workflows.letters import LetterFacts, executed_plan, letter_facts
from portal.workflows.records import CaseHoldKind, CaseHoldRecord, PlanStatus, StoredPlan
from portal.workflows.requests import (
    MAX_EXTENSION_MONTHS,
    OPEN,
    Actor,
    DataRequest,
    RequestStatus,
    RequestType,
    allowed_actions,
    history,
)

# Types whose outcome the DPO records in words when the work is done.
OUTCOME_TYPES = frozenset(
    {RequestType.rectification, RequestType.restriction, RequestType.objection}
)


@dataclass(frozen=True)
class HoldView:
    id: int
    kind: str
    reason: str
    set_on: str
    review_on: str | None
    record: str | None = None  # a hold on one record: its table and key; None: on the person
    restriction: bool = False  # lifting it tells the person first (art. 18(3))


@dataclass(frozen=True)
class AttentionView:
    """A step of the request stopped for good: why (the job's error, no personal data), since
    when, and the job the "Run it again" form names."""

    reason: str
    since: str
    job_id: int


@dataclass(frozen=True)
class RecordChoice:
    """A record of the latest plan, for a hold on it: its place in the plan, and what the DPO
    reads (the table's name and the record's key)."""

    index: int
    label: str


@dataclass(frozen=True)
class ContactView:
    """Who filed a request without BankID, as they typed it, and how the DPO verified them."""

    name: str
    email: str
    customer_number: str | None
    phone: str | None
    confirmed_on: str
    verified_on: str | None
    verification: str | None


@dataclass(frozen=True)
class CasePage:
    """`actions` names the forms to show (each posts to /dpo/requests/{id}/{action}, see
    dpo_actions.act). `error` and `errors` are a refusal of the form just sent, `values` what
    was typed into it, so a refused form keeps its text."""

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
    records: tuple[RecordChoice, ...] = ()
    # The plan's rules and holds whose law citation is not verified: the person reads their
    # names only; the DPO checks the citations against the law.
    citations: tuple[UnverifiedCitation, ...] = ()
    max_extension_months: int = MAX_EXTENSION_MONTHS
    # A completed erasure's outcome letter can be downloaded (LETTER_PATH, audit-logged).
    letter: bool = False
    attention: AttentionView | None = None
    error: str | None = None
    errors: dict[str, str] = field(default_factory=dict)
    values: dict[str, str] = field(default_factory=dict)
    # Filed without BankID: the contact the person gave (None for a BankID request).
    contact: ContactView | None = None

    @property
    def letter_href(self) -> str:
        return LETTER_PATH.format(id=self.request.id)


LETTER_PATH = "/dpo/requests/{id}/letter.pdf"


def case_page(
    db: Session,
    request: DataRequest,
    language: str,
    tz: str,
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
    plan = ErasurePlan.from_dict(stored.plan) if stored is not None else None
    datamap_names = {t.table: t.name.get(language, t.table) for t in plan.tables} if plan else {}
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
        request=request_row(request, language, tz, now, f"/dpo/requests/{request.id}"),
        type=str(kind),
        type_label=str(TYPE_NAMES[kind]),
        assurance=_("BankID (high)") if request.assurance == Assurance.high else _("E-mail (low)"),
        person=_person(subject),
        subject_id=request.subject_id,
        details=request.details,
        extended=request.extended_at is not None,
        extension_reason=request.extension_reason,
        outcome=request.outcome,
        timeline=timeline(
            history(db, request.id or 0), language, tz, DPO_ACTOR_LABELS, DPO_EVENT_LABELS
        ),
        plan=plan_view(stored, language, RequestStatus(request.status)),
        holds=tuple(
            HoldView(
                id=hold.id or 0,
                kind=str(HOLD_KIND_LABELS[CaseHoldKind(hold.kind)]),
                reason=hold.reason,
                set_on=day(hold.set_at, language, tz),
                review_on=day(hold.review_at, language, tz) if hold.review_at else None,
                record=_record_label(datamap_names, hold.table_name, hold.row_key),
                restriction=hold.kind == CaseHoldKind.restriction,
            )
            for hold in holds
        ),
        actions=available_actions(request, stored, subject is not None),
        hold_kinds=tuple((str(k), str(label)) for k, label in HOLD_KIND_LABELS.items()),
        records=record_choices(stored, language),
        citations=citations_to_check(plan, language),
        letter=stored is not None and executed_plan(db, request) is not None,
        attention=_attention(request, language, tz),
        error=error.message if error else None,
        errors=error.errors if error else {},
        values=dict(values or {}),
        contact=_contact(db, request, language, tz),
    )


def _contact(db: Session, request: DataRequest, language: str, tz: str) -> ContactView | None:
    contact = contact_of(db, request.id)
    if contact is None:
        return None
    return ContactView(
        name=contact.name,
        email=contact.email,
        customer_number=contact.customer_number,
        phone=contact.phone,
        confirmed_on=day(contact.confirmed_at, language, tz),
        verified_on=day(contact.verified_at, language, tz) if contact.verified_at else None,
        verification=contact.verification,
    )


def citations_to_check(plan: ErasurePlan | None, language: str) -> tuple[UnverifiedCitation, ...]:
    """The plan's citations that are not verified, with the texts the plan stored."""
    if plan is None:
        return ()
    kinds = {"hold": _("Hold"), "rule": _("Retention rule")}
    return tuple(
        UnverifiedCitation(
            kind=kinds.get(reason.kind, reason.kind),
            key=reason.key,
            name=reason.name.get(language, reason.key),
            citation=reason.citation.get(language, ""),
            jurisdiction=None,
        )
        for reason in plan.unverified_reasons()
    )


def _attention(request: DataRequest, language: str, tz: str) -> AttentionView | None:
    if request.attention_job_id is None:
        return None
    return AttentionView(
        reason=request.attention or "",
        since=day(request.attention_at, language, tz) if request.attention_at else "",
        job_id=request.attention_job_id,
    )


def _person(subject: Subject | None) -> str:
    if subject is None:
        return _("Not identified yet")
    # Blank after an erasure (erasure_run.forget_in_portal) until the person signs in again.
    return subject.display_name or _("Name erased (national ID kept as evidence)")


def record_choices(stored: StoredPlan | None, language: str) -> tuple[RecordChoice, ...]:
    """Every record of the plan, in its order, to put a hold on."""
    if stored is None:
        return ()
    plan = ErasurePlan.from_dict(stored.plan)
    names = {summary.table: summary.name.get(language, summary.table) for summary in plan.tables}
    return tuple(
        RecordChoice(index, _record_label(names, step.table, step.key) or "")
        for index, step in enumerate(plan.steps)
    )


def _record_label(names: Mapping[str, str], table: str | None, key: object) -> str | None:
    if table is None:
        return None
    return _("%(table)s, record %(key)s", table=names.get(table, table), key=key)


def available_actions(
    request: DataRequest, stored: StoredPlan | None, identified: bool
) -> frozenset[str]:
    """The forms the case page shows: what the workflow allows the DPO now."""
    allowed = set(allowed_actions(request, Actor.dpo))
    kind = RequestType(request.type)
    status = RequestStatus(request.status)
    shown = {name for name in ("extend", "reject", "verify") if name in allowed}
    if "ask_subject" in allowed:
        shown.add("ask")
    if "subject_replied" in allowed:
        shown.add("answered")
    if kind == RequestType.erasure and identified and status in OPEN:
        shown.add("hold")
        shown.add("release")
        if stored is not None and stored.plan.get("steps"):
            shown.add("record_hold")
        if status in (RequestStatus.verified, RequestStatus.awaiting_approval):
            shown.add("replan")
        if stored is not None and stored.status == PlanStatus.proposed and "approve" in allowed:
            shown.add("approve")
    if kind == RequestType.restriction and identified:
        shown.add("release")  # lifting the restriction: the person is told first
    if kind in OUTCOME_TYPES and status in (RequestStatus.verified, RequestStatus.in_progress):
        shown.add("outcome")
    if request.attention_job_id is not None:
        shown.add("run_again")
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


def load_case(
    engine: Engine, request_id: int, staff_id: int, language: str, tz: str, now: datetime
) -> CasePage | None:
    """The case page; the view is audit-logged in the same transaction."""
    with session_scope(engine) as db:
        found = db.get(DataRequest, request_id)
        if found is None:
            return None
        audit_view(db, found, staff_id, now)
        return case_page(db, found, language, tz, now)


def load_case_letter(
    engine: Engine, request_id: int, staff_id: int, now: datetime
) -> LetterFacts | None:
    """A completed erasure's outcome letter for the DPO; reading it is audit-logged (it names
    the person and what was kept about them)."""
    with session_scope(engine) as db:
        found = db.get(DataRequest, request_id)
        if found is None:
            return None
        subject = db.get(Subject, found.subject_id) if found.subject_id is not None else None
        facts = letter_facts(db, found, subject.display_name if subject else "")
        if facts is None:
            return None
        record(
            db,
            actor=AuditActor.staff,
            actor_id=staff_id,
            action="outcome_letter.view",
            subject_id=found.subject_id,
            details={"request_id": found.id},
            now=now,
        )
        return facts
