"""The delivery job: one outbox message, over SMTP or into the development mailbox.

Every message queued (`portal.jobs.outbox.queue_message`) comes with a ``mail.deliver`` job
for it, so delivery rides on the job queue: a failed attempt is retried with backoff (about a
day, `DELIVER_ATTEMPTS`), then parked, shown to the DPO at /dpo/jobs with a Retry button, and
told to the DPO's mailbox. While the mail server is down, messages wait in the outbox; once it
is back, each goes out once.

One attempt (`deliver`):

1. Read the message and render it in its language (a rendering error fails the attempt before
   anything is marked or sent). The recipient is the message's address, or the person's
   address on file (`contact_address`); a person with none gets it on their Messages page
   only, marked ``delivery = "portal"`` and not retried.
2. Commit the Message-ID and the in-flight mark (`outbox.begin_attempt`), in a unit of work of
   its own, before anything leaves.
3. Hand it to the transport. A refusal clears the in-flight mark and the job retries; a
   connection broken mid-message leaves it (the server may have the message).
4. Mark it sent, with the server's reply, in the job's own transaction (`outbox.mark_sent`),
   which commits together with the job being done.

A worker that dies between 3 and 4 leaves the job to be taken over after its lease, and the
message with its in-flight mark: the next attempt sends it again with the same Message-ID and
counts a resend (see portal/jobs/outbox.py for the policy).

Settings are read from the environment when the job runs (`Settings.from_env`): the worker
may be its own process, and in development `portal serve` sets PORTAL_BASE_URL for the port
it serves. The rendered message and the address are never logged.

A message about a request filed without BankID links the request's follow link, signed here as
the message is rendered (`Runtime.follow_link`), so that it lasts FOLLOW_LINK_DAYS from when the
e-mail goes, not from when it was queued (portal/workflows/notices.py).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from email.utils import make_msgid
from functools import cache
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session

from portal.datamap import load_datamap
from portal.datamap.model import Controller
from portal.db import session_scope
from portal.identity.identifiers import contact_address
from portal.jobs import outbox
from portal.jobs.outbox import DELIVER_JOB, Delivery, MessageSite, OutboxMessage
from portal.jobs.queue import Handler, JobContext, describe_error, handler
from portal.mail.kinds import Audience, kind_of, render_message
from portal.mail.render import mime_message
from portal.mail.transport import DeliveryFailed, MailboxTransport, Transport, transport_for
from portal.settings import MailSettings, Settings
from portal.workflows import email_requests, recipients

# Makes the follow link of a request filed without BankID: (request id, language, now) -> URL.
FollowLink = Callable[[int, str, datetime], str]


@dataclass(frozen=True)
class Runtime:
    """What a delivery needs besides the database: the settings, where messages go, the data
    map's controller (its time zone, and the outcome letter a message may attach), and how to
    sign a request's follow link (None: messages that need one link the request's page)."""

    settings: MailSettings
    transport: Transport
    controller: Callable[[], Controller]
    follow_link: FollowLink | None = None
    # Makes a recipient's link to confirm its task: (task id, language, now) -> URL.
    recipient_link: FollowLink | None = None

    def site(self, now: datetime) -> MessageSite:
        """Where messages are rendered as they are sent, `now`."""
        follow, task = self.follow_link, self.recipient_link
        return MessageSite(
            self.settings.base_url,
            self.controller().time_zone,
            (lambda request_id, language: follow(request_id, language, now)) if follow else None,
            (lambda task_id, language: task(task_id, language, now)) if task else None,
        )


@cache
def _controller(path: str) -> Controller:
    return load_datamap(path).controller


def runtime_for(settings: Settings, controller: Callable[[], Controller]) -> Runtime:
    """The runtime of a process with these settings: SMTP (or the development mailbox), and
    follow links signed with its SECRET_KEY."""

    def follow_link(request_id: int, language: str, now: datetime) -> str:
        return email_requests.follow_url(request_id, language, now, settings)

    def recipient_link(task_id: int, language: str, now: datetime) -> str:
        return recipients.confirm_url(task_id, language, now, settings)

    return Runtime(
        settings.mail, transport_for(settings.mail), controller, follow_link, recipient_link
    )


def runtime_from_env() -> Runtime:
    settings = Settings.from_env(os.environ)
    path = str(settings.datamap_file)
    return runtime_for(settings, lambda: _controller(path))


def deliver(db: Session, message_pk: int, runtime: Runtime, *, now: datetime) -> str:
    """One attempt at delivering a message; returns how it ended ("sent", "portal", "done"
    when it already was). Raises DeliveryFailed (or a rendering error) when it did not go.

    `db` is the caller's transaction (the job's): the sent mark is written there, and only
    reads besides; the in-flight mark and failures commit in units of work of their own."""
    engine = db.get_bind()
    assert isinstance(engine, Engine)
    message = db.get(OutboxMessage, message_pk)
    if message is None or message.sent_at is not None:
        return "done"
    kind = kind_of(message.kind)
    # A person's address is forgotten once sent; the DPO's and a recipient company's are not.
    keep_address = kind.audience != Audience.person
    recipient = message.email
    if recipient is None and message.subject_id is not None:
        recipient = contact_address(db, message.subject_id)
    if recipient is None:
        outbox.mark_sent(db, message_pk, Delivery.portal, reply=None, keep_address=True, now=now)
        return "portal"
    settings = runtime.settings
    rendered = render_message(
        message.kind,
        message.context,
        message.language,
        runtime.site(now),
        db=db,
        controller=runtime.controller,
    )
    with session_scope(engine) as own:
        locked = own.get(OutboxMessage, message_pk, with_for_update=True)
        if locked is None or locked.sent_at is not None:
            return "done"
        attempt = outbox.begin_attempt(
            own, locked, message_id=_new_message_id(message_pk, settings), now=now
        )
    mime = mime_message(
        rendered,
        sender=settings.mail_from,
        recipient=recipient,
        message_id=attempt.message_id,
        language=message.language,
        date=now,
    )
    try:
        reply = runtime.transport.send(mime, sender=settings.mail_from, recipient=recipient)
    except DeliveryFailed as exc:
        with session_scope(engine) as own:
            outbox.record_failure(
                own, message_pk, describe_error(exc), accepted_unknown=exc.maybe_sent
            )
        raise
    how = Delivery.mailbox if isinstance(runtime.transport, MailboxTransport) else Delivery.smtp
    outbox.mark_sent(db, message_pk, how, reply=reply, keep_address=keep_address, now=now)
    return "sent"


def _new_message_id(message_pk: int, settings: MailSettings) -> str:
    domain = settings.mail_from.rpartition("@")[2].rstrip(">").strip() or "localhost"
    return make_msgid(idstring=f"innsyn.{message_pk}", domain=domain)


def make_handler(runtime: Callable[[], Runtime]) -> Handler:
    """The delivery job's handler, with the runtime it builds per run (tests give their own)."""

    def deliver_job(db: Session, payload: dict[str, Any], ctx: JobContext) -> None:
        deliver(db, int(payload["message_id"]), runtime(), now=ctx.now)

    return deliver_job


handler(DELIVER_JOB)(make_handler(runtime_from_env))
