"""The portal's own database: engine, sessions, and the time source."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import String, event, make_url
from sqlalchemy.engine import Engine
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import GenericFunction
from sqlmodel import Session, create_engine

# Seconds a new connection to PostgreSQL may take (libpq's connect_timeout), unless the URL says.
CONNECT_TIMEOUT = 10


# Connections kept per engine and process, and opened beyond them at a peak. SQLAlchemy's 5
# kept were fewer than one web process's requests at once (a first view holds one to the
# portal's database and one to the company's): every request past the fifth opened a
# connection and closed it again, a new PostgreSQL process each time, and 20 clients got a
# third of the first views the machine could serve (benchmarks/README.md, "First views").
# Two web processes and their engines stay within PostgreSQL's default 100 connections.
POOL = {"pool_size": 10, "max_overflow": 5}


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    # pool_pre_ping: a connection the database dropped (a restart, a fail-over) is noticed when
    # it is taken from the pool and replaced, so the portal recovers by itself; one that breaks
    # mid-request invalidates the pool. connect_timeout: an unreachable host fails a request
    # (a 503, portal/web/errors.py) in seconds rather than after the system's TCP time-out.
    parsed = make_url(url)
    libpq = parsed.get_driver_name() in {"psycopg", "psycopg2"}
    timeout = libpq and "connect_timeout" not in parsed.query
    connect_args = {"connect_timeout": CONNECT_TIMEOUT} if timeout else {}
    return create_engine(url, pool_pre_ping=True, connect_args=connect_args, **POOL)


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    # SQLite leaves foreign keys off unless asked; WAL lets worker and web server share the file.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()
    dbapi_connection.create_function("portal_lower", 1, _lower, deterministic=True)


def _lower(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


class lowered(GenericFunction):
    """``lower(text)`` for every letter, not only A-Z: SQLite's own lower() leaves "Ø" and "Å"
    as they are, so on SQLite it is Python's str.lower (registered on every connection by
    make_engine); PostgreSQL's lower() follows the database's locale."""

    type = String()
    name = "lowered"
    inherit_cache = True


@compiles(lowered)
def _lowered(element: lowered, compiler: SQLCompiler, **kw: Any) -> str:
    return f"lower({compiler.process(element.clauses, **kw)})"


@compiles(lowered, "sqlite")
def _lowered_sqlite(element: lowered, compiler: SQLCompiler, **kw: Any) -> str:
    return f"portal_lower({compiler.process(element.clauses, **kw)})"


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """A unit of work: committed when the block ends, rolled back on error."""
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


def utcnow() -> datetime:
    """Aware UTC: the models' datetime columns refuse naive values."""
    return datetime.now(UTC)
