"""CSRF protection for every state-changing request.

Default deny: any POST, PUT, PATCH or DELETE must carry the session's token, either in the
`X-CSRF-Token` header (htmx sends it, see base.html) or as the form field `csrf_token` (plain
forms, which keeps pages working without JavaScript). Paths that authenticate otherwise (the
mock provider's back channel, token-authenticated APIs) are listed as exempt by the app factory.
"""

from __future__ import annotations

import hmac
from collections.abc import AsyncIterator, Callable
from tempfile import SpooledTemporaryFile
from urllib.parse import parse_qs

from starlette.datastructures import Headers
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.types import ASGIApp, Message, Receive, Scope, Send

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
FIELD = "csrf_token"
HEADER = "x-csrf-token"
CHUNK = 64 * 1024
# Plain forms are small; a larger url-encoded body is not a form of ours.
MAX_URLENCODED = 1024 * 1024


class CSRFMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        on_failure: ASGIApp,
        exempt_prefixes: tuple[str, ...] = (),
        token_for: Callable[[Scope], str | None],
    ) -> None:
        self.app = app
        self.on_failure = on_failure
        self.exempt_prefixes = exempt_prefixes
        self.token_for = token_for

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] in SAFE_METHODS
            or scope["path"].startswith(self.exempt_prefixes)
        ):
            await self.app(scope, receive, send)
            return
        expected = self.token_for(scope)
        headers = Headers(scope=scope)
        if expected and _same(headers.get(HEADER), expected):
            await self.app(scope, receive, send)
            return
        body = SpooledTemporaryFile(max_size=CHUNK * 16)  # noqa: SIM115 - closed below
        try:
            await _spool(receive, body)
            submitted = await _form_token(headers, body)
            if not expected or not _same(submitted, expected):
                await self.on_failure(scope, receive, send)
                return
            await self.app(scope, _replay(body, receive), send)
        finally:
            body.close()


def _same(given: str | None, expected: str) -> bool:
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())


async def _spool(receive: Receive, body: SpooledTemporaryFile) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        body.write(message.get("body", b""))
        if not message.get("more_body", False):
            return


async def _form_token(headers: Headers, body: SpooledTemporaryFile) -> str | None:
    content_type = headers.get("content-type", "").split(";")[0].strip().lower()
    body.seek(0)
    if content_type == "application/x-www-form-urlencoded":
        raw = body.read(MAX_URLENCODED + 1)
        if len(raw) > MAX_URLENCODED:
            return None
        values = parse_qs(raw.decode("latin-1"), keep_blank_values=True).get(FIELD)
        return values[0] if values else None
    if content_type == "multipart/form-data":
        try:
            form = await MultiPartParser(headers, _chunks(body)).parse()
        except MultiPartException:
            return None
        try:
            value = form.get(FIELD)
            return value if isinstance(value, str) else None
        finally:
            await form.close()
    return None


async def _chunks(body: SpooledTemporaryFile) -> AsyncIterator[bytes]:
    while chunk := body.read(CHUNK):
        yield chunk


def _replay(body: SpooledTemporaryFile, original: Receive) -> Receive:
    """Hand the app the body it would have read; after that, the real channel (disconnects)."""
    size = _size(body)
    body.seek(0)
    done = False

    async def receive() -> Message:
        nonlocal done
        if done:
            return await original()
        chunk = body.read(CHUNK)
        done = body.tell() >= size
        return {"type": "http.request", "body": chunk, "more_body": not done}

    return receive


def _size(body: SpooledTemporaryFile) -> int:
    position = body.tell()
    body.seek(0, 2)
    size = body.tell()
    body.seek(position)
    return size
