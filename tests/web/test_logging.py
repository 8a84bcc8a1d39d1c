"""Logs cannot be forged: whatever a client puts in a path or a provider's error text, each
event is one line of key=value pairs, and a newline in a value is written as an escape."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from portal.app import create_app
from portal.settings import Settings
from portal.web.request_log import KeyValueFormatter, escape, field

FORGED = "\nat=2026-01-01T00:00:00 level=ERROR logger=portal.audit msg=forged"


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings), follow_redirects=False) as c:
        yield c


def formatted(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The portal's own lines (the test client logs the URLs it asks for, too)."""
    formatter = KeyValueFormatter()
    return [formatter.format(r) for r in caplog.records if r.name.startswith("portal")]


def test_a_newline_in_a_path_never_starts_a_log_line(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO):
        client.get("/no/such/page%0Aat=2026-01-01T00:00:00%20level=ERROR%20msg=forged%0D")
    lines = formatted(caplog)
    assert lines and all("\n" not in line and "\r" not in line for line in lines)
    request = [line for line in lines if "logger=portal.request" in line]
    assert len(request) == 1
    assert 'path="/no/such/page\\nat=2026-01-01T00:00:00 level=ERROR msg=forged\\r"' in request[0]


def test_a_providers_error_text_is_escaped(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO):
        client.get("/auth/callback", params={"error": "access_denied" + FORGED, "state": "x"})
    lines = formatted(caplog)
    assert lines and all("\n" not in line for line in lines)
    # Only a reason code is logged: what the URL said is never repeated.
    assert any('msg="sign-in refused: ' in line for line in lines), lines
    assert not any("forged" in line for line in lines)


def test_values_are_escaped_and_quoted_only_when_they_must_be() -> None:
    assert escape("plain") == "plain"
    assert escape('a\nb\r\tc"d\\e\x1b\u2028') == 'a\\nb\\r\\tc\\"d\\\\e\\u001b\\u2028'
    assert field("GET") == "GET"
    assert field("two words") == '"two words"'
    assert field("") == '""'
    assert field("k=v") == '"k=v"'


def test_an_exception_is_its_type_and_place_on_its_line() -> None:
    try:
        raise ValueError("bad" + FORGED)
    except ValueError:
        info = sys.exc_info()
    record = logging.LogRecord("portal.jobs", logging.ERROR, __file__, 1, "job failed", (), info)
    record.fields = {"kind": "erasure.execute", "note": "x\ny"}
    line = KeyValueFormatter().format(record)
    assert "\n" not in line
    assert ' msg="job failed" kind=erasure.execute note="x\\ny" exc="ValueError at ' in line
    # Where, never the message: a message may carry values (SQL parameters, a national ID).
    assert "test_logging.py:" in line and "bad" not in line and "forged" not in line


def test_an_error_code_is_logged_only_in_a_codes_shape() -> None:
    from authlib.integrations.base_client import OAuthError

    from portal.identity.auth import _ERROR_CODE

    assert _ERROR_CODE.fullmatch("access_denied")
    assert not _ERROR_CODE.fullmatch("access_denied" + FORGED)
    assert OAuthError(error="x").error == "x"
