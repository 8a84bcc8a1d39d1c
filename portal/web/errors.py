"""Error pages: a clear message in the person's language, never a stack trace or a claim value."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.templating import Jinja2Templates
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from portal.i18n import lazy_gettext as _l

TITLES = {
    400: _l("Something went wrong"),
    403: _l("Not allowed"),
    404: _l("Page not found"),
    405: _l("Not allowed"),
    413: _l("Too large"),
    429: _l("Too many attempts"),
    500: _l("Something went wrong on our side"),
    503: _l("The service is briefly unavailable"),
}

MESSAGES = {
    400: _l("The request could not be understood."),
    403: _l("You do not have access to this page."),
    404: _l("There is no page at this address. Check the address, or start from the front page."),
    405: _l("This page cannot be used that way."),
    413: _l(
        "What you sent is larger than this page accepts, so none of it was used. A file may be "
        "too big: the page you came from says how large it may be."
    ),
    429: _l(
        "We have had many attempts from you in a short time, so this one was not carried out. "
        "Please wait a little and try again."
    ),
    500: _l("We could not complete what you asked. Please try again in a little while."),
    503: _l(
        "We cannot reach our database for a moment, so what you asked for was not carried "
        "out and nothing you sent was changed or lost. Please try again in a minute."
    ),
}

# How long a client is asked to wait after a 503 (Retry-After): a database restart or fail-over
# takes seconds, and the engine reconnects by itself (portal/db.py).
RETRY_AFTER_SECONDS = 10

# Sign-in failures say what happened in words a person understands; the code goes to the log.
REASONS = {
    "csrf": _l(
        "The form had expired or did not come from this site. Go back, reload the page and "
        "try again."
    ),
    "access_denied": _l("The sign-in was cancelled. Nothing was changed."),
    "mismatching_state": _l(
        "This sign-in could not be matched to your browser. It may have expired or already "
        "been used. Please start the sign-in again."
    ),
    "invalid_id_token": _l(
        "The answer from the identity provider could not be verified, so you were not signed in."
    ),
    "invalid_grant": _l(
        "The sign-in could not be completed: the code from the identity provider was not "
        "accepted. Please start the sign-in again."
    ),
    "token_exchange_failed": _l(
        "The sign-in could not be completed with the identity provider. Please try again."
    ),
    "no_id_token": _l(
        "The identity provider did not confirm who you are, so you were not signed in."
    ),
    "missing_national_id": _l(
        "The identity provider did not send a national identity number, so we cannot show "
        "you your data."
    ),
    "invalid_national_id": _l(
        "The identity provider sent a national identity number that is not valid."
    ),
    "issuer_mismatch": _l(
        "The answer did not come from the identity provider we asked, so you were not signed "
        "in. Please start the sign-in again."
    ),
    "provider_unavailable": _l(
        "The identity provider cannot be reached right now. Please try again in a little while."
    ),
}

ErrorRenderer = Callable[..., Response]
logger = logging.getLogger("portal.error")


def error_renderer(templates: Jinja2Templates) -> ErrorRenderer:
    def render(request: Request, status: int, *, reason: str | None = None) -> Response:
        if reason is not None:
            message = REASONS.get(reason, MESSAGES[400])
            title = _l("Sign-in failed") if reason != "csrf" else TITLES[403]
        else:
            message = MESSAGES.get(status, MESSAGES[500])
            title = TITLES.get(status, TITLES[500])
        return templates.TemplateResponse(
            request,
            "errors/error.html",
            {"status": status, "title": title, "message": message, "reason": reason},
            status_code=status,
        )

    return render


class ServerErrorMiddleware:
    """An exception from a page becomes the 500 page here, inside the security headers'
    middleware, so the error response carries the CSP and the rest like any other (Starlette's
    own handler sits outside every middleware). The API gets JSON. The traceback goes to the log
    (escaped onto one line), never to the client."""

    def __init__(self, app: ASGIApp, *, render: ErrorRenderer) -> None:
        self.app = app
        self.render = render

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_wrapper(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        except Exception as exc:
            if started:
                raise  # half a response is out: nothing better to send
            request = Request(scope, receive)
            if database_unavailable(exc):
                response = self._unavailable(request, exc)
            else:
                response = self._server_error(request)
            await response(scope, receive, send)

    def _server_error(self, request: Request) -> Response:
        logger.exception("unhandled error", extra={"fields": {"path": request.url.path}})
        if request.url.path.startswith("/api/"):
            return JSONResponse({"error": "server_error"}, status_code=500)
        return self.render(request, 500)

    def _unavailable(self, request: Request, exc: Exception) -> Response:
        # One line, no traceback: an outage makes many of these, and each says the same. The
        # exception class only; a driver's message may quote the statement's values.
        fields = {"path": request.url.path, "error": type(exc).__name__}
        logger.warning("database unavailable", extra={"fields": fields})
        response: Response
        if request.url.path.startswith("/api/"):
            response = JSONResponse({"error": "unavailable"}, status_code=503)
        else:
            response = self.render(request, 503)
        response.headers["retry-after"] = str(RETRY_AFTER_SECONDS)
        return response


def database_unavailable(exc: BaseException) -> bool:
    """Whether `exc` says a database cannot be reached just now (down, restarting, its pool
    exhausted), rather than that the code is wrong: the first is a 503 worth retrying, the
    second a 500. Looks through the exception's causes and, for an exception group, its members.
    """
    seen: set[int] = set()
    pending: list[BaseException] = [exc]
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if _is_outage(current):
            return True
        if isinstance(current, BaseExceptionGroup):
            pending.extend(current.exceptions)
        pending.extend(e for e in (current.__cause__, current.__context__) if e is not None)
    return False


def _is_outage(exc: BaseException) -> bool:
    if isinstance(exc, PoolTimeout):  # every connection of the pool busy for pool_timeout
        return True
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:  # a disconnect mid-request
        return True
    if not isinstance(exc, OperationalError | InterfaceError):
        return False
    if isinstance(exc.orig, sqlite3.OperationalError):
        # SQLite says "no such table" the same way as "database is locked": only the second
        # (and a file it cannot open) is an outage; the rest are the code's errors.
        text = str(exc.orig)
        return "locked" in text or "unable to open" in text or "disk I/O" in text
    return True
