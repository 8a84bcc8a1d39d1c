"""The per-session memory of /me (portal/web/session_memory.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select
from starlette.testclient import TestClient

import portal.routes.me
from portal.app import create_app
from portal.datamap import Resolution
from portal.db import session_scope
from portal.models import Subject
from portal.web.session_memory import SessionMemory
from tests.conftest import TEST_SECRET, make_settings
from tests.support import csrf_token_from, signed_in_client
from tests.views.test_my_data import sign_in_as


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def resolution(name: str) -> Resolution:
    return Resolution(name, {}, {}, {}, {}, {}, 0)


def test_a_session_remembers_while_fresh_then_computes_again() -> None:
    clock, calls = Clock(), []
    memory = SessionMemory(60, clock=clock)

    def resolve() -> Resolution:
        calls.append(1)
        return resolution(f"r{len(calls)}")

    assert memory.get("s1", 7, "resolution", resolve).national_id == "r1"
    clock.now += 59
    assert memory.get("s1", 7, "resolution", resolve).national_id == "r1"
    clock.now += 2
    assert memory.get("s1", 7, "resolution", resolve).national_id == "r2"
    assert len(calls) == 2


def test_adding_to_an_entry_does_not_make_it_live_longer() -> None:
    clock = Clock()
    memory = SessionMemory(60, clock=clock)
    memory.keep("s1", 7, "resolution", "r")
    clock.now += 50
    memory.keep("s1", 7, "page", "p")
    clock.now += 11
    assert memory.recall("s1", 7, "page") is None
    assert memory.recall("s1", 7, "resolution") is None


def test_sessions_and_subjects_never_share_an_entry() -> None:
    memory = SessionMemory(60, clock=Clock())
    memory.keep("s1", 7, "page", "seven's page")
    assert memory.recall("s2", 7, "page") is None
    assert memory.recall("s1", 8, "page") is None
    assert memory.recall("s1", 7, "page") == "seven's page"


def test_forget_drops_the_session_and_the_size_is_bounded() -> None:
    memory = SessionMemory(60, size=2, clock=Clock())
    for session in ("a", "b", "c"):
        memory.keep(session, 1, "page", session)
    assert len(memory) == 2
    assert memory.recall("a", 1, "page") is None  # the least recently used went first
    memory.forget("b")
    assert memory.recall("b", 1, "page") is None
    assert memory.recall("c", 1, "page") == "c"


def test_zero_seconds_turns_the_memory_off() -> None:
    memory = SessionMemory(0, clock=Clock())
    memory.get("s", 1, "resolution", lambda: resolution("one"))
    assert memory.get("s", 1, "resolution", lambda: resolution("two")).national_id == "two"
    assert len(memory) == 0


@pytest.fixture
def resolves(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """National IDs resolved by /me, in order."""
    seen: list[str] = []
    real = portal.routes.me.resolve

    def spy(datamap: Any, sources: Any, national_id: str, **kwargs: Any) -> Resolution:
        seen.append(national_id)
        return real(datamap, sources, national_id, **kwargs)

    monkeypatch.setattr(portal.routes.me, "resolve", spy)
    return seen


def client_with(
    database_url: str, var_dir: Path, demo_sources: Any, **env: str
) -> Iterator[TestClient]:
    settings = make_settings(database_url, var_dir, **env)
    with TestClient(create_app(settings, sources=demo_sources), follow_redirects=False) as c:
        yield c


@pytest.fixture
def client(
    database_url: str, var_dir: Path, engine: Any, demo_sources: Any
) -> Iterator[TestClient]:
    yield from client_with(database_url, var_dir, demo_sources)


def test_paging_reuses_the_sessions_resolution(client: TestClient, resolves: list[str]) -> None:
    sign_in_as(client, "frequent_buyer")
    assert client.get("/me").status_code == 200
    assert client.get("/me/data/shop_orders?page=2").status_code == 200
    assert len(resolves) == 1


def test_me_is_remembered_until_the_session_changes_something(
    client: TestClient, resolves: list[str]
) -> None:
    sign_in_as(client, "ordinary")
    first = client.get("/me")
    again = client.get("/me")
    assert again.status_code == 200 and again.text == first.text
    assert len(resolves) == 1
    # Any state-changing request of the session forgets, e.g. choosing a language.
    csrf = csrf_token_from(first.text)
    client.post("/language", data={"csrf_token": csrf, "lang": "nb", "next": "/me"})
    assert client.get("/me").text == first.text
    assert len(resolves) == 2


def test_a_new_session_and_signing_out_start_afresh(
    client: TestClient, resolves: list[str]
) -> None:
    sign_in_as(client, "ordinary")
    client.get("/me")
    with session_scope(client.app.state.engine) as db:
        subject_id = db.exec(select(Subject.id)).one()
    signed_in_client(client, secret_key=TEST_SECRET, subject_id=subject_id)  # a new session
    client.get("/me")
    assert len(resolves) == 2
    assert len(client.app.state.memory) == 2
    csrf = csrf_token_from(client.get("/me/requests").text)
    assert client.post("/auth/logout", data={"csrf_token": csrf}).status_code == 303
    assert len(client.app.state.memory) == 1


def test_the_memory_can_be_turned_off(
    database_url: str, var_dir: Path, engine: Any, demo_sources: Any, resolves: list[str]
) -> None:
    for client in client_with(database_url, var_dir, demo_sources, ME_CACHE_SECONDS="0"):
        sign_in_as(client, "ordinary")
        client.get("/me")
        client.get("/me")
    assert len(resolves) == 2
