"""/staff/identifiers: customer service and the DPO link an identifier to a person, or unlink
it, with a reason; the member of staff comes from the session; every view and change is logged;
a refused change changes nothing and says why; the national ID never reaches a URL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlmodel import Session, select
from starlette.testclient import TestClient

from portal.app import create_app
from portal.audit import AuditEntry
from portal.demo import EDGE_CASES_BY_KEY
from portal.models import StaffRoleName, Subject, SubjectIdentifier
from portal.settings import Settings
from tests.support import Clock, csrf_token_from, sign_in_staff, signed_in_client

NID = EDGE_CASES_BY_KEY["ordinary"].national_id


@pytest.fixture
def client(settings: Settings, demo_sources) -> Iterator[TestClient]:
    app = create_app(settings, now=Clock(), sources=demo_sources)
    with TestClient(app, follow_redirects=False) as c:
        yield c


def find(client: TestClient, national_id: str = NID):
    page = client.get("/staff/identifiers")
    token = csrf_token_from(page.text)
    return client.post("/staff/identifiers", data={"csrf_token": token, "national_id": national_id})


def actions(client: TestClient) -> list[tuple[str, int | None, str | None]]:
    with Session(client.app.state.engine) as db:
        entries = db.exec(select(AuditEntry).order_by(AuditEntry.id)).all()
        return [(e.action, e.actor_id, e.reason) for e in entries]


def test_customer_service_links_and_unlinks_an_address_with_a_reason(client: TestClient) -> None:
    agent = sign_in_staff(client, StaffRoleName.staff, sub="kundeservice")
    found = find(client, NID[:6] + " " + NID[6:])  # typed with a space
    assert found.status_code == 303
    location = found.headers["location"]
    assert NID not in location and NID[:6] not in location
    page = client.get(location)
    assert page.status_code == 200 and "Nothing beyond the national identity number" in page.text
    assert f"{NID[:6]} *****" in page.text and NID not in page.text

    token = csrf_token_from(page.text)
    linked = client.post(
        f"{location}/link",
        data={
            "csrf_token": token,
            "kind": "phone",
            "value": "+47 912 34 567",
            "reason": "Called from it and named her last order",
        },
    )
    assert linked.status_code == 303 and linked.headers["location"] == location
    after = client.get(location)
    assert "The identifier is linked to the person." in after.text
    assert "+4791234567" in after.text and "Linked by staff" in after.text
    with Session(client.app.state.engine) as db:
        subject = db.exec(select(Subject).where(Subject.national_id == NID)).one()
        [row] = db.exec(select(SubjectIdentifier)).all()
    assert (row.subject_id, row.kind, row.value) == (subject.id, "phone", "+4791234567")

    unlinked = client.post(
        f"{location}/{row.id}/unlink", data={"csrf_token": token, "reason": "Her old number"}
    )
    assert unlinked.status_code == 303
    with Session(client.app.state.engine) as db:
        assert db.exec(select(SubjectIdentifier)).all() == []
    logged = [a for a in actions(client) if a[0].startswith("identifier.")]
    assert logged == [
        ("identifier.view", agent, "linking identifiers"),
        ("identifier.link", agent, "Called from it and named her last order"),
        ("identifier.view", agent, "linking identifiers"),
        ("identifier.unlink", agent, "Her old number"),
    ]


def test_a_refused_link_changes_nothing_and_says_why(client: TestClient) -> None:
    sign_in_staff(client, StaffRoleName.dpo)
    location = find(client).headers["location"]
    token = csrf_token_from(client.get(location).text)
    for data, message in (
        ({"kind": "email", "value": "kari@example.no", "reason": " "}, "Please give a reason."),
        ({"kind": "email", "value": "not an address", "reason": "r"}, "not an e-mail address"),
        ({"kind": "national_id", "value": NID, "reason": "r"}, "Only e-mail addresses"),
    ):
        refused = client.post(f"{location}/link", data={"csrf_token": token, **data})
        assert refused.status_code == 400 and message in refused.text, data
        assert "Nothing was changed" in refused.text
        assert f'value="{data["value"]}"' in refused.text  # the form keeps what was typed
    with Session(client.app.state.engine) as db:
        assert db.exec(select(SubjectIdentifier)).all() == []
    assert not [a for a in actions(client) if a[0] == "identifier.link"]


def test_a_number_that_is_not_a_national_id_is_refused(client: TestClient) -> None:
    sign_in_staff(client, StaffRoleName.staff)
    refused = find(client, "12345678901")
    assert refused.status_code == 400
    assert "That is not a valid national identity number." in refused.text
    with Session(client.app.state.engine) as db:
        assert db.exec(select(Subject)).all() == []


def test_only_staff_and_the_dpo_link_and_a_person_cannot(client: TestClient) -> None:
    sign_in_staff(client, StaffRoleName.admin)
    assert client.get("/staff/identifiers").status_code == 403
    client.cookies.clear()
    with Session(client.app.state.engine) as db:
        person = Subject(national_id=NID, country="NO")
        db.add(person)
        db.commit()
        person_id = person.id
    signed_in_client(client, secret_key=client.app.state.settings.secret_key, subject_id=person_id)
    assert client.get(f"/staff/people/{person_id}/identifiers").status_code in (303, 403)


def test_a_post_without_the_csrf_token_is_refused(client: TestClient) -> None:
    sign_in_staff(client, StaffRoleName.staff)
    location = find(client).headers["location"]
    refused = client.post(
        f"{location}/link", data={"kind": "phone", "value": "+4791234567", "reason": "r"}
    )
    assert refused.status_code == 403
    with Session(client.app.state.engine) as db:
        assert db.exec(select(SubjectIdentifier)).all() == []
