"""/dpo/holds: what keeps data from being erased. The data map's holds, read-only, with their
law, how long they last and what they cover; and the DPO's case holds: the active ones (whose,
why, set by whom and when, the review day, the request they came from, a record hold's record as
the DPO knows it), with forms to release one or change its review day; a form to set one; and
the holds released in the last 90 days (workflows/holds.py).

Each case hold names its person: showing the page is a view of their data, audit-logged
(``case_hold.view``) per person in the transaction that reads the holds, before a record hold's
record is read from the company's databases.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session

from portal import i18n
from portal.datamap import DataMap
from portal.db import session_scope
from portal.i18n import gettext as _
from portal.identity.national_id import mask_national_id, parse_national_id
from portal.views.common import ActionRefused, Done, Refused, day
from portal.views.dpo_data import record_values
from portal.views.labels import TYPE_NAMES
from portal.views.records_of_processing import TimeLimit, hold_limits
from portal.workflows import holds
from portal.workflows.erasure_service import MAX_HOLD_REASON
from portal.workflows.holds import HOLD_KIND_LABELS, HoldEntry, HoldRefused, Sources
from portal.workflows.records import CaseHoldKind

# A request's number typed into the set form: at most this many digits.
MAX_REQUEST_DIGITS = 10


@dataclass(frozen=True)
class CaseHoldView:
    """One case hold as the page lists it; ``released_*`` only for a released one."""

    id: int
    person: str
    kind: str
    reason: str
    set_on: str
    set_by: str | None
    # A hold on one record: the record as the DPO knows it ("Order 10234, 12 Mar 2025");
    # None: on everything about the person.
    record: str | None = None
    review_on: str | None = None
    review_value: str = ""  # the review day as YYYY-MM-DD, for the date field
    review_due: bool = False  # the review day is today or has passed
    request_id: int | None = None
    request_type: str | None = None
    # Releasing it tells the person first (art. 18(3)).
    restriction: bool = False
    released_on: str | None = None
    released_by: str | None = None
    release_reason: str | None = None

    @property
    def anchor(self) -> str:
        return f"hold-{self.id}"

    @property
    def request_href(self) -> str | None:
        return f"/dpo/requests/{self.request_id}" if self.request_id else None


@dataclass(frozen=True)
class RuleHoldView:
    """A hold of the data map: its law, how long it lasts, the tables it applies to (with the
    tables it keeps with them) and the kinds of data in those tables."""

    limit: TimeLimit
    categories: tuple[str, ...]


@dataclass(frozen=True)
class HoldsPage:
    """dpo/holds.html. ``form`` names the form just refused ("set", "release-12", "review-12"),
    ``error`` and ``errors`` why, ``values`` what was typed into it."""

    active: tuple[CaseHoldView, ...]
    released: tuple[CaseHoldView, ...]
    rules: tuple[RuleHoldView, ...]
    kinds: tuple[tuple[str, str], ...]
    today: str  # YYYY-MM-DD: the earliest review day the forms take
    released_days: int = holds.RELEASED_DAYS
    max_reason: int = MAX_HOLD_REASON
    max_national_id: int = holds.MAX_NATIONAL_ID
    max_request_digits: int = MAX_REQUEST_DIGITS
    form: str | None = None
    error: str | None = None
    errors: dict[str, str] = field(default_factory=dict)
    values: dict[str, str] = field(default_factory=dict)

    @property
    def due(self) -> int:
        """Active holds whose review day has come."""
        return sum(hold.review_due for hold in self.active)


@dataclass(frozen=True)
class Runtime:
    """What the page and its forms need from the app besides the portal's database."""

    datamap: DataMap
    sources: Mapping[str, Engine]
    now: datetime

    @property
    def today(self) -> date:
        """The controller's day (its time zone), which review days are counted in."""
        return i18n.local_day(self.now, self.datamap.controller.time_zone)


# --- the page -----------------------------------------------------------------------------------


def load_holds_page(
    engine: Engine,
    staff_id: int,
    language: str,
    rt: Runtime,
    *,
    refused: ActionRefused | None = None,
    form: str | None = None,
    values: Mapping[str, str] | None = None,
) -> HoldsPage:
    """The page; viewing its people is audit-logged before any record is read."""
    with session_scope(engine) as db:
        active = holds.active_holds(db)
        released = holds.released_holds(db, rt.now)
        holds.record_view(db, [*active, *released], staff_id, rt.now)
    labels = _record_labels(engine, rt, [*active, *released], language)
    tables = {name: spec.name.get(language) for name, spec in rt.datamap.tables.items()}
    tz = rt.datamap.controller.time_zone

    def view(entry: HoldEntry) -> CaseHoldView:
        return _view(entry, labels, tables, language, tz, rt.today)

    return HoldsPage(
        active=tuple(view(entry) for entry in active),
        released=tuple(view(entry) for entry in released),
        rules=rule_holds(rt.datamap, language),
        kinds=tuple(
            (str(kind), str(label))
            for kind, label in HOLD_KIND_LABELS.items()
            if kind != CaseHoldKind.restriction
        ),
        today=rt.today.isoformat(),
        form=form,
        error=refused.message if refused else None,
        errors=refused.errors if refused else {},
        values={k: v for k, v in (values or {}).items() if k != "csrf_token"},
    )


def _view(
    entry: HoldEntry,
    labels: Mapping[tuple[str, str], str],
    tables: Mapping[str, str],
    language: str,
    tz: str,
    today: date,
) -> CaseHoldView:
    """``labels``: the records as the company's databases name them; ``tables``: the map's
    tables by name, for a record no longer found (erased, or unlinked from the person)."""
    hold = entry.hold
    record = None
    if hold.table_name is not None:
        table = tables.get(hold.table_name, hold.table_name)
        record = labels.get((hold.table_name, str(hold.row_key))) or _(
            "%(table)s, record %(key)s", table=table, key=hold.row_key
        )
    return CaseHoldView(
        id=hold.id or 0,
        person=entry.person or _masked(entry.national_id),
        kind=str(HOLD_KIND_LABELS[CaseHoldKind(hold.kind)]),
        reason=hold.reason,
        set_on=day(hold.set_at, language, tz),
        set_by=entry.set_by,
        record=record,
        review_on=day(hold.review_at, language, tz) if hold.review_at else None,
        review_value=hold.review_at.isoformat() if hold.review_at else "",
        review_due=hold.review_at is not None and hold.review_at <= today,
        request_id=entry.request_id,
        request_type=str(TYPE_NAMES[entry.request_type]) if entry.request_type else None,
        restriction=hold.kind == CaseHoldKind.restriction,
        released_on=day(hold.released_at, language, tz) if hold.released_at else None,
        released_by=entry.released_by,
        release_reason=hold.release_reason,
    )


def _masked(national_id: str) -> str:
    """A person the portal has no name for (never signed in, or erased): the birth date part
    of their number."""
    try:
        return mask_national_id(parse_national_id(national_id))
    except ValueError:
        return "*" * len(national_id)


def _record_labels(
    engine: Engine, rt: Runtime, entries: Sequence[HoldEntry], language: str
) -> dict[tuple[str, str], str]:
    """What each record hold's record is, read from the company's databases through the
    person's identity (records an erasure has since unlinked are named by table and key)."""
    wanted: dict[int, dict[str, list[Any]]] = {}
    for entry in entries:
        hold = entry.hold
        if hold.table_name is not None and hold.table_name in rt.datamap.tables:
            by_table = wanted.setdefault(entry.subject_id, {})
            by_table.setdefault(hold.table_name, []).append(_typed_key(hold.row_key))
    labels: dict[tuple[str, str], str] = {}
    for subject_id, tables in wanted.items():
        labels |= record_values(engine, rt.datamap, rt.sources, subject_id, tables, language)
    return labels


def _typed_key(key: str | None) -> Any:
    """A stored key (text) as the table's key reads it: a whole number is one again."""
    return int(key) if key is not None and key.isascii() and key.isdigit() else key


def rule_holds(datamap: DataMap, language: str) -> tuple[RuleHoldView, ...]:
    """The map's holds (those of the controller's country and the EU), each with the kinds of
    data in the tables it applies to or keeps with them."""
    return tuple(
        RuleHoldView(limit, _categories(datamap, limit.key, language))
        for limit in hold_limits(datamap, language)
    )


def _categories(datamap: DataMap, hold: str, language: str) -> tuple[str, ...]:
    tables = [
        name
        for table, spec in datamap.tables.items()
        for ref in spec.holds
        if ref.hold == hold
        for name in (table, *ref.covers)
    ]
    used = {spec.category for name in tables for spec in datamap.tables[name].fields.values()}
    return tuple(c.name.get(language) for key, c in datamap.categories.items() if key in used)


# --- the forms ----------------------------------------------------------------------------------


def act_on_holds(
    engine: Engine,
    action: str,
    hold_id: int | None,
    form: Mapping[str, str],
    *,
    staff_id: int,
    language: str,
    rt: Runtime,
) -> Done | Refused:
    """One of the page's forms, all or nothing: a refusal changes nothing and shows the page
    again with the reason and what was typed."""
    name = action if hold_id is None else f"{action}-{hold_id}"
    try:
        with session_scope(engine) as db:
            location, message = _ACTIONS[action](db, hold_id, form, staff_id, rt)
    except ActionRefused as refused:
        page = load_holds_page(
            engine, staff_id, language, rt, refused=refused, form=name, values=form
        )
        return Refused(page, 400)
    return Done(location, message)


def _text(form: Mapping[str, str], name: str) -> str:
    return str(form.get(name, "")).strip()


def _date(form: Mapping[str, str], name: str, *, required: bool) -> date | None:
    text = _text(form, name)
    if not text and not required:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        message = _("Give the review date as a date (YYYY-MM-DD).")
        raise ActionRefused(message, {name: message}) from None


def _request_id(form: Mapping[str, str]) -> int | None:
    text = _text(form, "request_id")
    if not text:
        return None
    if not text.isdecimal() or len(text) > MAX_REQUEST_DIGITS:
        message = _("Give the request's number, as the queue shows it.")
        raise ActionRefused(message, {"request_id": message})
    return int(text)


def _refused(refused: HoldRefused) -> ActionRefused:
    return ActionRefused(str(refused), {refused.field: str(refused)} if refused.field else {})


def _set(
    db: Session, hold_id: int | None, form: Mapping[str, str], staff_id: int, rt: Runtime
) -> tuple[str, str]:
    try:
        hold = holds.set_hold(
            db,
            request_id=_request_id(form),
            national_id=_text(form, "national_id"),
            kind=_text(form, "kind"),
            reason=_text(form, "reason"),
            review_at=_date(form, "review_at", required=False),
            staff_id=staff_id,
            now=rt.now,
            today=rt.today,
            sources=Sources(rt.datamap, rt.sources),
        )
    except HoldRefused as refused:
        raise _refused(refused) from refused
    return f"{holds.PAGE}#hold-{hold.id}", _(
        "Hold %(id)d is set. The person's open erasures were planned again.", id=hold.id or 0
    )


def _release(
    db: Session, hold_id: int | None, form: Mapping[str, str], staff_id: int, rt: Runtime
) -> tuple[str, str]:
    try:
        holds.release_hold(
            db,
            hold_id or 0,
            reason=_text(form, "reason"),
            staff_id=staff_id,
            now=rt.now,
            sources=Sources(rt.datamap, rt.sources),
        )
    except HoldRefused as refused:
        raise _refused(refused) from refused
    return f"{holds.PAGE}#released", _(
        "Hold %(id)d is released. The person's open erasures were planned again.", id=hold_id or 0
    )


def _review(
    db: Session, hold_id: int | None, form: Mapping[str, str], staff_id: int, rt: Runtime
) -> tuple[str, str]:
    review_at = _date(form, "review_at", required=True)
    assert review_at is not None
    try:
        holds.set_review_date(
            db, hold_id or 0, review_at, staff_id=staff_id, now=rt.now, today=rt.today
        )
    except HoldRefused as refused:
        raise _refused(refused) from refused
    return f"{holds.PAGE}#hold-{hold_id}", _(
        "Hold %(id)d is to be reviewed on %(date)s.",
        id=hold_id or 0,
        date=i18n.format_day(review_at, i18n.current_language()),
    )


_ACTIONS = {"set": _set, "release": _release, "review": _review}
