"""Deadline reminders for the DPO: open requests whose deadline is near, and overdue ones.

A daily periodic job ("requests.deadline_reminders") finds them and enqueues one
"requests.deadline_reminder" job per request and threshold, keyed by the request, the threshold
and the deadline: the job table's dedupe key makes each reminder happen once, with no extra
column (an extended deadline is a new deadline, and gets its own reminders). That job queues an
outbox message to the DPO's mailbox (DPO_EMAIL) naming only the request number and deadline.

Reminders are scheduled only when DPO_EMAIL is set: without a mailbox there is no one to remind,
and the queue at /dpo still flags what is near and overdue.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlmodel import Session, col, select

from portal import i18n
from portal.jobs.outbox import MessageSite, OutboxMessage, queue_message
from portal.jobs.queue import JobContext, enqueue, handler
from portal.settings import dpo_email_from
from portal.workflows.notices import case_url
from portal.workflows.requests import OPEN, DataRequest, days_left

# A reminder when the deadline is this many days away or fewer.
DUE_SOON_DAYS = 7
MESSAGE_KIND = "deadline_reminder"


class Threshold(StrEnum):
    due_soon = "due_soon"
    overdue = "overdue"


class ReminderError(RuntimeError):
    """A reminder cannot be sent; the message names the setting, never personal data."""


def threshold(request: DataRequest, now: datetime, days: int = DUE_SOON_DAYS) -> Threshold | None:
    """Which reminder an open request has earned today, if any: none while its deadline is
    paused (waiting for the person's answer, which moves the deadline on)."""
    if request.paused_at is not None:
        return None
    left = days_left(request, now)
    if left < 0:
        return Threshold.overdue
    return Threshold.due_soon if left <= days else None


def due_reminders(
    db: Session, now: datetime, days: int = DUE_SOON_DAYS
) -> list[tuple[DataRequest, Threshold]]:
    """Open requests due within ``days`` days (whole days, as the queue counts them), or
    overdue, soonest first; not those whose deadline is paused."""
    horizon = now + timedelta(days=days + 1)
    statement = (
        select(DataRequest)
        .where(
            col(DataRequest.status).in_([str(s) for s in OPEN]),
            col(DataRequest.paused_at).is_(None),
            DataRequest.due_at < horizon,
        )
        .order_by(col(DataRequest.due_at), col(DataRequest.id))
    )
    found = []
    for request in db.exec(statement):
        reached = threshold(request, now, days)
        if reached is not None:
            found.append((request, reached))
    return found


def reminder_key(request: DataRequest, reached: Threshold) -> str:
    return f"deadline_reminder:{request.id}:{reached}:{request.due_at.date().isoformat()}"


def schedule_reminders(db: Session, now: datetime, days: int = DUE_SOON_DAYS) -> int:
    """Enqueue the reminders due now that were never enqueued; returns how many are new."""
    added = 0
    for request, reached in due_reminders(db, now, days):
        payload = {"request_id": request.id, "threshold": str(reached)}
        if enqueue(
            db,
            "requests.deadline_reminder",
            payload,
            now=now,
            dedupe_key=reminder_key(request, reached),
        ):
            added += 1
    return added


def queue_reminder(
    db: Session, request_id: int, reached: Threshold, *, mailbox: str, now: datetime
) -> OutboxMessage | None:
    """The reminder's outbox message, unless the request has moved on since the reminder was
    scheduled: closed, extended (no longer near its deadline), or overdue by now (the overdue
    reminder says so)."""
    request = db.get(DataRequest, request_id)
    if request is None or request.status not in OPEN or threshold(request, now) != reached:
        return None
    context = {
        "request_id": request.id,
        "due_at": request.due_at.isoformat(),
        "threshold": str(reached),
    }
    return queue_message(
        db,
        MESSAGE_KIND,
        language=i18n.DEFAULT_LANGUAGE,
        email=mailbox,
        context=context,
        now=now,
    )


def reminder_values(context: Mapping[str, Any], language: str, site: MessageSite) -> dict[str, Any]:
    """The reminder's values, linking the DPO's case page (templates/emails/deadline_reminder.*);
    the deadline is the controller's day."""
    due = site.day(context, "due", language)
    return {**context, "due": due, "case_url": case_url(site.base_url, int(context["request_id"]))}


def mailbox(environ: Mapping[str, str] | None = None) -> str:
    found = dpo_email_from(os.environ if environ is None else environ)
    if not found:
        raise ReminderError("DPO_EMAIL is not set: there is no mailbox for deadline reminders")
    return found


def _every(environ: Mapping[str, str] | None = None) -> timedelta | None:
    return timedelta(days=1) if dpo_email_from(os.environ if environ is None else environ) else None


@handler("requests.deadline_reminders", every=_every())
def schedule_job(db: Session, payload: dict[str, Any], ctx: JobContext) -> None:
    schedule_reminders(db, ctx.now)


@handler("requests.deadline_reminder")
def reminder_job(db: Session, payload: dict[str, Any], ctx: JobContext) -> None:
    queue_reminder(
        db,
        int(payload["request_id"]),
        Threshold(payload["threshold"]),
        mailbox=mailbox(),
        now=ctx.now,
    )
