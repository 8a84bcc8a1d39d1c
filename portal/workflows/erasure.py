"""Erasure plans: for every row found for a person, what an erasure request does to it, and why.

``plan_erasure`` decides, row by row, before anything changes (DESIGN §5):

* **erase**: delete the row, or null / pseudonymise its fields, as the data map says;
* **anonymise**: keep the row for statistics without the person (the table's erasure is
  ``anonymise``, or its retention rule ends in ``anonymise``): seed 002, "who sold how much, not
  to whom";
* **retain**: one or more holds keep it. ``until`` is the day the last hold ends. A row kept to a
  date is pseudonymised now (its identifiers replaced by a keyed hash, its ``null`` fields
  cleared), so the person no longer finds it while its own key (an order number) still does
  (seed 003); a deferred job then does ``then`` (erase or anonymise) after ``until``. A row kept
  while a case is open (``until`` None: an open complaint, an unpaid invoice, a DPO's hold) is
  left as it is: the case still needs it, and litigation forbids altering evidence. It is
  planned again when the case closes.

The plan is plain data: deterministic, JSON-serialisable (``to_dict`` / ``from_dict``), carrying
the data map's version and the texts it cites, so a stored plan reads the same after the map
changes. ``describe_plan`` puts it in plain words for the DPO and the person, in the tense its
``Phase`` calls for: what it will do, what it did, or what it would have done.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from typing import Any, Literal

from portal import i18n
from portal.datamap.collect import Collection, Row
from portal.datamap.matching import normalise
from portal.datamap.model import DataMap, TableSpec, Text, doubt_in
from portal.datamap.retention import (
    ActiveHold,
    CaseHold,
    RetentionOutcome,
    holds_for,
    language_of,
    latest_until,
    retention_for,
)

Action = Literal["erase", "anonymise", "retain"]
ACTIONS: tuple[Action, ...] = ("erase", "anonymise", "retain")


@dataclass(frozen=True)
class Reason:
    """Why a step does what it does: a hold (from a rule or a case), a retention rule, or the
    table's own erasure setting. Texts are copied in, so a stored plan needs no map to read."""

    kind: Literal["hold", "rule", "table"]
    key: str
    name: dict[str, str] = field(default_factory=dict)  # language -> text
    citation: dict[str, str] = field(default_factory=dict)
    source: str | None = None  # holds: "rule" or "case"
    until: date | None = None  # holds: the last day it keeps the row
    # False: the map marks the citation as not checked against the statute. A person then
    # reads the hold's or rule's name only; the DPO's case page lists the citation to check.
    citation_verified: bool = True

    def citation_for_person(self, language: str) -> str | None:
        """The citation as the person may read it: None while it is not verified."""
        if not self.citation_verified:
            return None
        return self.citation.get(language, "")

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "key": self.key,
            "name": dict(self.name),
            "citation": dict(self.citation),
            "citation_verified": self.citation_verified,
            "source": self.source,
            "until": _iso(self.until),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Reason:
        citation = dict(data["citation"])
        verified = data.get("citation_verified")
        if verified is None:
            # A plan stored before the map could say so marked doubt in the text itself
            # ("hvitvaskingsloven § 30 (ikke bekreftet)"): such a citation is not verified.
            verified = not any(doubt_in(text) for text in citation.values())
        return cls(
            kind=data["kind"],
            key=data["key"],
            name=dict(data["name"]),
            citation=citation,
            source=data["source"],
            until=_day(data["until"]),
            citation_verified=verified,
        )


@dataclass(frozen=True)
class Step:
    """What happens to one row. ``delete_row``, ``null`` and ``pseudonymise`` are what is done
    now; for ``retain``, ``then`` is what the deferred job does after ``until``."""

    table: str
    key: Any
    action: Action
    delete_row: bool = False
    null: tuple[str, ...] = ()
    pseudonymise: tuple[str, ...] = ()
    until: date | None = None
    then: Action | None = None
    reasons: tuple[Reason, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "table": self.table,
            "key": self.key,
            "action": self.action,
            "delete_row": self.delete_row,
            "null": list(self.null),
            "pseudonymise": list(self.pseudonymise),
            "until": _iso(self.until),
            "then": self.then,
            "reasons": [reason.to_dict() for reason in self.reasons],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Step:
        return cls(
            table=data["table"],
            key=data["key"],
            action=data["action"],
            delete_row=data["delete_row"],
            null=tuple(data["null"]),
            pseudonymise=tuple(data["pseudonymise"]),
            until=_day(data["until"]),
            then=data["then"],
            reasons=tuple(Reason.from_dict(item) for item in data["reasons"]),
        )


@dataclass(frozen=True)
class TableSummary:
    table: str
    name: dict[str, str]
    erase: int = 0
    anonymise: int = 0
    retain: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "table": self.table,
            "name": dict(self.name),
            "erase": self.erase,
            "anonymise": self.anonymise,
            "retain": self.retain,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TableSummary:
        return cls(
            data["table"], dict(data["name"]), data["erase"], data["anonymise"], data["retain"]
        )


@dataclass(frozen=True)
class ErasurePlan:
    """Every row found for the person, table by table in the map's order, rows by key."""

    datamap_version: str
    planned_on: date
    jurisdiction: str
    case_holds: tuple[str, ...]  # keys of the case holds that were considered
    tables: tuple[TableSummary, ...]  # tables with at least one row
    steps: tuple[Step, ...]
    withheld: dict[str, int] = field(default_factory=dict)  # not the person's for sure: left

    FORMAT = 1

    @property
    def holds_anything(self) -> bool:
        """A plan that keeps nothing may be approved automatically (a setting)."""
        return any(step.action == "retain" for step in self.steps)

    def unverified_reasons(self) -> tuple[Reason, ...]:
        """The rules and holds the plan cites whose citation is not verified, each once: the
        person reads their names only; the DPO's case page lists them to check."""
        found: dict[tuple[str, str], Reason] = {}
        for step in self.steps:
            for reason in step.reasons:
                if not reason.citation_verified:
                    found.setdefault((reason.kind, reason.key), reason)
        return tuple(found.values())

    def deferred(self) -> dict[date, tuple[Step, ...]]:
        """The deferred-erasure jobs: the day after each ``until``, the steps that fall due."""
        jobs: dict[date, list[Step]] = {}
        for step in self.steps:
            if step.action == "retain" and step.until is not None:
                jobs.setdefault(date.fromordinal(step.until.toordinal() + 1), []).append(step)
        return {day: tuple(jobs[day]) for day in sorted(jobs)}

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": self.FORMAT,
            "datamap_version": self.datamap_version,
            "planned_on": self.planned_on.isoformat(),
            "jurisdiction": self.jurisdiction,
            "case_holds": list(self.case_holds),
            "tables": [summary.to_dict() for summary in self.tables],
            "steps": [step.to_dict() for step in self.steps],
            "withheld": dict(sorted(self.withheld.items())),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ErasurePlan:
        if data.get("format") != cls.FORMAT:
            raise ValueError(f"unknown erasure plan format {data.get('format')!r}")
        return cls(
            datamap_version=data["datamap_version"],
            planned_on=date.fromisoformat(data["planned_on"]),
            jurisdiction=data["jurisdiction"],
            case_holds=tuple(data["case_holds"]),
            tables=tuple(TableSummary.from_dict(item) for item in data["tables"]),
            steps=tuple(Step.from_dict(item) for item in data["steps"]),
            withheld=dict(data["withheld"]),
        )


def _iso(day: date | None) -> str | None:
    return None if day is None else day.isoformat()


def _day(text: str | None) -> date | None:
    return None if text is None else date.fromisoformat(text)


def _text(text: Text) -> dict[str, str]:
    return {"nb": text.nb, "sv": text.sv, "en": text.en}


# --- planning ------------------------------------------------------------------------------------


def plan_erasure(
    datamap: DataMap,
    collection: Collection,
    today: date,
    case_holds: Iterable[CaseHold] = (),
) -> ErasurePlan:
    """The erasure plan for everything in ``collection`` (the person's rows) on ``today``.

    ``case_holds`` are the DPO's holds on this person or their records; a person-scope hold
    keeps every row. Pure: no queries, the same inputs give the same plan.
    """
    cases = tuple(case_holds)
    steps: list[Step] = []
    summaries: list[TableSummary] = []
    for name in datamap.table_order():
        rows = collection.tables.get(name, ())
        table_steps = [
            plan_row(datamap, collection, row, today, cases) for row in sorted(rows, key=_row_order)
        ]
        if table_steps:
            counts = {action: sum(s.action == action for s in table_steps) for action in ACTIONS}
            summaries.append(TableSummary(name, _text(datamap.tables[name].name), **counts))
            steps.extend(table_steps)
    return ErasurePlan(
        datamap_version=datamap.version,
        planned_on=today,
        jurisdiction=datamap.settings.jurisdiction,
        case_holds=tuple(sorted(case.key for case in cases if case.active_on(today))),
        tables=tuple(summaries),
        steps=tuple(steps),
        withheld={table: count for table, count in collection.withheld.items() if count},
    )


def _row_order(row: Row) -> tuple[str, Any]:
    return (type(row.key).__name__, row.key)


def with_steps(
    datamap: DataMap, plan: ErasurePlan, steps: Iterable[Step], today: date
) -> ErasurePlan:
    """``plan`` with these steps instead, in the map's table order and by key, under the current
    map: a plan made again in part (``erasure_service.replan_rest``)."""
    by_table: dict[str, list[Step]] = {}
    for step in steps:
        by_table.setdefault(step.table, []).append(step)
    ordered: list[Step] = []
    summaries: list[TableSummary] = []
    for name in datamap.table_order():
        table_steps = sorted(by_table.get(name, ()), key=lambda s: (type(s.key).__name__, s.key))
        if table_steps:
            counts = {action: sum(s.action == action for s in table_steps) for action in ACTIONS}
            summaries.append(TableSummary(name, _text(datamap.tables[name].name), **counts))
            ordered.extend(table_steps)
    return ErasurePlan(
        datamap_version=datamap.version,
        planned_on=today,
        jurisdiction=datamap.settings.jurisdiction,
        case_holds=plan.case_holds,
        tables=tuple(summaries),
        steps=tuple(ordered),
        withheld=dict(plan.withheld),
    )


def plan_row(
    datamap: DataMap,
    collection: Collection,
    row: Row,
    today: date,
    case_holds: Iterable[CaseHold] = (),
) -> Step:
    """One row's step: retained under its active holds, else anonymised or erased."""
    spec = datamap.tables[row.table]
    retention = retention_for(datamap, collection, row)
    without_holds = _erase_or_anonymise(spec, row, retention)
    holds = holds_for(datamap, collection, row, today, case_holds)
    if not holds:
        return without_holds
    until = latest_until(holds)
    null, pseudonymise = ((), ()) if until is None else _retain_fields(spec, row)
    return Step(
        table=row.table,
        key=row.key,
        action="retain",
        null=null,
        pseudonymise=pseudonymise,
        until=until,
        then=without_holds.action,
        reasons=tuple(_hold_reason(hold) for hold in holds),
    )


def _erase_or_anonymise(spec: TableSpec, row: Row, retention: RetentionOutcome | None) -> Step:
    if spec.erasure == "anonymise" or (retention is not None and retention.then == "anonymise"):
        reason = (
            Reason("table", "anonymise")
            if spec.erasure == "anonymise" or retention is None
            else Reason(
                "rule",
                retention.rule,
                _text(retention.name),
                _text(retention.citation),
                citation_verified=retention.citation_verified,
            )
        )
        null, pseudonymise = anonymise_fields(spec, row)
        return Step(row.table, row.key, "anonymise", False, null, pseudonymise, reasons=(reason,))
    if spec.erasure == "delete_row" or any(f.spec.erasure == "delete_row" for f in row.fields):
        return Step(row.table, row.key, "erase", delete_row=True)
    null, pseudonymise = (
        changed_fields(row, {"null"}, set()),
        changed_fields(row, {"pseudonymise"}, set()),
    )
    return Step(row.table, row.key, "erase", False, null, pseudonymise)


def _identifier_columns(spec: TableSpec) -> set[str]:
    return {link.column for link in spec.identifier_links}


def anonymise_fields(spec: TableSpec, row: Row) -> tuple[tuple[str, ...], tuple[str, ...]]:
    # Identifier columns must lose the person even where the map says keep: anonymous means
    # unlinked (a pseudonymised link column stays pseudonymised, as the map allows).
    identifiers = _identifier_columns(spec)
    pseudonymise = changed_fields(row, {"pseudonymise"}, set())
    null = changed_fields(row, {"null"}, identifiers - set(pseudonymise))
    return null, pseudonymise


def _retain_fields(spec: TableSpec, row: Row) -> tuple[tuple[str, ...], tuple[str, ...]]:
    # Kept to a date: the identifiers become keyed hashes, so no search by the person finds
    # the row, yet a claim can still be matched; the key (an order number) is untouched.
    identifiers = _identifier_columns(spec) - {spec.key}
    pseudonymise = changed_fields(row, {"pseudonymise"}, identifiers)
    null = tuple(name for name in changed_fields(row, {"null"}, set()) if name not in pseudonymise)
    return null, pseudonymise


def changed_fields(row: Row, actions: set[str], also: set[str]) -> tuple[str, ...]:
    """Fields with one of these erasure actions (or named in ``also``) that hold a value, in
    the map's column order; a field already empty needs no change."""
    return tuple(
        item.name
        for item in row.fields
        if item.value is not None and (item.spec.erasure in actions or item.name in also)
    )


def _hold_reason(hold: ActiveHold) -> Reason:
    return Reason(
        "hold",
        hold.key,
        _text(hold.name),
        _text(hold.citation),
        hold.source,
        hold.until,
        hold.citation_verified,
    )


def pseudonym(key: bytes, kind: str, value: Any, region: str) -> str:
    """The keyed hash that replaces an identifier: the same value (e-mail addresses in any case,
    phone numbers however typed, given the map's ``region``) gives the same pseudonym, so a claim
    can be matched; without the key it cannot be reversed by trying national IDs. Execution
    trims it to the column's length."""
    message = f"{kind}:{normalise(kind, value, region)}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


# --- plain words --------------------------------------------------------------------------------


class Phase(StrEnum):
    """Where a plan stands, for the words that describe it (``erasure_service.plan_phase``)."""

    # Not carried out yet (proposed, or approved and under way): "2 will be erased".
    planned = "planned"
    # Executed: "2 were erased", "1 is kept until 31 Dec 2029".
    carried_out = "carried_out"
    # Never to be carried out: a superseded version, or the request was cancelled or rejected.
    never = "never"


def describe_plan(plan: ErasurePlan, language: str, phase: Phase = Phase.planned) -> list[str]:
    """The plan in plain words, one line per table and outcome, in nb, sv or en (else en), in
    the tense of ``phase``: en "Calls with customer service: 2 will be erased." (planned), "2
    were erased." (carried out), "2 would have been erased." (never); nb "Fakturaer og
    kvitteringer: 2 vil bli oppbevart til 31. des. 2029 etter bokføringsloven § 13 andre ledd, og
    deretter slettet."
    """
    language = language_of(language)
    words = i18n.Translator(language)
    if not plan.steps:
        return [words.gettext("We hold nothing about you.")]
    lines: list[str] = []
    for summary in plan.tables:
        steps = [step for step in plan.steps if step.table == summary.table]
        table = summary.name.get(language, summary.table)
        for action in ("erase", "anonymise"):
            count = sum(step.action == action for step in steps)
            if count:
                lines.append(_line(words, phase, action, count, table=table))
        groups: dict[tuple[Any, ...], int] = {}
        for step in steps:
            if step.action == "retain":
                group = _retain_group(step)
                groups[group] = groups.get(group, 0) + 1
        for group in sorted(groups, key=_group_order):
            lines.append(_retain_line(words, phase, table, groups[group], group))
    return lines


def _retain_group(step: Step) -> tuple[Any, ...]:
    """What a retain line says: the date, the holds that decide it, and what happens next."""
    binding = tuple(reason for reason in step.reasons if reason.until == step.until)
    cases = any(reason.source == "case" for reason in binding)
    return (step.until, cases, step.then, tuple(_frozen(reason) for reason in binding))


def _frozen(reason: Reason) -> tuple[Any, ...]:
    return (
        reason.key,
        tuple(sorted(reason.name.items())),
        tuple(sorted(reason.citation.items())),
        reason.citation_verified,
    )


def _group_order(group: tuple[Any, ...]) -> tuple[Any, ...]:
    until, cases, then, binding = group
    return (until is None, until or date.min, cases, then or "", [item[0] for item in binding])


def _retain_line(
    words: i18n.Translator, phase: Phase, table: str, count: int, group: tuple[Any, ...]
) -> str:
    until, cases, then, binding = group
    language = words.language
    # A citation not verified is never shown: the hold is named by its name instead.
    texts = [
        (dict(name).get(language, ""), dict(citation).get(language, "") if verified else None)
        for _key, name, citation, verified in binding
    ]
    if until is not None:
        citations = dict.fromkeys(
            citation if citation is not None else name for name, citation in texts
        )
        kind = "kept_then_anonymised" if then == "anonymise" else "kept_then_erased"
        day = i18n.format_day(until, language)
        return _line(
            words, phase, kind, count, table=table, date=day, citations=_and(words, citations)
        )
    names = "; ".join(
        name if citation is None else f"{name}, {citation}" for name, citation in texts
    )
    kind = "kept_until_released" if cases else "kept_while_open"
    return _line(words, phase, kind, count, table=table, names=names)


def _line(words: i18n.Translator, phase: Phase, kind: str, num: int, **values: str) -> str:
    """One line of a plan, in the tense of ``phase``: each kind of line written out in all three
    (planned, carried out, never), literally, so that `make messages` finds them. A kept row is
    kept now once the plan is carried out: those lines are in the present tense. "Will be" and
    "would have been" do not vary with the number in nb, sv or en: plain gettext."""
    if kind == "erase":
        said = (
            words.gettext("%(table)s: %(num)s will be erased.", num=num, **values),
            words.ngettext(
                "%(table)s: %(num)s was erased.", "%(table)s: %(num)s were erased.", num, **values
            ),
            words.gettext("%(table)s: %(num)s would have been erased.", num=num, **values),
        )
    elif kind == "anonymise":
        said = (
            words.gettext(
                "%(table)s: %(num)s will be anonymised and kept without any link to you.",
                num=num,
                **values,
            ),
            words.ngettext(
                "%(table)s: %(num)s was anonymised and is kept without any link to you.",
                "%(table)s: %(num)s were anonymised and are kept without any link to you.",
                num,
                **values,
            ),
            words.gettext(
                "%(table)s: %(num)s would have been anonymised and kept without any link to you.",
                num=num,
                **values,
            ),
        )
    elif kind == "kept_then_anonymised":
        said = (
            words.gettext(
                "%(table)s: %(num)s will be kept until %(date)s under %(citations)s, then "
                "anonymised.",
                num=num,
                **values,
            ),
            words.ngettext(
                "%(table)s: %(num)s is kept until %(date)s under %(citations)s, then anonymised.",
                "%(table)s: %(num)s are kept until %(date)s under %(citations)s, then anonymised.",
                num,
                **values,
            ),
            words.gettext(
                "%(table)s: %(num)s would have been kept until %(date)s under %(citations)s, "
                "then anonymised.",
                num=num,
                **values,
            ),
        )
    elif kind == "kept_then_erased":
        said = (
            words.gettext(
                "%(table)s: %(num)s will be kept until %(date)s under %(citations)s, then erased.",
                num=num,
                **values,
            ),
            words.ngettext(
                "%(table)s: %(num)s is kept until %(date)s under %(citations)s, then erased.",
                "%(table)s: %(num)s are kept until %(date)s under %(citations)s, then erased.",
                num,
                **values,
            ),
            words.gettext(
                "%(table)s: %(num)s would have been kept until %(date)s under %(citations)s, "
                "then erased.",
                num=num,
                **values,
            ),
        )
    elif kind == "kept_until_released":
        said = (
            words.gettext(
                "%(table)s: %(num)s will be kept until the hold is released (%(names)s).",
                num=num,
                **values,
            ),
            words.ngettext(
                "%(table)s: %(num)s is kept until the hold is released (%(names)s).",
                "%(table)s: %(num)s are kept until the hold is released (%(names)s).",
                num,
                **values,
            ),
            words.gettext(
                "%(table)s: %(num)s would have been kept until the hold is released (%(names)s).",
                num=num,
                **values,
            ),
        )
    else:  # kept_while_open
        said = (
            words.gettext(
                "%(table)s: %(num)s will be kept while the case is open (%(names)s).",
                num=num,
                **values,
            ),
            words.ngettext(
                "%(table)s: %(num)s is kept while the case is open (%(names)s).",
                "%(table)s: %(num)s are kept while the case is open (%(names)s).",
                num,
                **values,
            ),
            words.gettext(
                "%(table)s: %(num)s would have been kept while the case is open (%(names)s).",
                num=num,
                **values,
            ),
        )
    planned, carried_out, never = said
    return {Phase.planned: planned, Phase.carried_out: carried_out, Phase.never: never}[phase]


def _and(words: i18n.Translator, items: Iterable[str]) -> str:
    """The citations joined as the plan has always read them: "A and B and C"."""
    first, *rest = list(items) or [""]
    for item in rest:
        first = words.gettext("%(first)s and %(second)s", first=first, second=item)
    return first
