"""Staff members and their roles.

Staff sign in through the same OpenID provider; their roles come in a claim (OIDC_ROLES_CLAIM),
as with Entra ID's app roles, and are stored so that the audit log can say who held what.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlmodel import Session, delete, select

from portal.models import StaffMember, StaffRole, StaffRoleName

KNOWN_ROLES = {role.value for role in StaffRoleName}


def roles_from_claims(claims: Mapping[str, Any], roles_claim: str) -> list[str]:
    raw = claims.get(roles_claim) or []
    if isinstance(raw, str):
        raw = raw.split()
    # Unknown roles are ignored rather than trusted: the portal grants only what it knows.
    return sorted({str(role) for role in raw} & KNOWN_ROLES)


def staff_for_sign_in(
    db: Session,
    *,
    issuer: str,
    sub: str,
    name: str,
    roles: list[str],
    now: datetime,
) -> StaffMember:
    member = db.exec(
        select(StaffMember).where(StaffMember.issuer == issuer, StaffMember.sub == sub)
    ).first()
    if member is None:
        member = StaffMember(issuer=issuer, sub=sub)
    member.name = name[:200]
    member.last_sign_in_at = now
    db.add(member)
    db.flush()
    db.exec(delete(StaffRole).where(StaffRole.staff_id == member.id))
    for role in roles:
        db.add(StaffRole(staff_id=member.id, role=StaffRoleName(role), granted_at=now))
    db.flush()
    return member


def roles_of(db: Session, staff_id: int) -> list[str]:
    rows = db.exec(select(StaffRole.role).where(StaffRole.staff_id == staff_id)).all()
    return sorted(str(role) for role in rows)
