"""Retention and holds: how long a row may be kept, and what keeps it from being erased.

Everything here is pure: it reads the data map and a ``Collection`` (the person's rows, parents
included) and never queries a database, so the "my data" page can call it for every row it shows.

* A **retention rule** is the longest time a row may be kept (storage limitation):
  ``retention_for`` gives the date its period ends, or None while the period has not started.
* A **hold** keeps a row from being erased: from the map (a rule with a period, or one that lasts
  while its condition holds, "while the case is open"), reaching related rows through ``covers``;
  or a case hold set by the DPO on the person or on a record. ``holds_for`` lists the active ones.

Periods, the fiscal-year end and the country whose law applies are settings of the data map.
Dates are inclusive: a row held ``until`` 31.12.2030 is kept through that day; a hold whose
``until`` is before ``today`` is over.
"""

from __future__ import annotations

import calendar
import functools
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal

from sqlalchemy import Date, DateTime, String, cast, func, or_, select
from sqlalchemy.engine import Connection, Engine

from portal import i18n
from portal.datamap.collect import Collection, FieldValue, Row, reflected_table
from portal.datamap.identity import DEFAULT_CHUNK, among_as_column, chunks, resolve
from portal.datamap.model import (
    DataMap,
    HoldRef,
    LawReference,
    Link,
    Period,
    RetentionRef,
    RetentionRule,
    Text,
)

CaseHoldKind = Literal["litigation", "complaint", "authority_request", "restriction", "other"]
HoldSource = Literal["rule", "case"]
RowId = tuple[str, Any]  # (table, key)


# --- case holds: set by the DPO -------------------------------------------------------------------


@dataclass(frozen=True)
class CaseHold:
    """A hold the DPO sets on the person (every row found for them) or on one record (and the
    rows under it), with a reason and a review date. Lasts until released."""

    key: str
    kind: CaseHoldKind
    reason: str
    scope: Literal["person", "record"]
    table: str | None = None  # scope "record": the table and key of the record
    row_key: Any = None
    set_at: datetime | None = None
    review_at: date | None = None
    released_at: datetime | None = None

    def active_on(self, today: date) -> bool:
        return self.released_at is None or self.released_at.date() > today


# Case holds have no law in the data map: their grounds are GDPR article 17(3) itself.
_GDPR_17_3_E = Text(
    nb="personvernforordningen artikkel 17 nr. 3 bokstav e",
    sv="dataskyddsförordningen artikel 17.3 e",
    en="GDPR article 17(3)(e)",
)
CASE_HOLD_TEXTS: dict[str, tuple[Text, Text]] = {  # kind -> (name, citation)
    "litigation": (Text(nb="Rettstvist", sv="Rättstvist", en="Litigation"), _GDPR_17_3_E),
    "complaint": (
        Text(nb="Klage under behandling", sv="Klagomål under handläggning", en="Complaint"),
        _GDPR_17_3_E,
    ),
    "authority_request": (
        Text(nb="Pålegg fra myndighet", sv="Begäran från myndighet", en="Authority request"),
        Text(
            nb="personvernforordningen artikkel 17 nr. 3 bokstav b",
            sv="dataskyddsförordningen artikel 17.3 b",
            en="GDPR article 17(3)(b)",
        ),
    ),
    # Art. 18: while processing is restricted the data is only stored, never erased or used.
    "restriction": (
        Text(nb="Begrenset behandling", sv="Begränsad behandling", en="Restriction of processing"),
        Text(
            nb="personvernforordningen artikkel 18",
            sv="dataskyddsförordningen artikel 18",
            en="GDPR article 18",
        ),
    ),
    "other": (
        Text(nb="Sak hos personvernombudet", sv="Ärende hos dataskyddsombudet", en="DPO case"),
        Text(
            nb="personvernforordningen artikkel 17 nr. 3",
            sv="dataskyddsförordningen artikel 17.3",
            en="GDPR article 17(3)",
        ),
    ),
}


# --- results --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ActiveHold:
    """A hold that keeps a row today. ``until`` is the last day it keeps the row; None while
    its case is open (or, for a case hold, until the DPO releases it)."""

    key: str  # the map's hold name, or "case:<key>" for a case hold
    name: Text
    citation: Text
    until: date | None
    source: HoldSource
    on: RowId  # the row the hold is on: the row itself, or the row whose hold covers it
    review_at: date | None = None  # case holds: when the DPO reviews it
    citation_verified: bool = True  # False: never shown to a person (see LawReference)


@dataclass(frozen=True)
class RetentionOutcome:
    """The retention rule that limits how long a row is kept, and when its period ends."""

    rule: str
    name: Text
    citation: Text
    ends_on: date | None  # the last day the row may be kept; None: the period has not started
    then: Literal["delete_row", "anonymise", "fields"]
    citation_verified: bool = True  # False: never shown to a person (see LawReference)


# --- dates ----------------------------------------------------------------------------------------


def add_period(start: date, period: Period) -> date:
    """``start`` plus years, months, days. A day the target month lacks becomes its last day
    (29 Feb + 1 year = 28 Feb), as Norwegian and Swedish deadline rules count."""
    months = start.month - 1 + period.months + 12 * period.years
    year, month = start.year + months // 12, months % 12 + 1
    day = min(start.day, calendar.monthrange(year, month)[1])
    return date.fromordinal(date(year, month, day).toordinal() + period.days)


def fiscal_year_end(day: date, month_day: str) -> date:
    """The last day of the fiscal year ``day`` falls in; ``month_day`` is the map's "MM-DD"."""
    month, last = (int(part) for part in month_day.split("-"))
    for year in (day.year, day.year + 1):
        end = date(year, month, min(last, calendar.monthrange(year, month)[1]))
        if day <= end:
            return end
    raise AssertionError("unreachable: a fiscal year ends within twelve months")


def period_start(day: date, counts_from: str, month_day: str) -> date:
    """The date a period counts from, given the event's date (see CountsFrom in the model)."""
    if counts_from == "date":
        return day
    end = fiscal_year_end(day, month_day)
    if counts_from == "end_of_fiscal_year":
        return end
    return date(end.year, 12, 31)  # end_of_calendar_year_of_fiscal_year_end (Sweden)


def as_date(value: Any) -> date | None:
    """A column value as a date: datetimes by their (stored) date; ISO text from SQLite."""
    if value is None or (isinstance(value, date) and not isinstance(value, datetime)):
        return value
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, str):
        return date.fromisoformat(value[:10])
    raise TypeError(f"not a date: {type(value).__name__}")


# --- rows and their relatives in a collection -----------------------------------------------------


class _Index:
    """Parents, ancestors and covering holds of a collection's rows, built once per collection."""

    def __init__(self, datamap: DataMap, collection: Collection) -> None:
        self.datamap = datamap
        self.collection = collection
        self._by_value: dict[tuple[str, str], dict[Any, list[Row]]] = {}
        self._ancestors: dict[RowId, dict[str, list[Row]]] = {}
        self._covering: dict[str, dict[Any, list[tuple[Row, HoldRef]]]] = {}

    def _lookup(self, table: str, column: str) -> dict[Any, list[Row]]:
        found = self._by_value.get((table, column))
        if found is None:
            found = {}
            for row in self.collection.tables.get(table, ()):
                found.setdefault(row.value(column), []).append(row)
            self._by_value[(table, column)] = found
        return found

    def parents(self, row: Row) -> list[Row]:
        found: list[Row] = []
        for link in self.datamap.tables[row.table].parent_links:
            value = row.value(link.column)
            if value is not None:
                parent_column = self.datamap.parent_key(link)
                found.extend(self._lookup(link.table or "", parent_column).get(value, ()))
        return found

    def ancestors(self, row: Row) -> dict[str, list[Row]]:
        """table -> the row's ancestor rows there (any depth), each once, in link order."""
        rid = (row.table, row.key)
        known = self._ancestors.get(rid)
        if known is None:
            known = {}
            for parent in self.parents(row):
                for found in ([parent], *self.ancestors(parent).values()):
                    for item in found:
                        rows = known.setdefault(item.table, [])
                        if all(other.key != item.key for other in rows):
                            rows.append(item)
            self._ancestors[rid] = known
        return known

    def covering(self, table: str) -> dict[Any, list[tuple[Row, HoldRef]]]:
        """key of a row of ``table`` -> (row, hold) pairs of other rows whose hold covers it."""
        found = self._covering.get(table)
        if found is None:
            found = {}
            for name, spec in self.datamap.tables.items():
                for ref in spec.holds:
                    if table in ref.covers:
                        self._add_covered(found, name, table, ref)
            self._covering[table] = found
        return found

    def _add_covered(
        self, found: dict[Any, list[tuple[Row, HoldRef]]], source: str, target: str, ref: HoldRef
    ) -> None:
        if target in table_ancestors(self.datamap, source):
            # The hold reaches up: an order line's complaint period holds its order.
            for row in self.collection.tables.get(source, ()):
                for covered in self.ancestors(row).get(target, ()):
                    found.setdefault(covered.key, []).append((row, ref))
            return
        # Sideways or down, through the nearest table both hang under: a complaint holds the
        # lines of the order it is about, not every line of the same account.
        for anchor in nearest_common(self.datamap, source, target):
            by_anchor: dict[Any, list[Row]] = {}
            for row in self.collection.tables.get(target, ()):
                for above in self.ancestors(row).get(anchor, ()):
                    by_anchor.setdefault(above.key, []).append(row)
            for row in self.collection.tables.get(source, ()):
                anchors = [row] if anchor == source else self.ancestors(row).get(anchor, ())
                for above in anchors:
                    for covered in by_anchor.get(above.key, ()):
                        found.setdefault(covered.key, []).append((row, ref))


def table_ancestors(datamap: DataMap, name: str) -> set[str]:
    """Every table ``name`` links to, directly or further up."""
    seen: set[str] = set()
    pending = [name]
    while pending:
        for link in datamap.tables[pending.pop()].parent_links:
            if link.table and link.table not in seen:
                seen.add(link.table)
                pending.append(link.table)
    return seen


def nearest_common(datamap: DataMap, source: str, target: str) -> list[str]:
    """The lowest tables that ``target`` hangs under and that are ``source`` or above it."""
    common = table_ancestors(datamap, target) & (table_ancestors(datamap, source) | {source})
    return sorted(c for c in common if not any(c in table_ancestors(datamap, o) for o in common))


_INDEXES: dict[int, tuple[weakref.ref[Collection], _Index]] = {}


def _index(datamap: DataMap, collection: Collection) -> _Index:
    """One index per live collection (and map), dropped when the collection is."""
    entry = _INDEXES.get(id(collection))
    if entry is not None and entry[0]() is collection and entry[1].datamap is datamap:
        return entry[1]
    index = _Index(datamap, collection)
    key = id(collection)
    # The callback holds the dict itself: module globals may be gone when it runs at exit.
    reference = weakref.ref(collection, lambda _ref, cache=_INDEXES: cache.pop(key, None))
    _INDEXES[key] = (reference, index)
    return index


def column_date(datamap: DataMap, collection: Collection, row: Row, column: str) -> date | None:
    """The date in ``column`` of the row, or in ``table.column`` of a row it links to (the
    latest, if it links to several). None when unset or when that row was not collected."""
    if "." not in column:
        return as_date(row.value(column))
    table, name = column.split(".", 1)
    above = _index(datamap, collection).ancestors(row).get(table, ())
    dates = [day for day in (as_date(item.value(name)) for item in above) if day is not None]
    return max(dates, default=None)


def condition_holds(ref: RetentionRef | HoldRef, row: Row) -> bool:
    """``when`` (every column has one of its values), ``when_null``, ``when_not_null``."""
    return (
        all(row.value(column) in values for column, values in ref.when.items())
        and all(row.value(column) is None for column in ref.when_null)
        and all(row.value(column) is not None for column in ref.when_not_null)
    )


def applies(datamap: DataMap, law: LawReference) -> bool:
    """Rules of the other country are ignored; EU rules apply everywhere."""
    return law.jurisdiction in ("EU", datamap.settings.jurisdiction)


def _ends(datamap: DataMap, event: date, period: str, counts_from: str) -> date:
    return _end_of(event, period, counts_from, datamap.settings.fiscal_year_end)


@functools.lru_cache(maxsize=4096)
def _end_of(event: date, period: str, counts_from: str, month_day: str) -> date:
    # A page asks this for every row it shows, with a few dates and periods among them all.
    return add_period(period_start(event, counts_from, month_day), Period.parse(period))


def due_before(datamap: DataMap, rule: RetentionRule, today: date) -> date:
    """The first event date whose period under ``rule`` has not ended by ``today``: a row is
    past the rule (its ``ends_on`` before ``today``) exactly when its event is earlier. The end
    never moves back when the event moves forward (a fiscal year's end, then a period added,
    are both non-decreasing), so a search over the days finds the one boundary, and the sweep
    can ask the database for ``event < boundary`` instead of judging every row in Python."""

    def ended(day: int) -> bool:
        try:
            return _ends(datamap, date.fromordinal(day), rule.period, rule.counts_from) < today
        except (OverflowError, ValueError):  # past date.max: never ends
            return False

    # A period ends no earlier than its event, so an event on ``today`` has not ended.
    low, high = date.min.toordinal(), today.toordinal()
    while low < high:
        middle = (low + high) // 2
        if ended(middle):
            low = middle + 1
        else:
            high = middle
    return date.fromordinal(low)


# --- the public questions -------------------------------------------------------------------------


def retention_for(datamap: DataMap, collection: Collection, row: Row) -> RetentionOutcome | None:
    """The retention rule that ends first for this row (each rule is a longest time, so the
    earliest end binds), or None when no rule of this country applies to the row.

    A rule whose date is unset (the relationship has not ended) has ``ends_on`` None; it is
    returned only when no rule has a date. Pure: reads only ``collection``.
    """
    outcomes = [
        _retention(datamap, collection, row, ref)
        for ref in datamap.tables[row.table].retention
        if applies(datamap, datamap.retention_rules[ref.rule]) and condition_holds(ref, row)
    ]
    dated = [item for item in outcomes if item.ends_on is not None]
    if dated:
        return min(dated, key=lambda item: (item.ends_on, item.rule))
    return outcomes[0] if outcomes else None


def _retention(
    datamap: DataMap, collection: Collection, row: Row, ref: RetentionRef
) -> RetentionOutcome:
    rule = datamap.retention_rules[ref.rule]
    event = column_date(datamap, collection, row, ref.from_)
    ends = None if event is None else _ends(datamap, event, rule.period, rule.counts_from)
    return RetentionOutcome(
        ref.rule, rule.name, rule.citation, ends, rule.then, rule.citation_verified
    )


def holds_for(
    datamap: DataMap,
    collection: Collection,
    row: Row,
    today: date,
    case_holds: Iterable[CaseHold] = (),
) -> list[ActiveHold]:
    """The holds that keep this row on ``today``: its table's holds, holds of related rows
    that cover its table, and active case holds on the person or on the record (or a record
    it hangs under). One entry per hold (the latest end wins), sorted by key.

    ``collection`` must be the person's (a person-scope case hold reaches all of it). Pure:
    reads only ``collection``, indexed once per collection.
    """
    index = _index(datamap, collection)
    found: list[ActiveHold] = []
    for ref in datamap.tables[row.table].holds:
        found.extend(_rule_hold(datamap, collection, row, ref, today))
    for source, ref in index.covering(row.table).get(row.key, ()):
        found.extend(_rule_hold(datamap, collection, source, ref, today))
    for case in case_holds:
        if case.active_on(today) and _case_reaches(index, case, row):
            found.append(case_hold(case))
    return _latest_per_key(found)


def _rule_hold(
    datamap: DataMap, collection: Collection, row: Row, ref: HoldRef, today: date
) -> list[ActiveHold]:
    hold = datamap.holds[ref.hold]
    if not applies(datamap, hold) or not condition_holds(ref, row):
        return []
    until = None
    if hold.period is not None and ref.from_ is not None:
        event = column_date(datamap, collection, row, ref.from_)
        # A period whose event has not happened yet (not delivered, relationship not ended)
        # has not begun: the hold lasts at least until it does.
        if event is not None:
            until = _ends(datamap, event, hold.period, hold.counts_from)
            if until < today:
                return []
    return [
        ActiveHold(
            ref.hold,
            hold.name,
            hold.citation,
            until,
            "rule",
            (row.table, row.key),
            citation_verified=hold.citation_verified,
        )
    ]


def _case_reaches(index: _Index, case: CaseHold, row: Row) -> bool:
    if case.scope == "person":
        return True
    if case.table is None:
        return False
    candidates = [row, *index.ancestors(row).get(case.table, ())]
    return any(
        item.table == case.table and _same_key(item.key, case.row_key) for item in candidates
    )


def _same_key(key: Any, wanted: Any) -> bool:
    # A record's key may come back from a form as text.
    return key == wanted or str(key) == str(wanted)


def case_hold(case: CaseHold) -> ActiveHold:
    name, citation = CASE_HOLD_TEXTS[case.kind]
    return ActiveHold(
        f"case:{case.key}",
        name,
        citation,
        None,
        "case",
        (case.table or "", case.row_key),
        case.review_at,
    )


def _latest_per_key(holds: Sequence[ActiveHold]) -> list[ActiveHold]:
    best: dict[str, ActiveHold] = {}
    for hold in holds:
        current = best.get(hold.key)
        if current is None or _later(hold.until, current.until):
            best[hold.key] = hold
    return [best[key] for key in sorted(best)]


def _later(a: date | None, b: date | None) -> bool:
    return b is not None and (a is None or a > b)


def latest_until(holds: Iterable[ActiveHold]) -> date | None:
    """The day the last of these holds ends; None when any lasts while a case is open."""
    ends = [hold.until for hold in holds]
    dated = [end for end in ends if end is not None]
    return max(dated) if dated and len(dated) == len(ends) else None


# --- plain words ----------------------------------------------------------------------------------


def language_of(language: str) -> str:
    """The language a domain text is written in: one of the portal's, else English."""
    return language if language in i18n.LANGUAGES else "en"


def name_and_citation(name: Text, citation: Text, language: str, verified: bool = True) -> str:
    """ "Name, citation"; the name alone while the citation is not verified (a person never
    reads an unchecked citation)."""
    if not verified:
        return name.get(language)
    return f"{name.get(language)}, {citation.get(language)}"


def kept_text(
    datamap: DataMap, collection: Collection, row: Row, today: date, language: str
) -> str:
    """How long a row is kept, in plain words with the law: the hold that keeps it longest,
    else the retention rule that ends it first (the "my data" page and the PDF report)."""
    holds = holds_for(datamap, collection, row, today)
    if holds:
        until = latest_until(holds)
        return describe(next(hold for hold in holds if hold.until == until), language)
    outcome = retention_for(datamap, collection, row)
    if outcome is None:
        return i18n.Translator(language_of(language)).gettext("No set time")
    return describe(outcome, language)


def describe(item: ActiveHold | RetentionOutcome, language: str) -> str:
    """An active hold or a retention outcome in plain words, in nb, sv or en (else en):
    nb "Oppbevares til 31. des. 2030 etter bokføringsloven § 13 andre ledd",
    en "Kept while the case is open (Open complaint, GDPR article 17(3)(e))",
    en "Erased after 31 Dec 2029 (Bookkeeping records (Norway), Norwegian Bookkeeping Act …)".
    """
    language = language_of(language)
    words = i18n.Translator(language)
    names = name_and_citation(item.name, item.citation, language, item.citation_verified)
    if isinstance(item, ActiveHold):
        if item.source == "case":
            return words.gettext("Kept until the hold is released (%(names)s)", names=names)
        if item.until is None:
            return words.gettext("Kept while the case is open (%(names)s)", names=names)
        if not item.citation_verified:
            return words.gettext(
                "Kept until %(date)s (%(name)s)",
                date=i18n.format_day(item.until, language),
                name=item.name.get(language),
            )
        return words.gettext(
            "Kept until %(date)s under %(citation)s",
            date=i18n.format_day(item.until, language),
            citation=item.citation.get(language),
        )
    if item.ends_on is None:
        return names  # the period has not started: there is no date to state
    day = i18n.format_day(item.ends_on, language)
    if item.then == "anonymise":
        return words.gettext("Anonymised after %(date)s (%(names)s)", date=day, names=names)
    return words.gettext("Erased after %(date)s (%(names)s)", date=day, names=names)


# --- retention sweeps: the one part that reads the databases -----------------------------------


@dataclass(frozen=True)
class DueRows:
    """Rows of one table whose retention rule has ended and that nothing holds."""

    table: str
    table_name: Text
    rule: str
    name: Text
    citation: Text
    then: str  # delete_row | anonymise | fields
    keys: tuple[Any, ...]

    @property
    def count(self) -> int:
        return len(self.keys)


@dataclass(frozen=True)
class HeldRows:
    """Rows past their retention period that a hold still keeps (counted under each hold)."""

    table: str
    table_name: Text
    hold: str
    name: Text
    citation: Text
    keys: tuple[Any, ...]

    @property
    def count(self) -> int:
        return len(self.keys)


@dataclass(frozen=True)
class RetentionReport:
    """What a retention sweep would do on ``today``: a dry run, nothing changed."""

    today: date
    datamap_version: str
    due: tuple[DueRows, ...]  # by table (map order), then rule
    held: tuple[HeldRows, ...]
    scanned: dict[str, int]  # rows read per table with a retention rule
    queries: int

    def counts(self) -> dict[tuple[str, str], int]:
        """(table, rule) -> rows due."""
        return {(item.table, item.rule): item.count for item in self.due}

    def describe(self, language: str) -> list[str]:
        """The dry run in plain words, one line per table and rule or hold."""
        language = language_of(language)
        words = i18n.Translator(language)
        lines: list[str] = []
        for due in self.due:
            values = _sweep_values(due, language)
            if due.then == "anonymise":
                lines.append(
                    words.gettext("%(table)s: %(num)s due for anonymisation (%(names)s).", **values)
                )
            else:
                lines.append(
                    words.gettext("%(table)s: %(num)s due for erasure (%(names)s).", **values)
                )
        for held in self.held:
            lines.append(
                words.gettext(
                    "%(table)s: %(num)s past their retention period but kept (%(names)s).",
                    **_sweep_values(held, language),
                )
            )
        return lines or [words.gettext("Nothing is due.")]


def _sweep_values(item: DueRows | HeldRows, language: str) -> dict[str, object]:
    return {
        "table": item.table_name.get(language),
        "num": item.count,
        "names": name_and_citation(item.name, item.citation, language),
    }


def due_for_retention(
    datamap: DataMap,
    engines: Mapping[str, Engine],
    today: date,
    *,
    case_holds: Iterable[CaseHold] = (),
    held_people: Mapping[str, Iterable[CaseHold]] | None = None,
    chunk_size: int = DEFAULT_CHUNK,
    narrow: bool = True,
) -> RetentionReport:
    """Every row, of everyone, whose retention rule has ended by ``today`` and that no hold
    keeps, per table and rule (the storage-limitation sweep's dry run; seed 004).

    Each table with a rule is read in key order, ``chunk_size`` rows at a time; with
    ``narrow`` (the default), only rows whose date is before a rule's boundary (``due_before``)
    are read, a condition the database answers, so rows still inside every period are never
    fetched. For each chunk the rows it links to and the rows whose holds cover it are read by
    key, a query per table and link per chunk, never per row. The rows are then judged by
    ``retention_for`` and ``holds_for``, exactly as an erasure plan judges them (the condition
    only leaves out rows they would not find due). ``case_holds`` are record holds; person
    holds come as ``held_people`` (national ID -> holds), each person resolved once.
    ``scanned`` counts the rows read.
    """
    sweep = SweepReader(datamap, engines, chunk_size, today=today if narrow else None)
    records = [case for case in case_holds if case.scope == "record"]
    people = _people_held(datamap, engines, today, held_people or {}, chunk_size)
    due: dict[tuple[str, str], list[Any]] = {}
    held: dict[tuple[str, str], list[Any]] = {}
    texts: dict[tuple[str, str], tuple[Text, Text, str]] = {}
    scanned: dict[str, int] = {}
    for name in datamap.table_order():
        spec = datamap.tables[name]
        if not any(applies(datamap, datamap.retention_rules[r.rule]) for r in spec.retention):
            continue
        scanned[name] = 0
        settled = sweep.settled(name, records) if narrow else None
        if settled is not None:
            rule = datamap.retention_rules[settled.rule]
            for keys in sweep.scan_keys(name, settled):
                scanned[name] += len(keys)
                for key in keys:
                    holds = [case_hold(case) for case in people.get((name, key), ())]
                    for hold in holds:
                        held.setdefault((name, hold.key), []).append(key)
                        texts[("hold", hold.key)] = (hold.name, hold.citation, "")
                    if not holds:
                        due.setdefault((name, settled.rule), []).append(key)
                        texts[("rule", settled.rule)] = (rule.name, rule.citation, rule.then)
            continue
        for chunk in sweep.scan(name):
            scanned[name] += len(chunk)
            collection = sweep.context(name, chunk)
            for row in chunk:
                outcome = retention_for(datamap, collection, row)
                if outcome is None or outcome.ends_on is None or outcome.ends_on >= today:
                    continue
                holds = holds_for(datamap, collection, row, today, records)
                holds += [case_hold(case) for case in people.get((name, row.key), ())]
                for hold in holds:
                    held.setdefault((name, hold.key), []).append(row.key)
                    texts[("hold", hold.key)] = (hold.name, hold.citation, "")
                if not holds:
                    due.setdefault((name, outcome.rule), []).append(row.key)
                    texts[("rule", outcome.rule)] = (outcome.name, outcome.citation, outcome.then)
    return RetentionReport(
        today=today,
        datamap_version=datamap.version,
        due=tuple(
            DueRows(
                t,
                datamap.tables[t].name,
                rule,
                *texts[("rule", rule)][:2],
                texts[("rule", rule)][2],
                tuple(keys),
            )
            for (t, rule), keys in due.items()
        ),
        held=tuple(
            HeldRows(t, datamap.tables[t].name, hold, *texts[("hold", hold)][:2], tuple(keys))
            for (t, hold), keys in held.items()
        ),
        scanned=scanned,
        queries=sweep.queries,
    )


def _people_held(
    datamap: DataMap,
    engines: Mapping[str, Engine],
    today: date,
    held_people: Mapping[str, Iterable[CaseHold]],
    chunk_size: int,
) -> dict[RowId, list[CaseHold]]:
    found: dict[RowId, list[CaseHold]] = {}
    for national_id, holds in held_people.items():
        active = [hold for hold in holds if hold.scope == "person" and hold.active_on(today)]
        if not active:
            continue
        resolution = resolve(datamap, engines, national_id, chunk_size=chunk_size)
        for table, keys in resolution.keys.items():
            for key in keys:
                found.setdefault((table, key), []).extend(active)
    return found


class SweepReader:
    """Reads rows for a sweep: a table in key-ordered chunks, and related rows by key. Given
    ``today``, ``scan`` reads only the rows a retention rule may have ended for."""

    def __init__(
        self,
        datamap: DataMap,
        engines: Mapping[str, Engine],
        chunk_size: int,
        today: date | None = None,
    ) -> None:
        self.datamap = datamap
        self.engines = engines
        self.chunk_size = chunk_size
        self.today = today
        self.queries = 0

    def _table(self, connection: Connection, name: str) -> Any:
        spec = self.datamap.tables[name]
        schema = self.datamap.sources[spec.source].schema_
        engine = self.engines[spec.source]
        return reflected_table(engine, connection, self.datamap.db_table(name), schema)

    def _select(
        self,
        name: str,
        where: Any = None,
        after: Any = None,
        limit: bool = False,
        among: tuple[str, list[Any]] | None = None,
    ) -> list[Row]:
        spec = self.datamap.tables[name]
        engine = self.engines[spec.source]
        with engine.connect() as connection:
            table = self._table(connection, name)
            key = table.c[spec.key]
            fields = list(spec.fields.items())
            statement = select(*(table.c[column] for column, _ in fields)).order_by(key)
            if where is not None:
                statement = statement.where(where(table))
            if among is not None:
                statement = statement.where(
                    among_as_column(connection, table.c[among[0]], among[1])
                )
            if after is not None:
                statement = statement.where(key > after[0])
            if limit:
                statement = statement.limit(self.chunk_size)
            self.queries += 1
            # By position: a RowMapping's lookup by name cost more than the rest of the scan.
            at_key = [column for column, _ in fields].index(spec.key)
            return [
                Row(
                    name,
                    values[at_key],
                    "",
                    tuple(FieldValue(c, v, f) for (c, f), v in zip(fields, values, strict=True)),
                )
                for values in connection.execute(statement)
            ]

    def candidates(self, name: str) -> Callable[[Any], Any] | None:
        """A condition met by every row of ``name`` that a retention rule of this country may
        have ended for by ``today``: the rule's date (on the row, or on a row it hangs under in
        the same database) before ``due_before``. A superset: ``when`` conditions and holds are
        left to Python. None: every row must be read (no ``today``, or a date the database
        cannot compare, or one in another database)."""
        spec = self.datamap.tables[name]
        if self.today is None:
            return None
        clauses = []
        with self.engines[spec.source].connect() as connection:
            for ref in spec.retention:
                rule = self.datamap.retention_rules[ref.rule]
                if not applies(self.datamap, rule):
                    continue
                boundary = due_before(self.datamap, rule, self.today)
                clause = self._dated_before(connection, name, ref.from_, boundary)
                if clause is None:
                    return None
                clauses.append(clause)
        if not clauses:
            return None
        condition = or_(*clauses)
        return lambda _table: condition

    def settled(self, name: str, case_holds: Iterable[CaseHold]) -> RetentionRef | None:
        """The one retention rule that decides every row of ``name`` by a date column of its
        own, when no hold can keep them but a person's case hold (no hold of the table's, none
        that covers it, no record hold on it or above it): a row dated before the rule's
        boundary is then due, and the sweep needs only its key, read by the database's
        condition, with no row built or judged in Python. None: rows are judged one by one."""
        if self.today is None:
            return None
        spec = self.datamap.tables[name]
        rules = self.datamap.retention_rules
        refs = [ref for ref in spec.retention if applies(self.datamap, rules[ref.rule])]
        if len(refs) != 1 or "." in refs[0].from_:
            return None
        ref = refs[0]
        if ref.when or ref.when_null or ref.when_not_null or spec.holds:
            return None
        if any(
            name in hold.covers for other in self.datamap.tables.values() for hold in other.holds
        ):
            return None
        reach = {name} | table_ancestors(self.datamap, name)
        if any(case.scope == "record" and case.table in reach for case in case_holds):
            return None
        with self.engines[spec.source].connect() as connection:
            column = self._table(connection, name).c[ref.from_]
        # A date or timestamp only: text that is not a date would stop the judging in Python.
        return ref if isinstance(column.type, Date | DateTime) else None

    def scan_keys(self, name: str, ref: RetentionRef) -> Iterator[list[Any]]:
        """The keys of rows of ``name`` dated before ``ref``'s boundary, in key order, in chunks."""
        spec = self.datamap.tables[name]
        rule = self.datamap.retention_rules[ref.rule]
        boundary = due_before(self.datamap, rule, self.today or date.max)
        after: Any = None
        while True:
            with self.engines[spec.source].connect() as connection:
                table = self._table(connection, name)
                key = table.c[spec.key]
                statement = select(key).where(_before(table.c[ref.from_], boundary, connection))
                if after is not None:
                    statement = statement.where(key > after)
                statement = statement.order_by(key).limit(self.chunk_size)
                self.queries += 1
                keys = list(connection.execute(statement).scalars())
            if keys:
                yield keys
            if len(keys) < self.chunk_size:
                return
            after = keys[-1]

    def _dated_before(self, connection: Connection, name: str, column: str, day: date) -> Any:
        """``column`` (or ``table.column`` of any row above, as ``column_date`` reads it: at
        least one such row must be dated before ``day``) before ``day``; None if not sayable."""
        if "." not in column:
            return _before(self._table(connection, name).c[column], day, connection)
        target, field = column.split(".", 1)
        engine = self.engines[self.datamap.tables[name].source]
        paths = _paths(self.datamap, name, target)
        found = []
        for path in paths:
            tables = [target, *(child for child, _ in path)]
            if any(self.engines[self.datamap.tables[t].source] is not engine for t in tables):
                return None
            condition = _before(self._table(connection, target).c[field], day, connection)
            if condition is None:
                return None
            for child, link in reversed(path):
                above = self._table(connection, link.table or "")
                parent = select(above.c[self.datamap.parent_key(link)]).where(condition)
                condition = self._table(connection, child).c[link.column].in_(parent)
            found.append(condition)
        return or_(*found) if found else None

    def scan(self, name: str) -> Iterator[list[Row]]:
        after: tuple[Any] | None = None
        where = self.candidates(name)
        while True:
            rows = self._select(name, where=where, after=after, limit=True)
            if rows:
                yield rows
            if len(rows) < self.chunk_size:
                return
            after = (rows[-1].key,)

    def load(self, name: str, column: str, values: Iterable[Any]) -> list[Row]:
        found: list[Row] = []
        for part in chunks(sorted(set(values), key=str), self.chunk_size):
            found.extend(self._select(name, among=(column, part)))
        return found

    def context(self, name: str, chunk: list[Row]) -> Collection:
        """The chunk with the rows it links to and the rows whose holds may cover it."""
        rows: dict[str, dict[Any, Row]] = {name: {row.key: row for row in chunk}}
        seen: set[tuple[str, str, Any]] = set()
        self._up(rows, seen)
        for source, spec in self.datamap.tables.items():
            if any(name in ref.covers for ref in spec.holds):
                self._down_to(source, name, rows, seen)
        self._up(rows, seen)
        return Collection(
            national_id="",
            datamap_version=self.datamap.version,
            identifiers={},
            tables={t: tuple(rows[t][k] for k in sorted(rows[t], key=str)) for t in rows},
            withheld={},
            shared_identifiers={},
            may_hold_more={},
            category_order=(),
        )

    def _add(
        self,
        rows: dict[str, dict[Any, Row]],
        seen: set[tuple[str, str, Any]],
        table: str,
        column: str,
        values: Iterable[Any],
    ) -> list[Row]:
        wanted = {v for v in values if v is not None and (table, column, v) not in seen}
        seen.update((table, column, v) for v in wanted)
        found = self.load(table, column, wanted) if wanted else []
        for row in found:
            rows.setdefault(table, {}).setdefault(row.key, row)
        return found

    def _up(self, rows: dict[str, dict[Any, Row]], seen: set[tuple[str, str, Any]]) -> None:
        # Children before parents, so one pass reaches every ancestor.
        for table in reversed(self.datamap.table_order()):
            for link in self.datamap.tables[table].parent_links:
                values = [row.value(link.column) for row in rows.get(table, {}).values()]
                self._add(rows, seen, link.table or "", self.datamap.parent_key(link), values)

    def _down_to(
        self,
        source: str,
        target: str,
        rows: dict[str, dict[Any, Row]],
        seen: set[tuple[str, str, Any]],
    ) -> None:
        """Rows of ``source`` under the rows of ``target`` (or under their nearest common
        ancestors), read down each chain of links."""
        if target in table_ancestors(self.datamap, source):
            anchors = [target]
        else:
            anchors = nearest_common(self.datamap, source, target)
        for anchor in anchors:
            for path in _paths(self.datamap, source, anchor):
                current = list(rows.get(anchor, {}).values())
                for child, link in reversed(path):
                    parent_column = self.datamap.parent_key(link)
                    values = [row.value(parent_column) for row in current]
                    self._add(rows, seen, child, link.column, values)
                    current = [
                        row
                        for row in rows.get(child, {}).values()
                        if row.value(link.column) in set(values)
                    ]


def _before(column: Any, day: date, connection: Connection) -> Any:
    """``column`` as a date before ``day``, as ``as_date`` reads it: a date or timestamp
    compared as one (PostgreSQL casts the day to midnight); text (and anything in SQLite, which
    keeps dates as ISO text) by its first ten characters. None for any other type."""
    if connection.dialect.name == "sqlite" or isinstance(column.type, String):
        return func.substr(cast(column, String), 1, 10) < day.isoformat()
    if isinstance(column.type, Date | DateTime):
        return column < day
    return None


def _paths(datamap: DataMap, start: str, goal: str) -> list[list[tuple[str, Link]]]:
    """Every chain of links from ``start`` up to ``goal``: (table, link) pairs, lowest first."""
    if start == goal:
        return [[]]
    found: list[list[tuple[str, Link]]] = []
    for link in datamap.tables[start].parent_links:
        if link.table and (link.table == goal or goal in table_ancestors(datamap, link.table)):
            found.extend([(start, link), *rest] for rest in _paths(datamap, link.table, goal))
    return found
