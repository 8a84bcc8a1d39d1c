"""The audit log: who did what to whose data, when and why. Append-only.

Every staff view of a person's data and every change staff make to a person's identity or
requests is written here, in the same transaction as the act. No code path updates or deletes
an entry: the ORM refuses (below), and on PostgreSQL a trigger refuses too (migration 0003).
Entries name people by their internal subject id, never by national ID, e-mail or phone.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import JSON, Column, String, Text, event
from sqlmodel import Field, Session, SQLModel, select

from portal.db import utcnow


class AuditActor(StrEnum):
    person = "person"
    staff = "staff"
    system = "system"


class AuditEntry(SQLModel, table=True):
    __tablename__ = "audit_log"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, index=True)
    actor: AuditActor = Field(sa_type=String(10))
    actor_id: int | None = None
    action: str = Field(max_length=60, index=True)
    # Deliberately not a foreign key: the entry outlives the person's erasure.
    subject_id: int | None = Field(default=None, index=True)
    reason: str | None = Field(default=None, sa_type=Text)
    details: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class AuditLogIsAppendOnly(RuntimeError):
    pass


@event.listens_for(AuditEntry, "before_update")
@event.listens_for(AuditEntry, "before_delete")
def _refuse_change(*_args: object) -> None:
    raise AuditLogIsAppendOnly("the audit log is append-only")


def record(
    db: Session,
    *,
    actor: AuditActor,
    actor_id: int | None,
    action: str,
    subject_id: int | None = None,
    reason: str | None = None,
    details: dict | None = None,
    now: datetime,
) -> AuditEntry:
    entry = AuditEntry(
        at=now,
        actor=actor,
        actor_id=actor_id,
        action=action,
        subject_id=subject_id,
        reason=reason,
        details=details or {},
    )
    db.add(entry)
    db.flush()
    return entry


def entries_for(db: Session, subject_id: int) -> list[AuditEntry]:
    statement = select(AuditEntry).where(AuditEntry.subject_id == subject_id)
    return list(db.exec(statement.order_by(AuditEntry.at, AuditEntry.id)))
