"""The person's Messages page (/me/messages) and one message (/me/messages/{id}).

Everything the portal sent them, newest first, unread ones marked; a message's text is shown as
the e-mail's text part, its web addresses as links (`text_parts`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.engine import Engine

from portal.db import session_scope
from portal.i18n import gettext as _
from portal.jobs.outbox import Delivery, MessageSite
from portal.mail import inbox
from portal.views.common import day

_URL = re.compile(r"(https?://[^\s<>\"']+)")


@dataclass(frozen=True)
class TextPart:
    """A piece of a message's text; `href` is set when it is a web address."""

    text: str
    href: str | None = None


def site_of(base_url: str, time_zone: str) -> MessageSite:
    """Where the Messages page renders messages: under the portal's URL, in the controller's
    time zone, and without signing links (a request filed without BankID links its page, which
    its person, signed in, can open)."""
    return MessageSite(base_url, time_zone)


def text_parts(text: str) -> tuple[TextPart, ...]:
    """Plain text cut into pieces, web addresses marked, for a template to link them."""
    parts = []
    for index, piece in enumerate(_URL.split(text)):
        if piece:
            parts.append(TextPart(piece, piece if index % 2 else None))
    return tuple(parts)


@dataclass(frozen=True)
class MessageRow:
    href: str
    subject: str
    date: str
    unread: bool
    how: str  # how it reached them: by e-mail, only here, on its way


@dataclass(frozen=True)
class MessagesPage:
    messages: tuple[MessageRow, ...]
    unread: int  # all the person's unread messages (the navigation counts them too)

    @property
    def unread_messages(self) -> int:
        return self.unread


@dataclass(frozen=True)
class MessagePage:
    subject: str
    date: str
    how: str
    parts: tuple[TextPart, ...]
    # The person's unread messages now that this one is read (for the navigation, whose count
    # the viewer read before it was).
    unread_messages: int = 0


def _how(message: inbox.InboxMessage, language: str, tz: str) -> str:
    if message.delivery in (Delivery.smtp, Delivery.mailbox) and message.sent_at is not None:
        return _("Sent by e-mail on %(date)s", date=day(message.sent_at, language, tz))
    if message.delivery == Delivery.portal:
        return _("Only here: we have no e-mail address for you")
    return _("Being sent by e-mail")


def load_messages(
    engine: Engine, subject_id: int, language: str, site: MessageSite
) -> MessagesPage:
    tz = site.time_zone
    with session_scope(engine) as db:
        found = inbox.person_messages(db, subject_id, language, site)
        unread = inbox.unread_count(db, subject_id)
    rows = tuple(
        MessageRow(
            href=f"/me/messages/{message.id}",
            subject=message.subject,
            date=day(message.created_at, language, tz),
            unread=not message.read,
            how=_how(message, language, tz),
        )
        for message in found
    )
    return MessagesPage(rows, unread)


def load_message(
    engine: Engine,
    subject_id: int,
    message_id: int,
    language: str,
    site: MessageSite,
    now: datetime,
) -> MessagePage | None:
    """One message of the person's, marked read; None when it is not theirs."""
    with session_scope(engine) as db:
        found = inbox.open_message(db, subject_id, message_id, language, site, now)
        unread = inbox.unread_count(db, subject_id)
    if found is None:
        return None
    return MessagePage(
        subject=found.subject,
        date=day(found.created_at, language, site.time_zone),
        how=_how(found, language, site.time_zone),
        parts=text_parts(found.text),
        unread_messages=unread,
    )
