"""Helpers shared by the tests: PostgreSQL databases, live servers, signed-in clients."""

from __future__ import annotations

import io
import os
import re
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

import httpx2
import psycopg
import pytest
import uvicorn
from itsdangerous import Signer
from pypdf import PdfReader
from starlette.testclient import TestClient
from starlette.types import ASGIApp

from portal.app import create_app
from portal.db import session_scope, utcnow
from portal.demo import EDGE_CASES_BY_KEY
from portal.models import StaffMember, StaffRole, StaffRoleName, Subject, WebSession
from portal.web.sessions import _hash

POSTGRES_ADMIN_URL = os.environ.get(
    "INNSYN_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test"
)
START_POSTGRES = "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"


@contextmanager
def postgres_database(name: str) -> Iterator[str]:
    """A fresh PostgreSQL database for this run, dropped afterwards."""
    try:
        admin = psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        pytest.exit(
            f"PostgreSQL is not reachable at {POSTGRES_ADMIN_URL} ({exc}).\n"
            f"Start it with: {START_POSTGRES}",
            returncode=3,
        )
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    base = POSTGRES_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://")
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class AppTransport(httpx2.AsyncBaseTransport):
    """Lets the portal's OIDC client reach the mock provider mounted in the same app, in process."""

    def __init__(self) -> None:
        self.app: ASGIApp | None = None

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        assert self.app is not None
        return await httpx2.ASGITransport(app=self.app).handle_async_request(request)


def in_process_app(settings, **kwargs):
    """The portal whose relying party talks to its own mounted mock provider without a socket."""
    transport = AppTransport()
    app = create_app(settings, relying_party_kwargs={"transport": transport}, **kwargs)
    transport.app = app
    return app


class LiveServer:
    """An ASGI app under real uvicorn on a free loopback port, in a thread."""

    def __init__(self) -> None:
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.socket.bind(("127.0.0.1", 0))
        self.port = self.socket.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.server: uvicorn.Server | None = None
        self.thread: threading.Thread | None = None

    def start(self, app: ASGIApp) -> None:
        config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.socket]}, daemon=True
        )
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("test server did not start")
            time.sleep(0.01)

    def stop(self) -> None:
        if self.server is not None and self.thread is not None:
            self.server.should_exit = True
            self.thread.join(timeout=10)
        self.socket.close()

    def __enter__(self) -> LiveServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


@contextmanager
def live_server(app_factory) -> Iterator[LiveServer]:
    """Pick the port first, because the app's own URLs (issuer, redirect URI) depend on it."""
    server = LiveServer()
    try:
        server.start(app_factory(server.url))
        yield server
    finally:
        server.stop()


class Clock:
    """A clock a test can move, for ``create_app(now=...)``."""

    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> datetime:
        return self.now


def add_demo_subject(engine, key: str) -> int:
    """A demo edge case's person as the portal's subject (as a first sign-in makes them)."""
    case = EDGE_CASES_BY_KEY[key]
    with session_scope(engine) as db:
        subject = Subject(
            national_id=case.national_id,
            country="SE" if len(case.national_id) == 12 else "NO",
            given_name=case.given_name,
            family_name=case.family_name,
        )
        db.add(subject)
        db.flush()
        return subject.id


def signed_in_client(
    client: TestClient,
    *,
    secret_key: str,
    subject_id: int | None = None,
    staff_id: int | None = None,
    authenticated_at: datetime | None = None,
    cookie_name: str = "innsyn_session",
    now: datetime | None = None,
) -> str:
    """Give `client` a server-side session as if it had signed in; returns the session id.
    ``now``: the app's clock, when it is not the wall clock (a session from the future, or the
    past, would have gone idle).

    Tests of pages use this; the sign-in itself is tested end to end in test_sign_in.py.
    """
    sid = f"test-{os.urandom(16).hex()}"
    client.cookies.clear()
    engine = client.app.state.engine
    with session_scope(engine) as db:
        db.add(
            WebSession(
                id=_hash(sid),
                subject_id=subject_id,
                staff_id=staff_id,
                acr="urn:test",
                authenticated_at=authenticated_at or now or utcnow(),
                created_at=now or utcnow(),
                last_seen_at=now or utcnow(),
            )
        )
    value = Signer(secret_key, salt="innsyn.session").sign(sid).decode()
    # The domain the cookie jar files TestClient's own cookies under, so the server's new cookie
    # (after sign-out) replaces this one instead of standing beside it.
    client.cookies.set(cookie_name, value, domain="testserver.local")
    return sid


def sign_in_staff(client: TestClient, *roles: StaffRoleName, sub: str = "officer") -> int:
    """A member of staff with these roles, signed in, reading English; returns their id."""
    with session_scope(client.app.state.engine) as db:
        member = StaffMember(issuer="https://idp", sub=sub, name=sub)
        db.add(member)
        db.flush()
        for role in roles:
            db.add(StaffRole(staff_id=member.id, role=role))
        staff_id = member.id
    signed_in_client(client, secret_key=client.app.state.settings.secret_key, staff_id=staff_id)
    client.cookies.set("lang", "en")
    return staff_id


CSRF_INPUT = re.compile(r'name="csrf_token" value="([0-9a-f]+)"')


def csrf_token_from(html: str) -> str:
    match = CSRF_INPUT.search(html)
    assert match, "page has no CSRF token field"
    return match.group(1)


def sent_text(message, settings, now) -> str:
    """A queued message's text part as the sender renders it at `now`: in its language, with the
    follow links of requests filed without BankID signed with `settings`."""
    from portal.workflows.email_requests import follow_url

    _subject, text = email_text(
        message.kind,
        message.context,
        message.language,
        settings.base_url,
        follow_link=lambda request_id, language: follow_url(request_id, language, now, settings),
    )
    return text


def links_in(text: str, path: str) -> list[str]:
    """The links in a message's text whose path starts with `path`."""
    import re

    return re.findall(r"https?://[^\s/]+" + re.escape(path) + r"[^\s]*", text)


def email_text(
    kind: str, context, language: str, base_url: str, *, follow_link=None
) -> tuple[str, str]:
    """A queued message's e-mail subject and text part, as the sender renders them (in the
    demo controller's time zone; `follow_link` signs a request's follow link)."""
    from portal.jobs.outbox import MessageSite
    from portal.mail.kinds import render_message

    site = MessageSite(base_url, "Europe/Oslo", follow_link)
    rendered = render_message(kind, context, language, site)
    return rendered.subject, rendered.text


def tagged_pdf_structure(pdf: bytes, *, language: str, title: str) -> set[str]:
    """Assert that `pdf` is a tagged PDF a screen reader can read: a structure tree, marked
    content, the document's language and a title shown in place of the file name. Returns the
    structure types used (H1, Table, TH, L, P, ...), for the caller to check its own."""
    reader = PdfReader(io.BytesIO(pdf))
    root = reader.trailer["/Root"]
    assert "/StructTreeRoot" in root, "not tagged: no structure tree"
    assert bool(root["/MarkInfo"]["/Marked"])  # a pypdf BooleanObject
    assert root["/Lang"] == language
    assert title in (reader.metadata or {}).get("/Title", ""), reader.metadata
    assert bool(root["/ViewerPreferences"]["/DisplayDocTitle"])
    found: set[str] = set()
    pending = [root["/StructTreeRoot"].get_object()]
    while pending:
        element = pending.pop()
        if "/S" in element:
            found.add(str(element["/S"])[1:])
        kids = element.get("/K")
        kids = kids if isinstance(kids, list) else [kids]
        pending.extend(
            kid.get_object()
            for kid in kids
            if hasattr(kid, "get_object") and isinstance(kid.get_object(), dict)
        )
    return found
