"""The outbox: messages to people, written in the same transaction as the change that causes them.

A request received, a deadline extended, an erasure's outcome letter: the code that makes the
change calls `queue_message(db, ...)` before it commits, so a message exists exactly when its
cause does, and a crash cannot send a message for a change that was rolled back (or lose one for
a change that was kept).

Delivery is not built yet: the e-mail issue adds it (a worker job that sends unsent rows, marks
`sent_at`, and counts `attempts`/`last_error`), and decides how long sent rows are kept.

A message names its recipient by subject id, by e-mail address, or both: the address is needed
when the person has none on file yet, or will have been erased by the time the outcome letter
goes. `context` holds what the template needs that cannot be looked up at sending time, kept to
the minimum (references and ids rather than names or national ID numbers).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column
from sqlmodel import Field, Session, SQLModel

from portal.db import utcnow


class OutboxMessage(SQLModel, table=True):
    __tablename__ = "outbox_message"

    id: int | None = Field(default=None, primary_key=True)
    # Which message, e.g. "request_received"; the e-mail issue maps kinds to templates.
    kind: str = Field(max_length=50)
    # SET NULL, not CASCADE: an erasure's outcome letter must survive the erasure it reports.
    subject_id: int | None = Field(
        default=None, foreign_key="subject.id", index=True, ondelete="SET NULL"
    )
    email: str | None = Field(default=None, max_length=320)
    language: str = Field(max_length=5)
    context: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=utcnow)
    # Unsent while NULL.
    sent_at: datetime | None = Field(default=None, index=True)
    attempts: int = 0
    # Exception class and first line only, as for jobs: no personal data.
    last_error: str | None = Field(default=None, max_length=500)


def queue_message(
    db: Session,
    kind: str,
    *,
    language: str,
    subject_id: int | None = None,
    email: str | None = None,
    context: Mapping[str, Any] | None = None,
) -> OutboxMessage:
    """Add a message to the outbox in the caller's transaction (the caller commits)."""
    if subject_id is None and not email:
        raise ValueError("a message needs a recipient: a subject id, an e-mail address or both")
    message = OutboxMessage(
        kind=kind,
        subject_id=subject_id,
        email=email or None,
        language=language,
        context=dict(context or {}),
    )
    db.add(message)
    db.flush()
    return message
