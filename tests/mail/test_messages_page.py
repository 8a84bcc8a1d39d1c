"""A person's Messages page: everything sent to them, newest first, unread marked; opening one
marks it read; never another person's; a confirmation link stays in the e-mail."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import select
from starlette.testclient import TestClient

from portal.app import create_app
from portal.db import session_scope
from portal.jobs.outbox import OutboxMessage, queue_message
from portal.models import Assurance
from portal.settings import Settings
from portal.workflows.requests import Actor, RequestType, apply, file_request
from tests.conftest import TEST_SECRET
from tests.mail.support import START, add_person
from tests.support import Clock, signed_in_client


@pytest.fixture
def client(settings: Settings, demo_sources) -> Iterator[TestClient]:
    clock = Clock()
    clock.now = START + timedelta(days=2)
    with TestClient(create_app(settings, now=clock, sources=demo_sources)) as c:
        yield c


def sign_in(client: TestClient, subject_id: int) -> None:
    signed_in_client(client, secret_key=TEST_SECRET, subject_id=subject_id)
    client.cookies.set("lang", "en")


def file_and_extend(engine: Engine, subject_id: int) -> int:
    with session_scope(engine) as db:
        request = file_request(
            db,
            subject_id=subject_id,
            type=RequestType.access,
            assurance=Assurance.high,
            actor=Actor.person,
            language="nb",
            now=START,
        )
        apply(
            db,
            request,
            "extend",
            actor=Actor.dpo,
            reason="Many systems to search.",
            now=START + timedelta(days=1),
            data={"months": 1},
        )
        return request.id or 0


def test_the_person_sees_their_messages_newest_first_and_opening_marks_read(
    client: TestClient, engine: Engine
) -> None:
    subject_id = add_person(engine, email=None)
    other = add_person(engine, national_id="02017012345")
    file_and_extend(engine, subject_id)
    file_and_extend(engine, other)
    sign_in(client, subject_id)

    listing = client.get("/me/messages")
    assert listing.status_code == 200
    page = listing.context["page"]
    assert [row.subject for row in page.messages] == [
        "We need more time for your request (reference 1)",
        "We have received your request (reference 1)",
    ]
    assert page.unread == 2 and all(row.unread for row in page.messages)
    # Not yet delivered: the page says it is on its way.
    assert {row.how for row in page.messages} == {"Being sent by e-mail"}
    assert 'href="/me/messages" aria-current="page"' in listing.text

    opened = client.get(page.messages[0].href)
    assert opened.status_code == 200
    assert "Many systems to search." in opened.text
    assert '<a href="http://testserver/me/requests/1">' in opened.text
    again = client.get("/me/messages").context["page"]
    assert again.unread == 1 and [row.unread for row in again.messages] == [False, True]

    with session_scope(engine) as db:
        theirs = db.exec(select(OutboxMessage).where(OutboxMessage.subject_id == other)).first()
        assert theirs is not None
        their_id = theirs.id
    assert client.get(f"/me/messages/{their_id}").status_code == 404


def nav_count(text: str) -> str | None:
    """The count on the navigation's link to Messages, or None when it shows none."""
    found = re.search(
        r'<a href="/me/messages"[^>]*>[^<]*<span class="nav-count"[^>]*>(\d+)<',
        text,
    )
    return found.group(1) if found else None


def test_the_navigation_counts_the_unread_messages_on_every_person_page(
    client: TestClient, engine: Engine
) -> None:
    subject_id = add_person(engine, email=None)
    sign_in(client, subject_id)
    assert nav_count(client.get("/me/consent").text) is None  # nothing to count
    file_and_extend(engine, subject_id)
    consent = client.get("/me/consent").text
    assert nav_count(consent) == "2"
    assert 'aria-label="Messages, 2 unread"' in consent  # said to a screen reader too
    listing = client.get("/me/messages")
    assert nav_count(listing.text) == "2"
    # The page of the message just opened counts it read already.
    opened = client.get(listing.context["page"].messages[0].href)
    assert nav_count(opened.text) == "1"
    assert nav_count(client.get("/me/requests").text) == "1"
    client.get(listing.context["page"].messages[1].href)
    assert nav_count(client.get("/me/requests").text) is None


def test_a_confirmation_link_stays_in_the_email(client: TestClient, engine: Engine) -> None:
    subject_id = add_person(engine)
    with session_scope(engine) as db:
        message = queue_message(
            db,
            "confirm_address",
            language="en",
            subject_id=subject_id,
            email="new@example.no",
            context={"confirm_url": "/verify/secret-token"},
            now=START,
        )
        message_id = message.id
    sign_in(client, subject_id)
    opened = client.get(f"/me/messages/{message_id}")
    assert opened.status_code == 200
    assert "Confirm your e-mail address" in opened.text
    assert "secret-token" not in opened.text


def test_messages_need_a_signed_in_person(client: TestClient) -> None:
    response = client.get("/me/messages", follow_redirects=False)
    assert response.status_code in (302, 303)
