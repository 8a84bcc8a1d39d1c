"""/dpo/requests/{id}: one request as the DPO works it (opening it is audit-logged): the person
and how they were verified, the timeline (with who of staff acted), the plan with holds on
records named as the DPO knows them ("Order 10234, 12 Mar 2025": the data map's ``label``, read
from the company's databases as the page is made, views/dpo_data.py), possible duplicates,
internal notes, and the forms each state allows (views/dpo_actions.py). The data found for the
person is shown on demand (views/dpo_data.py)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, col, select

from portal.audit import AuditActor, record
from portal.datamap.wording import UnverifiedCitation
from portal.db import session_scope
from portal.i18n import gettext as _
from portal.identity.national_id import mask_national_id, parse_national_id
from portal.models import Assurance, StaffMember, Subject
from portal.views.answers import asked_question
from portal.views.common import ActionRefused, day, moment
from portal.views.labels import (
    DPO_ACTOR_LABELS,
    DPO_EVENT_LABELS,
    DPO_STATUS_LABELS,
    HOLD_KIND_LABELS,
    TYPE_NAMES,
)
from portal.views.recipients_told import TaskView, task_views
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
from portal.workflows.duplicates import DEFAULT_WINDOW_DAYS, can_keep, duplicates_of
from portal.workflows.erasure import ErasurePlan
from portal.workflows.letters import LetterFacts, executed_plan, letter_facts
from portal.workflows.notes import MAX_NOTE, notes_of
from portal.workflows.records import CaseHoldKind, CaseHoldRecord, PlanStatus, StoredPlan
from portal.workflows.requests import (
    MAX_EXTENSION_MONTHS,
    OPEN,
    Actor,
    DataRequest,
    RequestEvent,
    RequestStatus,
    RequestType,
    allowed_actions,
    history,
)

# What a record hold's choice reads, keyed by (table, key): "Ordrer: 10234, 12.03.2025".
RecordLabels = Mapping[tuple[str, str], str]

# Types whose outcome the DPO records in words when the work is done.
OUTCOME_TYPES = frozenset(
    {RequestType.rectification, RequestType.restriction, RequestType.objection}
)

logger = logging.getLogger("portal.views")


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
class IdentityView:
    """Who the person is to us and how sure we are: the national ID masked (the birth date
    and the rest hidden), and how they were identified: BankID when filing, or the DPO's
    verification of a request filed without it (when, by whom, how)."""

    national_id: str | None
    method: str
    verified_on: str | None = None
    verified_by: str | None = None
    how: str | None = None


@dataclass(frozen=True)
class NoteView:
    who: str
    when: str
    text: str


@dataclass(frozen=True)
class DuplicateView:
    """Another request of the same type from the same person, received near this one."""

    id: int
    received: str
    status: str
    open: bool
    href: str
    # Open or answered: this request can be merged into it (not into a cancelled one).
    can_keep: bool = True


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
    identity: IdentityView | None = None
    # While waiting for the person: the question asked, and since when the deadline is paused.
    question: str | None = None
    paused_since: str | None = None
    notes: tuple[NoteView, ...] = ()
    max_note: int = MAX_NOTE
    duplicates: tuple[DuplicateView, ...] = ()
    duplicate_window_days: int = DEFAULT_WINDOW_DAYS
    # Recipients told of an erasure, rectification or restriction (art. 19), and whether they
    # confirmed; ``tables`` the map's tables a rectification's outcome may name (key, name).
    recipient_tasks: tuple[TaskView, ...] = ()
    tables: tuple[tuple[str, str], ...] = ()

    @property
    def open_tasks(self) -> int:
        """How many recipients have not confirmed yet (shown at the top of the page)."""
        return sum(task.open for task in self.recipient_tasks)

    # Who works the request (None: nobody yet), and whether that is the DPO reading the page:
    # the "assign" form assigns it to them, "unassign" takes the assignment back.
    assignee: str | None = None
    assigned_to_me: bool = False
    # The person's identity is protected (the data map's ``protected`` column: strengt fortrolig
    # adresse, skyddad identitet); None when the company's databases could not tell.
    protected: bool | None = False

    @property
    def data_href(self) -> str:
        """The data found for the person, shown on demand (a view of their data, audit-logged)."""
        return DATA_PATH.format(id=self.request.id)

    @property
    def mergeable(self) -> tuple[DuplicateView, ...]:
        """The duplicates this request can be merged into (only while it can be closed)."""
        if "merge" not in self.actions:
            return ()
        return tuple(other for other in self.duplicates if other.can_keep)

    @property
    def letter_href(self) -> str:
        return LETTER_PATH.format(id=self.request.id)


LETTER_PATH = "/dpo/requests/{id}/letter.pdf"
DATA_PATH = "/dpo/requests/{id}/data"


def case_page(
    db: Session,
    request: DataRequest,
    language: str,
    tz: str,
    now: datetime,
    *,
    error: ActionRefused | None = None,
    values: Mapping[str, str] | None = None,
    record_labels: RecordLabels | None = None,
    duplicate_window_days: int = DEFAULT_WINDOW_DAYS,
    tables: Mapping[str, str] | None = None,
    viewer_id: int | None = None,
    protected: bool | None = False,
) -> CasePage:
    """The page's content for the DPO ``viewer_id``. ``record_labels``: what each record of the
    plan is, read from the company's databases (`record_values`); without, a record reads as
    its table and key. ``tables``: the map's tables with recipients, by name, for a
    rectification's outcome."""
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
    events = history(db, request.id or 0)
    notes = notes_of(db, request.id or 0)
    names = _staff_names(db, events, notes)
    assignee = request.assignee_id
    if assignee is not None and not names.get(assignee):
        names[assignee] = _staff_name(db, assignee) or _("member of staff %(id)d", id=assignee)
    contact = _contact(db, request, language, tz)
    return CasePage(
        request=request_row(
            request, language, tz, now, f"/dpo/requests/{request.id}", DPO_STATUS_LABELS
        ),
        type=str(kind),
        type_label=str(TYPE_NAMES[kind]),
        assurance=_assurance(request.assurance),
        person=_person(subject),
        subject_id=request.subject_id,
        details=request.details,
        extended=request.extended_at is not None,
        extension_reason=request.extension_reason,
        outcome=request.outcome,
        timeline=timeline(events, language, tz, DPO_ACTOR_LABELS, DPO_EVENT_LABELS, names),
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
        records=record_choices(stored, language, record_labels),
        citations=citations_to_check(plan, language),
        letter=stored is not None and executed_plan(db, request) is not None,
        attention=_attention(request, language, tz),
        error=error.message if error else None,
        errors=error.errors if error else {},
        values=dict(values or {}),
        contact=contact,
        identity=_identity(db, request, subject, names, language, tz),
        question=asked_question(events) if request.paused else None,
        paused_since=day(request.paused_at, language, tz) if request.paused_at else None,
        notes=tuple(
            NoteView(
                who=names.get(note.staff_id, _("a member of staff")),
                when=moment(note.at, language, tz),
                text=note.text,
            )
            for note in notes
        ),
        duplicates=tuple(
            DuplicateView(
                id=other.id or 0,
                received=day(other.received_at, language, tz),
                status=str(DPO_STATUS_LABELS[RequestStatus(other.status)]),
                open=RequestStatus(other.status) in OPEN,
                href=f"/dpo/requests/{other.id}",
                can_keep=can_keep(other),
            )
            for other in duplicates_of(db, request, duplicate_window_days)
        ),
        duplicate_window_days=duplicate_window_days,
        recipient_tasks=task_views(db, request.id or 0, language, tz, for_dpo=True),
        tables=tuple((name, label) for name, label in (tables or {}).items()),
        assignee=names[assignee] if assignee is not None else None,
        assigned_to_me=viewer_id is not None and assignee == viewer_id,
        protected=protected,
    )


def _staff_names(db: Session, events: list[RequestEvent], notes: list[Any]) -> dict[int, str]:
    """The names of the members of staff who acted on the request, were assigned it, or wrote
    its notes."""
    ids = {e.actor_id for e in events if e.actor in (Actor.staff, Actor.dpo) and e.actor_id}
    ids |= {int(e.data["assignee_id"]) for e in events if (e.data or {}).get("assignee_id")}
    ids |= {note.staff_id for note in notes}
    if not ids:
        return {}
    found = db.exec(select(StaffMember).where(col(StaffMember.id).in_(ids)))
    return {
        member.id or 0: member.name or _("member of staff %(id)d", id=member.id or 0)
        for member in found
    }


def _identity(
    db: Session,
    request: DataRequest,
    subject: Subject | None,
    names: Mapping[int, str],
    language: str,
    tz: str,
) -> IdentityView:
    national_id = _masked(subject.national_id) if subject is not None else None
    contact = contact_of(db, request.id)
    if contact is None:
        method = (
            _("BankID, when the request was sent")
            if request.assurance == Assurance.high
            else _("E-mail link")
        )
        return IdentityView(national_id=national_id, method=method)
    if contact.verified_at is None:
        return IdentityView(
            national_id=national_id,
            method=_("E-mail address confirmed by a link; not verified yet"),
        )
    if request.assurance == Assurance.staff:
        # Filed on a call (exports/on_behalf.py): the copy goes only to an address the
        # person proved, which is what identifies them.
        return IdentityView(
            national_id=national_id,
            method=_("Filed by customer service on the person's call"),
            verified_on=day(contact.verified_at, language, tz),
            verified_by=names.get(contact.verified_by or 0) or _staff_name(db, contact.verified_by),
            how=contact.verification,
        )
    return IdentityView(
        national_id=national_id,
        method=_("Verified by the data protection officer"),
        verified_on=day(contact.verified_at, language, tz),
        verified_by=names.get(contact.verified_by or 0) or _staff_name(db, contact.verified_by),
        how=contact.verification,
    )


def _assurance(assurance: str) -> str:
    """How sure the portal is who filed, in words (the case page's person panel)."""
    if assurance == Assurance.high:
        return _("BankID (high)")
    if assurance == Assurance.staff:
        return _("Customer service, the copy to an address the person proved")
    return _("E-mail (low)")


def _staff_name(db: Session, staff_id: int | None) -> str | None:
    member = db.get(StaffMember, staff_id) if staff_id is not None else None
    return member.name if member is not None else None


def _masked(national_id: str) -> str:
    try:
        return mask_national_id(parse_national_id(national_id))
    except ValueError:
        return "*" * len(national_id)


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


def record_choices(
    stored: StoredPlan | None, language: str, labels: RecordLabels | None = None
) -> tuple[RecordChoice, ...]:
    """Every record of the plan, in its order, to put a hold on: as ``labels`` names it (what
    the DPO recognises), else by its table and key."""
    if stored is None:
        return ()
    plan = ErasurePlan.from_dict(stored.plan)
    names = {summary.table: summary.name.get(language, summary.table) for summary in plan.tables}
    found = labels or {}
    return tuple(
        RecordChoice(
            index,
            found.get((step.table, str(step.key)))
            or _record_label(names, step.table, step.key)
            or "",
        )
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
    shown = {name for name in ("extend", "reject", "verify", "merge") if name in allowed}
    shown.add("note")
    if status in OPEN:
        shown.add("assign")
    if request.assignee_id is not None:
        shown.add("unassign")
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
    engine: Engine,
    request_id: int,
    staff_id: int,
    language: str,
    tz: str,
    now: datetime,
    *,
    labels: Callable[[], RecordLabels] | None = None,
    duplicate_window_days: int = DEFAULT_WINDOW_DAYS,
    tables: Mapping[str, str] | None = None,
    protection: Callable[[str], bool] | None = None,
) -> CasePage | None:
    """The case page; the view is audit-logged in the same transaction. ``labels`` reads what
    the plan's records are from the company's databases, and ``protection`` whether a national
    ID's identity is protected, both before the portal's session opens."""
    found_labels = labels() if labels is not None else None
    protected = _protected(engine, request_id, protection)
    with session_scope(engine) as db:
        found = db.get(DataRequest, request_id)
        if found is None:
            return None
        audit_view(db, found, staff_id, now)
        return case_page(
            db,
            found,
            language,
            tz,
            now,
            record_labels=found_labels,
            duplicate_window_days=duplicate_window_days,
            tables=tables,
            viewer_id=staff_id,
            protected=protected,
        )


def _protected(
    engine: Engine, request_id: int, protection: Callable[[str], bool] | None
) -> bool | None:
    """Whether the request's person has a protected identity; None when it cannot be read."""
    if protection is None:
        return False
    with Session(engine) as db:
        found = db.get(DataRequest, request_id)
        subject = db.get(Subject, found.subject_id) if found and found.subject_id else None
        national_id = subject.national_id if subject is not None else None
    if not national_id:
        return False
    try:
        return protection(national_id)
    except SQLAlchemyError:
        logger.warning("case.protection_unreadable request=%s", request_id)
        return None


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
