"""/me/addresses: the e-mail addresses a person has proven, those waiting for their link, and
the form to add another (portal/identity/addresses.py). Each dataclass is the documented
context (``page``) of a template under templates/me/."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session

from portal import ratelimit
from portal.db import session_scope
from portal.i18n import gettext as _
from portal.identity import addresses
from portal.identity.identifiers import IdentifierRefused
from portal.models import Assurance
from portal.settings import Settings
from portal.views.common import Done, Refused, day
from portal.views.email_requests import too_many

PAGE = "/me/addresses"


@dataclass(frozen=True)
class ProvenAddress:
    id: int
    email: str
    since: str
    # Proven by the person's own link: they can withdraw it. Otherwise staff linked it.
    by_link: bool


@dataclass(frozen=True)
class WaitingAddress:
    id: int
    email: str
    until: str


@dataclass(frozen=True)
class AddressesPage:
    """me/addresses.html. ``email`` and ``error`` are the form as typed when it was refused."""

    proven: tuple[ProvenAddress, ...]
    waiting: tuple[WaitingAddress, ...]
    email: str = ""
    error: str | None = None
    max_length: int = addresses.MAX_EMAIL


def addresses_page(
    db: Session,
    subject_id: int,
    language: str,
    tz: str,
    now: datetime,
    *,
    email: str = "",
    error: str | None = None,
) -> AddressesPage:
    """The person's addresses, their days in the controller's time zone ``tz``."""
    found = addresses.addresses_of(db, subject_id, now)
    return AddressesPage(
        proven=tuple(
            ProvenAddress(
                row.id or 0,
                row.value,
                day(row.created_at, language, tz),
                row.assurance == Assurance.low,
            )
            for row in found.proven
        ),
        waiting=tuple(
            WaitingAddress(claim.id or 0, claim.email, day(claim.expires_at, language, tz))
            for claim in found.waiting
        ),
        email=email,
        error=error,
    )


def claim(
    engine: Engine,
    form: Mapping[str, Any],
    *,
    subject_id: int,
    ip: str | None,
    language: str,
    tz: str,
    now: datetime,
    settings: Settings,
) -> Done | Refused:
    """Add an address: its link is e-mailed to it. A refusal shows the page again."""
    typed = str(form.get("email", "") or "").strip()[: addresses.MAX_EMAIL + 1]
    try:
        with session_scope(engine) as db:
            found = addresses.claim_address(
                db,
                subject_id=subject_id,
                address=typed,
                client=ratelimit.Client.of(settings.secret_key, ip),
                language=language,
                now=now,
                settings=settings,
            )
            email = found.email
    except (IdentifierRefused, ratelimit.RateLimited) as refused:
        message = too_many() if isinstance(refused, ratelimit.RateLimited) else str(refused)
        with session_scope(engine) as db:
            page = addresses_page(db, subject_id, language, tz, now, email=typed, error=message)
        return Refused(page, 429 if isinstance(refused, ratelimit.RateLimited) else 400)
    return Done(
        PAGE,
        _(
            "We have sent a link to %(email)s. Open it while signed in, and the address is added.",
            email=email,
        ),
    )


@dataclass(frozen=True)
class ConfirmAddressPage:
    """me/confirm_address.html: the address a link proves, and the button that proves it."""

    email: str
    token: str


def confirm_page(
    db: Session, token: str, *, subject_id: int, now: datetime, settings: Settings
) -> ConfirmAddressPage:
    """LinkRefused for a link that will not prove anything."""
    found = addresses.read_claim(db, token, subject_id=subject_id, now=now, settings=settings)
    return ConfirmAddressPage(found.email, token)


def confirm(
    engine: Engine,
    token: str,
    *,
    subject_id: int,
    language: str,
    tz: str,
    now: datetime,
    settings: Settings,
) -> Done | Refused:
    """Prove the address (LinkRefused: nothing done); a refusal of the address itself shows
    the addresses page with the reason."""
    try:
        with session_scope(engine) as db:
            proven = addresses.confirm_address(
                db, token, subject_id=subject_id, now=now, settings=settings
            )
            email = proven.value
    except addresses.AddressRefused as refused:
        with session_scope(engine) as db:
            page = addresses_page(db, subject_id, language, tz, now, error=str(refused))
        return Refused(page, 409)
    return Done(
        PAGE,
        _(
            "%(email)s is now one of your addresses. What we hold under it is shown on your "
            "data page.",
            email=email,
        ),
    )


def withdraw(
    engine: Engine,
    kind: str,
    item_id: int,
    *,
    subject_id: int,
    language: str,
    tz: str,
    now: datetime,
) -> Done | Refused:
    """Withdraw a proven address (``kind`` "address") or one waiting for its link ("claim")."""
    try:
        if kind not in ("address", "claim"):
            raise addresses.AddressRefused(
                _("There is no such address among the ones you have added.")
            )
        with session_scope(engine) as db:
            if kind == "claim":
                email = addresses.withdraw_claim(db, subject_id=subject_id, claim_id=item_id)
            else:
                email = addresses.withdraw_address(
                    db, subject_id=subject_id, identifier_id=item_id, now=now
                )
    except addresses.AddressRefused as refused:
        with session_scope(engine) as db:
            page = addresses_page(db, subject_id, language, tz, now, error=str(refused))
        return Refused(page, 404)
    return Done(PAGE, _("%(email)s is no longer one of your addresses.", email=email))
