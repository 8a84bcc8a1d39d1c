"""The DPO's request queue without HTTP: filters, search, order, paging, assignment, and the
paused deadline that is never overdue (workflows/request_queue.py, workflows/assignment.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from portal.audit import AuditEntry
from portal.db import session_scope
from portal.models import (
    Assurance,
    IdentifierKind,
    StaffMember,
    StaffRole,
    StaffRoleName,
    Subject,
    SubjectIdentifier,
)
from portal.workflows.assignment import MAX_BULK, AssignmentRefused, assign, assignable
from portal.workflows.contacts import RequestContact
from portal.workflows.request_queue import (
    MAX_SEARCH,
    QueueFilter,
    Search,
    SearchRefused,
    find_requests,
    name_candidates,
    parse_search,
)
from portal.workflows.requests import (
    Actor,
    DataRequest,
    RequestEvent,
    RequestStatus,
    RequestType,
    apply,
)

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def staff(db: Session, name: str, *roles: StaffRoleName) -> int:
    member = StaffMember(issuer="https://idp", sub=name.lower(), name=name)
    db.add(member)
    db.flush()
    for role in roles:
        db.add(StaffRole(staff_id=member.id, role=role))
    db.flush()
    return member.id or 0


def person(db: Session, given: str, family: str, national_id: str) -> int:
    subject = Subject(national_id=national_id, country="NO", given_name=given, family_name=family)
    db.add(subject)
    db.flush()
    return subject.id or 0


def request(
    db: Session,
    subject_id: int | None,
    *,
    type: RequestType = RequestType.access,
    status: RequestStatus = RequestStatus.verified,
    received_days_ago: float = 1,
    due_in_days: float | None = None,
    assignee_id: int | None = None,
    paused: bool = False,
    assurance: Assurance = Assurance.high,
) -> int:
    received = NOW - timedelta(days=received_days_ago)
    due = (
        received + timedelta(days=30) if due_in_days is None else NOW + timedelta(days=due_in_days)
    )
    row = DataRequest(
        subject_id=subject_id,
        type=type,
        status=RequestStatus.waiting_for_subject if paused else status,
        assurance=assurance,
        received_at=received,
        due_at=due,
        assignee_id=assignee_id,
        paused_at=NOW - timedelta(days=3) if paused else None,
    )
    db.add(row)
    db.flush()
    return row.id or 0


def ids(
    db: Session, chosen: QueueFilter, search: Search | None = None, viewer: int = 0
) -> list[int]:
    found = find_requests(db, chosen, search, viewer_id=viewer, now=NOW)
    return [r.id or 0 for r in found.requests]


@pytest.fixture
def db(engine: Engine):
    with session_scope(engine) as session:
        yield session


class TestFilters:
    def test_status_type_and_overdue(self, db: Session) -> None:
        kari = person(db, "Kari", "Nordmann", "12038410081")
        late = request(db, kari, due_in_days=-2)
        paused = request(db, kari, type=RequestType.erasure, due_in_days=-5, paused=True)
        soon = request(db, kari, type=RequestType.erasure, due_in_days=3)
        done = request(db, kari, status=RequestStatus.completed, due_in_days=-40)
        assert ids(db, QueueFilter()) == [paused, late, soon]
        assert ids(db, QueueFilter(status="all")) == [done, paused, late, soon]
        assert ids(db, QueueFilter(status="completed")) == [done]
        assert ids(db, QueueFilter(type="erasure")) == [paused, soon]
        # Waiting for the person pauses the deadline: never overdue, though past due_at.
        assert ids(db, QueueFilter(overdue=True)) == [late]
        assert ids(db, QueueFilter(status="all", overdue=True)) == [late]
        found = find_requests(db, QueueFilter(), None, viewer_id=0, now=NOW)
        assert (found.total, found.overdue) == (3, 1)

    def test_assignee(self, db: Session) -> None:
        me = staff(db, "Per", StaffRoleName.dpo)
        other = staff(db, "Eva", StaffRoleName.dpo)
        kari = person(db, "Kari", "Nordmann", "12038410081")
        mine = request(db, kari, assignee_id=me)
        hers = request(db, kari, type=RequestType.erasure, assignee_id=other)
        nobodys = request(db, kari, type=RequestType.objection)
        assert ids(db, QueueFilter(assignee="me"), viewer=me) == [mine]
        assert ids(db, QueueFilter(assignee="me"), viewer=other) == [hers]
        assert ids(db, QueueFilter(assignee="nobody")) == [nobodys]
        assert ids(db, QueueFilter(assignee=str(other))) == [hers]
        assert ids(db, QueueFilter(assignee=""), viewer=me) == [mine, hers, nobodys]

    def test_the_query_string_is_checked(self) -> None:
        junk = QueueFilter.from_query(
            {"status": "kari@example.no", "type": "x", "assignee": "-1", "overdue": "yes",
             "sort": "name", "page": "abc"}
        )  # fmt: skip
        assert junk == QueueFilter()
        chosen = QueueFilter.from_query(
            {"status": "all", "type": "erasure", "assignee": "7", "overdue": "1",
             "sort": "received", "page": "3"}
        )  # fmt: skip
        assert chosen == QueueFilter("all", "erasure", "7", True, "received", 3)
        assert QueueFilter.from_query(chosen.params()) == chosen
        assert chosen.href(page=1) == (
            "/dpo?status=all&type=erasure&assignee=7&overdue=1&sort=received"
        )
        assert QueueFilter().href() == "/dpo"
        assert QueueFilter.from_query({"page": "9" * 30}).page == 100_000


class TestOrderAndPaging:
    def test_sort(self, db: Session) -> None:
        kari = person(db, "Kari", "Nordmann", "12038410081")
        a = request(db, kari, received_days_ago=10, due_in_days=20)
        b = request(db, kari, type=RequestType.erasure, received_days_ago=2, due_in_days=5)
        c = request(db, kari, type=RequestType.objection, received_days_ago=5, due_in_days=25)
        assert ids(db, QueueFilter(sort="deadline")) == [b, a, c]
        assert ids(db, QueueFilter(sort="received")) == [b, c, a]
        assert ids(db, QueueFilter(sort="reference")) == [a, b, c]

    def test_pages_are_bounded(self, db: Session) -> None:
        made = [request(db, None, received_days_ago=n, due_in_days=n) for n in range(60)]
        first = find_requests(db, QueueFilter(sort="reference"), None, viewer_id=0, now=NOW)
        assert (first.total, first.pages, first.page, len(first.requests)) == (60, 3, 1, 25)
        last = find_requests(db, QueueFilter(sort="reference", page=3), None, viewer_id=0, now=NOW)
        assert [r.id for r in last.requests] == made[50:]
        beyond = find_requests(
            db, QueueFilter(sort="reference", page=99), None, viewer_id=0, now=NOW
        )
        assert beyond.page == 3 and [r.id for r in beyond.requests] == made[50:]
        empty = find_requests(db, QueueFilter(status="rejected"), None, viewer_id=0, now=NOW)
        assert (empty.total, empty.pages, empty.page, empty.requests) == (0, 1, 1, ())


class TestSearch:
    def test_reading_the_term(self) -> None:
        assert parse_search("   ") is None
        assert parse_search("#12") == Search("#12", reference=12, customer_number="#12")
        assert parse_search(" 900001 ") == Search(
            "900001", reference=900001, customer_number="900001"
        )
        email = parse_search("Kari@Example.no")
        assert email is not None and (email.email, email.words, email.reference) == (
            "kari@example.no",
            (),
            None,
        )
        name = parse_search("  Kari   NORDMANN ")
        assert name is not None and name.words == ("kari", "nordmann") and name.reference is None
        assert name.ways == ("name",)
        assert parse_search("K-1001").ways == ("name", "customer_number")
        with pytest.raises(SearchRefused):
            parse_search("x" * (MAX_SEARCH + 1))

    def test_by_reference_and_name(self, db: Session) -> None:
        kari = person(db, "Kari", "Nordmann", "12038410081")
        oyvind = person(db, "Øyvind", "Ås", "04077910005")
        hers = request(db, kari)
        his = request(db, oyvind, type=RequestType.erasure)
        everyone = QueueFilter(status="all")
        assert ids(db, everyone, parse_search(str(his))) == [his]
        assert ids(db, everyone, parse_search("nordmann kari")) == [hers]
        assert ids(db, everyone, parse_search("ØYVIND")) == [his]  # every letter, any case
        assert ids(db, everyone, parse_search("øyvind ås")) == [his]
        assert ids(db, everyone, parse_search("Kari Ås")) == []  # every word must match
        assert ids(db, everyone, parse_search("%")) == []  # a wildcard is a character
        assert ids(db, everyone, parse_search("_")) == []

    def test_by_what_the_request_and_the_person_hold(self, db: Session) -> None:
        kari = person(db, "Kari", "Nordmann", "12038410081")
        ola = person(db, "Ola", "Nordmann", "04077910005")
        by_bankid = request(db, kari)
        db.add(SubjectIdentifier(subject_id=kari, kind=IdentifierKind.email,
                                 value="kari@example.no", assurance=Assurance.low))  # fmt: skip
        db.add(SubjectIdentifier(subject_id=kari, kind=IdentifierKind.customer_number,
                                 value="900001", assurance=Assurance.staff))  # fmt: skip
        by_email = request(db, None, type=RequestType.erasure, assurance=Assurance.low)
        db.add(RequestContact(request_id=by_email, name="Kari N.", email="k@example.org",
                              customer_number="K-77", confirmed_at=NOW))  # fmt: skip
        olas = request(db, ola, type=RequestType.objection)
        db.flush()
        everyone = QueueFilter(status="all")
        assert ids(db, everyone, parse_search("KARI@example.no")) == [by_bankid]
        assert ids(db, everyone, parse_search("k@example.org")) == [by_email]
        assert ids(db, everyone, parse_search("900001")) == [by_bankid]
        assert ids(db, everyone, parse_search("K-77")) == [by_email]
        # The name typed when filing without BankID finds the request too.
        assert ids(db, everyone, parse_search("kari n.")) == [by_email]
        assert ids(db, everyone, parse_search("kari")) == [by_bankid, by_email]
        # The company's data led from a customer number to Ola (datamap.lookup.holders).
        search = parse_search("900002")
        assert search is not None
        found = Search(**{**vars(search), "national_ids": frozenset({"04077910005"})})
        assert ids(db, everyone, found) == [olas]

    def test_a_protected_person_is_never_found_by_name(self, db: Session) -> None:
        knut = person(db, "Knut", "Svendsen", "05057510090")
        knut_too = person(db, "Knut", "Hansen", "30105610080")
        protected = request(db, knut)
        other = request(db, knut_too)
        search = parse_search("knut")
        assert search is not None
        assert name_candidates(db, search) == {knut: "05057510090", knut_too: "30105610080"}
        shielded = Search(**{**vars(search), "protected": frozenset({knut})})
        assert ids(db, QueueFilter(), shielded) == [other]
        # By reference the DPO still finds the request (the row names no one).
        by_number = parse_search(str(protected))
        assert by_number is not None
        shielded = Search(**{**vars(by_number), "protected": frozenset({knut})})
        assert ids(db, QueueFilter(), shielded) == [protected]

    def test_name_candidates_are_people_with_requests(self, db: Session) -> None:
        person(db, "Kari", "Nordmann", "12038410081")  # signed in once, never asked anything
        search = parse_search("kari")
        assert search is not None and name_candidates(db, search) == {}


class TestAssignment:
    def test_assign_bulk_and_unassign_with_events_and_audit(self, db: Session) -> None:
        me = staff(db, "Per", StaffRoleName.dpo)
        eva = staff(db, "Eva", StaffRoleName.dpo, StaffRoleName.admin)
        staff(db, "Cecilie", StaffRoleName.staff)
        assert [m.name for m in assignable(db)] == ["Eva", "Per"]
        kari = person(db, "Kari", "Nordmann", "12038410081")
        first = request(db, kari)
        second = request(db, kari, type=RequestType.erasure)
        assert assign(db, [first], me, staff_id=me, now=NOW) == [first]
        assert assign(db, [second, first], eva, staff_id=me, now=NOW) == [first, second]
        assert assign(db, [first], eva, staff_id=me, now=NOW) == []  # already hers
        assert assign(db, [first], None, staff_id=eva, now=NOW) == [first]
        assert db.get(DataRequest, first).assignee_id is None
        assert db.get(DataRequest, second).assignee_id == eva
        events = db.exec(
            select(RequestEvent.request_id, RequestEvent.action, RequestEvent.actor_id,
                   RequestEvent.data).where(RequestEvent.action.in_(["assign", "unassign"]))
            .order_by(RequestEvent.id)
        ).all()  # fmt: skip
        assert [(e[0], e[1], e[2], e[3]) for e in events] == [
            (first, "assign", me, {"assignee_id": me, "previous_id": None}),
            (first, "assign", me, {"assignee_id": eva, "previous_id": me}),
            (second, "assign", me, {"assignee_id": eva, "previous_id": None}),
            (first, "unassign", eva, {"assignee_id": None, "previous_id": eva}),
        ]
        entries = db.exec(
            select(AuditEntry).where(AuditEntry.action.in_(["request.assign", "request.unassign"]))
            .order_by(AuditEntry.seq)
        ).all()  # fmt: skip
        assert [(e.action, e.actor_id, e.subject_id, e.details["request_id"]) for e in entries] == [
            ("request.assign", me, kari, first),
            ("request.assign", me, kari, first),
            ("request.assign", me, kari, second),
            ("request.unassign", eva, kari, first),
        ]
        # The request's status is untouched: assigning is not a step of the workflow.
        assert db.get(DataRequest, first).status == RequestStatus.verified

    def test_refusals_write_nothing(self, db: Session) -> None:
        me = staff(db, "Per", StaffRoleName.dpo)
        clerk = staff(db, "Cecilie", StaffRoleName.staff)
        first = request(db, None)
        with pytest.raises(AssignmentRefused):
            assign(db, [first], clerk, staff_id=me, now=NOW)  # not a DPO
        with pytest.raises(AssignmentRefused):
            assign(db, [first, 999_999], me, staff_id=me, now=NOW)
        with pytest.raises(AssignmentRefused):
            assign(db, [], me, staff_id=me, now=NOW)
        with pytest.raises(AssignmentRefused):
            assign(db, range(1, MAX_BULK + 2), me, staff_id=me, now=NOW)
        assert db.get(DataRequest, first).assignee_id is None
        assert db.exec(select(RequestEvent).where(RequestEvent.action == "assign")).all() == []
        assert db.exec(select(AuditEntry)).all() == []

    def test_a_paused_request_keeps_its_assignee_and_is_not_overdue(self, db: Session) -> None:
        me = staff(db, "Per", StaffRoleName.dpo)
        kari = person(db, "Kari", "Nordmann", "12038410081")
        asked = request(db, kari, due_in_days=-1)
        assign(db, [asked], me, staff_id=me, now=NOW)
        row = db.get(DataRequest, asked)
        apply(db, row, "ask_subject", actor=Actor.dpo, actor_id=me, reason="Which order?", now=NOW)
        assert ids(db, QueueFilter(assignee="me", overdue=True), viewer=me) == []
        assert ids(db, QueueFilter(assignee="me"), viewer=me) == [asked]
