"""The web layer without a provider round trip: pages, headers, CSRF, sessions, logging."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import select
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from portal.app import create_app
from portal.db import session_scope, utcnow
from portal.identity.auth import fresh_sign_in_required, person_required
from portal.models import StaffMember, StaffRole, StaffRoleName, Subject, WebSession
from portal.routes.public import back_to
from portal.settings import Settings
from portal.web.request_log import KeyValueFormatter
from tests.conftest import TEST_SECRET, make_settings
from tests.support import csrf_token_from, in_process_app, sign_in_staff, signed_in_client


class Clock:
    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self):
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def client(settings: Settings, clock: Clock) -> Iterator[TestClient]:
    with TestClient(in_process_app(settings, now=clock), follow_redirects=False) as client:
        yield client


def add_subject(engine: Engine, given: str = "Kari", family: str = "Nordmann") -> int:
    with session_scope(engine) as db:
        subject = Subject(
            national_id="15038512010", country="NO", given_name=given, family_name=family
        )
        db.add(subject)
        db.flush()
        return subject.id


def add_staff(engine: Engine, *roles: StaffRoleName) -> int:
    with session_scope(engine) as db:
        member = StaffMember(issuer="https://idp", sub="s1", name="Siri Service")
        db.add(member)
        db.flush()
        for role in roles:
            db.add(StaffRole(staff_id=member.id, role=role))
        return member.id


def test_landing_page_explains_rights_and_offers_sign_in(client: TestClient) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert response.template.name == "public/index.html"
    assert response.context["page"].session_expired is False
    assert 'href="/auth/login"' in response.text
    assert '<main id="main"' in response.text
    assert 'href="#main"' in response.text


def test_landing_page_names_the_company_from_the_data_map(client: TestClient) -> None:
    client.cookies.set("lang", "en")
    response = client.get("/")
    page = response.context["page"]
    controller = client.app.state.datamap.controller
    assert (page.controller_name, page.organisation_number, page.contact) == (
        controller.name,
        controller.organisation_number,
        controller.contact,
    )
    assert f"Privacy at {controller.name}" in response.text
    assert f"{controller.name} (organisation number {controller.organisation_number})" in (
        response.text
    )


def test_security_headers(client: TestClient) -> None:
    headers = client.get("/").headers
    csp = headers["content-security-policy"]
    assert "script-src 'self'" in csp
    assert "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "no-referrer"
    assert "strict-transport-security" not in headers  # development
    cookie = headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie


def test_production_adds_hsts_and_secure_cookie(
    database_url: str, var_dir: Path, engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("INNSYN_PSEUDONYM_KEY", "p" * 32)
    settings = make_settings(
        database_url,
        var_dir,
        PORTAL_ENV="production",
        PORTAL_BASE_URL="https://testserver",
        OIDC_DISCOVERY_URL="https://idp.example/.well-known/openid-configuration",
        OIDC_CLIENT_ID="portal",
        OIDC_CLIENT_SECRET="secret",
        SMTP_HOST="smtp.example",
        MAIL_FROM="personvern@nordlys.example",
    )
    with TestClient(create_app(settings), base_url="https://testserver") as client:
        response = client.get("/")
        # The development mailbox does not exist in production.
        assert client.get("/dev/mailbox").status_code == 404
    assert response.headers["strict-transport-security"].startswith("max-age=")
    assert "form-action 'self' https://idp.example" in response.headers["content-security-policy"]
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("__Host-innsyn=") and "Secure" in cookie
    assert "/mock-idp" not in [getattr(r, "path", "") for r in client.app.routes]


def test_healthz_checks_the_database(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok"}


def test_request_log_has_no_query_string(client: TestClient, caplog) -> None:
    with caplog.at_level(logging.INFO, logger="portal.request"):
        client.get("/healthz?fnr=01019012345&email=kari@example.no")
    formatter = KeyValueFormatter()
    lines = [formatter.format(r) for r in caplog.records if r.name == "portal.request"]
    assert len(lines) == 1
    assert " msg=request method=GET path=/healthz status=200 ms=" in lines[0]
    assert "01019012345" not in lines[0] and "kari" not in lines[0]


def test_unknown_page_is_a_friendly_404(client: TestClient) -> None:
    response = client.get("/no/such/page")
    assert response.status_code == 404
    assert response.template.name == "errors/error.html"


class TestCSRF:
    def test_post_without_token_is_refused_and_changes_nothing(self, client: TestClient) -> None:
        client.get("/")
        response = client.post("/language", data={"lang": "en", "next": "/"})
        assert response.status_code == 403
        assert response.context["reason"] == "csrf"
        assert "lang" not in response.cookies
        assert client.get("/").context["language"] == "nb"

    def test_post_with_wrong_token_is_refused(self, client: TestClient) -> None:
        client.get("/")
        response = client.post("/language", data={"lang": "en", "csrf_token": "0" * 64})
        assert response.status_code == 403

    def test_token_of_another_session_is_refused(self, settings: Settings) -> None:
        app = create_app(settings)
        with TestClient(app) as alice, TestClient(app) as mallory:
            token = csrf_token_from(mallory.get("/").text)
            alice.get("/")
            response = alice.post("/language", data={"lang": "en", "csrf_token": token})
        assert response.status_code == 403

    def test_form_token_is_accepted(self, client: TestClient) -> None:
        token = csrf_token_from(client.get("/").text)
        response = client.post("/language", data={"lang": "en", "next": "/", "csrf_token": token})
        assert response.status_code == 303
        assert response.cookies["lang"] == "en"
        assert client.get("/").context["language"] == "en"

    def test_htmx_header_token_is_accepted(self, client: TestClient) -> None:
        token = client.get("/").context["csrf_token"]
        response = client.post(
            "/language", data={"lang": "sv"}, headers={"X-CSRF-Token": token, "HX-Request": "true"}
        )
        assert response.status_code == 303
        assert response.cookies["lang"] == "sv"

    def test_multipart_form_token_is_accepted_and_body_reaches_the_route(
        self, client: TestClient
    ) -> None:
        token = client.get("/").context["csrf_token"]
        response = client.post(
            "/language",
            data={"lang": "sv", "csrf_token": token},
            files={"attachment": ("list.csv", b"phone\n+4791234567\n" * 1000, "text/csv")},
        )
        assert response.status_code == 303
        assert response.cookies["lang"] == "sv"

    def test_the_switch_returns_to_the_page_it_was_on_with_its_table_page(
        self, client: TestClient
    ) -> None:
        page = client.get("/signed-out?page=3")
        assert 'name="next" id="language-next" value="/signed-out?page=3"' in page.text
        token = page.context["csrf_token"]
        back = "/me/data/shop_orders?page=3"
        response = client.post("/language", data={"lang": "sv", "next": back, "csrf_token": token})
        assert response.status_code == 303
        assert response.headers["location"] == "/me/data/shop_orders?page=3"

    @pytest.mark.parametrize(
        ("next_url", "expected"),
        [
            ("/me/data/shop_orders?page=2", "/me/data/shop_orders?page=2"),
            ("/me/requests/new?type=erasure", "/me/requests/new?type=erasure"),
            ("/dpo?status=open&page=2", "/dpo?status=open&page=2"),
            # The audit log's filters: codes, the portal's own numbers, dates.
            (
                "/dpo/audit?action=request.view&who=staff-3&request=12&from=2026-01-01&page=2",
                "/dpo/audit?action=request.view&who=staff-3&request=12&from=2026-01-01&page=2",
            ),
            (
                "/dpo?assignee=me&overdue=1&sort=received",
                "/dpo?assignee=me&overdue=1&sort=received",
            ),
            # Only the place on the page comes back: never a token, a search or an address.
            ("/me/exports/download?link=abc.def", "/me/exports/download"),
            ("/me?page=2&email=kari%40example.no", "/me?page=2"),
            ("/me?page=kari%40example.no", "/me"),
            ("/me?page=" + "9" * 41, "/me"),
            ("https://evil.example/?page=2", "/"),
            ("", "/"),
        ],
    )
    def test_the_way_back_keeps_only_the_place_on_the_page(
        self, next_url: str, expected: str
    ) -> None:
        assert back_to(next_url) == expected

    def test_open_redirect_is_refused(self, client: TestClient) -> None:
        token = client.get("/").context["csrf_token"]
        response = client.post(
            "/language", data={"lang": "sv", "next": "//evil.example/", "csrf_token": token}
        )
        assert response.headers["location"] == "/"


class TestSessions:
    def test_me_needs_sign_in(self, client: TestClient) -> None:
        response = client.get("/me")
        assert response.status_code == 303
        assert response.headers["location"] == "/auth/login?next=%2Fme"

    def test_sign_in_brings_you_back_to_the_page_with_its_query(self, client: TestClient) -> None:
        response = client.get("/me/data/shop_orders?page=2")
        assert response.headers["location"] == (
            "/auth/login?next=%2Fme%2Fdata%2Fshop_orders%3Fpage%3D2"
        )

    def test_signed_in_person_is_greeted_by_name_escaped(
        self, client: TestClient, engine: Engine
    ) -> None:
        subject_id = add_subject(engine, given="<b>Bold</b>", family="O'Brien")
        signed_in_client(client, secret_key=TEST_SECRET, subject_id=subject_id)
        response = client.get("/me")
        assert response.status_code == 200
        assert response.context["viewer"].name == "<b>Bold</b> O'Brien"
        assert "&lt;b&gt;Bold&lt;/b&gt;" in response.text
        assert "<b>Bold</b>" not in response.text

    def test_a_person_has_their_navigation_and_staff_the_consoles(
        self, client: TestClient, engine: Engine
    ) -> None:
        signed_in_client(client, secret_key=TEST_SECRET, subject_id=add_subject(engine))
        client.cookies.set("lang", "en")
        page = client.get("/me/consent").text
        assert '<nav class="person-nav" aria-label="Your pages">' in page
        assert '<a href="/me/consent" aria-current="page">Consent and marketing</a>' in page
        assert page.count('aria-current="page"') == 1
        sign_in_staff(client, StaffRoleName.staff)
        staff = client.get("/staff")
        assert staff.status_code == 200
        assert "person-nav" not in staff.text and "Innsyn shows what" not in staff.text
        assert '<nav class="console-nav" aria-label="Console">' in staff.text
        assert '<a href="/staff" aria-current="page">Overview</a>' in staff.text
        assert staff.text.count('aria-current="page"') == 1
        assert 'href="/dpo"' not in staff.text  # customer service has no request queue

    def test_signed_in_visitor_is_sent_from_landing_to_their_page(
        self, client: TestClient, engine: Engine
    ) -> None:
        signed_in_client(client, secret_key=TEST_SECRET, subject_id=add_subject(engine))
        assert client.get("/").headers["location"] == "/me"

    def test_sign_out_ends_the_session_on_the_server(
        self, client: TestClient, engine: Engine
    ) -> None:
        signed_in_client(client, secret_key=TEST_SECRET, subject_id=add_subject(engine))
        copied_cookie = client.cookies["innsyn_session"]
        token = client.get("/me").context["csrf_token"]
        response = client.post("/auth/logout", data={"csrf_token": token})
        assert response.status_code == 303
        assert response.headers["location"].startswith(
            "http://testserver/mock-idp/end-session?client_id=innsyn-portal"
        )
        assert client.cookies["innsyn_session"] != copied_cookie
        # A copy of the cookie taken before sign-out opens nothing.
        client.cookies.clear()
        client.cookies.set("innsyn_session", copied_cookie, domain="testserver.local")
        assert client.get("/me").status_code == 303
        with session_scope(engine) as db:
            live = db.exec(select(WebSession).where(WebSession.ended_at.is_(None))).all()
        assert live == []

    def test_idle_timeout_ends_the_session(
        self, client: TestClient, engine: Engine, clock: Clock
    ) -> None:
        signed_in_client(client, secret_key=TEST_SECRET, subject_id=add_subject(engine))
        assert client.get("/me").status_code == 200
        clock.now += timedelta(minutes=29)
        assert client.get("/me").status_code == 200  # activity keeps it alive
        clock.now += timedelta(minutes=29)
        assert client.get("/me").status_code == 200
        clock.now += timedelta(minutes=31)
        assert client.get("/me").status_code == 303
        landing = client.get("/")
        assert landing.context["page"].session_expired is False  # the new session is a fresh one

    def test_expired_session_is_explained_on_the_landing_page(
        self, client: TestClient, engine: Engine, clock: Clock
    ) -> None:
        signed_in_client(client, secret_key=TEST_SECRET, subject_id=add_subject(engine))
        clock.now += timedelta(minutes=31)
        assert client.get("/").context["page"].session_expired is True

    def test_tampered_cookie_opens_nothing(self, client: TestClient, engine: Engine) -> None:
        signed_in_client(client, secret_key=TEST_SECRET, subject_id=add_subject(engine))
        value = client.cookies["innsyn_session"]
        tampered = value[:-2] + ("AA" if value[-2:] != "AA" else "BB")
        client.cookies.set("innsyn_session", tampered, domain="testserver.local")
        assert client.get("/me").status_code == 303

    def test_anonymous_visits_store_nothing(self, client: TestClient, engine: Engine) -> None:
        client.get("/")
        client.get("/healthz")
        with session_scope(engine) as db:
            assert db.exec(select(WebSession)).all() == []


class TestGuards:
    def test_staff_page_needs_staff(self, client: TestClient, engine: Engine) -> None:
        assert client.get("/staff").status_code == 303
        signed_in_client(client, secret_key=TEST_SECRET, subject_id=add_subject(engine))
        assert client.get("/staff").status_code == 403

    def test_staff_member_sees_roles(self, client: TestClient, engine: Engine) -> None:
        staff_id = add_staff(engine, StaffRoleName.dpo)
        signed_in_client(client, secret_key=TEST_SECRET, staff_id=staff_id)
        response = client.get("/staff")
        assert response.status_code == 200
        assert response.context["viewer"].roles == ("dpo",)

    def test_fresh_sign_in_guard(self, settings: Settings, engine: Engine, clock: Clock) -> None:
        @person_required
        @fresh_sign_in_required
        async def sensitive(request: Request) -> PlainTextResponse:
            return PlainTextResponse("sensitive")

        app = create_app(settings, now=clock)
        app.router.routes.insert(0, Route("/sensitive", sensitive))
        with TestClient(app, follow_redirects=False) as client:
            signed_in_client(
                client,
                secret_key=TEST_SECRET,
                subject_id=add_subject(engine),
                authenticated_at=clock.now,
            )
            assert client.get("/sensitive").text == "sensitive"
            clock.now += timedelta(seconds=settings.fresh_sign_in_seconds + 1)
            response = client.get("/sensitive")
        assert response.status_code == 303
        assert response.headers["location"] == "/auth/login?next=%2Fsensitive&fresh=1"
