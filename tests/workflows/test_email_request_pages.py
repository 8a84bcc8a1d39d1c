"""The pages of a request without BankID, end to end through HTTP: the public form, the link that
confirms it, following it, the DPO's verification, and the copy downloaded by e-mailed links.
Links are read from the outbox, as the e-mail would carry them."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import timedelta
from urllib.parse import urlsplit

from sqlmodel import Session, select
from starlette.testclient import TestClient

from portal.db import session_scope
from portal.demo import EDGE_CASES_BY_KEY
from portal.jobs.outbox import OutboxMessage
from portal.models import StaffRoleName
from portal.workflows.email_requests import PendingRequest
from portal.workflows.requests import DataRequest, RequestEvent, RequestStatus
from tests.support import Clock, links_in, sent_text, sign_in_staff

KARI = EDGE_CASES_BY_KEY["ordinary"]
FORM = "/requests/new-without-bankid"


def csrf(client: TestClient, path: str = FORM) -> str:
    return client.get(path).context["csrf_token"]


def outbox(client: TestClient, kind: str) -> list[OutboxMessage]:
    with Session(client.app.state.engine) as db:
        statement = select(OutboxMessage).where(OutboxMessage.kind == kind)
        return list(db.exec(statement.order_by(OutboxMessage.id)))


def path_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


def requests(client: TestClient) -> list[DataRequest]:
    with Session(client.app.state.engine) as db:
        return list(db.exec(select(DataRequest)))


def file_by_form(client: TestClient, email: str = "kari.nordmann@example.com", **more: str):
    data = {"type": "access", "name": "Kari Nordmann", "email": email, **more}
    return client.post(FORM, data={**data, "csrf_token": csrf(client)})


def confirm_link(client: TestClient) -> str:
    return path_of(outbox(client, "request_confirm")[-1].context["confirm_url"])


def confirm(client: TestClient, link: str):
    page = client.get(link)
    assert page.status_code == 200, page.text
    token = page.context["page"].token
    return client.post("/requests/confirm", data={"link": token, "csrf_token": csrf(client)})


def test_the_landing_page_leads_people_without_bankid_to_the_form(client: TestClient) -> None:
    assert f'href="{FORM}"' in client.get("/").text
    form = client.get(FORM)
    assert form.status_code == 200 and form.template.name == "email_requests/new.html"


def test_the_form_refuses_what_it_cannot_file_and_keeps_what_was_typed(client) -> None:
    refused = file_by_form(client, email="not-an-address", details="x" * 5000)
    assert refused.status_code == 400
    assert set(refused.context["page"].errors) == {"email", "details"}
    assert refused.context["page"].name == "Kari Nordmann"
    assert outbox(client, "request_confirm") == []


def test_the_same_page_whether_or_not_we_know_the_address(client: TestClient) -> None:
    known = file_by_form(client, "kari.nordmann@example.com")
    unknown = file_by_form(client, "nobody.ever@example.org")
    assert known.status_code == unknown.status_code == 303
    assert known.headers["location"] == unknown.headers["location"] == FORM + "/sent"
    assert client.get(FORM + "/sent").status_code == 200
    assert requests(client) == []


def test_the_form_is_rate_limited_with_a_friendly_message(client: TestClient, settings) -> None:
    for _ in range(settings.rate_limit_per_address):
        assert file_by_form(client).status_code == 303
    limited = file_by_form(client)
    assert limited.status_code == 429
    assert "try again" in limited.context["page"].errors["form"]
    assert len(outbox(client, "request_confirm")) == settings.rate_limit_per_address


def test_confirm_follow_verify_and_download_by_links(
    client: TestClient, clock: Clock, settings
) -> None:
    file_by_form(client, customer_number="900001")
    link = confirm_link(client)
    # Opening the link shows a button; it confirms nothing by itself (mail scanners open links).
    assert client.get(link).status_code == 200 and requests(client) == []
    done = confirm(client, link)
    assert done.status_code == 303
    [request] = requests(client)
    assert (request.status, request.subject_id) == (RequestStatus.received, None)
    # The same session follows the request at its own address; no link in it.
    page = client.get(done.headers["location"])
    assert page.status_code == 200 and page.context["page"].unverified
    # The link used again acts on nothing.
    again = confirm_again(client, link)
    assert again.status_code == 409 and again.context["page"].reason == "used"
    assert len(requests(client)) == 1

    # Another browser: the request's page needs its follow link.
    received = outbox(client, "request_received")[-1]
    [url] = links_in(sent_text(received, settings, clock.now), "/requests/follow")
    follow = path_of(url)
    client.cookies.clear()
    client.cookies.set("lang", "en")
    assert client.get(f"/requests/{request.id}").status_code == 410
    opened = client.get(follow)
    assert opened.status_code == 303 and opened.headers["location"] == f"/requests/{request.id}"
    assert client.get(opened.headers["location"]).status_code == 200

    # Nothing can be downloaded before the DPO has verified the person.
    assert outbox(client, "export_link_ready") == []

    sign_in_staff(client, StaffRoleName.dpo)
    case = client.get(f"/dpo/requests/{request.id}")
    assert case.context["page"].contact.customer_number == "900001"
    how = "Matched customer number and last invoice amount"
    verified = client.post(
        f"/dpo/requests/{request.id}/verify",
        data={
            "how": how,
            "national_id": KARI.national_id,
            "csrf_token": case.context["csrf_token"],
        },
    )
    assert verified.status_code == 303
    [ready] = outbox(client, "export_link_ready")
    assert ready.email == "kari.nordmann@example.com" and ready.subject_id is None
    downloads = {d["file"]: path_of(d["url"]) for d in ready.context["downloads"]}

    client.cookies.clear()  # the person, not signed in, with only the e-mail
    got = client.get(downloads["json"])
    assert got.status_code == 200
    document = json.loads(got.content)
    assert document["export"]["subject"]["national_id"].startswith(KARI.national_id[:6])
    with zipfile.ZipFile(io.BytesIO(client.get(downloads["zip"]).content)) as archive:
        assert archive.namelist()
    with Session(client.app.state.engine) as db:
        events = db.exec(select(RequestEvent).where(RequestEvent.request_id == request.id)).all()
    assert [e.action for e in events].count("export_downloaded") == 2
    # A tampered link, and one past its time, download nothing.
    tampered = downloads["pdf"][:-3] + "AAA"
    assert client.get(tampered).status_code == 400
    clock.now += timedelta(days=settings.export_link_days, seconds=1)
    assert client.get(downloads["pdf"]).status_code == 410


def confirm_again(client: TestClient, link: str):
    """Use a confirmation link whose button was pressed once already."""
    from urllib.parse import parse_qs

    token = parse_qs(urlsplit(link).query)["link"][0]
    return client.post("/requests/confirm", data={"link": token, "csrf_token": csrf(client)})


def test_a_refused_link_speaks_the_language_of_its_email(client: TestClient, clock) -> None:
    client.cookies.clear()
    file_by_form(client)  # filed in bokmål (no language chosen): the e-mail is in bokmål
    link = confirm_link(client)
    clock.now += timedelta(days=3)
    expired = client.get(link, headers={"accept-language": "en"})
    assert expired.status_code == 410
    assert expired.context["page"].reason == "expired"
    assert 'lang="nb"' in expired.text
    # A tampered link says nothing about its language: the browser's preference holds.
    tampered = client.get(link[:-4] + "AAAA", headers={"accept-language": "en"})
    assert tampered.status_code == 400 and 'lang="en"' in tampered.text
    # Either way, the page leads to a new link.
    assert 'href="/requests/links"' in expired.text


def test_new_links_page_says_the_same_for_any_address(client: TestClient) -> None:
    file_by_form(client, "kari.nordmann@example.com")
    pages = [
        client.post(
            "/requests/links", data={"email": email, "csrf_token": csrf(client, "/requests/links")}
        )
        for email in ("kari.nordmann@example.com", "nobody.ever@example.org")
    ]
    assert [p.status_code for p in pages] == [303, 303]
    assert pages[0].headers["location"] == pages[1].headers["location"]
    # Only the address with a request got a message: a new confirmation link.
    assert [m.email for m in outbox(client, "request_confirm")] == ["kari.nordmann@example.com"] * 2


def test_an_unconfirmed_request_is_removed_by_the_clean_up(client: TestClient, clock) -> None:
    from portal.workflows.email_requests import clean_up

    file_by_form(client)
    with session_scope(client.app.state.engine) as db:
        clean_up(db, clock.now + timedelta(hours=49))
    with Session(client.app.state.engine) as db:
        assert db.exec(select(PendingRequest)).all() == []
