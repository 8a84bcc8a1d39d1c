"""An error in a page is the portal's 500 page (JSON under /api/), with the security headers
every other response carries, and its traceback goes to the log, not to the client."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.testclient import TestClient

from portal.app import create_app
from portal.settings import Settings
from portal.web.request_log import KeyValueFormatter


async def broken(request: Request) -> Response:
    raise RuntimeError("kaput: 01019012345")


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    app = create_app(settings)
    app.router.routes.insert(0, Route("/broken", broken))
    app.router.routes.insert(0, Route("/api/broken", broken))
    with TestClient(app, raise_server_exceptions=False) as c:
        c.cookies.set("lang", "en")
        yield c


@pytest.mark.parametrize("path", ["/broken", "/api/broken"])
def test_an_error_response_carries_the_security_headers(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 500
    assert "script-src 'self'" in response.headers["content-security-policy"]
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["cache-control"] == "no-store"
    assert "kaput" not in response.text and "Traceback" not in response.text


def test_the_page_is_the_portals_and_the_api_gets_json(client: TestClient) -> None:
    page = client.get("/broken")
    assert page.headers["content-type"].startswith("text/html")
    assert "Something went wrong on our side" in page.text
    api = client.get("/api/broken")
    assert api.json() == {"error": "server_error"}


def test_the_error_is_logged_on_one_line_without_its_message(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="portal.error"):
        client.get("/broken")
    (record,) = [r for r in caplog.records if r.name == "portal.error"]
    line = KeyValueFormatter().format(record)
    assert "\n" not in line and "path=/broken" in line
    assert "RuntimeError at test_errors.py:" in line and "01019012345" not in line
