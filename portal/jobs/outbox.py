"""The outbox: messages to people, written in the same transaction as the change that causes them.

A request received, a deadline extended, an erasure's outcome letter: the code that makes the
change calls `queue_message(db, ..., now=now)` before it commits, so a message exists exactly
when its cause does, and a crash cannot send a message for a change that was rolled back (or
lose one for a change that was kept). The same call enqueues the message's delivery job
(`mail.deliver`, portal/mail/sender.py), so the job exists exactly when the message does.

A message names its recipient by subject id, by e-mail address, or both: the address is needed
when the person has none on file yet, or will have been erased by the time the outcome letter
goes. When only the subject id is set, the address is looked up when the message is sent
(`portal.identity.identifiers.contact_address`); a person with no address on file gets the
message on their Messages page only (`delivery = "portal"`), which is not a failure. `context`
holds what the template needs that cannot be looked up at sending time, kept to the minimum
(references and ids rather than names or national ID numbers).

Delivery, at most once or detected (the functions below keep the row's side of it):

1. `begin_attempt` commits, before anything leaves: the message's Message-ID (made once, kept
   for every attempt) and `attempt_started_at`, the mark of an attempt in flight.
2. The sender hands the message to SMTP (or the development mailbox).
3. `mark_sent` sets `sent_at`, `delivery` and the server's reply in one transaction (the
   delivery job's, which also marks the job done). A failure the server reported
   (`record_failure`) clears the in-flight mark: the message was not accepted, and the next
   attempt is a plain retry.

A crash between 2 and 3 (or an SMTP connection that broke while the message's data was being
taken) leaves the in-flight mark: whether the server accepted the message cannot be known. The
next attempt then sends it again with the same Message-ID, which receiving systems use to
recognise a duplicate, and counts it in `resends`; so a message is sent once, or twice at most
when a crash hit that window, and every such case is on record. Sent rows are kept: they are
what the person's Messages page lists. A sent message to a person (who may since have been
erased) keeps no address (`email` is cleared on sending); a message to the DPO's mailbox keeps it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column, select, update
from sqlmodel import Field, Session, SQLModel

from portal import i18n
from portal.db import utcnow
from portal.i18n import DEFAULT_LANGUAGE
from portal.jobs.queue import Job, enqueue

# The delivery job's kind (its handler: portal/mail/sender.py).
DELIVER_JOB = "mail.deliver"
# A message keeps trying for about a day (the backoff is capped at an hour) before it is
# parked for the DPO: long enough to ride out a mail server's outage.
DELIVER_ATTEMPTS = 30
REPLY_LENGTH = 500


class Delivery(StrEnum):
    """How a message was delivered (set with `sent_at`)."""

    # Accepted by the SMTP server.
    smtp = "smtp"
    # Filed in the development mailbox (development without SMTP_HOST).
    mailbox = "mailbox"
    # No address on file: the person reads it on their Messages page only.
    portal = "portal"


class OutboxMessage(SQLModel, table=True):
    __tablename__ = "outbox_message"

    id: int | None = Field(default=None, primary_key=True)
    # Which message, e.g. "request_received"; portal/mail/kinds.py maps kinds to templates.
    kind: str = Field(max_length=50)
    # SET NULL, not CASCADE: an erasure's outcome letter must survive the erasure it reports.
    subject_id: int | None = Field(
        default=None, foreign_key="subject.id", index=True, ondelete="SET NULL"
    )
    email: str | None = Field(default=None, max_length=320)
    language: str = Field(max_length=5)
    context: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=utcnow)
    # Undelivered while NULL; then when it was delivered, and how (`delivery`).
    sent_at: datetime | None = Field(default=None, index=True)
    delivery: str | None = Field(default=None, max_length=20)
    # Attempts begun, and the number of them that sent the message again because an earlier
    # attempt's outcome was unknown (see the module docstring).
    attempts: int = 0
    resends: int = 0
    # The Message-ID header, made before the first attempt and kept for every one.
    message_id: str | None = Field(default=None, max_length=250)
    # Set while an attempt is in flight: committed before sending, cleared when its outcome
    # is known. Found set at the start of an attempt: the last one's outcome is unknown.
    attempt_started_at: datetime | None = None
    # The SMTP server's reply accepting the message (e.g. "250 2.0.0 Ok: queued as 4F2B").
    smtp_reply: str | None = Field(default=None, max_length=REPLY_LENGTH)
    # Exception class and first line only, as for jobs: no personal data.
    last_error: str | None = Field(default=None, max_length=500)
    # When the person opened it on their Messages page; unread while NULL.
    read_at: datetime | None = None


@dataclass(frozen=True)
class MessageSite:
    """What a message's words need besides its stored context, where it is rendered (the
    sender, or the person's Messages page):

    - ``base_url``: the portal's public URL (PORTAL_BASE_URL), under which the message's paths
      are put, so that a link is right even if the URL changed after the message was queued;
    - ``time_zone``: the controller's (the data map's ``controller.time_zone``): every day and
      time a message shows is the controller's, as on every page;
    - ``follow_link``: where the renderer can sign one (the sender), the link to follow a
      request filed without BankID, ``(request id, language) -> URL``, made when the message is
      sent so that it lasts FOLLOW_LINK_DAYS from then. None elsewhere;
    - ``recipient_link``: likewise, a recipient's link to confirm its task (art. 19,
      portal/workflows/recipients.py), ``(task id, language) -> URL``, lasting
      RECIPIENT_LINK_DAYS from when it is sent.

    Contexts hold moments as ISO 8601 (``due_at``) or days already on the controller's calendar
    (``received_on``); `day` reads either."""

    base_url: str
    time_zone: str = "UTC"
    follow_link: Callable[[int, str], str] | None = None
    recipient_link: Callable[[int, str], str] | None = None

    def url(self, path: str) -> str:
        """A path under the portal's URL; an absolute URL as it is."""
        return self.base_url.rstrip("/") + path if path.startswith("/") else path

    def day(self, context: Mapping[str, Any], name: str, language: str) -> str | None:
        """The day ``<name>_at`` (a moment, read on the controller's calendar) or ``<name>_on``
        (a day) of a context, as people read it; None when it has neither."""
        moment = context.get(f"{name}_at")
        if moment:
            local = i18n.local_day(datetime.fromisoformat(str(moment)), self.time_zone)
            return i18n.format_day(local, language)
        day = context.get(f"{name}_on")
        if day:
            return i18n.format_day(date.fromisoformat(str(day)[:10]), language)
        return None

    def moment(self, context: Mapping[str, Any], name: str, language: str) -> str | None:
        """The moment ``<name>_at`` of a context, day and hours:minutes in the controller's
        time zone; None when it has none."""
        moment = context.get(f"{name}_at")
        if not moment:
            return None
        stored = datetime.fromisoformat(str(moment))
        # The portal's moments are UTC (SQLite hands them back naive): a naive midnight is a
        # moment, not a date held as a timestamp.
        aware = stored if stored.tzinfo else stored.replace(tzinfo=UTC)
        return i18n.format_moment(aware, language, self.time_zone)


def queue_message(
    db: Session,
    kind: str,
    *,
    language: str,
    subject_id: int | None = None,
    email: str | None = None,
    context: Mapping[str, Any] | None = None,
    now: datetime,
) -> OutboxMessage:
    """Add a message and its delivery job in the caller's transaction (the caller commits)."""
    if subject_id is None and not email:
        raise ValueError("a message needs a recipient: a subject id, an e-mail address or both")
    message = OutboxMessage(
        kind=kind,
        subject_id=subject_id,
        email=email or None,
        language=language,
        context=dict(context or {}),
        created_at=now,
    )
    db.add(message)
    db.flush()
    enqueue_delivery(db, message.id or 0, now=now)
    return message


def enqueue_delivery(db: Session, message_id: int, *, now: datetime) -> int | None:
    """The message's delivery job, once per message (its dedupe key); None when it exists."""
    return enqueue(
        db,
        DELIVER_JOB,
        {"message_id": message_id},
        now=now,
        dedupe_key=f"{DELIVER_JOB}:{message_id}",
        max_attempts=DELIVER_ATTEMPTS,
    )


@dataclass(frozen=True)
class Attempt:
    """An attempt begun (and committed) by `begin_attempt`."""

    message_id: str  # the Message-ID header
    resend: bool  # an earlier attempt's outcome is unknown: this one may be a second copy


def begin_attempt(
    db: Session, message: OutboxMessage, *, message_id: str, now: datetime
) -> Attempt:
    """Mark an attempt in flight on a message locked by the caller, who commits before sending.

    `message_id` is used only when the message has none yet: every attempt carries the first.
    """
    resend = message.attempt_started_at is not None
    message.message_id = message.message_id or message_id
    message.attempts += 1
    message.resends += int(resend)
    message.attempt_started_at = now
    db.add(message)
    db.flush()
    return Attempt(message.message_id, resend)


def mark_sent(
    db: Session,
    message_id: int,
    delivery: Delivery,
    *,
    reply: str | None,
    keep_address: bool,
    now: datetime,
) -> None:
    """Delivered: in one transaction with the server's reply (the caller commits)."""
    values: dict[str, Any] = {
        "sent_at": now,
        "delivery": str(delivery),
        "attempt_started_at": None,
        "smtp_reply": reply[:REPLY_LENGTH] if reply else None,
        "last_error": None,
    }
    if not keep_address:
        values["email"] = None
    db.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == message_id, OutboxMessage.sent_at.is_(None))  # type: ignore[union-attr]
        .values(**values)
        .execution_options(synchronize_session=False)
    )


def record_failure(db: Session, message_id: int, error: str, *, accepted_unknown: bool) -> None:
    """An attempt failed. When the server said no (or was never reached) the in-flight mark
    is cleared; when it may have accepted the message (`accepted_unknown`), the mark stays so
    that the next attempt counts as a resend."""
    values: dict[str, Any] = {"last_error": error[:500]}
    if not accepted_unknown:
        values["attempt_started_at"] = None
    db.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == message_id, OutboxMessage.sent_at.is_(None))  # type: ignore[union-attr]
        .values(**values)
        .execution_options(synchronize_session=False)
    )


# A job that failed for good, told to the DPO's mailbox (the worker queues it as it parks one).
PARKED_KIND = "job_parked"


def tell_dpo_parked(db: Session, job: Job, now: datetime, *, mailbox: str | None) -> None:
    """Queue the notice of a parked job, in the transaction that parks it.

    One notice waits at a time: while one is undelivered (say the mail server is down and
    every delivery is being parked) no other is queued, and the jobs page lists them all. The
    delivery of a notice is never itself the subject of one, so they cannot chain."""
    if not mailbox:
        return
    if job.kind == DELIVER_JOB:
        message = db.get(OutboxMessage, int(job.payload.get("message_id", 0)))
        if message is not None and message.kind == PARKED_KIND:
            return
    waiting = db.execute(
        select(OutboxMessage.id)
        .where(OutboxMessage.kind == PARKED_KIND, OutboxMessage.sent_at.is_(None))  # type: ignore[union-attr]
        .limit(1)
    ).first()
    if waiting is not None:
        return
    queue_message(
        db,
        PARKED_KIND,
        language=DEFAULT_LANGUAGE,
        email=mailbox,
        context={"job_id": job.id, "job_kind": job.kind},
        now=now,
    )
