"""/dpo/audit: the audit log for the DPO, filtered by who, what, when, person and request, a
page at a time, with when the hash chain was last verified.

Only the DPO reads it (routes/dpo.py): it records what every member of staff did, including the
administrators, and which person each act concerned, so it is for the one who supervises them.
An administrator checks the chain's integrity with `portal audit verify`, which shows no entry.
The entries hold internal ids only; the page adds the staff members' names, nothing about the
people the entries concern.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from portal.audit import AuditActor, AuditEntry
from portal.audit.browse import AuditFilter, actions, find_entries
from portal.audit.chain import AuditVerification, last_verification
from portal.db import session_scope
from portal.i18n import gettext as _
from portal.i18n import lazy_gettext as _l
from portal.models import StaffMember
from portal.views.common import moment

PAGE_SIZE = 50
MAX_PAGE = 100_000
MAX_ID = 2**31 - 1
# Longer values are not looked at: no action code, id or date is longer.
MAX_VALUE = 80
FILTER_FIELDS = ("action", "who", "subject", "request", "from", "to")
# What each action code means, for the DPO reading the log; the code stays beside the words
# (it is what the filter and `portal audit` speak). A code without words here shows as itself.
ACTION_LABELS = {
    "api_token.create": _l("API token created"),
    "api_token.revoke": _l("API token revoked"),
    "audit.verify": _l("Audit log verified"),
    "block_list.add": _l("Added to the block list"),
    "block_list.import": _l("Register imported into the block list"),
    "block_list.remove": _l("Removed from the block list"),
    "block_list.search": _l("Block list searched"),
    "case_hold.release": _l("Case hold released"),
    "case_hold.review_date": _l("Case hold given a new review date"),
    "case_hold.set": _l("Case hold set"),
    "case_hold.view": _l("Case holds viewed, naming the person"),
    "consent.withdrawal_applied": _l("Consent withdrawal carried out"),
    "erasure.approve": _l("Erasure plan approved"),
    "erasure.deferred": _l("Kept records erased when their hold ended"),
    "erasure.executed": _l("Erasure carried out"),
    "erasure.plan": _l("Erasure planned"),
    "identifier.link": _l("Identifier linked to a person"),
    "identifier.prove": _l("Identifier proven"),
    "identifier.unlink": _l("Identifier unlinked"),
    "identifier.view": _l("A person's identifiers viewed"),
    "identifier.withdraw": _l("Identifier withdrawn"),
    "job.run_again": _l("Stopped job run again"),
    "outcome_letter.view": _l("Outcome letter opened"),
    "request.ask_subject": _l("The person asked for information"),
    "request.assign": _l("Request assigned"),
    "request.data_view": _l("Data found for a request viewed"),
    "request.merge": _l("Duplicate request merged"),
    "request.needs_attention": _l("Request needs attention"),
    "request.note": _l("Internal note written"),
    "request.queue_view": _l("Request queue viewed"),
    "request.subject_replied": _l("The person answered"),
    "request.unassign": _l("Request's assignment removed"),
    "request.verify_identity": _l("Identity verified"),
    "request.view": _l("Request opened"),
    "retention.sweep": _l("Retention sweep"),
    "retention.sweep.batch": _l("Retention sweep: one batch done"),
    "session.end_others": _l("Signed out of every other browser"),
    "wash.download": _l("Washed call list downloaded"),
    "wash.finished": _l("Call list washed"),
    "wash.start": _l("Call list wash started"),
}


def action_label(code: str) -> str:
    label = ACTION_LABELS.get(code)
    return str(label) if label is not None else code


@dataclass(frozen=True)
class Choice:
    value: str
    label: str
    selected: bool


@dataclass(frozen=True)
class Verification:
    """When the chain was last verified and what was found; ``None`` on a page: never."""

    at: str
    entries: int
    ok: bool
    broken_seq: int | None
    problem: str | None  # what is wrong with the broken entry, in words


@dataclass(frozen=True)
class AuditRow:
    seq: int
    at: str
    who: str
    action: str  # the code
    action_label: str  # in words
    subject_id: int | None
    request_id: int | None
    reason: str | None
    details: tuple[tuple[str, str], ...]  # (key, value) of the rest of the entry's details


@dataclass(frozen=True)
class AuditLogPage:
    """One page of entries, newest first. ``values`` are the filters as typed (to show them
    again), ``errors`` the fields whose value could not be used (ignored, and said so)."""

    values: Mapping[str, str]
    errors: Mapping[str, str]
    actions: tuple[Choice, ...]
    who: tuple[Choice, ...]
    rows: tuple[AuditRow, ...]
    total: int
    page: int
    pages: int
    previous_href: str | None
    next_href: str | None
    verification: Verification | None
    filtered: bool = field(default=False)

    @property
    def first_number(self) -> int:
        return (self.page - 1) * PAGE_SIZE + 1


def problem_text(problem: str | None) -> str | None:
    texts = {
        "missing": _("it is missing: deleted, or the log was cut short"),
        "changed": _("its contents were changed after it was written"),
        "unlinked": _("it does not carry the hash of the entry before it"),
        "rewritten": _("its hash differs from the one an earlier verification recorded"),
        "head": _("the chain's head does not name the last entry"),
    }
    return texts.get(problem or "")


def verification_of(found: AuditVerification | None, language: str, tz: str) -> Verification | None:
    if found is None:
        return None
    return Verification(
        at=moment(found.at, language, tz),
        entries=found.entries,
        ok=found.ok,
        broken_seq=found.broken_seq,
        problem=problem_text(found.problem),
    )


def parse_filter(
    query: Mapping[str, str], tz: str
) -> tuple[AuditFilter, dict[str, str], dict[str, str], int]:
    """The query string as a filter, the values kept to show again, the errors, the page."""
    values = {
        name: query.get(name, "").strip()[:MAX_VALUE]
        for name in FILTER_FIELDS
        if query.get(name, "").strip()
    }
    errors: dict[str, str] = {}
    wanted: dict[str, Any] = {}
    if "action" in values:
        wanted["action"] = values["action"][:60]
    who = values.get("who", "")
    if who in ("person", "system", "staff"):
        wanted["actor"] = AuditActor(who)
    elif who.startswith("staff-") and _number(who.removeprefix("staff-")) is not None:
        wanted["actor"] = AuditActor.staff
        wanted["actor_id"] = _number(who.removeprefix("staff-"))
    elif who:
        values.pop("who")
    for name, key in (("subject", "subject_id"), ("request", "request_id")):
        if name in values:
            number = _number(values[name])
            if number is None:
                errors[name] = _("Write a whole number, such as 42.")
            else:
                wanted[key] = number
    days = {}
    for name in ("from", "to"):
        if name in values:
            try:
                days[name] = date.fromisoformat(values[name])
            except ValueError:
                errors[name] = _("Write a date as YYYY-MM-DD.")
    zone = ZoneInfo(tz)
    if "from" in days:
        wanted["since"] = datetime.combine(days["from"], time(), zone).astimezone(UTC)
    if "to" in days:
        after = days["to"] + timedelta(days=1)
        wanted["before"] = datetime.combine(after, time(), zone).astimezone(UTC)
    page = _number(query.get("page", "")[:MAX_VALUE]) or 1
    return AuditFilter(**wanted), values, errors, min(page, MAX_PAGE)


def _number(text: str) -> int | None:
    text = text.strip()
    if not text.isdecimal() or len(text) > 10:
        return None
    number = int(text)
    return number if 0 < number <= MAX_ID else None


def audit_log(db: Session, query: Mapping[str, str], language: str, tz: str) -> AuditLogPage:
    wanted, values, errors, page = parse_filter(query, tz)
    found = find_entries(db, wanted, offset=(page - 1) * PAGE_SIZE, limit=PAGE_SIZE)
    pages = max(1, -(-found.total // PAGE_SIZE))
    staff = {member.id: member.name or member.sub for member in db.exec(select(StaffMember)).all()}

    def href(number: int) -> str:
        return "/dpo/audit?" + urlencode({**values, "page": number})

    action_choices = (
        Choice("", _("Any action"), "action" not in values),
        *sorted(
            (Choice(c, action_label(c), values.get("action") == c) for c in actions(db)),
            key=lambda choice: choice.label.casefold(),
        ),
    )
    if "action" in values and not any(choice.selected for choice in action_choices):
        action_choices += (Choice(values["action"], values["action"], True),)
    who_choices = (
        Choice("", _("Anyone"), "who" not in values),
        Choice("staff", _("Any member of staff"), values.get("who") == "staff"),
        *(
            Choice(f"staff-{staff_id}", name, values.get("who") == f"staff-{staff_id}")
            for staff_id, name in sorted(staff.items(), key=lambda item: item[1].casefold())
        ),
        Choice("person", _("The people themselves"), values.get("who") == "person"),
        Choice("system", _("The portal itself (jobs)"), values.get("who") == "system"),
    )
    return AuditLogPage(
        values=values,
        errors=errors,
        actions=action_choices,
        who=who_choices,
        rows=tuple(_row(entry, staff, language, tz) for entry in found.entries),
        total=found.total,
        page=page,
        pages=pages,
        previous_href=href(page - 1) if page > 1 else None,
        next_href=href(page + 1) if page < pages else None,
        verification=verification_of(last_verification(db), language, tz),
        filtered=bool(values),
    )


def _row(entry: AuditEntry, staff: Mapping[int | None, str], language: str, tz: str) -> AuditRow:
    details = dict(entry.details or {})
    request_id = details.pop("request_id", None)
    return AuditRow(
        seq=entry.seq,
        at=moment(entry.at, language, tz),
        who=_who(entry, staff),
        action=entry.action,
        action_label=action_label(entry.action),
        subject_id=entry.subject_id,
        request_id=request_id if isinstance(request_id, int) else None,
        reason=entry.reason,
        details=tuple((key, _plain(value)) for key, value in sorted(details.items())),
    )


def _who(entry: AuditEntry, staff: Mapping[int | None, str]) -> str:
    if entry.actor == AuditActor.staff:
        if entry.actor_id in staff:
            return staff[entry.actor_id]
        return _("Member of staff %(id)s", id=entry.actor_id or "?")
    if entry.actor == AuditActor.person:
        return _("The person (portal id %(id)s)", id=entry.actor_id or "?")
    return _("The portal")


def _plain(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(_plain(item) for item in value)
    if value is None:
        return "–"
    return str(value)


def load_audit_log(
    engine: Engine, query: Mapping[str, str], language: str, tz: str
) -> AuditLogPage:
    with session_scope(engine) as db:
        return audit_log(db, query, language, tz)
