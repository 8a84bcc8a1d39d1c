"""/staff/lookup over HTTP: customer service looks a caller up with a reason; a look-up without
one is refused and logs nothing; one person found opens their page (data as /me shows it),
several are listed by name and masked number only; the page of a person is open only to the
agent whose look-up found them; a person's session reaches none of it; the value looked up is
never in a URL."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from sqlalchemy import text
from sqlmodel import Session, select
from starlette.testclient import TestClient

from portal.app import create_app
from portal.audit import AuditEntry
from portal.demo import EDGE_CASES_BY_KEY
from portal.jobs.outbox import OutboxMessage
from portal.marketing.consent import ConsentEvent
from portal.models import Assurance, IdentifierKind, StaffRoleName, Subject, SubjectIdentifier
from portal.settings import Settings
from portal.views import caller_lookup as views
from portal.workflows.caller_lookup import Kind, Match, Outcome
from portal.workflows.requests import DataRequest
from tests.support import (
    Clock,
    add_demo_subject,
    csrf_token_from,
    sign_in_staff,
    signed_in_client,
)

KARI = EDGE_CASES_BY_KEY["ordinary"]


@pytest.fixture
def client(settings: Settings, demo_sources) -> Iterator[TestClient]:
    app = create_app(settings, now=Clock(), sources=demo_sources)
    with TestClient(app, follow_redirects=False) as c:
        yield c


def look_up(client: TestClient, **form: str):
    token = csrf_token_from(client.get("/staff/lookup").text)
    return client.post("/staff/lookup", data={"csrf_token": token, **form})


def actions(client: TestClient) -> list[tuple[str, int | None, str | None]]:
    with Session(client.app.state.engine) as db:
        entries = db.exec(select(AuditEntry).order_by(AuditEntry.seq)).all()
        return [(e.action, e.subject_id, e.reason) for e in entries]


def test_customer_service_finds_a_caller_by_phone_and_sees_their_data(client: TestClient) -> None:
    sign_in_staff(client, StaffRoleName.staff, sub="kundeservice")
    form = client.get("/staff/lookup")
    assert form.status_code == 200 and 'name="reason"' in form.text
    found = look_up(
        client, kind="phone", value="+47 910 00 001", reason="own_data", note="Asks about orders"
    )
    assert found.status_code == 303
    location = found.headers["location"]
    assert location.startswith("/staff/lookup/") and "/people/" in location
    assert "91000001" not in location and "910" not in location.split("/people/")[0][14:]
    page = client.get(location)
    assert page.status_code == 200
    assert "<h1>Kari Nordmann</h1>" in page.text
    assert f'<dd class="national-id">{KARI.national_id[:6]} *****</dd>' in page.text
    assert "The caller asks about their data: Asks about orders" in page.text
    assert "Customer record" in page.text and "kari.nordmann@example.com" in page.text
    assert "Newsletter" in page.text  # her consents
    [search, view] = actions(client)
    assert search[0] == "lookup.search" and view[0] == "lookup.view"
    assert search[1] == view[1] and view[2] == "own_data: Asks about orders"


def test_a_look_up_without_a_reason_is_refused_and_nothing_is_logged(client: TestClient) -> None:
    sign_in_staff(client, StaffRoleName.staff)
    refused = look_up(client, kind="phone", value="91000001")
    assert refused.status_code == 400
    assert "Nothing was looked up" in refused.text
    assert "Choose why you look the caller up." in refused.text
    assert 'value="91000001"' in refused.text  # as typed, to correct
    other = look_up(client, kind="phone", value="91000001", reason="other")
    assert other.status_code == 400 and "Say why you look the caller up." in other.text
    assert actions(client) == []


def test_someone_who_is_not_a_customer_is_not_found_and_the_page_says_why(
    client: TestClient,
) -> None:
    sign_in_staff(client, StaffRoleName.staff)
    nobody = look_up(client, kind="phone", value="99 99 99 99", reason="reservation")
    assert nobody.status_code == 200
    assert "No customer has that phone number." in nobody.text
    assert "does not look up anyone else" in nobody.text
    assert [a[0] for a in actions(client)] == ["lookup.search"]


def test_several_people_are_listed_by_name_only_and_the_agent_opens_one(
    client: TestClient,
) -> None:
    sign_in_staff(client, StaffRoleName.staff)
    listed = look_up(client, kind="phone", value="22 33 44 55", reason="own_data")
    assert listed.status_code == 200
    assert "Lars Dahl" in listed.text and "Mette Dahl" in listed.text
    # Nothing of theirs but the name and the masked number.
    assert "lars.dahl@example.com" not in listed.text and "900008" not in listed.text
    links = sorted(set(re.findall(r'href="(/staff/lookup/\d+/people/\d+)"', listed.text)))
    assert len(links) == 2
    page = client.get(links[0])
    assert page.status_code == 200 and "Dahl" in page.text
    assert [a[0] for a in actions(client)] == ["lookup.search", "lookup.view"]


def test_only_the_agent_whose_look_up_found_the_person_opens_their_page(
    client: TestClient,
) -> None:
    sign_in_staff(client, StaffRoleName.staff, sub="first")
    location = look_up(client, kind="customer_number", value="900001", reason="right").headers[
        "location"
    ]
    sign_in_staff(client, StaffRoleName.staff, sub="second")
    refused = client.get(location)
    assert refused.status_code == 303 and refused.headers["location"] == "/staff/lookup"
    assert "Look the caller up first, with a reason." in client.get("/staff/lookup").text
    kari = location.rsplit("/", 1)[1]
    # Nor another person through the first agent's look-up.
    sign_in_staff(client, StaffRoleName.staff, sub="third")
    assert client.get(location.replace(f"/people/{kari}", "/people/99999")).status_code == 303
    assert [a[0] for a in actions(client)] == ["lookup.search"]


@pytest.mark.parametrize("path", ["/staff/lookup", "/staff/lookup/1/people/1"])
def test_a_persons_session_reaches_no_look_up_page(client: TestClient, path: str) -> None:
    subject_id = add_demo_subject(client.app.state.engine, "ordinary")
    signed_in_client(client, secret_key=client.app.state.settings.secret_key, subject_id=subject_id)
    assert client.get(path).status_code == 403
    token = csrf_token_from(client.get("/me/requests/new").text)
    posted = client.post(
        "/staff/lookup",
        data={"csrf_token": token, "kind": "phone", "value": "91000001", "reason": "own_data"},
    )
    assert posted.status_code == 403
    assert actions(client) == []


def test_a_look_up_without_the_forms_token_is_refused(client: TestClient) -> None:
    sign_in_staff(client, StaffRoleName.staff)
    posted = client.post(
        "/staff/lookup", data={"kind": "phone", "value": "91000001", "reason": "own_data"}
    )
    assert posted.status_code == 403 and actions(client) == []


def test_signed_out_the_look_up_sends_to_sign_in(client: TestClient) -> None:
    response = client.get("/staff/lookup")
    assert response.status_code == 303 and response.headers["location"].startswith("/auth/login")


def prove(client: TestClient, national_id: str, address: str) -> None:
    """The person proved ``address`` (as /me/addresses would make it)."""
    with Session(client.app.state.engine) as db:
        subject = db.exec(select(Subject).where(Subject.national_id == national_id)).one()
        db.add(
            SubjectIdentifier(
                subject_id=subject.id,
                kind=IdentifierKind.email,
                value=address,
                assurance=Assurance.low,
            )
        )
        db.commit()


def test_the_agent_files_an_access_request_the_copy_to_a_proven_address(
    client: TestClient,
) -> None:
    agent = sign_in_staff(client, StaffRoleName.staff)
    location = look_up(client, kind="phone", value="91000001", reason="right").headers["location"]
    page = client.get(location)
    assert "has not proven an e-mail address" in page.text and 'id="access-form"' not in page.text
    prove(client, KARI.national_id, "kari.privat@example.org")
    page = client.get(location)
    token = csrf_token_from(page.text)
    assert 'value="kari.privat@example.org"' in page.text
    # An address the caller gives now is refused: nothing is filed.
    refused = client.post(
        f"{location}/access-request", data={"csrf_token": token, "address": "new@example.org"}
    )
    assert refused.status_code == 400
    assert "Choose one of the addresses the person has proven." in refused.text
    filed = client.post(
        f"{location}/access-request",
        data={"csrf_token": token, "address": "kari.privat@example.org"},
    )
    assert filed.status_code == 303 and filed.headers["location"] == location
    after = client.get(location)
    assert "is filed, and the copy is sent to kari.privat@example.org" in after.text
    assert "already has an open access request" not in after.text  # answered at once
    with Session(client.app.state.engine) as db:
        [request] = db.exec(select(DataRequest)).all()
        sent = db.exec(select(OutboxMessage.kind, OutboxMessage.email)).all()
        filed_entry = db.exec(
            select(AuditEntry).where(AuditEntry.action == "request.file_on_behalf")
        ).one()
    assert (request.type, request.assurance, request.status) == ("access", "staff", "completed")
    assert ("export_link_ready", "kari.privat@example.org") in sent
    assert (filed_entry.actor_id, filed_entry.reason) == (agent, "right")


def test_the_agent_records_a_reservation_given_on_the_phone(client: TestClient) -> None:
    sign_in_staff(client, StaffRoleName.staff, sub="kim")
    location = look_up(
        client, kind="customer_number", value="900001", reason="reservation"
    ).headers["location"]
    token = csrf_token_from(client.get(location).text)
    done = client.post(
        f"{location}/choice",
        data={"csrf_token": token, "kind": "reservation", "topic": "phone", "active": "1"},
    )
    assert done.status_code == 303
    page = client.get(location)
    assert "Recorded: Reservation: Phone calls, reserved." in page.text
    assert re.search(r'id="reservation-phone">.*?Reserved<', page.text, re.S)
    assert (
        "through customer service" in page.text
        and '<td data-label="Recorded by">kim</td>' in page.text
    )
    lifted = client.post(
        f"{location}/choice",
        data={"csrf_token": token, "kind": "reservation", "topic": "phone", "active": "0"},
    )
    assert lifted.status_code == 400 and "Nothing was changed" in lifted.text
    assert "A reservation or an objection is lifted by the person" in lifted.text


def test_an_action_needs_the_agents_own_look_up(client: TestClient) -> None:
    sign_in_staff(client, StaffRoleName.staff, sub="first")
    location = look_up(client, kind="customer_number", value="900001", reason="own_data").headers[
        "location"
    ]
    sign_in_staff(client, StaffRoleName.staff, sub="second")
    token = csrf_token_from(client.get("/staff/lookup").text)
    done = client.post(
        f"{location}/choice",
        data={"csrf_token": token, "kind": "reservation", "topic": "phone", "active": "1"},
    )
    assert done.status_code == 303 and done.headers["location"] == "/staff/lookup"
    with Session(client.app.state.engine) as db:
        assert db.exec(select(ConsentEvent)).all() == []


def test_a_protected_persons_addresses_are_hidden_from_customer_service(
    client: TestClient, demo_engine
) -> None:
    sign_in_staff(client, StaffRoleName.staff)
    location = look_up(client, kind="phone", value="+47 91 00 00 15", reason="own_data").headers[
        "location"
    ]
    page = client.get(location)
    assert "<h1>Knut Svendsen</h1>" in page.text and 'id="protected"' in page.text
    with demo_engine.connect() as connection:
        streets = connection.execute(
            text(
                "SELECT a.street, a.city FROM crm_addresses a JOIN crm_customers c "
                "ON c.id = a.customer_id WHERE c.customer_number = '900015'"
            )
        ).all()
    assert streets
    for street, city in streets:
        assert street not in page.text and city not in page.text
    assert "Hidden" in page.text
    # Someone without a protected identity: addresses shown as /me shows them.
    kari = look_up(client, kind="customer_number", value="900001", reason="own_data")
    assert 'id="protected"' not in client.get(kari.headers["location"]).text


def test_a_list_of_several_never_names_a_protected_identity(english: None) -> None:
    outcome = Outcome(
        lookup_id=5,
        matches=(
            Match(1, "Knut Svendsen", "050575 *****", 3, 0, protected=True),
            Match(2, "Kari Nordmann", "120384 *****", 40, 1),
        ),
        waiting=(),
        not_found=None,
    )
    page = views._found({"kind": "phone"}, Kind.phone, outcome, "en", "Europe/Oslo")
    assert [(row.name, row.national_id) for row in page.matches] == [
        ("Protected identity", "050575 *****"),
        ("Kari Nordmann", "120384 *****"),
    ]
