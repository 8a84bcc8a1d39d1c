"""/me/requests and /me/requests/{id}: the signed-in person's own requests."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from portal.db import session_scope
from portal.i18n import gettext as _
from portal.models import Subject
from portal.views.answers import AnswerBox, answer, answer_box
from portal.views.common import ActionRefused, Done, Refused
from portal.views.exports import RequestExports, request_exports
from portal.views.labels import ACTOR_LABELS, TYPE_LABELS
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
from portal.workflows.letters import LetterFacts, executed_plan, letter_facts
from portal.workflows.requests import (
    MAX_ANSWER,
    Actor,
    DataRequest,
    RequestStatus,
    RequestType,
    TransitionRefused,
    allowed_actions,
    apply,
    history,
)


@dataclass(frozen=True)
class MyRequestsPage:
    """/me/requests: the person's requests, newest first."""

    requests: tuple[RequestRow, ...]


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
    # A completed erasure's outcome letter can be downloaded (LETTER_PATH).
    letter: bool = False
    error: str | None = None
    # Access and portability: the request's exports (exports/_for_request.html).
    exports: RequestExports | None = None
    # While the request waits for the person: the question and the answer form.
    answer: AnswerBox | None = None
    # The recipients of the person's data told of it (art. 19, last sentence).
    recipients_told: tuple[TaskView, ...] = ()

    @property
    def letter_href(self) -> str:
        return LETTER_PATH.format(id=self.request.id)


LETTER_PATH = "/me/requests/{id}/letter.pdf"
ANSWER_PATH = "/me/requests/{id}/answer"


def my_requests(
    db: Session, subject_id: int, language: str, tz: str, now: datetime
) -> MyRequestsPage:
    rows = db.exec(
        select(DataRequest)
        .where(DataRequest.subject_id == subject_id)
        .order_by(col(DataRequest.received_at).desc(), col(DataRequest.id).desc())
    )
    return MyRequestsPage(
        tuple(request_row(item, language, tz, now, f"/me/requests/{item.id}") for item in rows)
    )


def own_request(db: Session, subject_id: int, request_id: int) -> DataRequest | None:
    """The request if it is the person's own; None both when it is missing and when it is
    someone else's, so the answer (404) never tells whether an id exists."""
    found = db.get(DataRequest, request_id)
    if found is None or found.subject_id != subject_id:
        return None
    return found


def my_request_page(
    db: Session,
    request: DataRequest,
    language: str,
    tz: str,
    now: datetime,
    error: str | None = None,
    answer_refused: ActionRefused | None = None,
    answer_value: str = "",
) -> MyRequestPage:
    """The person's request; its days in the controller's time zone ``tz``."""
    kind = RequestType(request.type)
    plan = erasure_service.latest_plan(db, request.id or 0) if kind == RequestType.erasure else None
    return MyRequestPage(
        request=request_row(request, language, tz, now, f"/me/requests/{request.id}"),
        type_label=str(TYPE_LABELS[kind]),
        details=request.details,
        extended=request.extended_at is not None,
        extension_reason=request.extension_reason,
        outcome=request.outcome,
        timeline=timeline(history(db, request.id or 0), language, tz, ACTOR_LABELS),
        plan=plan_view(plan, language, RequestStatus(request.status)),
        erasure=kind == RequestType.erasure,
        can_cancel="cancel" in allowed_actions(request, Actor.person),
        letter=executed_plan(db, request) is not None,
        error=error,
        exports=request_exports(db, request, language, tz, now),
        answer=answer_box(
            db,
            request,
            ANSWER_PATH.format(id=request.id),
            value=answer_value,
            error=answer_refused.message if answer_refused else None,
        ),
        recipients_told=task_views(db, request.id or 0, language, tz),
    )


def cancel_own(db: Session, request: DataRequest, subject_id: int, now: datetime) -> None:
    try:
        apply(db, request, "cancel", actor=Actor.person, actor_id=subject_id, now=now)
    except TransitionRefused as exc:
        raise ActionRefused(str(exc)) from exc


# --- units of work, as the routes call them (in a thread: they block) ------------------------


def load_my_requests(
    engine: Engine, subject_id: int, language: str, tz: str, now: datetime
) -> MyRequestsPage:
    with session_scope(engine) as db:
        return my_requests(db, subject_id, language, tz, now)


def load_my_request(
    engine: Engine, subject_id: int, request_id: int, language: str, tz: str, now: datetime
) -> MyRequestPage | None:
    with session_scope(engine) as db:
        found = own_request(db, subject_id, request_id)
        return my_request_page(db, found, language, tz, now) if found else None


def load_my_letter(engine: Engine, subject_id: int, request_id: int) -> LetterFacts | None:
    """The outcome letter of the person's own completed erasure request; None when the request
    is not theirs or has no letter (the route answers 404 either way)."""
    with session_scope(engine) as db:
        found = own_request(db, subject_id, request_id)
        subject = db.get(Subject, subject_id)
        if found is None or subject is None:
            return None
        # The name comes from this session's BankID sign-in (sign-in stores it again).
        return letter_facts(db, found, subject.display_name)


def cancel_my_request(
    engine: Engine, subject_id: int, request_id: int, language: str, tz: str, now: datetime
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
            page = my_request_page(db, found, language, tz, now, refused.message)
            return Refused(page, 409)
    return Done(f"/me/requests/{request_id}", _("Your request is cancelled."))


def answer_my_request(
    engine: Engine,
    subject_id: int,
    request_id: int,
    form: Mapping[str, str],
    language: str,
    tz: str,
    now: datetime,
) -> Done | Refused | None:
    """The person's answer to the DPO's question, all or nothing; a refusal shows the page
    again with the reason and what they wrote."""
    try:
        with session_scope(engine) as db:
            # Locked: a double click answers once, the second sees it answered.
            found = db.get(DataRequest, request_id, with_for_update=True)
            if found is None or found.subject_id != subject_id:
                return None
            answer(db, found, form, subject_id=subject_id, now=now)
    except ActionRefused as refused:
        with session_scope(engine) as db:
            found = own_request(db, subject_id, request_id)
            assert found is not None
            typed = str(form.get("answer", ""))[: MAX_ANSWER + 100]
            page = my_request_page(
                db, found, language, tz, now, answer_refused=refused, answer_value=typed
            )
            return Refused(page, 400 if found.status == RequestStatus.waiting_for_subject else 409)
    return Done(
        f"/me/requests/{request_id}",
        _("Thank you. Your answer is sent, and we go on with your request."),
    )
