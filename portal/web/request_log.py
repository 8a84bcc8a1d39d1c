"""Logging: one structured line per event, and one per request (method, path, status, time).

Never the query string, the client address, cookies or bodies: those may hold personal data.

Every line is ``key=value`` pairs, and no value can start a line of its own: control characters
(a path's %0A, a provider's ``error=`` text) are written as escapes, so a forged "line" stays
inside the value it came in (OWASP's log-injection guidance). An exception is logged as its type
and where it was raised, without its message.
"""

from __future__ import annotations

import logging
import time
import traceback
from pathlib import Path
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

logger = logging.getLogger("portal.request")

_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t", '"': '\\"', "\\": "\\\\"}


def escape(text: str) -> str:
    """``text`` on one line: newlines, other control and separator characters as escapes."""
    if text.isprintable() and '"' not in text and "\\" not in text:
        return text
    return "".join(_ESCAPES.get(c) or (c if c.isprintable() else f"\\u{ord(c):04x}") for c in text)


def field(value: Any) -> str:
    """A value as written after ``key=``: bare when plain, else quoted and escaped."""
    text = escape(str(value))
    if text and not any(c in text for c in ' ="\\'):
        return text
    return f'"{text}"'


class KeyValueFormatter(logging.Formatter):
    """``at=… level=… logger=… msg="…"``, then the record's ``fields`` (``extra={"fields":
    {...}}``) and an exception's traceback, each escaped onto the one line."""

    default_msec_format = "%s.%03d"

    def formatException(self, ei: Any) -> str:
        """The exception's type and where it was raised, innermost first; never its message,
        which may carry values (an SQL statement's parameters, a national ID)."""
        kind, _exc, tb = ei
        frames = traceback.extract_tb(tb)[-8:]
        where = " < ".join(f"{Path(f.filename).name}:{f.lineno} {f.name}" for f in reversed(frames))
        return f"{kind.__name__} at {where}" if where else kind.__name__

    def format(self, record: logging.LogRecord) -> str:
        parts = [
            f"at={self.formatTime(record)}".replace(" ", "T"),
            f"level={record.levelname}",
            f"logger={record.name}",
            f"msg={field(record.getMessage())}",
        ]
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            parts += [f"{escape(str(key))}={field(value)}" for key, value in fields.items()]
        if record.exc_info:
            parts.append(f"exc={field(self.formatException(record.exc_info))}")
        return " ".join(parts)


class RequestLogMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            elapsed = (time.perf_counter() - started) * 1000
            fields = {
                "method": scope["method"],
                "path": scope["path"],
                "status": status,
                "ms": f"{elapsed:.1f}",
            }
            logger.info("request", extra={"fields": fields})


def configure_logging(level: int = logging.INFO) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(KeyValueFormatter())
    logging.basicConfig(level=level, handlers=[handler], force=True)
    # Authlib logs the PKCE verifier at debug level; our own line replaces uvicorn's access log.
    logging.getLogger("authlib").setLevel(logging.WARNING)
    logging.getLogger("httpx").setLevel(logging.WARNING)
