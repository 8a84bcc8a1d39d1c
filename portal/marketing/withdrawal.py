"""A withdrawn consent reaches the company's systems, so that they and the portal agree.

The data map says, per consent purpose, what a withdrawal changes (``consent.withdraw``): a column
set (``"$now"`` is the time of the withdrawal) or rows deleted, limited to the person's rows (found
by ``identity.resolve``) and to those matching ``when``. A job does it (``consent.withdrawal``),
so a source that is down is retried; each source changes in one transaction. Running it again
changes nothing more: a ``"$now"`` column is set only where still empty, rows only deleted once.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, delete, update
from sqlalchemy.engine import Engine
from sqlmodel import Session

from portal import audit
from portal.datamap.collect import reflected_table
from portal.datamap.identity import chunks, resolve
from portal.datamap.model import ConsentTarget, DataMap
from portal.jobs.queue import JobContext, handler
from portal.marketing.consent import ConsentEvent, TopicKind
from portal.models import Subject

NOW = "$now"


class WithdrawalError(RuntimeError):
    """The withdrawal cannot be applied; the message names ids and tables, never personal data."""


def apply_withdrawal(
    datamap: DataMap,
    sources: Mapping[str, Engine],
    *,
    purpose: str,
    national_id: str,
    proven: Mapping[str, Iterable[str]] | None,
    at: datetime,
) -> dict[str, int]:
    """Carry out the purpose's ``withdraw`` targets for the person; rows changed per table."""
    spec = datamap.purposes.get(purpose)
    if spec is None or spec.consent is None:
        raise WithdrawalError(f"purpose {purpose!r} does not rest on consent in the data map")
    resolution = resolve(datamap, sources, national_id, proven=proven)
    changed: dict[str, int] = {}
    by_source: dict[str, list[ConsentTarget]] = {}
    for target in spec.consent.withdraw:
        by_source.setdefault(datamap.tables[target.table].source, []).append(target)
    for source, targets in by_source.items():
        engine = sources[source]
        with engine.begin() as connection:
            for target in targets:
                keys = resolution.keys.get(target.table, ())
                count = 0
                for chunk in chunks(keys, 1000):
                    count += _apply(datamap, engine, connection, target, chunk, at)
                changed[target.table] = changed.get(target.table, 0) + count
    return changed


def _apply(
    datamap: DataMap,
    engine: Engine,
    connection: Any,
    target: ConsentTarget,
    keys: list,
    at: datetime,
) -> int:
    name = target.table
    schema = datamap.sources[datamap.tables[name].source].schema_
    table = reflected_table(engine, connection, datamap.db_table(name), schema)
    conditions = [table.c[datamap.tables[name].key].in_(keys)]
    conditions += [table.c[column].in_(values) for column, values in target.when.items()]
    if target.action == "delete_row":
        return connection.execute(delete(table).where(*conditions)).rowcount
    assert target.column is not None
    column = table.c[target.column]
    value: Any = target.set
    if value == NOW:
        aware = isinstance(column.type, DateTime) and column.type.timezone
        value = at if aware else at.astimezone(UTC).replace(tzinfo=None)
        conditions.append(column.is_(None))  # keep the first withdrawal's time
    statement = update(table).where(*conditions).values({target.column: value})
    return connection.execute(statement).rowcount


@handler("consent.withdrawal")
def withdrawal_job(db: Session, payload: dict[str, Any], ctx: JobContext) -> None:
    from portal.identity.identifiers import proven_identifiers
    from portal.workflows.erasure_run import runtime

    item = db.get(ConsentEvent, int(payload["event_id"]))
    if item is None or item.kind != TopicKind.consent or item.active:
        raise WithdrawalError(f"event {payload['event_id']} is not a consent withdrawal")
    subject = db.get(Subject, item.subject_id)
    assert subject is not None
    rt = runtime()
    changed = apply_withdrawal(
        rt.datamap,
        rt.sources,
        purpose=item.topic,
        national_id=subject.national_id,
        proven=proven_identifiers(db, subject.id),
        at=item.at,
    )
    audit.record(
        db,
        actor=audit.AuditActor.system,
        actor_id=None,
        action="consent.withdrawal_applied",
        subject_id=subject.id,
        details={"event_id": item.id, "purpose": item.topic, "rows": changed},
        now=ctx.now,
    )
