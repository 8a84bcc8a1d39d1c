"""A person's messages, for their Messages page: everything the outbox holds for them.

Every message to a signed-in person (by subject id) is listed, delivered or not, and whether or
not they have an e-mail address: nothing depends on the mailbox alone. Each is rendered from its
stored context in the page's language (the e-mail went in the request's), the same words as the
e-mail, in the controller's time zone (`MessageSite`). A kind whose body is a secret
(``in_portal=False``: a link that proves an address, or opens files without a sign-in; such
messages are queued to an address, not a person, so they are normally never here) shows its
subject and a note, never the link. A message about a request filed without BankID, read here
once its person has signed in with BankID, links the request's page rather than a follow link:
no link is signed for a page. Opening a message marks it read; `unread_of` counts the unread
ones for the navigation.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, ScalarSelect, func, update
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

from portal.i18n import gettext as _
from portal.jobs.outbox import MessageSite, OutboxMessage
from portal.mail.kinds import KINDS, Audience, render_message

# The page lists this many, newest first.
LISTED = 100


@dataclass(frozen=True)
class InboxMessage:
    id: int
    subject: str
    text: str  # the e-mail's text part, or a note when the body stays in the e-mail
    created_at: datetime
    sent_at: datetime | None
    delivery: str | None  # portal.jobs.outbox.Delivery, None while not delivered
    read: bool


# The kinds a person's Messages page lists (the DPO's go to the DPO's mailbox only).
PERSON_KINDS = tuple(name for name, kind in KINDS.items() if kind.audience == Audience.person)


def _listed(subject_id: int) -> SelectOfScalar[OutboxMessage]:
    return select(OutboxMessage).where(
        OutboxMessage.subject_id == subject_id, col(OutboxMessage.kind).in_(PERSON_KINDS)
    )


def unread_of(subject_id: ColumnElement[Any]) -> ScalarSelect[int]:
    """How many of the messages of the person `subject_id` (a column of the caller's statement)
    are unread, as a scalar subquery: the viewer reads it with the session record
    (portal/web/viewer.py), for the count on the navigation's link to Messages."""
    outbox = OutboxMessage.__table__
    return (
        select(func.count())
        .select_from(outbox)
        .where(
            outbox.c.subject_id == subject_id,
            outbox.c.kind.in_(PERSON_KINDS),
            outbox.c.read_at.is_(None),
        )
        .scalar_subquery()
    )


def _inbox(message: OutboxMessage, language: str, site: MessageSite) -> InboxMessage:
    rendered = render_message(message.kind, message.context, language, site)
    text = rendered.text
    if not KINDS[message.kind].in_portal:
        text = _(
            "This message holds a link that proves an e-mail address is yours, so the link is "
            "only in the e-mail."
        )
    return InboxMessage(
        id=message.id or 0,
        subject=rendered.subject,
        text=text,
        created_at=message.created_at,
        sent_at=message.sent_at,
        delivery=message.delivery,
        read=message.read_at is not None,
    )


def person_messages(
    db: Session, subject_id: int, language: str, site: MessageSite
) -> list[InboxMessage]:
    """The person's newest messages first (at most LISTED)."""
    statement = (
        _listed(subject_id)
        .order_by(col(OutboxMessage.created_at).desc(), col(OutboxMessage.id).desc())
        .limit(LISTED)
    )
    return [_inbox(message, language, site) for message in db.exec(statement)]


def unread_count(db: Session, subject_id: int) -> int:
    statement = _listed(subject_id).where(col(OutboxMessage.read_at).is_(None))
    return db.exec(select(func.count()).select_from(statement.subquery())).one()


def open_message(
    db: Session, subject_id: int, message_id: int, language: str, site: MessageSite, now: datetime
) -> InboxMessage | None:
    """One of the person's messages, marked read; None when it is not theirs (or not there)."""
    message = db.exec(_listed(subject_id).where(OutboxMessage.id == message_id)).first()
    if message is None:
        return None
    if message.read_at is None:
        db.execute(
            update(OutboxMessage)
            .where(col(OutboxMessage.id) == message_id)
            .values(read_at=now)
            .execution_options(synchronize_session=False)
        )
    return replace(_inbox(message, language, site), read=True)
