"""From a data map's sources to SQLAlchemy engines: the portal's, which read and write (erasure,
consent withdrawal), and read-only ones for commands that only look (``portal datamap check``,
``portal datamap init``), which never create a SQLite file that is not there."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Mapping
from contextlib import ExitStack
from pathlib import Path
from urllib.parse import quote

from sqlalchemy import create_engine
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError

from portal.datamap.model import DataMap, SourceLocation
from portal.datamap.problems import DataMapError
from portal.db import POOL


class SourceUnavailable(Exception):
    """A database that cannot be opened; the message says why (never with a password)."""


def resolve_url(name: str, source: SourceLocation, environ: Mapping[str, str] | None = None) -> URL:
    """The source's URL; a relative SQLite path is made absolute against the working directory,
    so that the engine does not depend on where the process happens to be later."""
    env = os.environ if environ is None else environ
    text = source.url
    if source.url_env is not None:
        text = env.get(source.url_env) or source.url_default
        if not text:
            raise DataMapError(
                [f"source '{name}': environment variable {source.url_env} is not set"]
            )
    assert text is not None
    try:
        url = make_url(text)
    except ArgumentError:
        raise DataMapError([f"source '{name}': not a valid SQLAlchemy URL"]) from None
    return absolute(url)


def absolute(url: URL) -> URL:
    """A SQLite URL with its file's path made absolute against the working directory."""
    path = sqlite_file(url)
    if path is not None and not path.is_absolute():
        url = url.set(database=str(Path.cwd() / path))
    return url


def sqlite_file(url: URL) -> Path | None:
    """The file a SQLite URL names; None for an in-memory database or another kind."""
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    assert url.database is not None
    if url.database.startswith("file:"):  # a URI filename: file:PATH?mode=...&uri=true
        return Path(url.database.removeprefix("file:"))
    return Path(url.database)


def safe_url(url: URL) -> str:
    """The URL for messages and logs: never a password."""
    return url.render_as_string(hide_password=True)


def create_engines(datamap: DataMap, environ: Mapping[str, str] | None = None) -> dict[str, Engine]:
    """One engine per source name; sources with the same URL share an engine (and its pool)."""
    by_url: dict[str, Engine] = {}
    engines: dict[str, Engine] = {}
    for name, source in datamap.sources.items():
        url = resolve_url(name, source, environ)
        key = url.render_as_string(hide_password=False)
        if key not in by_url:
            server = url.get_backend_name() != "sqlite"
            pool = POOL if server else {}
            by_url[key] = create_engine(url, pool_pre_ping=server, **pool)
        engines[name] = by_url[key]
    return engines


def read_only_engine(url: URL) -> Engine:
    """An engine that only reads ``url`` (absolute, see ``absolute``). A SQLite file must exist
    and is opened read-only (``mode=ro``), so a mistyped path is an error, never a new empty
    database; PostgreSQL sessions are read-only transactions. Raises ``SourceUnavailable``."""
    path = sqlite_file(url)
    try:
        if path is not None:
            if not path.is_file():
                raise SourceUnavailable(f"no such database file: {path}")
            uri = f"file:{quote(str(path))}?mode=ro"
            return create_engine(
                url, creator=lambda: sqlite3.connect(uri, uri=True, check_same_thread=False)
            )
        if url.get_backend_name() == "postgresql":
            options = " ".join(
                part
                for part in (url.query.get("options"), "-c default_transaction_read_only=on")
                if isinstance(part, str)
            )
            return create_engine(url, pool_pre_ping=True, connect_args={"options": options})
        return create_engine(url)
    except (ArgumentError, ImportError) as exc:  # an unknown dialect, or its driver missing
        raise SourceUnavailable(
            f"cannot open {safe_url(url)} ({type(exc).__name__}: {exc})"
        ) from None


def open_read_only(
    sources: Mapping[str, SourceLocation], environ: Mapping[str, str] | None = None
) -> tuple[dict[str, Engine], dict[str, str]]:
    """Read-only engines for the sources that can be opened, and for each other one why not
    ("source 'crm': no such database file: /srv/crm.db"); sources with one URL share an engine."""
    by_url: dict[str, Engine | str] = {}
    engines: dict[str, Engine] = {}
    unavailable: dict[str, str] = {}
    for name, source in sources.items():
        try:
            url = resolve_url(name, source, environ)
        except DataMapError as exc:
            unavailable[name] = exc.problems[0]
            continue
        key = url.render_as_string(hide_password=False)
        if key not in by_url:
            try:
                by_url[key] = read_only_engine(url)
            except SourceUnavailable as exc:
                by_url[key] = str(exc)
        opened = by_url[key]
        if isinstance(opened, Engine):
            engines[name] = opened
        else:
            unavailable[name] = f"source '{name}': {opened}"
    return engines, unavailable


def dispose_engines(engines: Mapping[str, Engine]) -> None:
    for engine in {id(engine): engine for engine in engines.values()}.values():
        engine.dispose()


class SourceConnections(ExitStack):
    """One connection per engine for a unit of work (a resolution, a page's rows), opened when
    a source is first asked for and closed together at the end: sources that share a database
    share the connection, and on PostgreSQL each checkout and return is a round trip."""

    def __init__(self, engines: Mapping[str, Engine]) -> None:
        super().__init__()
        self.engines = engines
        self._open: dict[int, Connection] = {}

    def to(self, source: str) -> Connection:
        engine = self.engines[source]
        if id(engine) not in self._open:
            self._open[id(engine)] = self.enter_context(engine.connect())
        return self._open[id(engine)]
