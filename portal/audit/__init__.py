"""The audit log: who did what to whose data, when and why. Append-only, and a hash chain.

Every staff view of a person's data and every change staff make to a person's identity or
requests is written here, in the same transaction as the act. No code path updates or deletes
an entry: the ORM refuses (below), and on PostgreSQL a trigger refuses too (migration 0003).
Entries name people by their internal subject id, never by national ID, e-mail or phone.

Each entry is numbered (``seq``: 1, 2, 3, … with no gap) and carries the SHA-256 of the entry
before it (``prev_hash``) and its own (``hash``), computed over a canonical encoding of its fields
(``canonical``). Changing, removing or inserting an entry anywhere, even with the trigger
disabled, breaks the chain at that entry, and `portal audit verify` (``portal.audit.chain``) names
it. The chain is tamper-evident, not tamper-proof: someone who can write the table can compute a
whole new chain, so the verification records the last hash it saw, and the command prints it for
the DPO to keep elsewhere.

One chain, however many processes write: ``record`` first locks the one row of
``audit_chain_head`` (the number and hash of the last entry) with an UPDATE, which takes the
row lock on PostgreSQL and the write lock on SQLite, held until the transaction ends. A second
writer waits there, then reads the head the first one committed. The unique ``seq`` is the
backstop: two entries can never claim the same place.

The lock is held from ``record`` to the commit, so a transaction that records should record as
late as it reasonably can (most do: the act, then its entry).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column, String, Text, event, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Field, Session, SQLModel, col, select

from portal.db import utcnow

# The hash an imaginary entry 0 has: the first entry's ``prev_hash``.
GENESIS = "0" * 64
HEAD_ID = 1


class AuditActor(StrEnum):
    person = "person"
    staff = "staff"
    system = "system"


class AuditEntry(SQLModel, table=True):
    __tablename__ = "audit_log"

    id: int | None = Field(default=None, primary_key=True)
    # The entry's place in the chain: 1 for the first, no gaps (``id`` may have gaps).
    seq: int = Field(unique=True, index=True)
    at: datetime = Field(default_factory=utcnow, index=True)
    actor: AuditActor = Field(sa_type=String(10))
    actor_id: int | None = None
    action: str = Field(max_length=60, index=True)
    # Deliberately not a foreign key: the entry outlives the person's erasure.
    subject_id: int | None = Field(default=None, index=True)
    reason: str | None = Field(default=None, sa_type=Text)
    details: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64)


class AuditChainHead(SQLModel, table=True):
    """One row: the number and hash of the last entry. Locked by every append (see above)."""

    __tablename__ = "audit_chain_head"

    id: int = Field(default=HEAD_ID, primary_key=True)
    seq: int = 0
    hash: str = Field(default=GENESIS, max_length=64)


class AuditLogIsAppendOnly(RuntimeError):
    pass


@event.listens_for(AuditEntry, "before_update")
@event.listens_for(AuditEntry, "before_delete")
def _refuse_change(*_args: object) -> None:
    raise AuditLogIsAppendOnly("the audit log is append-only")


CHAINED_FIELDS = (
    "seq",
    "at",
    "actor",
    "actor_id",
    "action",
    "subject_id",
    "reason",
    "details",
    "prev_hash",
)


def canonical(fields: Mapping[str, Any]) -> bytes:
    """The bytes an entry's hash is taken over: a JSON array of the fields in CHAINED_FIELDS'
    order, the moment as UTC ISO 8601 with microseconds, the details as canonical JSON (keys
    sorted, no spaces), UTF-8. Frozen: changing it breaks every chain already written (the
    migration that chained the older entries, 0011, uses it too)."""
    at: datetime = fields["at"]
    at = at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
    values = [
        fields["seq"],
        at.isoformat(timespec="microseconds"),
        str(fields["actor"]),
        fields["actor_id"],
        fields["action"],
        fields["subject_id"],
        fields["reason"],
        fields["details"],
        fields["prev_hash"],
    ]
    text = json.dumps(
        values, ensure_ascii=False, sort_keys=True, separators=(",", ":"), allow_nan=False
    )
    return text.encode("utf-8")


def entry_hash(fields: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonical(fields)).hexdigest()


def plain_details(details: Mapping[str, Any] | None) -> dict[str, Any]:
    """The details as the database gives them back (tuples become lists, keys strings), so the
    hash taken now is the hash taken over the stored row later."""
    return json.loads(json.dumps(dict(details or {}), allow_nan=False))


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
    """Append an entry to the chain, in the caller's transaction (which holds the chain's lock
    from here until it ends)."""
    seq, prev_hash = _lock_head(db)
    entry = AuditEntry(
        seq=seq + 1,
        at=now,
        actor=actor,
        actor_id=actor_id,
        action=str(action),
        subject_id=subject_id,
        reason=None if reason is None else str(reason),
        details=plain_details(details),
        prev_hash=prev_hash,
        hash="",
    )
    entry.hash = entry_hash({name: getattr(entry, name) for name in CHAINED_FIELDS})
    db.add(entry)
    db.flush()
    db.execute(
        update(AuditChainHead)
        .where(col(AuditChainHead.id) == HEAD_ID)
        .values(seq=entry.seq, hash=entry.hash)
    )
    return entry


def _lock_head(db: Session) -> tuple[int, str]:
    """Lock the chain's head and read it: (the last entry's seq, its hash)."""
    lock = (
        update(AuditChainHead)
        .where(col(AuditChainHead.id) == HEAD_ID)
        .values(seq=AuditChainHead.seq)
    )
    if db.execute(lock).rowcount == 0:  # type: ignore[attr-defined]
        _start_head(db)
        db.execute(lock)
    seq, last_hash = db.exec(
        select(AuditChainHead.seq, AuditChainHead.hash).where(AuditChainHead.id == HEAD_ID)
    ).one()
    return seq, last_hash


def _start_head(db: Session) -> None:
    """The head row is missing (a database emptied by hand, or by the tests): start it from the
    last entry, or from nothing. Two writers doing this at once make one row."""
    last = db.exec(
        select(AuditEntry.seq, AuditEntry.hash).order_by(col(AuditEntry.seq).desc()).limit(1)
    ).first()
    seq, last_hash = last if last is not None else (0, GENESIS)
    dialect = postgresql if db.get_bind().dialect.name == "postgresql" else sqlite
    db.execute(
        dialect.insert(AuditChainHead)
        .values(id=HEAD_ID, seq=seq, hash=last_hash)
        .on_conflict_do_nothing(index_elements=["id"])
    )


def chain_head(db: Session) -> tuple[int, str]:
    """The head as committed (unlocked): (the last entry's seq, its hash); (0, GENESIS) for
    an empty log."""
    found = db.exec(
        select(AuditChainHead.seq, AuditChainHead.hash).where(AuditChainHead.id == HEAD_ID)
    ).first()
    return (found[0], found[1]) if found is not None else (0, GENESIS)


def entries_for(db: Session, subject_id: int) -> list[AuditEntry]:
    statement = select(AuditEntry).where(AuditEntry.subject_id == subject_id)
    return list(db.exec(statement.order_by(col(AuditEntry.at), col(AuditEntry.id))))
