"""A short memory, per signed-in session, for the "my data" page.

/me is the portal's heaviest page: resolving whose rows are whose (datamap/identity.py) reads the
outline of every one of the person's rows in every source, and the page formats a page of every
table with its retention. People reload it, come back to it from other pages, and page through
its tables. So the web process remembers, per session and for a short time (setting
ME_CACHE_SECONDS, default 60; 0 turns it off): the resolution, which paging reuses, and the
rendered /me page itself.

What that trades, and why it is acceptable:

- The memory holds personal data (the person's identifiers, row keys, their page) in the web
  process's memory only: never on disk, never in logs, never shared between processes. An entry
  lives at most ME_CACHE_SECONDS from when it was made, whatever is added to it later, and at
  most MAX_SESSIONS sessions are remembered (the least recently used go first).
- It is keyed by the session record's id (a hash of the cookie's random id) and the session's
  own subject: no other session, person or staff member can reach an entry. Signing in again
  starts a new session; signing out forgets it; so does every state-changing request of the
  session (`ForgetOnChange`), so a person's own action (a consent withdrawn, a request filed)
  shows on their next page at once. An erasure ends the person's sessions.
- Changes made elsewhere (a new order in the shop, staff linking an identifier, the worker
  erasing) show on /me after at most ME_CACHE_SECONDS.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

from starlette.types import ASGIApp, Receive, Scope, Send

MAX_SESSIONS = 256
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

T = TypeVar("T")


class SessionMemory:
    """Least recently used, bounded, expiring; safe to use from several threads."""

    def __init__(
        self,
        seconds: float,
        *,
        size: int = MAX_SESSIONS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.seconds = seconds
        self.size = size
        self.clock = clock
        self._entries: OrderedDict[tuple[str, int], tuple[float, dict[Hashable, Any]]] = (
            OrderedDict()
        )
        self._lock = threading.Lock()

    def recall(self, session_key: str, subject_id: int, name: Hashable) -> Any | None:
        """What the session remembers under ``name``, or None."""
        now = self.clock()
        with self._lock:
            entry = self._entries.get((session_key, subject_id))
            if entry is None or entry[0] <= now:
                return None
            self._entries.move_to_end((session_key, subject_id))
            return entry[1].get(name)

    def keep(self, session_key: str, subject_id: int, name: Hashable, value: Any) -> None:
        if self.seconds <= 0:
            return
        now = self.clock()
        with self._lock:
            key = (session_key, subject_id)
            entry = self._entries.get(key)
            if entry is None or entry[0] <= now:
                entry = self._entries[key] = (now + self.seconds, {})
            entry[1][name] = value
            self._entries.move_to_end(key)
            self._drop_stale(now)

    def get(self, session_key: str, subject_id: int, name: Hashable, compute: Callable[[], T]) -> T:
        """Remembered, else computed (outside the lock: two first requests may both compute)."""
        found = self.recall(session_key, subject_id, name)
        if found is None:
            found = compute()
            self.keep(session_key, subject_id, name, found)
        return found

    def forget(self, session_key: str) -> None:
        with self._lock:
            for key in [key for key in self._entries if key[0] == session_key]:
                del self._entries[key]

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def _drop_stale(self, now: float) -> None:
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)
        for key in [key for key, (until, _) in self._entries.items() if until <= now]:
            del self._entries[key]


class ForgetOnChange:
    """Every state-changing request of a session forgets what the session remembers, before it
    runs: the next page shows the change."""

    def __init__(self, app: ASGIApp, memory: SessionMemory) -> None:
        self.app = app
        self.memory = memory

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] not in SAFE_METHODS:
            record = scope["web_session"].record
            if record is not None:
                self.memory.forget(record.id)
        await self.app(scope, receive, send)
