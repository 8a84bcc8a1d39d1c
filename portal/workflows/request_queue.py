"""The DPO's request queue as a question to the portal's database: which requests, in which
order, a page at a time.

Filters (`QueueFilter`) are not personal data and travel in the page's URL: the status ("open",
"attention", "all" or one status), the type, the assignee ("me", "nobody" or a staff id), only
the overdue, the order (deadline: soonest first; received: newest first; reference: lowest
number first) and the page. A search (`Search`) is personal data (a name, an e-mail address, a
customer number) and never does: the pages keep it in the server-side session.

A search finds a request by its reference (the request's number), and its person by what the
portal itself holds: the name captured at sign-in (or typed when filing without BankID), an
e-mail address or customer number the person proved or staff linked, or typed when filing. A
customer number or e-mail address is also looked up in the company's databases
(`datamap.lookup.holders`: the rows that carry it and the people they lead to, as the caller
look-up finds them) by the caller, before this module's query, which gets the national IDs
found (`Search.national_ids`). A person whose
identity is protected is never found by name (`Search.protected`, also the caller's).

A request waiting for its person has its deadline paused: it is never overdue meanwhile, so the
overdue filter and count leave it out (``paused_at IS NULL``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import ColumnElement, and_, false, func, or_
from sqlmodel import Session, col, select

from portal.db import lowered
from portal.i18n import gettext as _
from portal.models import IdentifierKind, Subject, SubjectIdentifier
from portal.workflows.contacts import RequestContact
from portal.workflows.requests import OPEN, DataRequest, RequestStatus, RequestType

STATUS_FILTERS = ("open", "attention", *(str(status) for status in RequestStatus), "all")
SORTS = ("deadline", "received", "reference")
PAGE_SIZE = 25
MAX_PAGE = 100_000
MAX_STAFF_ID = 2**31 - 1
# A search longer than this is refused: no reference, name, address or number is that long.
MAX_SEARCH = 200
_REFERENCE = re.compile(r"#?(\d{1,9})")
_CUSTOMER_NUMBER = re.compile(r"[^\s@]{1,50}")


class SearchRefused(ValueError):
    """The search cannot be used (too long); the message says why."""


@dataclass(frozen=True)
class QueueFilter:
    """What the DPO asked to see; every value checked (anything unknown is the default)."""

    status: str = "open"
    type: str = ""  # "": every type
    assignee: str = ""  # "": anyone's; "me", "nobody", or a staff id
    overdue: bool = False
    sort: str = "deadline"
    page: int = 1

    @classmethod
    def from_query(cls, params: Mapping[str, Any]) -> QueueFilter:
        def value(name: str) -> str:
            return str(params.get(name) or "")[:40]

        assignee = value("assignee")
        if assignee not in ("me", "nobody") and not _staff_id(assignee):
            assignee = ""
        page = value("page")
        return cls(
            status=value("status") if value("status") in STATUS_FILTERS else "open",
            type=value("type") if value("type") in set(RequestType) else "",
            assignee=assignee,
            overdue=value("overdue") in ("1", "on", "true"),
            sort=value("sort") if value("sort") in SORTS else "deadline",
            page=min(int(page), MAX_PAGE) if page.isdigit() and int(page) > 0 else 1,
        )

    def params(self, **changes: Any) -> dict[str, str]:
        """The filter as query parameters, the defaults left out; ``changes`` first (a page)."""
        chosen = replace(self, **changes)
        default = QueueFilter()
        found = {
            "status": chosen.status,
            "type": chosen.type,
            "assignee": chosen.assignee,
            "overdue": "1" if chosen.overdue else "",
            "sort": chosen.sort,
            "page": str(chosen.page),
        }
        defaults = {"status": default.status, "sort": default.sort, "page": "1"}
        return {k: v for k, v in found.items() if v and v != defaults.get(k)}

    def href(self, **changes: Any) -> str:
        """The queue's address with this filter (never a search: that is personal data)."""
        query = urlencode(self.params(**changes))
        return f"/dpo?{query}" if query else "/dpo"


def _staff_id(text: str) -> int | None:
    return int(text) if text.isdigit() and 0 < int(text) <= MAX_STAFF_ID else None


@dataclass(frozen=True)
class Search:
    """What the DPO typed, read every way it can be: a reference, a name's words, an e-mail
    address, a customer number. ``national_ids``: the people the company's register has under
    that customer number or address; ``protected``: the subjects never to be found by name.
    Both come from the company's databases, read by the caller."""

    term: str
    reference: int | None = None
    words: tuple[str, ...] = ()
    email: str | None = None
    customer_number: str | None = None
    national_ids: frozenset[str] = frozenset()
    protected: frozenset[int] = frozenset()

    @property
    def ways(self) -> tuple[str, ...]:
        """How the term was read (for the audit log: never the term itself)."""
        found = (
            ("reference", self.reference is not None),
            ("name", bool(self.words)),
            ("email", self.email is not None),
            ("customer_number", self.customer_number is not None),
        )
        return tuple(name for name, used in found if used)


def parse_search(text: str) -> Search | None:
    """The search as typed, or None when empty. A number is read as a reference and a customer
    number, text with "@" as an e-mail address, text with a letter as a name (every word must
    be in it, in any case) and, without spaces, as a customer number too. SearchRefused when
    longer than MAX_SEARCH."""
    term = " ".join(text.split())
    if not term:
        return None
    if len(term) > MAX_SEARCH:
        message = _("Please keep the search under %(count)d characters.", count=MAX_SEARCH)
        raise SearchRefused(message)
    reference = _REFERENCE.fullmatch(term)
    email = term.lower() if "@" in term else None
    is_name = email is None and any(char.isalpha() for char in term)
    return Search(
        term=term,
        reference=int(reference.group(1)) if reference else None,
        words=tuple(term.lower().split()) if is_name else (),
        email=email,
        customer_number=term if email is None and _CUSTOMER_NUMBER.fullmatch(term) else None,
    )


@dataclass(frozen=True)
class QueueSlice:
    """One page of the requests the filter and search find, in their order. ``page`` is the
    page shown (the last one when the filter asked for a page beyond it)."""

    requests: tuple[DataRequest, ...]
    total: int
    overdue: int
    page: int
    pages: int
    page_size: int = PAGE_SIZE
    national_ids: Mapping[int, str] = field(default_factory=dict)  # subject id -> national ID


def find_requests(
    db: Session,
    chosen: QueueFilter,
    search: Search | None,
    *,
    viewer_id: int,
    now: datetime,
    page_size: int = PAGE_SIZE,
) -> QueueSlice:
    """The page of requests ``chosen`` and ``search`` find (``viewer_id``: who "me" is)."""
    conditions = [*_filters(chosen, viewer_id, now)]
    if search is not None:
        conditions.append(_search(search))
    where = and_(*conditions) if conditions else None
    total = _count(db, where)
    overdue = _count(db, and_(*conditions, _overdue(now)))
    pages = max(1, math.ceil(total / page_size))
    page = min(chosen.page, pages)
    statement = select(DataRequest)
    if where is not None:
        statement = statement.where(where)
    found = db.exec(
        statement.order_by(*_order(chosen.sort)).offset((page - 1) * page_size).limit(page_size)
    ).all()
    subjects = {r.subject_id for r in found if r.subject_id is not None}
    national_ids = dict(
        db.exec(select(Subject.id, Subject.national_id).where(col(Subject.id).in_(subjects))).all()
    )
    return QueueSlice(tuple(found), total, overdue, page, pages, page_size, national_ids)


def _count(db: Session, where: ColumnElement[bool] | None) -> int:
    statement = select(func.count()).select_from(DataRequest)
    return db.exec(statement.where(where) if where is not None else statement).one()


def _filters(chosen: QueueFilter, viewer_id: int, now: datetime) -> Iterable[ColumnElement[bool]]:
    status = col(DataRequest.status)
    if chosen.status == "open":
        yield status.in_([str(s) for s in OPEN])
    elif chosen.status == "attention":
        yield col(DataRequest.attention_job_id).is_not(None)
    elif chosen.status != "all":
        yield status == chosen.status
    if chosen.type:
        yield col(DataRequest.type) == chosen.type
    assignee = col(DataRequest.assignee_id)
    if chosen.assignee == "me":
        yield assignee == viewer_id
    elif chosen.assignee == "nobody":
        yield assignee.is_(None)
    elif (staff_id := _staff_id(chosen.assignee)) is not None:
        yield assignee == staff_id
    if chosen.overdue:
        yield _overdue(now)


def _overdue(now: datetime) -> ColumnElement[bool]:
    """Open, running (not paused while waiting for the person) and past the deadline."""
    return and_(
        col(DataRequest.status).in_([str(s) for s in OPEN]),
        col(DataRequest.paused_at).is_(None),
        col(DataRequest.due_at) < now,
    )


def _order(sort: str) -> tuple[Any, ...]:
    if sort == "received":
        return (col(DataRequest.received_at).desc(), col(DataRequest.id).desc())
    if sort == "reference":
        return (col(DataRequest.id),)
    return (col(DataRequest.due_at), col(DataRequest.id))


def _search(search: Search) -> ColumnElement[bool]:
    """Any of the ways the term was read finds the request."""
    subject = col(DataRequest.subject_id)
    found: list[ColumnElement[bool]] = []
    if search.reference is not None:
        found.append(col(DataRequest.id) == search.reference)
    for kind, value, typed in (
        (IdentifierKind.email, search.email, col(RequestContact.email)),
        (IdentifierKind.customer_number, search.customer_number, RequestContact.customer_number),
    ):
        if value is None:
            continue
        found.append(subject.in_(_identified(kind, value)))
        filed = select(RequestContact.request_id).where(col(typed) == value)
        found.append(col(DataRequest.id).in_(filed))
    if search.national_ids:
        by_register = select(Subject.id).where(col(Subject.national_id).in_(search.national_ids))
        found.append(subject.in_(by_register))
    if search.words:
        found.append(_by_name(search))
    return or_(*found) if found else false()


def _identified(kind: IdentifierKind, value: str) -> Any:
    return select(SubjectIdentifier.subject_id).where(
        SubjectIdentifier.kind == kind, SubjectIdentifier.value == value
    )


def _name_matches(expression: Any, words: tuple[str, ...]) -> ColumnElement[bool]:
    folded = lowered(expression)
    return and_(*(folded.contains(word, autoescape=True) for word in words))


def _subject_name() -> Any:
    return col(Subject.given_name) + " " + col(Subject.family_name)


def _by_name(search: Search) -> ColumnElement[bool]:
    """The person's name as the portal holds it, or as typed when filing without BankID; never
    a protected person."""
    subject = col(DataRequest.subject_id)
    named = select(Subject.id).where(_name_matches(_subject_name(), search.words))
    typed = select(RequestContact.request_id).where(
        _name_matches(col(RequestContact.name), search.words)
    )
    found = or_(subject.in_(named), col(DataRequest.id).in_(typed))
    if not search.protected:
        return found
    return and_(found, or_(subject.is_(None), subject.not_in(search.protected)))


def name_candidates(db: Session, search: Search) -> dict[int, str]:
    """The people a name search may find (subject id -> national ID): those whose name, or the
    name typed on one of their requests, has every word. The caller asks the company's data
    which of them are protected (`Search.protected`)."""
    if not search.words:
        return {}
    with_requests = select(DataRequest.subject_id).where(col(DataRequest.subject_id).is_not(None))
    named = select(Subject.id, Subject.national_id).where(
        _name_matches(_subject_name(), search.words), col(Subject.id).in_(with_requests)
    )
    typed = (
        select(Subject.id, Subject.national_id)
        .join(DataRequest, col(DataRequest.subject_id) == col(Subject.id))
        .join(RequestContact, col(RequestContact.request_id) == col(DataRequest.id))
        .where(_name_matches(col(RequestContact.name), search.words))
    )
    return dict(db.exec(named).all()) | dict(db.exec(typed).all())
