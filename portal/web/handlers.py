"""What keeps a route handler thin: blocking work runs in a worker thread, as one unit of work.

A handler parses the request, calls one of these with a function of the domain or of
``portal/views/``, and renders or redirects. Database and file work blocks, so it must not run
on the event loop; anyio runs it in a worker thread with a copy of the request's context, so the
request's language holds there.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial, wraps
from typing import Any, TypeVar

import anyio
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from portal import ratelimit
from portal.db import session_scope

T = TypeVar("T")


async def in_db(request: Request, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    """``fn(db, *args, **kwargs)`` in a worker thread, in one unit of work on the portal's
    database: committed when it returns, rolled back when it raises (``session_scope``)."""

    def work() -> T:
        with session_scope(request.app.state.engine) as db:
            return fn(db, *args, **kwargs)

    return await anyio.to_thread.run_sync(work)


async def in_thread(fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    """``fn(*args, **kwargs)`` in a worker thread, off the event loop: for functions that take
    the engine and open their own units of work, or render a PDF."""
    return await anyio.to_thread.run_sync(partial(fn, *args, **kwargs))


async def rate_limited(request: Request, action: str, kind: str, value: str) -> Response | None:
    """Count one use of ``action`` by the key (``kind``, ``value``: a client address, a person,
    a token, a member of staff, kept only as a keyed hash); None when allowed, else the 429
    answer, with Retry-After, as a page in the person's language or JSON under /api/."""
    state = request.app.state
    rule = ratelimit.rules(state.settings)[action]
    key = ratelimit.key_of(state.settings.secret_key, kind, value)
    try:
        await in_db(request, ratelimit.take, rule, key, state.now())
    except ratelimit.RateLimited as refused:
        headers = {"Retry-After": str(refused.retry_after)}
        if request.url.path.startswith("/api/"):
            message = f"too many requests: try again in {refused.retry_after} seconds"
            body = {"error": "rate_limited", "message": message, "retry_after": refused.retry_after}
            return JSONResponse(body, status_code=429, headers=headers)
        response = state.render_error(request, 429)
        response.headers.update(headers)
        return response
    return None


def limited(
    action: str, kind: str, key: Callable[[Request], str]
) -> Callable[[Callable[[Request], Awaitable[Response]]], Callable[[Request], Awaitable[Response]]]:
    """A route's POSTs count against ``action``'s limit for ``key(request)`` (its GETs, the
    form, do not); over it, the 429 answer instead of the route."""

    def decorate(
        endpoint: Callable[[Request], Awaitable[Response]],
    ) -> Callable[[Request], Awaitable[Response]]:
        @wraps(endpoint)
        async def wrapper(request: Request) -> Response:
            posted = request.method == "POST"
            if posted and (refused := await rate_limited(request, action, kind, key(request))):
                return refused
            return await endpoint(request)

        return wrapper

    return decorate


def viewer_key(request: Request) -> str:
    return str(request.scope["viewer"].id)


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"
