"""Every console URL checks its role on the server: whatever the console grows, a person's
session reaches none of it, and customer service reaches none of the DPO's pages, by GET or by
a POST carrying a valid CSRF token. The routes are read from the app, so a page added later is
checked without changing this test."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from starlette.routing import Route
from starlette.testclient import TestClient

from portal.app import create_app
from portal.models import StaffRoleName
from portal.settings import Settings
from portal.workflows.requests import RequestType
from tests.support import csrf_token_from, sign_in_staff
from tests.workflows.test_dpo_pages import load
from tests.workflows.test_request_pages import add_person, file_by_hand, sign_in_subject

PARAMETER = re.compile(r"\{(\w+)(?::(\w+))?\}")


@pytest.fixture
def client(settings: Settings, demo_sources) -> Iterator[TestClient]:
    with TestClient(create_app(settings, sources=demo_sources), follow_redirects=False) as c:
        c.cookies.set("lang", "en")
        yield c


def console_urls(client: TestClient, prefix: str, request_id: int) -> list[tuple[str, str]]:
    """(method, URL) of every route under ``prefix``, parameters filled in: ids with a request
    that exists, an action with "approve"."""

    def fill(match: re.Match[str]) -> str:
        name, kind = match.group(1), match.group(2)
        if name == "action":
            return "approve"
        return str(request_id) if kind == "int" or name == "id" else "x"

    found = []
    for route in client.app.routes:
        if isinstance(route, Route) and route.path.startswith(prefix):
            url = PARAMETER.sub(fill, route.path)
            found += [(method, url) for method in sorted(route.methods or ()) if method != "HEAD"]
    assert len(found) > 5, found
    return found


def refused(client: TestClient, urls: list[tuple[str, str]], token: str) -> list[str]:
    """The URLs that did not answer 403."""
    wrong = []
    for method, url in urls:
        if method == "GET":
            response = client.get(url)
        else:
            response = client.request(method, url, data={"csrf_token": token, "reason": "x"})
        if response.status_code != 403:
            wrong.append(f"{method} {url}: {response.status_code}")
    return wrong


def test_a_persons_session_reaches_no_console_url(client: TestClient) -> None:
    subject_id = add_person(client, "ordinary")
    request_id = file_by_hand(client, subject_id, RequestType.erasure)
    sign_in_subject(client, subject_id)
    token = csrf_token_from(client.get("/me").text)
    urls = console_urls(client, "/dpo", request_id) + console_urls(client, "/staff", request_id)
    assert refused(client, urls, token) == []


def test_customer_service_reaches_none_of_the_dpos_pages_and_cannot_approve(
    client: TestClient,
) -> None:
    subject_id = add_person(client, "ordinary")
    request_id = file_by_hand(client, subject_id, RequestType.erasure)
    before = load(client, request_id)
    sign_in_staff(client, StaffRoleName.staff, sub="customer-service")
    token = csrf_token_from(client.get("/staff").text)
    urls = console_urls(client, "/dpo", request_id)
    assert ("POST", f"/dpo/requests/{request_id}/approve") in urls
    assert refused(client, urls, token) == []
    after = load(client, request_id)
    assert (after.status, after.closed_at) == (before.status, before.closed_at)
