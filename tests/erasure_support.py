"""The demo company for the retention and erasure-plan tests: seeded once per module."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import create_engine
from sqlalchemy.engine import Engine

from portal.datamap import Collection, DataMap, Row, collect, load_datamap, parse_datamap
from portal.demo import DATAMAP_PATH, EDGE_CASES_BY_KEY
from portal.demo.seed import seed
from tests.support import postgres_database

TODAY = date(2026, 11, 24)  # seed(..., today=TODAY) is deterministic
PEOPLE = 40


@contextmanager
def seeded_demo(db_kind: str, directory: Path) -> Iterator[Engine]:
    """The demo company in SQLite, or in PostgreSQL with --db=postgres."""
    if db_kind == "sqlite":
        engine = create_engine(f"sqlite:///{directory / 'demo.db'}")
        seed(engine, PEOPLE, today=TODAY)
        yield engine
        engine.dispose()
        return
    with postgres_database(f"innsyn_erasure_{uuid.uuid4().hex[:10]}") as url:
        engine = create_engine(url)
        seed(engine, PEOPLE, today=TODAY)
        yield engine
        engine.dispose()


def demo_map_text() -> str:
    return Path(DATAMAP_PATH).read_text(encoding="utf-8")


def edited_map(*replacements: tuple[str, str]) -> DataMap:
    """The demo map with exact text replacements (each must occur exactly once)."""
    text = demo_map_text()
    for old, new in replacements:
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    return parse_datamap(text.encode(), "edited-datamap.toml")


def person(datamap: DataMap, engines: dict[str, Engine], key: str) -> Collection:
    return collect(datamap, engines, EDGE_CASES_BY_KEY[key].national_id)


def rows(collection: Collection, table: str) -> tuple[Row, ...]:
    return collection.tables[table]


# Module-scoped fixtures for the tests that only read the demo company (plans, retention):
# import them into the test module (`from tests.erasure_support import datamap, demo, engines`).


@pytest.fixture(scope="module")
def demo(db_kind: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    with seeded_demo(db_kind, tmp_path_factory.mktemp("demo")) as engine:
        yield engine


@pytest.fixture(scope="module")
def datamap() -> DataMap:
    return load_datamap(DATAMAP_PATH)


@pytest.fixture(scope="module")
def engines(datamap: DataMap, demo: Engine) -> dict[str, Engine]:
    return dict.fromkeys(datamap.sources, demo)
