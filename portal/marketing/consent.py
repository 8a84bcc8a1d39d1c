"""Consent per purpose, reservation against marketing and objection to it: a person's choices.

Every choice is a ``ConsentEvent`` in an append-only history (art. 7(1): the controller must be
able to show that the person consented): when, through what (portal, staff, import, API), the
version of the text shown, and who acted. The current state is the latest event per topic.
Giving and withdrawing are one call each (art. 7(3)). A purpose whose consent has a lifetime (the
data map's ``lifetime``, e.g. NIX: three months) counts as withdrawn once it has run out.

Three kinds of topic:
- ``consent``: a purpose of the data map that rests on consent (``[purposes.X.consent]``);
- ``reservation``: a marketing channel (phone, sms, email, post, all) the person reserved;
- ``objection``: the objection to direct marketing (art. 21(2)-(3)), absolute: all channels.

Each change also brings the block list up to date (``block_list.sync_person``), and a withdrawal
queues a job that makes the company's systems agree (``withdrawal.py``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import StrEnum

from sqlalchemy import String, UniqueConstraint, event
from sqlalchemy.orm import ORMExecuteState
from sqlmodel import Field, Session, SQLModel, select

from portal.datamap.model import DataMap, Period, Purpose, Text
from portal.datamap.retention import add_period
from portal.db import utcnow


class TopicKind(StrEnum):
    consent = "consent"
    reservation = "reservation"
    objection = "objection"


class Via(StrEnum):
    """Through what the choice reached us."""

    portal = "portal"  # the person, signed in
    staff = "staff"  # customer service, on the person's word
    import_ = "import"  # the company's own consent records (data map: consent.record)
    api = "api"


class Actor(StrEnum):
    person = "person"
    staff = "staff"
    system = "system"


RESERVATION_CHANNELS = ("phone", "sms", "email", "post", "all")
OBJECTION_TOPIC = "direct_marketing"


class ConsentEvent(SQLModel, table=True):
    """One choice: never updated, never deleted (ORM guard below, triggers in migration 0006)."""

    __tablename__ = "consent_event"
    __table_args__ = (UniqueConstraint("subject_id", "source_ref"),)

    id: int | None = Field(default=None, primary_key=True)
    subject_id: int = Field(foreign_key="subject.id", index=True)
    at: datetime = Field(default_factory=utcnow)
    kind: TopicKind = Field(sa_type=String(20))
    topic: str = Field(max_length=60)  # the purpose, the channel, or "direct_marketing"
    # Consent given / reservation in force / objection in force; False: withdrawn or lifted.
    active: bool
    via: Via = Field(sa_type=String(10))
    text_version: str | None = Field(default=None, max_length=40)
    actor: Actor = Field(sa_type=String(10))
    actor_id: int | None = None
    # Imports: "table:key:given|withdrawn", so that importing again adds nothing.
    source_ref: str | None = Field(default=None, max_length=200)


class ConsentHistoryIsAppendOnly(RuntimeError):
    pass


@event.listens_for(ConsentEvent, "before_update")
@event.listens_for(ConsentEvent, "before_delete")
def _refuse_change(*_args: object) -> None:
    raise ConsentHistoryIsAppendOnly("the consent history is append-only")


@event.listens_for(Session, "do_orm_execute")
def _refuse_bulk_change(state: ORMExecuteState) -> None:
    # update(ConsentEvent)/delete(ConsentEvent) through a session skip the hooks above.
    if (state.is_update or state.is_delete) and any(
        mapper.class_ is ConsentEvent for mapper in state.all_mappers
    ):
        raise ConsentHistoryIsAppendOnly("the consent history is append-only")


class ConsentRefused(ValueError):
    """The choice cannot be made (an unknown purpose or channel); the message is for people."""


@dataclass(frozen=True)
class ConsentState:
    """A consent purpose as the person sees it: given or not, since when, until when."""

    purpose: str
    name: Text
    text: Text | None
    version: str
    channels: tuple[str, ...]
    given: bool  # in force now: given, and not expired
    expired: bool  # given, but its lifetime has run out: counts as withdrawn
    since: datetime | None  # the latest event's time
    expires_at: datetime | None  # when a given consent runs out


@dataclass(frozen=True)
class Choices:
    """Everything a person has chosen, as it stands at ``now``."""

    consents: tuple[ConsentState, ...]
    reserved: frozenset[str]  # channels, "all" included when chosen
    objected: bool

    def withdrawn_channels(self) -> dict[str, list[ConsentState]]:
        """channel -> consents covering it that are withdrawn or expired (the block list's)."""
        found: dict[str, list[ConsentState]] = {}
        for state in self.consents:
            if state.since is not None and not state.given:
                for channel in state.channels:
                    found.setdefault(channel, []).append(state)
        return found


def consent_purposes(datamap: DataMap) -> dict[str, Purpose]:
    """The data map's purposes that rest on consent, in the map's order."""
    return {name: p for name, p in datamap.purposes.items() if p.consent is not None}


def record_choice(
    db: Session,
    *,
    subject_id: int,
    kind: TopicKind,
    topic: str,
    active: bool,
    via: Via,
    actor: Actor,
    actor_id: int | None,
    now: datetime,
    text_version: str | None = None,
    source_ref: str | None = None,
) -> ConsentEvent:
    entry = ConsentEvent(
        subject_id=subject_id,
        at=now,
        kind=kind,
        topic=topic,
        active=active,
        via=via,
        text_version=text_version,
        actor=actor,
        actor_id=actor_id,
        source_ref=source_ref,
    )
    db.add(entry)
    db.flush()
    return entry


def check_topic(datamap: DataMap, kind: TopicKind, topic: str) -> None:
    from portal.i18n import gettext as _

    if kind == TopicKind.consent and topic not in consent_purposes(datamap):
        raise ConsentRefused(_("There is no such consent."))
    if kind == TopicKind.reservation and topic not in RESERVATION_CHANNELS:
        raise ConsentRefused(_("There is no such channel."))
    if kind == TopicKind.objection and topic != OBJECTION_TOPIC:
        raise ConsentRefused(_("There is no such objection."))


def history(db: Session, subject_id: int) -> list[ConsentEvent]:
    """The person's choices, oldest first."""
    statement = select(ConsentEvent).where(ConsentEvent.subject_id == subject_id)
    return list(db.exec(statement.order_by(ConsentEvent.at, ConsentEvent.id)))


def latest(events: Iterable[ConsentEvent]) -> dict[tuple[str, str], ConsentEvent]:
    """(kind, topic) -> the latest event, from events in time order."""
    found: dict[tuple[str, str], ConsentEvent] = {}
    for item in sorted(events, key=lambda e: (e.at, e.id or 0)):
        found[(str(item.kind), item.topic)] = item
    return found


def choices(
    datamap: DataMap, events: Sequence[ConsentEvent], *, country: str, now: datetime
) -> Choices:
    """What the events add up to at ``now``; ``country`` decides where a lifetime applies."""
    last = latest(events)
    states = []
    for name, purpose in consent_purposes(datamap).items():
        assert purpose.consent is not None
        event_ = last.get((TopicKind.consent, name))
        lifetime = purpose.consent.lifetime
        applies = lifetime is not None and purpose.consent.jurisdiction in ("EU", country)
        expires_at = None
        if event_ is not None and event_.active and applies:
            expires_at = expiry(event_.at, lifetime or "")
        expired = expires_at is not None and expires_at <= now
        states.append(
            ConsentState(
                purpose=name,
                name=purpose.name,
                text=purpose.consent.text,
                version=purpose.consent.version,
                channels=tuple(purpose.consent.channels),
                given=bool(event_ and event_.active and not expired),
                expired=expired,
                since=event_.at if event_ else None,
                expires_at=expires_at,
            )
        )
    reserved = frozenset(
        topic
        for (kind, topic), item in last.items()
        if kind == TopicKind.reservation and item.active
    )
    objection = last.get((TopicKind.objection, OBJECTION_TOPIC))
    return Choices(tuple(states), reserved, bool(objection and objection.active))


def expiry(given_at: datetime, lifetime: str) -> datetime:
    day = add_period(given_at.date(), Period.parse(lifetime))
    return datetime.combine(day, given_at.timetz())


def import_records(
    db: Session,
    datamap: DataMap,
    subject_id: int,
    rows: Mapping[str, Sequence[tuple[object, Mapping[str, object]]]],
    now: datetime,
) -> int:
    """Add the company's own consent records (``consent.record`` in the map) to the history.

    ``rows`` holds, per record table, the person's rows as (key, values). A
    purpose the person has already acted on in the portal is skipped: from then on the portal's
    history is the record. Importing twice adds nothing. Returns the number of events added.
    """
    events = history(db, subject_id)
    acted = {e.topic for e in events if e.kind == TopicKind.consent and e.via != Via.import_}
    seen = {e.source_ref for e in events if e.source_ref}
    added = 0
    for name, purpose in consent_purposes(datamap).items():
        record = purpose.consent.record if purpose.consent else None
        if record is None or name in acted:
            continue
        for key, row in rows.get(record.table, ()):
            if any(row.get(column) not in values for column, values in record.when.items()):
                continue
            for active, column in ((True, record.given), (False, record.withdrawn)):
                at = _aware(row.get(column)) if column else None
                ref = f"{record.table}:{key}:{'given' if active else 'withdrawn'}"
                if at is None or ref in seen or at > now:
                    continue
                version = row.get(record.version) if record.version else None
                record_choice(
                    db,
                    subject_id=subject_id,
                    kind=TopicKind.consent,
                    topic=name,
                    active=active,
                    via=Via.import_,
                    actor=Actor.system,
                    actor_id=None,
                    now=at,
                    text_version=str(version) if version is not None else None,
                    source_ref=ref,
                )
                seen.add(ref)
                added += 1
    return added


def _aware(value: object) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    return None
