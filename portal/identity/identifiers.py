"""Identifiers staff link to a person, or unlink, with a reason (audit-logged).

A person's own identifiers are found from their national ID (see README, "Identity"). Staff
link another when the person has shown it is theirs (an old e-mail address, a second customer
number): from then on the collector follows it as proven. Values are normalised first, so the
link matches the company's data: e-mail lower-cased, phone numbers as E.164.
"""

from __future__ import annotations

from datetime import datetime

import phonenumbers
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from portal.audit import AuditActor, record
from portal.db import session_scope
from portal.i18n import gettext as _
from portal.identity.national_id import parse_national_id
from portal.models import Assurance, IdentifierKind, StaffMember, Subject, SubjectIdentifier

LINKABLE = (IdentifierKind.email, IdentifierKind.phone, IdentifierKind.customer_number)


class IdentifierRefused(ValueError):
    """The link or unlink was refused; the message says why. Nothing changed."""


def normalise_identifier(kind: str, value: str, *, region: str = "NO") -> str:
    text = value.strip()
    if kind == IdentifierKind.email:
        if text.count("@") != 1 or " " in text or not text.split("@")[1].count("."):
            raise IdentifierRefused(_("That is not an e-mail address."))
        return text.lower()
    if kind == IdentifierKind.phone:
        try:
            number = phonenumbers.parse(text, region)
        except phonenumbers.NumberParseException:
            raise IdentifierRefused(_("That is not a phone number.")) from None
        if not phonenumbers.is_valid_number(number):
            raise IdentifierRefused(_("That is not a phone number."))
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    if kind == IdentifierKind.customer_number:
        if not text or " " in text:
            raise IdentifierRefused(_("That is not a customer number."))
        return text
    raise IdentifierRefused(
        _("Only e-mail addresses, phone numbers and customer numbers can be linked.")
    )


def link_identifier(
    db: Session,
    *,
    subject_id: int,
    kind: str,
    value: str,
    staff_id: int,
    reason: str,
    region: str = "NO",
    now: datetime,
) -> SubjectIdentifier:
    normalised, existing = _validated(db, subject_id, kind, value, staff_id, reason, region)
    if any(row.subject_id == subject_id for row in existing):
        raise IdentifierRefused(_("That identifier is already linked to this person."))
    if existing:
        # One proven owner per identifier: a second would open one person's rows to another.
        raise IdentifierRefused(
            _("That identifier is linked to another person. Unlink it there first.")
        )
    link = SubjectIdentifier(
        subject_id=subject_id,
        kind=IdentifierKind(kind),
        value=normalised,
        assurance=Assurance.staff,
        created_at=now,
    )
    db.add(link)
    db.flush()
    _audit(db, "identifier.link", link, staff_id, reason, now)
    return link


def unlink_identifier(
    db: Session,
    *,
    subject_id: int,
    kind: str,
    value: str,
    staff_id: int,
    reason: str,
    region: str = "NO",
    now: datetime,
) -> None:
    _normalised, existing = _validated(db, subject_id, kind, value, staff_id, reason, region)
    link = next((row for row in existing if row.subject_id == subject_id), None)
    if link is None:
        raise IdentifierRefused(_("That identifier is not linked to this person."))
    _audit(db, "identifier.unlink", link, staff_id, reason, now)
    db.delete(link)
    db.flush()


def proven_identifiers(db: Session, subject_id: int) -> dict[str, list[str]]:
    """The identifiers the collector may follow for this person beyond their national ID."""
    proven: dict[str, list[str]] = {}
    rows = db.exec(select(SubjectIdentifier).where(SubjectIdentifier.subject_id == subject_id))
    for row in rows:
        proven.setdefault(str(row.kind), []).append(row.value)
    return proven


def linked_to(db: Session, subject_id: int) -> list[SubjectIdentifier]:
    """The person's identifiers beyond the national ID (proven by a link or linked by staff),
    by kind and then as they were added."""
    statement = select(SubjectIdentifier).where(SubjectIdentifier.subject_id == subject_id)
    return sorted(db.exec(statement), key=lambda row: (str(row.kind), row.created_at, row.id or 0))


def person_by_national_id(db: Session, text: str) -> Subject:
    """The person with this national ID, known to the portal from now on even if they never
    signed in (staff may link an address before the person's first visit). Raises
    InvalidNationalId for a number that is not one."""
    nid = parse_national_id(text)
    subject = db.exec(select(Subject).where(Subject.national_id == nid.number)).first()
    if subject is None:
        subject = Subject(national_id=nid.number, country=nid.country)
        db.add(subject)
        db.flush()
    return subject


def staff_by_login(db: Session, login: str) -> StaffMember:
    """The member of staff who signs in as ``login`` (the identity provider's user name), for
    the command line. Refused when nobody, or more than one provider's user, has that name."""
    found = db.exec(select(StaffMember).where(StaffMember.sub == login.strip())).all()
    if not found:
        raise IdentifierRefused(
            _("No member of staff signs in as %(login)s. They sign in once first.", login=login)
        )
    if len(found) > 1:
        raise IdentifierRefused(
            _("More than one member of staff signs in as %(login)s.", login=login)
        )
    return found[0]


def record_view(db: Session, subject_id: int, staff_id: int, now: datetime) -> None:
    """A member of staff looked at the person's identifiers (every staff view is logged)."""
    record(
        db,
        actor=AuditActor.staff,
        actor_id=staff_id,
        action="identifier.view",
        subject_id=subject_id,
        reason="linking identifiers",
        now=now,
    )


# A person's national ID, its country, and the identifiers they have proven, by kind.
PersonKeys = tuple[str, str, dict[str, list[str]]]


def person_keys(engine: Engine, subject_id: int) -> PersonKeys:
    """What finding a person's rows starts from: national ID, its country, proven identifiers.
    A unit of work of its own, so that the company's databases are read holding no session."""
    with session_scope(engine) as db:
        return keys_of(db, subject_id)


def keys_of(db: Session, subject_id: int) -> PersonKeys:
    """``person_keys`` in the caller's unit of work."""
    subject = db.get(Subject, subject_id)
    if subject is None:
        raise LookupError(f"no subject {subject_id}")
    return subject.national_id, subject.country, proven_identifiers(db, subject_id)


def _validated(
    db: Session,
    subject_id: int,
    kind: str,
    value: str,
    staff_id: int,
    reason: str,
    region: str,
) -> tuple[str, list[SubjectIdentifier]]:
    """The normalised value and every existing link of it, once the request is checked."""
    if not reason or not reason.strip():
        raise IdentifierRefused(_("Please give a reason."))
    if db.get(Subject, subject_id) is None:
        raise IdentifierRefused(_("There is no such person."))
    if db.get(StaffMember, staff_id) is None:
        raise IdentifierRefused(_("There is no such member of staff."))
    normalised = normalise_identifier(kind, value, region=region)
    existing = db.exec(
        select(SubjectIdentifier).where(
            SubjectIdentifier.kind == kind, SubjectIdentifier.value == normalised
        )
    ).all()
    return normalised, list(existing)


def _audit(
    db: Session,
    action: str,
    link: SubjectIdentifier,
    staff_id: int,
    reason: str,
    now: datetime,
) -> None:
    # The value itself stays out of the log: the kind and the link's id identify it.
    record(
        db,
        actor=AuditActor.staff,
        actor_id=staff_id,
        action=action,
        subject_id=link.subject_id,
        reason=reason.strip(),
        details={"kind": str(link.kind), "identifier_id": link.id},
        now=now,
    )


def contact_address(db: Session, subject_id: int) -> str | None:
    """The e-mail address to write to a person at: the newest one they proved or staff linked
    (`subject_identifier`), or None when they have none. An address only seen in the company's
    own data is never used: it may be shared, or someone else's."""
    row = db.exec(
        select(SubjectIdentifier)
        .where(
            SubjectIdentifier.subject_id == subject_id,
            SubjectIdentifier.kind == IdentifierKind.email,
        )
        .order_by(col(SubjectIdentifier.created_at).desc(), col(SubjectIdentifier.id).desc())
        .limit(1)
    ).first()
    return row.value if row is not None else None
