"""The mock BankID provider, driven as a relying party would drive it."""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import re
import secrets
import socket
import stat
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx2
import pytest
import uvicorn
from itsdangerous import URLSafeSerializer
from joserfc import jwt
from joserfc.jwk import KeySet
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.testclient import TestClient
from stdnum import luhn
from stdnum.no import fodselsnummer
from stdnum.se import personnummer

from portal import mock_idp
from portal.identity.national_id import InvalidNationalId, parse_national_id
from portal.mock_idp import cli
from portal.mock_idp.config import ClientConfig, MockIdpConfig

ISSUER = "http://testserver/mock-idp"
CALLBACK = "http://rp.test/auth/callback"
PORTAL = ClientConfig("portal", "s3cret", (CALLBACK, "http://rp.test/alt?from=idp"))
OTHER = ClientConfig("other", "other-secret", ("https://other.test/cb",))


class Clock:
    """A hand-moved clock, so expiry is tested without sleeping."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@dataclass(frozen=True)
class Flow:
    verifier: str
    state: str
    nonce: str

    @property
    def challenge(self) -> str:
        digest = hashlib.sha256(self.verifier.encode()).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def new_flow() -> Flow:
    return Flow(secrets.token_urlsafe(48), secrets.token_urlsafe(8), secrets.token_urlsafe(8))


def make_config(tmp_path: Path, **changes: Any) -> MockIdpConfig:
    settings: dict[str, Any] = {"key_file": tmp_path / "key.pem", **changes}
    return MockIdpConfig(issuer=ISSUER, clients=[PORTAL, OTHER], **settings)


def make_client(config: MockIdpConfig) -> TestClient:
    # Mounted as the portal mounts it, so relative URLs and the issuer path are exercised.
    app = Starlette(routes=[Mount("/mock-idp", mock_idp.create_mock_idp(config))])
    return TestClient(app, follow_redirects=False)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def client(tmp_path: Path, clock: Clock) -> TestClient:
    return make_client(make_config(tmp_path, now=clock))


def authorize(client: TestClient, flow: Flow, **changes: str | None) -> httpx2.Response:
    params: dict[str, str | None] = {
        "client_id": PORTAL.client_id,
        "redirect_uri": CALLBACK,
        "response_type": "code",
        "scope": "openid profile",
        "state": flow.state,
        "nonce": flow.nonce,
        "code_challenge": flow.challenge,
        "code_challenge_method": "S256",
        **changes,
    }
    return client.get(
        "/mock-idp/authorize", params={k: v for k, v in params.items() if v is not None}
    )


def pending_field(page: httpx2.Response) -> str:
    # Read from the HTML, as a browser would post it back.
    match = re.search(r'name="pending" value="([^"]+)"', page.text)
    assert match, page.text
    return match.group(1)


def login(client: TestClient, flow: Flow, **fields: str) -> httpx2.Response:
    page = authorize(client, flow)
    assert page.status_code == 200
    return client.post("/mock-idp/authorize", data={"pending": pending_field(page), **fields})


def query_of(response: httpx2.Response) -> dict[str, str]:
    assert response.status_code == 303, response.text
    return {k: v[0] for k, v in parse_qs(urlsplit(response.headers["location"]).query).items()}


def sign_in(client: TestClient, flow: Flow, **fields: str) -> str:
    answer = query_of(login(client, flow, **fields))
    assert answer["state"] == flow.state
    assert answer["iss"] == ISSUER
    return answer["code"]


def exchange(
    client: TestClient, code: str, verifier: str | None, **changes: Any
) -> httpx2.Response:
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": CALLBACK}
    if verifier is not None:
        data["code_verifier"] = verifier
    auth = changes.pop("auth", (PORTAL.client_id, PORTAL.client_secret))
    return client.post("/mock-idp/token", data={**data, **changes}, auth=auth)


def verified_claims(client: TestClient, id_token: str) -> dict[str, Any]:
    keys = KeySet.import_key_set(client.get("/mock-idp/jwks").json())
    token = jwt.decode(id_token, keys, algorithms=["RS256"])
    assert token.header["kid"] == keys.keys[0].kid
    return dict(token.claims)


def tokens_for(client: TestClient, **fields: str) -> tuple[dict[str, Any], Flow]:
    flow = new_flow()
    response = exchange(client, sign_in(client, flow, **fields), flow.verifier)
    assert response.status_code == 200, response.text
    return response.json(), flow


def first_person(client: TestClient) -> str:
    return authorize(client, new_flow()).context["page"].people[0].national_id


# --- discovery and keys ----------------------------------------------------------------------


def test_discovery_document(client: TestClient) -> None:
    meta = client.get("/mock-idp/.well-known/openid-configuration").json()
    assert meta["issuer"] == ISSUER
    for name, path in [
        ("authorization_endpoint", "/authorize"),
        ("token_endpoint", "/token"),
        ("userinfo_endpoint", "/userinfo"),
        ("jwks_uri", "/jwks"),
        ("end_session_endpoint", "/end-session"),
    ]:
        assert meta[name] == ISSUER + path
        assert client.get(urlsplit(meta[name]).path).status_code != 404
    assert meta["response_types_supported"] == ["code"]
    assert meta["grant_types_supported"] == ["authorization_code"]
    assert meta["code_challenge_methods_supported"] == ["S256"]
    assert meta["id_token_signing_alg_values_supported"] == ["RS256"]
    assert set(meta["token_endpoint_auth_methods_supported"]) == {
        "client_secret_basic",
        "client_secret_post",
    }
    assert {"nnin", "roles", "birthdate", "acr"} <= set(meta["claims_supported"])
    assert "urn:grn:authn:no:bankid:high" in meta["acr_values_supported"]
    assert "openid" in meta["scopes_supported"]
    assert meta["subject_types_supported"]


def test_jwks_holds_the_public_signing_key_only(client: TestClient) -> None:
    (key,) = client.get("/mock-idp/jwks").json()["keys"]
    assert (key["kty"], key["use"], key["alg"]) == ("RSA", "sig", "RS256")
    assert key["kid"]
    assert not {"d", "p", "q", "dp", "dq", "qi"} & set(key)


# --- authorization request -------------------------------------------------------------------


@pytest.mark.parametrize(
    "changes",
    [
        {"client_id": "nobody"},
        {"client_id": None},
        {"redirect_uri": "http://evil.test/auth/callback"},
        {"redirect_uri": CALLBACK + "/"},
        {"redirect_uri": CALLBACK + "?next=http://evil.test"},
        {"redirect_uri": "http://rp.test/alt"},  # registered with its query: exact match only
        {"redirect_uri": OTHER.redirect_uris[0]},  # another client's
        {"redirect_uri": None},
    ],
)
def test_unknown_client_or_redirect_uri_shows_a_page_and_never_redirects(
    client: TestClient, changes: dict[str, str | None]
) -> None:
    response = authorize(client, new_flow(), **changes)
    assert response.status_code == 400
    assert "location" not in response.headers
    assert response.template.name == "message.html"


def test_a_repeated_redirect_uri_is_refused_on_a_page(client: TestClient) -> None:
    flow = new_flow()
    query = (
        f"client_id=portal&redirect_uri={CALLBACK}&redirect_uri=http://evil.test/"
        f"&response_type=code&scope=openid&code_challenge={flow.challenge}"
        "&code_challenge_method=S256"
    )
    response = client.get(f"/mock-idp/authorize?{query}")
    assert response.status_code == 400
    assert "location" not in response.headers


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"code_challenge": None, "code_challenge_method": None}, "invalid_request"),
        ({"code_challenge": None}, "invalid_request"),
        ({"code_challenge_method": "plain"}, "invalid_request"),
        ({"code_challenge_method": None}, "invalid_request"),
        ({"code_challenge": "too-short"}, "invalid_request"),
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"response_type": None}, "unsupported_response_type"),
        ({"scope": "profile"}, "invalid_scope"),
        ({"prompt": "none"}, "login_required"),
    ],
)
def test_other_errors_go_back_to_the_client(
    client: TestClient, changes: dict[str, str | None], error: str
) -> None:
    flow = new_flow()
    response = authorize(client, flow, **changes)
    assert response.headers["location"].startswith(CALLBACK + "?")
    answer = query_of(response)
    assert answer["error"] == error
    assert answer["error_description"]
    assert answer["state"] == flow.state


def test_redirect_keeps_a_registered_query(client: TestClient) -> None:
    flow = new_flow()
    page = authorize(client, flow, redirect_uri="http://rp.test/alt?from=idp")
    response = client.post(
        "/mock-idp/authorize",
        data={"pending": pending_field(page), "person": first_person(client)},
    )
    answer = query_of(response)
    assert answer["from"] == "idp"
    assert answer["code"]


# --- the login page --------------------------------------------------------------------------


def test_login_page_offers_people_and_staff_safely(client: TestClient) -> None:
    response = authorize(client, new_flow())
    assert response.status_code == 200
    assert response.template.name == "login.html"
    page = response.context["page"]
    people = mock_idp.default_people()
    assert [p.name for p in page.people] == [p.name for p in people]
    assert [u.username for u in page.staff] == [u.username for u in mock_idp.default_staff()]
    html = response.text
    assert "&lt;b&gt;Bold&lt;/b&gt;" in html
    assert "<b>" not in html
    assert "O&#39;Brien" in html
    # The portal's CSP forbids inline script and style; the page must not need them.
    assert "<script" not in html
    assert "<style" not in html
    assert "style=" not in html
    assert "script-src" not in response.headers["content-security-policy"]
    css = client.get("/mock-idp/static/mock_idp.css")
    assert css.status_code == 200
    assert css.headers["content-type"].startswith("text/css")


def test_people_are_asked_for_at_each_render(tmp_path: Path) -> None:
    offered: list[mock_idp.TestPerson] = []
    client = make_client(make_config(tmp_path, people=lambda: list(offered)))
    assert authorize(client, new_flow()).context["page"].people == []
    offered.append(mock_idp.TestPerson("02079425381", "Nina", "Ny"))
    (person,) = authorize(client, new_flow()).context["page"].people
    assert person.name == "Nina Ny"


def test_cancel_returns_access_denied(client: TestClient) -> None:
    flow = new_flow()
    answer = query_of(login(client, flow, cancel="1"))
    assert (answer["error"], answer["state"]) == ("access_denied", flow.state)
    assert "code" not in answer


@pytest.mark.parametrize("typed", ["15108695077", "300290 12345", "12345", "880320-0018"])
def test_invalid_typed_number_shows_the_page_again(client: TestClient, typed: str) -> None:
    with pytest.raises(InvalidNationalId) as expected:
        parse_national_id(typed)
    response = login(client, new_flow(), national_id=typed)
    assert response.status_code == 422
    assert "location" not in response.headers
    page = response.context["page"]
    assert page.error == expected.value.message
    assert page.typed == typed
    assert 'role="alert"' in response.text


def test_tampered_or_expired_pending_field_is_refused(client: TestClient, clock: Clock) -> None:
    pending = pending_field(authorize(client, new_flow()))
    person = first_person(client)
    # Change where the code would go, then sign with a guessed key or keep the real signature.
    _, payload = URLSafeSerializer("guess").loads_unsafe(pending)
    payload["redirect_uri"] = "http://evil.test/"
    forged = URLSafeSerializer("guess", salt="authorize").dumps(payload)
    spliced = f"{forged.rpartition('.')[0]}.{pending.rpartition('.')[2]}"
    for bad in [pending[:-2] + "xx", forged, spliced, "", "garbage"]:
        response = client.post("/mock-idp/authorize", data={"pending": bad, "person": person})
        assert response.status_code == 400
        assert "location" not in response.headers
    clock.now += 601
    response = client.post("/mock-idp/authorize", data={"pending": pending, "person": person})
    assert response.status_code == 400


# --- tokens ----------------------------------------------------------------------------------


def test_listed_person_signs_in(client: TestClient, clock: Clock) -> None:
    national_id = first_person(client)
    tokens, flow = tokens_for(client, person=national_id)
    assert tokens["token_type"] == "Bearer"
    assert tokens["expires_in"] > 0
    claims = verified_claims(client, tokens["id_token"])
    jwt.JWTClaimsRegistry(
        now=int(clock.now),
        iss={"essential": True, "value": ISSUER},
        aud={"essential": True, "value": PORTAL.client_id},
        nonce={"essential": True, "value": flow.nonce},
        exp={"essential": True},
    ).validate(claims)
    person = next(p for p in mock_idp.default_people() if p.national_id == national_id)
    assert claims["nnin"] == national_id
    assert len(claims["nnin"]) == 11
    assert (claims["given_name"], claims["family_name"]) == (person.given_name, person.family_name)
    assert claims["name"] == f"{person.given_name} {person.family_name}"
    assert claims["birthdate"] == person.birthdate.isoformat()
    assert claims["acr"] == "urn:grn:authn:no:bankid:high"
    assert claims["amr"] == ["bankid"]
    assert claims["iat"] <= claims["auth_time"] + 1 and claims["exp"] > claims["iat"]
    assert national_id not in claims["sub"]
    userinfo = client.get(
        "/mock-idp/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"}
    ).json()
    assert userinfo["sub"] == claims["sub"]
    assert {k: userinfo[k] for k in ("nnin", "name", "birthdate")} == {
        k: claims[k] for k in ("nnin", "name", "birthdate")
    }


def test_sub_is_stable_and_distinct(client: TestClient) -> None:
    people = authorize(client, new_flow()).context["page"].people
    subs = []
    for national_id in (people[0].national_id, people[0].national_id, people[1].national_id):
        tokens, _ = tokens_for(client, person=national_id)
        subs.append(verified_claims(client, tokens["id_token"])["sub"])
    assert subs[0] == subs[1] != subs[2]


def test_client_secret_post_works(client: TestClient) -> None:
    flow = new_flow()
    code = sign_in(client, flow, person=first_person(client))
    response = exchange(
        client,
        code,
        flow.verifier,
        auth=None,
        client_id=PORTAL.client_id,
        client_secret=PORTAL.client_secret,
    )
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"


@pytest.mark.parametrize(
    "auth",
    [(PORTAL.client_id, "wrong"), ("nobody", "s3cret"), (OTHER.client_id, PORTAL.client_secret)],
)
def test_wrong_client_credentials_are_401(client: TestClient, auth: tuple[str, str]) -> None:
    flow = new_flow()
    code = sign_in(client, flow, person=first_person(client))
    response = exchange(client, code, flow.verifier, auth=auth)
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert response.headers["www-authenticate"].startswith("Basic")
    # Client authentication comes first, so a failed attempt does not burn the code.
    assert exchange(client, code, flow.verifier).status_code == 200


def test_no_client_authentication_is_401(client: TestClient) -> None:
    flow = new_flow()
    code = sign_in(client, flow, person=first_person(client))
    assert exchange(client, code, flow.verifier, auth=None).status_code == 401


@pytest.mark.parametrize("verifier", [None, "", "x" * 43, "short"])
def test_missing_or_wrong_code_verifier_is_invalid_grant(
    client: TestClient, verifier: str | None
) -> None:
    code = sign_in(client, new_flow(), person=first_person(client))
    response = exchange(client, code, verifier)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


def test_code_is_single_use_and_reuse_revokes_its_tokens(client: TestClient) -> None:
    flow = new_flow()
    code = sign_in(client, flow, person=first_person(client))
    first = exchange(client, code, flow.verifier)
    assert first.status_code == 200
    second = exchange(client, code, flow.verifier)
    assert second.status_code == 400
    assert second.json()["error"] == "invalid_grant"
    headers = {"Authorization": f"Bearer {first.json()['access_token']}"}
    assert client.get("/mock-idp/userinfo", headers=headers).status_code == 401


def test_expired_code_is_invalid_grant(client: TestClient, clock: Clock) -> None:
    flow = new_flow()
    code = sign_in(client, flow, person=first_person(client))
    clock.now += 61
    response = exchange(client, code, flow.verifier)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"
    assert "expired" in response.json()["error_description"]


@pytest.mark.parametrize(
    "changes",
    [
        {"redirect_uri": "http://rp.test/alt?from=idp"},
        {"redirect_uri": ""},
        {"auth": (OTHER.client_id, OTHER.client_secret)},
        {"code": "made-up"},
    ],
)
def test_code_bound_to_client_and_redirect_uri(client: TestClient, changes: dict[str, Any]) -> None:
    flow = new_flow()
    code = sign_in(client, flow, person=first_person(client))
    response = exchange(client, changes.pop("code", code), flow.verifier, **changes)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


def test_unsupported_grant_type(client: TestClient) -> None:
    flow = new_flow()
    code = sign_in(client, flow, person=first_person(client))
    response = exchange(client, code, flow.verifier, grant_type="password")
    assert response.json()["error"] == "unsupported_grant_type"


def test_typed_swedish_samordningsnummer_signs_in(client: TestClient) -> None:
    serial = "19900178123"  # 18 January 1990, day + 60
    typed = f"{serial[2:8]}-{serial[8:]}{luhn.calc_check_digit(serial[2:])}"
    expected = parse_national_id(typed)
    assert expected.kind == "samordningsnummer"
    assert not personnummer.is_valid(typed)
    tokens, _ = tokens_for(client, national_id=typed)
    claims = verified_claims(client, tokens["id_token"])
    assert claims["nnin"] == expected.number
    assert len(claims["nnin"]) == 12
    assert claims["birthdate"] == "1990-01-18"
    assert claims["acr"] == "urn:grn:authn:se:bankid"
    assert claims["name"]


def test_typed_number_of_a_listed_person_gets_their_name(client: TestClient) -> None:
    person = next(p for p in mock_idp.default_people() if p.family_name == "Öberg")
    number = person.national_id
    tokens, _ = tokens_for(client, national_id=f"{number[2:8]}+{number[8:]}")  # over 100
    claims = verified_claims(client, tokens["id_token"])
    assert (claims["nnin"], claims["name"]) == (number, person.name)


def test_national_id_claim_name_is_configurable(tmp_path: Path) -> None:
    client = make_client(make_config(tmp_path, national_id_claim="pid"))
    meta = client.get("/mock-idp/.well-known/openid-configuration").json()
    assert "pid" in meta["claims_supported"]
    national_id = first_person(client)
    tokens, _ = tokens_for(client, person=national_id)
    claims = verified_claims(client, tokens["id_token"])
    assert claims["pid"] == national_id
    assert "nnin" not in claims


@pytest.mark.parametrize("roles_claim", ["roles", "groups"])
def test_staff_user_gets_roles_and_no_national_id(tmp_path: Path, roles_claim: str) -> None:
    client = make_client(make_config(tmp_path, roles_claim=roles_claim))
    for user in mock_idp.default_staff():
        tokens, _ = tokens_for(client, staff=user.username)
        claims = verified_claims(client, tokens["id_token"])
        assert claims[roles_claim] == list(user.roles)
        assert claims["name"] == f"{user.given_name} {user.family_name}"
        assert "nnin" not in claims
        assert "birthdate" not in claims
        assert claims["sub"]
    roles = {role for user in mock_idp.default_staff() for role in user.roles}
    assert roles == {"staff", "dpo", "admin"}


def test_unknown_staff_user_is_refused(client: TestClient) -> None:
    response = login(client, new_flow(), staff="mallory")
    assert response.status_code == 422
    assert "location" not in response.headers


# --- userinfo and sign-out -------------------------------------------------------------------


def test_userinfo_needs_a_valid_bearer_token(client: TestClient, clock: Clock) -> None:
    missing = client.get("/mock-idp/userinfo")
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"].startswith("Bearer")
    wrong = client.get("/mock-idp/userinfo", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    assert 'error="invalid_token"' in wrong.headers["www-authenticate"]
    tokens, _ = tokens_for(client, person=first_person(client))
    clock.now += 301
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert client.get("/mock-idp/userinfo", headers=headers).status_code == 401


def test_end_session_without_redirect_shows_a_page(client: TestClient) -> None:
    response = client.get("/mock-idp/end-session")
    assert response.status_code == 200
    assert response.template.name == "message.html"


@pytest.mark.parametrize("target", [CALLBACK, "http://rp.test/", "http://rp.test:80/bye"])
def test_end_session_redirects_to_the_clients_origin(client: TestClient, target: str) -> None:
    tokens, _ = tokens_for(client, person=first_person(client))
    response = client.get(
        "/mock-idp/end-session",
        params={
            "id_token_hint": tokens["id_token"],
            "post_logout_redirect_uri": target,
            "state": "bye",
        },
    )
    assert response.status_code == 303
    assert response.headers["location"].startswith(target)
    assert query_of(response)["state"] == "bye"
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert client.get("/mock-idp/userinfo", headers=headers).status_code == 401


def test_end_session_by_logout_hint_and_client_id(client: TestClient) -> None:
    """The portal names the person by their opaque sub, never by an ID token in the URL."""
    tokens, _ = tokens_for(client, person=first_person(client))
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    sub = client.get("/mock-idp/userinfo", headers=headers).json()["sub"]
    response = client.get(
        "/mock-idp/end-session",
        params={"client_id": "portal", "logout_hint": sub, "post_logout_redirect_uri": CALLBACK},
    )
    assert response.status_code == 303
    assert client.get("/mock-idp/userinfo", headers=headers).status_code == 401


@pytest.mark.parametrize(
    "params",
    [
        {"post_logout_redirect_uri": "http://evil.test/"},
        {"post_logout_redirect_uri": "https://rp.test/"},  # another scheme: another origin
        {"post_logout_redirect_uri": "http://rp.test:8080/"},
        {"post_logout_redirect_uri": "/relative"},
        {"post_logout_redirect_uri": "https://other.test/", "client_id": "portal"},
        {"client_id": "nobody"},
        {"id_token_hint": "not.a.token"},
    ],
)
def test_end_session_refuses_foreign_redirects(client: TestClient, params: dict[str, str]) -> None:
    response = client.get("/mock-idp/end-session", params=params)
    assert response.status_code == 400
    assert "location" not in response.headers


def test_end_session_refuses_a_hint_signed_by_another_key(tmp_path: Path) -> None:
    stranger = make_client(make_config(tmp_path / "stranger"))
    tokens, _ = tokens_for(stranger, person=first_person(stranger))
    client = make_client(make_config(tmp_path))
    response = client.get(
        "/mock-idp/end-session",
        params={"id_token_hint": tokens["id_token"], "post_logout_redirect_uri": CALLBACK},
    )
    assert response.status_code == 400


# --- configuration ---------------------------------------------------------------------------


def test_refuses_to_run_in_production(tmp_path: Path) -> None:
    with pytest.raises(mock_idp.MockIdpRefused, match="never runs in production"):
        mock_idp.create_mock_idp(make_config(tmp_path, production=True))
    assert not (tmp_path / "key.pem").exists()


def test_key_file_is_generated_once_and_reused(tmp_path: Path) -> None:
    key_file = tmp_path / "var" / "key.pem"
    first = make_client(make_config(tmp_path, key_file=key_file))
    assert key_file.exists()
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    pem = key_file.read_bytes()
    second = make_client(make_config(tmp_path, key_file=key_file))
    assert key_file.read_bytes() == pem
    kids = [c.get("/mock-idp/jwks").json()["keys"][0]["kid"] for c in (first, second)]
    assert kids[0] == kids[1]
    # A token from one instance verifies against the other's keys.
    tokens, _ = tokens_for(first, person=first_person(first))
    assert verified_claims(second, tokens["id_token"])["iss"] == ISSUER


def test_a_broken_key_file_is_reported_not_replaced(tmp_path: Path) -> None:
    (tmp_path / "key.pem").write_text("not a key")
    with pytest.raises(ValueError, match="not an RSA private key"):
        mock_idp.create_mock_idp(make_config(tmp_path))
    assert (tmp_path / "key.pem").read_text() == "not a key"


def test_parse_clients_reads_the_documented_shape() -> None:
    text = json.dumps(
        [
            {"client_id": "a", "client_secret": "x", "redirect_uris": ["http://a.test/cb"]},
            {"client_id": "b", "client_secret": "y", "redirect_uris": ["https://b.test/cb?q=1"]},
        ]
    )
    assert mock_idp.parse_clients(text) == [
        ClientConfig("a", "x", ("http://a.test/cb",)),
        ClientConfig("b", "y", ("https://b.test/cb?q=1",)),
    ]


GOOD = {"client_id": "a", "client_secret": "x", "redirect_uris": ["http://a.test/cb"]}


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("", "empty"),
        ("{not json", "not valid JSON"),
        (json.dumps(GOOD), "list"),
        ("[]", "list"),
        (json.dumps(["x"]), r"MOCK_IDP_CLIENTS\[0\] must be an object"),
        (json.dumps([GOOD, {**GOOD, "client_id": "b", "client_secret": ""}]), r"\[1\]\.client_se"),
        (json.dumps([{**GOOD, "client_id": None}]), r"\[0\]\.client_id"),
        (json.dumps([{**GOOD, "redirect_uris": []}]), r"\[0\]\.redirect_uris"),
        (json.dumps([{**GOOD, "redirect_uris": "http://a.test/cb"}]), r"\[0\]\.redirect_uris"),
        (json.dumps([{**GOOD, "redirect_uris": ["/cb"]}]), r"redirect_uris\[0\]: '/cb'"),
        (json.dumps([{**GOOD, "redirect_uris": ["http://a.test/#x"]}]), "fragment"),
        (json.dumps([{**GOOD, "redirect_uri": "x"}]), "unknown field 'redirect_uri'"),
        (json.dumps([GOOD, GOOD]), r"\[1\]\.client_id: 'a' is listed twice"),
    ],
)
def test_parse_clients_names_the_item_and_field(value: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        mock_idp.parse_clients(value)


def test_default_people_have_valid_numbers_and_awkward_names() -> None:
    people = mock_idp.default_people()
    parsed = [parse_national_id(p.national_id) for p in people]
    for person, nid in zip(people, parsed, strict=True):
        assert nid.number == person.national_id
        assert person.birthdate == nid.birth_date is not None
        if nid.country == "NO":
            assert fodselsnummer.is_valid(nid.number)
        elif nid.kind == "personnummer":
            assert personnummer.is_valid(nid.number)
    kinds = {(nid.country, nid.kind) for nid in parsed}
    assert {("NO", "fodselsnummer"), ("NO", "d_number"), ("SE", "personnummer")} <= kinds
    assert ("SE", "samordningsnummer") in kinds
    names = " ".join(p.name for p in people)
    for needle in ("æ", "ø", "å", "ä", "ö", "'", "<b>"):
        assert needle in names.lower()
    assert len(people) >= 8


# --- the command line ------------------------------------------------------------------------


def parse_cli(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    cli.register(parser.add_subparsers(dest="command"))
    return parser.parse_args(["mock-idp", *argv])


def test_cli_defaults_and_environment(tmp_path: Path) -> None:
    args = parse_cli("--key-file", str(tmp_path / "k.pem"))
    assert (args.host, args.port) == ("127.0.0.1", 8081)
    assert parse_cli().key_file == Path("var/mock_idp_key.pem")
    env = {"MOCK_IDP_CLIENTS": json.dumps([GOOD]), "OIDC_NATIONAL_ID_CLAIM": "socialno"}
    config = cli.config_from(args, env)
    assert config.issuer == "http://127.0.0.1:8081"
    assert config.national_id_claim == "socialno"
    assert config.clients == mock_idp.parse_clients(env["MOCK_IDP_CLIENTS"])
    assert cli.config_from(parse_cli("--national-id-claim", "pid"), env).national_id_claim == "pid"
    assert cli.config_from(
        args, {"MOCK_IDP_CLIENTS": env["MOCK_IDP_CLIENTS"]}
    ).national_id_claim == ("nnin")
    assert cli.config_from(parse_cli("--port", "9000"), env).issuer == "http://127.0.0.1:9000"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"PORTAL_ENV": "production", "MOCK_IDP_CLIENTS": json.dumps([GOOD])}, "production"),
        ({}, "MOCK_IDP_CLIENTS is not set"),
        ({"MOCK_IDP_CLIENTS": "[]"}, "MOCK_IDP_CLIENTS"),
    ],
)
def test_cli_refuses_with_exit_code_2(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    env: dict[str, str],
    message: str,
) -> None:
    for name in ("PORTAL_ENV", "MOCK_IDP_CLIENTS"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    args = parse_cli("--key-file", str(tmp_path / "k.pem"))
    assert args.func(args) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "k.pem").exists()


# --- a real server and a plain Authlib client ------------------------------------------------


@pytest.fixture
def live_issuer(tmp_path: Path) -> Iterator[str]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    issuer = f"http://127.0.0.1:{sock.getsockname()[1]}"
    live = ClientConfig("live", "live-secret", ("http://127.0.0.1:9/callback",))
    app = mock_idp.create_mock_idp(
        MockIdpConfig(issuer=issuer, key_file=tmp_path / "key.pem", clients=[live])
    )
    config = uvicorn.Config(app, log_level="warning", lifespan="off", ws="none", http="h11")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    yield issuer
    server.should_exit = True
    thread.join(10)
    sock.close()


def test_full_flow_over_http_with_authlib(live_issuer: str) -> None:
    from authlib.common.security import generate_token
    from authlib.integrations.httpx_client import OAuth2Client

    with httpx2.Client(base_url=live_issuer) as browser:
        meta = browser.get("/.well-known/openid-configuration").json()
        person = mock_idp.default_people()[5]
        with OAuth2Client(
            client_id="live",
            client_secret="live-secret",
            scope="openid profile",
            redirect_uri="http://127.0.0.1:9/callback",
            code_challenge_method="S256",
        ) as oauth:
            verifier, nonce = generate_token(48), generate_token(20)
            url, state = oauth.create_authorization_url(
                meta["authorization_endpoint"], code_verifier=verifier, nonce=nonce
            )
            assert "code_challenge=" in url
            page = browser.get(url)
            answer = browser.post(
                meta["authorization_endpoint"],
                data={"pending": pending_field(page), "person": person.national_id},
            )
            token = oauth.fetch_token(
                meta["token_endpoint"],
                authorization_response=answer.headers["location"],
                code_verifier=verifier,
            )
            keys = KeySet.import_key_set(browser.get(meta["jwks_uri"]).json())
            id_token = jwt.decode(token["id_token"], keys, algorithms=["RS256"])
            jwt.JWTClaimsRegistry(
                iss={"essential": True, "value": live_issuer},
                aud={"essential": True, "value": "live"},
                nonce={"essential": True, "value": nonce},
                exp={"essential": True},
                sub={"essential": True},
            ).validate(id_token.claims)
            userinfo = oauth.get(meta["userinfo_endpoint"]).json()
    assert state
    assert id_token.claims["nnin"] == person.national_id
    assert userinfo["sub"] == id_token.claims["sub"]
    assert userinfo["name"] == person.name
    assert userinfo["birthdate"] == person.birthdate.isoformat()
