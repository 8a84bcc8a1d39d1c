"""Finding audit entries for the DPO: by who, what, when, and which person or request.

Newest first, a page at a time. Entries name people by internal ids only, so the filters are
ids and codes too; the request filter matches an entry's ``details.request_id``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func
from sqlmodel import Session, col, select

from portal.audit import AuditActor, AuditEntry


@dataclass(frozen=True)
class AuditFilter:
    """What to show; None: any. ``actor_id`` narrows ``actor`` to one member of staff (or
    person). ``since`` is inclusive, ``before`` exclusive."""

    action: str | None = None
    actor: AuditActor | None = None
    actor_id: int | None = None
    subject_id: int | None = None
    request_id: int | None = None
    since: datetime | None = None
    before: datetime | None = None


@dataclass(frozen=True)
class AuditPage:
    entries: tuple[AuditEntry, ...]
    total: int  # entries matching the filter, on every page


def find_entries(db: Session, wanted: AuditFilter, *, offset: int, limit: int) -> AuditPage:
    conditions = _conditions(wanted)
    total = db.exec(select(func.count()).select_from(AuditEntry).where(*conditions)).one()
    entries = db.exec(
        select(AuditEntry)
        .where(*conditions)
        .order_by(col(AuditEntry.seq).desc())
        .offset(offset)
        .limit(limit)
    ).all()
    return AuditPage(tuple(entries), total)


def _conditions(wanted: AuditFilter) -> Sequence:
    found = []
    if wanted.action is not None:
        found.append(col(AuditEntry.action) == wanted.action)
    if wanted.actor is not None:
        found.append(col(AuditEntry.actor) == str(wanted.actor))
    if wanted.actor_id is not None:
        found.append(col(AuditEntry.actor_id) == wanted.actor_id)
    if wanted.subject_id is not None:
        found.append(col(AuditEntry.subject_id) == wanted.subject_id)
    if wanted.request_id is not None:
        found.append(AuditEntry.details["request_id"].as_integer() == wanted.request_id)  # type: ignore[index]
    if wanted.since is not None:
        found.append(col(AuditEntry.at) >= wanted.since)
    if wanted.before is not None:
        found.append(col(AuditEntry.at) < wanted.before)
    return found


def actions(db: Session) -> tuple[str, ...]:
    """Every action the log holds, for the filter's choices."""
    return tuple(db.exec(select(AuditEntry.action).distinct().order_by(AuditEntry.action)).all())
