"""/staff/lookup: customer service looks a caller up, with a reason, and sees their data as /me
shows it (portal/workflows/caller_lookup.py). Each dataclass is the documented context
(``page``) of a template under templates/staff/.

The value looked up travels only in the form's POST body, never in a URL. A look-up that finds
one person goes on to their page, /staff/lookup/<look-up>/people/<person>, named by the portal's
own ids: the look-up (its audit entry) is what lets the agent see the person, and only for the
agent who made it, only a person it found, and only for a while (``caller_lookup.covering``).
A look-up that finds several people lists them by name and masked national ID, nothing more,
for the agent to pick the caller. Every view of a person's page is audit-logged with the
look-up's reason before their data is read.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import col, select

from portal import i18n
from portal.datamap import DataMap, resolve
from portal.datamap.lookup import address_fields, person_name
from portal.datamap.paging import read
from portal.datamap.protection import protected_national_ids
from portal.db import session_scope
from portal.exports import on_behalf
from portal.exports.models import ExportStatus
from portal.exports.on_behalf import OnBehalfRefused
from portal.exports.service import ExportRuntime
from portal.i18n import gettext as _
from portal.identity.identifiers import person_keys
from portal.identity.national_id import mask_national_id, parse_national_id
from portal.marketing import by_phone, preferences
from portal.marketing.consent import ConsentRefused, Via
from portal.marketing.preferences import PersonChoices
from portal.models import StaffMember, Subject
from portal.views.common import Done, Refused, day, moment
from portal.views.consent import VIA, ConsentPage, action_words, topic_name
from portal.views.consent import build_page as build_consent_page
from portal.views.labels import TYPE_LABELS, TYPE_NAMES
from portal.views.my_data import MyDataPage, build_page
from portal.workflows import caller_lookup
from portal.workflows.caller_lookup import (
    KIND_LABELS,
    REASON_LABELS,
    Kind,
    LookupRefused,
    Match,
    NotFound,
    Outcome,
    Reason,
)
from portal.workflows.kept import kept_for
from portal.workflows.requests import (
    STATUS_LABELS,
    DataRequest,
    RequestStatus,
    RequestType,
    open_request_of,
)

SEARCH_PATH = "/staff/lookup"
FIELDS = ("kind", "value", "reason", "note")


def person_path(lookup_id: int, subject_id: int) -> str:
    return f"{SEARCH_PATH}/{lookup_id}/people/{subject_id}"


@dataclass(frozen=True)
class Choice:
    value: str
    label: str
    selected: bool


@dataclass(frozen=True)
class MatchRow:
    """A person the look-up found, as the agent tells them apart: no more."""

    href: str
    name: str
    national_id: str  # masked
    records: int
    open_requests: int
    protected: bool = False


@dataclass(frozen=True)
class WaitingRow:
    """An open request filed without BankID whose person is not verified yet."""

    request_id: int
    type: str
    received: str


@dataclass(frozen=True)
class SearchPage:
    """staff/lookup.html: the form, and after a look-up what it found when that was not one
    person: nobody (``not_found``, the sentence saying why), or the people to pick the caller
    from (``matches``), and open requests filed without BankID under the value (``waiting``).
    ``errors`` (field -> message) after a refused look-up; ``form`` as typed."""

    kinds: tuple[Choice, ...]
    reasons: tuple[Choice, ...]
    form: Mapping[str, str] = field(default_factory=dict)
    errors: Mapping[str, str] = field(default_factory=dict)
    looked_up: bool = False
    matches: tuple[MatchRow, ...] = ()
    waiting: tuple[WaitingRow, ...] = ()
    not_found: str | None = None


def search_page(
    form: Mapping[str, str] | None = None, errors: Mapping[str, str] | None = None
) -> SearchPage:
    """The form, as typed (``form``) and with the fields at fault (``errors``)."""
    typed = dict(form or {})
    kind = typed.get("kind") or Kind.phone
    return SearchPage(
        kinds=tuple(
            Choice(str(value), str(label), value == kind) for value, label in KIND_LABELS.items()
        ),
        reasons=tuple(
            Choice(str(value), str(label), value == typed.get("reason"))
            for value, label in REASON_LABELS.items()
        ),
        form=typed,
        errors=dict(errors or {}),
    )


def search(
    engine: Engine,
    datamap: DataMap,
    sources: Mapping[str, Engine],
    form: Mapping[str, Any],
    *,
    staff_id: int,
    region: str,
    language: str,
    now: datetime,
) -> Done | Refused | SearchPage:
    """Look the caller up: on to the person's page when one is found; the form again with why
    when the look-up is refused (nothing looked up, nothing logged); otherwise what was found."""
    typed = {name: str(form.get(name, ""))[:600] for name in FIELDS}
    try:
        query = caller_lookup.check_query(typed, region=region, today=now.date())
    except LookupRefused as refused:
        return Refused(search_page(typed, refused.errors))
    outcome = caller_lookup.look_up(engine, datamap, sources, query, staff_id=staff_id, now=now)
    if len(outcome.matches) == 1 and not outcome.waiting:
        return Done(person_path(outcome.lookup_id, outcome.matches[0].subject_id), "")
    return _found(typed, query.kind, outcome, language, datamap.controller.time_zone)


def _found(
    typed: Mapping[str, str], kind: Kind, outcome: Outcome, language: str, tz: str
) -> SearchPage:
    page = search_page(typed)
    return SearchPage(
        kinds=page.kinds,
        reasons=page.reasons,
        form=page.form,
        looked_up=True,
        matches=tuple(
            MatchRow(
                person_path(outcome.lookup_id, match.subject_id),
                _listed_name(match),
                match.national_id,
                match.records,
                match.open_requests,
                match.protected,
            )
            for match in outcome.matches
        ),
        waiting=tuple(
            WaitingRow(
                item.request_id,
                str(TYPE_LABELS.get(item.type, item.type)),
                day(item.received_at, language, tz),
            )
            for item in outcome.waiting
        ),
        not_found=_why(outcome.not_found, kind),
    )


def _listed_name(match: Match) -> str:
    """A person as a list of several names them: a protected identity is never named in a
    staff list (as in the DPO's queue); the agent tells them apart by the masked number."""
    if match.protected:
        return _("Protected identity")
    return match.name or _("No name in the records")


def _why(not_found: NotFound | None, kind: Kind) -> str | None:
    """Why the look-up found nobody, in a sentence for the agent."""
    if not_found is None:
        return None
    if not_found == NotFound.too_many:
        return _(
            "That leads to more than %(count)d people, too many to tell the caller apart. Ask "
            "for their customer number or national identity number instead.",
            count=caller_lookup.MAX_MATCHES,
        )
    if not_found == NotFound.unnamed:
        return _(
            "The company holds data under that, but it leads to nobody the portal can name: no "
            "national identity number, and no address or number a person has proven, links it "
            "to anyone. Ask the caller for their customer number or national identity number."
        )
    sentence = {
        Kind.phone: _("No customer has that phone number."),
        Kind.email: _("No customer has that e-mail address."),
        Kind.national_id: _("No customer has that national identity number."),
        Kind.customer_number: _("No customer has that customer number."),
    }[kind]
    return (
        sentence
        + " "
        + _(
            "The portal finds only people the company holds data about or who have an open "
            "request; it does not look up anyone else."
        )
    )


# --- a person found -----------------------------------------------------------------------------


@dataclass(frozen=True)
class HistoryRow:
    """One choice in the person's consent history: when, what, through what and, for a choice
    recorded on a call, the member of staff who recorded it."""

    when: str
    what: str
    action: str
    via: str
    who: str | None


@dataclass(frozen=True)
class OpenRequest:
    request_id: int
    type: str
    status: str
    received: str
    due: str


@dataclass(frozen=True)
class PersonPage:
    """staff/lookup_person.html: the person a look-up found and why they were looked up; their
    data as /me shows it (the first page of each table, me/_records.html), their consents,
    reservations and objection as their consent page has them (``choices``, with the history
    naming who recorded a choice on a call), and their open requests."""

    lookup_id: int
    subject_id: int
    name: str
    national_id: str  # masked
    reason: str  # why they were looked up, as the agent gave it
    # Their identity is protected: the map's address fields are hidden in ``data``.
    protected: bool
    data: MyDataPage
    choices: ConsentPage
    history: tuple[HistoryRow, ...]
    open_requests: tuple[OpenRequest, ...]
    # Where a copy may go: the e-mail addresses the person proved (exports/on_behalf.py).
    addresses: tuple[str, ...]
    open_access: int | None  # the open access request's number, if there is one
    error: str | None = None  # why the last action was refused (nothing changed)
    error_action: str | None = None  # which action's form it belongs to

    @property
    def path(self) -> str:
        return person_path(self.lookup_id, self.subject_id)


def person_page(
    engine: Engine,
    datamap: DataMap,
    sources: Mapping[str, Engine],
    lookup_id: int,
    subject_id: int,
    *,
    staff_id: int,
    region: str,
    language: str,
    now: datetime,
    error: tuple[str, str] | None = None,
) -> PersonPage | None:
    """The person's page, the view audit-logged before their data is read; None when the
    look-up does not cover it (not this agent's, did not find the person, or too old).
    ``error``: (action, why) after a refused action."""
    tz = datamap.controller.time_zone
    with session_scope(engine) as db:
        entry = caller_lookup.covering(db, lookup_id, subject_id, staff_id=staff_id, now=now)
        subject = db.get(Subject, subject_id)
        if entry is None or subject is None:
            return None
        caller_lookup.record_view(db, lookup_id, subject_id, staff_id=staff_id, now=now)
        reason = _reason_words(entry.details.get("reason"), entry.reason)
        requests = tuple(
            _open_request(request, language, tz)
            for request in caller_lookup.open_requests(db, subject_id)
        )
        stored_name, national_id = subject.display_name, subject.national_id
        addresses = on_behalf.proven_addresses(db, subject_id)
        open_access = open_request_of(db, subject_id, RequestType.access)
    data, found_name, protected = _holdings(engine, datamap, sources, subject_id, language, now)
    choices = preferences.load(engine, datamap, sources, subject_id, region=region, now=now)
    return PersonPage(
        lookup_id=lookup_id,
        subject_id=subject_id,
        name=stored_name or found_name,
        national_id=mask_national_id(parse_national_id(national_id)),
        reason=reason,
        protected=protected,
        data=data,
        choices=build_consent_page(datamap, choices),
        history=_history(engine, datamap, choices, language, tz),
        open_requests=requests,
        addresses=addresses,
        open_access=open_access.id if open_access is not None else None,
        error=error[1] if error else None,
        error_action=error[0] if error else None,
    )


# --- acting for the caller ----------------------------------------------------------------------


def _covering_reason(
    engine: Engine, lookup_id: int, subject_id: int, staff_id: int, now: datetime
) -> str | None:
    """The look-up's reason, when it covers acting for this person (``caller_lookup.covering``)."""
    with session_scope(engine) as db:
        entry = caller_lookup.covering(db, lookup_id, subject_id, staff_id=staff_id, now=now)
        return (entry.reason or "") if entry is not None else None


def file_access_request(
    engine: Engine,
    rt: ExportRuntime,
    lookup_id: int,
    subject_id: int,
    form: Mapping[str, Any],
    *,
    staff_id: int,
    now: datetime,
) -> Done | Refused | None:
    """File an access request for the caller, the copy to the address picked; None when the
    look-up does not cover it, Refused (the reason as its page) when refused."""
    reason = _covering_reason(engine, lookup_id, subject_id, staff_id, now)
    if reason is None:
        return None
    try:
        filed = on_behalf.file_access_request(
            engine,
            rt,
            subject_id=subject_id,
            address=str(form.get("address", ""))[: on_behalf.MAX_ADDRESS],
            staff_id=staff_id,
            reason=reason,
            lookup_id=lookup_id,
            now=now,
        )
    except OnBehalfRefused as refused:
        return Refused(("access", str(refused)))
    if filed.export is not None and filed.export.status == ExportStatus.ready:
        message = _(
            "Access request %(id)d is filed, and the copy is sent to %(address)s.",
            id=filed.request_id,
            address=filed.address,
        )
    else:
        message = _(
            "Access request %(id)d is filed. The copy is being made and goes to %(address)s "
            "when it is ready.",
            id=filed.request_id,
            address=filed.address,
        )
    return Done(person_path(lookup_id, subject_id), message)


def record_choice(
    engine: Engine,
    datamap: DataMap,
    sources: Mapping[str, Engine],
    lookup_id: int,
    subject_id: int,
    form: Mapping[str, Any],
    *,
    staff_id: int,
    region: str,
    now: datetime,
) -> Done | Refused | None:
    """Record the caller's consent, reservation or objection; None when the look-up does not
    cover it, Refused (the reason as its page) when refused."""
    reason = _covering_reason(engine, lookup_id, subject_id, staff_id, now)
    if reason is None:
        return None
    kind, topic = str(form.get("kind", ""))[:20], str(form.get("topic", ""))[:60]
    active = form.get("active") == "1"
    try:
        by_phone.record_by_phone(
            engine,
            datamap,
            sources,
            subject_id,
            kind=kind,
            topic=topic,
            active=active,
            staff_id=staff_id,
            reason=reason,
            lookup_id=lookup_id,
            region=region,
            now=now,
        )
    except ConsentRefused as refused:
        return Refused(("choices", str(refused)))
    language = i18n.current_language()
    what = topic_name(datamap, kind, topic, language)
    return Done(
        person_path(lookup_id, subject_id),
        _("Recorded: %(what)s, %(change)s.", what=what, change=action_words(kind, active)),
    )


def _reason_words(code: object, stored: str | None) -> str:
    """The look-up's reason in the agent's language, with the words they added."""
    try:
        label = str(REASON_LABELS[Reason(str(code))])
    except ValueError:
        return stored or ""
    note = (stored or "").partition(": ")[2]
    return f"{label}: {note}" if note else label


def _open_request(request: DataRequest, language: str, tz: str) -> OpenRequest:
    return OpenRequest(
        request_id=request.id or 0,
        type=str(TYPE_NAMES.get(RequestType(request.type), request.type)),
        status=str(STATUS_LABELS.get(RequestStatus(request.status), request.status)),
        received=day(request.received_at, language, tz),
        due=day(request.due_at, language, tz),
    )


def _holdings(
    engine: Engine,
    datamap: DataMap,
    sources: Mapping[str, Engine],
    subject_id: int,
    language: str,
    now: datetime,
) -> tuple[MyDataPage, str, bool]:
    """The person's data as /me shows it, their name as the company's records have it, and
    whether their identity is protected (then their addresses are hidden)."""
    national_id, _country, proven = person_keys(engine, subject_id)
    resolution = resolve(datamap, sources, national_id, proven=proven)

    def reader(wanted: Any) -> Any:
        return read(datamap, sources, resolution, wanted)

    kept = kept_for(engine, subject_id).tables(resolution.keys, datamap.table_order())
    protected = national_id in protected_national_ids(datamap, sources, [national_id])
    hidden = address_fields(datamap) if protected else frozenset()
    page = build_page(datamap, resolution, reader, language, now.date(), kept, hidden, staff=True)
    return page, person_name(datamap, sources, resolution), protected


def _history(
    engine: Engine, datamap: DataMap, choices: PersonChoices, language: str, tz: str
) -> tuple[HistoryRow, ...]:
    """The consent history, newest first; a choice recorded on a call names who recorded it."""
    staff_ids = {e.actor_id for e in choices.history if e.via == Via.staff and e.actor_id}
    with session_scope(engine) as db:
        names = {
            member.id: member.name
            for member in db.exec(select(StaffMember).where(col(StaffMember.id).in_(staff_ids)))
        }
    return tuple(
        HistoryRow(
            when=moment(item.at, language, tz),
            what=topic_name(datamap, item.kind, item.topic, language),
            action=action_words(item.kind, item.active),
            via=str(VIA.get(item.via, item.via)),
            who=names.get(item.actor_id or 0) if item.via == Via.staff else None,
        )
        for item in choices.history
    )
