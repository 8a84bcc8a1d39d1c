"""The person answers the DPO's question on their request's page: /me/requests/{id} (signed in
with BankID) or /requests/{id} (a request filed without BankID, opened by its follow link).

`AnswerBox` is the context of requests/_answer.html, which both pages include while the
request waits for the person: the question, and the form (bounded text, CSRF).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session

from portal.views.common import ActionRefused
from portal.workflows.requests import (
    MAX_ANSWER,
    DataRequest,
    RequestEvent,
    RequestStatus,
    TransitionRefused,
    history,
    person_answered,
)


@dataclass(frozen=True)
class AnswerBox:
    """``action``: where the form posts; ``value`` and ``error``: a refused answer, kept."""

    question: str | None
    action: str
    max_length: int = MAX_ANSWER
    value: str = ""
    error: str | None = None


def answer_box(
    db: Session,
    request: DataRequest,
    action: str,
    *,
    value: str = "",
    error: str | None = None,
) -> AnswerBox | None:
    """The box while the request waits for the person; None otherwise."""
    if request.status != RequestStatus.waiting_for_subject:
        return None
    return AnswerBox(asked_question(history(db, request.id or 0)), action, value=value, error=error)


def asked_question(events: list[RequestEvent]) -> str | None:
    """The latest question the DPO asked (an ``ask_subject`` event's reason), or None."""
    asked = [event for event in events if event.action == "ask_subject"]
    return asked[-1].reason if asked else None


def answer(
    db: Session,
    request: DataRequest,
    form: Mapping[str, str],
    *,
    subject_id: int | None,
    now: datetime,
) -> None:
    """Store the person's answer (workflows.requests.person_answered); ActionRefused, with
    nothing changed, when it is empty, too long, or nothing is asked."""
    try:
        person_answered(db, request, str(form.get("answer", "")), subject_id=subject_id, now=now)
    except TransitionRefused as refused:
        raise ActionRefused(str(refused), {"answer": str(refused)}) from refused
