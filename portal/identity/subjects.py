"""People the portal knows: found or created from a verified sign-in."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlmodel import Session, select

from portal.identity.auth import SignInError
from portal.identity.national_id import InvalidNationalId, parse_national_id
from portal.models import Subject


def subject_for_sign_in(
    db: Session, claims: Mapping[str, Any], *, national_id_claim: str, now: datetime
) -> Subject:
    """The person behind a verified ID token, created at their first sign-in.

    The national ID is the root of a person's identity (see README, "Identity"): a provider
    that does not send one, or sends an invalid one, cannot sign a person in.
    """
    raw = claims.get(national_id_claim)
    if not raw:
        raise SignInError("missing_national_id")
    try:
        national_id = parse_national_id(str(raw))
    except InvalidNationalId as exc:
        raise SignInError("invalid_national_id") from exc
    subject = db.exec(select(Subject).where(Subject.national_id == national_id.number)).first()
    if subject is None:
        subject = Subject(national_id=national_id.number, country=national_id.country)
    subject.given_name = str(claims.get("given_name") or "")[:200]
    subject.family_name = str(claims.get("family_name") or "")[:200]
    if not subject.given_name and not subject.family_name:
        subject.given_name = str(claims.get("name") or "")[:200]
    subject.last_sign_in_at = now
    db.add(subject)
    db.flush()
    return subject
