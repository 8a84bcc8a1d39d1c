"""Signed links: bound to a purpose and an object, expiring, single-use where they act.

Every link the portal hands out (a download in a person's export page, a link in an e-mail) is
made here. A link carries, signed with SECRET_KEY (itsdangerous, a salt per purpose, so a link
made for one purpose is no link at all for another):

* the object it is for (an export, a request, an address claim: an internal id),
* the moment it expires (judged by the portal's clock, never by the time it was signed),
* the person it was made for, when the page that serves it has someone signed in,
* the part of the object it opens (an export's file), and the language of the e-mail it went
  out in, so that a refusal is shown in the person's language,
* for a link that *acts* (confirming an address, confirming a request), a random nonce.

None of these is personal data: the link reveals nothing about the person it was sent to.

A link that acts is single-use: its nonce is stored (hashed, in ``link_nonce``) when the link
is made, and ``spend`` marks it spent in the caller's transaction, the one that carries out the
action. The action and the spending commit together or not at all: a link used twice, by two
clicks at once or a day apart, acts once, and a refused action leaves the link unspent.

Expiry per purpose is a setting (``lifetime``). Spent nonces are kept until their link has
expired, so that a second use is told "already used" rather than "not valid"; ``purge`` then
removes them (the hourly clean-up job).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import delete, update
from sqlmodel import Field, Session, SQLModel, col

from portal.db import utcnow
from portal.settings import Settings


class Purpose(StrEnum):
    # A file of a signed-in person's export (served only to that person, freshly signed in).
    export_download = "export_download"
    # A file of the export of a request filed without BankID (e-mailed, bound to the request).
    request_download = "request_download"
    # Proves an e-mail address a signed-in person claims as theirs (acts).
    confirm_address = "confirm_address"
    # Confirms the address of a request filed without BankID; the request enters the queue (acts).
    confirm_request = "confirm_request"
    # Opens a request filed without BankID, to follow it.
    follow_request = "follow_request"
    # A recipient of the person's data confirms it did what it was asked (art. 19). Used once:
    # the task's own confirmation says so, so the link carries no nonce.
    recipient_task = "recipient_task"


# The purposes whose link does something: single-use, with a nonce.
ACTING = frozenset({Purpose.confirm_address, Purpose.confirm_request})


class Refusal(StrEnum):
    """Why a link is refused; each has its own clear page."""

    invalid = "invalid"  # tampered, truncated, of another purpose, or not a link of ours
    other_person = "other_person"  # made for someone else
    expired = "expired"
    used = "used"  # a single-use link already spent


class LinkRefused(Exception):
    """The link does nothing; ``link`` is what it said, when that could be read (an expired or
    used link is still ours: the page can offer a new one for the same thing)."""

    def __init__(self, reason: Refusal, link: Link | None = None) -> None:
        super().__init__(str(reason))
        self.reason = reason
        self.link = link


@dataclass(frozen=True)
class Link:
    purpose: Purpose
    object_id: str
    expires_at: datetime
    subject_id: int | None = None
    part: str | None = None
    nonce: str | None = None
    language: str | None = None


class LinkNonce(SQLModel, table=True):
    """The nonce of a single-use link: unspent until the action it carries out commits."""

    __tablename__ = "link_nonce"

    # SHA-256 of the nonce: a copy of this table makes no link (nor could it without the key).
    id: str = Field(primary_key=True, max_length=64)
    purpose: str = Field(max_length=30)
    object_id: str = Field(max_length=64)
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime = Field(index=True)
    spent_at: datetime | None = None


def lifetime(settings: Settings, purpose: Purpose) -> timedelta:
    """How long a link of this purpose lasts (a setting per purpose; see the README)."""
    if purpose == Purpose.confirm_address:
        return timedelta(hours=settings.address_link_hours)
    if purpose == Purpose.confirm_request:
        return timedelta(hours=settings.request_link_hours)
    if purpose == Purpose.follow_request:
        return timedelta(days=settings.follow_link_days)
    if purpose == Purpose.recipient_task:
        return timedelta(days=settings.recipient_link_days)
    return timedelta(days=settings.export_link_days)


def issue(
    db: Session | None,
    purpose: Purpose,
    object_id: str | int,
    *,
    expires_at: datetime,
    now: datetime,
    subject_id: int | None = None,
    part: str | None = None,
    language: str | None = None,
) -> Link:
    """A new link; one that acts gets a nonce, stored unspent in the caller's transaction
    (``db`` may be None only for a link that does not act)."""
    nonce = None
    if purpose in ACTING:
        if db is None:
            raise ValueError(f"a {purpose} link is single-use: it needs the database")
        nonce = secrets.token_urlsafe(16)
        db.add(
            LinkNonce(
                id=_hash(nonce),
                purpose=str(purpose),
                object_id=str(object_id),
                created_at=now,
                expires_at=expires_at,
            )
        )
        db.flush()
    return Link(purpose, str(object_id), expires_at, subject_id, part, nonce, language)


def sign(secret_key: str, link: Link) -> str:
    payload: dict[str, Any] = {"o": link.object_id, "x": int(link.expires_at.timestamp())}
    for key, value in (
        ("s", link.subject_id),
        ("f", link.part),
        ("n", link.nonce),
        ("l", link.language),
    ):
        if value is not None:
            payload[key] = value
    return _serializer(secret_key, link.purpose).dumps(payload)


def read(secret_key: str, token: str, purpose: Purpose) -> Link:
    """The link a token stands for; LinkRefused(invalid) unless it is ours, whole, and made for
    this purpose. Nothing is checked against the clock or the database yet (``check``)."""
    if not token or len(token) > 2000:
        raise LinkRefused(Refusal.invalid)
    try:
        payload = _serializer(secret_key, purpose).loads(token)
        subject = payload.get("s")
        return Link(
            purpose=purpose,
            object_id=str(payload["o"]),
            expires_at=datetime.fromtimestamp(int(payload["x"]), UTC),
            subject_id=int(subject) if subject is not None else None,
            part=_optional_text(payload.get("f")),
            nonce=_optional_text(payload.get("n")),
            language=_optional_text(payload.get("l")),
        )
    except (BadSignature, KeyError, TypeError, ValueError, AttributeError, OverflowError):
        raise LinkRefused(Refusal.invalid) from None


def check(link: Link, now: datetime, *, subject_id: int | None = None) -> None:
    """Refuse a link past its time, or (``subject_id``: who is signed in) made for someone
    else."""
    if link.subject_id is not None and subject_id is not None and link.subject_id != subject_id:
        raise LinkRefused(Refusal.other_person, link)
    if link.subject_id is not None and subject_id is None and link.purpose in _PERSONAL:
        raise LinkRefused(Refusal.other_person, link)
    if now >= link.expires_at:
        raise LinkRefused(Refusal.expired, link)


def verify(
    secret_key: str,
    token: str,
    purpose: Purpose,
    now: datetime,
    *,
    subject_id: int | None = None,
) -> Link:
    """``read`` then ``check``: a link of this purpose, whole and within its time."""
    link = read(secret_key, token, purpose)
    check(link, now, subject_id=subject_id)
    return link


def spend(db: Session, link: Link, now: datetime) -> None:
    """Spend a single-use link in the caller's transaction, the one that carries out its
    action; LinkRefused(used) when it was spent before (or is being spent by a transaction
    that commits first). One conditional UPDATE: on PostgreSQL a second spender waits for the
    first's row lock and then finds the nonce spent; SQLite serialises writers."""
    if link.nonce is None or link.purpose not in ACTING:
        raise LinkRefused(Refusal.invalid, link)
    key = _hash(link.nonce)
    spent = db.execute(
        update(LinkNonce)
        .where(
            col(LinkNonce.id) == key,
            col(LinkNonce.purpose) == str(link.purpose),
            col(LinkNonce.object_id) == link.object_id,
            col(LinkNonce.spent_at).is_(None),
        )
        .values(spent_at=now)
    )
    if spent.rowcount == 1:  # type: ignore[attr-defined]
        return
    row = db.get(LinkNonce, key)
    if row is not None and (row.purpose, row.object_id) == (str(link.purpose), link.object_id):
        raise LinkRefused(Refusal.used, link)
    # A nonce we never stored for this object (or purged after its link expired).
    raise LinkRefused(Refusal.invalid, link)


def spent(db: Session, link: Link) -> bool:
    """Whether a single-use link was already used (for the page that shows it before use)."""
    if link.nonce is None:
        return False
    row = db.get(LinkNonce, _hash(link.nonce))
    return row is not None and row.spent_at is not None


def purge(db: Session, now: datetime) -> int:
    """Forget the nonces of links that have expired: they are refused as expired anyway."""
    result = db.execute(delete(LinkNonce).where(col(LinkNonce.expires_at) < now))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def absolute(base_url: str, path: str, token: str) -> str:
    """A link's address: the link goes in the query string, which the request log never
    writes (it writes paths only)."""
    return f"{base_url.rstrip('/')}{path}?link={token}"


# Links that only ever serve the person they were made for, signed in.
_PERSONAL = frozenset({Purpose.export_download, Purpose.confirm_address})


def _serializer(secret_key: str, purpose: Purpose) -> URLSafeSerializer:
    return URLSafeSerializer(secret_key, salt=f"innsyn.link.{purpose}")


def _hash(nonce: str) -> str:
    return hashlib.sha256(nonce.encode()).hexdigest()


def _optional_text(value: Any) -> str | None:
    return None if value is None else str(value)
