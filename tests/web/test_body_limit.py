"""Request bodies are bounded before anything reads them (portal/web/body_limit.py): a body
declared too large is refused before a byte is read, a chunked one as soon as it passes its
route family's limit, with 413, a page in the person's language or JSON for the API, and the
security headers. Driven at the ASGI level, so the test sees exactly how much was read."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from starlette.types import ASGIApp, Message

from portal.app import create_app
from portal.settings import Settings
from tests.conftest import make_settings

MB = 2**20


@pytest.fixture
def app(database_url: str, var_dir: Path, engine) -> ASGIApp:
    return create_app(make_settings(database_url, var_dir, BODY_LIMIT_UPLOAD_MB="2"))


class Upload:
    """A client sending ``total`` bytes in 1 MB chunks, counting what the server asked for."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.read = 0

    async def receive(self) -> Message:
        chunk = min(MB, self.total - self.read)
        self.read += chunk
        return {"type": "http.request", "body": b"x" * chunk, "more_body": self.read < self.total}


def post(
    app: ASGIApp, path: str, upload: Upload, *, declared: int | None, cookie: str = ""
) -> tuple[int, dict[str, str], bytes]:
    headers = [(b"content-type", b"application/x-www-form-urlencoded")]
    if declared is not None:
        headers.append((b"content-length", str(declared).encode()))
    if cookie:
        headers.append((b"cookie", cookie.encode()))
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }
    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    asyncio.run(app(scope, upload.receive, send))
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], {k.decode(): v.decode() for k, v in start["headers"]}, body


def test_a_declared_64_mb_anonymous_post_is_refused_before_a_byte_is_read(app: ASGIApp) -> None:
    upload = Upload(64 * MB)
    status, headers, body = post(app, "/language", upload, declared=64 * MB)
    assert status == 413 and upload.read == 0
    assert "content-security-policy" in headers and headers["connection"] == "close"
    assert b"Too large" in body or b"For stor" in body


def test_a_chunked_64_mb_post_is_refused_once_it_passes_the_form_limit(app: ASGIApp) -> None:
    upload = Upload(64 * MB)
    status, _headers, _body = post(app, "/language", upload, declared=None)
    assert status == 413
    assert upload.read <= 64 * 1024 + MB  # the form limit, and the chunk that passed it


def test_a_call_list_over_the_upload_limit_is_refused_as_it_streams(
    app: ASGIApp, var_dir: Path
) -> None:
    upload = Upload(64 * MB)
    status, _headers, _body = post(app, "/staff/wash", upload, declared=None)
    assert status == 413
    assert upload.read <= 3 * MB  # BODY_LIMIT_UPLOAD_MB=2 here, and one chunk more
    # Nothing of it was kept: no file under the washing directory.
    assert list(var_dir.rglob("*.csv")) == []


def test_the_api_gets_json(app: ASGIApp) -> None:
    # Declared: refused before the token is even looked at (a chunked one is read only after).
    upload = Upload(2 * MB)
    status, headers, body = post(app, "/api/v1/block-list/check", upload, declared=2 * MB)
    assert upload.read == 0
    assert status == 413 and headers["content-type"] == "application/json"
    assert body == b'{"error":"too_large","message":"the body is larger than 1024 KB"}'


def test_the_page_is_in_the_persons_language(app: ASGIApp) -> None:
    status, _headers, body = post(app, "/language", Upload(MB), declared=MB, cookie="lang=sv")
    assert status == 413
    assert '<html lang="sv">' in body.decode()


def test_a_form_within_its_limit_goes_through(app: ASGIApp) -> None:
    # No CSRF token, so the CSRF check refuses it: it was read, and judged as a form.
    status, _headers, _body = post(app, "/language", Upload(10), declared=10)
    assert status == 403


@pytest.mark.parametrize("value", ["0", "-1", "ten"])
def test_the_limits_are_settings(tmp_path: Path, value: str) -> None:
    from portal.settings import SettingsError

    with pytest.raises(SettingsError, match="BODY_LIMIT_FORM_KB"):
        Settings.from_env({"PORTAL_VAR_DIR": str(tmp_path), "BODY_LIMIT_FORM_KB": value})


def test_defaults(tmp_path: Path) -> None:
    settings = Settings.from_env({"PORTAL_VAR_DIR": str(tmp_path)})
    assert (settings.body_limit_form, settings.body_limit_upload, settings.body_limit_api) == (
        64 * 1024,
        256 * MB,
        MB,
    )
