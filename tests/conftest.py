"""Test fixtures: one database per run (SQLite or PostgreSQL), migrations applied once.

Choose the database with `--db=postgres` or INNSYN_TEST_DB=postgres; the same tests run on both.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from hypothesis import settings as hypothesis_settings
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlmodel import Session, SQLModel
from starlette.testclient import TestClient

import portal.mail.sender  # the delivery job's handler, which every worker has
import portal.schema  # noqa: F401 - every table, for the truncation below
from portal import i18n
from portal.app import create_app
from portal.datamap import DataMap, load_datamap
from portal.db import make_engine
from portal.demo import DATAMAP_PATH
from portal.demo.schema import URL_ENV as DEMO_URL_ENV
from portal.demo.seed import seed
from portal.migrations import upgrade
from portal.models import StaffMember
from portal.settings import Settings
from tests.support import Clock, postgres_database

TEST_SECRET = "test-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz"

# Property-based tests (tests/fuzz): "ci" by default, a bounded run that draws the same examples
# every time (derandomize), so a green main stays green and a failure reproduces; no example
# database is written. "long" searches far more and at random, for a local hunt:
# `pytest tests/fuzz --hypothesis-profile=long` or HYPOTHESIS_PROFILE=long.
hypothesis_settings.register_profile(
    "ci", max_examples=150, deadline=None, derandomize=True, database=None, print_blob=True
)
hypothesis_settings.register_profile("long", max_examples=5000, deadline=None)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--db",
        choices=("sqlite", "postgres"),
        default=os.environ.get("INNSYN_TEST_DB", "sqlite"),
        help="the database the portal's own tables live in during the tests",
    )


def pytest_report_header(config: pytest.Config) -> str:
    return f"innsyn database: {config.getoption('--db')}"


@pytest.fixture(scope="session")
def db_kind(request: pytest.FixtureRequest) -> str:
    return request.config.getoption("--db")


@pytest.fixture(scope="session")
def database_url(db_kind: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if db_kind == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'portal.db'}"
        return
    with postgres_database(f"innsyn_test_{uuid.uuid4().hex[:10]}") as url:
        yield url


@pytest.fixture(scope="session")
def engine(database_url: str) -> Iterator[Engine]:
    upgrade(database_url)
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture(autouse=True)
def _empty_tables(request: pytest.FixtureRequest) -> Iterator[None]:
    """Each test starts from empty tables. Truncating (not a rolled-back savepoint) because the
    sign-in tests run a real server whose connections a savepoint would not cover."""
    yield
    if "engine" not in request.fixturenames:
        return
    engine: Engine = request.getfixturevalue("engine")
    tables = list(reversed(SQLModel.metadata.sorted_tables))
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            # TRUNCATE fires no row triggers, so it also empties the append-only audit log.
            names = ", ".join(f'"{table.name}"' for table in tables)
            connection.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
            return
        for table in tables:
            connection.execute(table.delete())


@pytest.fixture
def english() -> Iterator[None]:
    """Messages in English, the source language, for tests that match on their text."""
    i18n.set_language("en")
    yield
    i18n.set_language(i18n.DEFAULT_LANGUAGE)


@pytest.fixture
def var_dir(tmp_path: Path) -> Path:
    path = tmp_path / "var"
    path.mkdir()
    return path


def make_settings(database_url: str, var_dir: Path, **env: str) -> Settings:
    base = {
        "DATABASE_URL": database_url,
        "SECRET_KEY": TEST_SECRET,
        "PORTAL_VAR_DIR": str(var_dir),
        # TestClient's host, so redirect URIs and the mounted provider's issuer line up.
        "PORTAL_BASE_URL": "http://testserver",
    }
    return Settings.from_env({**base, **env})


@pytest.fixture
def settings(database_url: str, var_dir: Path, engine: Engine) -> Settings:
    return make_settings(database_url, var_dir)


DEMO_TODAY = date(2026, 11, 24)
DEMO_PEOPLE = 200


@pytest.fixture(scope="session")
def demo_engine(db_kind: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """The demo company, seeded once per run in the database kind under test."""
    if db_kind == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('demo') / 'demo.db'}")
        seed(engine, DEMO_PEOPLE, today=DEMO_TODAY)
        yield engine
        engine.dispose()
        return
    with postgres_database(f"innsyn_demo_{uuid.uuid4().hex[:10]}") as url:
        engine = make_engine(url)
        seed(engine, DEMO_PEOPLE, today=DEMO_TODAY)
        yield engine
        engine.dispose()


@pytest.fixture(scope="session")
def demo_sources(demo_engine: Engine) -> dict[str, Engine]:
    # All sources of the demo map live in one database, as in the embedded default.
    return dict.fromkeys(load_datamap(DATAMAP_PATH).sources, demo_engine)


@pytest.fixture(scope="session", autouse=True)
def _demo_database_url(demo_engine: Engine) -> Iterator[None]:
    """Apps built in tests read the data map's sources from DEMO_DATABASE_URL: the seeded demo."""
    previous = os.environ.get(DEMO_URL_ENV)
    os.environ[DEMO_URL_ENV] = demo_engine.url.render_as_string(hide_password=False)
    yield
    if previous is None:
        del os.environ[DEMO_URL_ENV]
    else:
        os.environ[DEMO_URL_ENV] = previous


@pytest.fixture(scope="session", autouse=True)
def _mail_stays_in_a_temporary_mailbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Workers in tests deliver what the outbox holds: in development without SMTP_HOST, to the
    mailbox under PORTAL_VAR_DIR, which must not be the checkout's var/."""
    previous = os.environ.get("PORTAL_VAR_DIR")
    os.environ["PORTAL_VAR_DIR"] = str(tmp_path_factory.mktemp("worker-var"))
    yield
    if previous is None:
        del os.environ["PORTAL_VAR_DIR"]
    else:
        os.environ["PORTAL_VAR_DIR"] = previous


@pytest.fixture(scope="module")
def datamap() -> DataMap:
    """The demo company's data map (a module may define its own ``datamap`` instead)."""
    return load_datamap(DATAMAP_PATH)


@pytest.fixture
def agent(engine: Engine) -> int:
    """A customer-service staff member's id."""
    with Session(engine) as db:
        member = StaffMember(issuer="https://idp", sub="kundeservice", name="Kim Kundeservice")
        db.add(member)
        db.commit()
        return member.id or 0


@pytest.fixture
def clock() -> Clock:
    """A clock the test moves; ``client``'s portal reads it."""
    return Clock()


@pytest.fixture
def client(settings: Settings, demo_sources, clock: Clock) -> Iterator[TestClient]:
    """The portal on ``clock``, reading the demo company, answering in English (a module may
    define its own ``client`` instead)."""
    app = create_app(settings, now=clock, sources=demo_sources)
    with TestClient(app, follow_redirects=False) as c:
        c.cookies.set("lang", "en")
        yield c
