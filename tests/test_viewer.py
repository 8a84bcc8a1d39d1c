"""The viewer is read with the session record, in one transaction, and the middleware uses it."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import event
from sqlalchemy.engine import Engine

from portal.db import session_scope, utcnow
from portal.models import StaffRoleName, WebSession
from portal.sessions import SessionState, SessionStore, _hash
from portal.viewer import Viewer, ViewerMiddleware, viewer_of_record
from tests.test_web import add_staff, add_subject


def transactions(engine: Engine, run) -> tuple[object, int]:
    """What ``run()`` returns and how many transactions it began on ``engine``."""
    begun = []

    def count(connection) -> None:
        begun.append(connection)

    event.listen(engine, "begin", count)
    try:
        return run(), len(begun)
    finally:
        event.remove(engine, "begin", count)


def add_session(engine: Engine, sid: str, **who: int) -> None:
    with session_scope(engine) as db:
        db.add(WebSession(id=_hash(sid), acr="urn:test", authenticated_at=utcnow(), **who))


def test_the_store_reads_the_viewer_in_the_records_transaction(engine: Engine) -> None:
    store = SessionStore(engine, idle=timedelta(minutes=30), with_record=viewer_of_record)
    person = add_subject(engine)
    staff = add_staff(engine, StaffRoleName.dpo)
    add_session(engine, "p", subject_id=person)
    add_session(engine, "s", staff_id=staff)

    (record, ended, viewer), begun = transactions(engine, lambda: store.load("p"))
    assert begun == 1 and not ended and record.subject_id == person
    assert viewer == Viewer("person", person, "Kari Nordmann")
    (_, _, viewer), _ = transactions(engine, lambda: store.load("s"))
    assert viewer.kind == "staff" and viewer.roles == ("dpo",)
    # No record, no viewer, and nothing read for one.
    assert store.load("nobody") == (None, False, None)


def test_the_middleware_uses_the_viewer_read_with_the_session() -> None:
    seen = {}

    async def app(scope, receive, send) -> None:
        seen["viewer"] = scope["viewer"]

    viewer = Viewer("person", 7, "Kari Nordmann")
    state = SessionState(sid="x", secret_key="k", companion=viewer, companion_loaded=True)
    # No engine: a second lookup would fail.
    middleware = ViewerMiddleware(app, engine=None)  # type: ignore[arg-type]
    asyncio.run(middleware({"type": "http", "web_session": state}, None, None))
    assert seen["viewer"] is viewer
