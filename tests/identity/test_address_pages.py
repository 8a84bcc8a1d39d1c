"""/me/addresses through HTTP: add an address, confirm it by the link from the outbox, see its
rows on /me, withdraw it; a link of someone else's or used twice does nothing."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from sqlmodel import Session, select
from starlette.testclient import TestClient

from portal.app import create_app
from portal.jobs.outbox import OutboxMessage
from portal.models import SubjectIdentifier
from portal.settings import Settings
from tests.conftest import make_settings
from tests.support import add_demo_subject, signed_in_client

OLD_ADDRESS = "ola1979@example.org"


@pytest.fixture
def client(database_url, var_dir, engine, demo_sources) -> Iterator[TestClient]:
    # No session memory: /me is read afresh after each change.
    settings: Settings = make_settings(database_url, var_dir, ME_CACHE_SECONDS="0")
    with TestClient(create_app(settings, sources=demo_sources), follow_redirects=False) as c:
        yield c


def sign_in(client: TestClient, key: str) -> int:
    subject_id = add_demo_subject(client.app.state.engine, key)
    signed_in_client(client, secret_key=client.app.state.settings.secret_key, subject_id=subject_id)
    client.cookies.set("lang", "en")
    return subject_id


def add(client: TestClient, address: str):
    csrf = client.get("/me/addresses").context["csrf_token"]
    return client.post("/me/addresses", data={"email": address, "csrf_token": csrf})


def link(client: TestClient) -> str:
    with Session(client.app.state.engine) as db:
        message = db.exec(
            select(OutboxMessage)
            .where(OutboxMessage.kind == "confirm_address")
            .order_by(OutboxMessage.id.desc())
        ).first()
    parts = urlsplit(message.context["confirm_url"])
    return f"{parts.path}?{parts.query}"


def press(client: TestClient, path: str):
    page = client.get(path)
    assert page.status_code == 200, page.text
    token = page.context["page"].token
    return client.post(
        "/me/addresses/confirm", data={"link": token, "csrf_token": page.context["csrf_token"]}
    )


def test_a_person_proves_an_address_and_sees_its_rows(client: TestClient) -> None:
    sign_in(client, "two_systems")
    assert OLD_ADDRESS not in client.get("/me").text
    assert 'href="/me/addresses"' in client.get("/me").text
    added = add(client, OLD_ADDRESS)
    assert added.status_code == 303
    waiting = client.get("/me/addresses").context["page"]
    assert [w.email for w in waiting.waiting] == [OLD_ADDRESS] and waiting.proven == ()
    path = link(client)
    assert press(client, path).status_code == 303
    assert OLD_ADDRESS in client.get("/me").text
    page = client.get("/me/addresses").context["page"]
    assert [(p.email, p.by_link) for p in page.proven] == [(OLD_ADDRESS, True)]
    # The link used again: refused, with a clear page.
    again = client.post(
        "/me/addresses/confirm",
        data={"link": path.split("link=")[1], "csrf_token": page_csrf(client)},
    )
    assert again.status_code == 409 and again.context["page"].reason == "used"
    # Withdrawn: its rows are no longer shown.
    [proven] = page.proven
    withdrawn = client.post(
        f"/me/addresses/address/{proven.id}/withdraw", data={"csrf_token": page_csrf(client)}
    )
    assert withdrawn.status_code == 303
    assert OLD_ADDRESS not in client.get("/me").text


def page_csrf(client: TestClient) -> str:
    return client.get("/me/addresses").context["csrf_token"]


def test_someone_elses_link_does_nothing(client: TestClient) -> None:
    sign_in(client, "two_systems")
    add(client, OLD_ADDRESS)
    path = link(client)
    kari = sign_in(client, "ordinary")
    refused = client.get(path)
    assert refused.status_code == 403 and refused.context["page"].reason == "other_person"
    with Session(client.app.state.engine) as db:
        assert (
            db.exec(select(SubjectIdentifier).where(SubjectIdentifier.subject_id == kari)).all()
            == []
        )


def test_the_link_needs_a_sign_in_first(client: TestClient) -> None:
    sign_in(client, "two_systems")
    add(client, OLD_ADDRESS)
    path = link(client)
    client.cookies.clear()
    out = client.get(path)
    assert out.status_code == 303 and out.headers["location"].startswith("/auth/login?next=")


def test_adding_is_rate_limited_per_address(client: TestClient) -> None:
    sign_in(client, "two_systems")
    limit = client.app.state.settings.rate_limit_per_address
    for _ in range(limit):
        assert add(client, OLD_ADDRESS).status_code == 303
    limited = add(client, OLD_ADDRESS)
    assert limited.status_code == 429 and "try again" in limited.context["page"].error


def test_a_malformed_address_is_refused_on_the_page(client: TestClient) -> None:
    sign_in(client, "two_systems")
    refused = add(client, "x" * 400)
    assert refused.status_code == 400 and refused.context["page"].error
