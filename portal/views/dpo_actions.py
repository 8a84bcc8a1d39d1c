"""The DPO's forms on a case page: approve, holds, re-plan, extend, reject, verify, outcome, ask
the person for more information and record their answer, internal notes, merging a duplicate.

Each form posts to /dpo/requests/{id}/{action}; `act_on_case` runs it all or nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session

from portal.audit import AuditActor, record
from portal.datamap import DataMap
from portal.db import session_scope
from portal.exports.models import ExportStatus
from portal.exports.service import ExportRuntime, export_for_filed_request
from portal.i18n import gettext as _
from portal.views.common import ActionRefused, Done, Refused
from portal.views.dpo_case import OUTCOME_TYPES, audit_view, case_page
from portal.workflows import (
    assignment,
    attention,
    duplicates,
    email_requests,
    erasure_service,
    holds,
    notes,
    recipients,
)
from portal.workflows.duplicates import DEFAULT_WINDOW_DAYS
from portal.workflows.erasure import ErasurePlan
from portal.workflows.records import CaseHoldRecord, StoredPlan
from portal.workflows.requests import (
    MAX_EXTENSION_MONTHS,
    Actor,
    DataRequest,
    RequestStatus,
    RequestType,
    TransitionRefused,
    apply,
)


@dataclass(frozen=True)
class Runtime:
    """What the DPO's actions need from the app besides the database; ``exports`` makes the
    copy a verified request filed without BankID asks for."""

    datamap: DataMap
    sources: Mapping[str, Engine]
    now: datetime
    exports: ExportRuntime | None = None
    duplicate_window_days: int = DEFAULT_WINDOW_DAYS


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
    """The route's unit of work: one form, all or nothing (a refusal rolls every change back
    and shows the case page again with the reason and what was typed)."""
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
            tz = runtime.datamap.controller.time_zone
            page = case_page(
                db,
                found,
                language,
                tz,
                runtime.now,
                error=refused,
                values=typed,
                duplicate_window_days=runtime.duplicate_window_days,
                tables=recipients.recipient_tables(runtime.datamap, language),
                viewer_id=staff_id,
            )
            return Refused(page, 409 if not refused.errors else 400)
    if action == "verify":
        message = _deliver(engine, request_id, runtime) or message
    return Done(location, message)


def _deliver(engine: Engine, request_id: int, runtime: Runtime) -> str | None:
    """Once a request filed without BankID is verified, an access or portability request gets
    its copy (its download links are e-mailed when it is ready: exports.service.finish)."""
    with session_scope(engine) as db:
        request = db.get(DataRequest, request_id)
        if request is None or request.subject_id is None or runtime.exports is None:
            return None
        subject_id, language = request.subject_id, request.language
    export = export_for_filed_request(
        engine,
        request_id,
        subject_id=subject_id,
        rt=runtime.exports,
        now=runtime.now,
        language=language,
    )
    if export is None:
        return None
    if export.status == ExportStatus.ready:
        return _("The person is verified. Their copy is made, and the download links are sent.")
    return _(
        "The person is verified. Their copy is being made; the download links are sent when "
        "it is ready."
    )


# --- reading the form ---------------------------------------------------------------------------


def _text(form: Mapping[str, str], name: str) -> str:
    return str(form.get(name, "")).strip()


# A reason, an outcome or a hold's grounds: a paragraph or two, not a document.
MAX_REASON = 2000


def _reason(form: Mapping[str, str], name: str = "reason") -> str:
    reason = _text(form, name)
    if not reason:
        raise ActionRefused(_("Please give a reason."), {name: _("Please give a reason.")})
    if len(reason) > MAX_REASON:
        message = _("Please keep this under %(count)d characters.", count=MAX_REASON)
        raise ActionRefused(message, {name: message})
    return reason


def _int(form: Mapping[str, str], name: str, message: str) -> int:
    try:
        return int(_text(form, name))
    except ValueError:
        raise ActionRefused(message, {name: message}) from None


# --- the actions --------------------------------------------------------------------------------


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
            now=runtime.now,
            actor=Actor.dpo,
            actor_id=staff_id,
        )


def _replan_person(db: Session, subject_id: int, staff_id: int, rt: Runtime) -> None:
    """A hold set or released: every open erasure of the person is planned again (this
    request's among them), as on the holds page."""
    sources = holds.Sources(rt.datamap, rt.sources)
    holds.replan_open_erasures(db, subject_id, staff_id=staff_id, now=rt.now, sources=sources)


def _approve(
    db: Session, request: DataRequest, form: Mapping[str, str], staff_id: int, rt: Runtime
) -> str:
    plan_id = _int(form, "plan_id", _("There is no such plan."))
    stored = db.get(StoredPlan, plan_id)
    if stored is None or stored.request_id != request.id:
        raise ActionRefused(_("There is no such plan."))
    erasure_service.approve_plan(db, plan_id, staff_id=staff_id, now=rt.now)
    return _("The plan is approved. The erasure will be carried out shortly.")


def _review_date(form: Mapping[str, str]) -> date | None:
    if not _text(form, "review_at"):
        return None
    try:
        return date.fromisoformat(_text(form, "review_at"))
    except ValueError:
        message = _("Give the review date as a date (YYYY-MM-DD).")
        raise ActionRefused(message, {"review_at": message}) from None


def _hold(
    db: Session, request: DataRequest, form: Mapping[str, str], staff_id: int, rt: Runtime
) -> str:
    """A case hold on the person: every record found for them is kept."""
    _set_hold(db, _subject_of(request), request, form, staff_id, rt, scope="person")
    return _("The hold is set, and the erasure plan was made again.")


def _record_hold(
    db: Session, request: DataRequest, form: Mapping[str, str], staff_id: int, rt: Runtime
) -> str:
    """A case hold on one record of the latest plan (and the records under it), picked by its
    place in the plan: the form never carries a key the plan does not hold."""
    subject_id = _subject_of(request)
    message = _("Choose a record of the plan.")
    stored = erasure_service.latest_plan(db, request.id or 0)
    if stored is None or str(stored.id) != _text(form, "plan_id"):
        raise ActionRefused(_("The plan has changed since the page was loaded. Try again."))
    steps = ErasurePlan.from_dict(stored.plan).steps
    index = _int(form, "record", message)
    if not 0 <= index < len(steps):
        raise ActionRefused(message, {"record": message})
    step = steps[index]
    where = {"scope": "record", "table_name": step.table, "row_key": step.key}
    _set_hold(db, subject_id, request, form, staff_id, rt, **where)
    return _("The hold on the record is set, and the erasure plan was made again.")


def _subject_of(request: DataRequest) -> int:
    if request.subject_id is None:
        raise ActionRefused(_("There is no such person."))
    return request.subject_id


def _set_hold(
    db: Session,
    subject_id: int,
    request: DataRequest,
    form: Mapping[str, str],
    staff_id: int,
    rt: Runtime,
    **where: Any,
) -> None:
    """A case hold from the form's kind, reason and review date, on what ``where`` names (the
    person, or one record); then the plan is made again."""
    erasure_service.set_case_hold(
        db,
        subject_id=subject_id,
        kind=_text(form, "kind"),
        reason=_reason(form),
        review_at=_review_date(form),
        staff_id=staff_id,
        now=rt.now,
        datamap=rt.datamap,
        request_id=request.id,
        **where,
    )
    _replan_person(db, subject_id, staff_id, rt)


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
    _replan_person(db, hold.subject_id, staff_id, rt)
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
    """How the DPO verified the person (required), and for a request filed without BankID the
    person's national identity number, which ties the request to them."""
    try:
        email_requests.verify_identity(
            db,
            request,
            staff_id=staff_id,
            how=_text(form, "how"),
            national_id=_text(form, "national_id"),
            now=rt.now,
        )
    except email_requests.VerificationRefused as refused:
        errors = {refused.field: str(refused)} if refused.field else {}
        raise ActionRefused(str(refused), errors) from refused
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
    told = _tell_recipients(db, request, form, staff_id, rt)
    if told:
        return _(
            "The outcome is recorded and the request is completed. The recipients of the data "
            "are told (see Recipients told)."
        )
    return _("The outcome is recorded and the request is completed.")


def _tell_recipients(
    db: Session, request: DataRequest, form: Mapping[str, str], staff_id: int, rt: Runtime
) -> int:
    """Art. 19: a restriction tells the recipients of all the person's data; a rectification
    those of the tables the DPO ticked as corrected (``table_<name>``)."""
    if request.type == RequestType.restriction:
        tables = None
        action = recipients.TaskAction.restriction
    elif request.type == RequestType.rectification:
        tables = [
            key[6:] for key in form if key.startswith("table_") and key[6:] in rt.datamap.tables
        ]
        action = recipients.TaskAction.rectification
        if not tables:
            return 0
    else:
        return 0
    made = recipients.tell_about_request(
        db,
        request,
        action,
        datamap=rt.datamap,
        sources=rt.sources,
        now=rt.now,
        tables=tables,
        staff_id=staff_id,
    )
    return len(made)


def _recipient_done(
    db: Session, request: DataRequest, form: Mapping[str, str], staff_id: int, rt: Runtime
) -> str:
    """The DPO records that a recipient did what it was asked (told another way)."""
    task_id = _int(form, "task_id", _("There is no such task."))
    task = db.get(recipients.RecipientTask, task_id)
    if task is None or task.request_id != request.id:
        raise ActionRefused(_("There is no such task."))
    try:
        recipients.record_by_dpo(db, task, staff_id=staff_id, note=_text(form, "note"), now=rt.now)
    except recipients.TaskRefused as refused:
        raise ActionRefused(str(refused), {"note": str(refused)}) from refused
    return _("The confirmation is recorded.")


# A question to the person is e-mailed as it is typed: at most this long.
MAX_QUESTION = 2000


def _ask(
    db: Session, request: DataRequest, form: Mapping[str, str], staff_id: int, rt: Runtime
) -> str:
    """Ask the person for more information: the request waits for them (its deadline paused
    until they answer, workflows/requests.py) and the question is e-mailed to them
    (``more_info``, portal/workflows/notices.py; a request filed without BankID at its
    confirmed address). Audit-logged without the question, which is in the request's
    history."""
    question = _text(form, "question")
    if not question:
        message = _("Write the question the person is to answer.")
        raise ActionRefused(message, {"question": message})
    if len(question) > MAX_QUESTION:
        message = _("Please keep this under %(count)d characters.", count=MAX_QUESTION)
        raise ActionRefused(message, {"question": message})
    apply(
        db, request, "ask_subject", actor=Actor.dpo, actor_id=staff_id, reason=question, now=rt.now
    )
    _audit(db, request, staff_id, "request.ask_subject", rt.now)
    return _("The question is sent to the person. The request waits for their answer.")


def _answered(
    db: Session, request: DataRequest, form: Mapping[str, str], staff_id: int, rt: Runtime
) -> str:
    """The person has answered (by e-mail, on the phone): the request goes on from where it
    was when they were asked (a request not yet verified is still to be verified), its
    deadline moved on by the time waited."""
    note = _text(form, "note")[:MAX_QUESTION] or None
    apply(
        db, request, "subject_replied", actor=Actor.dpo, actor_id=staff_id, reason=note, now=rt.now
    )
    _audit(db, request, staff_id, "request.subject_replied", rt.now)
    return _("The answer is recorded, and the request goes on.")


def _note(
    db: Session, request: DataRequest, form: Mapping[str, str], staff_id: int, rt: Runtime
) -> str:
    """An internal note (staff only; audit-logged without its text)."""
    try:
        notes.add_note(
            db,
            request.id or 0,
            request.subject_id,
            _text(form, "text"),
            staff_id=staff_id,
            now=rt.now,
        )
    except notes.NoteRefused as refused:
        raise ActionRefused(str(refused), {"text": str(refused)}) from refused
    return _("The note is added.")


def _merge(
    db: Session, request: DataRequest, form: Mapping[str, str], staff_id: int, rt: Runtime
) -> str:
    """Close this request as a duplicate of the one chosen; the person is told."""
    message = _("Choose one of the requests this one may repeat.")
    kept = duplicates.merge(
        db,
        request,
        _int(form, "into", message),
        reason=_text(form, "reason")[:MAX_QUESTION],
        staff_id=staff_id,
        window_days=rt.duplicate_window_days,
        now=rt.now,
    )
    return _(
        "The request is closed as a repeat of request %(id)d. The person is told.", id=kept.id or 0
    )


def _audit(db: Session, request: DataRequest, staff_id: int, action: str, now: datetime) -> None:
    record(
        db,
        actor=AuditActor.staff,
        actor_id=staff_id,
        action=action,
        subject_id=request.subject_id,
        details={"request_id": request.id},
        now=now,
    )


def _run_again(
    db: Session, request: DataRequest, form: Mapping[str, str], staff_id: int, rt: Runtime
) -> str:
    attention.run_request_again(
        db, request, staff_id=staff_id, now=rt.now, datamap=rt.datamap, sources=rt.sources
    )
    return _("The work runs again. If it stops again, this page says why.")


Handler = Callable[[Session, DataRequest, Mapping[str, str], int, Runtime], str]


def _assign(
    db: Session, request: DataRequest, form: Mapping[str, str], staff_id: int, rt: Runtime
) -> str:
    """The case page's "Assign to me" (the queue assigns to others, and many at once)."""
    assignment.assign(db, [request.id or 0], staff_id, staff_id=staff_id, now=rt.now)
    return _("The request is assigned to you.")


def _unassign(
    db: Session, request: DataRequest, form: Mapping[str, str], staff_id: int, rt: Runtime
) -> str:
    assignment.assign(db, [request.id or 0], None, staff_id=staff_id, now=rt.now)
    return _("The request is no longer assigned to anyone.")


_HANDLERS: dict[str, Handler] = {
    "approve": _approve,
    "hold": _hold,
    "record_hold": _record_hold,
    "release": _release,
    "replan": _replan_action,
    "extend": _extend,
    "reject": _reject,
    "verify": _verify,
    "outcome": _outcome,
    "run_again": _run_again,
    "ask": _ask,
    "answered": _answered,
    "note": _note,
    "merge": _merge,
    "recipient": _recipient_done,
    "assign": _assign,
    "unassign": _unassign,
}
