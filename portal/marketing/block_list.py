"""The global block list: who must not be contacted for marketing, on which channel, and why.

One list across every customer list and campaign (seed 002), keyed by normalised identifiers:
phone numbers as E.164, e-mail addresses lower-cased, national IDs in compact form. Entries come
from the person (reservation, objection, withdrawn or expired consent: ``sync_person``), from
staff for a caller (``add_staff_entry``), from the company's register of deceased people
(``sync_deceased``) and from external registers (``registers.py``). Washing and the API ask
``lookup``: one set-based query per chunk of values, never one per value.

Entries staff or a person removed stay, marked removed (who, when, why); entries of a source that
is replaced as a whole (a register re-import, the deceased list) are deleted and re-inserted.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    ARRAY,
    BigInteger,
    Date,
    Index,
    String,
    Text,
    and_,
    cast,
    delete,
    func,
    insert,
    literal,
    literal_column,
    not_,
    or_,
    select,
    text,
)
from sqlalchemy.sql import Select
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Field, Session, SQLModel, col

from portal import audit
from portal.db import utcnow
from portal.i18n import gettext as _
from portal.identity.national_id import InvalidNationalId, parse_national_id
from portal.marketing.consent import Choices
from portal.phone_numbers import normalise_phone, phone_key

CHUNK = 2000  # values per lookup query: far below SQLite's and PostgreSQL's parameter limits
INSERT_CHUNK = 10_000
FETCH_CHUNK = 50_000  # values per fetch when the whole list is loaded


class Kind(StrEnum):
    phone = "phone"
    email = "email"
    national_id = "national_id"


class Channel(StrEnum):
    phone = "phone"
    sms = "sms"
    email = "email"
    post = "post"
    all = "all"


class Reason(StrEnum):
    # In the order a washed row's reasons are listed.
    deceased = "deceased"
    objected = "objected"  # art. 21(2)-(3): absolute, every channel
    reserved = "reserved"  # the person (or staff on a caller's word) reserved a channel
    external_register = "external_register"  # Reservasjonsregisteret, NIX-Telefon
    consent_withdrawn = "consent_withdrawn"
    consent_expired = "consent_expired"


# Sources the portal itself keeps; any other source is an external register's name.
PERSON, STAFF, CONSENT, DECEASED = "person", "staff", "consent", "deceased"
OWN_SOURCES = (PERSON, STAFF, CONSENT, DECEASED)


class BlockEntry(SQLModel, table=True):
    __tablename__ = "block_entry"
    __table_args__ = (Index("ix_block_entry_kind_value", "kind", "value"),)

    id: int | None = Field(default=None, primary_key=True)
    kind: Kind = Field(sa_type=String(12))
    value: str = Field(max_length=320)
    reason: Reason = Field(sa_type=String(20))
    channel: Channel = Field(sa_type=String(10))
    source: str = Field(max_length=60, index=True)
    # An external register's file date; for consents, the purpose (topic).
    source_date: date | None = Field(default=None, sa_type=Date)
    topic: str | None = Field(default=None, max_length=60)
    subject_id: int | None = Field(default=None, foreign_key="subject.id", index=True)
    # A consent that runs out later blocks from then on.
    active_from: datetime | None = None
    note: str | None = Field(default=None, sa_type=Text)
    created_at: datetime = Field(default_factory=utcnow)
    created_by: int | None = Field(default=None, foreign_key="staff_member.id")
    removed_at: datetime | None = None
    removed_by: int | None = Field(default=None, foreign_key="staff_member.id")
    removal_reason: str | None = Field(default=None, sa_type=Text)


# The caller's reason staff write down when they add an entry.
MAX_NOTE = 2000


class BlockRefused(ValueError):
    """A change that cannot be made; the message is for people and holds no personal data."""


@dataclass(frozen=True)
class Match:
    reason: Reason
    channel: Channel
    source: str
    topic: str | None
    source_date: date | None

    @property
    def label(self) -> str:
        """The reason as a washed file states it: ``reserved:phone``, ``external_register:nix``."""
        detail = {
            Reason.reserved: self.channel,
            Reason.external_register: self.source,
            Reason.consent_withdrawn: self.topic,
            Reason.consent_expired: self.topic,
        }.get(self.reason)
        return f"{self.reason}:{detail}" if detail else str(self.reason)


# --- normalising ---------------------------------------------------------------------------------


def normalise(kind: Kind | str, value: str, region: str) -> str | None:
    """The block list's form of an identifier, or None when it is not one."""
    text = value.strip()
    if not text:
        return None
    if kind == Kind.phone:
        return normalise_phone(text, region)
    if kind == Kind.email:
        email = text.lower()
        local, at, domain = email.rpartition("@")
        if not at or not local or "." not in domain or any(c.isspace() for c in email):
            return None
        return email
    try:
        return parse_national_id(text).number
    except InvalidNationalId:
        return None


def person_identifiers(
    identifiers: Mapping[str, Iterable[str]], national_id: str, region: str
) -> dict[Kind, set[str]]:
    """The person's identifiers (from ``identity.resolve``) in the block list's form."""
    found: dict[Kind, set[str]] = {Kind.national_id: {national_id}, Kind.phone: set()}
    found[Kind.email] = set()
    for kind in (Kind.phone, Kind.email):
        for value in identifiers.get(kind, ()):
            normal = normalise(kind, str(value), region)
            if normal is not None:
                found[kind].add(normal)
    return found


# --- looking up ----------------------------------------------------------------------------------


def lookup(
    db: Session,
    kind: Kind,
    values: Collection[str],
    *,
    channel: Channel | str,
    now: datetime,
    purpose: str | None = None,
) -> dict[str, list[Match]]:
    """value -> the entries that block it on ``channel``; values with none are left out.

    A withdrawn or expired consent blocks only lists for its own purpose when ``purpose`` is
    given; without one, any consent withdrawn on the channel blocks (the careful reading).
    """
    found: dict[str, list[Match]] = {}
    table = BlockEntry.__table__  # type: ignore[attr-defined]
    postgres = db.get_bind().dialect.name == "postgresql"
    columns = (
        table.c.value,
        table.c.reason,
        table.c.channel,
        table.c.source,
        table.c.topic,
        table.c.source_date,
    )
    for chunk in _chunks(sorted(set(values)), CHUNK):
        statement = select(*columns).where(*_live(kind, channel, now))
        if postgres:
            # One array parameter joined as a table: the planner hashes or probes the index,
            # where "= ANY(array)" would compare every row with every value.
            wanted = (
                func.unnest(literal(chunk, ARRAY(String)))
                .table_valued("value")
                .render_derived(name="wanted")
            )
            statement = statement.join_from(table, wanted, table.c.value == wanted.c.value)
        else:
            statement = statement.where(table.c.value.in_(chunk))
        for value, reason, entry_channel, source, topic, source_date in db.execute(statement):
            if not _blocks_purpose(reason, topic, purpose):
                continue
            match = Match(Reason(reason), Channel(entry_channel), source, topic, source_date)
            found.setdefault(value, []).append(match)
    for matches in found.values():
        matches.sort(key=lambda m: (list(Reason).index(m.reason), m.label))
    return found


def _live(kind: Kind, channel: Channel | str, now: datetime) -> tuple[ColumnElement[bool], ...]:
    """The entries of ``kind`` that block ``channel`` at ``now`` (``lookup`` and ``blocking``)."""
    table = BlockEntry.__table__  # type: ignore[attr-defined]
    return (
        table.c.kind == kind,
        table.c.removed_at.is_(None),
        table.c.channel.in_([str(channel), Channel.all]),
        or_(table.c.active_from.is_(None), table.c.active_from <= now),
    )


def _blocks_purpose(reason: str, topic: str | None, purpose: str | None) -> bool:
    """Whether an entry blocks a list for ``purpose``: a withdrawn or expired consent only
    its own purpose's lists (any list when no purpose is given); every other reason always."""
    is_consent = reason in (Reason.consent_withdrawn, Reason.consent_expired)
    return not (is_consent and purpose is not None and topic != purpose)


Labels = tuple[str, ...]  # a value's reasons as a washed file states them, in their order


def labels_of(matches: Iterable[Match]) -> Labels:
    """The labels of ``matches``, each once, in the order a washed row lists them."""
    return order_labels({match.label for match in matches})


def order_labels(labels: Iterable[str]) -> Labels:
    order = list(Reason)
    return tuple(
        sorted(set(labels), key=lambda label: (order.index(Reason(label.split(":")[0])), label))
    )


def blocking(
    db: Session, kind: Kind, *, channel: Channel | str, now: datetime, purpose: str | None = None
) -> dict[Any, Labels]:
    """Every value of ``kind`` that is blocked on ``channel`` at ``now``, with its labels: what
    ``lookup`` answers for it, for the whole list at once, to wash a file about as large as the
    list or larger (probing the index once per row costs more than reading every entry once).

    Phone numbers are keyed as integers (``phone_key``: 8 bytes in the table and 32 for the
    number, against about 60 for a string); other kinds by their value. Equal label tuples are
    one object, so a million entries of one register cost the table and the keys only.

    Per distinct (reason, channel, source, topic), the database joins the entries' values into
    one string (``_joined``), which ``_joined_keys`` turns into keys with C-level string
    operations. Reading them row by row took three scans and a regular expression per row in
    the database, and every row through the driver: 0.8-0.9 of a second per 200,000 entries
    against 0.25-0.35. A group whose values hold the separator is read row by row (``_keys``).
    """
    live = _live(kind, channel, now)
    found: dict[Any, Labels] = {}
    shared: dict[Labels, Labels] = {}
    for (reason, entry_channel, source, topic), count, values in _joined(db, live):
        if not _blocks_purpose(reason, topic, purpose):
            continue
        label = Match(Reason(reason), Channel(entry_channel), source, topic, None).label
        single = shared.setdefault((label,), (label,))
        chunks = _joined_keys(kind, values, count)
        if chunks is None:
            same = _same_group(reason, entry_channel, source, topic)
            chunks = _keys(db, kind, (*live, *same))
        del values
        for keys in chunks:
            before = {key: found[key] for key in found.keys() & keys} if found else {}
            found.update(dict.fromkeys(keys, single))
            for key, labels in before.items():
                both = order_labels((*labels, label))
                found[key] = shared.setdefault(both, both)
    return found


def _joined(
    db: Session, live: tuple[ColumnElement[bool], ...]
) -> Iterator[tuple[tuple[str, str, str, str | None], int, str]]:
    """Per (reason, channel, source, topic) of the live entries: how many, and their values
    joined by SEPARATOR. PostgreSQL groups them in one scan; SQLite would sort every row for a
    GROUP BY, so it finds the groups and then joins each group's values (0.16 against 0.2-0.27
    of a second for 200,000 entries)."""
    table = BlockEntry.__table__  # type: ignore[attr-defined]
    group = (table.c.reason, table.c.channel, table.c.source, table.c.topic)
    separator = literal_column(f"'{SEPARATOR}'")
    if db.get_bind().dialect.name == "postgresql":
        joined = func.string_agg(table.c.value, separator)
        statement = select(*group, func.count(), joined).where(*live).group_by(*group)
        for *key, count, values in db.execute(statement).all():
            yield tuple(key), count, values  # type: ignore[misc]
        return
    joined = func.group_concat(table.c.value, separator)
    for key in db.execute(select(*group).where(*live).distinct()).all():
        statement = select(func.count(), joined).where(*live, *_same_group(*key))
        count, values = db.execute(statement).one()
        yield tuple(key), count, values  # type: ignore[misc]


def _same_group(
    reason: str, channel: str, source: str, topic: str | None
) -> tuple[ColumnElement[bool], ...]:
    table = BlockEntry.__table__  # type: ignore[attr-defined]
    return (
        table.c.reason == reason,
        table.c.channel == channel,
        table.c.source == source,
        table.c.topic.is_(None) if topic is None else table.c.topic == topic,
    )


SEPARATOR = ","
# Phone-number values phone_key reads as they are: "+", then ASCII digits not starting with 0.
_NUMBERS = re.compile(rf"\+[1-9][0-9]*(?:{SEPARATOR}\+[1-9][0-9]*)*")
SLICE = 600_000  # characters of the joined values split at once (about 50,000 numbers)


def _joined_keys(kind: Kind, values: str, count: int) -> Iterator[list[Any]] | None:
    """The keys of ``count`` values joined by SEPARATOR, a slice at a time (so that the split
    strings of a million values never all exist at once); None when a value holds the separator.
    A slice of canonical E.164 numbers is checked by one regular expression and read by ``int``
    (the same answer as ``phone_key``); any other slice goes value by value."""
    if values.count(SEPARATOR) != count - 1:
        return None

    def slices() -> Iterator[list[Any]]:
        start = 0
        while start <= len(values):
            end = values.find(SEPARATOR, start + SLICE)
            end = len(values) if end < 0 else end
            part = values[start:end]
            start = end + 1
            if kind != Kind.phone:
                yield part.split(SEPARATOR)
            elif _NUMBERS.fullmatch(part):
                yield list(map(int, part.split(SEPARATOR)))
            else:
                yield [key for key in map(phone_key, part.split(SEPARATOR)) if key is not None]

    return slices()


def _column(db: Session, statement: Select[Any]) -> Iterator[list[Any]]:
    """A one-column statement's values, a chunk at a time. On PostgreSQL through a server-side
    cursor, so that libpq does not hold the whole result; on SQLite fetched by the driver
    directly: a million rows one by one through SQLAlchemy's result took half a second more,
    and all at once as tuples about 90 MB more at the peak."""
    if db.get_bind().dialect.name == "postgresql":
        result = db.execute(statement, execution_options={"yield_per": FETCH_CHUNK})
        yield from result.scalars().partitions()
        return
    cursor = db.execute(statement).cursor  # type: ignore[attr-defined]
    while rows := cursor.fetchmany(FETCH_CHUNK):
        yield [value for (value,) in rows]


def entry_count(db: Session, kind: Kind) -> int:
    """Entries of ``kind``, removed ones included: what loading them all would read."""
    table = BlockEntry.__table__  # type: ignore[attr-defined]
    statement = select(func.count()).select_from(table).where(table.c.kind == kind)
    return int(db.execute(statement).scalar_one())


def _keys(db: Session, kind: Kind, where: tuple[ColumnElement[bool], ...]) -> Iterator[list[Any]]:
    table = BlockEntry.__table__  # type: ignore[attr-defined]
    if kind != Kind.phone:
        yield from _column(db, select(table.c.value).where(*where))
        return
    # Numbers the database can turn into integers itself (at most 18 digits: a bigint), which
    # is every number normalise_phone writes; anything else, if any, goes through phone_key.
    if db.get_bind().dialect.name == "postgresql":
        number = table.c.value.regexp_match(r"^\+[1-9][0-9]{0,17}$")
    else:
        glob = table.c.value.op("GLOB", is_comparison=True)
        digits = func.substr(table.c.value, 2).op("GLOB", is_comparison=True)
        number = and_(glob("+[1-9]*"), not_(digits("*[^0-9]*")), func.length(table.c.value) <= 19)
    integer = cast(func.substr(table.c.value, 2), BigInteger)
    yield from _column(db, select(integer).where(*where, number))
    others = db.scalars(select(table.c.value).where(*where, ~number))
    yield [key for key in map(phone_key, others) if key is not None]


def _chunks(values: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def active_entries(db: Session, kind: Kind, value: str) -> list[BlockEntry]:
    statement = (
        select(BlockEntry)
        .where(BlockEntry.kind == kind, BlockEntry.value == value)
        .where(BlockEntry.removed_at.is_(None))  # type: ignore[union-attr]
        .order_by(BlockEntry.created_at, BlockEntry.id)
    )
    return list(db.scalars(statement))


# --- the person's own entries -------------------------------------------------------------------

_Key = tuple[str, str, str, str, str | None, datetime | None]


def desired_entries(choices: Choices, identifiers: Mapping[Kind, Iterable[str]]) -> set[_Key]:
    """(source, reason, channel, topic, active_from) for each of the person's identifiers."""
    wanted: set[tuple[str, str, str, str | None, datetime | None]] = set()
    for channel in choices.reserved:
        wanted.add((PERSON, Reason.reserved, channel, None, None))
    if choices.objected:
        wanted.add((PERSON, Reason.objected, Channel.all, None, None))
    for state in choices.consents:
        if state.since is None:
            continue
        for channel in state.channels:
            if not state.given and not state.expired:
                wanted.add((CONSENT, Reason.consent_withdrawn, channel, state.purpose, None))
            elif state.expires_at is not None:
                # Expired already, or will: the entry blocks from the moment it runs out.
                wanted.add(
                    (CONSENT, Reason.consent_expired, channel, state.purpose, state.expires_at)
                )
    return {
        (str(kind), value, *item)  # type: ignore[misc]
        for kind, values in identifiers.items()
        for value in values
        for item in wanted
    }


def sync_person(
    db: Session,
    *,
    subject_id: int,
    choices: Choices,
    identifiers: Mapping[Kind, Iterable[str]],
    now: datetime,
) -> tuple[int, int]:
    """Make the person's entries match their choices; returns (added, removed).

    Identifiers already on the person's entries are kept in the set, so a number that no longer
    shows in the company's data (erased, changed) stays blocked until the person changes their mind.
    """
    current = list(
        db.scalars(
            select(BlockEntry).where(
                BlockEntry.subject_id == subject_id,
                BlockEntry.source.in_((PERSON, CONSENT)),  # type: ignore[attr-defined]
                BlockEntry.removed_at.is_(None),  # type: ignore[union-attr]
            )
        )
    )
    ids: dict[Kind, set[str]] = {kind: set(values) for kind, values in identifiers.items()}
    for entry in current:
        ids.setdefault(Kind(entry.kind), set()).add(entry.value)
    wanted = desired_entries(choices, ids)
    have = {_key(entry): entry for entry in current}
    removed = 0
    for key, entry in have.items():
        if key not in wanted:
            entry.removed_at = now
            entry.removal_reason = "changed by the person"
            db.add(entry)
            removed += 1
    for kind, value, source, reason, channel, topic, active_from in wanted - set(have):
        db.add(
            BlockEntry(
                kind=Kind(kind),
                value=value,
                reason=Reason(reason),
                channel=Channel(channel),
                source=source,
                topic=topic,
                subject_id=subject_id,
                active_from=active_from,
                created_at=now,
            )
        )
    db.flush()
    return len(wanted - set(have)), removed


def _key(entry: BlockEntry) -> _Key:
    active_from = entry.active_from
    if active_from is not None and active_from.tzinfo is None:
        active_from = active_from.replace(tzinfo=UTC)
    return (
        str(entry.kind),
        entry.value,
        entry.source,
        str(entry.reason),
        str(entry.channel),
        entry.topic,
        active_from,
    )


# --- staff ---------------------------------------------------------------------------------------


def add_staff_entry(
    db: Session,
    *,
    kind: str,
    value: str,
    channel: str,
    note: str,
    staff_id: int,
    region: str,
    now: datetime,
) -> BlockEntry:
    """Staff block a caller's number (or address) on a channel, with the caller's reason."""
    if kind not in set(Kind):
        raise BlockRefused(_("Choose phone number, e-mail address or national ID."))
    if channel not in set(Channel):
        raise BlockRefused(_("Choose a channel."))
    normal = normalise(kind, value, region)
    if normal is None:
        raise BlockRefused(
            {
                Kind.phone: _("That is not a phone number."),
                Kind.email: _("That is not an e-mail address."),
                Kind.national_id: _("That is not a valid national identity number."),
            }[Kind(kind)]
        )
    if not note.strip():
        raise BlockRefused(_("Give the reason the caller gave."))
    if len(note.strip()) > MAX_NOTE:
        raise BlockRefused(_("Please keep this under %(count)d characters.", count=MAX_NOTE))
    if _already_reserved(db, Kind(kind), normal, Channel(channel)):
        raise BlockRefused(
            _("That is on the block list already for this channel: nothing was added.")
        )
    entry = BlockEntry(
        kind=Kind(kind),
        value=normal,
        reason=Reason.reserved,
        channel=Channel(channel),
        source=STAFF,
        note=note.strip(),
        created_at=now,
        created_by=staff_id,
    )
    db.add(entry)
    db.flush()
    audit.record(
        db,
        actor=audit.AuditActor.staff,
        actor_id=staff_id,
        action="block_list.add",
        reason=entry.note,
        details={"entry_id": entry.id, "kind": str(kind), "channel": str(channel)},
        now=now,
    )
    return entry


def _already_reserved(db: Session, kind: Kind, value: str, channel: Channel) -> bool:
    """A live reservation (the person's or staff's) of the value on the channel or on all."""
    found = db.exec(
        select(BlockEntry.id).where(
            BlockEntry.kind == kind,
            BlockEntry.value == value,
            BlockEntry.reason == Reason.reserved,
            col(BlockEntry.channel).in_([channel, Channel.all]),
            col(BlockEntry.removed_at).is_(None),
        )
    ).first()
    return found is not None


def remove_staff_entry(
    db: Session, entry_id: int, *, reason: str, staff_id: int, now: datetime
) -> BlockEntry:
    """Staff lift an entry staff made. A person's own entries are theirs to change, registers
    change by re-import, and the deceased list follows the company's register."""
    entry = db.get(BlockEntry, entry_id)
    if entry is None or entry.removed_at is not None:
        raise BlockRefused(_("That entry is not on the block list."))
    if entry.source != STAFF:
        raise BlockRefused(_("Only entries staff added can be removed here."))
    if not reason.strip():
        raise BlockRefused(_("Give a reason for removing the entry."))
    entry.removed_at = now
    entry.removed_by = staff_id
    entry.removal_reason = reason.strip()[:2000]
    db.add(entry)
    db.flush()
    audit.record(
        db,
        actor=audit.AuditActor.staff,
        actor_id=staff_id,
        action="block_list.remove",
        reason=entry.removal_reason,
        details={"entry_id": entry.id, "kind": str(entry.kind), "channel": str(entry.channel)},
        now=now,
    )
    return entry


# --- sources replaced as a whole -----------------------------------------------------------------


@dataclass(frozen=True)
class NewEntry:
    kind: Kind
    value: str
    reason: Reason
    channel: Channel
    subject_id: int | None = None


def replace_source(
    db: Session,
    source: str,
    entries: Iterable[NewEntry],
    *,
    now: datetime,
    source_date: date | None = None,
) -> int:
    """Put ``entries`` in place of every entry of ``source``, in the caller's transaction (so
    a failed import leaves the old entries). Returns the number inserted; duplicates count once."""
    table = BlockEntry.__table__  # type: ignore[attr-defined]
    db.execute(delete(table).where(table.c.source == source))
    seen: set[tuple[str, str, str, str]] = set()
    batch: list[dict] = []
    count = 0
    for item in entries:
        key = (item.kind, item.value, item.reason, item.channel)
        if key in seen:
            continue
        seen.add(key)
        batch.append(
            {
                "kind": str(item.kind),
                "value": item.value,
                "reason": str(item.reason),
                "channel": str(item.channel),
                "source": source,
                "source_date": source_date,
                "subject_id": item.subject_id,
                "created_at": now,
            }
        )
        if len(batch) >= INSERT_CHUNK:
            db.execute(insert(table), batch)
            count += len(batch)
            batch = []
    if batch:
        db.execute(insert(table), batch)
        count += len(batch)
    if db.get_bind().dialect.name == "postgresql":
        # Fresh statistics after a bulk load, so that look-ups use the index at once.
        db.execute(text("ANALYZE block_entry"))
    return count


def source_counts(db: Session) -> dict[str, int]:
    """Active entries per source, for the staff page."""
    table = BlockEntry.__table__  # type: ignore[attr-defined]
    statement = (
        select(table.c.source, func.count())
        .where(table.c.removed_at.is_(None))
        .group_by(table.c.source)
        .order_by(table.c.source)
    )
    return {source: count for source, count in db.execute(statement)}
