"""The DPO's queue over HTTP: every row's facts, the search kept out of every URL, filters,
paging and assignment without JavaScript and by htmx, CSRF, and the role."""

from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import unquote

import pytest
from sqlmodel import select
from starlette.testclient import TestClient

from portal.audit import AuditEntry
from portal.db import session_scope
from portal.models import Assurance, IdentifierKind, StaffRoleName, SubjectIdentifier
from portal.workflows.contacts import RequestContact
from portal.workflows.requests import DataRequest, RequestEvent, RequestType
from tests.support import Clock
from tests.workflows.test_dpo_pages import add_staff, dpo, sign_in_staff, token
from tests.workflows.test_request_pages import add_person, file_by_hand, sign_in_subject

__all__ = ["dpo"]  # fixtures

HTMX = {"HX-Request": "true"}


def load(client: TestClient, request_id: int) -> DataRequest:
    with session_scope(client.app.state.engine) as db:
        return db.get(DataRequest, request_id)


def search(client: TestClient, term: str, headers: dict | None = None, **fields: str):
    data = {"q": term, "csrf_token": token(client), **fields}
    return client.post("/dpo/search", data=data, headers=headers or {})


def assert_no_personal_data(text: str, *values: str) -> None:
    """No address the page links to, or sends a form to, carries any of ``values``."""
    for url in re.findall(r'(?:href|action|hx-get|hx-post|hx-push-url)="([^"]*)"', text):
        for value in values:
            assert value.lower() not in unquote(url).lower(), url


def test_every_row_names_the_person_assignee_and_assurance(
    client: TestClient, clock: Clock, dpo: int
) -> None:
    kari = add_person(client, "ordinary")
    knut = add_person(client, "protected_address")
    hers = file_by_hand(client, kari, RequestType.erasure)
    his = file_by_hand(client, knut, RequestType.access, now=clock.now - timedelta(days=27))
    by_email = file_by_hand(client, None, RequestType.objection, assurance=Assurance.low)
    with session_scope(client.app.state.engine) as db:
        db.add(RequestContact(request_id=by_email, name="Nils Typed", email="nils@example.org",
                              confirmed_at=clock.now))  # fmt: skip
        db.get(DataRequest, hers).assignee_id = dpo
    response = client.get("/dpo")
    page = response.context["page"]
    rows = {row.id: row for row in page.requests}
    assert [row.id for row in page.requests] == [his, hers, by_email]
    assert (rows[hers].person, rows[hers].assignee, rows[hers].mine) == (
        "Kari Nordmann",
        "Per Personvernombud",
        True,
    )
    assert rows[hers].assurance == "BankID"
    # Knut has a protected address in the company's register: never named in the queue.
    assert (rows[his].person, rows[his].protected) == ("Protected", True)
    assert "Svendsen" not in response.text
    assert rows[his].urgent and "soon" in response.text  # 3 days left, said in words
    assert (rows[by_email].person, rows[by_email].typed) == ("Nils Typed", True)
    assert rows[by_email].assurance == "E-mail link, not verified"
    assert rows[by_email].assignee is None
    # Looking at the queue is looking at people's names: logged, with the requests shown.
    with session_scope(client.app.state.engine) as db:
        [entry] = db.exec(select(AuditEntry).where(AuditEntry.action == "request.queue_view"))
    assert entry.actor_id == dpo and entry.details == {
        "request_ids": [his, hers, by_email],
        "search": None,
    }


def test_search_without_javascript_keeps_the_term_out_of_every_url(
    client: TestClient, dpo: int
) -> None:
    kari = add_person(client, "ordinary")
    ola = add_person(client, "two_systems")
    hers = file_by_hand(client, kari, RequestType.erasure)
    file_by_hand(client, ola, RequestType.access)
    with session_scope(client.app.state.engine) as db:
        db.add(SubjectIdentifier(subject_id=kari, kind=IdentifierKind.email,
                                 value="kari@example.no", assurance=Assurance.low))  # fmt: skip
    for term in ("kari nordmann", "KARI@example.no", "900001", str(hers)):
        response = search(client, term, status="all", sort="received")
        assert response.status_code == 303
        location = response.headers["location"]
        assert location == "/dpo?status=all&sort=received"  # the filters only
        page = client.get(location)
        assert [row.id for row in page.context["page"].requests] == [hers], term
        assert page.context["page"].search == term
        assert_no_personal_data(page.text, "kari", "900001", "example.no")
    with session_scope(client.app.state.engine) as db:
        entries = db.exec(select(AuditEntry).where(AuditEntry.action == "request.queue_view"))
        details = [entry.details for entry in entries]
    ways = [entry["search"] for entry in details]
    assert ["name"] in ways and ["email"] in ways and ["reference", "customer_number"] in ways
    assert "kari" not in repr(details).lower()  # how the term was read, never the term
    # The search stays (paging, another filter) until it is cleared.
    assert client.get("/dpo?status=open").context["page"].search == str(hers)
    cleared = search(client, "ignored", clear="1")
    assert cleared.headers["location"] == "/dpo"
    assert client.get("/dpo").context["page"].search == ""
    assert len(client.get("/dpo").context["page"].requests) == 2


def test_the_company_register_finds_a_customer_number(client: TestClient, dpo: int) -> None:
    """Kari's customer number 900001 is only in the company's register, not in the portal."""
    kari = add_person(client, "ordinary")
    hers = file_by_hand(client, kari, RequestType.erasure)
    search(client, "900001")
    assert [row.id for row in client.get("/dpo").context["page"].requests] == [hers]
    search(client, "kari.nordmann@example.com")  # the address in the register, never proven
    assert [row.id for row in client.get("/dpo").context["page"].requests] == [hers]


def test_the_company_data_leads_from_a_shop_address_to_the_person(
    client: TestClient, dpo: int
) -> None:
    """Ola's web shop account has an address of its own and no national ID; its customer
    number leads to his customer record, and so to him."""
    ola = add_person(client, "two_systems")
    his = file_by_hand(client, ola, RequestType.access)
    search(client, "ola.n@example.net")
    assert [row.id for row in client.get("/dpo").context["page"].requests] == [his]


def test_a_protected_person_is_not_found_by_name(client: TestClient, dpo: int) -> None:
    knut = add_person(client, "protected_address")
    his = file_by_hand(client, knut, RequestType.access)
    search(client, "Knut Svendsen")
    assert client.get("/dpo").context["page"].requests == ()
    search(client, str(his))
    [row] = client.get("/dpo").context["page"].requests
    assert (row.id, row.person) == (his, "Protected")


def test_a_search_too_long_is_refused_and_shown_again(client: TestClient, dpo: int) -> None:
    response = search(client, "x" * 201, status="all")
    assert response.status_code == 400
    page = response.context["page"]
    assert page.search_error and page.search == "x" * 200
    assert 'aria-invalid="true"' in response.text


def test_htmx_gets_a_refusal_it_can_show(client: TestClient, dpo: int) -> None:
    """htmx swaps only a 2xx answer: a refusal comes as 200 with its reason in the fragment."""
    too_long = search(client, "x" * 201, HTMX)
    assert too_long.status_code == 200
    assert too_long.template.name == "dpo/queue_fragment.html"
    assert 'id="queue-search" hx-swap-oob="true"' in too_long.text
    assert 'aria-invalid="true"' in too_long.text
    assert "Please keep the search under 200 characters." in too_long.text
    nothing = client.post(
        "/dpo/assign", data={"assign_to": "nobody", "csrf_token": token(client)}, headers=HTMX
    )
    assert nothing.status_code == 200
    assert "Choose at least one request." in nothing.text


def test_htmx_gets_the_table_and_the_filters_address(client: TestClient, dpo: int) -> None:
    kari = add_person(client, "ordinary")
    hers = file_by_hand(client, kari, RequestType.erasure)
    response = search(client, "Nordmann", HTMX, type="erasure")
    assert response.status_code == 200
    assert response.template.name == "dpo/queue_fragment.html"
    assert response.headers["hx-push-url"] == "/dpo?type=erasure"
    assert response.text.lstrip().startswith('<div id="queue"')
    assert 'id="queue-status" hx-swap-oob="innerHTML"' in response.text
    assert 'id="queue-search" hx-swap-oob="true"' in response.text
    assert 'id="language-next" value="/dpo?type=erasure" hx-swap-oob="true"' in response.text
    assert "<html" not in response.text
    assert [row.id for row in response.context["page"].requests] == [hers]
    # Paging and filter links answer htmx with the table alone; a history restore gets a page.
    assert client.get("/dpo?page=1", headers=HTMX).template.name == "dpo/queue_fragment.html"
    restore = client.get("/dpo", headers={**HTMX, "HX-History-Restore-Request": "true"})
    assert restore.template.name == "dpo/queue.html"


def test_paging_links_carry_the_filter(client: TestClient, clock: Clock, dpo: int) -> None:
    subject = add_person(client, "ordinary")
    with session_scope(client.app.state.engine) as db:
        for number in range(30):
            db.add(DataRequest(subject_id=subject, type=RequestType.access, status="verified",
                               assurance=Assurance.high, received_at=clock.now,
                               due_at=clock.now + timedelta(days=number)))  # fmt: skip
    first = client.get("/dpo?sort=reference")
    page = first.context["page"]
    assert (page.page, page.pages, len(page.requests)) == (1, 2, 25)
    assert page.next_href == "/dpo?sort=reference&page=2"
    second = client.get(page.next_href).context["page"]
    assert (second.page, len(second.requests), second.previous_href) == (
        2,
        5,
        "/dpo?sort=reference",
    )


def test_assign_to_me_and_bulk_without_javascript(client: TestClient, dpo: int) -> None:
    eva = add_staff(client, StaffRoleName.dpo, sub="eva")
    kari = add_person(client, "ordinary")
    first = file_by_hand(client, kari, RequestType.erasure)
    second = file_by_hand(client, kari, RequestType.access)
    third = file_by_hand(client, kari, RequestType.objection)
    csrf = token(client)
    mine = client.post(
        "/dpo/assign",
        data={"assign_one": str(first), "request": str(second), "assign_to": str(eva),
              "status": "all", "csrf_token": csrf},
    )  # fmt: skip
    assert mine.status_code == 303
    assert mine.headers["location"] == "/dpo?status=all"
    assert (load(client, first).assignee_id, load(client, second).assignee_id) == (dpo, None)
    assert client.get("/dpo?status=all").context["flash"] == f"Request {first} is assigned to you."
    bulk = client.post(
        "/dpo/assign",
        data={"request": [str(second), str(third)], "assign_to": str(eva), "csrf_token": csrf},
    )
    assert bulk.status_code == 303 and bulk.headers["location"] == "/dpo"
    assert client.get("/dpo").context["flash"] == "2 requests are assigned to Per Personvernombud."
    assert (load(client, second).assignee_id, load(client, third).assignee_id) == (eva, eva)
    page = client.get("/dpo?assignee=nobody").context["page"]
    assert page.requests == ()
    unassign = client.post(
        "/dpo/assign", data={"request": str(third), "assign_to": "nobody", "csrf_token": csrf}
    )
    assert unassign.status_code == 303 and load(client, third).assignee_id is None
    # Refused: nothing chosen, or someone who is not a DPO; the page says why.
    clerk = add_staff(client, StaffRoleName.staff, sub="clerk")
    for data in ({"assign_to": str(eva)}, {"request": str(third), "assign_to": str(clerk)}):
        refused = client.post("/dpo/assign", data={**data, "csrf_token": csrf})
        assert refused.status_code == 400 and refused.context["page"].message
    assert load(client, third).assignee_id is None


def test_assign_by_htmx_answers_with_the_table(client: TestClient, dpo: int) -> None:
    kari = add_person(client, "ordinary")
    first = file_by_hand(client, kari, RequestType.erasure)
    response = client.post(
        "/dpo/assign",
        data={"assign_one": str(first), "csrf_token": token(client)},
        headers=HTMX,
    )
    assert response.status_code == 200
    assert response.template.name == "dpo/queue_fragment.html"
    assert response.context["page"].message == f"Request {first} is assigned to you."
    assert f"Request {first} is assigned to you." in response.text  # in the status line
    [row] = response.context["page"].requests
    assert row.mine and row.assignee == "Per Personvernombud"


def test_the_case_page_assigns_and_the_timeline_shows_it_to_staff_only(
    client: TestClient, dpo: int
) -> None:
    kari = add_person(client, "ordinary")
    request_id = file_by_hand(client, kari, RequestType.objection, details="No ads")
    page = client.get(f"/dpo/requests/{request_id}").context["page"]
    assert (page.assignee, page.assigned_to_me) == (None, False)
    assert "assign" in page.actions and "unassign" not in page.actions
    csrf = token(client)
    assigned = client.post(f"/dpo/requests/{request_id}/assign", data={"csrf_token": csrf})
    assert assigned.status_code == 303
    after = client.get(f"/dpo/requests/{request_id}")
    page = after.context["page"]
    assert (page.assignee, page.assigned_to_me) == ("Per Personvernombud", True)
    assert "unassign" in page.actions
    [entry] = [e for e in page.timeline if e.what == "Assigned"]
    assert entry.more == "Assigned to Per Personvernombud."
    assert 'id="unassign-form"' in after.text and 'id="assign-form"' not in after.text
    client.post(f"/dpo/requests/{request_id}/unassign", data={"csrf_token": csrf})
    assert load(client, request_id).assignee_id is None
    with session_scope(client.app.state.engine) as db:
        actions = db.exec(
            select(RequestEvent.action).where(RequestEvent.request_id == request_id)
        ).all()
    assert actions == ["file", "assign", "unassign"]
    # The person's own page never shows who of staff works their request.
    sign_in_subject(client, kari)
    client.cookies.set("lang", "en")
    mine = client.get(f"/me/requests/{request_id}").context["page"]
    assert [entry.what for entry in mine.timeline] == ["Request sent"]


def test_csrf_is_required(client: TestClient, dpo: int) -> None:
    kari = add_person(client, "ordinary")
    first = file_by_hand(client, kari, RequestType.erasure)
    assert client.post("/dpo/search", data={"q": "kari"}).status_code == 403
    refused = client.post("/dpo/assign", data={"assign_one": str(first)})
    assert refused.status_code == 403
    assert load(client, first).assignee_id is None
    assert client.get("/dpo").context["page"].search == ""


@pytest.mark.parametrize("role", [StaffRoleName.staff, StaffRoleName.admin])
def test_only_the_dpo_reaches_the_queue(client: TestClient, role: StaffRoleName) -> None:
    kari = add_person(client, "ordinary")
    first = file_by_hand(client, kari, RequestType.erasure)
    sign_in_staff(client, add_staff(client, role, sub=str(role)))
    csrf = client.get("/staff").context["csrf_token"]
    assert client.get("/dpo").status_code == 403
    assert client.post("/dpo/search", data={"q": "kari", "csrf_token": csrf}).status_code == 403
    refused = client.post("/dpo/assign", data={"assign_one": str(first), "csrf_token": csrf})
    assert refused.status_code == 403
    assert load(client, first).assignee_id is None


def test_a_person_reaches_no_queue_url(client: TestClient) -> None:
    kari = add_person(client, "ordinary")
    sign_in_subject(client, kari)
    csrf = client.get("/me/requests").context["csrf_token"]
    assert client.get("/dpo").status_code == 403
    for path in ("/dpo/search", "/dpo/assign"):
        assert client.post(path, data={"csrf_token": csrf}).status_code == 403
