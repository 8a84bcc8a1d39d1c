"""Request bodies are bounded before anything reads them.

Each route family has a limit (settings ``BODY_LIMIT_*``): plain forms small, call-list and
register uploads large but bounded, the API small. A body whose ``Content-Length`` says it is
over the limit is refused before a byte of it is read; a chunked body (no length) is counted as
it streams, and refused the moment it passes the limit. Either way the answer is 413, a page in
the person's language (JSON under ``/api/``), and nothing further is read or written: the CSRF
check's spool and the form parser's temporary files only ever hold what was let through, and
are closed (and so deleted) as the refusal unwinds them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

BODILESS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
# (scope, receive, send, the limit) -> the 413 response.
Refusal = Callable[[Scope, Receive, Send, int], Awaitable[None]]


class BodyTooLarge(Exception):
    """Raised from ``receive`` when a streamed body passes its limit."""


class BodyLimitMiddleware:
    def __init__(
        self, app: ASGIApp, *, limits: Sequence[tuple[str, int]], default: int, refuse: Refusal
    ) -> None:
        self.app = app
        # The longest matching prefix decides: "/staff/wash" over "/staff".
        self.limits = sorted(limits, key=lambda item: -len(item[0]))
        self.default = default
        self.refuse = refuse

    def limit_for(self, path: str) -> int:
        for prefix, limit in self.limits:
            if path == prefix or path.startswith(prefix.rstrip("/") + "/"):
                return limit
        return self.default

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in BODILESS:
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["path"])
        length = Headers(scope=scope).get("content-length", "")
        if length and (not length.isdecimal() or int(length) > limit):
            await self.refuse(scope, receive, send, limit)
            return
        read = 0
        started = False

        async def counted() -> Message:
            nonlocal read
            message = await receive()
            if message["type"] == "http.request":
                read += len(message.get("body", b""))
                if read > limit:
                    raise BodyTooLarge
            return message

        async def watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, watched)
        except BodyTooLarge:
            if started:
                raise
            await self.refuse(scope, receive, send, limit)
