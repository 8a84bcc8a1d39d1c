"""From a verified identity to a person or member of staff in our own tables."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session

from portal.identity.auth import Identity
from portal.identity.staff import roles_from_claims, staff_for_sign_in
from portal.identity.subjects import subject_for_sign_in
from portal.settings import Settings


@dataclass(frozen=True)
class Account:
    subject_id: int | None = None
    staff_id: int | None = None
    roles: tuple[str, ...] = ()  # a member of staff's, from the token


def account_for(db: Session, identity: Identity, settings: Settings, now: datetime) -> Account:
    """A token with staff roles signs in a member of staff; any other, a person by national ID."""
    roles = roles_from_claims(identity.claims, settings.oidc_roles_claim)
    if roles:
        member = staff_for_sign_in(
            db,
            issuer=identity.issuer,
            sub=identity.sub,
            name=str(identity.claims.get("name") or ""),
            roles=roles,
            now=now,
        )
        return Account(staff_id=member.id, roles=tuple(roles))
    subject = subject_for_sign_in(
        db, identity.claims, national_id_claim=settings.oidc_national_id_claim, now=now
    )
    return Account(subject_id=subject.id)
