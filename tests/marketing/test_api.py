"""The washing API: tokens (created by an admin, hashed, shown once, revocable), 401 without a
live token, each number's status, and an OpenAPI document that matches the routes."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import jsonschema
import pytest
from sqlmodel import select
from starlette.routing import Route
from starlette.testclient import TestClient

from portal.app import create_app
from portal.audit import AuditEntry
from portal.db import session_scope
from portal.marketing import block_list
from portal.marketing.api_tokens import ApiToken
from portal.marketing.block_list import Channel, Kind, NewEntry, Reason
from portal.models import StaffRoleName
from portal.settings import Settings
from tests.support import csrf_token_from, sign_in_staff

NOW = datetime(2026, 11, 24, 12, tzinfo=UTC)
CHECK = "/api/v1/block-list/check"


@pytest.fixture
def client(settings: Settings, demo_sources) -> Iterator[TestClient]:
    app = create_app(settings, now=lambda: NOW, sources=demo_sources)
    with TestClient(app, follow_redirects=False) as c:
        c.cookies.set("lang", "en")
        yield c


def create_token(client: TestClient, name: str = "Dialer 1") -> str:
    page = client.get("/staff/api-tokens")
    response = client.post(
        "/staff/api-tokens", data={"name": name, "csrf_token": csrf_token_from(page.text)}
    )
    assert response.status_code == 200
    return response.context["page"]["created"][1]


@pytest.fixture
def blocked(client: TestClient) -> None:
    with session_scope(client.app.state.engine) as db:
        block_list.replace_source(
            db,
            "nix",
            [NewEntry(Kind.phone, "+4791234567", Reason.external_register, Channel.phone)],
            now=NOW,
        )


def test_an_admin_creates_a_token_that_is_shown_once_and_stored_hashed(
    client: TestClient,
) -> None:
    sign_in_staff(client, StaffRoleName.admin)
    secret = create_token(client)
    assert secret.startswith("inn_") and len(secret) > 40
    again = client.get("/staff/api-tokens")
    assert secret not in again.text
    with session_scope(client.app.state.engine) as db:
        (token,) = db.exec(select(ApiToken)).all()
        actions = [e.action for e in db.exec(select(AuditEntry)).all()]
    assert token.token_hash != secret and secret not in token.token_hash
    assert actions == ["api_token.create"]


@pytest.mark.parametrize("role", [StaffRoleName.staff, StaffRoleName.dpo])
def test_only_an_admin_may_manage_tokens(client: TestClient, role: StaffRoleName) -> None:
    sign_in_staff(client, role, sub=str(role))
    assert client.get("/staff/api-tokens").status_code == 403


def test_the_api_answers_each_numbers_status(client: TestClient, blocked: None) -> None:
    sign_in_staff(client, StaffRoleName.admin)
    secret = create_token(client)
    client.cookies.clear()  # a dialer has no session
    response = client.post(
        CHECK,
        json={"numbers": ["+47 912 34 567", "0047 91234567", "91234568", "nope"]},
        headers={"Authorization": f"Bearer {secret}"},
    )
    assert response.status_code == 200
    assert [(r["e164"], r["status"], r["reasons"]) for r in response.json()["results"]] == [
        ("+4791234567", "blocked", ["external_register:nix"]),
        ("+4791234567", "blocked", ["external_register:nix"]),
        ("+4791234568", "clear", []),
        (None, "invalid", []),
    ]
    by_sms = client.post(
        CHECK,
        json={"numbers": ["91234567"], "channel": "sms"},
        headers={"Authorization": f"Bearer {secret}"},
    )
    assert by_sms.json()["results"][0]["status"] == "clear"  # the register is for calls


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer inn_not-a-real-token", "Basic dXNlcjpwYXNz", "Bearer ", "inn_x"],
)
def test_without_a_valid_token_the_api_says_401(
    client: TestClient, authorization: str | None
) -> None:
    headers = {"Authorization": authorization} if authorization is not None else {}
    response = client.post(CHECK, json={"numbers": ["91234567"]}, headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")


def test_a_revoked_token_gets_401(client: TestClient) -> None:
    sign_in_staff(client, StaffRoleName.admin)
    secret = create_token(client)
    headers = {"Authorization": f"Bearer {secret}"}
    cookies = dict(client.cookies)
    client.cookies.clear()
    assert client.post(CHECK, json={"numbers": ["91234567"]}, headers=headers).status_code == 200
    for name, value in cookies.items():
        client.cookies.set(name, value, domain="testserver.local")
    with session_scope(client.app.state.engine) as db:
        token_id = db.exec(select(ApiToken.id)).one()
    page = client.get("/staff/api-tokens")
    revoked = client.post(
        f"/staff/api-tokens/{token_id}/revoke", data={"csrf_token": csrf_token_from(page.text)}
    )
    assert revoked.status_code == 303
    client.cookies.clear()
    assert client.post(CHECK, json={"numbers": ["91234567"]}, headers=headers).status_code == 401


@pytest.mark.parametrize(
    "body",
    [
        [],
        {"numbers": []},
        {"numbers": "91234567"},
        {"numbers": ["1"] * 1001},
        {"numbers": ["91234567"], "channel": "pigeon"},
        {"numbers": ["91234567"], "extra": 1},
    ],
)
def test_a_bad_body_gets_400_with_a_reason(client: TestClient, body: object) -> None:
    sign_in_staff(client, StaffRoleName.admin)
    secret = create_token(client)
    client.cookies.clear()
    response = client.post(CHECK, json=body, headers={"Authorization": f"Bearer {secret}"})
    assert response.status_code == 400
    assert response.json()["message"]


def test_the_openapi_document_matches_the_routes_and_the_answers(
    client: TestClient, blocked: None
) -> None:
    document = client.get("/api/openapi.json").json()
    jsonschema.Draft202012Validator.check_schema(document["components"]["schemas"]["Result"])
    served = {
        (route.path, method.lower())
        for route in client.app.routes
        if isinstance(route, Route) and route.path.startswith("/api/v")
        for method in route.methods or ()
        if method != "HEAD"
    }
    described = {(path, method) for path, ops in document["paths"].items() for method in ops}
    assert described == served
    sign_in_staff(client, StaffRoleName.admin)
    secret = create_token(client)
    client.cookies.clear()
    answer = client.post(
        CHECK, json={"numbers": ["91234567", "x"]}, headers={"Authorization": f"Bearer {secret}"}
    ).json()
    schemas = document["components"]["schemas"]
    resolver_doc = {"components": {"schemas": schemas}}
    validator = jsonschema.Draft202012Validator(
        {**schemas["CheckResponse"], **resolver_doc},
    )
    validator.validate(answer)
    request = {**schemas["CheckRequest"], **resolver_doc}
    jsonschema.Draft202012Validator(request).validate({"numbers": ["1"], "channel": "sms"})
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft202012Validator(request).validate({"numbers": ["1"], "extra": 1})


def test_a_deeply_nested_body_is_a_400_in_json_with_the_security_headers(
    client: TestClient,
) -> None:
    sign_in_staff(client, StaffRoleName.admin)
    secret = create_token(client)
    client.cookies.clear()
    nested = b"[" * 100_000 + b"]" * 100_000  # 200 kB: under the size limit, too deep to parse
    response = client.post(
        CHECK,
        content=nested,
        headers={"Authorization": f"Bearer {secret}", "Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert response.json() == {"error": "bad_request", "message": "the body is not valid JSON"}
    assert "content-security-policy" in response.headers
    assert response.headers["x-content-type-options"] == "nosniff"
