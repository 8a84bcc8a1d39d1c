"""Recipients told (art. 19) through HTTP: a restriction's and a rectification's outcome tell
the recipients; the case page lists the tasks, open ones at a glance, and the DPO records a
confirmation; a recipient confirms by its link (once; expired and tampered links say so)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select
from starlette.testclient import TestClient

from portal.db import session_scope
from portal.jobs.outbox import OutboxMessage
from portal.models import StaffRoleName
from portal.workflows import recipients
from portal.workflows.recipients import RecipientTask
from portal.workflows.requests import RequestStatus, RequestType
from tests.conftest import TEST_SECRET
from tests.support import Clock, signed_in_client
from tests.workflows.test_dpo_pages import add_staff, load, post
from tests.workflows.test_request_pages import add_person, file_by_hand


@pytest.fixture
def dpo(client: TestClient) -> int:
    staff_id = add_staff(client, StaffRoleName.dpo)
    signed_in_client(client, secret_key=TEST_SECRET, staff_id=staff_id, now=client.app.state.now())
    client.cookies.set("lang", "en")
    return staff_id


def tasks(client: TestClient, request_id: int) -> list[RecipientTask]:
    with session_scope(client.app.state.engine) as db:
        found = recipients.tasks_of(db, request_id)
        for task in found:
            db.expunge(task)
        return found


def restricted(client: TestClient, key: str = "ordinary") -> int:
    person = add_person(client, key)
    request_id = file_by_hand(client, person, RequestType.restriction, details="I dispute it")
    done = post(client, request_id, "outcome", outcome="Your data is restricted.")
    assert done.status_code == 303
    return request_id


def test_a_restriction_tells_the_recipients_of_the_persons_data(
    client: TestClient, dpo: int
) -> None:
    request_id = restricted(client)
    assert load(client, request_id).status == RequestStatus.completed
    found = {task.recipient: task for task in tasks(client, request_id)}
    assert found and all(task.action == "restriction" for task in found.values())
    # Kari shops with us: Bring delivered her orders and is told; Mailchimp in English.
    assert "bring" in found
    with session_scope(client.app.state.engine) as db:
        messages = db.exec(
            select(OutboxMessage).where(OutboxMessage.kind == "recipient_task")
        ).all()
        assert {m.email for m in messages} == {t.email for t in found.values() if t.email}

    case = client.get(f"/dpo/requests/{request_id}")
    page = case.context["page"]
    assert page.open_tasks == len(found)
    assert 'id="recipients"' in case.text and "have not confirmed yet" in case.text
    bring = next(view for view in page.recipient_tasks if view.recipient == "Posten Bring")
    assert bring.open and bring.action == "Restrict" and bring.records
    # Bring is told in Norwegian; the DPO reads its records in the page's language (English).
    told = found["bring"].reference
    assert told["records"][0].startswith("Ordre ") and bring.records[0].startswith("Order ")
    assert len(bring.records) == len(told["records"])
    message = next(m for m in messages if m.email == found["bring"].email)
    assert message.context["records"] == told["records"] and "records_in" not in message.context
    assert f'action="/dpo/requests/{request_id}/recipients/{bring.id}"' in case.text


def test_the_dpo_records_a_confirmation_on_the_case_page(client: TestClient, dpo: int) -> None:
    request_id = restricted(client)
    task = tasks(client, request_id)[0]
    path = f"/dpo/requests/{request_id}/recipients/{task.id}"
    csrf = client.get(f"/dpo/requests/{request_id}").context["csrf_token"]
    assert client.post(path, data={"note": "On the phone"}).status_code == 403  # no CSRF
    refused = client.post(path, data={"note": " ", "csrf_token": csrf})
    assert refused.status_code == 400
    assert refused.context["page"].errors["note"] == "Say how the recipient confirmed it."
    done = client.post(path, data={"note": "Confirmed on the phone", "csrf_token": csrf})
    assert done.status_code == 303
    page = client.get(f"/dpo/requests/{request_id}").context["page"]
    view = next(v for v in page.recipient_tasks if v.id == task.id)
    assert not view.open and view.confirmed_by == "Per Personvernombud"
    assert view.note == "Confirmed on the phone"
    assert view.records == () and page.open_tasks == len(page.recipient_tasks) - 1
    # The records in every language are forgotten with the rest of the reference.
    assert next(t for t in tasks(client, request_id) if t.id == task.id).reference is None
    # Another request's task is not this case's to record.
    other = restricted(client, "two_systems")
    foreign = f"/dpo/requests/{other}/recipients/{task.id}"
    again = client.post(foreign, data={"note": "x", "csrf_token": csrf})
    assert again.status_code == 409


def test_a_rectification_tells_the_recipients_of_the_tables_corrected(
    client: TestClient, dpo: int
) -> None:
    person = add_person(client, "ordinary")
    request_id = file_by_hand(client, person, RequestType.rectification, details="Wrong name")
    case = client.get(f"/dpo/requests/{request_id}")
    assert 'name="table_shop_orders"' in case.text
    done = post(client, request_id, "outcome", outcome="Name corrected.", table_shop_orders="on")
    assert done.status_code == 303
    [task] = tasks(client, request_id)
    assert (task.recipient, task.action, task.tables) == ("bring", "rectification", ["shop_orders"])
    # Nothing ticked: no one to tell.
    other = file_by_hand(client, add_person(client, "two_systems"), RequestType.rectification)
    post(client, other, "outcome", outcome="Checked; nothing was wrong.")
    assert tasks(client, other) == []


def link_of(client: TestClient, task: RecipientTask) -> str:
    settings = client.app.state.settings
    url = recipients.confirm_url(task.id or 0, "en", client.app.state.now(), settings)
    return url.split("link=", 1)[1]


def test_a_recipient_confirms_by_its_link(client: TestClient, dpo: int, clock: Clock) -> None:
    request_id = restricted(client)
    task = next(t for t in tasks(client, request_id) if t.email)
    token = link_of(client, task)
    client.cookies.clear()
    client.cookies.set("lang", "en")

    shown = client.get(f"/recipients/task?link={token}")
    assert shown.status_code == 200 and shown.template.name == "recipients/task.html"
    assert shown.context["page"].recipient == task.recipient_name
    assert "Kari" not in shown.text  # nothing about the person
    csrf = shown.context["csrf_token"]
    assert client.post("/recipients/task", data={"link": token}).status_code == 403
    done = client.post(
        "/recipients/task", data={"link": token, "note": "Ref 77", "csrf_token": csrf}
    )
    assert done.status_code == 303 and done.headers["location"] == "/recipients/task/done"
    assert "Thank you" in client.get("/recipients/task/done").text
    with session_scope(client.app.state.engine) as db:
        stored = db.get(RecipientTask, task.id)
        assert stored.confirmed_by == "link" and stored.note == "Ref 77"

    used = client.get(f"/recipients/task?link={token}")
    assert used.status_code == 409 and "already confirmed" in used.text
    twice = client.post("/recipients/task", data={"link": token, "csrf_token": csrf})
    assert twice.status_code == 409

    other = next(t for t in tasks(client, request_id) if t.email and t.id != task.id)
    later = link_of(client, other)
    tampered = client.get(f"/recipients/task?link={later[:-3]}xyz")
    assert tampered.status_code == 400 and "not valid" in tampered.text
    clock.now += timedelta(days=client.app.state.settings.recipient_link_days, minutes=1)
    expired = client.get(f"/recipients/task?link={later}")
    assert expired.status_code == 410 and "expired" in expired.text


def test_the_person_sees_which_recipients_were_told(
    client: TestClient, dpo: int, clock: Clock
) -> None:
    from tests.workflows.test_case_pages import sign_in_subject

    request_id = restricted(client)
    told = tasks(client, request_id)
    first = told[0]
    csrf = client.get(f"/dpo/requests/{request_id}").context["csrf_token"]
    path = f"/dpo/requests/{request_id}/recipients/{first.id}"
    client.post(path, data={"note": "Confirmed by phone", "csrf_token": csrf})

    sign_in_subject(client, load(client, request_id).subject_id)
    page = client.get(f"/me/requests/{request_id}")
    views = page.context["page"].recipients_told
    assert {view.recipient for view in views} == {task.recipient_name for task in told}
    assert "Others we told" in page.text and "Posten Bring" in page.text
    confirmed = next(view for view in views if view.id == first.id)
    assert confirmed.confirmed and confirmed.confirmed_by == "the data protection officer"
    # Neither the DPO's note nor what identifies them to the recipient.
    assert all(view.note is None and view.records == () for view in views)
    assert "Confirmed by phone" not in page.text


def test_the_follow_links_page_lists_them_too(client: TestClient, dpo: int) -> None:
    """A request filed without BankID is followed by its link: that page says the same."""
    from portal.views.email_requests import follow_page
    from portal.workflows.contacts import RequestContact

    request_id = restricted(client)
    now = client.app.state.now()
    with session_scope(client.app.state.engine) as db:
        db.add(
            RequestContact(request_id=request_id, name="", email="k@example.org", confirmed_at=now)
        )
    with session_scope(client.app.state.engine) as db:
        page = follow_page(db, request_id, "en", "Europe/Oslo", now)
        assert page is not None
        assert {view.recipient for view in page.recipients_told} == {
            task.recipient_name for task in tasks(client, request_id)
        }
