"""Sign-in with the mock BankID provider: the round trip, and every way it must be refused.

Most tests run in process: the portal's OIDC client reaches the provider mounted in the same
app through an ASGI transport, which lets a test tamper with what the provider answers. The
`TestOverRealHttp` tests run both under uvicorn on loopback ports.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx2
import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey
from sqlalchemy.engine import Engine
from sqlmodel import select
from starlette.testclient import TestClient

from portal.app import create_app
from portal.db import session_scope
from portal.mock_idp import ClientConfig, MockIdpConfig, create_mock_idp
from portal.models import StaffMember, Subject, WebSession
from portal.settings import Settings
from tests.conftest import make_settings
from tests.support import AppTransport, LiveServer, live_server

PERSON = "15038512010"  # Åse Bjørnstad, one of the mock provider's test people
SE_PERSON = "198503744511"  # Jussi Mäkinen, a Swedish samordningsnummer
PENDING = re.compile(r'name="pending" value="([^"]+)"')


class TamperingTransport(AppTransport):
    """Passes the portal's back-channel calls to the provider, letting a test alter them."""

    def __init__(self) -> None:
        super().__init__()
        self.alter_token_request: Callable[[dict], dict] | None = None
        self.alter_id_token: Callable[[str], str] | None = None

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        if request.url.path.endswith("/token") and self.alter_token_request:
            form = {k: v[0] for k, v in parse_qs(request.content.decode()).items()}
            body = urlencode(self.alter_token_request(form)).encode()
            headers = {k: v for k, v in request.headers.items() if k != "content-length"}
            request = httpx2.Request(request.method, request.url, headers=headers, content=body)
        response = await super().handle_async_request(request)
        if request.url.path.endswith("/token") and self.alter_id_token:
            await response.aread()
            body = response.json()
            if "id_token" in body:
                body["id_token"] = self.alter_id_token(body["id_token"])
            return httpx2.Response(response.status_code, json=body)
        return response


@pytest.fixture
def transport() -> TamperingTransport:
    return TamperingTransport()


@pytest.fixture
def client(settings: Settings, transport: TamperingTransport) -> Iterator[TestClient]:
    app = create_app(settings, relying_party_kwargs={"transport": transport})
    transport.app = app
    with TestClient(app, follow_redirects=False) as client:
        yield client


def provider_key(var_dir: Path) -> RSAKey:
    return RSAKey.import_key((var_dir / "mock_idp_key.pem").read_bytes())


def resign(var_dir: Path, change: Callable[[dict], None]) -> Callable[[str], str]:
    """Re-sign the provider's ID token with its own key after changing its claims."""
    key = provider_key(var_dir)

    def alter(token: str) -> str:
        decoded = jwt.decode(token, key)
        claims = dict(decoded.claims)
        change(claims)
        return jwt.encode(decoded.header, claims, key)

    return alter


def start(client: TestClient) -> str:
    """Begin sign-in; returns the provider's login page URL."""
    response = client.get("/auth/login")
    assert response.status_code == 302
    return response.headers["location"]


def choose(client: TestClient, login_url: str, **choice: str) -> str:
    """Pick an identity on the provider's page; returns the callback URL it sends us back to."""
    page = client.get(login_url)
    assert page.status_code == 200, page.text
    pending = PENDING.search(page.text).group(1)
    response = client.post("/mock-idp/authorize", data={"pending": pending, **choice})
    assert response.status_code == 303, response.text
    return response.headers["location"]


def sign_in(client: TestClient, **choice: str) -> httpx2.Response:
    return client.get(choose(client, start(client), **choice))


def assert_refused(client: TestClient, response: httpx2.Response, reason: str) -> None:
    assert response.status_code == 400
    assert response.template.name == "errors/error.html"
    assert response.context["reason"] == reason
    assert client.get("/me").status_code == 303  # no session


def test_person_signs_in_and_is_greeted_by_name(client: TestClient, engine: Engine) -> None:
    client.get("/")
    anonymous_cookie = client.cookies["innsyn_session"]
    response = sign_in(client, person=PERSON)
    assert response.status_code == 303
    assert response.headers["location"] == "/me"
    assert client.cookies["innsyn_session"] != anonymous_cookie  # a new session, no fixation
    page = client.get("/me")
    assert page.status_code == 200
    assert "Hei, Åse Bjørnstad" in page.text
    with session_scope(engine) as db:
        subject = db.exec(select(Subject)).one()
        assert (subject.national_id, subject.country) == (PERSON, "NO")
        session = db.exec(select(WebSession).where(WebSession.subject_id == subject.id)).one()
        assert session.acr == "urn:grn:authn:no:bankid:high"
        assert session.authenticated_at is not None
        # The sign-in transaction (state, nonce, PKCE verifier) is gone from the session.
        assert not [key for key in session.data if key.startswith("_state_")]


def test_sign_in_returns_to_the_page_asked_for(client: TestClient) -> None:
    response = client.get("/auth/login?next=/me%3Ftab%3Dconsents")
    callback = choose(client, response.headers["location"], person=PERSON)
    assert client.get(callback).headers["location"] == "/me?tab=consents"


def test_second_sign_in_finds_the_same_person(client: TestClient, engine: Engine) -> None:
    sign_in(client, person=PERSON)
    client.cookies.clear()
    sign_in(client, person=PERSON)
    with session_scope(engine) as db:
        assert len(db.exec(select(Subject)).all()) == 1


def test_typed_swedish_samordningsnummer_signs_in(client: TestClient, engine: Engine) -> None:
    response = sign_in(client, national_id=SE_PERSON)
    assert response.headers["location"] == "/me"
    with session_scope(engine) as db:
        assert db.exec(select(Subject.country)).one() == "SE"


def test_staff_user_signs_in_with_roles_and_lands_on_their_work(
    client: TestClient, engine: Engine
) -> None:
    response = sign_in(client, staff="personvern")
    assert response.headers["location"] == "/dpo"  # the DPO's work: the request queue
    page = client.get("/staff")
    assert page.status_code == 200
    assert page.context["viewer"].roles == ("dpo",)
    with session_scope(engine) as db:
        assert db.exec(select(StaffMember.name)).one() == "Per Personvernombud"
        assert db.exec(select(Subject)).all() == []


def test_wrong_state_is_refused(client: TestClient) -> None:
    callback = choose(client, start(client), person=PERSON)
    forged = re.sub(r"state=[^&]+", "state=forged", callback)
    assert_refused(client, client.get(forged), "mismatching_state")


def test_callback_replayed_in_another_browser_is_refused(settings: Settings, client) -> None:
    callback = choose(client, start(client), person=PERSON)
    assert client.get(callback).status_code == 303
    with TestClient(client.app, follow_redirects=False) as attacker:
        assert_refused(attacker, attacker.get(callback), "mismatching_state")


def test_code_replayed_with_the_attackers_own_state_is_refused(client: TestClient) -> None:
    victim_callback = choose(client, start(client), person=PERSON)
    answer = parse_qs(urlsplit(victim_callback).query)
    code, issuer = answer["code"][0], answer["iss"][0]
    assert client.get(victim_callback).status_code == 303  # the victim signs in
    with TestClient(client.app, follow_redirects=False) as attacker:
        own_login = start(attacker)
        own_state = parse_qs(urlsplit(own_login).query)["state"][0]
        query = urlencode({"code": code, "state": own_state, "iss": issuer})
        response = attacker.get(f"/auth/callback?{query}")
        assert_refused(attacker, response, "invalid_grant")


@pytest.mark.parametrize("iss", [None, "http://evil.example/idp"])
def test_an_answer_without_the_providers_own_issuer_is_refused(
    client: TestClient, iss: str | None
) -> None:
    """RFC 9207: the mock provider advertises `iss` in its answers, so one without it, or with
    another issuer, may come from another provider (a mix-up attack)."""
    answer = parse_qs(urlsplit(choose(client, start(client), person=PERSON)).query)
    query = {"code": answer["code"][0], "state": answer["state"][0]}
    response = client.get(f"/auth/callback?{urlencode({**query, **({'iss': iss} if iss else {})})}")
    assert_refused(client, response, "issuer_mismatch")


def test_an_error_sent_to_the_callback_does_not_sign_a_person_out(client: TestClient) -> None:
    """Anyone can link a browser to the callback with error=: a signed-in person stays in."""
    assert client.get(choose(client, start(client), person=PERSON)).status_code == 303
    assert client.get("/me").status_code == 200
    forged = client.get("/auth/callback?error=access_denied&state=x")
    assert forged.status_code == 400
    assert client.get("/me").status_code == 200


@pytest.mark.parametrize(
    "alter",
    [
        pytest.param(lambda form: {k: v for k, v in form.items() if k != "code_verifier"},
                     id="missing-verifier"),
        pytest.param(lambda form: {**form, "code_verifier": "x" * 50}, id="wrong-verifier"),
    ],
)  # fmt: skip
def test_pkce_verifier_must_match(client, transport: TamperingTransport, alter) -> None:
    transport.alter_token_request = alter
    assert_refused(client, sign_in(client, person=PERSON), "invalid_grant")


def test_tampered_id_token_is_refused(client, transport: TamperingTransport) -> None:
    def flip_signature(token: str) -> str:
        head, body, signature = token.split(".")
        flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
        return f"{head}.{body}.{flipped}"

    transport.alter_id_token = flip_signature
    assert_refused(client, sign_in(client, person=PERSON), "invalid_id_token")


def test_id_token_with_altered_claims_but_old_signature_is_refused(client, transport) -> None:
    def swap_payload(token: str) -> str:
        import base64

        head, body, signature = token.split(".")
        claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
        claims["nnin"] = "02079425381"
        forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
        return f"{head}.{forged}.{signature}"

    transport.alter_id_token = swap_payload
    assert_refused(client, sign_in(client, person=PERSON), "invalid_id_token")


def test_id_token_signed_by_another_key_is_refused(client, transport) -> None:
    stranger = RSAKey.generate_key(2048)

    def resign_with_stranger(token: str) -> str:
        header = json.loads(
            __import__("base64").urlsafe_b64decode(token.split(".")[0] + "==").decode()
        )
        claims = jwt.decode(token, provider_key(client.app.state.settings.var_dir)).claims
        return jwt.encode(header, claims, stranger)

    transport.alter_id_token = resign_with_stranger
    assert_refused(client, sign_in(client, person=PERSON), "invalid_id_token")


@pytest.mark.parametrize(
    ("change", "why"),
    [
        (lambda c: c.update(exp=c["iat"] - 600, iat=c["iat"] - 900), "expired"),
        (lambda c: c.update(nonce="not-the-nonce-we-sent"), "wrong nonce"),
        (lambda c: c.update(aud="another-client"), "wrong audience"),
        (lambda c: c.update(iss="https://evil.example"), "wrong issuer"),
        (lambda c: c.pop("nonce"), "no nonce"),
    ],
)
def test_id_token_with_bad_claims_is_refused(
    client, transport: TamperingTransport, var_dir: Path, change, why: str
) -> None:
    transport.alter_id_token = resign(var_dir, change)
    assert_refused(client, sign_in(client, person=PERSON), "invalid_id_token")


def test_token_without_national_id_is_refused(client, transport, var_dir: Path) -> None:
    transport.alter_id_token = resign(var_dir, lambda c: c.pop("nnin"))
    assert_refused(client, sign_in(client, person=PERSON), "missing_national_id")


def test_token_with_invalid_national_id_is_refused(client, transport, var_dir: Path) -> None:
    transport.alter_id_token = resign(var_dir, lambda c: c.update(nnin="15038512011"))
    assert_refused(client, sign_in(client, person=PERSON), "invalid_national_id")


def test_cancelled_sign_in_says_so(client: TestClient) -> None:
    login_url = start(client)
    pending = PENDING.search(client.get(login_url).text).group(1)
    response = client.post("/mock-idp/authorize", data={"pending": pending, "cancel": "1"})
    assert_refused(client, client.get(response.headers["location"]), "access_denied")


def test_unregistered_redirect_uri_is_refused_by_the_provider(client: TestClient) -> None:
    login_url = start(client)
    evil = login_url.replace(
        "redirect_uri=http%3A%2F%2Ftestserver%2Fauth%2Fcallback",
        "redirect_uri=https%3A%2F%2Fevil.example%2Fcallback",
    )
    assert evil != login_url
    response = client.get(evil)
    assert response.status_code == 400
    assert "location" not in response.headers
    assert "evil.example" not in response.text or "not registered" in response.text.lower()


def test_provider_down_gives_a_clear_page(database_url: str, var_dir: Path, engine) -> None:
    settings = make_settings(
        database_url, var_dir, OIDC_DISCOVERY_URL="http://127.0.0.1:9/.well-known/x"
    )
    with TestClient(create_app(settings), follow_redirects=False) as client:
        response = client.get("/auth/login")
    assert response.status_code == 400
    assert response.context["reason"] == "provider_unavailable"


def browser_at(url: str) -> httpx2.Client:
    return httpx2.Client(base_url=url, follow_redirects=False, timeout=10)


class TestOverRealHttp:
    """The whole round trip over real sockets, as a browser and a provider would do it."""

    @staticmethod
    def browse_sign_in(browser: httpx2.Client, choice: dict[str, str]) -> None:
        location = browser.get("/auth/login").headers["location"]
        page = browser.get(location)
        pending = PENDING.search(page.text).group(1)
        login_action = location.split("?")[0]
        callback = browser.post(login_action, data={"pending": pending, **choice})
        response = browser.get(callback.headers["location"])
        assert response.status_code == 303, response.text

    def test_round_trip_and_sign_out(self, database_url: str, var_dir: Path, engine) -> None:
        def app(url: str):
            return create_app(make_settings(database_url, var_dir, PORTAL_BASE_URL=url))

        with live_server(app) as server, browser_at(server.url) as browser:
            self.browse_sign_in(browser, {"person": PERSON})
            home = browser.get("/me")
            assert "Hei, Åse Bjørnstad" in home.text
            copied = browser.cookies["innsyn_session"]
            token = re.search(r'name="csrf_token" value="([0-9a-f]+)"', home.text).group(1)
            response = browser.post("/auth/logout", data={"csrf_token": token})
            end_session = response.headers["location"]
            assert end_session.startswith(f"{server.url}/mock-idp/end-session?")
            # The person is named by the opaque sub, never by an ID token with their claims.
            assert "id_token_hint=" not in end_session and "logout_hint=" in end_session
            assert "client_id=innsyn-portal" in end_session
            for claim in ("Bj%C3%B8rnstad", "birthdate", "eyJ"):
                assert claim not in end_session
            back = browser.get(end_session)
            assert back.headers["location"].startswith(f"{server.url}/signed-out")
            assert browser.get("/signed-out").status_code == 200
            with httpx2.Client(base_url=server.url, cookies={"innsyn_session": copied}) as stale:
                assert stale.get("/me", follow_redirects=False).status_code == 303

    def test_another_provider_by_changing_only_oidc_settings(
        self, database_url: str, var_dir: Path, tmp_path: Path, engine: Engine
    ) -> None:
        """A second provider: its own issuer, key and port, the national ID in `pid`."""
        with LiveServer() as portal, LiveServer() as provider:
            provider.start(
                create_mock_idp(
                    MockIdpConfig(
                        issuer=provider.url,
                        key_file=tmp_path / "other_key.pem",
                        clients=[
                            ClientConfig(
                                "other-portal", "other-secret", (f"{portal.url}/auth/callback",)
                            )
                        ],
                        national_id_claim="pid",
                    )
                )
            )
            settings = make_settings(
                database_url,
                var_dir,
                PORTAL_BASE_URL=portal.url,
                OIDC_DISCOVERY_URL=f"{provider.url}/.well-known/openid-configuration",
                OIDC_CLIENT_ID="other-portal",
                OIDC_CLIENT_SECRET="other-secret",
                OIDC_NATIONAL_ID_CLAIM="pid",
            )
            assert not settings.mock_idp_mounted
            portal.start(create_app(settings))
            with browser_at(portal.url) as browser:
                self.browse_sign_in(browser, {"person": SE_PERSON})
                assert "Hei, Jussi Mäkinen" in browser.get("/me").text
                assert browser.get("/mock-idp/jwks").status_code == 404
        with session_scope(engine) as db:
            assert db.exec(select(Subject.national_id)).one() == SE_PERSON
