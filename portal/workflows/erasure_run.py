"""Carrying out approved erasure plans, deferred erasure, and the retention sweep (DESIGN §5).

Execution works source by source: each source's changes are one transaction in the company's
database, and a `PlanSourceDone` row in the portal's records that the source is finished. The
job handler does one source per run and queues the next run, so the marker commits right after
its source (the worker commits it with the job): a crash between the two re-applies that one
source, which is harmless because every change is idempotent (delete where still present, null
what is not null, pseudonymise what is not yet a pseudonym).

Pseudonyms are ``ps:`` + the keyed hash (`erasure.pseudonym`), trimmed to the column: the prefix
marks a value as done, so a re-run never hashes a hash. A column that cannot hold one (not text,
or shorter than ``MIN_PSEUDONYM``) is an error, never a silent NULL.

Execution checks what it wrote (`_Applier`): a step it cannot carry out raises `ErasureError`,
its source's transaction rolls back, the job is parked at once and the request marked "needs
attention" with the reason (`needs_attention`); the DPO runs it again after fixing the cause
(`workflows/attention.py`). `portal datamap check` refuses the maps that would get here.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock
from pathlib import Path
from typing import Any

from sqlalchemy import bindparam, delete, func, inspect, select, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DataError, IntegrityError, ProgrammingError
from sqlmodel import Session, col
from sqlmodel import select as sm_select

from portal import i18n
from portal.audit import AuditActor, record
from portal.datamap.collect import Row, forget_reflected, reflected_table
from portal.datamap.effects import PREFIX
from portal.datamap.identity import DEFAULT_CHUNK, among_as_column, chunks
from portal.datamap.model import DataMap
from portal.datamap.retention import (
    CaseHold,
    DueRows,
    RetentionReport,
    SweepReader,
    due_for_retention,
)
from portal.datamap.schema_check import holds_text, pseudonym_misfit
from portal.db import session_scope
from portal.i18n import gettext as _
from portal.identity.addresses import forget_claims
from portal.jobs.queue import Job, JobContext, Unretryable, enqueue, handler
from portal.models import Subject, SubjectIdentifier, WebSession
from portal.settings import SettingsError
from portal.workflows import erasure, recipients
from portal.workflows.email_requests import forget_contacts
from portal.workflows.erasure import ErasurePlan, Step, plan_row
from portal.workflows.letters import queue_outcome_message
from portal.workflows.records import (
    CaseHoldRecord,
    DeferredDone,
    PlanSourceDone,
    PlanStatus,
    StoredPlan,
    case_holds_for,
)
from portal.workflows.requests import Actor, DataRequest, RequestStatus, apply, needs_attention

logger = logging.getLogger("portal.erasure")

# Test hook: after a source commits, the first run writes this file and sleeps (to be killed).
PAUSE_ENV = "INNSYN_ERASURE_TEST_PAUSE"
# Rows of one table per transaction of the retention sweep: large enough that a statement's
# overhead is spread thin, small enough that no lock is held for more than a moment.
SWEEP_BATCH = 5_000


class ErasureError(Unretryable):
    """Execution cannot go on until someone fixes the cause: the job is parked at once and its
    request marked "needs attention". The message names ids, tables and columns only, never
    personal data (the DPO reads it)."""


# --- where the company's data is (the worker loads it once per process) --------------------------


@dataclass(frozen=True)
class Runtime:
    datamap: DataMap
    sources: Mapping[str, Engine]


_RUNTIME: Runtime | None = None
_RUNTIME_LOCK = threading.Lock()


def set_runtime(datamap: DataMap, sources: Mapping[str, Engine]) -> None:
    """Use this map and these engines in the job handlers (the app or a test sets them)."""
    global _RUNTIME
    _RUNTIME = Runtime(datamap, dict(sources))


def runtime() -> Runtime:
    """The map from DATAMAP_FILE (default: the demo's) and its engines, loaded once."""
    global _RUNTIME
    with _RUNTIME_LOCK:
        if _RUNTIME is None:
            from portal.datamap import create_engines, load_datamap
            from portal.demo import DATAMAP_PATH

            datamap = load_datamap(os.environ.get("DATAMAP_FILE") or DATAMAP_PATH)
            _RUNTIME = Runtime(datamap, create_engines(datamap))
        return _RUNTIME


def pseudonym_key(datamap: DataMap, environ: Mapping[str, str] | None = None) -> bytes:
    """The key from the map's variable. Development without one gets a key generated into the
    var directory (as the secret key is), so `make run` can erase; production must set it."""
    env = os.environ if environ is None else environ
    name = datamap.settings.pseudonym_key_env
    value = env.get(name, "")
    if not value and env.get("PORTAL_ENV", "development") != "production":
        value = _development_key(Path(env.get("PORTAL_VAR_DIR") or "var") / "pseudonym_key")
    if len(value) < 16:
        raise ErasureError(f"the pseudonym key {name} is not set (at least 16 characters)")
    return value.encode()


def require_pseudonym_key(datamap: DataMap, environ: Mapping[str, str] | None = None) -> None:
    """At start-up in production: the key must be set before anything runs, not discovered
    missing by the first erasure, hours later, in a worker."""
    try:
        pseudonym_key(datamap, environ)
    except ErasureError:
        name = datamap.settings.pseudonym_key_env
        raise SettingsError(
            f"{name} is required when PORTAL_ENV=production (at least 16 characters): it keys"
            " the pseudonyms of records kept under a legal hold"
        ) from None


def _development_key(path: Path) -> str:
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    return path.read_text().strip()


# --- applying steps to one source -------------------------------------------------------------


@dataclass(frozen=True)
class ColumnInfo:
    nullable: bool
    misfit: str | None  # why the column cannot hold a pseudonym; None: it can
    length: int | None  # text columns: their length (None: unbounded)


@dataclass(frozen=True)
class Pointer:
    """Rows of a table in the same database that point at rows of another."""

    db_table: str
    column: str
    referred: str  # the column pointed at
    child: str | None  # the map's name for the pointing table, when it is mapped
    ondelete: str | None  # the database's ON DELETE for it, if a foreign key


_Cache = dict[tuple[str | None, str], Any]
_COLUMNS: weakref.WeakKeyDictionary[Engine, _Cache] = weakref.WeakKeyDictionary()
_FOREIGN_KEYS: weakref.WeakKeyDictionary[Engine, _Cache] = weakref.WeakKeyDictionary()


def _columns(
    engine: Engine, connection: Connection, name: str, schema: str | None
) -> dict[str, ColumnInfo]:
    cache = _COLUMNS.setdefault(engine, {})
    if (schema, name) not in cache:
        found = {}
        for column in inspect(connection).get_columns(name, schema=schema):
            kind = column["type"]
            length = getattr(kind, "length", None) if holds_text(kind) else None
            found[column["name"]] = ColumnInfo(
                bool(column.get("nullable", True)), pseudonym_misfit(column), length
            )
        cache[(schema, name)] = found
    return cache[(schema, name)]


def _foreign_keys(engine: Engine, connection: Connection, schema: str | None) -> dict:
    """Every foreign key of the schema, by (schema, table), read once per engine."""
    cache = _FOREIGN_KEYS.setdefault(engine, {})
    if (schema, "") not in cache:
        cache[(schema, "")] = inspect(connection).get_multi_foreign_keys(schema=schema)
    return cache[(schema, "")]


class _Applier:
    """Applies plan steps inside one transaction of one source's database, and checks what it
    wrote: a pseudonymised column holds the pseudonym, a nulled one is NULL, a deleted row is
    gone, and no row that stays points at one it deleted. Anything else is an `ErasureError`
    (the transaction rolls back): the plan never claims what was not done."""

    def __init__(
        self, datamap: DataMap, engine: Engine, connection: Connection, secret: bytes | None
    ) -> None:
        self.datamap = datamap
        self.engine = engine
        self.connection = connection
        self.secret = secret
        self.rows = 0

    def apply(self, steps: Iterable[Step]) -> int:
        by_table: dict[str, list[Step]] = {}
        for step in steps:
            by_table.setdefault(step.table, []).append(step)
        # Children before parents: a child's row (or its link) goes before the row it points at.
        for name in reversed(self.datamap.table_order()):
            table_steps = by_table.get(name)
            if table_steps:
                try:
                    self._table(name, table_steps)
                except (IntegrityError, DataError, ProgrammingError) as exc:
                    # A constraint or type the map did not account for; the driver's message
                    # may quote values, so only its class is kept.
                    raise ErasureError(
                        f"table '{name}': the database refused the change "
                        f"({type(exc.orig).__name__}); {_FIX}"
                    ) from exc
        return self.rows

    def _table(self, name: str, steps: list[Step]) -> None:
        changes = [s for s in steps if not s.delete_row and (s.null or s.pseudonymise)]
        if changes:
            self._update(name, changes)
        deletes = [s.key for s in steps if s.delete_row]
        if deletes:
            self._detach_children(name, deletes)
            self._refuse_if_pointed_at(name, deletes)
            self._delete(name, deletes)

    def _schema(self, name: str) -> str | None:
        return self.datamap.sources[self.datamap.tables[name].source].schema_

    def _table_obj(self, name: str) -> Any:
        return self._db_table(self.datamap.db_table(name), self._schema(name))

    def _db_table(self, db_name: str, schema: str | None) -> Any:
        return reflected_table(self.engine, self.connection, db_name, schema)

    def _info(self, name: str) -> dict[str, ColumnInfo]:
        return _columns(
            self.engine, self.connection, self.datamap.db_table(name), self._schema(name)
        )

    def _delete(self, name: str, keys: list[Any]) -> None:
        table = self._table_obj(name)
        key = table.c[self.datamap.tables[name].key]
        for part in chunks(keys, DEFAULT_CHUNK):
            self.rows += self.connection.execute(
                delete(table).where(among_as_column(self.connection, key, part))
            ).rowcount
            statement = (
                select(func.count())
                .select_from(table)
                .where(among_as_column(self.connection, key, part))
            )
            left = self.connection.execute(statement).scalar()
            if left:
                raise ErasureError(
                    f"table '{name}': {left} rows are still there after they were deleted; {_FIX}"
                )

    def pointers(self, name: str) -> list[Pointer]:
        """What points at rows of ``name`` in its database: the links of the map's other
        tables of this source, and the database's foreign keys (mapped tables or not)."""
        spec = self.datamap.tables[name]
        found: dict[tuple[str, str], Pointer] = {}
        for child, child_spec in self.datamap.tables.items():
            if child_spec.source != spec.source:
                continue
            for link in child_spec.parent_links:
                if link.table == name:
                    db_name = self.datamap.db_table(child)
                    referred = self.datamap.parent_key(link)
                    found[(db_name, link.column)] = Pointer(
                        db_name, link.column, referred, child, None
                    )
        schema = self._schema(name)
        target = self.datamap.db_table(name)
        for (_schema, db_name), keys in _foreign_keys(self.engine, self.connection, schema).items():
            for fk in keys:
                columns = fk.get("constrained_columns") or []
                if fk.get("referred_table") != target or len(columns) != 1:
                    continue
                if fk.get("referred_schema") not in (None, schema):
                    continue
                known = found.get((db_name, columns[0]))
                found[(db_name, columns[0])] = Pointer(
                    db_name,
                    columns[0],
                    (fk.get("referred_columns") or [spec.key])[0],
                    known.child if known else self._mapped(db_name, spec.source),
                    (fk.get("options") or {}).get("ondelete"),
                )
        return list(found.values())

    def _mapped(self, db_name: str, source: str) -> str | None:
        for name, spec in self.datamap.tables.items():
            if spec.source == source and self.datamap.db_table(name) == db_name:
                return name
        return None

    def _referred(self, name: str, column: str, keys: list[Any]) -> list[Any]:
        """The values of ``column`` in the rows with these keys (the keys themselves if it is
        the key)."""
        spec = self.datamap.tables[name]
        if column == spec.key:
            return list(keys)
        table = self._table_obj(name)
        values: list[Any] = []
        for part in chunks(keys, DEFAULT_CHUNK):
            statement = select(table.c[column]).where(
                among_as_column(self.connection, table.c[spec.key], part)
            )
            values.extend(v for v in self.connection.execute(statement).scalars() if v is not None)
        return values

    def _detach_children(self, name: str, keys: list[Any]) -> None:
        """Rows of mapped tables of this source that point at rows about to go lose the link,
        where the column may be NULL (a kept order's account): the database's foreign keys
        would refuse the delete. Rows that cannot lose it are `_refuse_if_pointed_at`'s."""
        for pointer in self.pointers(name):
            if pointer.child is None:
                continue
            column_info = self._info(pointer.child).get(pointer.column)
            if column_info is None or not column_info.nullable:
                continue
            table = self._table_obj(pointer.child)
            column = table.c[pointer.column]
            for part in chunks(self._referred(name, pointer.referred, keys), DEFAULT_CHUNK):
                self.connection.execute(
                    update(table)
                    .where(among_as_column(self.connection, column, part))
                    .values({pointer.column: None})
                )

    def _refuse_if_pointed_at(self, name: str, keys: list[Any]) -> None:
        """No row that stays may point at a row this deletes: PostgreSQL would refuse the
        delete with a bare foreign-key error, SQLite would leave the row pointing at nothing.
        (A foreign key with ON DELETE CASCADE or SET NULL is the database's own rule.)"""
        for pointer in self.pointers(name):
            if (pointer.ondelete or "").upper() in ("CASCADE", "SET NULL"):
                continue
            table = self._db_table(pointer.db_table, self._schema(name))
            column = table.c[pointer.column]
            left = 0
            for part in chunks(self._referred(name, pointer.referred, keys), DEFAULT_CHUNK):
                statement = (
                    select(func.count())
                    .select_from(table)
                    .where(among_as_column(self.connection, column, part))
                )
                left += self.connection.execute(statement).scalar() or 0
            if left:
                what = pointer.child or f"{pointer.db_table}, not in the data map"
                raise ErasureError(
                    f"table '{name}': {left} rows of '{what}' (column '{pointer.column}') "
                    f"point at rows to be deleted and are kept, so those rows cannot be "
                    f"deleted; {_FIX}"
                )

    def _update(self, name: str, steps: list[Step]) -> None:
        spec = self.datamap.tables[name]
        table = self._table_obj(name)
        info = self._info(name)
        kinds = {link.column: link.identifier for link in spec.identifier_links}
        wanted = {step.key: step for step in steps}
        columns = sorted({c for s in steps for c in (*s.null, *s.pseudonymise)})
        key = table.c[spec.key]
        batches: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        written: dict[Any, dict[str, Any]] = {}
        for part in chunks(list(wanted), DEFAULT_CHUNK):
            statement = select(key, *(table.c[c] for c in columns)).where(
                among_as_column(self.connection, key, part)
            )
            for current in self.connection.execute(statement).mappings():
                step = wanted[current[spec.key]]
                values = self._new_values(name, step, current, info, kinds)
                if values:
                    written[current[spec.key]] = values
                    params = {f"v_{c}": v for c, v in values.items()}
                    params["k_key"] = current[spec.key]
                    batches.setdefault(tuple(sorted(values)), []).append(params)
        for names, params in batches.items():
            statement = (
                update(table)
                .where(key == bindparam("k_key"))
                .values({c: bindparam(f"v_{c}") for c in names})
            )
            self.connection.execute(statement, params)
            self.rows += len(params)
        self._verify(name, table, key, columns, written)

    def _verify(
        self,
        name: str,
        table: Any,
        key: Any,
        columns: list[str],
        written: Mapping[Any, Mapping[str, Any]],
    ) -> None:
        """Read back what was written: each value as written (a pseudonym whole, as cut to
        its column; NULL where nulled)."""
        wrong: dict[str, int] = {}
        for part in chunks(list(written), DEFAULT_CHUNK):
            statement = select(key, *(table.c[c] for c in columns)).where(
                among_as_column(self.connection, key, part)
            )
            for current in self.connection.execute(statement).mappings():
                for column, value in written[current[key.name]].items():
                    if not _same(current[column], value):
                        wrong[column] = wrong.get(column, 0) + 1
        if wrong:
            column, count = min(wrong.items())
            raise ErasureError(
                f"table '{name}', column '{column}': {count} rows do not hold what the erasure "
                f"wrote (a pseudonym or NULL); {_FIX}"
            )

    def _new_values(
        self,
        name: str,
        step: Step,
        current: Mapping[str, Any],
        info: Mapping[str, ColumnInfo],
        kinds: Mapping[str, str | None],
    ) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for column in step.pseudonymise:
            value = current[column]
            if value is None or _is_pseudonym(value):
                continue
            values[column] = self._pseudonym(name, column, value, info[column], kinds.get(column))
        for column in step.null:
            value = current[column]
            column_info = info[column]
            if value is None or (not column_info.nullable and _is_pseudonym(value)):
                continue
            # A NOT NULL column cannot be emptied (an anonymised row's identifier the map keeps):
            # it gets a pseudonym instead.
            values[column] = (
                None
                if column_info.nullable
                else self._pseudonym(name, column, value, column_info, None)
            )
        return {column: value for column, value in values.items() if value != current[column]}

    def _pseudonym(
        self, name: str, column: str, value: Any, info: ColumnInfo, kind: str | None
    ) -> str:
        if info.misfit is not None:
            raise ErasureError(
                f"table '{name}', column '{column}': a pseudonym cannot be written here "
                f"({info.misfit}); {_FIX}"
            )
        if self.secret is None:
            raise ErasureError("a pseudonym is needed but no key was given")
        region = self.datamap.settings.region
        text = PREFIX + erasure.pseudonym(self.secret, kind or column, value, region)
        return text[: info.length] if info.length is not None else text


# What an `ErasureError` about the company's data asks of the DPO.
_FIX = "fix the data map (`portal datamap check` says how), then run the erasure again"


def _same(read: Any, written: Any) -> bool:
    """What was read back is what was written (a CHAR column pads text with spaces)."""
    if isinstance(read, str) and isinstance(written, str):
        return read.rstrip(" ") == written.rstrip(" ")
    return read == written


def _is_pseudonym(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(PREFIX)


def apply_steps(
    datamap: DataMap, engine: Engine, steps: Sequence[Step], secret: bytes | None
) -> int:
    """Apply steps (of one source) in one transaction; returns the rows changed or deleted.
    Raises `ErasureError` (and changes nothing) when a step cannot be carried out."""
    try:
        with engine.begin() as connection:
            return _Applier(datamap, engine, connection, secret).apply(steps)
    except ErasureError:
        # The fix may be made in the database (a wider column): read its schema afresh.
        _COLUMNS.pop(engine, None)
        _FOREIGN_KEYS.pop(engine, None)
        forget_reflected(engine)
        raise


def _needs_key(steps: Iterable[Step]) -> bool:
    return any(step.pseudonymise or step.null for step in steps)


# --- executing a stored plan ------------------------------------------------------------------


def execute_plan(
    db: Session,
    plan: StoredPlan,
    *,
    datamap: DataMap,
    sources: Mapping[str, Engine],
    now: datetime,
    max_sources: int | None = None,
) -> bool:
    """Carry out an approved plan, source by source; True once every source is done and the
    request completed. With ``max_sources``, stop after that many sources (False if more are
    left). Sources already done are skipped; the plan must be approved (or executed: no-op)."""
    if plan.status == PlanStatus.executed:
        return True
    if plan.status != PlanStatus.approved:
        raise ErasureError(f"erasure plan {plan.id} is {plan.status}, not approved")
    erasure_plan = ErasurePlan.from_dict(plan.plan)
    steps = erasure_plan.steps
    by_source = _by_source(datamap, steps, plan.id)
    done = set(db.exec(sm_select(PlanSourceDone.source).where(PlanSourceDone.plan_id == plan.id)))
    pending = [name for name in by_source if name not in done]
    secret = pseudonym_key(datamap) if _needs_key(steps) else None
    if not done:
        # Before anything changes: the rows still say what they are, for the recipients' tasks.
        _note_recipients(db, plan, steps, datamap, sources, now)
    for index, source in enumerate(pending):
        if max_sources is not None and index >= max_sources:
            return False
        rows = apply_steps(datamap, sources[source], by_source[source], secret)
        db.add(PlanSourceDone(plan_id=plan.id, source=source, done_at=now, rows=rows))
        db.flush()
        logger.info("erasure plan=%s source=%s rows=%s", plan.id, source, rows)
        _test_pause()
    _finish(db, plan, erasure_plan, datamap, now)
    return True


def _note_recipients(
    db: Session,
    plan: StoredPlan,
    steps: Sequence[Step],
    datamap: DataMap,
    sources: Mapping[str, Engine],
    now: datetime,
) -> None:
    """The tasks of the recipients of what the plan erases (art. 19), sent when it is done."""
    _tell_erasure_recipients(
        db,
        plan.request_id,
        steps,
        datamap,
        now,
        rows_of=lambda concerned: recipients.rows_for(datamap, sources, concerned),
        send=False,
    )


def _tell_erasure_recipients(
    db: Session,
    request_id: int,
    steps: Sequence[Step],
    datamap: DataMap,
    now: datetime,
    *,
    rows_of: Callable[[list[recipients.Concerned]], Mapping[str, Sequence[Row]]],
    send: bool,
) -> None:
    """A task for each recipient of what ``steps`` erase; ``rows_of`` the records the
    messages name (read only when someone is to be told)."""
    request = db.get(DataRequest, request_id)
    concerned = recipients.erasure_recipients(datamap, steps)
    if request is None or not concerned:
        return
    subject = db.get(Subject, request.subject_id) if request.subject_id is not None else None
    recipients.tell_recipients(
        db,
        request,
        concerned,
        recipients.TaskAction.erasure,
        datamap=datamap,
        rows=rows_of(concerned),
        national_id=subject.national_id if subject is not None else None,
        now=now,
        send=send,
    )


def _by_source(
    datamap: DataMap, steps: Sequence[Step], plan_id: int | None
) -> dict[str, list[Step]]:
    found: dict[str, list[Step]] = {name: [] for name in datamap.sources}
    for step in steps:
        spec = datamap.tables.get(step.table)
        if spec is None:
            raise ErasureError(f"erasure plan {plan_id}: table {step.table} is not in the map")
        found[spec.source].append(step)
    return {name: items for name, items in found.items() if items}


def _test_pause() -> None:
    path = os.environ.get(PAUSE_ENV)
    if path and not Path(path).exists():
        Path(path).write_text("paused")
        time.sleep(120)


@contextmanager
def _language(language: str) -> Iterator[None]:
    previous = i18n.current_language()
    i18n.set_language(language)
    try:
        yield
    finally:
        i18n.set_language(previous)


def _finish(
    db: Session, stored: StoredPlan, plan: ErasurePlan, datamap: DataMap, now: datetime
) -> None:
    stored.status = PlanStatus.executed
    stored.executed_at = now
    db.add(stored)
    request = db.get(DataRequest, stored.request_id)
    if request is None:
        raise ErasureError(f"erasure plan {stored.id}: its request is gone")
    subject = db.get(Subject, request.subject_id) if request.subject_id is not None else None
    if subject is None:
        raise ErasureError(f"erasure plan {stored.id}: its request has no person")
    kept = [step for step in plan.steps if step.action == "retain"]
    if request.status == RequestStatus.in_progress:
        with _language(request.language):
            if kept:
                reason = _(
                    "Some of your data must be kept for now. The outcome letter says what is "
                    "kept, why, and until when."
                )
                apply(
                    db,
                    request,
                    "complete_partially",
                    actor=Actor.system,
                    reason=reason,
                    now=now,
                    notify=False,  # the outcome letter below tells the person
                )
            else:
                apply(db, request, "complete", actor=Actor.system, now=now, notify=False)
    schedule_deferred(db, stored.id or 0, plan.deferred(), datamap, "plan", now=now)
    recipients.send_waiting(db, request.id or 0, datamap, now)
    # The outbox message (in the person's language) before the portal forgets them.
    queue_outcome_message(
        db,
        plan=stored,
        request=request,
        subject=subject,
        controller=datamap.controller,
        language=request.language,
        now=now,
    )
    forget_in_portal(db, subject, now)
    counts = {action: sum(s.action == action for s in plan.steps) for action in erasure.ACTIONS}
    record(
        db,
        actor=AuditActor.system,
        actor_id=None,
        action="erasure.executed",
        subject_id=request.subject_id,
        details={"plan_id": stored.id, "request_id": request.id, **counts},
        now=now,
    )


def forget_in_portal(db: Session, subject: Subject, now: datetime) -> None:
    """The portal's own traces the erasure also removes: the person's name, the identifiers
    staff linked or the person proved (they would lead back to kept rows), the addresses they
    were still proving, what they typed when filing without BankID (all but the address the
    request's messages go to), and every live session. The subject row
    stays with the national ID only: the request, its plan and the audit log point at it as
    evidence that the request was handled, and a later BankID sign-in finds the request and
    its letter by it (README, "What the portal keeps")."""
    subject_id = subject.id
    subject.given_name = ""
    subject.family_name = ""
    db.add(subject)
    db.execute(delete(SubjectIdentifier).where(SubjectIdentifier.subject_id == subject_id))
    forget_claims(db, subject_id or 0)
    forget_contacts(db, subject_id or 0)
    db.execute(
        update(WebSession)
        .where(WebSession.subject_id == subject_id, WebSession.ended_at.is_(None))
        .values(ended_at=now)
    )


def schedule_deferred(
    db: Session,
    plan_id: int,
    jobs: Mapping[date, Sequence[Step]],
    datamap: DataMap,
    tag: str,
    *,
    now: datetime,
    run_at: datetime | None = None,
) -> None:
    """One "erasure.deferred" job per day, table and next action (due at the start of the day,
    or at ``run_at``); children's jobs first."""
    order = {name: index for index, name in enumerate(reversed(datamap.table_order()))}
    for day, steps in jobs.items():
        groups: dict[tuple[str, str], list[Any]] = {}
        for step in steps:
            groups.setdefault((step.table, step.then or "erase"), []).append(step.key)
        for (table, then), keys in sorted(groups.items(), key=lambda item: order[item[0][0]]):
            enqueue(
                db,
                "erasure.deferred",
                {"plan_id": plan_id, "table": table, "keys": keys, "then": then},
                now=now,
                run_at=run_at or datetime.combine(day, clock(), tzinfo=UTC),
                dedupe_key=f"erasure.deferred:{plan_id}:{table}:{then}:{day}:{tag}",
            )


# --- deferred erasure: a hold has ended -----------------------------------------------------


def run_deferred(
    db: Session,
    stored: StoredPlan,
    table: str,
    keys: Sequence[Any],
    *,
    datamap: DataMap,
    sources: Mapping[str, Engine],
    now: datetime,
    case_holds: Iterable[CaseHold] = (),
) -> dict[str, int]:
    """Judge the rows again as of today (a hold may still keep them: a DPO's case hold, a later
    date) and erase or anonymise those nothing keeps. Returns counts per action."""
    today = now.date()
    spec = datamap.tables[table]
    sweep = SweepReader(datamap, sources, DEFAULT_CHUNK)
    rows = sweep.load(table, spec.key, keys)
    if not rows:
        _record_deferred(db, stored, table, keys, (), now)
        return {}
    context = sweep.context(table, rows)
    holds = tuple(case_holds)
    steps = [plan_row(datamap, context, row, today, holds) for row in rows]
    secret = pseudonym_key(datamap) if _needs_key(steps) else None
    apply_steps(datamap, sources[spec.source], steps, secret)
    _tell_deferred(db, stored, steps, rows, datamap, now)
    later: dict[date, list[Step]] = {}
    for step in steps:
        if step.action == "retain" and step.until is not None:
            later.setdefault(step.until + timedelta(days=1), []).append(step)
    schedule_deferred(db, stored.id or 0, later, datamap, f"after:{today}", now=now)
    _record_deferred(db, stored, table, keys, [s for s in steps if s.action == "retain"], now)
    counts = {action: sum(s.action == action for s in steps) for action in erasure.ACTIONS}
    request = db.get(DataRequest, stored.request_id)
    record(
        db,
        actor=AuditActor.system,
        actor_id=None,
        action="erasure.deferred",
        subject_id=request.subject_id if request else None,
        details={"plan_id": stored.id, "table": table, **counts},
        now=now,
    )
    return counts


def _tell_deferred(
    db: Session,
    stored: StoredPlan,
    steps: Sequence[Step],
    rows: Sequence[Row],
    datamap: DataMap,
    now: datetime,
) -> None:
    """A hold has ended and its rows are erased: their recipients not yet told are (art. 19)."""
    _tell_erasure_recipients(
        db,
        stored.request_id,
        steps,
        datamap,
        now,
        rows_of=lambda _concerned: {rows[0].table: rows} if rows else {},
        send=True,
    )


def _record_deferred(
    db: Session,
    stored: StoredPlan,
    table: str,
    keys: Sequence[Any],
    kept: Sequence[Step],
    now: datetime,
) -> None:
    """What the person still has kept changes with every deferred run (workflows/kept.py)."""
    db.add(
        DeferredDone(
            plan_id=stored.id or 0,
            table_name=table,
            keys=list(keys),
            kept=[step.to_dict() for step in kept],
            done_at=now,
        )
    )


# --- retention sweep ----------------------------------------------------------------------------


def _active_holds(db: Session, today: date) -> tuple[list[CaseHold], dict[str, list[CaseHold]]]:
    records: list[CaseHold] = []
    people: dict[str, list[CaseHold]] = {}
    statement = sm_select(CaseHoldRecord, Subject).where(
        CaseHoldRecord.subject_id == Subject.id, col(CaseHoldRecord.released_at).is_(None)
    )
    for hold, subject in db.exec(statement):
        case = hold.as_case_hold()
        if not case.active_on(today):
            continue
        if case.scope == "person":
            people.setdefault(subject.national_id, []).append(case)
        else:
            records.append(case)
    return records, people


def sweep(
    db: Session,
    *,
    datamap: DataMap,
    sources: Mapping[str, Engine],
    today: date,
    dry_run: bool = True,
    now: datetime,
    batch: int | None = SWEEP_BATCH,
    narrow: bool = True,
) -> RetentionReport:
    """Rows whose retention period has ended and that nothing holds (the report); unless
    ``dry_run``, erase or anonymise them, with an audit entry that counts per table and rule
    (never keys or values), and one per batch as it is committed.

    The rows go in batches of at most ``batch`` rows of one table, a range of its keys, each
    batch its own transaction: a sweep of millions of rows never holds its locks for long, and
    one stopped half-way loses nothing, as the next finds what is left still due (a row done is
    gone, or holds its pseudonyms, which are never hashed again). Tables go children first, as
    in one transaction. ``batch=None``: one transaction per source; ``narrow=False``: every row
    read and judged in Python (both as before issue #21, kept to compare against)."""
    records, people = _active_holds(db, today)
    report = due_for_retention(
        datamap, sources, today, case_holds=records, held_people=people, narrow=narrow
    )
    if dry_run:
        return report
    if batch is None:
        steps = _sweep_steps(datamap, sources, report)
        secret = pseudonym_key(datamap) if _needs_key(steps) else None
        for source, items in _by_source(datamap, steps, None).items():
            apply_steps(datamap, sources[source], items, secret)
    else:
        # The key before the first batch: a missing one stops the sweep before it changes
        # anything, as it did when every step was made first.
        anonymised = any(item.then != "delete_row" for item in report.due)
        secret = pseudonym_key(datamap) if anonymised else None
        for source, item, keys, part in _sweep_batches(datamap, sources, report, batch):
            changed = apply_steps(datamap, sources[source], part, secret)
            _record_batch(db, item, keys, changed, today, now)
    record(
        db,
        actor=AuditActor.system,
        actor_id=None,
        action="retention.sweep",
        details={
            "today": today.isoformat(),
            "datamap_version": report.datamap_version,
            "due": [
                {"table": item.table, "rule": item.rule, "then": item.then, "rows": item.count}
                for item in report.due
            ],
            "held": [
                {"table": item.table, "hold": item.hold, "rows": item.count} for item in report.held
            ],
        },
        now=now,
    )
    return report


def _record_batch(
    db: Session, item: DueRows, rows: int, changed: int, today: date, now: datetime
) -> None:
    """An audit entry for a batch of ``rows`` due rows just committed in its source (``changed``
    of them changed or deleted: a row anonymised before has nothing left to change), committed
    at once in a unit of work of its own: a sweep stopped half-way leaves the batches it did in
    the log (the run's own entry comes with the job's transaction, and the next run counts only
    what is left)."""
    with session_scope(db.get_bind()) as own:
        record(
            own,
            actor=AuditActor.system,
            actor_id=None,
            action="retention.sweep.batch",
            details={
                "today": today.isoformat(),
                "table": item.table,
                "rule": item.rule,
                "then": item.then,
                "rows": rows,
                "changed": changed,
            },
            now=now,
        )


def _sweep_batches(
    datamap: DataMap, sources: Mapping[str, Engine], report: RetentionReport, size: int
) -> Iterator[tuple[str, DueRows, int, list[Step]]]:
    """(source, item, rows, steps) of at most ``size`` rows of one table and rule, a run of its
    keys in order, children's tables first (as in one transaction). Each batch's steps are made
    when it comes (the rows to anonymise read then), so a sweep of millions holds keys, not
    steps."""
    by_table: dict[str, list[DueRows]] = {}
    for item in report.due:
        by_table.setdefault(item.table, []).append(item)
    for name in reversed(datamap.table_order()):
        for item in by_table.get(name, ()):
            keys = list(item.keys)
            with contextlib.suppress(TypeError):  # keys of mixed types: the report's order
                keys.sort()
            for start in range(0, len(keys), size):
                part = keys[start : start + size]
                steps = _item_steps(datamap, sources, item, part)
                yield datamap.tables[name].source, item, len(part), steps


def _sweep_steps(
    datamap: DataMap, sources: Mapping[str, Engine], report: RetentionReport
) -> list[Step]:
    steps: list[Step] = []
    for item in report.due:
        steps.extend(_item_steps(datamap, sources, item, item.keys))
    return steps


def _item_steps(
    datamap: DataMap, sources: Mapping[str, Engine], item: DueRows, keys: Sequence[Any]
) -> list[Step]:
    """The steps for these rows due under ``item``'s rule."""
    if item.then == "delete_row":
        return [Step(item.table, key, "erase", delete_row=True) for key in keys]
    spec = datamap.tables[item.table]
    steps: list[Step] = []
    for row in SweepReader(datamap, sources, DEFAULT_CHUNK).load(item.table, spec.key, keys):
        if item.then == "anonymise":
            null, pseudonymise = erasure.anonymise_fields(spec, row)
            steps.append(Step(row.table, row.key, "anonymise", False, null, pseudonymise))
        else:
            null = erasure.changed_fields(row, {"null"}, set())
            pseudonymise = erasure.changed_fields(row, {"pseudonymise"}, set())
            steps.append(Step(row.table, row.key, "erase", False, null, pseudonymise))
    return steps


# --- job handlers -----------------------------------------------------------------------------


def _mark_request(db: Session, job: Job, error: str, now: datetime) -> None:
    """A parked erasure job: its request needs the DPO's attention, with the job's error."""
    stored = db.get(StoredPlan, int(job.payload.get("plan_id", 0)))
    if stored is not None:
        needs_attention(db, stored.request_id, reason=error, job_id=job.id, now=now)


@handler("erasure.execute", on_park=_mark_request)
def execute_job(db: Session, payload: dict[str, Any], ctx: JobContext) -> None:
    """One source per run; the next run is queued until the plan is done."""
    plan_id = int(payload["plan_id"])
    stored = db.get(StoredPlan, plan_id, with_for_update=True)
    if stored is None:
        raise ErasureError(f"no erasure plan {plan_id}")
    if stored.status == PlanStatus.superseded:
        # A hold changed while it was under way: a newer version took over the sources not
        # yet done (erasure_service.replan_rest), with a job of its own.
        return
    rt = runtime()
    finished = execute_plan(
        db, stored, datamap=rt.datamap, sources=rt.sources, now=ctx.now, max_sources=1
    )
    if not finished:
        done = len(
            db.exec(sm_select(PlanSourceDone.id).where(PlanSourceDone.plan_id == plan_id)).all()
        )
        enqueue(
            db,
            "erasure.execute",
            {"plan_id": plan_id},
            now=ctx.now,
            dedupe_key=f"erasure.execute:{plan_id}:{done}",
        )


@handler("erasure.deferred", on_park=_mark_request)
def deferred_job(db: Session, payload: dict[str, Any], ctx: JobContext) -> None:
    plan_id = int(payload["plan_id"])
    stored = db.get(StoredPlan, plan_id)
    if stored is None:
        raise ErasureError(f"no erasure plan {plan_id}")
    request = db.get(DataRequest, stored.request_id)
    holds = case_holds_for(db, request.subject_id) if request and request.subject_id else []
    rt = runtime()
    run_deferred(
        db,
        stored,
        str(payload["table"]),
        list(payload["keys"]),
        datamap=rt.datamap,
        sources=rt.sources,
        now=ctx.now,
        case_holds=holds,
    )


def _sweep_every(environ: Mapping[str, str] = os.environ) -> timedelta | None:
    """Daily in production unless INNSYN_RETENTION_SWEEP=off; elsewhere only when it is on
    (a development or test worker must not sweep a shared demo company on its own)."""
    setting = environ.get("INNSYN_RETENTION_SWEEP", "").lower()
    production = environ.get("PORTAL_ENV") == "production"
    on = setting in ("1", "on") or (production and setting not in ("0", "off"))
    return timedelta(days=1) if on else None


@handler("retention.sweep", every=_sweep_every())
def sweep_job(db: Session, payload: dict[str, Any], ctx: JobContext) -> None:
    rt = runtime()
    sweep(
        db, datamap=rt.datamap, sources=rt.sources, today=ctx.now.date(), dry_run=False, now=ctx.now
    )
