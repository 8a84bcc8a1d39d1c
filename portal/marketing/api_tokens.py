"""API tokens for machines (dialers calling the washing API).

An administrator creates a token with a name; it is shown once and stored only as a SHA-256
hash (the token is 256 random bits, so a plain hash is enough: nothing to guess). A revoked
token stops working at once. Creating and revoking are audit-logged.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime

from sqlalchemy import update
from sqlmodel import Field, Session, SQLModel, select

from portal import audit
from portal.db import utcnow
from portal.i18n import gettext as _

PREFIX = "inn_"


class ApiToken(SQLModel, table=True):
    __tablename__ = "api_token"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=100)
    token_hash: str = Field(max_length=64, unique=True)
    # The first characters, so that staff can tell tokens apart without the secret.
    hint: str = Field(max_length=12)
    created_at: datetime = Field(default_factory=utcnow)
    created_by: int = Field(foreign_key="staff_member.id")
    revoked_at: datetime | None = None
    revoked_by: int | None = Field(default=None, foreign_key="staff_member.id")
    last_used_at: datetime | None = None


class TokenRefused(ValueError):
    pass


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(db: Session, *, name: str, staff_id: int, now: datetime) -> tuple[ApiToken, str]:
    """A new token and its secret, which is never stored and cannot be shown again."""
    name = name.strip()
    if not name:
        raise TokenRefused(_("Give the token a name, e.g. the dialer that uses it."))
    secret = PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        name=name[:100],
        token_hash=_hash(secret),
        hint=secret[: len(PREFIX) + 4],
        created_at=now,
        created_by=staff_id,
    )
    db.add(token)
    db.flush()
    audit.record(
        db,
        actor=audit.AuditActor.staff,
        actor_id=staff_id,
        action="api_token.create",
        details={"token_id": token.id},
        now=now,
    )
    return token, secret


def revoke_token(db: Session, token_id: int, *, staff_id: int, now: datetime) -> ApiToken:
    token = db.get(ApiToken, token_id)
    if token is None or token.revoked_at is not None:
        raise TokenRefused(_("That token does not exist or is already revoked."))
    token.revoked_at = now
    token.revoked_by = staff_id
    db.add(token)
    db.flush()
    audit.record(
        db,
        actor=audit.AuditActor.staff,
        actor_id=staff_id,
        action="api_token.revoke",
        details={"token_id": token.id},
        now=now,
    )
    return token


def authenticate(db: Session, authorization: str | None, now: datetime) -> ApiToken | None:
    """The live token in an ``Authorization: Bearer ...`` header, or None."""
    scheme, _sep, secret = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not secret.strip().startswith(PREFIX):
        return None
    digest = _hash(secret.strip())
    token = db.exec(select(ApiToken).where(ApiToken.token_hash == digest)).first()
    if token is None or token.revoked_at is not None:
        return None
    if not hmac.compare_digest(token.token_hash, digest):
        return None
    db.execute(update(ApiToken).where(ApiToken.id == token.id).values(last_used_at=now))
    return token


def all_tokens(db: Session) -> list[ApiToken]:
    return list(db.exec(select(ApiToken).order_by(ApiToken.created_at.desc())))  # type: ignore[attr-defined]
