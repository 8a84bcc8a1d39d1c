"""/sessions: the browsers signed in as the viewer (a person or a member of staff), and signing
out everywhere else (OWASP ASVS 3.3.4)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.engine import Engine

from portal import audit
from portal.db import session_scope
from portal.identity.sessions import Holder, end_other_sessions, live_sessions
from portal.views.common import moment


@dataclass(frozen=True)
class SessionRow:
    signed_in: str
    last_used: str
    current: bool


@dataclass(frozen=True)
class SessionsPage:
    """The viewer's live sessions, the most recently used first; this browser's is marked."""

    rows: tuple[SessionRow, ...]

    @property
    def others(self) -> int:
        return sum(not row.current for row in self.rows)


def holder_of(viewer: object) -> Holder:
    kind, viewer_id = getattr(viewer, "kind", None), getattr(viewer, "id", None)
    return Holder(staff_id=viewer_id) if kind == "staff" else Holder(subject_id=viewer_id)


def sessions_page(
    engine: Engine,
    holder: Holder,
    *,
    current_key: str,
    now: datetime,
    idle: timedelta,
    language: str,
    tz: str,
) -> SessionsPage:
    with session_scope(engine) as db:
        found = live_sessions(db, holder, current_key=current_key, now=now, idle=idle)
    return SessionsPage(
        tuple(
            SessionRow(
                moment(item.signed_in_at, language, tz),
                moment(item.last_used_at, language, tz),
                item.current,
            )
            for item in found
        )
    )


def end_others(engine: Engine, holder: Holder, *, keep_key: str, now: datetime) -> int:
    """End every other session of the holder, and log that they did (counts, no ids)."""
    with session_scope(engine) as db:
        ended = end_other_sessions(db, holder, keep_key=keep_key, now=now)
        person = holder.subject_id is not None
        audit.record(
            db,
            actor=audit.AuditActor.person if person else audit.AuditActor.staff,
            actor_id=holder.subject_id if person else holder.staff_id,
            action="session.end_others",
            subject_id=holder.subject_id,
            details={"ended": ended},
            now=now,
        )
    return ended
