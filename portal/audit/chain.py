"""Checking the audit log's hash chain, and the record of each check (`portal audit verify`).

The check walks the entries in order and stops at the first that is wrong, naming it:

- ``missing``: no entry has the number the chain expects next (an entry was deleted), or the
  log ends before the number the chain's head, or an earlier check, says it reached;
- ``changed``: the entry's fields no longer give its hash (someone edited the row);
- ``unlinked``: the entry does not carry the hash of the entry before it (an entry was put in
  between, or a hash was replaced);
- ``rewritten``: the entry's hash is not the one an earlier successful check recorded for it
  (the chain was computed anew from that entry on);
- ``head``: the chain's head (``audit_chain_head``) names a hash the last entry does not have.

Each check is recorded (when, how many entries, the outcome, the last hash), so the DPO's pages
can say when the log was last found whole, and the next check can compare with it. The workers
check daily (``audit.verify``); `portal audit verify` checks at once.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Field, Session, SQLModel, col, select

from portal.audit import (
    CHAINED_FIELDS,
    GENESIS,
    HEAD_ID,
    AuditChainHead,
    AuditEntry,
    entry_hash,
)
from portal.db import session_scope
from portal.jobs.queue import JobContext, handler

VERIFY_JOB = "audit.verify"
PROBLEMS = ("missing", "changed", "unlinked", "rewritten", "head")
BATCH = 2000
# New entries keep coming while a busy log is checked: follow the head this many times at most.
CATCH_UP = 100


class AuditVerification(SQLModel, table=True):
    """One run of the chain check."""

    __tablename__ = "audit_verification"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(index=True)
    # How many entries were found good (all of them when ``ok``).
    entries: int
    ok: bool
    # The first broken entry's number, and what is wrong with it (PROBLEMS); None when ok.
    broken_seq: int | None = None
    problem: str | None = Field(default=None, max_length=20)
    # The last good entry's number and hash: the next check compares with them.
    last_seq: int = 0
    last_hash: str = Field(default=GENESIS, max_length=64)


@dataclass(frozen=True)
class ChainBreak:
    seq: int  # the entry's number in the chain
    entry_id: int | None  # its row id; None when the entry is missing
    problem: str  # one of PROBLEMS


@dataclass(frozen=True)
class ChainCheck:
    entries: int  # entries found good, in order from the first
    last_seq: int
    last_hash: str
    broken: ChainBreak | None = None

    @property
    def ok(self) -> bool:
        return self.broken is None


def verify_chain(db: Session, *, batch: int = BATCH) -> ChainCheck:
    """Walk the whole chain, in order, and stop at the first broken entry."""
    anchor = db.exec(
        select(AuditVerification.last_seq, AuditVerification.last_hash)
        .where(col(AuditVerification.ok).is_(True))
        .order_by(col(AuditVerification.id).desc())
        .limit(1)
    ).first()
    count, last_hash = 0, GENESIS
    head: tuple[int, str] | None = None
    settled = False
    for _round in range(CATCH_UP):
        for fields in _entries_after(db, count, batch):
            broken = _judge(fields, count + 1, last_hash, anchor)
            if broken is not None:
                return ChainCheck(count, count, last_hash, broken)
            count, last_hash = fields["seq"], fields["hash"]
        found = db.exec(
            select(AuditChainHead.seq, AuditChainHead.hash).where(AuditChainHead.id == HEAD_ID)
        ).first()
        head = (found[0], found[1]) if found is not None else None
        # An entry and the head it moves commit together. A head beyond the entries read, with
        # more entries there, is entries committed meanwhile: read on. Without more entries,
        # the log lost its end.
        if head is None or head[0] <= count or not _has_entry_after(db, count):
            settled = True
            break
    if settled and head is not None:
        if head[0] > count:
            return ChainCheck(count, count, last_hash, ChainBreak(count + 1, None, "missing"))
        if head != (count, last_hash):
            return ChainCheck(count, count, last_hash, ChainBreak(count, _id_of(db, count), "head"))
    if anchor is not None and anchor[0] > count:
        return ChainCheck(count, count, last_hash, ChainBreak(count + 1, None, "missing"))
    return ChainCheck(count, count, last_hash)


def _entries_after(db: Session, seq: int, batch: int) -> Iterator[dict[str, Any]]:
    columns = [getattr(AuditEntry, name) for name in ("id", *CHAINED_FIELDS, "hash")]
    while True:
        rows = db.exec(
            select(*columns)  # type: ignore[call-overload]
            .where(col(AuditEntry.seq) > seq)
            .order_by(col(AuditEntry.seq))
            .limit(batch)
        ).all()
        for row in rows:
            yield dict(row._mapping)
        if len(rows) < batch:
            return
        seq = rows[-1].seq


def _judge(
    fields: dict[str, Any], expected: int, previous: str, anchor: tuple[int, str] | None
) -> ChainBreak | None:
    if fields["seq"] != expected:
        return ChainBreak(expected, None, "missing")
    if fields["prev_hash"] != previous:
        return ChainBreak(expected, fields["id"], "unlinked")
    if entry_hash(fields) != fields["hash"]:
        return ChainBreak(expected, fields["id"], "changed")
    if anchor is not None and anchor[0] == expected and anchor[1] != fields["hash"]:
        return ChainBreak(expected, fields["id"], "rewritten")
    return None


def _has_entry_after(db: Session, seq: int) -> bool:
    return (
        db.exec(select(AuditEntry.id).where(col(AuditEntry.seq) > seq).limit(1)).first() is not None
    )


def _id_of(db: Session, seq: int) -> int | None:
    return db.exec(select(AuditEntry.id).where(AuditEntry.seq == seq)).first()


def record_verification(db: Session, check: ChainCheck, now: datetime) -> AuditVerification:
    found = AuditVerification(
        at=now,
        entries=check.entries,
        ok=check.ok,
        broken_seq=check.broken.seq if check.broken else None,
        problem=check.broken.problem if check.broken else None,
        last_seq=check.last_seq,
        last_hash=check.last_hash,
    )
    db.add(found)
    db.flush()
    return found


def last_verification(db: Session) -> AuditVerification | None:
    return db.exec(
        select(AuditVerification).order_by(col(AuditVerification.id).desc()).limit(1)
    ).first()


def check_and_record(engine: Engine, now: datetime) -> ChainCheck:
    """Walk the chain (a read of its own), then record the outcome in a unit of work."""
    with session_scope(engine) as db:
        check = verify_chain(db)
    with session_scope(engine) as db:
        record_verification(db, check, now)
    return check


@handler(VERIFY_JOB, every=timedelta(days=1))
def verify_job(db: Session, payload: dict[str, Any], ctx: JobContext) -> None:
    """The daily check: a broken chain is recorded (the DPO's pages say so), not retried."""
    record_verification(db, verify_chain(db), ctx.now)
