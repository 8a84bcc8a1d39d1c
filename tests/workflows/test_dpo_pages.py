"""The DPO's queue and case page: ordering, overdue, the role, and every form end to end.

Erasure plans are made against the shared demo company; approving one only enqueues its job
(no worker runs here), so the demo data is never changed.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select
from starlette.testclient import TestClient

from portal.audit import AuditEntry
from portal.db import session_scope
from portal.jobs.outbox import OutboxMessage
from portal.jobs.queue import Job
from portal.models import Assurance, StaffMember, StaffRole, StaffRoleName, WebSession
from portal.workflows.contacts import RequestContact
from portal.workflows.records import CaseHoldRecord, PlanStatus, StoredPlan
from portal.workflows.requests import (
    Actor,
    DataRequest,
    RequestEvent,
    RequestStatus,
    RequestType,
    add_months,
    file_request,
)
from tests.conftest import TEST_SECRET
from tests.support import Clock, signed_in_client
from tests.workflows.test_request_pages import (
    add_person,
    completed_erasure,
    file_by_hand,
    sign_in_subject,
)


def add_staff(client: TestClient, *roles: StaffRoleName, sub: str = "dpo") -> int:
    with session_scope(client.app.state.engine) as db:
        member = StaffMember(issuer="https://idp", sub=sub, name="Per Personvernombud")
        db.add(member)
        db.flush()
        for role in roles:
            db.add(StaffRole(staff_id=member.id, role=role))
        return member.id


def sign_in_staff(client: TestClient, staff_id: int) -> None:
    signed_in_client(client, secret_key=TEST_SECRET, staff_id=staff_id)
    client.cookies.set("lang", "en")


@pytest.fixture
def dpo(client: TestClient) -> int:
    staff_id = add_staff(client, StaffRoleName.dpo)
    sign_in_staff(client, staff_id)
    return staff_id


def token(client: TestClient) -> str:
    return client.get("/dpo").context["csrf_token"]


def load(client: TestClient, request_id: int) -> DataRequest:
    with session_scope(client.app.state.engine) as db:
        return db.get(DataRequest, request_id)


def plans(client: TestClient, request_id: int) -> list[StoredPlan]:
    with session_scope(client.app.state.engine) as db:
        statement = select(StoredPlan).where(StoredPlan.request_id == request_id)
        return list(db.exec(statement.order_by(StoredPlan.version)))


def file_erasure_as_person(client: TestClient, key: str) -> int:
    """The person files an erasure through the pages (so it is planned), then the client is
    handed back to the caller's staff session."""
    subject_id = add_person(client, key)
    sign_in_subject(client, subject_id)
    csrf = client.get("/me/requests/new?type=erasure").context["csrf_token"]
    response = client.post("/me/requests/new", data={"type": "erasure", "csrf_token": csrf})
    assert response.status_code == 303
    return int(response.headers["location"].rsplit("/", 1)[1])


def post(client: TestClient, request_id: int, action: str, **data: str):
    return client.post(
        f"/dpo/requests/{request_id}/{action}", data={**data, "csrf_token": token(client)}
    )


class TestRole:
    def test_needs_sign_in(self, client: TestClient) -> None:
        assert client.get("/dpo").status_code == 303

    def test_staff_without_dpo_role_is_refused(self, client: TestClient) -> None:
        subject_id = add_person(client, "ordinary")
        request_id = file_by_hand(client, subject_id, RequestType.access)
        sign_in_staff(client, add_staff(client, StaffRoleName.staff, sub="cs"))
        assert client.get("/dpo").status_code == 403
        assert client.get(f"/dpo/requests/{request_id}").status_code == 403
        csrf = client.get("/staff").context["csrf_token"]
        refused = client.post(
            f"/dpo/requests/{request_id}/reject", data={"reason": "x", "csrf_token": csrf}
        )
        assert refused.status_code == 403
        assert load(client, request_id).status == RequestStatus.verified
        assert 'href="/dpo"' not in client.get("/staff").text

    def test_a_person_is_refused(self, client: TestClient) -> None:
        sign_in_subject(client, add_person(client, "ordinary"))
        assert client.get("/dpo").status_code == 403

    def test_staff_page_links_the_queue_for_the_dpo(self, client: TestClient, dpo: int) -> None:
        assert 'href="/dpo"' in client.get("/staff").text


def test_queue_is_ordered_by_deadline_and_flags_the_overdue(
    client: TestClient, clock: Clock, dpo: int
) -> None:
    person = add_person(client, "ordinary")
    today = file_by_hand(client, person, RequestType.access)
    old = file_by_hand(client, person, RequestType.erasure, now=clock.now - timedelta(days=40))
    recent = file_by_hand(
        client, person, RequestType.objection, now=clock.now - timedelta(days=10), details="x"
    )
    done = file_by_hand(client, person, RequestType.portability, now=clock.now - timedelta(days=50))
    with session_scope(client.app.state.engine) as db:
        db.get(DataRequest, done).status = RequestStatus.completed
    response = client.get("/dpo")
    assert response.template.name == "dpo/queue.html"
    page = response.context["page"]
    assert page.status == "open"
    assert [row.id for row in page.requests] == [old, recent, today]
    assert [row.overdue for row in page.requests] == [True, False, False]
    assert page.requests[0].days_left < 0
    assert page.requests[2].days_left >= 28
    assert page.overdue == 1
    assert "is-overdue" in response.text
    # Filters by status; the URL carries only the status, never a person.
    completed = client.get("/dpo?status=completed").context["page"]
    assert [row.id for row in completed.requests] == [done]
    everything = client.get("/dpo?status=all").context["page"]
    assert [row.id for row in everything.requests] == [done, old, recent, today]
    assert client.get("/dpo?status=nonsense").context["page"].status == "open"
    # Time passes (the app's clock): the objection becomes overdue too. The session would
    # have gone idle meanwhile, so it is moved along with the clock.
    clock.now += timedelta(days=25)
    with session_scope(client.app.state.engine) as db:
        for session in db.exec(select(WebSession)):
            session.created_at = session.last_seen_at = clock.now
            db.add(session)
    assert [row.overdue for row in client.get("/dpo").context["page"].requests] == [
        True,
        True,
        False,
    ]


def test_case_page_shows_the_person_and_logs_the_view(client: TestClient, dpo: int) -> None:
    person = add_person(client, "ordinary")
    request_id = file_by_hand(client, person, RequestType.rectification, details="Wrong address")
    response = client.get(f"/dpo/requests/{request_id}")
    assert response.template.name == "dpo/request.html"
    page = response.context["page"]
    assert page.person == "Kari Nordmann"
    assert page.details == "Wrong address"
    assert page.actions == {"extend", "reject", "outcome", "ask", "merge", "note", "assign"}
    assert "approve" not in page.actions and "verify" not in page.actions
    with session_scope(client.app.state.engine) as db:
        [entry] = db.exec(select(AuditEntry).where(AuditEntry.action == "request.view")).all()
    assert (entry.actor, entry.actor_id, entry.subject_id) == ("staff", dpo, person)
    assert entry.details == {"request_id": request_id}
    assert client.get("/dpo/requests/999999").status_code == 404


def test_approve_flow_end_to_end(client: TestClient, dpo: int) -> None:
    request_id = file_erasure_as_person(client, "ordinary")
    sign_in_staff(client, dpo)
    queue = client.get("/dpo").context["page"]
    assert [row.id for row in queue.requests] == [request_id]
    page = client.get(f"/dpo/requests/{request_id}").context["page"]
    assert page.request.status == "awaiting approval"
    assert page.plan is not None and page.plan.proposed
    assert sum(t.erase + t.anonymise + t.retain for t in page.plan.tables) > 0
    assert page.plan.lines
    assert "approve" in page.actions
    response = post(client, request_id, "approve", plan_id=str(page.plan.id))
    assert response.status_code == 303
    assert response.headers["location"] == f"/dpo/requests/{request_id}"
    assert load(client, request_id).status == RequestStatus.in_progress
    [stored] = plans(client, request_id)
    assert stored.status == PlanStatus.approved and stored.approved_by == dpo
    with session_scope(client.app.state.engine) as db:
        jobs = db.exec(select(Job).where(Job.kind == "erasure.execute")).all()
    assert [job.payload for job in jobs] == [{"plan_id": stored.id}]
    after = client.get(f"/dpo/requests/{request_id}")
    assert after.context["flash"].startswith("The plan is approved")
    assert "approve" not in after.context["page"].actions
    # Approving again (an old tab) is refused in words; nothing more is queued.
    again = post(client, request_id, "approve", plan_id=str(stored.id))
    assert again.status_code == 409
    assert again.context["page"].error
    with session_scope(client.app.state.engine) as db:
        assert len(db.exec(select(Job).where(Job.kind == "erasure.execute")).all()) == 1


def test_hold_and_release_re_plan(client: TestClient, dpo: int) -> None:
    request_id = file_erasure_as_person(client, "ordinary")
    sign_in_staff(client, dpo)
    missing = post(client, request_id, "hold", kind="litigation", reason=" ")
    assert missing.status_code == 400
    assert set(missing.context["page"].errors) == {"reason"}
    assert len(plans(client, request_id)) == 1
    response = post(
        client,
        request_id,
        "hold",
        kind="litigation",
        reason="Lawsuit 24-123456TVI-OTIR",
        review_at="2027-06-01",
    )
    assert response.status_code == 303
    first, second = plans(client, request_id)
    assert first.status == PlanStatus.superseded and second.status == PlanStatus.proposed
    page = client.get(f"/dpo/requests/{request_id}").context["page"]
    [hold] = page.holds
    assert hold.reason == "Lawsuit 24-123456TVI-OTIR" and hold.review_on
    assert page.plan.version == 2 and page.plan.keeps_anything
    # The old version can no longer be approved.
    stale = post(client, request_id, "approve", plan_id=str(first.id))
    assert stale.status_code == 409
    assert load(client, request_id).status == RequestStatus.awaiting_approval
    released = post(client, request_id, "release", hold_id=str(hold.id), reason="Settled")
    assert released.status_code == 303
    assert [p.version for p in plans(client, request_id)] == [1, 2, 3]
    with session_scope(client.app.state.engine) as db:
        record = db.get(CaseHoldRecord, hold.id)
    assert record.released_by == dpo and record.release_reason == "Settled"
    assert record.request_id == request_id  # the holds page names the request it came from
    assert client.get(f"/dpo/requests/{request_id}").context["page"].holds == ()


def test_the_dpo_downloads_the_outcome_letter_and_the_view_is_logged(
    client: TestClient, dpo: int
) -> None:
    subject_id, request_id = completed_erasure(client)
    sign_in_staff(client, dpo)
    page = client.get(f"/dpo/requests/{request_id}")
    assert page.context["page"].letter
    href = f"/dpo/requests/{request_id}/letter.pdf"
    assert f'href="{href}"' in page.text
    response = client.get(href)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/pdf"
    assert response.content.startswith(b"%PDF-")
    with session_scope(client.app.state.engine) as db:
        [entry] = db.exec(
            select(AuditEntry).where(AuditEntry.action == "outcome_letter.view")
        ).all()
    assert (entry.actor, entry.actor_id, entry.subject_id) == ("staff", dpo, subject_id)
    assert entry.details == {"request_id": request_id}
    # No letter for a request that is not a completed erasure; nothing logged for it.
    other = file_by_hand(client, add_person(client, "ordinary"), RequestType.erasure)
    assert client.get(f"/dpo/requests/{other}/letter.pdf").status_code == 404
    assert client.get("/dpo/requests/999999/letter.pdf").status_code == 404
    assert not client.get(f"/dpo/requests/{other}").context["page"].letter
    # Other staff and people may not.
    sign_in_staff(client, add_staff(client, StaffRoleName.staff, sub="cs"))
    assert client.get(href).status_code == 403
    sign_in_subject(client, subject_id)
    assert client.get(href).status_code == 403
    with session_scope(client.app.state.engine) as db:
        logged = db.exec(select(AuditEntry).where(AuditEntry.action == "outcome_letter.view"))
        assert len(logged.all()) == 1


def test_a_hold_on_one_record_of_the_plan(client: TestClient, dpo: int) -> None:
    from portal.workflows.erasure import ErasurePlan

    request_id = file_erasure_as_person(client, "ordinary")
    sign_in_staff(client, dpo)
    response = client.get(f"/dpo/requests/{request_id}")
    page = response.context["page"]
    assert "record_hold" in page.actions and 'id="record-hold-form"' in response.text
    [first] = plans(client, request_id)
    steps = ErasurePlan.from_dict(first.plan).steps
    index, step = next((i, s) for i, s in enumerate(steps) if s.action == "erase")
    assert page.records[index].index == index and str(step.key) in page.records[index].label
    # The form names the record by its place in the plan; a wrong place or an old plan is
    # refused with a message, and nothing changes.
    bad = post(
        client,
        request_id,
        "record_hold",
        plan_id=str(first.id),
        record="99999",
        kind="litigation",
        reason="Claim",
    )
    assert bad.status_code == 400 and set(bad.context["page"].errors) == {"record"}
    stale = post(
        client,
        request_id,
        "record_hold",
        plan_id="0",
        record=str(index),
        kind="litigation",
        reason="Claim",
    )
    assert stale.status_code == 409
    assert len(plans(client, request_id)) == 1
    response = post(
        client,
        request_id,
        "record_hold",
        plan_id=str(first.id),
        record=str(index),
        kind="complaint",
        reason="Complaint about this delivery",
        review_at="2027-03-01",
    )
    assert response.status_code == 303
    with session_scope(client.app.state.engine) as db:
        [hold] = db.exec(select(CaseHoldRecord)).all()
    assert (hold.scope, hold.table_name, hold.row_key) == ("record", step.table, str(step.key))
    assert hold.set_by == dpo and str(hold.review_at) == "2027-03-01"
    # The new version keeps that record, under the hold; the other records are as before.
    first_again, second = plans(client, request_id)
    assert first_again.status == PlanStatus.superseded
    new_steps = ErasurePlan.from_dict(second.plan).steps
    kept = next(s for s in new_steps if (s.table, s.key) == (step.table, step.key))
    assert kept.action == "retain" and kept.until is None
    assert [r.key for r in kept.reasons] == [f"case:{hold.id}"]
    changed = [(a.table, a.key) for a, b in zip(steps, new_steps, strict=True) if a != b]
    assert (step.table, step.key) in changed
    page = client.get(f"/dpo/requests/{request_id}")
    [shown] = page.context["page"].holds
    assert shown.record and str(step.key) in shown.record
    assert any("until the hold is released" in line for line in page.context["page"].plan.lines)


def test_the_dpo_lifts_a_restriction_and_the_person_is_told(client: TestClient, dpo: int) -> None:
    from portal.jobs.outbox import OutboxMessage

    subject_id = add_person(client, "ordinary")
    sign_in_subject(client, subject_id)
    csrf = client.get("/me/requests/new").context["csrf_token"]
    filed = client.post(
        "/me/requests/new",
        data={"type": "restriction", "details": "I dispute the debt.", "csrf_token": csrf},
    )
    request_id = int(filed.headers["location"].rsplit("/", 1)[1])
    sign_in_staff(client, dpo)
    response = client.get(f"/dpo/requests/{request_id}")
    page = response.context["page"]
    [hold] = page.holds
    assert hold.restriction and "release" in page.actions and "hold" not in page.actions
    assert "art. 18(3)" in response.text
    released = post(client, request_id, "release", hold_id=str(hold.id), reason="Checked")
    assert released.status_code == 303
    with session_scope(client.app.state.engine) as db:
        [message] = db.exec(
            select(OutboxMessage).where(OutboxMessage.kind == "restriction_lifted")
        ).all()
        assert db.get(CaseHoldRecord, hold.id).released_at is not None
    assert (message.kind, message.subject_id, message.language) == (
        "restriction_lifted",
        subject_id,
        "nb",
    )
    assert client.get(f"/dpo/requests/{request_id}").context["page"].holds == ()


def test_the_timeline_speaks_to_each_viewer(client: TestClient, dpo: int) -> None:
    from portal.workflows.requests import apply

    person = add_person(client, "ordinary")
    request_id = file_by_hand(client, person, RequestType.access)
    with session_scope(client.app.state.engine) as db:
        found = db.get(DataRequest, request_id)
        apply(
            db,
            found,
            "ask_subject",
            actor=Actor.dpo,
            reason="Which year?",
            now=client.app.state.now(),
        )
    dpo_view = client.get(f"/dpo/requests/{request_id}").context["page"].timeline
    assert [(e.what, e.who) for e in dpo_view] == [
        ("We asked the person a question", "the data protection officer"),
        ("Request sent", "the person"),
    ]
    sign_in_subject(client, person)
    client.cookies.set("lang", "en")
    own = client.get(f"/me/requests/{request_id}").context["page"].timeline
    assert [(e.what, e.who) for e in own] == [
        ("We asked you a question", "the data protection officer"),
        ("Request sent", "you"),
    ]


def test_extend_the_deadline(client: TestClient, dpo: int) -> None:
    person = add_person(client, "ordinary")
    request_id = file_by_hand(client, person, RequestType.access)
    due = load(client, request_id).due_at
    wrong = post(client, request_id, "extend", months="3", reason="Complex")
    assert wrong.status_code == 400
    assert set(wrong.context["page"].errors) == {"months"}
    assert wrong.context["page"].values["reason"] == "Complex"
    no_reason = post(client, request_id, "extend", months="2", reason="")
    assert no_reason.status_code == 400
    assert load(client, request_id).extended_at is None
    assert post(client, request_id, "extend", months="2", reason="Complex").status_code == 303
    extended = load(client, request_id)
    assert extended.due_at == add_months(due, 2)
    assert extended.extension_reason == "Complex"
    page = client.get(f"/dpo/requests/{request_id}").context["page"]
    assert page.extended and "extend" not in page.actions
    twice = post(client, request_id, "extend", months="1", reason="Again")
    assert twice.status_code == 409
    assert twice.context["page"].error == "The deadline has already been extended once."


def test_reject_needs_a_reason(client: TestClient, dpo: int) -> None:
    person = add_person(client, "ordinary")
    request_id = file_by_hand(client, person, RequestType.access)
    assert post(client, request_id, "reject", reason="").status_code == 400
    assert load(client, request_id).status == RequestStatus.verified
    reason = "The fifth identical request this month (art. 12(5))."
    assert post(client, request_id, "reject", reason=reason).status_code == 303
    rejected = load(client, request_id)
    assert rejected.status == RequestStatus.rejected and rejected.outcome == reason


def test_verify_a_low_assurance_erasure_then_it_is_planned(client: TestClient, dpo: int) -> None:
    person = add_person(client, "ordinary")
    with session_scope(client.app.state.engine) as db:
        request_id = file_request(
            db,
            subject_id=person,
            type=RequestType.erasure,
            assurance=Assurance.low,
            actor=Actor.person,
            now=client.app.state.now(),
        ).id
    page = client.get(f"/dpo/requests/{request_id}").context["page"]
    assert "verify" in page.actions and "approve" not in page.actions
    # The DPO records how they verified the person: without it, nothing changes.
    refused = post(client, request_id, "verify", how=" ")
    assert refused.status_code == 400 and "how" in refused.context["page"].errors
    assert load(client, request_id).status == RequestStatus.received
    how = "ID document seen at the counter"
    assert post(client, request_id, "verify", how=how).status_code == 303
    assert load(client, request_id).status == RequestStatus.awaiting_approval
    assert [p.version for p in plans(client, request_id)] == [1]
    with session_scope(client.app.state.engine) as db:
        [event] = db.exec(
            select(RequestEvent).where(
                RequestEvent.request_id == request_id, RequestEvent.action == "verify"
            )
        ).all()
        assert (event.reason, event.actor_id) == (how, dpo)
    again = post(client, request_id, "verify", how=how)
    assert again.status_code == 409


def test_ask_the_person_for_more_information_and_record_the_answer(
    client: TestClient, dpo: int
) -> None:
    """The case page's question: the request waits for the person, who gets the question by
    e-mail (more_info); their answer, recorded by the DPO, lets the request go on. A request
    filed without BankID is asked before it is verified, and its answer never verifies it."""
    person = add_person(client, "ordinary")
    request_id = file_by_hand(client, person, RequestType.access)
    assert "ask" in client.get(f"/dpo/requests/{request_id}").context["page"].actions
    empty = post(client, request_id, "ask", question=" ")
    assert empty.status_code == 400 and set(empty.context["page"].errors) == {"question"}
    long = post(client, request_id, "ask", question="x" * 2001)
    assert long.status_code == 400 and long.context["page"].values["question"] == "x" * 2001
    assert load(client, request_id).status == RequestStatus.verified
    question = "Which e-mail address did you use in the web shop?"
    assert post(client, request_id, "ask", question=question).status_code == 303
    assert load(client, request_id).status == RequestStatus.waiting_for_subject
    page = client.get(f"/dpo/requests/{request_id}").context["page"]
    assert "ask" not in page.actions and "answered" in page.actions
    with session_scope(client.app.state.engine) as db:
        [message] = db.exec(select(OutboxMessage).where(OutboxMessage.kind == "more_info")).all()
        assert (message.subject_id, message.context["reason"]) == (person, question)
        [entry] = db.exec(
            select(AuditEntry).where(AuditEntry.action == "request.ask_subject")
        ).all()
        assert (entry.actor_id, entry.subject_id, entry.details) == (
            dpo,
            person,
            {"request_id": request_id},
        )
        assert question not in str(entry.reason) + str(entry.details)
    assert post(client, request_id, "answered", note="Answered by e-mail").status_code == 303
    assert load(client, request_id).status == RequestStatus.verified

    # Filed without BankID: asked while received, back to received (still to be verified).
    with session_scope(client.app.state.engine) as db:
        low = file_request(
            db,
            subject_id=None,
            type=RequestType.access,
            assurance=Assurance.low,
            actor=Actor.person,
            now=client.app.state.now(),
        ).id
        db.add(
            RequestContact(
                request_id=low,
                name="Kari",
                email="kari@filed.example",
                confirmed_at=client.app.state.now(),
            )
        )
    ask = post(client, low, "ask", question="What is your customer number?")
    assert ask.status_code == 303 and load(client, low).status == RequestStatus.waiting_for_subject
    assert "verify" not in client.get(f"/dpo/requests/{low}").context["page"].actions
    with session_scope(client.app.state.engine) as db:
        asked = db.exec(
            select(OutboxMessage).where(
                OutboxMessage.kind == "more_info", OutboxMessage.subject_id.is_(None)
            )
        ).one()
        assert asked.email == "kari@filed.example" and asked.context["follow"] is True
    assert post(client, low, "answered").status_code == 303
    assert load(client, low).status == RequestStatus.received
    assert "verify" in client.get(f"/dpo/requests/{low}").context["page"].actions


def test_record_a_rectification_outcome(client: TestClient, dpo: int) -> None:
    person = add_person(client, "ordinary")
    request_id = file_by_hand(client, person, RequestType.rectification, details="Wrong")
    assert post(client, request_id, "outcome", outcome=" ").status_code == 400
    assert load(client, request_id).status == RequestStatus.verified
    done = post(client, request_id, "outcome", outcome="Address corrected in the CRM.")
    assert done.status_code == 303
    completed = load(client, request_id)
    assert completed.status == RequestStatus.completed
    assert completed.outcome == "Address corrected in the CRM."


def test_unknown_action_and_post_without_token(client: TestClient, dpo: int) -> None:
    person = add_person(client, "ordinary")
    request_id = file_by_hand(client, person, RequestType.access)
    assert post(client, request_id, "delete_everything").status_code == 409
    refused = client.post(f"/dpo/requests/{request_id}/reject", data={"reason": "x"})
    assert refused.status_code == 403
    assert load(client, request_id).status == RequestStatus.verified


def test_parked_jobs_are_shown_to_the_dpo_and_can_run_again(client: TestClient, dpo: int) -> None:
    from portal.jobs.queue import Job, JobStatus, enqueue

    with session_scope(client.app.state.engine) as db:
        job_id = enqueue(db, "erasure.execute", {"plan_id": 1}, now=client.app.state.now())
        job = db.get(Job, job_id)
        job.status = JobStatus.parked
        job.attempts = 8
        job.last_error = "OperationalError: database is locked"
        job.finished_at = client.app.state.now()
    page = client.get("/dpo/jobs")
    assert page.status_code == 200
    [shown] = page.context["page"]
    assert (shown.id, shown.kind, shown.attempts) == (job_id, "erasure.execute", 8)
    assert "database is locked" in page.text
    response = client.post(f"/dpo/jobs/{job_id}/retry", data={"csrf_token": token(client)})
    assert response.status_code == 303
    with session_scope(client.app.state.engine) as db:
        assert db.get(Job, job_id).status == JobStatus.queued
    assert client.get("/dpo/jobs").context["page"] == ()
    assert (
        client.post(f"/dpo/jobs/{job_id}/retry", data={"csrf_token": token(client)}).status_code
        == 404
    )


def test_parked_jobs_need_the_dpo_role(client: TestClient) -> None:
    assert client.get("/dpo/jobs").status_code == 303


def test_a_rejected_requests_plan_was_never_carried_out(client: TestClient, dpo: int) -> None:
    request_id = file_erasure_as_person(client, "ordinary")
    sign_in_staff(client, dpo)
    reason = "Manifestly unfounded: the same request was answered last week (art. 12(5))."
    assert post(client, request_id, "reject", reason=reason).status_code == 303
    response = client.get(f"/dpo/requests/{request_id}")
    page = response.context["page"]
    assert page.plan.phase == "never"
    assert page.plan.status == "never carried out: the request was rejected"
    assert not page.plan.proposed and "approve" not in page.actions
    assert "What the erasure would have done" in response.text
    assert all("would have been" in line for line in page.plan.lines)
    assert sum(t.erase + t.anonymise + t.retain for t in page.plan.tables) > 0  # counts stay


def test_a_superseded_version_is_never_carried_out(english: None) -> None:
    from portal.views.request_summary import plan_status_label
    from portal.workflows.erasure import Phase

    label = plan_status_label(PlanStatus.superseded, Phase.never, RequestStatus.awaiting_approval)
    assert label == "replaced by a newer version, never carried out"


def test_a_reason_longer_than_the_bound_is_refused(client: TestClient, dpo: int) -> None:
    person = add_person(client, "ordinary")
    request_id = file_by_hand(client, person, RequestType.access)
    refused = post(client, request_id, "reject", reason="x" * 2001)
    assert refused.status_code == 400
    assert "Please keep this under 2000 characters." in refused.text
    assert load(client, request_id).status == RequestStatus.verified
