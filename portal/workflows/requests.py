"""Data-subject requests and the one state machine every request type follows.

A request is filed by a person (or by staff on their behalf), gets a deadline of one month from
receipt (GDPR art. 12(3)), and moves through the states below. Every change is a
`RequestEvent` with who, when and why; nothing changes a request's status except `apply`, which
refuses a transition the table does not allow and then changes nothing.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import JSON, Column, String, Text, update
from sqlmodel import Field, Session, SQLModel, col, select

from portal.audit import AuditActor, record
from portal.db import utcnow
from portal.i18n import gettext as _
from portal.i18n import lazy_gettext as _l
from portal.models import Assurance, Subject
from portal.workflows import notices
from portal.workflows.contacts import RequestContact


class RequestType(StrEnum):
    access = "access"  # art. 15: see the data and get a copy
    portability = "portability"  # art. 20: the data the person gave us, machine-readable
    erasure = "erasure"  # art. 17
    rectification = "rectification"  # art. 16: the person says what is wrong
    restriction = "restriction"  # art. 18: stop using the data while something is checked
    objection = "objection"  # art. 21: direct marketing objections are absolute (21(3))


class RequestStatus(StrEnum):
    # Filed, but the person is not yet identified well enough (an e-mail link request).
    received = "received"
    # The person is identified (BankID at once; otherwise a DPO verified them).
    verified = "verified"
    # An erasure plan waits for the DPO's approval.
    awaiting_approval = "awaiting_approval"
    # The work is being done (an export built, a plan executed); it can no longer be cancelled.
    in_progress = "in_progress"
    # We asked the person something and wait for their answer; the deadline is paused meanwhile
    # (`DataRequest.paused_at`) and moved on by the time waited when they answer.
    waiting_for_subject = "waiting_for_subject"
    completed = "completed"
    # Done, but some data was kept (e.g. erasure with legal holds); the outcome says what and why.
    partially_completed = "partially_completed"
    # Refused: manifestly unfounded or excessive (art. 12(5)), with the reason given.
    rejected = "rejected"
    cancelled = "cancelled"


OPEN = frozenset(
    {
        RequestStatus.received,
        RequestStatus.verified,
        RequestStatus.awaiting_approval,
        RequestStatus.in_progress,
        RequestStatus.waiting_for_subject,
    }
)
CLOSED = frozenset(set(RequestStatus) - OPEN)


class Actor(StrEnum):
    person = "person"
    staff = "staff"
    dpo = "dpo"
    system = "system"


class DataRequest(SQLModel, table=True):
    __tablename__ = "data_request"

    id: int | None = Field(default=None, primary_key=True)
    subject_id: int | None = Field(default=None, foreign_key="subject.id", index=True)
    type: RequestType = Field(sa_type=String(20))
    status: RequestStatus = Field(sa_type=String(30), index=True)
    assurance: Assurance = Field(sa_type=String(10))
    received_at: datetime = Field(default_factory=utcnow)
    due_at: datetime
    # Art. 12(3): extended once, by up to two months, with the reason told to the person.
    extended_at: datetime | None = None
    extension_reason: str | None = Field(default=None, sa_type=Text)
    # What the person wrote (rectification: what is wrong; objection: which processing).
    details: str | None = Field(default=None, sa_type=Text)
    # What was done, in words the person reads (rectification outcome, rejection reason).
    outcome: str | None = Field(default=None, sa_type=Text)
    language: str = Field(default="nb", max_length=5)
    closed_at: datetime | None = None
    # "Needs attention": a step of the request (an erasure, an export) failed for good. Why, in
    # words without personal data (the job's error), since when, and the job the DPO can run
    # again once the cause is fixed; cleared when they do (workflows/attention.py).
    attention: str | None = Field(default=None, sa_type=Text)
    attention_at: datetime | None = None
    attention_job_id: int | None = None
    # Waiting for the person's answer (``ask_subject``) pauses the deadline: since when, and
    # every pause that has ended, in seconds; the answer moves ``due_at`` on by its wait.
    paused_at: datetime | None = None
    paused_seconds: int = Field(default=0)
    # The member of staff working the request (the DPO's queue); None: nobody yet. Changed
    # only by workflows/assignment.py, which records an event and an audit entry.
    assignee_id: int | None = Field(
        default=None, foreign_key="staff_member.id", index=True, ondelete="SET NULL"
    )

    @property
    def paused(self) -> bool:
        return self.paused_at is not None


class RequestEvent(SQLModel, table=True):
    """One change of a request: append-only, the request's history and evidence."""

    __tablename__ = "request_event"

    id: int | None = Field(default=None, primary_key=True)
    request_id: int = Field(foreign_key="data_request.id", index=True)
    at: datetime = Field(default_factory=utcnow)
    action: str = Field(max_length=40)
    from_status: str | None = Field(default=None, max_length=30)
    to_status: str = Field(max_length=30)
    actor: Actor = Field(sa_type=String(10))
    actor_id: int | None = None
    reason: str | None = Field(default=None, sa_type=Text)
    data: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class TransitionRefused(Exception):
    """The action is not allowed now; the message says why in plain words."""


class DuplicateRequest(TransitionRefused):
    """The person already has an open request of the same type (`open_request_id`): it is
    handled first. Nothing was written."""

    def __init__(self, message: str, open_request_id: int) -> None:
        super().__init__(message)
        self.open_request_id = open_request_id


@dataclass(frozen=True)
class Transition:
    sources: frozenset[RequestStatus]
    target: RequestStatus | None  # None: the status stays (e.g. an extension)
    actors: frozenset[Actor]
    needs_reason: bool = False


S = RequestStatus
A = Actor
_STAFF = frozenset({A.staff, A.dpo})

# The whole machine. Reading down a column of this table answers "what may happen now?".
TRANSITIONS: dict[str, Transition] = {
    "verify": Transition(frozenset({S.received}), S.verified, frozenset({A.dpo, A.system})),
    "submit_plan": Transition(
        frozenset({S.verified}), S.awaiting_approval, frozenset({A.system, A.dpo})
    ),
    "approve": Transition(frozenset({S.awaiting_approval}), S.in_progress, frozenset({A.dpo})),
    "start": Transition(
        frozenset({S.verified, S.awaiting_approval}), S.in_progress, _STAFF | {A.system}
    ),
    # Asked while still received (filed without BankID, not yet verified): something that shows
    # who the person is. The answer then brings it back to received, never past verification.
    "ask_subject": Transition(
        frozenset({S.received, S.verified, S.in_progress}),
        S.waiting_for_subject,
        _STAFF,
        needs_reason=True,
    ),
    "subject_replied": Transition(
        frozenset({S.waiting_for_subject}), S.verified, frozenset({A.person, A.staff, A.dpo})
    ),
    "complete": Transition(frozenset({S.in_progress}), S.completed, _STAFF | {A.system}),
    "complete_partially": Transition(
        frozenset({S.in_progress}), S.partially_completed, _STAFF | {A.system}, needs_reason=True
    ),
    "reject": Transition(
        frozenset({S.received, S.verified, S.awaiting_approval, S.waiting_for_subject}),
        S.rejected,
        frozenset({A.dpo}),
        needs_reason=True,
    ),
    # A request that has started executing cannot be cancelled: its effects are under way.
    "cancel": Transition(
        frozenset({S.received, S.verified, S.awaiting_approval, S.waiting_for_subject}),
        S.cancelled,
        frozenset({A.person, A.dpo}),
    ),
    # A duplicate closed into the request it repeats (workflows/duplicates.py): the DPO's
    # choice, told to the person; the event's data names the request kept.
    "merge": Transition(
        frozenset({S.received, S.verified, S.awaiting_approval, S.waiting_for_subject}),
        S.cancelled,
        frozenset({A.dpo}),
    ),
    "extend": Transition(frozenset(OPEN), None, frozenset({A.dpo}), needs_reason=True),
}

MAX_EXTENSION_MONTHS = 2


def add_months(moment: datetime, months: int) -> datetime:
    """The same day `months` later, or the month's last day (31 January + 1 month = 28/29 Feb)."""
    month_index = moment.month - 1 + months
    year, month = moment.year + month_index // 12, month_index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def file_request(
    db: Session,
    *,
    subject_id: int | None,
    type: RequestType,
    assurance: Assurance,
    actor: Actor,
    actor_id: int | None = None,
    details: str | None = None,
    language: str = "nb",
    contact: RequestContact | None = None,
    now: datetime,
) -> DataRequest:
    """A new request, due one month from receipt; identified at once when filed with BankID.

    Refused (`DuplicateRequest`, nothing written) while the person has an open request of the
    same type: a second erasure beside one under way would plan the same rows twice.

    The person is told it was received (a request filed without BankID is told when its
    address is confirmed, portal/workflows/email_requests.py), and the DPO's mailbox that it
    came (portal/workflows/notices.py), in the same transaction. ``contact``: the address
    the request's messages go to, when it is not the person's account (customer service filing
    on a caller's behalf, portal/exports/on_behalf.py); saved before the person is told."""
    if subject_id is not None:
        _lock_person(db, subject_id)
        already = open_request_of(db, subject_id, type)
        if already is not None:
            raise DuplicateRequest(
                _(
                    "You already have an open request of this kind (number %(id)d). Follow it "
                    "on its page; you can send a new one when it is closed.",
                    id=already.id or 0,
                ),
                already.id or 0,
            )
    # An e-mail link (low) needs a DPO to verify the person before any data leaves. Customer
    # service files for a caller ("staff") only with an address the person proved: what the
    # request sends goes there alone (portal/exports/on_behalf.py).
    status = S.received if assurance == Assurance.low else S.verified
    request = DataRequest(
        subject_id=subject_id,
        type=type,
        status=status,
        assurance=assurance,
        received_at=now,
        due_at=add_months(now, 1),
        details=details,
        language=language,
    )
    db.add(request)
    db.flush()
    if contact is not None:
        contact.request_id = request.id or 0
        db.add(contact)
        db.flush()
    _record(db, request, "file", None, actor, actor_id, None, now, {"type": str(type)})
    notices.request_filed(db, request, now=now, by_staff=assurance == Assurance.staff)
    return request


def open_request_of(db: Session, subject_id: int, type: RequestType) -> DataRequest | None:
    """The person's oldest request of this type that is still open (any status in OPEN:
    received, verified, awaiting approval, in progress, waiting for them), or None."""
    return db.exec(
        select(DataRequest)
        .where(
            DataRequest.subject_id == subject_id,
            DataRequest.type == type,
            col(DataRequest.status).in_([str(status) for status in OPEN]),
        )
        .order_by(col(DataRequest.received_at), col(DataRequest.id))
        .limit(1)
    ).first()


def open_requests(db: Session, subject_id: int) -> dict[RequestType, int]:
    """The id of the person's open request of each type that has one."""
    found: dict[RequestType, int] = {}
    for kind, request_id in db.exec(
        select(DataRequest.type, DataRequest.id)
        .where(
            DataRequest.subject_id == subject_id,
            col(DataRequest.status).in_([str(status) for status in OPEN]),
        )
        .order_by(col(DataRequest.received_at), col(DataRequest.id))
    ):
        found.setdefault(RequestType(kind), request_id or 0)
    return found


def _lock_person(db: Session, subject_id: int) -> None:
    # Two filings at once (a double click) must not both pass the check for an open request.
    # A no-op UPDATE takes the person's row lock on PostgreSQL and the write lock on SQLite
    # (which ignores FOR UPDATE), held until the filing commits; the other waits, then sees it.
    db.execute(update(Subject).where(col(Subject.id) == subject_id).values(country=Subject.country))


def apply(
    db: Session,
    request: DataRequest,
    action: str,
    *,
    actor: Actor,
    actor_id: int | None = None,
    reason: str | None = None,
    now: datetime,
    data: dict | None = None,
    notify: bool = True,
) -> RequestEvent:
    """Carry out one action of the machine, or refuse it and change nothing.

    An action the person must hear about (a question, an extension, a completion, a rejection)
    queues their message in the same transaction, unless `notify` is off: the caller then
    tells them its own way (an erasure's outcome letter, an export's "ready" message)."""
    transition = TRANSITIONS.get(action)
    if transition is None:
        raise TransitionRefused(_("There is no such action."))
    if request.status not in transition.sources:
        raise TransitionRefused(
            _(
                "A request that is %(status)s cannot be %(action)s.",
                status=STATUS_LABELS[RequestStatus(request.status)],
                action=ACTION_LABELS[action],
            )
        )
    if actor not in transition.actors:
        raise TransitionRefused(_("You are not allowed to do that with this request."))
    if transition.needs_reason and not (reason and reason.strip()):
        raise TransitionRefused(_("Please give a reason."))
    if action == "extend":
        _extend(request, reason or "", now, months=(data or {}).get("months", 2))
    data = dict(data or {})
    if action == "ask_subject":
        request.paused_at = now
    elif request.paused_at is not None and transition.target is not None:
        # Leaving "waiting for the person" (an extension meanwhile keeps it paused).
        data.update(_resume(request, now, moves_deadline=action == "subject_replied"))
    previous = request.status
    target = transition.target
    if action == "subject_replied" and asked_from(db, request) == S.received:
        target = S.received
    if target is not None:
        request.status = target
        if target in CLOSED:
            request.closed_at = now
        if action in ("reject", "complete_partially") or (action == "complete" and reason):
            request.outcome = reason
    db.add(request)
    event = _record(db, request, action, previous, actor, actor_id, reason, now, data)
    if notify:
        notices.after_action(db, request, action, reason=reason, now=now)
    return event


# The person's answer is stored as they type it: at most this long.
MAX_ANSWER = 4000


def person_answered(
    db: Session,
    request: DataRequest,
    answer: str,
    *,
    subject_id: int | None,
    now: datetime,
    mailbox: str | None = None,
) -> RequestEvent:
    """The person answers the DPO's question on their request's page (``subject_id``: signed in
    with BankID; None: by the request's follow link). The answer is the event's reason, the
    request goes back to where it was asked from and its deadline on by the wait, and the DPO's
    mailbox is told (without the answer). Refused when the request waits for no answer, the
    answer is empty, or longer than MAX_ANSWER."""
    answer = answer.strip()
    if request.status != S.waiting_for_subject:
        raise TransitionRefused(_("This request is not waiting for an answer from you."))
    if not answer:
        raise TransitionRefused(_("Please write your answer."))
    if len(answer) > MAX_ANSWER:
        raise TransitionRefused(_("Please keep this under %(count)d characters.", count=MAX_ANSWER))
    event = apply(
        db, request, "subject_replied", actor=A.person, actor_id=subject_id, reason=answer, now=now
    )
    notices.subject_answered(db, request, now=now, mailbox=mailbox)
    return event


STATUS_LABELS = {
    S.received: _l("received"),
    S.verified: _l("verified"),
    S.awaiting_approval: _l("awaiting approval"),
    S.in_progress: _l("in progress"),
    S.waiting_for_subject: _l("waiting for your answer"),
    S.completed: _l("completed"),
    S.partially_completed: _l("partially completed"),
    S.rejected: _l("rejected"),
    S.cancelled: _l("cancelled"),
}

# Past participles for "a request that is X cannot be Y".
ACTION_LABELS = {
    "verify": _l("verified"),
    "submit_plan": _l("sent for approval"),
    "approve": _l("approved"),
    "start": _l("started"),
    "ask_subject": _l("paused for a question"),
    "subject_replied": _l("resumed"),
    "complete": _l("completed"),
    "complete_partially": _l("completed"),
    "reject": _l("rejected"),
    "cancel": _l("cancelled"),
    "merge": _l("merged"),
    "extend": _l("extended"),
}


def _resume(request: DataRequest, now: datetime, *, moves_deadline: bool) -> dict[str, str | int]:
    """End the pause: the answer moves the deadline on by the time waited (art. 12(3) runs
    while we can act); a request closed while waiting keeps its deadline. What the event
    records: how long it waited and the deadline before and after."""
    assert request.paused_at is not None
    waited = max(now - request.paused_at, timedelta(0))
    before = request.due_at
    request.paused_at = None
    if not moves_deadline:
        return {}
    request.paused_seconds = (request.paused_seconds or 0) + int(waited.total_seconds())
    request.due_at = before + waited
    return {
        "paused_seconds": int(waited.total_seconds()),
        "due_before": before.isoformat(),
        "due_at": request.due_at.isoformat(),
    }


def _extend(request: DataRequest, reason: str, now: datetime, *, months: int) -> None:
    if request.extended_at is not None:
        raise TransitionRefused(_("The deadline has already been extended once."))
    if not 1 <= int(months) <= MAX_EXTENSION_MONTHS:
        raise TransitionRefused(_("The deadline can be extended by one or two months."))
    # Art. 12(3): the person must be told of the extension within the first month.
    paused = now - request.paused_at if request.paused_at is not None else timedelta(0)
    if now > request.due_at + paused:
        raise TransitionRefused(_("The deadline has passed; it can no longer be extended."))
    request.due_at = add_months(request.due_at, int(months))
    request.extended_at = now
    request.extension_reason = reason


def _record(
    db: Session,
    request: DataRequest,
    action: str,
    previous: RequestStatus | None,
    actor: Actor,
    actor_id: int | None,
    reason: str | None,
    now: datetime,
    data: dict,
) -> RequestEvent:
    event = RequestEvent(
        request_id=request.id,
        at=now,
        action=action,
        from_status=str(previous) if previous else None,
        to_status=str(request.status),
        actor=actor,
        actor_id=actor_id,
        reason=reason,
        data=data,
    )
    db.add(event)
    db.flush()
    return event


def record_event(
    db: Session,
    request: DataRequest,
    action: str,
    *,
    actor: Actor,
    actor_id: int | None,
    now: datetime,
    data: dict | None = None,
) -> RequestEvent:
    """An event that changes nothing of the request but belongs in its history (another
    request merged into it); not an action of the machine."""
    status = request.status
    return _record(db, request, action, status, actor, actor_id, None, now, data or {})


def asked_from(db: Session, request: DataRequest) -> RequestStatus | None:
    """The status a request waiting for its person was in when they were asked (the latest
    ``ask_subject``), or None."""
    found = db.exec(
        select(RequestEvent.from_status)
        .where(RequestEvent.request_id == request.id, RequestEvent.action == "ask_subject")
        .order_by(col(RequestEvent.at).desc(), col(RequestEvent.id).desc())
        .limit(1)
    ).first()
    return RequestStatus(found) if found else None


def history(db: Session, request_id: int) -> list[RequestEvent]:
    return list(
        db.exec(
            select(RequestEvent)
            .where(RequestEvent.request_id == request_id)
            .order_by(RequestEvent.at, RequestEvent.id)
        )
    )


def days_left(request: DataRequest, now: datetime) -> int:
    """Whole days to the deadline; negative when overdue. While the deadline is paused, the
    days it had left when it was paused (it is never overdue while waiting for the person)."""
    since = request.paused_at if request.paused_at is not None else now
    return (request.due_at.date() - min(since, now).date()).days


def allowed_actions(request: DataRequest, actor: Actor) -> list[str]:
    return [
        name
        for name, transition in TRANSITIONS.items()
        if request.status in transition.sources
        and actor in transition.actors
        and not (name == "extend" and request.extended_at is not None)
    ]


def needs_attention(
    db: Session, request_id: int, *, reason: str, job_id: int | None, now: datetime
) -> DataRequest | None:
    """Mark a request "needs attention": a job doing its work was parked (``reason`` is the
    job's error, which holds no personal data). Its status is unchanged: the work is still
    owed, and the deadline runs. Audit-logged; None when there is no such request."""
    request = db.get(DataRequest, request_id, with_for_update=True)
    if request is None:
        return None
    request.attention = reason
    request.attention_at = now
    request.attention_job_id = job_id
    db.add(request)
    record(
        db,
        actor=AuditActor.system,
        actor_id=None,
        action="request.needs_attention",
        subject_id=request.subject_id,
        details={"request_id": request.id, "job_id": job_id, "reason": reason},
        now=now,
    )
    return request
