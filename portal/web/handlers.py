"""What keeps a route handler thin: blocking work runs in a worker thread, as one unit of work.

A handler parses the request, calls one of these with a function of the domain or of
``portal/views/``, and renders or redirects. Database and file work blocks, so it must not run
on the event loop; anyio runs it in a worker thread with a copy of the request's context, so the
request's language holds there.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any, TypeVar

import anyio
from starlette.requests import Request

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
