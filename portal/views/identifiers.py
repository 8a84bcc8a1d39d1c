"""/staff/identifiers: customer service and the DPO link an identifier to a person, or unlink it,
with a reason (portal/identity/identifiers.py). Each dataclass is the documented context
(``page``) of a template under templates/staff/.

The person is found by national ID, typed into a POST form (never a URL); their page is then
/staff/people/<id>/identifiers, by the portal's own id. Every view of a person's identifiers is
audit-logged, and so is every link and unlink, with the member of staff from the session.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlmodel import Session

from portal.datamap.wording import IDENTIFIER_LABELS
from portal.i18n import gettext as _
from portal.identity import identifiers
from portal.identity.identifiers import LINKABLE, IdentifierRefused
from portal.identity.national_id import InvalidNationalId, mask_national_id, parse_national_id
from portal.models import Assurance, Subject, SubjectIdentifier
from portal.views.common import Done, Refused, day

SEARCH_PATH = "/staff/identifiers"
MAX_INPUT = 320  # the longest value an identifier column holds
MAX_REASON = 500


def person_path(subject_id: int) -> str:
    return f"/staff/people/{subject_id}/identifiers"


@dataclass(frozen=True)
class SearchPage:
    """The form that finds a person by national ID; ``error`` when the number was not one."""

    typed: str = ""
    error: str | None = None


@dataclass(frozen=True)
class LinkedIdentifier:
    id: int
    kind: str  # its label
    value: str
    how: str  # proven by the person's link, or linked by staff
    since: str


@dataclass(frozen=True)
class PersonPage:
    """One person's identifiers beyond the national ID, a form to link another, and each with
    a form to unlink it. ``errors`` (field -> message) and ``form`` after a refused change."""

    subject_id: int
    national_id: str  # masked: the date part only
    name: str
    linked: tuple[LinkedIdentifier, ...]
    kinds: Mapping[str, str]
    errors: Mapping[str, str] = field(default_factory=dict)
    form: Mapping[str, str] = field(default_factory=dict)
    unlink_error: tuple[int, str] | None = None  # (identifier id, message)


def find_person(db: Session, form: Mapping[str, Any]) -> Done | Refused:
    typed = _text(form, "national_id", 40)
    try:
        subject = identifiers.person_by_national_id(db, typed)
    except InvalidNationalId:
        return Refused(SearchPage(typed, _("That is not a valid national identity number.")))
    return Done(person_path(subject.id or 0), "")


def person_page(
    db: Session,
    subject_id: int,
    *,
    staff_id: int,
    language: str,
    tz: str,
    now: datetime,
    errors: Mapping[str, str] | None = None,
    form: Mapping[str, str] | None = None,
    unlink_error: tuple[int, str] | None = None,
) -> PersonPage | None:
    """The page, logged as a view of the person's data; None when there is no such person."""
    subject = db.get(Subject, subject_id)
    if subject is None:
        return None
    identifiers.record_view(db, subject_id, staff_id, now)
    return PersonPage(
        subject_id=subject_id,
        national_id=mask_national_id(parse_national_id(subject.national_id)),
        name=" ".join(part for part in (subject.given_name, subject.family_name) if part),
        linked=tuple(_row(row, language, tz) for row in identifiers.linked_to(db, subject_id)),
        kinds={kind: str(IDENTIFIER_LABELS[kind]) for kind in LINKABLE},
        errors=dict(errors or {}),
        form=dict(form or {}),
        unlink_error=unlink_error,
    )


def link(
    db: Session,
    subject_id: int,
    form: Mapping[str, Any],
    *,
    staff_id: int,
    region: str,
    now: datetime,
) -> Done | Mapping[str, str]:
    """Link the identifier; on refusal the form's errors (nothing changed)."""
    typed = {name: _text(form, name, MAX_INPUT) for name in ("kind", "value")}
    typed["reason"] = _text(form, "reason", MAX_REASON)
    try:
        identifiers.link_identifier(
            db,
            subject_id=subject_id,
            kind=typed["kind"],
            value=typed["value"],
            staff_id=staff_id,
            reason=typed["reason"],
            region=region,
            now=now,
        )
    except IdentifierRefused as exc:
        field_name = "reason" if not typed["reason"].strip() else "value"
        return {field_name: str(exc)}
    return Done(person_path(subject_id), _("The identifier is linked to the person."))


def unlink(
    db: Session,
    subject_id: int,
    identifier_id: int,
    form: Mapping[str, Any],
    *,
    staff_id: int,
    now: datetime,
) -> Done | str:
    """Unlink one of the person's identifiers; on refusal the reason (nothing changed)."""
    row = db.get(SubjectIdentifier, identifier_id)
    if row is None or row.subject_id != subject_id:
        return _("That identifier is not linked to this person.")
    try:
        identifiers.unlink_identifier(
            db,
            subject_id=subject_id,
            kind=str(row.kind),
            value=row.value,
            staff_id=staff_id,
            reason=_text(form, "reason", MAX_REASON),
            now=now,
        )
    except IdentifierRefused as exc:
        return str(exc)
    return Done(person_path(subject_id), _("The identifier is no longer linked to the person."))


def _row(row: SubjectIdentifier, language: str, tz: str) -> LinkedIdentifier:
    how = _("Linked by staff") if row.assurance == Assurance.staff else _("Proven by a link")
    return LinkedIdentifier(
        id=row.id or 0,
        kind=str(IDENTIFIER_LABELS.get(str(row.kind), row.kind)),
        value=row.value,
        how=how,
        since=day(row.created_at, language, tz),
    )


def _text(form: Mapping[str, Any], name: str, limit: int) -> str:
    return str(form.get(name, ""))[:limit]
