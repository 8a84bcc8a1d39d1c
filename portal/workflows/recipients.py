"""Recipients told (GDPR art. 19): when an erasure, rectification or restriction is carried out,
every recipient or processor the data map names for the data affected gets a task.

A task (``recipient_task``) is one recipient, one action (erasure, rectification, restriction)
and the tables and categories of data concerned. It is done when the recipient confirms it by
the signed link in its message, or when the DPO records that it is (told on the phone, by
letter): ``confirmed_at``, ``confirmed_by`` ("link" or "dpo:<staff id>") and a note.

Which recipients: the map names recipients per field. An erasure tells the recipients of the
fields it actually erased or anonymised (``erasure_recipients``): a record kept under a hold is
not erased, so its recipients are not told, until a deferred erasure erases it. A rectification
or restriction tells the recipients of the tables named (``table_recipients``).

A recipient is told once per request, action and table: running a plan again, or a deferred
erasure of a table already told, makes no second task (``tell_recipients``). A recipient with a
``contact_email`` in the map gets the message (``recipient_task``, in its ``language``); one
without gets the task all the same, and the DPO tells them another way.

What the message says about the person is what the recipient needs to find the data and no
more (``reference``): the records concerned as the company and the recipient both know them
(the table's ``label``: "Order 10234, 12 Mar 2025"), and the person's identifiers of the kinds
the map's ``identify_by`` names for that recipient (a newsletter service: the e-mail address).
The reference is forgotten when the task is confirmed, in the task and in its message.

An erasure notes its tasks when the plan starts (the rows still say what they were) and sends
them when it is done (``send_waiting``, called by portal/workflows/erasure_run.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from itertools import islice
from typing import Any

from sqlalchemy import JSON, Column, String, Text
from sqlalchemy.engine import Engine
from sqlmodel import Field, Session, SQLModel, col, select

from portal import i18n, links
from portal.audit import AuditActor, record
from portal.datamap.collect import Row, collect
from portal.datamap.identity import DEFAULT_CHUNK
from portal.datamap.model import DataMap, TableSpec
from portal.datamap.retention import SweepReader
from portal.datamap.wording import format_field, record_label
from portal.db import utcnow
from portal.i18n import gettext as _
from portal.i18n import lazy_gettext as _l
from portal.identity.identifiers import proven_identifiers
from portal.jobs.outbox import MessageSite, OutboxMessage, queue_message
from portal.models import Subject
from portal.settings import Settings
from portal.workflows.erasure import Step
from portal.workflows.requests import DataRequest

MESSAGE_KIND = "recipient_task"
# The page a recipient's link opens (GET shows the task, POST confirms it).
CONFIRM_PATH = "/recipients/task"
MAX_NOTE = 1000
# A message names at most this many records per recipient, and says how many more.
MAX_RECORDS = 20
# What a recipient's message says about the person (forgotten from it once confirmed).
MESSAGE_KEYS = ("records", "identifiers", "more_records")
# Who confirmed: the recipient by its link, or a DPO (``dpo:<staff id>``).
BY_LINK = "link"


class TaskAction(StrEnum):
    erasure = "erasure"
    rectification = "rectification"
    restriction = "restriction"


IDENTIFIER_WORDS = {
    "national_id": _l("National identity number"),
    "customer_number": _l("Customer number"),
    "email": _l("E-mail address"),
    "phone": _l("Phone number"),
}


class RecipientTask(SQLModel, table=True):
    """One recipient told of one action on a request's data, and its confirmation."""

    __tablename__ = "recipient_task"

    id: int | None = Field(default=None, primary_key=True)
    request_id: int = Field(foreign_key="data_request.id", index=True)
    # The map's key for the recipient, and its name then (the task outlives map changes).
    recipient: str = Field(max_length=100)
    recipient_name: str = Field(max_length=200)
    action: TaskAction = Field(sa_type=String(20))
    # The map's tables concerned, and the categories of data as names per language.
    tables: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    categories: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    # What identifies the person to the recipient (records, identifiers); None once confirmed.
    reference: dict | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    email: str | None = Field(default=None, max_length=320)
    language: str = Field(max_length=5)
    created_at: datetime = Field(default_factory=utcnow)
    # The outbox message that told the recipient (None: no address, or not sent yet).
    message_id: int | None = None
    confirmed_at: datetime | None = None
    confirmed_by: str | None = Field(default=None, max_length=100)
    note: str | None = Field(default=None, sa_type=Text)

    @property
    def open(self) -> bool:
        return self.confirmed_at is None


class TaskRefused(ValueError):
    """The confirmation was refused; the message says why. Nothing changed."""


# --- which recipients ------------------------------------------------------------------------


@dataclass(frozen=True)
class Concerned:
    """A recipient of affected data: the tables and categories concerned (in the map's order),
    and the affected rows' keys per table (for the records the message names)."""

    recipient: str
    tables: tuple[str, ...]
    categories: tuple[str, ...]
    keys: Mapping[str, tuple[Any, ...]] = field(default_factory=dict)


def touched_fields(spec: TableSpec, step: Step) -> tuple[str, ...]:
    """The fields a step changes: every field of a deleted row, else those nulled or
    pseudonymised. A kept row's step changes none that a recipient must hear of."""
    if step.action == "retain":
        return ()
    if step.delete_row:
        return _disclosed(spec)
    return (*step.null, *step.pseudonymise)


def _disclosed(spec: TableSpec) -> tuple[str, ...]:
    """A table's fields but its own key and its links to other tables: the company's
    internal numbers, which say nothing to a recipient about the person."""
    internal = {spec.key, *(link.column for link in spec.parent_links)}
    return tuple(name for name in spec.fields if name not in internal)


def erasure_recipients(datamap: DataMap, steps: Iterable[Step]) -> list[Concerned]:
    """The recipients of the fields these steps erased or anonymised (not of what they kept)."""
    touched: dict[str, tuple[set[str], list[Any]]] = {}
    for step in steps:
        spec = datamap.tables.get(step.table)
        fields = touched_fields(spec, step) if spec is not None else ()
        if fields:
            names, keys = touched.setdefault(step.table, (set(), []))
            names.update(fields)
            keys.append(step.key)
    return _concerned(datamap, touched)


def table_recipients(
    datamap: DataMap, tables: Iterable[str], keys: Mapping[str, Sequence[Any]] | None = None
) -> list[Concerned]:
    """The recipients of any field of these tables (a rectification, a restriction)."""
    touched = {
        name: (set(_disclosed(datamap.tables[name])), list((keys or {}).get(name, ())))
        for name in tables
        if name in datamap.tables
    }
    return _concerned(datamap, touched)


def _concerned(
    datamap: DataMap, touched: Mapping[str, tuple[set[str], list[Any]]]
) -> list[Concerned]:
    found: dict[str, tuple[list[str], list[str], dict[str, tuple[Any, ...]]]] = {}
    for table in datamap.table_order():
        if table not in touched:
            continue
        fields, keys = touched[table]
        spec = datamap.tables[table]
        for name in spec.fields:
            if name not in fields:
                continue
            for recipient in spec.fields[name].recipients:
                tables, categories, by_table = found.setdefault(recipient, ([], [], {}))
                if table not in tables:
                    tables.append(table)
                    by_table[table] = tuple(keys)
                category = spec.fields[name].category
                if category not in categories:
                    categories.append(category)
    return [
        Concerned(recipient, tuple(tables), tuple(categories), by_table)
        for recipient, (tables, categories, by_table) in found.items()
        if recipient in datamap.processors
    ]


# --- what identifies the person to a recipient -----------------------------------------------


def rows_for(
    datamap: DataMap, sources: Mapping[str, Engine], concerned: Iterable[Concerned]
) -> dict[str, list[Row]]:
    """The rows a message names (at most MAX_RECORDS per table), read before they change."""
    wanted: dict[str, set[Any]] = {}
    for item in concerned:
        for table, keys in item.keys.items():
            wanted.setdefault(table, set()).update(keys[:MAX_RECORDS])
    reader = SweepReader(datamap, sources, DEFAULT_CHUNK)
    found: dict[str, list[Row]] = {}
    for table, keys in wanted.items():
        spec = datamap.tables[table]
        found[table] = reader.load(table, spec.key, keys)
    return found


def reference(
    datamap: DataMap,
    item: Concerned,
    rows: Mapping[str, Sequence[Row]],
    national_id: str | None,
    language: str,
) -> dict[str, Any]:
    """What the message to ``item.recipient`` says about the person: the records concerned
    (as the table's label names them, in the recipient's language) and the identifiers of the
    kinds its ``identify_by`` names, found in those rows (a national ID: the person's own)."""
    processor = datamap.processors[item.recipient]
    tz = datamap.controller.time_zone
    total = 0
    identifiers: dict[str, list[str]] = {kind: [] for kind in processor.identify_by}
    if "national_id" in identifiers and national_id:
        identifiers["national_id"].append(national_id)
    for table in item.tables:
        spec = datamap.tables[table]
        found = rows.get(table, ())
        total += max(len(item.keys.get(table, ())), len(found))
        for row in found:
            for link in spec.identifier_links:
                values = identifiers.get(link.identifier or "")
                value = row.value(link.column) if link.column in spec.fields else None
                if values is not None and value and str(value) not in values:
                    values.append(str(value))

    def labels(words: str) -> list[str]:
        shown = islice(_rows_of(item, rows), MAX_RECORDS)
        return [_label(datamap.tables[table], row, words, tz) for table, row in shown]

    # The same records as the DPO's case page shows them, in whichever language it is read.
    records_in = {other: labels(other) for other in i18n.LANGUAGES}
    records = records_in[language] if language in records_in else labels(language)
    return {
        "records": records,
        "more_records": max(total - len(records), 0),
        "identifiers": [[kind, value] for kind, values in identifiers.items() for value in values],
        "records_in": records_in,
    }


def _rows_of(item: Concerned, rows: Mapping[str, Sequence[Row]]) -> Iterator[tuple[str, Row]]:
    for table in item.tables:
        for row in rows.get(table, ()):
            yield table, row


def _label(spec: TableSpec, row: Row, language: str, tz: str) -> str:
    labelled = record_label(spec, row.as_dict(), language, tz)
    if labelled is not None:
        return labelled
    identifying = {link.column for link in spec.identifier_links}
    shown = [
        format_field(item.spec, item.value, language, tz)
        for item in row.fields
        if item.name in spec.shown[:3]
        and item.name not in identifying
        and item.value not in (None, "")
    ]
    name = spec.name.get(language)
    return f"{name}: {', '.join(shown)}" if shown else name


# --- telling them ------------------------------------------------------------------------------


def tasks_of(db: Session, request_id: int) -> list[RecipientTask]:
    """A request's tasks, oldest first."""
    statement = (
        select(RecipientTask)
        .where(RecipientTask.request_id == request_id)
        .order_by(col(RecipientTask.created_at), col(RecipientTask.id))
    )
    return list(db.exec(statement).all())


def tell_recipients(
    db: Session,
    request: DataRequest,
    concerned: Iterable[Concerned],
    action: TaskAction,
    *,
    datamap: DataMap,
    rows: Mapping[str, Sequence[Row]],
    national_id: str | None,
    now: datetime,
    send: bool = True,
    staff_id: int | None = None,
) -> list[RecipientTask]:
    """A task for each recipient concerned, for the tables it was not yet told of in this
    request and action; with ``send``, its message is queued now (else by ``send_waiting``).
    Returns the tasks made (none when every recipient was told already)."""
    request_id = request.id or 0
    told: dict[str, set[str]] = {}
    for task in tasks_of(db, request_id):
        if task.action == action:
            told.setdefault(task.recipient, set()).update(task.tables)
    made: list[RecipientTask] = []
    for item in concerned:
        tables = tuple(t for t in item.tables if t not in told.get(item.recipient, set()))
        if not tables:
            continue
        processor = datamap.processors[item.recipient]
        language = processor.language_for(datamap.controller.country)
        item = Concerned(item.recipient, tables, item.categories, item.keys)
        task = RecipientTask(
            request_id=request_id,
            recipient=item.recipient,
            recipient_name=processor.name,
            action=action,
            tables=list(tables),
            categories=_category_names(datamap, item.categories),
            reference=reference(datamap, item, rows, national_id, language),
            email=processor.contact_email,
            language=language,
            created_at=now,
        )
        db.add(task)
        db.flush()
        record(
            db,
            actor=AuditActor.staff if staff_id else AuditActor.system,
            actor_id=staff_id,
            action="recipient_task.created",
            subject_id=request.subject_id,
            details={
                "request_id": request_id,
                "task_id": task.id,
                "recipient": item.recipient,
                "action": str(action),
            },
            now=now,
        )
        if send:
            _send(db, task, datamap, now)
        made.append(task)
    return made


def tell_about_request(
    db: Session,
    request: DataRequest,
    action: TaskAction,
    *,
    datamap: DataMap,
    sources: Mapping[str, Engine],
    now: datetime,
    tables: Iterable[str] | None = None,
    staff_id: int | None = None,
) -> list[RecipientTask]:
    """A rectification or restriction carried out: the recipients of the person's data in
    ``tables`` (None: wherever the person has data) are told now, the records named from what
    is found for the person."""
    subject = db.get(Subject, request.subject_id) if request.subject_id is not None else None
    if subject is None:
        return []
    proven = proven_identifiers(db, subject.id or 0)
    found = collect(datamap, sources, subject.national_id, proven=proven)
    wanted = None if tables is None else set(tables)
    rows = {
        name: list(items)
        for name, items in found.tables.items()
        if items and (wanted is None or name in wanted)
    }
    keys = {name: [row.key for row in items] for name, items in rows.items()}
    return tell_recipients(
        db,
        request,
        table_recipients(datamap, rows, keys),
        action,
        datamap=datamap,
        rows=rows,
        national_id=subject.national_id,
        now=now,
        staff_id=staff_id,
    )


def recipient_tables(datamap: DataMap, language: str) -> dict[str, str]:
    """The map's tables whose fields name a recipient, by name in ``language``: what a
    rectification's outcome may say it corrected."""
    return {
        name: spec.name.get(language)
        for name, spec in datamap.tables.items()
        if any(field.recipients for field in spec.fields.values())
    }


def _category_names(datamap: DataMap, categories: Iterable[str]) -> dict[str, list[str]]:
    return {
        language: [
            datamap.categories[key].name.get(language) if key in datamap.categories else key
            for key in categories
        ]
        for language in i18n.LANGUAGES
    }


def send_waiting(db: Session, request_id: int, datamap: DataMap, now: datetime) -> int:
    """Queue the message of every task of the request that has an address and no message yet
    (an erasure's, once it is carried out). Returns how many were queued."""
    waiting = [
        task
        for task in tasks_of(db, request_id)
        if task.email and task.message_id is None and task.open
    ]
    for task in waiting:
        _send(db, task, datamap, now)
    return len(waiting)


def _send(db: Session, task: RecipientTask, datamap: DataMap, now: datetime) -> None:
    if not task.email:
        return
    controller = datamap.controller
    message = queue_message(
        db,
        MESSAGE_KIND,
        language=task.language,
        email=task.email,
        context={
            "task_id": task.id,
            "request_id": task.request_id,
            "action": str(task.action),
            "recipient_name": task.recipient_name,
            "categories": task.categories.get(task.language, []),
            **{key: value for key, value in (task.reference or {}).items() if key in MESSAGE_KEYS},
            "controller": {
                "name": controller.name,
                "contact": controller.contact,
                "dpo_contact": controller.dpo_contact,
            },
        },
        now=now,
    )
    task.message_id = message.id
    db.add(task)
    db.flush()


def task_values(context: Mapping[str, Any], language: str, site: MessageSite) -> dict[str, Any]:
    """``recipient_task``'s values (templates/emails/recipient_task.*): the link to confirm,
    signed as the message is sent (``site.recipient_link``), and the identifiers in words."""
    task_id = context.get("task_id")
    link = site.recipient_link if site.recipient_link is not None and task_id else None
    return {
        **context,
        "confirm_url": link(int(task_id or 0), language) if link is not None else None,
        "identifiers": [
            (str(IDENTIFIER_WORDS.get(kind, kind)), value)
            for kind, value in context.get("identifiers") or ()
        ],
    }


# --- confirming ----------------------------------------------------------------------------------


def confirm_url(task_id: int, language: str, now: datetime, settings: Settings) -> str:
    """The recipient's link to confirm a task, valid RECIPIENT_LINK_DAYS from ``now``."""
    expires = now + links.lifetime(settings, links.Purpose.recipient_task)
    link = links.Link(links.Purpose.recipient_task, str(task_id), expires, language=language)
    return links.absolute(settings.base_url, CONFIRM_PATH, links.sign(settings.secret_key, link))


def task_of_link(db: Session, token: str, *, now: datetime, settings: Settings) -> RecipientTask:
    """The task a link confirms, without acting (GET: scanners open links). LinkRefused as
    `confirm_by_link` would refuse it: not whole, past its time, or already confirmed."""
    link = links.verify(settings.secret_key, token, links.Purpose.recipient_task, now)
    try:
        task = db.get(RecipientTask, int(link.object_id))
    except ValueError:
        task = None
    if task is None:
        raise links.LinkRefused(links.Refusal.invalid, link)
    if not task.open:
        raise links.LinkRefused(links.Refusal.used, link)
    return task


def confirm_by_link(
    db: Session, token: str, note: str, *, now: datetime, settings: Settings
) -> RecipientTask:
    """The recipient confirms by its link (the caller locks nothing: a second confirmation
    finds the task confirmed and is refused as used)."""
    task = task_of_link(db, token, now=now, settings=settings)
    locked = db.get(RecipientTask, task.id, with_for_update=True, populate_existing=True)
    if locked is None or not locked.open:
        raise links.LinkRefused(links.Refusal.used)
    _confirm(db, locked, BY_LINK, note, now)
    record(
        db,
        actor=AuditActor.system,
        actor_id=None,
        action="recipient_task.confirmed",
        details={"request_id": locked.request_id, "task_id": locked.id, "by": BY_LINK},
        now=now,
    )
    return locked


def record_by_dpo(
    db: Session, task: RecipientTask, *, staff_id: int, note: str, now: datetime
) -> RecipientTask:
    """The DPO records that the recipient did it (told on the phone, by letter): a note of how
    is required. TaskRefused when the task is confirmed already."""
    if not task.open:
        raise TaskRefused(_("This recipient has confirmed already."))
    if not note.strip():
        raise TaskRefused(_("Say how the recipient confirmed it."))
    _confirm(db, task, f"dpo:{staff_id}", note, now)
    request = db.get(DataRequest, task.request_id)
    record(
        db,
        actor=AuditActor.staff,
        actor_id=staff_id,
        action="recipient_task.recorded",
        subject_id=request.subject_id if request is not None else None,
        details={"request_id": task.request_id, "task_id": task.id},
        now=now,
    )
    return task


def _confirm(db: Session, task: RecipientTask, by: str, note: str, now: datetime) -> None:
    note = note.strip()
    if len(note) > MAX_NOTE:
        raise TaskRefused(_("Please keep this under %(count)d characters.", count=MAX_NOTE))
    task.confirmed_at = now
    task.confirmed_by = by
    task.note = note or None
    # Done: what identified the person to the recipient is no longer needed anywhere.
    task.reference = None
    db.add(task)
    if task.message_id is not None:
        message = db.get(OutboxMessage, task.message_id)
        if message is not None:
            kept = {key: value for key, value in message.context.items() if key not in MESSAGE_KEYS}
            message.context = kept
            db.add(message)
    db.flush()


def confirmed_by_staff(task: RecipientTask) -> int | None:
    """The staff id of the DPO who recorded the confirmation; None when the link did."""
    by = task.confirmed_by or ""
    if by.startswith("dpo:") and by[4:].isdigit():
        return int(by[4:])
    return None
