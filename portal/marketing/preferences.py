"""A person's choices, end to end: read them (importing the company's own consent records),
change one, and keep the block list and the company's systems in step.

The portal's own writes (the event, the block-list entries, the withdrawal job) share one
transaction; the company's databases are only read here (identity, consent records). The
withdrawal itself reaches them through a job (``withdrawal.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session

from portal.datamap.collect import stream
from portal.datamap.identity import Resolution, resolve
from portal.datamap.model import DataMap
from portal.db import session_scope
from portal.identity.identifiers import person_keys
from portal.jobs.queue import enqueue
from portal.marketing import block_list, consent
from portal.marketing.consent import Actor, Choices, ConsentEvent, TopicKind, Via


@dataclass(frozen=True)
class PersonChoices:
    choices: Choices
    history: tuple[ConsentEvent, ...]  # newest first


@dataclass(frozen=True)
class Change:
    kind: TopicKind
    topic: str
    active: bool
    via: Via
    actor: Actor
    actor_id: int | None = None
    text_version: str | None = None


def _record_rows(
    datamap: DataMap, sources: Mapping[str, Engine], resolution: Resolution
) -> dict[str, list[tuple[Any, dict[str, Any]]]]:
    """The person's rows in the tables the map names as consent records."""
    wanted = {
        p.consent.record.table
        for p in consent.consent_purposes(datamap).values()
        if p.consent and p.consent.record
    }
    rows: dict[str, list[tuple[Any, dict[str, Any]]]] = {}
    for part in stream(datamap, sources, resolution):
        if part.name in wanted:
            rows[part.name] = [(row.key, row.as_dict()) for row in part.rows]
    return rows


def _sync(
    db: Session,
    datamap: DataMap,
    subject_id: int,
    national_id: str,
    country: str,
    resolution: Resolution,
    region: str,
    now: datetime,
) -> PersonChoices:
    events = consent.history(db, subject_id)
    current = consent.choices(datamap, events, country=country, now=now)
    ids = block_list.person_identifiers(resolution.identifiers, national_id, region)
    block_list.sync_person(db, subject_id=subject_id, choices=current, identifiers=ids, now=now)
    return PersonChoices(current, tuple(reversed(events)))


def load(
    engine: Engine,
    datamap: DataMap,
    sources: Mapping[str, Engine],
    subject_id: int,
    *,
    region: str,
    now: datetime,
) -> PersonChoices:
    """The person's choices now; the company's consent records are imported on the way."""
    national_id, country, proven = person_keys(engine, subject_id)
    resolution = resolve(datamap, sources, national_id, proven=proven)
    rows = _record_rows(datamap, sources, resolution)
    with session_scope(engine) as db:
        consent.import_records(db, datamap, subject_id, rows, now)
        return _sync(db, datamap, subject_id, national_id, country, resolution, region, now)


def change(
    engine: Engine,
    datamap: DataMap,
    sources: Mapping[str, Engine],
    subject_id: int,
    item: Change,
    *,
    region: str,
    now: datetime,
    also: Callable[[Session, ConsentEvent], None] | None = None,
) -> PersonChoices:
    """Record one choice (giving, withdrawing, reserving, objecting) and act on it at once;
    ``also`` runs in the same transaction (an audit entry for a choice staff recorded).

    Raises ``ConsentRefused`` for a topic the map does not know; then nothing changes.
    """
    consent.check_topic(datamap, item.kind, item.topic)
    national_id, country, proven = person_keys(engine, subject_id)
    resolution = resolve(datamap, sources, national_id, proven=proven)
    with session_scope(engine) as db:
        recorded = consent.record_choice(
            db,
            subject_id=subject_id,
            kind=item.kind,
            topic=item.topic,
            active=item.active,
            via=item.via,
            actor=item.actor,
            actor_id=item.actor_id,
            now=now,
            text_version=item.text_version,
        )
        if item.kind == TopicKind.consent and not item.active:
            enqueue(db, "consent.withdrawal", {"event_id": recorded.id}, now=now)
        if also is not None:
            also(db, recorded)
        return _sync(db, datamap, subject_id, national_id, country, resolution, region, now)
