"""What the administrator's API token page shows: the tokens, a new token's secret (on the
response that created it, and never again), and why a change was refused."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from portal import i18n
from portal.marketing import api_tokens
from portal.views.common import day


def tokens_page(
    db: Session, tz: str, created: tuple[str, str] | None = None, error: str | None = None
) -> dict[str, Any]:
    """The context (``page``) of staff/api_tokens.html, a mapping as callers index it:
    ``tokens`` (a row each: id, name, hint, created, last_used, revoked; days and moments in
    the controller's time zone ``tz``), ``created`` (the new token's name and secret) and
    ``error``."""
    language = i18n.current_language()
    rows = [
        {
            "id": token.id,
            "name": token.name,
            "hint": token.hint,
            "created": day(token.created_at, language, tz),
            "last_used": day(token.last_used_at, language, tz) if token.last_used_at else "–",
            "revoked": day(token.revoked_at, language, tz) if token.revoked_at else None,
        }
        for token in api_tokens.all_tokens(db)
    ]
    return {"tokens": rows, "created": created, "error": error}
