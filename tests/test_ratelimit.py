"""Rate limits (portal/ratelimit.py): per client and per address, in the database, keyed by a
hash that is not the value."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from portal import ratelimit
from portal.db import session_scope
from portal.ratelimit import Client, Limits, RateLimited, RateLimitHit, key_of

SECRET = "k" * 40
NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
LIMITS = Limits(per_ip=3, per_address=2, window=timedelta(hours=1))


def attempt(engine: Engine, ip: str, address: str, at: datetime = NOW, action: str = "a") -> bool:
    try:
        with session_scope(engine) as db:
            ratelimit.hit(
                db,
                action,
                client=Client.of(SECRET, ip),
                address_key=key_of(SECRET, "address", address),
                limits=LIMITS,
                now=at,
            )
    except RateLimited:
        return False
    return True


def test_an_address_is_limited_whatever_the_client(engine: Engine) -> None:
    assert attempt(engine, "10.0.0.1", "kari@example.no")
    assert attempt(engine, "10.0.0.2", "KARI@example.no")
    assert not attempt(engine, "10.0.0.3", "kari@example.no")
    # Another action counts on its own, and the window moves on.
    assert attempt(engine, "10.0.0.3", "kari@example.no", action="b")
    assert attempt(engine, "10.0.0.3", "kari@example.no", at=NOW + timedelta(minutes=61))


def test_a_client_is_limited_whatever_the_address(engine: Engine) -> None:
    for n in range(3):
        assert attempt(engine, "10.0.0.9", f"person{n}@example.no")
    assert not attempt(engine, "10.0.0.9", "someone.new@example.no")
    # A refused attempt is not counted: the new address has all its attempts left.
    assert attempt(engine, "10.0.0.10", "someone.new@example.no")


def test_no_value_is_stored_in_clear_and_old_hits_are_purged(engine: Engine) -> None:
    attempt(engine, "192.0.2.7", "kari@example.no", at=NOW - timedelta(days=2))
    attempt(engine, "192.0.2.7", "kari@example.no")
    with Session(engine) as db:
        keys = [hit.key for hit in db.exec(select(RateLimitHit))]
    assert keys and all("kari" not in key and "192.0.2" not in key for key in keys)
    assert key_of(SECRET, "address", "kari@example.no") != key_of(
        "j" * 40, "address", "kari@example.no"
    )
    with session_scope(engine) as db:
        assert ratelimit.purge(db, NOW) == 2
    with Session(engine) as db:
        assert len(db.exec(select(RateLimitHit)).all()) == 2


def test_the_limits_are_settings(settings) -> None:
    limits = Limits.from_settings(settings)
    assert (limits.per_ip, limits.per_address, limits.window) == (20, 5, timedelta(hours=1))


@pytest.mark.parametrize("value", ["0", "1441", "many"])
def test_a_bad_window_stops_start_up(value: str, database_url, var_dir) -> None:
    from portal.settings import SettingsError
    from tests.conftest import make_settings

    with pytest.raises(SettingsError, match="RATE_LIMIT_WINDOW_MINUTES"):
        make_settings(database_url, var_dir, RATE_LIMIT_WINDOW_MINUTES=value)
