"""Recipients told (GDPR art. 19), as pages show them: the case page's section for the DPO, the
list the person sees on their request's page (art. 19, last sentence), and the pages a
recipient's link opens (the task, and its confirmation).

The DPO sees, per task, what identifies the person to the recipient while the task is open (to
tell a recipient without an address another way); the person and the recipient's link page see
who was told what and when, never that.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, select

from portal.datamap.model import Controller
from portal.i18n import gettext as _
from portal.i18n import lazy_gettext as _l
from portal.jobs.outbox import OutboxMessage
from portal.models import StaffMember
from portal.settings import Settings
from portal.views.common import Done, day, moment
from portal.workflows import recipients
from portal.workflows.recipients import IDENTIFIER_WORDS, RecipientTask, TaskAction

# What the recipient was asked to do, as a person reads it.
ACTION_LABELS = {
    TaskAction.erasure: _l("Erase"),
    TaskAction.rectification: _l("Correct"),
    TaskAction.restriction: _l("Restrict"),
}
DONE_PATH = "/recipients/task/done"
# The DPO records a confirmation here (POST, with a note saying how).
RECORD_PATH = "/dpo/requests/{id}/recipients/{task}"


@dataclass(frozen=True)
class TaskView:
    """One recipient told: who, what it was asked to do with which categories of data, when
    it was told (``told`` None: no e-mail went, the DPO tells them another way), and when and
    by whom it confirmed. ``records`` and ``identifiers``: what identifies the person to the
    recipient, for the DPO only and only while the task is open."""

    id: int
    recipient: str
    action: str
    categories: str
    told: str | None
    by_email: bool
    confirmed: str | None
    confirmed_by: str | None
    note: str | None = None
    records: tuple[str, ...] = ()
    more_records: int = 0
    identifiers: tuple[tuple[str, str], ...] = ()
    record_href: str | None = None

    @property
    def open(self) -> bool:
        return self.confirmed is None


def task_views(
    db: Session, request_id: int, language: str, tz: str, *, for_dpo: bool = False
) -> tuple[TaskView, ...]:
    """The request's tasks, oldest first, as the DPO (``for_dpo``) or the person sees them."""
    tasks = recipients.tasks_of(db, request_id)
    sent = _sent_at(db, [task.message_id for task in tasks if task.message_id is not None])
    staff = _staff_names(db, tasks) if for_dpo else {}
    return tuple(_view(task, sent, staff, language, tz, for_dpo) for task in tasks)


def _view(
    task: RecipientTask,
    sent: Mapping[int, datetime],
    staff: Mapping[int, str],
    language: str,
    tz: str,
    for_dpo: bool,
) -> TaskView:
    # Without an address the DPO told them another way: the day it was recorded.
    told_at = sent.get(task.message_id or 0) or (task.confirmed_at if not task.email else None)
    by_staff = recipients.confirmed_by_staff(task)
    if task.confirmed_at is None:
        by = None
    elif by_staff is None:
        by = _("the recipient, by its link")
    elif for_dpo:
        by = staff.get(by_staff) or _("the data protection officer")
    else:
        by = _("the data protection officer")
    reference = (task.reference or {}) if for_dpo and task.open else {}
    return TaskView(
        id=task.id or 0,
        recipient=task.recipient_name,
        action=str(ACTION_LABELS[TaskAction(task.action)]),
        categories=", ".join(task.categories.get(language, [])),
        told=day(told_at, language, tz) if told_at is not None else None,
        by_email=task.email is not None,
        confirmed=moment(task.confirmed_at, language, tz) if task.confirmed_at else None,
        confirmed_by=by,
        note=task.note if for_dpo else None,
        # Tasks made before the records were kept in every language show the recipient's.
        records=tuple(
            reference.get("records_in", {}).get(language) or reference.get("records", ())
        ),
        more_records=int(reference.get("more_records", 0)),
        identifiers=tuple(
            (str(IDENTIFIER_WORDS.get(kind, kind)), value)
            for kind, value in reference.get("identifiers", ())
        ),
        record_href=RECORD_PATH.format(id=task.request_id, task=task.id) if for_dpo else None,
    )


def _sent_at(db: Session, message_ids: list[int]) -> dict[int, datetime]:
    if not message_ids:
        return {}
    rows = db.exec(
        select(OutboxMessage.id, OutboxMessage.sent_at).where(
            col(OutboxMessage.id).in_(message_ids), col(OutboxMessage.sent_at).is_not(None)
        )
    )
    return {message_id or 0: sent for message_id, sent in rows if sent is not None}


def _staff_names(db: Session, tasks: list[RecipientTask]) -> dict[int, str]:
    ids = {recipients.confirmed_by_staff(task) for task in tasks} - {None}
    if not ids:
        return {}
    found = db.exec(select(StaffMember).where(col(StaffMember.id).in_(ids)))
    return {member.id or 0: member.name for member in found if member.name}


# --- the recipient's link ------------------------------------------------------------------------


@dataclass(frozen=True)
class TaskPage:
    """recipients/task.html: what a recipient's link confirms, and its button (the link's
    token goes back in the form). Names the recipient, the action and the categories, never
    the person: whoever holds the link learns nothing about them."""

    recipient: str
    action: str
    categories: str
    request_id: int
    controller: str
    token: str
    language: str
    max_note: int = recipients.MAX_NOTE


def task_page(
    db: Session, token: str, *, now: datetime, settings: Settings, controller: Controller
) -> TaskPage:
    """LinkRefused for a link that will confirm nothing."""
    task = recipients.task_of_link(db, token, now=now, settings=settings)
    return TaskPage(
        recipient=task.recipient_name,
        action=str(ACTION_LABELS[TaskAction(task.action)]),
        categories=", ".join(task.categories.get(task.language, [])),
        request_id=task.request_id,
        controller=controller.name,
        token=token,
        language=task.language,
    )


def confirm_task(db: Session, token: str, note: str, *, now: datetime, settings: Settings) -> Done:
    """Confirm (LinkRefused: nothing done); on to the thank-you page."""
    recipients.confirm_by_link(db, token, note[: recipients.MAX_NOTE], now=now, settings=settings)
    return Done(DONE_PATH, _("Thank you. We have recorded that it is done."))


@dataclass(frozen=True)
class RefusedTaskPage:
    """recipients/refused.html: why a recipient's link did nothing (``reason``: a
    links.Refusal value), and whom to ask instead."""

    reason: str
    contact: str
    status: int
