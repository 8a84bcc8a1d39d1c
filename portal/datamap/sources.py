"""From a data map's sources to SQLAlchemy engines."""

from __future__ import annotations

import os
from collections.abc import Mapping
from contextlib import ExitStack
from pathlib import Path

from sqlalchemy import create_engine
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError

from portal.datamap.model import DataMap, Source
from portal.datamap.problems import DataMapError


def resolve_url(name: str, source: Source, environ: Mapping[str, str] | None = None) -> URL:
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
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        path = Path(url.database)
        if not path.is_absolute():
            url = url.set(database=str(Path.cwd() / path))
    return url


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
            by_url[key] = create_engine(url, pool_pre_ping=url.get_backend_name() != "sqlite")
        engines[name] = by_url[key]
    return engines


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
