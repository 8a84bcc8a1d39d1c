"""The case page's new parts through HTTP: the person answers on their request's page or by
the follow link, internal notes, duplicates merged, the data found on demand, record holds
named as the DPO knows them, the person panel, and the deadline shown paused."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy.exc import OperationalError
from sqlmodel import select
from starlette.testclient import TestClient

from portal.audit import AuditEntry
from portal.datamap import protection
from portal.db import session_scope
from portal.demo import EDGE_CASES_BY_KEY
from portal.jobs.outbox import OutboxMessage
from portal.models import StaffRoleName
from portal.workflows.notes import RequestNote
from portal.workflows.requests import RequestEvent, RequestStatus, RequestType
from tests.conftest import TEST_SECRET
from tests.support import Clock, signed_in_client
from tests.workflows.test_dpo_pages import add_staff, file_erasure_as_person, load, post
from tests.workflows.test_email_request_pages import confirm, confirm_link, file_by_form
from tests.workflows.test_request_pages import add_person, file_by_hand


def sign_in_staff(client: TestClient, staff_id: int) -> None:
    """Signed in as of the app's clock (a test that moves it keeps a fresh session)."""
    signed_in_client(client, secret_key=TEST_SECRET, staff_id=staff_id, now=client.app.state.now())
    client.cookies.set("lang", "en")


def sign_in_subject(client: TestClient, subject_id: int) -> None:
    signed_in_client(
        client, secret_key=TEST_SECRET, subject_id=subject_id, now=client.app.state.now()
    )
    client.cookies.set("lang", "en")


@pytest.fixture
def dpo(client: TestClient) -> int:
    staff_id = add_staff(client, StaffRoleName.dpo)
    sign_in_staff(client, staff_id)
    return staff_id


KARI = EDGE_CASES_BY_KEY["ordinary"]


def audit_actions(client: TestClient, action: str) -> list[AuditEntry]:
    with session_scope(client.app.state.engine) as db:
        return list(db.exec(select(AuditEntry).where(AuditEntry.action == action)))


def test_the_person_answers_on_their_request_page(
    client: TestClient, clock: Clock, dpo: int
) -> None:
    person = add_person(client, "ordinary")
    request_id = file_by_hand(client, person, RequestType.rectification, details="Wrong")
    due = load(client, request_id).due_at
    assert post(client, request_id, "ask", question="Which address is wrong?").status_code == 303
    case = client.get(f"/dpo/requests/{request_id}")
    assert case.context["page"].request.paused and "paused: waiting for the person" in case.text
    assert case.context["page"].question == "Which address is wrong?"

    clock.now += timedelta(days=9)
    sign_in_subject(client, person)
    page = client.get(f"/me/requests/{request_id}")
    assert page.context["page"].answer.question == "Which address is wrong?"
    assert f'action="/me/requests/{request_id}/answer"' in page.text
    assert "Paused while we wait for your answer" in page.text
    csrf = page.context["csrf_token"]
    path = f"/me/requests/{request_id}/answer"
    assert client.post(path, data={"answer": "The street"}).status_code == 403  # no CSRF
    too_long = client.post(path, data={"answer": "x" * 4001, "csrf_token": csrf})
    assert too_long.status_code == 400 and too_long.context["page"].answer.error
    assert load(client, request_id).status == RequestStatus.waiting_for_subject
    done = client.post(path, data={"answer": "The street name is wrong.", "csrf_token": csrf})
    assert done.status_code == 303
    answered = load(client, request_id)
    assert answered.status == RequestStatus.verified and answered.paused_at is None
    assert answered.due_at.date() == (due + timedelta(days=9)).date()
    # Not waiting any more: no form, and a second answer is refused.
    again = client.get(f"/me/requests/{request_id}")
    assert again.context["page"].answer is None and "answer-form" not in again.text
    refused = client.post(path, data={"answer": "More", "csrf_token": csrf})
    assert refused.status_code == 409

    sign_in_staff(client, dpo)
    case = client.get(f"/dpo/requests/{request_id}")
    [entry] = [e for e in case.context["page"].timeline if e.what == "The person answered"]
    assert entry.reason == "The street name is wrong." and "paused for 9 days" in entry.more


def test_someone_elses_request_cannot_be_answered(client: TestClient, dpo: int) -> None:
    owner = add_person(client, "ordinary")
    request_id = file_by_hand(client, owner, RequestType.rectification, details="Wrong")
    post(client, request_id, "ask", question="Which?")
    sign_in_subject(client, add_person(client, "two_systems"))
    csrf = client.get("/me/requests").context["csrf_token"]
    answer = client.post(
        f"/me/requests/{request_id}/answer", data={"answer": "Mine", "csrf_token": csrf}
    )
    assert answer.status_code == 404
    assert load(client, request_id).status == RequestStatus.waiting_for_subject


def test_the_person_answers_by_the_follow_link(client: TestClient, dpo: int, settings) -> None:
    client.cookies.clear()
    client.cookies.set("lang", "en")
    file_by_form(client)
    opened = confirm(client, confirm_link(client))
    request_page = opened.headers["location"]
    request_id = int(request_page.rsplit("/", 1)[1])
    follow_cookies = dict(client.cookies)
    sign_in_staff(client, dpo)
    assert post(client, request_id, "ask", question="Your customer number?").status_code == 303

    client.cookies.clear()
    for name, value in follow_cookies.items():
        client.cookies.set(name, value)
    page = client.get(request_page)
    assert page.status_code == 200 and page.context["page"].answer is not None
    csrf = page.context["csrf_token"]
    done = client.post(
        f"{request_page}/answer", data={"answer": "It is 900001.", "csrf_token": csrf}
    )
    assert done.status_code == 303 and done.headers["location"] == request_page
    assert load(client, request_id).status == RequestStatus.received
    with session_scope(client.app.state.engine) as db:
        event = db.exec(select(RequestEvent).where(RequestEvent.action == "subject_replied")).one()
        assert event.reason == "It is 900001." and event.actor == "person"
    # Another browser, without the link, cannot answer.
    client.cookies.clear()
    client.cookies.set("lang", "en")
    csrf = client.get("/requests/links").context["csrf_token"]
    refused = client.post(f"{request_page}/answer", data={"answer": "x", "csrf_token": csrf})
    assert refused.status_code == 410


def test_internal_notes_are_for_staff_only(client: TestClient, dpo: int) -> None:
    person = add_person(client, "ordinary")
    request_id = file_by_hand(client, person, RequestType.objection, details="Marketing")
    assert post(client, request_id, "note", text=" ").status_code == 400
    assert post(client, request_id, "note", text="x" * 4001).status_code == 400
    assert (
        post(client, request_id, "note", text="Phoned her: means newsletters.").status_code == 303
    )
    case = client.get(f"/dpo/requests/{request_id}")
    [note] = case.context["page"].notes
    assert note.text == "Phoned her: means newsletters." and note.who == "Per Personvernombud"
    assert "Phoned her" in case.text
    [entry] = audit_actions(client, "request.note")
    assert "Phoned" not in str(entry.details)
    sign_in_subject(client, person)
    assert "Phoned her" not in client.get(f"/me/requests/{request_id}").text
    with session_scope(client.app.state.engine) as db:
        assert len(db.exec(select(RequestNote)).all()) == 1


def test_a_duplicate_is_flagged_and_merged(client: TestClient, clock: Clock, dpo: int) -> None:
    person = add_person(client, "ordinary")
    first = file_by_hand(client, person, RequestType.rectification, details="Address")
    post(client, first, "outcome", outcome="Corrected.")
    clock.now += timedelta(days=3)
    sign_in_staff(client, dpo)
    second = file_by_hand(client, person, RequestType.rectification, details="Address again")
    case = client.get(f"/dpo/requests/{second}")
    assert [d.id for d in case.context["page"].duplicates] == [first]
    assert "Possible duplicate" in case.text and 'id="merge-form"' in case.text
    # The completed first one is flagged too, but cannot be merged any more.
    closed = client.get(f"/dpo/requests/{first}")
    assert [d.id for d in closed.context["page"].duplicates] == [second]
    assert 'id="merge-form"' not in closed.text
    assert post(client, second, "merge", into="999").status_code == 409
    done = post(client, second, "merge", into=str(first), reason="Already corrected.")
    assert done.status_code == 303
    assert load(client, second).status == RequestStatus.cancelled
    with session_scope(client.app.state.engine) as db:
        told = db.exec(select(OutboxMessage).where(OutboxMessage.kind == "request_merged")).one()
        assert told.context["kept_id"] == first and told.subject_id == person
    after = client.get(f"/dpo/requests/{second}")
    assert after.context["page"].duplicates == ()
    assert any(e.more == f"Handled as request {first}." for e in after.context["page"].timeline)


def test_the_data_found_is_shown_on_demand_and_logged(client: TestClient, dpo: int) -> None:
    person = add_person(client, "ordinary")
    request_id = file_by_hand(client, person, RequestType.rectification, details="Wrong")
    case = client.get(f"/dpo/requests/{request_id}")
    assert f'href="/dpo/requests/{request_id}/data"' in case.text
    assert audit_actions(client, "request.data_view") == []
    fragment = client.get(f"/dpo/requests/{request_id}/data", headers={"HX-Request": "true"})
    assert fragment.status_code == 200 and fragment.template.name == "dpo/_data_found.html"
    data = fragment.context["page"].data
    assert data.total > 0 and "<html" not in fragment.text
    whole = client.get(f"/dpo/requests/{request_id}/data")
    assert whole.template.name == "dpo/request_data.html"
    entries = audit_actions(client, "request.data_view")
    assert len(entries) == 2 and entries[0].details == {"request_id": request_id}
    assert entries[0].subject_id == person


def test_record_holds_are_named_as_the_dpo_knows_them(client: TestClient, dpo: int) -> None:
    request_id = file_erasure_as_person(client, "ordinary")
    sign_in_staff(client, dpo)
    page = client.get(f"/dpo/requests/{request_id}").context["page"]
    labels = [choice.label for choice in page.records]
    assert labels and not any(", record " in label for label in labels)
    # The demo map's labels: "Order 10234, 12 Mar 2025 …", "Invoice F-5561, 1 Mar 2025".
    assert any(re.fullmatch(r"Order \S+, \d{1,2} \w{3} \d{4}.*", label) for label in labels)
    assert any(re.fullmatch(r"Invoice \S+, \d{1,2} \w{3} \d{4}", label) for label in labels)
    assert KARI.national_id not in " ".join(labels)


def test_the_person_panel_says_how_they_were_identified(client: TestClient, dpo: int) -> None:
    person = add_person(client, "ordinary")
    request_id = file_by_hand(client, person, RequestType.access)
    page = client.get(f"/dpo/requests/{request_id}").context["page"]
    assert page.identity.method == "BankID, when the request was sent"
    assert page.identity.national_id and "*" in page.identity.national_id


def test_the_person_panel_marks_a_protected_identity(client: TestClient, dpo: int) -> None:
    """The DPO sees the name (they work the case) with the mark and what it asks of them; the
    mark comes from the company's register (Knut has a protected address there, Kari not)."""
    knut = file_by_hand(client, add_person(client, "protected_address"), RequestType.access)
    page = client.get(f"/dpo/requests/{knut}").text
    assert 'Knut Svendsen <span class="protected">(Protected identity)</span>' in page
    assert 'id="protected"' in page and "Never confirm or give out an address" in page

    kari = file_by_hand(client, add_person(client, "ordinary"), RequestType.access)
    page = client.get(f"/dpo/requests/{kari}").text
    assert "Protected identity" not in page and 'id="protected"' not in page


def test_a_register_that_cannot_be_read_says_protection_is_unknown(
    client: TestClient, dpo: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    def unreadable(*_args: object) -> bool:
        raise OperationalError("SELECT", {}, Exception("the register is down"))

    monkeypatch.setattr(protection, "is_protected", unreadable)
    knut = file_by_hand(client, add_person(client, "protected_address"), RequestType.access)
    page = client.get(f"/dpo/requests/{knut}").text
    assert "could not be checked" in page and "(Protected identity)" not in page
