"""Sessions a person controls (ASVS 3.3.4): /sessions lists the browsers signed in as the viewer
with when each signed in and was last used, and ends all but this one; the hourly clean-up
removes ended, outlived and anonymous rows."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlmodel import select
from starlette.testclient import TestClient

from portal.app import create_app
from portal.audit import AuditEntry
from portal.db import session_scope, utcnow
from portal.identity.sessions import ABSOLUTE_LIFETIME, purge
from portal.models import StaffRoleName, WebSession
from portal.settings import Settings
from tests.support import Clock, csrf_token_from, sign_in_staff, signed_in_client
from tests.workflows.test_request_pages import add_person


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def client(settings: Settings, clock: Clock) -> Iterator[TestClient]:
    with TestClient(create_app(settings, now=clock), follow_redirects=False) as c:
        c.cookies.set("lang", "en")
        yield c


def other_browser(client: TestClient, **who: int) -> str:
    """A session for the same person in another browser; returns its row's id."""
    with TestClient(client.app, follow_redirects=False) as other:
        signed_in_client(other, secret_key=client.app.state.settings.secret_key, **who)
    with session_scope(client.app.state.engine) as db:
        return db.exec(select(WebSession.id).order_by(WebSession.created_at.desc())).first()


def test_a_person_sees_their_sessions_and_signs_out_everywhere_else(
    client: TestClient, clock: Clock
) -> None:
    person = add_person(client, "ordinary")
    somebody_else = add_person(client, "special_characters")
    other_browser(client, subject_id=person)
    other_browser(client, subject_id=person)
    theirs = other_browser(client, subject_id=somebody_else)
    signed_in_client(client, secret_key=client.app.state.settings.secret_key, subject_id=person)
    client.cookies.set("lang", "en")
    page = client.get("/sessions")
    assert page.status_code == 200
    rows = page.context["page"].rows
    assert len(rows) == 3 and sum(row.current for row in rows) == 1
    assert page.context["page"].others == 2
    assert "Sign out the 2 other browsers" in page.text
    done = client.post("/sessions/end-others", data={"csrf_token": csrf_token_from(page.text)})
    assert done.status_code == 303
    after = client.get("/sessions")
    assert after.context["flash"] == "Signed out of 2 other browsers."
    assert [row.current for row in after.context["page"].rows] == [True]
    assert client.get("/me").status_code == 200  # this browser stays signed in
    with session_scope(client.app.state.engine) as db:
        assert db.get(WebSession, theirs).ended_at is None  # another person's: untouched
        (entry,) = db.exec(select(AuditEntry).where(AuditEntry.action == "session.end_others"))
        assert entry.details == {"ended": 2} and entry.subject_id == person


def test_staff_have_the_same_page(client: TestClient) -> None:
    staff_id = sign_in_staff(client, StaffRoleName.staff, sub="agent")
    other_browser(client, staff_id=staff_id)
    page = client.get("/sessions")
    assert page.status_code == 200
    assert sorted(row.current for row in page.context["page"].rows) == [False, True]
    assert 'href="/sessions"' in client.get("/staff").text  # from the header, on every page


def test_without_a_session_the_page_asks_to_sign_in(client: TestClient) -> None:
    response = client.get("/sessions")
    assert response.status_code == 303 and response.headers["location"].startswith("/auth/login")
    csrf = csrf_token_from(client.get("/").text)
    refused = client.post("/sessions/end-others", data={"csrf_token": csrf})
    assert refused.status_code == 303


def test_idle_and_ended_sessions_are_not_listed(client: TestClient, clock: Clock) -> None:
    person = add_person(client, "ordinary")
    idle = other_browser(client, subject_id=person)
    with session_scope(client.app.state.engine) as db:
        db.get(WebSession, idle).last_seen_at = clock.now - timedelta(hours=2)
    signed_in_client(client, secret_key=client.app.state.settings.secret_key, subject_id=person)
    assert [row.current for row in client.get("/sessions").context["page"].rows] == [True]


def test_the_clean_up_removes_ended_outlived_and_anonymous_rows(engine) -> None:
    now = utcnow()
    old = now - ABSOLUTE_LIFETIME - timedelta(minutes=1)
    with session_scope(engine) as db:
        db.add(WebSession(id="live", created_at=now, last_seen_at=now))
        db.add(WebSession(id="ended", created_at=now, last_seen_at=now, ended_at=now))
        db.add(WebSession(id="anonymous-old", created_at=old, last_seen_at=old))
        db.add(WebSession(id="begun-long-ago", created_at=old, last_seen_at=now))
    with session_scope(engine) as db:
        assert purge(db, now) == 3
    with session_scope(engine) as db:
        assert [row.id for row in db.exec(select(WebSession))] == ["live"]
