"""When the portal's database cannot be reached, a page answers 503 with Retry-After: a page in
the person's language saying nothing was changed (JSON under /api/), with the security headers,
no traceback, and one line in the log. Other database errors stay the 500 they are."""

from __future__ import annotations

import logging
import socket
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from itsdangerous import Signer
from sqlalchemy.exc import InterfaceError, OperationalError, ProgrammingError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.testclient import TestClient

from portal.app import create_app
from portal.settings import Settings
from portal.web.errors import RETRY_AFTER_SECONDS, database_unavailable
from portal.web.request_log import KeyValueFormatter
from tests.conftest import TEST_SECRET, make_settings


def _closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def down(var_dir: Path) -> Iterator[TestClient]:
    """The portal with its database at a port where nothing answers, and a session cookie, so
    the very first thing a request does (load the session) needs the database."""
    url = f"postgresql+psycopg://postgres@127.0.0.1:{_closed_port()}/innsyn"
    app = create_app(make_settings(url, var_dir))
    with TestClient(app, raise_server_exceptions=False) as client:
        cookie = Signer(TEST_SECRET, salt="innsyn.session").sign("some-session").decode()
        client.cookies.set("innsyn_session", cookie)
        yield client


@pytest.mark.parametrize(
    ("language", "title", "told"),
    [
        ("nb", "Tjenesten er utilgjengelig en liten stund", "ingenting du sendte"),
        ("en", "The service is briefly unavailable", "nothing you sent was changed or lost"),
    ],
)
def test_an_unreachable_database_is_a_503_page_in_the_persons_language(
    down: TestClient, language: str, title: str, told: str
) -> None:
    down.cookies.set("lang", language)
    response = down.get("/me")
    assert response.status_code == 503
    assert response.headers["retry-after"] == str(RETRY_AFTER_SECONDS)
    assert response.headers["content-type"].startswith("text/html")
    assert title in response.text and told in response.text
    assert "script-src 'self'" in response.headers["content-security-policy"]
    assert response.headers["cache-control"] == "no-store"
    assert "Traceback" not in response.text and "psycopg" not in response.text


def test_the_api_gets_json(down: TestClient) -> None:
    response = down.post(
        "/api/v1/block-list/check", json={}, headers={"authorization": "Bearer not-a-token"}
    )
    assert response.status_code == 503
    assert response.json() == {"error": "unavailable"}
    assert response.headers["retry-after"] == str(RETRY_AFTER_SECONDS)


def test_a_form_post_is_a_503_too_not_a_csrf_failure(down: TestClient) -> None:
    # The CSRF check needs the session, which needs the database.
    response = down.post("/language", data={"language": "en"})
    assert response.status_code == 503


def test_the_outage_is_one_log_line_without_a_traceback(
    down: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="portal.error"):
        down.get("/me")
    (record,) = [r for r in caplog.records if r.name == "portal.error"]
    assert record.levelno == logging.WARNING and record.exc_info is None
    line = KeyValueFormatter().format(record)
    assert "\n" not in line
    assert "path=/me" in line and "error=OperationalError" in line
    assert "127.0.0.1" not in line  # the driver's message (host, port) stays out


def _raising(error: Exception):
    async def endpoint(request: Request) -> Response:
        raise error

    return endpoint


def _operational(orig: Exception) -> OperationalError:
    return OperationalError("SELECT 1", {}, orig)


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (_operational(psycopg.OperationalError("server closed the connection")), 503),
        (InterfaceError("SELECT 1", {}, psycopg.InterfaceError("connection is closed")), 503),
        (PoolTimeout("QueuePool limit of size 5 overflow 10 reached"), 503),
        (_operational(sqlite3.OperationalError("database is locked")), 503),
        (_operational(sqlite3.OperationalError("no such table: job")), 500),
        (ProgrammingError("SELECT 1", {}, psycopg.ProgrammingError("syntax error")), 500),
    ],
    ids=["pg-closed", "pg-interface", "pool-timeout", "sqlite-locked", "sqlite-schema", "bug"],
)
def test_which_errors_are_an_outage(settings: Settings, error: Exception, status: int) -> None:
    app = create_app(settings)
    app.router.routes.insert(0, Route("/failing", _raising(error)))
    with TestClient(app, raise_server_exceptions=False) as client:
        assert client.get("/failing").status_code == status


def test_an_outage_wrapped_in_another_error_is_still_one() -> None:
    try:
        try:
            raise _operational(psycopg.OperationalError("terminating connection"))
        except OperationalError as inner:
            raise RuntimeError("the export could not be read") from inner
    except RuntimeError as outer:
        assert database_unavailable(outer)
    group = ExceptionGroup("tasks", [ValueError("x"), PoolTimeout("pool")])
    assert database_unavailable(group)
    assert not database_unavailable(ValueError("x"))
