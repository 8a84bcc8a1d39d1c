"""The viewer is read with the session record, in one statement, and the middleware uses it."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import event
from sqlalchemy.engine import Engine

from portal.db import session_scope, utcnow
from portal.models import StaffRoleName, WebSession
from portal.web.sessions import SessionData, SessionState, SessionStore, _hash
from portal.web.viewer import Viewer, ViewerMiddleware, viewer_of_record
from tests.web.test_web import add_staff, add_subject


def statements(engine: Engine, run) -> tuple[object, list[str]]:
    """What ``run()`` returns and the statements it sent to ``engine``."""
    sent: list[str] = []

    def count(connection, cursor, statement, *args) -> None:
        sent.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        return run(), sent
    finally:
        event.remove(engine, "before_cursor_execute", count)


def add_session(engine: Engine, sid: str, **who: int) -> None:
    with session_scope(engine) as db:
        db.add(WebSession(id=_hash(sid), acr="urn:test", authenticated_at=utcnow(), **who))


def test_the_store_reads_the_viewer_in_the_records_statement(engine: Engine) -> None:
    store = SessionStore(engine, idle=timedelta(minutes=30), with_record=viewer_of_record)
    person = add_subject(engine)
    staff = add_staff(engine, StaffRoleName.dpo)
    add_session(engine, "p", subject_id=person)
    add_session(engine, "s", staff_id=staff)

    (record, ended, viewer), sent = statements(engine, lambda: store.load("p"))
    assert not ended and record.subject_id == person and record.acr == "urn:test"
    assert viewer == Viewer("person", person, "Kari Nordmann")
    # One SELECT: no transaction around it, the name joined to the record.
    assert [s.split()[0].upper() for s in sent if not s.startswith("PRAGMA")] == ["SELECT"]
    (_, _, viewer), _ = statements(engine, lambda: store.load("s"))
    assert viewer == Viewer("staff", staff, "Siri Service", ("dpo",))
    # No record, no viewer, and nothing read for one.
    assert store.load("nobody") == (None, False, None)


def test_the_store_writes_only_to_end_or_touch_a_session(engine: Engine) -> None:
    clock = {"now": utcnow()}
    store = SessionStore(engine, idle=timedelta(minutes=30), now=lambda: clock["now"])
    add_session(engine, "p", subject_id=add_subject(engine))
    first_seen = store.load("p")[0].last_seen_at

    clock["now"] += timedelta(seconds=30)
    (record, _, _), sent = statements(engine, lambda: store.load("p"))
    assert record.last_seen_at == first_seen and not any("UPDATE" in s for s in sent)
    clock["now"] += timedelta(minutes=2)  # past the touch interval
    (record, _, _), sent = statements(engine, lambda: store.load("p"))
    assert record.last_seen_at == clock["now"] and any("UPDATE" in s for s in sent)
    assert store.load("p")[0].last_seen_at == clock["now"]  # written, not only returned
    clock["now"] += timedelta(minutes=31)
    assert store.load("p") == (None, True, None)
    with session_scope(engine) as db:
        assert db.get(WebSession, _hash("p")).ended_at == clock["now"]
    clock["now"] = utcnow()  # ended stays ended, however soon after
    assert store.load("p") == (None, True, None)


def test_an_unchanged_session_is_not_saved(engine: Engine) -> None:
    store = SessionStore(engine, idle=timedelta(minutes=30))
    add_session(engine, "p", subject_id=add_subject(engine))
    record, _, _ = store.load("p")
    state = SessionState(sid="p", secret_key="k", record=record, data=SessionData(record.data))
    assert not state.unsaved
    _, sent = statements(engine, lambda: store.save(state))
    assert sent == []
    state.data["flash"] = "saved"
    assert state.unsaved
    store.save(state)
    assert store.load("p")[0].data == {"flash": "saved"}


def test_the_middleware_uses_the_viewer_read_with_the_session() -> None:
    seen = {}

    async def app(scope, receive, send) -> None:
        seen["viewer"] = scope["viewer"]

    viewer = Viewer("person", 7, "Kari Nordmann")
    state = SessionState(sid="x", secret_key="k", companion=viewer)
    middleware = ViewerMiddleware(app)
    asyncio.run(middleware({"type": "http", "web_session": state}, None, None))
    assert seen["viewer"] is viewer
