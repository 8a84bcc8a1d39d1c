"""Customer service looks a caller up, with a reason (seed 003: "we look your phone number up so
that our agent has your customer relationship at hand during the call").

The agent types what the caller gives: a phone number (as typed, normalised to E.164), an
e-mail address, a national ID or a customer number, and says why they look (``Reason``, with
free text, required for "other"). ``check_query`` refuses a look-up without a reason or with a
value that is not one; nothing is looked up or logged then.

``look_up`` finds who the value leads to through the data map (``datamap.lookup.holders``: the
company's rows under it and the national IDs they lead to), adds the people who proved it or
whose open request names it, and resolves each candidate as /me would: a candidate is found only
when their own rows carry the value (or it is one of their proven identifiers) and the company
holds data about them or they have an open request (seed 000: no look-ups of people who are not
customers). When nobody is found the outcome says why (``NotFound``). A person the portal did
not know yet becomes a subject, so that the agent's page and actions can name them by the
portal's own id.

Every look-up, found or not, is an audit entry (``lookup.search``) with the reason and the ids
of the people found; every view of a person's data from it is another (``lookup.view``,
``record_view``). Entries hold the kind of identifier, never its value.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, func, select

from portal.audit import AuditActor, AuditEntry, record
from portal.datamap import DataMap, Resolution, resolve
from portal.datamap.lookup import Holders, holders, person_name
from portal.datamap.matching import normalise
from portal.datamap.protection import protected_national_ids
from portal.db import session_scope
from portal.i18n import gettext as _
from portal.i18n import lazy_gettext as _l
from portal.identity.identifiers import (
    IdentifierRefused,
    normalise_identifier,
    proven_identifiers,
)
from portal.identity.national_id import InvalidNationalId, mask_national_id, parse_national_id
from portal.models import Subject, SubjectIdentifier
from portal.phone_numbers import normalise_phone
from portal.workflows.contacts import RequestContact
from portal.workflows.kept import kept_for, kept_total
from portal.workflows.requests import OPEN, DataRequest

SEARCH = "lookup.search"
VIEW = "lookup.view"
MAX_VALUE = 320  # the longest identifier a company column holds
MAX_NOTE = 500
# More candidates than this and the agent asks the caller for another identifier: a number
# shared by that many people (a switchboard) tells none of them apart.
MAX_MATCHES = 10
# How long a look-up's reason covers viewing and acting on the people it found.
LOOKUP_HOURS = 4


class Kind(StrEnum):
    phone = "phone"
    email = "email"
    national_id = "national_id"
    customer_number = "customer_number"


KIND_LABELS = {
    Kind.phone: _l("Phone number"),
    Kind.email: _l("E-mail address"),
    Kind.national_id: _l("National identity number"),
    Kind.customer_number: _l("Customer number"),
}


class Reason(StrEnum):
    """Why the agent looks the caller up; stored (with the free text) in the audit log."""

    own_data = "own_data"  # the caller asks what the company holds about them
    right = "right"  # the caller wants to exercise a right (access, erasure, ...)
    reservation = "reservation"  # the caller wants no more marketing
    consent = "consent"  # the caller gives or withdraws a consent by phone
    other = "other"  # the free text says what


REASON_LABELS = {
    Reason.own_data: _l("The caller asks about their data"),
    Reason.right: _l("The caller wants to exercise a right (access, erasure, correction …)"),
    Reason.reservation: _l("The caller wants to reserve against marketing"),
    Reason.consent: _l("The caller gives or withdraws a consent by phone"),
    Reason.other: _l("Other (say what below)"),
}


class NotFound(StrEnum):
    """Why a look-up found nobody."""

    not_a_customer = "not_a_customer"  # nothing held under it, and no open request names it
    unnamed = "unnamed"  # held, but it leads to nobody the portal can name
    too_many = "too_many"  # more than MAX_MATCHES people: it tells none apart


class LookupRefused(ValueError):
    """The look-up was not made; ``errors`` maps each form field at fault to why."""

    def __init__(self, errors: Mapping[str, str]) -> None:
        super().__init__("; ".join(errors.values()))
        self.errors = dict(errors)


@dataclass(frozen=True)
class Query:
    kind: Kind
    value: str  # normalised: E.164, lower-cased, the compact national ID
    reason: Reason
    note: str

    @property
    def audit_reason(self) -> str:
        """The reason as the audit log holds it: the code, and the agent's words after it."""
        return f"{self.reason}: {self.note}" if self.note else str(self.reason)


@dataclass(frozen=True)
class Match:
    """A person the value leads to: what the agent tells people apart by, nothing more."""

    subject_id: int
    name: str  # as the person signed in, or as the company's records have it; "" if neither
    national_id: str  # masked: the date part only
    records: int  # what the company holds about them (kept records after an erasure included)
    open_requests: int
    # Their identity is protected (the map's ``protected``): customer service does not see
    # where they live.
    protected: bool = False


@dataclass(frozen=True)
class WaitingRequest:
    """An open request filed without BankID whose person is not verified yet: found by the
    address, phone or customer number it was filed with; it shows no data."""

    request_id: int
    type: str
    received_at: datetime


@dataclass(frozen=True)
class Outcome:
    lookup_id: int  # the look-up's audit entry: its views refer to it
    matches: tuple[Match, ...]
    waiting: tuple[WaitingRequest, ...]
    not_found: NotFound | None  # None when someone (or a waiting request) was found


def check_query(form: Mapping[str, object], *, region: str, today: date | None = None) -> Query:
    """The look-up the form asks for, or LookupRefused naming every field at fault."""
    text = {name: str(form.get(name, "")).strip() for name in ("kind", "value", "reason", "note")}
    errors: dict[str, str] = {}
    if text["reason"] not in set(Reason):
        errors["reason"] = _("Choose why you look the caller up.")
    note = text["note"][:MAX_NOTE]
    if text["reason"] == Reason.other and not note:
        errors["note"] = _("Say why you look the caller up.")
    value = ""
    if text["kind"] not in set(Kind):
        errors["kind"] = _("Choose what the caller gave.")
    else:
        try:
            value = _normalised(Kind(text["kind"]), text["value"][:MAX_VALUE], region, today)
        except ValueError as refused:
            errors["value"] = str(refused)
    if errors:
        raise LookupRefused(errors)
    return Query(Kind(text["kind"]), value, Reason(text["reason"]), note)


def _normalised(kind: Kind, typed: str, region: str, today: date | None) -> str:
    if not typed:
        raise ValueError(_("Type what the caller gave."))
    if kind == Kind.phone:
        phone = normalise_phone(typed, region)
        if phone is None:
            raise ValueError(_("That is not a phone number."))
        return phone
    if kind == Kind.national_id:
        try:
            return parse_national_id(typed, today=today).number
        except InvalidNationalId:
            raise ValueError(_("That is not a valid national identity number.")) from None
    try:
        return normalise_identifier(str(kind), typed, region=region)
    except IdentifierRefused as refused:
        raise ValueError(str(refused)) from None


# --- looking up ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Candidate:
    national_id: str
    subject_id: int | None
    proven: Mapping[str, Iterable[str]]
    name: str


@dataclass(frozen=True)
class _Checked:
    candidate: _Candidate
    name: str
    records: int
    protected: bool


def look_up(
    engine: Engine,
    datamap: DataMap,
    sources: Mapping[str, Engine],
    query: Query,
    *,
    staff_id: int,
    now: datetime,
) -> Outcome:
    """Who ``query`` leads to (see the module docstring), audit-logged with its reason. The
    company's databases are read holding no session of the portal's."""
    found = holders(datamap, sources, str(query.kind), query.value)
    region = datamap.settings.region
    with session_scope(engine) as db:
        candidates = _candidates(db, query, found, region)
        waiting = _waiting(db, query, region)
    not_found: NotFound | None = None
    checked: list[_Checked] = []
    if len(candidates) > MAX_MATCHES or found.capped:
        not_found = NotFound.too_many
    else:
        for candidate in candidates:
            result = _check(engine, datamap, sources, query, candidate)
            if result is not None:
                checked.append(result)
    with session_scope(engine) as db:
        found_people = (_match(db, item, now) for item in checked)
        matches = tuple(sorted(found_people, key=lambda m: (m.name.casefold(), m.subject_id)))
        if not_found is None and not matches and not waiting:
            not_found = NotFound.unnamed if found.rows else NotFound.not_a_customer
        entry = record(
            db,
            actor=AuditActor.staff,
            actor_id=staff_id,
            action=SEARCH,
            subject_id=matches[0].subject_id if len(matches) == 1 else None,
            reason=query.audit_reason,
            details={
                "kind": str(query.kind),
                "reason": str(query.reason),
                "found": len(matches),
                "subjects": [match.subject_id for match in matches],
                "waiting_requests": [item.request_id for item in waiting],
                "not_found": str(not_found) if not_found else None,
            },
            now=now,
        )
        return Outcome(entry.id or 0, matches, waiting, not_found)


def _candidates(db: Session, query: Query, found: Holders, region: str) -> list[_Candidate]:
    """Everyone the value may lead to: the national IDs on the company's rows under it, the
    people who proved it (or an identifier on those rows), and open requests filed with it."""
    national_ids = set()
    for number in found.national_ids:
        try:
            national_ids.add(parse_national_id(number).number)
        except InvalidNationalId:
            continue  # a number the company mistyped leads nowhere
    if query.kind == Kind.national_id:
        national_ids.add(query.value)
    subjects = {
        subject.id: subject
        for subject in db.exec(
            select(Subject).where(col(Subject.national_id).in_(sorted(national_ids)))
        )
    }
    pairs = {(str(query.kind), query.value)} | {
        (kind, value) for kind, values in found.identifiers.items() for value in values
    }
    linkable = {str(kind) for kind in (Kind.email, Kind.phone, Kind.customer_number)}
    for kind in linkable:
        values = sorted(value for pair_kind, value in pairs if pair_kind == kind)
        if not values:
            continue
        owners = select(SubjectIdentifier.subject_id).where(
            SubjectIdentifier.kind == kind, col(SubjectIdentifier.value).in_(values)
        )
        for subject in db.exec(select(Subject).where(col(Subject.id).in_(owners))):
            subjects[subject.id] = subject
    for request in _requests_filed_with(db, query, region):
        if request.subject_id is not None and request.subject_id not in subjects:
            subjects[request.subject_id] = db.get(Subject, request.subject_id)
    candidates = [
        _Candidate(
            subject.national_id,
            subject.id,
            proven_identifiers(db, subject.id or 0),
            subject.display_name,
        )
        for subject in subjects.values()
        if subject is not None
    ]
    known = {candidate.national_id for candidate in candidates}
    candidates += [_Candidate(n, None, {}, "") for n in sorted(national_ids - known)]
    return candidates


def _requests_filed_with(db: Session, query: Query, region: str) -> list[DataRequest]:
    """Open requests filed without BankID with the value (the address confirmed, or the phone
    or customer number typed)."""
    statement = (
        select(DataRequest, RequestContact)
        .join(RequestContact, col(RequestContact.request_id) == col(DataRequest.id))
        .where(col(DataRequest.status).in_([str(status) for status in OPEN]))
    )
    if query.kind == Kind.email:
        statement = statement.where(func.lower(RequestContact.email) == query.value)
    elif query.kind == Kind.customer_number:
        statement = statement.where(func.trim(RequestContact.customer_number) == query.value)
    elif query.kind == Kind.phone:
        statement = statement.where(col(RequestContact.phone).is_not(None))
    else:
        return []
    found = []
    for request, contact in db.exec(statement):
        if query.kind == Kind.phone:
            typed = normalise_phone(contact.phone or "", region)
            if typed != query.value:
                continue
        found.append(request)
    return found


def _waiting(db: Session, query: Query, region: str) -> tuple[WaitingRequest, ...]:
    return tuple(
        WaitingRequest(request.id or 0, str(request.type), request.received_at)
        for request in _requests_filed_with(db, query, region)
        if request.subject_id is None
    )


def _check(
    engine: Engine,
    datamap: DataMap,
    sources: Mapping[str, Engine],
    query: Query,
    candidate: _Candidate,
) -> _Checked | None:
    """The candidate, if their own rows carry the value and they are a customer or have an
    open request; None otherwise."""
    resolution = resolve(datamap, sources, candidate.national_id, proven=candidate.proven)
    if not _carries(datamap, resolution, query):
        return None
    records = sum(len(keys) for keys in resolution.keys.values())
    if candidate.subject_id is not None:
        kept = kept_for(engine, candidate.subject_id)
        records += kept_total(kept.tables(resolution.keys, datamap.table_order()))
    open_requests = _open_count(engine, candidate.subject_id)
    if not records and not open_requests:
        return None
    name = candidate.name or person_name(datamap, sources, resolution)
    protected = protected_national_ids(datamap, sources, [candidate.national_id])
    return _Checked(candidate, name, records, candidate.national_id in protected)


def _carries(datamap: DataMap, resolution: Resolution, query: Query) -> bool:
    """Whether the value is the person's: their national ID, one of their identifiers (proven,
    or learnt from their own rows), or on one of their rows."""
    kind, value = str(query.kind), query.value
    if kind == Kind.national_id:
        return True  # the candidate's root is the value itself
    if value in resolution.identifiers.get(kind, ()):
        return True
    region = datamap.settings.region
    for name, spec in datamap.tables.items():
        columns = [link.column for link in spec.identifier_links if link.identifier == kind]
        for row in resolution.skeleton.get(name, {}).values() if columns else ():
            for column in columns:
                stored = row.get(column)
                if stored is not None and normalise(kind, stored, region) == value:
                    return True
    return False


def _open_count(engine: Engine, subject_id: int | None) -> int:
    if subject_id is None:
        return 0
    with session_scope(engine) as db:
        return len(_open_requests(db, subject_id))


def _open_requests(db: Session, subject_id: int) -> list[DataRequest]:
    return list(
        db.exec(
            select(DataRequest)
            .where(
                DataRequest.subject_id == subject_id,
                col(DataRequest.status).in_([str(status) for status in OPEN]),
            )
            .order_by(col(DataRequest.received_at), col(DataRequest.id))
        )
    )


def _match(db: Session, checked: _Checked, now: datetime) -> Match:
    """The match, the person made a subject if the portal did not know them yet."""
    candidate = checked.candidate
    subject_id = candidate.subject_id
    if subject_id is None:
        nid = parse_national_id(candidate.national_id)
        subject = db.exec(select(Subject).where(Subject.national_id == nid.number)).first()
        if subject is None:  # another look-up may have made them meanwhile
            subject = Subject(national_id=nid.number, country=nid.country, created_at=now)
            db.add(subject)
            db.flush()
        subject_id = subject.id or 0
    return Match(
        subject_id=subject_id,
        name=checked.name,
        national_id=mask_national_id(parse_national_id(candidate.national_id)),
        records=checked.records,
        open_requests=len(_open_requests(db, subject_id)),
        protected=checked.protected,
    )


# --- viewing a person found ----------------------------------------------------------------------


def covering(
    db: Session, lookup_id: int, subject_id: int, *, staff_id: int, now: datetime
) -> AuditEntry | None:
    """The look-up ``lookup_id``, when its reason covers this member of staff's view of the
    person: they made it, it found the person, and it is at most LOOKUP_HOURS old (a call,
    not a standing licence). None otherwise."""
    entry = db.get(AuditEntry, lookup_id)
    if entry is None or entry.action != SEARCH or entry.actor_id != staff_id:
        return None
    if subject_id not in (entry.details or {}).get("subjects", []):
        return None
    at = entry.at if entry.at.tzinfo else entry.at.replace(tzinfo=UTC)
    if not now - timedelta(hours=LOOKUP_HOURS) <= at <= now:
        return None
    return entry


def record_view(
    db: Session, lookup_id: int, subject_id: int, *, staff_id: int, now: datetime
) -> bool:
    """Log a view of a person's data found by the look-up, with the look-up's reason. False
    (nothing logged) when the look-up does not cover it (``covering``)."""
    entry = covering(db, lookup_id, subject_id, staff_id=staff_id, now=now)
    if entry is None:
        return False
    record(
        db,
        actor=AuditActor.staff,
        actor_id=staff_id,
        action=VIEW,
        subject_id=subject_id,
        reason=entry.reason,
        details={"lookup": lookup_id},
        now=now,
    )
    return True


def open_requests(db: Session, subject_id: int) -> list[DataRequest]:
    """The person's open requests, oldest first."""
    return _open_requests(db, subject_id)
