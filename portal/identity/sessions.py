"""Sessions a person controls (OWASP ASVS 3.3.4): the browsers signed in as them, with when each
signed in and was last used; ending all but the one in hand; and removing the rows nobody can
use any more (ended, idle past the lifetime, anonymous)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, or_, update
from sqlmodel import Session, col, select

from portal.models import WebSession

# A session ends this long after sign-in whatever its use (portal/web/sessions.py).
ABSOLUTE_LIFETIME = timedelta(hours=12)


@dataclass(frozen=True)
class Holder:
    """Whose sessions: a person's or a member of staff's (one of the two)."""

    subject_id: int | None = None
    staff_id: int | None = None

    def where(self):  # type: ignore[no-untyped-def]
        if self.subject_id is not None:
            return col(WebSession.subject_id) == self.subject_id
        return col(WebSession.staff_id) == self.staff_id


@dataclass(frozen=True)
class LiveSession:
    key: str  # the row's id (a hash of the cookie's), to mark the current one; never shown
    signed_in_at: datetime
    last_used_at: datetime
    current: bool


def live_sessions(
    db: Session, holder: Holder, *, current_key: str, now: datetime, idle: timedelta
) -> list[LiveSession]:
    """The holder's sessions that still open pages, the most recently used first."""
    rows = db.exec(
        select(WebSession)
        .where(
            holder.where(),
            col(WebSession.ended_at).is_(None),
            col(WebSession.last_seen_at) > now - idle,
            col(WebSession.created_at) > now - ABSOLUTE_LIFETIME,
        )
        .order_by(col(WebSession.last_seen_at).desc())
    ).all()
    return [
        LiveSession(
            key=row.id,
            signed_in_at=row.authenticated_at or row.created_at,
            last_used_at=row.last_seen_at,
            current=row.id == current_key,
        )
        for row in rows
    ]


def end_other_sessions(db: Session, holder: Holder, *, keep_key: str, now: datetime) -> int:
    """Sign the holder out everywhere but the session ``keep_key``; the number ended."""
    result = db.execute(
        update(WebSession)
        .where(holder.where(), col(WebSession.ended_at).is_(None), col(WebSession.id) != keep_key)
        .values(ended_at=now)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def purge(db: Session, now: datetime) -> int:
    """Remove the rows no browser can use: ended ones, and any (signed in or anonymous) last
    used or begun longer ago than a session may live."""
    too_old = now - ABSOLUTE_LIFETIME
    result = db.execute(
        delete(WebSession).where(
            or_(
                col(WebSession.ended_at).is_not(None),
                col(WebSession.last_seen_at) < too_old,
                col(WebSession.created_at) < too_old,
            )
        )
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
