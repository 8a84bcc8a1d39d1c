"""Rate limits on what anyone can make the portal do: file a request without BankID, ask for
new links, claim an e-mail address. Each sends an e-mail, so each is limited per client address
(IP) and per e-mail address, within a window (settings RATE_LIMIT_PER_IP,
RATE_LIMIT_PER_ADDRESS, RATE_LIMIT_WINDOW_MINUTES). And, by ``take`` and ``rules``: sign-in
starts per client address, requests a signed-in person files, washing calls per API token and
caller look-ups per member of staff. A refusal says when to try again (Retry-After).

Why our own rather than a library such as ``limits``: the counts must hold across every web
process and worker (``portal serve --workers N``), and the one store all of them share is the
portal's database; ``limits`` keeps counts in memory (per process) or in Redis, Memcached or
MongoDB, none of which the portal otherwise needs. The table is indexed for the one query a
check makes, and cleaned hourly.

Hits are rows in the portal's database, so a limit holds across every web process. A row holds
a keyed hash (HMAC-SHA256 with SECRET_KEY) of the IP or e-mail address, never the value: the
table tells nobody who asked for what, and without the key a dictionary of addresses cannot be
matched against it. Only the attempts let through are counted; the hourly clean-up job
(``purge``) removes hits older than a day, the longest window the setting allows.
"""

from __future__ import annotations

import hashlib
import hmac
import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Index, delete, func
from sqlmodel import Field, Session, SQLModel, col, select

from portal.db import utcnow
from portal.settings import Settings

# The longest window the settings allow; hits older than this are never counted.
LONGEST_WINDOW = timedelta(days=1)


class RateLimitHit(SQLModel, table=True):
    __tablename__ = "rate_limit_hit"
    __table_args__ = (Index("ix_rate_limit_hit_action_key_at", "action", "key", "at"),)

    id: int | None = Field(default=None, primary_key=True)
    action: str = Field(max_length=30)
    # HMAC-SHA256 (hex) of "ip:..." or "address:...": see the module docstring.
    key: str = Field(max_length=64)
    at: datetime = Field(default_factory=utcnow)


class RateLimited(Exception):
    """Too many attempts from this client or for this address; nothing was done.
    ``retry_after``: seconds until the oldest counted attempt leaves the window."""

    def __init__(self, action: str, retry_after: int = 60) -> None:
        super().__init__(action)
        self.retry_after = max(1, retry_after)


@dataclass(frozen=True)
class Rule:
    """At most ``limit`` uses of ``action`` per key within ``window``."""

    action: str
    limit: int
    window: timedelta


def take(db: Session, rule: Rule, key: str, now: datetime) -> None:
    """Count one use of ``rule.action`` by ``key`` (a ``key_of`` hash), or refuse it with
    RateLimited (nothing counted) when the key has used up its attempts in the window."""
    since = now - rule.window
    if _count(db, rule.action, key, since) >= rule.limit:
        raise RateLimited(rule.action, _retry_after(db, rule.action, key, since, rule.window, now))
    db.add(RateLimitHit(action=rule.action, key=key, at=now))
    db.flush()


def _retry_after(
    db: Session, action: str, key: str, since: datetime, window: timedelta, now: datetime
) -> int:
    oldest = db.exec(
        select(func.min(RateLimitHit.at)).where(
            col(RateLimitHit.action) == action,
            col(RateLimitHit.key) == key,
            col(RateLimitHit.at) > since,
        )
    ).one()
    if oldest is None:
        return 60
    if oldest.tzinfo is None:  # SQLite hands moments back naive; they are UTC
        oldest = oldest.replace(tzinfo=now.tzinfo)
    return math.ceil((oldest + window - now).total_seconds())


@dataclass(frozen=True)
class Limits:
    per_ip: int
    per_address: int
    window: timedelta

    @classmethod
    def from_settings(cls, settings: Settings) -> Limits:
        return cls(
            per_ip=settings.rate_limit_per_ip,
            per_address=settings.rate_limit_per_address,
            window=timedelta(minutes=settings.rate_limit_window_minutes),
        )


@dataclass(frozen=True)
class Client:
    """Who is asking, as the limits see them: keyed hashes, never the values."""

    ip_key: str

    @classmethod
    def of(cls, secret_key: str, ip: str | None) -> Client:
        return cls(key_of(secret_key, "ip", ip or "unknown"))


def key_of(secret_key: str, kind: str, value: str) -> str:
    message = f"{kind}:{value.strip().lower()}".encode()
    return hmac.new(secret_key.encode(), message, hashlib.sha256).hexdigest()


def hit(
    db: Session,
    action: str,
    *,
    client: Client,
    address_key: str | None,
    limits: Limits,
    now: datetime,
) -> None:
    """Count an attempt at ``action``, or refuse it (RateLimited, nothing counted) when the
    client or the address has used up its attempts in the window."""
    keys = [(client.ip_key, limits.per_ip)]
    if address_key is not None:
        keys.append((address_key, limits.per_address))
    since = now - limits.window
    for key, limit in keys:
        if _count(db, action, key, since) >= limit:
            raise RateLimited(action, _retry_after(db, action, key, since, limits.window, now))
    for key, _limit in keys:
        db.add(RateLimitHit(action=action, key=key, at=now))
    db.flush()


def _count(db: Session, action: str, key: str, since: datetime) -> int:
    statement = select(func.count()).where(
        col(RateLimitHit.action) == action,
        col(RateLimitHit.key) == key,
        col(RateLimitHit.at) > since,
    )
    return int(db.exec(statement).one())


def purge(db: Session, now: datetime) -> int:
    result = db.execute(delete(RateLimitHit).where(col(RateLimitHit.at) <= now - LONGEST_WINDOW))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


# The limited actions; each counts on its own.
FILE_REQUEST = "file_request"
ASK_FOR_LINKS = "ask_for_links"
CLAIM_ADDRESS = "claim_address"
SIGN_IN = "sign_in"  # per client address: starts of a sign-in (each a round trip to the IdP)
PERSON_FILES = "person_files"  # per person: requests filed when signed in
API_CHECK = "api_check"  # per API token: washing calls from a dialer
STAFF_LOOKUP = "staff_lookup"  # per member of staff: caller look-ups
ACTIONS = (FILE_REQUEST, ASK_FOR_LINKS, CLAIM_ADDRESS, SIGN_IN, PERSON_FILES, API_CHECK)
ACTIONS += (STAFF_LOOKUP,)


def rules(settings: Settings) -> dict[str, Rule]:
    """The limits of the actions counted per key by ``take`` (settings RATE_LIMIT_*)."""
    return {
        SIGN_IN: Rule(SIGN_IN, settings.rate_limit_sign_in_per_ip, timedelta(minutes=10)),
        PERSON_FILES: Rule(PERSON_FILES, settings.rate_limit_filings_per_person, timedelta(days=1)),
        API_CHECK: Rule(API_CHECK, settings.rate_limit_api_per_minute, timedelta(minutes=1)),
        STAFF_LOOKUP: Rule(STAFF_LOOKUP, settings.rate_limit_lookups_per_hour, timedelta(hours=1)),
    }
