"""/dpo: the DPO's request queue. Every request with its reference, person, type, state,
received, days left, assignee and assurance; filtered, searched, sorted and paged
(workflows/request_queue.py), assigned one at a time or many at once (workflows/assignment.py),
and the data map's law citations nobody has verified yet (people never read those).

The queue names people, so each page of it that shows a request is audit-logged
(``request.queue_view``: the requests shown, and how a search was read, never the term). A
person whose identity is protected (the data map's ``protected`` column) is shown as
"Protected", never by name, and a search by name does not find them. Whether anyone on the page
is protected is read from the company's databases, one statement per page; when they cannot be
read, no name is shown at all.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, col, select

from portal.audit import AuditActor, record
from portal.datamap import DataMap
from portal.datamap.lookup import holders
from portal.datamap.matching import normalise
from portal.datamap.protection import protected_national_ids
from portal.datamap.wording import UnverifiedCitation, unverified_citations
from portal.db import session_scope
from portal.i18n import gettext as _
from portal.i18n import ngettext
from portal.models import Assurance, StaffMember, Subject
from portal.views.labels import DPO_STATUS_LABELS, TYPE_NAMES
from portal.views.request_summary import RequestRow, request_row
from portal.workflows.assignment import MAX_BULK, AssignmentRefused, assign, assignable
from portal.workflows.contacts import RequestContact
from portal.workflows.request_queue import (
    MAX_SEARCH,
    SORTS,
    STATUS_FILTERS,
    QueueFilter,
    QueueSlice,
    Search,
    find_requests,
    name_candidates,
    parse_search,
)
from portal.workflows.requests import DataRequest, RequestStatus, RequestType

# Fewer days left than this, and the row says so in words ("5 days left: soon").
URGENT_DAYS = 7


@dataclass(frozen=True)
class Choice:
    value: str
    label: str
    selected: bool = False


@dataclass(frozen=True)
class QueueRow(RequestRow):
    """A request as the queue lists it. ``person`` is the name, or "Protected" for a protected
    identity; ``typed``: the name is as typed when filing without BankID (not yet verified).
    ``urgent``: open, running and under URGENT_DAYS days left."""

    subject_id: int | None = None
    person: str = ""
    typed: bool = False
    protected: bool = False
    assignee: str | None = None
    mine: bool = False
    assurance: str = ""
    urgent: bool = False


@dataclass(frozen=True)
class QueuePage:
    """One page of the queue. ``filter`` is what the URL asked for; ``search`` the term kept in
    the session (never in a URL), ``search_error`` why the one just sent could not be used.
    ``message`` is the outcome of a form sent by htmx, for the live region (a form sent
    without JavaScript flashes it instead). ``attention`` counts every request that needs
    attention, whatever the filter."""

    filter: QueueFilter
    requests: tuple[QueueRow, ...]
    total: int
    overdue: int
    page: int
    pages: int
    statuses: tuple[Choice, ...]
    types: tuple[Choice, ...]
    assignees: tuple[Choice, ...]
    sorts: tuple[Choice, ...]
    # Whom the selected requests can be assigned to: the DPOs, and nobody.
    assign_to: tuple[Choice, ...]
    search: str = ""
    search_error: str | None = None
    # The answer to the search form: htmx shows the search box again with it.
    searched: bool = False
    max_search: int = MAX_SEARCH
    attention: int = 0
    message: str | None = None
    # The company's databases could not be read: no name is shown, and a search found only
    # what the portal itself holds.
    names_hidden: bool = False
    # The map's rules and holds whose citation is marked not verified: for the DPO to check.
    citations: tuple[UnverifiedCitation, ...] = ()

    @property
    def status(self) -> str:
        return self.filter.status

    @property
    def href(self) -> str:
        """This page's address: where a form sent from it comes back to."""
        return self.filter.href(page=self.page)

    @property
    def previous_href(self) -> str | None:
        return self.filter.href(page=self.page - 1) if self.page > 1 else None

    @property
    def next_href(self) -> str | None:
        return self.filter.href(page=self.page + 1) if self.page < self.pages else None

    @property
    def hidden_fields(self) -> tuple[tuple[str, str], ...]:
        """The filter as hidden fields of the forms that post from the page (search,
        assignment), so that the answer shows the same filter."""
        return tuple(self.filter.params(page=self.page).items())

    @property
    def filtered(self) -> bool:
        return self.filter.params(page=1, sort="deadline") != {} or bool(self.search)


def queue_page(
    db: Session,
    chosen: QueueFilter,
    search: Search | None,
    *,
    viewer_id: int,
    language: str,
    tz: str,
    now: datetime,
) -> tuple[QueuePage, QueueSlice]:
    """The page's content, with every person named (protection is the caller's: it needs the
    company's databases), and the audit entry for the requests it shows."""
    found = find_requests(db, chosen, search, viewer_id=viewer_id, now=now)
    staff = assignable(db)
    names = _staff_names(db, staff, found.requests)
    contacts = _contacts(db, [r.id or 0 for r in found.requests])
    subjects = _subjects(db, found.requests)
    rows = tuple(
        _row(
            r,
            subjects.get(r.subject_id or 0),
            contacts.get(r.id or 0),
            names,
            viewer_id,
            (language, tz, now),
        )
        for r in found.requests
    )
    if rows:
        record(
            db,
            actor=AuditActor.staff,
            actor_id=viewer_id,
            action="request.queue_view",
            details={
                "request_ids": [row.id for row in rows],
                "search": list(search.ways) if search is not None else None,
            },
            now=now,
        )
    chosen = replace(chosen, page=found.page)
    page = QueuePage(
        filter=chosen,
        requests=rows,
        total=found.total,
        overdue=found.overdue,
        page=found.page,
        pages=found.pages,
        statuses=_status_choices(chosen.status),
        types=(
            Choice("", _("Every type"), not chosen.type),
            *(Choice(str(t), str(TYPE_NAMES[t]), chosen.type == t) for t in RequestType),
        ),
        assignees=_assignee_choices(chosen.assignee, staff, viewer_id),
        sorts=tuple(
            Choice(value, label, chosen.sort == value)
            for value, label in zip(SORTS, _sort_labels(), strict=True)
        ),
        assign_to=(
            *(Choice(str(m.id), _staff_name(m)) for m in staff),
            Choice("nobody", _("Nobody (unassign)")),
        ),
        search=search.term if search is not None else "",
        attention=db.exec(
            select(func.count())
            .select_from(DataRequest)
            .where(col(DataRequest.attention_job_id).is_not(None))
        ).one(),
    )
    return page, found


def _sort_labels() -> tuple[str, ...]:
    return (_("Deadline, soonest first"), _("Received, newest first"), _("Reference"))


def _status_choices(selected: str) -> tuple[Choice, ...]:
    labels = {"open": _("Open"), "attention": _("Needs attention"), "all": _("All")}
    return tuple(
        Choice(
            value,
            labels.get(value) or str(DPO_STATUS_LABELS[RequestStatus(value)]).capitalize(),
            value == selected,
        )
        for value in STATUS_FILTERS
    )


def _assignee_choices(
    selected: str, staff: list[StaffMember], viewer_id: int
) -> tuple[Choice, ...]:
    others = [m for m in staff if m.id != viewer_id]
    return (
        Choice("", _("Anyone"), not selected),
        Choice("me", _("Me"), selected == "me"),
        Choice("nobody", _("Nobody"), selected == "nobody"),
        *(Choice(str(m.id), _staff_name(m), selected == str(m.id)) for m in others),
    )


def _staff_name(member: StaffMember) -> str:
    return member.name or _("member of staff %(id)d", id=member.id or 0)


def _staff_names(
    db: Session, staff: list[StaffMember], requests: Collection[DataRequest]
) -> dict[int, str]:
    names = {m.id or 0: _staff_name(m) for m in staff}
    missing = {r.assignee_id for r in requests if r.assignee_id and r.assignee_id not in names}
    if missing:  # assigned to someone who no longer holds the dpo role
        for member in db.exec(select(StaffMember).where(col(StaffMember.id).in_(missing))):
            names[member.id or 0] = _staff_name(member)
    return names


def _contacts(db: Session, request_ids: list[int]) -> dict[int, RequestContact]:
    if not request_ids:
        return {}
    found = db.exec(select(RequestContact).where(col(RequestContact.request_id).in_(request_ids)))
    return {contact.request_id: contact for contact in found}


def _subjects(db: Session, requests: Collection[DataRequest]) -> dict[int, Subject]:
    ids = {r.subject_id for r in requests if r.subject_id is not None}
    if not ids:
        return {}
    return {s.id or 0: s for s in db.exec(select(Subject).where(col(Subject.id).in_(ids)))}


def _row(
    request: DataRequest,
    subject: Subject | None,
    contact: RequestContact | None,
    names: Mapping[int, str],
    viewer_id: int,
    when: tuple[str, str, datetime],
) -> QueueRow:
    """``when``: the viewer's language, the controller's time zone, and now."""
    base = request_row(request, *when, f"/dpo/requests/{request.id}", DPO_STATUS_LABELS)
    person, typed = _person(subject, contact)
    running = base.open and not base.paused
    return QueueRow(
        **vars(base),
        subject_id=request.subject_id,
        person=person,
        typed=typed,
        assignee=names.get(request.assignee_id) if request.assignee_id else None,
        mine=request.assignee_id == viewer_id,
        assurance=_assurance(request, contact),
        urgent=running and 0 <= base.days_left < URGENT_DAYS,
    )


def _person(subject: Subject | None, contact: RequestContact | None) -> tuple[str, bool]:
    if subject is not None:
        # Blank after an erasure (erasure_run.forget_in_portal) until the person signs in again.
        return subject.display_name or _("Name erased"), False
    if contact is not None:
        return contact.name, True
    return _("Not identified yet"), False


def _assurance(request: DataRequest, contact: RequestContact | None) -> str:
    if request.assurance == Assurance.high:
        return _("BankID")
    if request.assurance == Assurance.staff:
        return _("Identified by staff")
    if contact is not None and contact.verified_at is not None:
        return _("E-mail link, verified by the DPO")
    return _("E-mail link, not verified")


def protect(page: QueuePage, protected: Collection[int], *, hidden: bool) -> QueuePage:
    """The page with the people whose subject ids are ``protected`` shown as "Protected"; with
    ``hidden``, every identified person's name (their protection could not be checked)."""

    def shown(row: QueueRow) -> QueueRow:
        if row.typed or row.subject_id is None:
            return row
        if hidden:
            return replace(row, person=_("Name hidden"), protected=True)
        if row.subject_id in protected:
            return replace(row, person=_("Protected"), protected=True)
        return row

    rows = tuple(shown(row) for row in page.requests)
    return replace(page, requests=rows, names_hidden=hidden)


def load_queue(
    engine: Engine,
    datamap: DataMap,
    sources: Mapping[str, Engine],
    params: Mapping[str, str],
    search_text: str,
    *,
    viewer_id: int,
    language: str,
    now: datetime,
    shown: Mapping[str, Any] | None = None,
) -> QueuePage:
    """The queue for ``params`` (the URL's filter) and ``search_text`` (the session's search;
    already checked, see `parse_search`); ``shown``: fields of the page a form sets (its
    message, an error). The company's databases are read outside the
    portal's units of work: for a search, who their register has under the customer number or
    address and which people found by name are protected; then which people on the page are."""
    chosen = QueueFilter.from_query(params)
    search = parse_search(search_text)
    hidden = False
    if search is not None:
        search, hidden = _search_the_company(engine, datamap, sources, search)
    tz = datamap.controller.time_zone
    with session_scope(engine) as db:
        page, found = queue_page(
            db, chosen, search, viewer_id=viewer_id, language=language, tz=tz, now=now
        )
    protected: frozenset[int] = frozenset()
    if not hidden and found.national_ids:
        try:
            nids = protected_national_ids(datamap, sources, found.national_ids.values())
        except SQLAlchemyError:
            hidden = True
        else:
            protected = frozenset(s for s, nid in found.national_ids.items() if nid in nids)
    page = protect(page, protected, hidden=hidden)
    citations = unverified_citations(datamap, language)
    return replace(page, citations=citations, **(shown or {}))


def _search_the_company(
    engine: Engine, datamap: DataMap, sources: Mapping[str, Engine], search: Search
) -> tuple[Search, bool]:
    """The search with what the company's databases add: the national IDs on the rows the
    customer number or e-mail address leads to (`datamap.lookup.holders`, as the caller
    look-up finds them), and the people found by name who are protected. True when the
    databases could not be read (then nobody is found by name)."""
    with session_scope(engine) as db:
        candidates = name_candidates(db, search)
    region = datamap.settings.region
    try:
        national_ids: set[str] = set()
        for kind, value in (("customer_number", search.customer_number), ("email", search.email)):
            if value is not None:
                found = holders(datamap, sources, kind, normalise(kind, value, region))
                national_ids |= set(found.national_ids)
        protected = protected_national_ids(datamap, sources, candidates.values())
    except SQLAlchemyError:
        return replace(search, protected=frozenset(candidates)), True
    mine = frozenset(s for s, nid in candidates.items() if nid in protected)
    return replace(search, national_ids=frozenset(national_ids), protected=mine), False


@dataclass(frozen=True)
class Assigned:
    """What an assignment form did: the message to show, and whether it was refused."""

    message: str
    refused: bool = False


def assign_from_form(
    engine: Engine, form: Mapping[str, str], chosen: list[str], *, staff_id: int, now: datetime
) -> Assigned:
    """The queue's assignment form: a row's "Assign to me" (``assign_one``: that request, to
    the DPO sending it), or the chosen requests (``chosen``: the checked boxes) to the
    assignee picked (``assign_to``: a DPO's staff id, or "nobody")."""
    one = str(form.get("assign_one") or "")
    if one:
        ids, target = [one], str(staff_id)
    else:
        ids, target = chosen[: MAX_BULK + 1], str(form.get("assign_to") or "")
    # isdecimal, not isdigit: int() refuses superscripts such as "²", which isdigit passes.
    numbers = [int(text) for text in ids if text.isdecimal() and len(text) < 10]
    if len(numbers) != len(ids):
        return Assigned(_("There is no such request."), refused=True)
    if target != "nobody" and not (target.isdecimal() and len(target) < 10):
        return Assigned(_("Choose whom to assign the requests to."), refused=True)
    assignee = None if target == "nobody" else int(target)
    try:
        with session_scope(engine) as db:
            changed = assign(db, numbers, assignee, staff_id=staff_id, now=now)
            name = _assignee_name(db, assignee, staff_id)
    except AssignmentRefused as refused:
        return Assigned(str(refused), refused=True)
    return Assigned(_assigned_message(numbers, changed, assignee, name))


def _assignee_name(db: Session, assignee: int | None, staff_id: int) -> str:
    if assignee is None:
        return ""
    if assignee == staff_id:
        return _("you")
    member = db.get(StaffMember, assignee)
    return _staff_name(member) if member is not None else ""


def _assigned_message(ids: list[int], changed: list[int], assignee: int | None, name: str) -> str:
    if not changed:
        return _("Nothing changed: the chosen requests were already assigned so.")
    if len(ids) == 1:
        if assignee is None:
            return _("Request %(id)d is no longer assigned to anyone.", id=ids[0])
        return _("Request %(id)d is assigned to %(name)s.", id=ids[0], name=name)
    if assignee is None:
        return ngettext(
            "%(num)d request is no longer assigned to anyone.",
            "%(num)d requests are no longer assigned to anyone.",
            len(changed),
        )
    return ngettext(
        "%(num)d request is assigned to %(name)s.",
        "%(num)d requests are assigned to %(name)s.",
        len(changed),
        name=name,
    )
