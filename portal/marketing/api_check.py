"""The washing API's check: a batch of phone numbers in, each one's status out.

The same rule as washing a list (``block_list.lookup``, one set-based query per chunk), for
dialers that check numbers just before they call.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.engine import Engine

from portal.db import session_scope
from portal.marketing import block_list
from portal.marketing.block_list import Channel, Kind

MAX_NUMBERS = 1000
CHANNELS = tuple(str(c) for c in Channel if c != Channel.all)


class CheckRefused(ValueError):
    """The request body is not a valid check; the message says why (in English, for developers)."""


def check_batch(engine: Engine, payload: Any, *, region: str, now: datetime) -> dict[str, Any]:
    numbers, channel, purpose = _parse(payload)
    normalised = [block_list.normalise(Kind.phone, number, region) for number in numbers]
    with session_scope(engine) as db:
        found = block_list.lookup(
            db,
            Kind.phone,
            {n for n in normalised if n is not None},
            channel=channel,
            now=now,
            purpose=purpose,
        )
    results = []
    for number, normal in zip(numbers, normalised, strict=True):
        matches = found.get(normal, []) if normal else []
        status = "invalid" if normal is None else ("blocked" if matches else "clear")
        results.append(
            {
                "number": number,
                "e164": normal,
                "status": status,
                "reasons": list(dict.fromkeys(m.label for m in matches)),
            }
        )
    return {"channel": channel, "results": results}


def _parse(payload: Any) -> tuple[list[str], str, str | None]:
    if not isinstance(payload, dict):
        raise CheckRefused("the body must be a JSON object")
    numbers = payload.get("numbers")
    if not isinstance(numbers, list) or not all(isinstance(n, str) for n in numbers):
        raise CheckRefused("'numbers' must be a list of strings")
    if not 1 <= len(numbers) <= MAX_NUMBERS:
        raise CheckRefused(f"'numbers' must hold 1 to {MAX_NUMBERS} numbers")
    channel = payload.get("channel", "phone")
    if channel not in CHANNELS:
        raise CheckRefused(f"'channel' must be one of {', '.join(CHANNELS)}")
    purpose = payload.get("purpose")
    if purpose is not None and not isinstance(purpose, str):
        raise CheckRefused("'purpose' must be a string")
    unknown = set(payload) - {"numbers", "channel", "purpose"}
    if unknown:
        raise CheckRefused(f"unknown field {sorted(unknown)[0]!r}")
    return numbers, channel, purpose
