"""Server-side sessions behind a signed random id.

The cookie holds only `sign(random id)`. Everything else (sign-in state, the OpenID Connect
transaction, flash messages) lives in the `web_session` table under a hash of that id, so that
signing out or going idle ends the session on the server: a copy of the cookie opens nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from http.cookies import SimpleCookie
from typing import Any

import anyio
from itsdangerous import BadSignature, Signer
from sqlalchemy import Row, Select, bindparam, select, update
from sqlalchemy.engine import Connection, Engine
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from portal.db import session_scope, utcnow
from portal.identity.sessions import ABSOLUTE_LIFETIME
from portal.models import WebSession

# A touch of last_seen_at costs a write; once a minute is precise enough for a 30-minute timeout.
TOUCH_INTERVAL = timedelta(seconds=60)
# However active, a session ends after ABSOLUTE_LIFETIME and the person signs in again.


_RECORD_COLUMNS = tuple(column.name for column in WebSession.__table__.columns)


def _hash(sid: str) -> str:
    return hashlib.sha256(sid.encode()).hexdigest()


class SessionData(dict):
    """Key/value data that remembers whether it changed, so untouched sessions cost nothing."""

    modified = False

    def __setitem__(self, key: str, value: Any) -> None:
        self.modified = True
        super().__setitem__(key, value)

    def __delitem__(self, key: str) -> None:
        self.modified = True
        super().__delitem__(key)

    def pop(self, key: str, *default: Any) -> Any:
        if key in self:
            self.modified = True
        return super().pop(key, *default)

    def update(self, *args: Any, **kwargs: Any) -> None:
        self.modified = True
        super().update(*args, **kwargs)

    def clear(self) -> None:
        self.modified = True
        super().clear()


@dataclass
class SessionState:
    """The session of one request, as routes see it (`request.scope["web_session"]`)."""

    sid: str
    secret_key: str
    record: WebSession | None = None
    data: SessionData = field(default_factory=SessionData)
    # Set when the cookie's session ended by timeout, so a page can say why the person is out.
    expired: bool = False
    new_cookie: bool = False
    ended_sids: list[str] = field(default_factory=list)
    # What the store's `with_record` read in the record's own statement (the viewer), None
    # without a live record: a later middleware need not read it again.
    companion: Any = None

    @property
    def subject_id(self) -> int | None:
        return self.record.subject_id if self.record else None

    @property
    def staff_id(self) -> int | None:
        return self.record.staff_id if self.record else None

    @property
    def authenticated_at(self) -> datetime | None:
        return self.record.authenticated_at if self.record else None

    @property
    def acr(self) -> str | None:
        return self.record.acr if self.record else None

    @property
    def csrf_token(self) -> str:
        # Bound to the session id: a new session (sign-in, sign-out) invalidates old forms.
        digest = hmac.new(self.secret_key.encode(), b"csrf:" + self.sid.encode(), "sha256")
        return digest.hexdigest()

    @property
    def record_changed(self) -> bool:
        return self.data.modified or self.new_cookie

    @property
    def unsaved(self) -> bool:
        """Whether `SessionStore.save` has anything to write (most requests: nothing)."""
        if self.ended_sids:
            return True
        if self.record is not None:
            return self.record_changed
        return self.data.modified and bool(self.data)

    def sign_in(
        self,
        *,
        authenticated_at: datetime,
        acr: str | None,
        subject_id: int | None = None,
        staff_id: int | None = None,
        data: dict[str, Any] | None = None,
    ) -> None:
        """Start a new session for a signed-in person: a fresh id, so no fixation survives."""
        self._rotate()
        self.record = WebSession(
            id=_hash(self.sid),
            subject_id=subject_id,
            staff_id=staff_id,
            acr=acr,
            authenticated_at=authenticated_at,
        )
        # Mutated in place: Authlib and the route hold a reference to this very dict.
        self.data.clear()
        self.data.update(data or {})

    def sign_out(self) -> None:
        self._rotate()
        self.record = None
        self.data.clear()

    def _rotate(self) -> None:
        if self.record is not None:
            self.ended_sids.append(self.record.id)
        self.sid = secrets.token_urlsafe(32)
        self.new_cookie = True


@dataclass(frozen=True)
class Companion:
    """What a store reads in the same statement as the record (the viewer: portal/web/viewer.py).
    Every request needs both, so one statement, not a transaction of two.

    `extend` adds outer joins and columns to the record's SELECT; `make` turns a row of it into
    the companion, and may read more on the same connection (a member of staff's roles)."""

    extend: Callable[[Select], Select]
    make: Callable[[Connection, Row], Any]


class SessionStore:
    """Loads and saves session records; the clock is injectable for tests of the timeout."""

    def __init__(
        self,
        engine: Engine,
        *,
        idle: timedelta,
        now: Callable[[], datetime] = utcnow,
        with_record: Companion | None = None,
    ) -> None:
        self.engine = engine
        self.idle = idle
        self.now = now
        self.with_record = with_record
        # Every request reads its session: one statement on a connection in autocommit mode,
        # no BEGIN or COMMIT (on PostgreSQL two round trips fewer); the rare write (an idle
        # session ended, last_seen_at touched) is a single UPDATE of its own.
        self._reader = engine.execution_options(isolation_level="AUTOCOMMIT")
        table = WebSession.__table__
        statement = select(table).where(table.c.id == bindparam("key"))
        self._load_statement = with_record.extend(statement) if with_record else statement

    def load(self, sid: str) -> tuple[WebSession | None, bool, Any]:
        """The live record for `sid`, whether a record existed but has ended, and what
        `with_record` read with a live record (else None)."""
        key = _hash(sid)
        with self._reader.connect() as connection:
            row = connection.execute(self._load_statement, {"key": key}).first()
            if row is None:
                return None, False, None
            record = WebSession(**{name: row._mapping[name] for name in _RECORD_COLUMNS})
            if record.ended_at is not None:
                return None, True, None
            now = self.now()
            if now - record.last_seen_at > self.idle or now - record.created_at > ABSOLUTE_LIFETIME:
                self._update(connection, key, ended_at=now)
                return None, True, None
            if now - record.last_seen_at > TOUCH_INTERVAL:
                self._update(connection, key, last_seen_at=now)
                record.last_seen_at = now
            companion = self.with_record.make(connection, row) if self.with_record else None
            return record, False, companion

    @staticmethod
    def _update(connection: Connection, key: str, **values: datetime) -> None:
        table = WebSession.__table__
        connection.execute(update(table).where(table.c.id == key).values(**values))

    def save(self, state: SessionState) -> None:
        now = self.now()
        with session_scope(self.engine) as db:
            for ended in state.ended_sids:
                old = db.get(WebSession, ended)
                if old is not None and old.ended_at is None:
                    old.ended_at = now
            if state.record is not None and state.record_changed:
                record = db.get(WebSession, state.record.id) or state.record
                record.data = dict(state.data)
                record.last_seen_at = now
                db.add(record)
                state.record = record
            elif state.record is None and state.data.modified and state.data:
                # An anonymous visitor stored something (e.g. the sign-in transaction).
                record = db.get(WebSession, _hash(state.sid)) or WebSession(id=_hash(state.sid))
                record.data = dict(state.data)
                record.last_seen_at = now
                db.add(record)
                state.record = record


class SessionMiddleware:
    """Pure ASGI middleware: loads the session before the app runs and saves it before the
    response starts, setting the cookie only when the id changes."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        store: SessionStore,
        secret_key: str,
        cookie_name: str,
        secure: bool,
    ) -> None:
        self.app = app
        self.store = store
        self.secret_key = secret_key
        self.signer = Signer(secret_key, salt="innsyn.session")
        self.cookie_name = cookie_name
        self.secure = secure

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = await anyio.to_thread.run_sync(self._load, scope)
        scope["web_session"] = state
        # Authlib's Starlette client keeps its state in `request.session`.
        scope["session"] = state.data

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                # The route may have replaced state.data (sign-in); Authlib may have written to it.
                if state.unsaved:  # most requests write nothing: no thread, no connection
                    await anyio.to_thread.run_sync(self.store.save, state)
                if state.new_cookie:
                    headers = MutableHeaders(scope=message)
                    headers.append("set-cookie", self._cookie(state.sid))
            await send(message)

        await self.app(scope, receive, send_wrapper)

    def _load(self, scope: Scope) -> SessionState:
        sid = self._sid_from_cookie(scope)
        if sid is not None:
            record, ended, companion = self.store.load(sid)
            if not ended:
                data = SessionData(record.data if record else {})
                return SessionState(
                    sid=sid,
                    secret_key=self.secret_key,
                    record=record,
                    data=data,
                    companion=companion,
                )
            return SessionState(
                sid=secrets.token_urlsafe(32),
                secret_key=self.secret_key,
                expired=True,
                new_cookie=True,
            )
        return SessionState(
            sid=secrets.token_urlsafe(32), secret_key=self.secret_key, new_cookie=True
        )

    def _sid_from_cookie(self, scope: Scope) -> str | None:
        raw = _cookie_header(scope)
        if not raw:
            return None
        cookie = SimpleCookie()
        try:
            cookie.load(raw)
        except Exception:  # a malformed Cookie header simply means no session
            return None
        morsel = cookie.get(self.cookie_name)
        if morsel is None:
            return None
        try:
            return self.signer.unsign(morsel.value).decode()
        except BadSignature:
            return None

    def _cookie(self, sid: str) -> str:
        value = self.signer.sign(sid).decode()
        parts = [f"{self.cookie_name}={value}", "Path=/", "HttpOnly", "SameSite=Lax"]
        if self.secure:
            parts.append("Secure")
        return "; ".join(parts)


def _cookie_header(scope: Scope) -> str:
    for name, value in scope.get("headers", []):
        if name == b"cookie":
            return value.decode("latin-1")
    return ""
