"""What is kept about a person after their erasure: from the stored plans, no row read.

An erasure keeps some records under a hold (bookkeeping, an open complaint, a collection case),
pseudonymised when kept to a date, so that the person's sign-in no longer finds them. They are
still the person's data (GDPR recital 26), and the person still has the right of access to
them (art. 15): the "my data" page, the exports and the outcome letter say, per table, how many
records are kept until which day, under which hold and law, and what happens then.

The portal knows this without reading the kept rows: an executed plan lists every row it kept
(``retain`` steps, with their holds and days), and each deferred erasure records which of a
plan's kept rows it judged again and which a hold still keeps, with their new day
(``records.DeferredDone``). What is still kept is the plan's kept rows, minus the rows judged,
plus the rows kept longer, run after run. A kept row the person's sign-in still finds (one left
unchanged while a case is open) is shown with their other data instead, never twice.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from portal import i18n
from portal.datamap.retention import language_of
from portal.db import session_scope
from portal.workflows.erasure import ErasurePlan, Reason, Step
from portal.workflows.records import DeferredDone, PlanStatus, StoredPlan
from portal.workflows.requests import DataRequest, RequestType


@dataclass(frozen=True)
class KeptGroup:
    """Records of one table kept for the same holds until the same day (or while open)."""

    table: str
    count: int
    until: date | None  # None: while a case is open, or until a case hold is released
    then: str | None  # after ``until``: "erase" or "anonymise"
    reasons: tuple[Reason, ...]  # the holds that decide ``until``, with their texts
    case: bool  # a DPO's case hold decides it

    def hold_texts(self, language: str) -> tuple[tuple[str, str | None], ...]:
        """(hold name, law citation) per hold, each once, in ``language``; the citation None
        while it is not verified (the person reads the hold's name only)."""
        return tuple(
            dict.fromkeys(
                (r.name.get(language, r.name.get("en", r.key)), r.citation_for_person(language))
                for r in self.reasons
            )
        )

    def until_text(self, language: str) -> str:
        """The day it is kept until as the language writes it, or why there is none."""
        if self.until is not None:
            return i18n.format_day(self.until, language)
        words = i18n.Translator(language_of(language))
        if self.case:
            return words.gettext("until the hold is released")
        return words.gettext("while the case is open")

    def then_text(self, language: str) -> str | None:
        if self.until is None:
            return None
        words = i18n.Translator(language_of(language))
        if self.then == "anonymise":
            return words.gettext("then anonymised")
        return words.gettext("then erased")


@dataclass(frozen=True)
class KeptTable:
    """One table's kept records, by the day they are kept until."""

    table: str
    name: Mapping[str, str]  # language -> the table's name, as the plan recorded it
    count: int
    groups: tuple[KeptGroup, ...]

    def name_in(self, language: str) -> str:
        return self.name.get(language, self.name.get("en", self.table))


def binding(step: Step) -> tuple[Reason, ...]:
    """The holds that decide how long a row is kept (those ending on its ``until``)."""
    return tuple(reason for reason in step.reasons if reason.until == step.until)


def _group_key(step: Step) -> tuple[Any, ...]:
    reasons = binding(step)
    case = any(reason.source == "case" for reason in reasons)
    texts = tuple(
        (
            r.key,
            tuple(sorted(r.name.items())),
            tuple(sorted(r.citation.items())),
            r.citation_verified,
        )
        for r in reasons
    )
    return (step.until is None, step.until or date.min, case, step.then or "", texts)


def group_steps(
    steps: Iterable[Step], names: Mapping[str, Mapping[str, str]], order: Sequence[str]
) -> tuple[KeptTable, ...]:
    """Retained steps grouped by table (in ``order``, then any other by name), then by day,
    hold and what happens next: soonest first, "while open" last."""
    by_table: dict[str, dict[tuple[Any, ...], list[Step]]] = {}
    for step in steps:
        by_table.setdefault(step.table, {}).setdefault(_group_key(step), []).append(step)
    position = {name: index for index, name in enumerate(order)}
    tables = []
    for table in sorted(by_table, key=lambda name: (position.get(name, len(position)), name)):
        groups = tuple(
            KeptGroup(
                table=table,
                count=len(found),
                until=found[0].until,
                then=found[0].then,
                reasons=binding(found[0]),
                case=key[2],
            )
            for key, found in sorted(by_table[table].items(), key=lambda item: item[0])
        )
        count = sum(group.count for group in groups)
        tables.append(KeptTable(table, dict(names.get(table, {})), count, groups))
    return tuple(tables)


def plan_kept(plan: ErasurePlan) -> tuple[KeptTable, ...]:
    """What a plan keeps, as it was planned (the outcome letter)."""
    names = {summary.table: summary.name for summary in plan.tables}
    order = [summary.table for summary in plan.tables]
    return group_steps((s for s in plan.steps if s.action == "retain"), names, order)


@dataclass(frozen=True)
class StillKept:
    """Every row the person's executed erasures still keep: the step that keeps it now (from
    the plan, or from the deferred erasure that kept it longer), and the tables' names."""

    steps: tuple[Step, ...] = ()
    names: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    def tables(
        self, found: Mapping[str, Iterable[Any]] | None = None, order: Sequence[str] = ()
    ) -> tuple[KeptTable, ...]:
        """Grouped by table (in ``order``: the map's). ``found`` holds the keys of the rows the
        person's sign-in finds today: those are shown with their other data, so left out."""
        seen = {table: set(keys) for table, keys in (found or {}).items()}
        steps = (step for step in self.steps if step.key not in seen.get(step.table, ()))
        return group_steps(steps, self.names, order)


def kept_records(
    db: Session,
    subject_id: int,
    *,
    found: Mapping[str, Iterable[Any]] | None = None,
    order: Sequence[str] = (),
) -> tuple[KeptTable, ...]:
    """What the person's executed erasures still keep, table by table (see StillKept)."""
    return still_kept(db, subject_id).tables(found, order)


def kept_for(engine: Engine, subject_id: int) -> StillKept:
    """``still_kept`` in a unit of work of its own (the page then reads the company's
    databases holding no session of the portal's)."""
    with session_scope(engine) as db:
        return still_kept(db, subject_id)


def still_kept(db: Session, subject_id: int) -> StillKept:
    plans = db.exec(
        select(StoredPlan)
        .join(DataRequest, col(DataRequest.id) == StoredPlan.request_id)
        .where(
            DataRequest.subject_id == subject_id,
            DataRequest.type == RequestType.erasure,
            StoredPlan.status == PlanStatus.executed,
        )
        .order_by(col(StoredPlan.executed_at), col(StoredPlan.id))
    ).all()
    if not plans:
        return StillKept()
    runs: dict[int, list[DeferredDone]] = {}
    done = select(DeferredDone).where(col(DeferredDone.plan_id).in_([p.id for p in plans]))
    for run in db.exec(done.order_by(col(DeferredDone.id))):
        runs.setdefault(run.plan_id, []).append(run)
    kept: dict[tuple[str, Any], Step] = {}
    names: dict[str, dict[str, str]] = {}
    for stored in plans:
        plan = ErasurePlan.from_dict(stored.plan)
        names.update({summary.table: dict(summary.name) for summary in plan.tables})
        mine: dict[tuple[str, Any], Step] = {
            (step.table, step.key): step for step in plan.steps if step.action == "retain"
        }
        for run in runs.get(stored.id or 0, ()):
            for key in run.keys:
                mine.pop((run.table_name, key), None)
            for item in run.kept:
                step = Step.from_dict(item)
                mine[(step.table, step.key)] = step
        kept.update(mine)
    return StillKept(tuple(kept.values()), names)


def kept_total(tables: Iterable[KeptTable]) -> int:
    return sum(table.count for table in tables)


@dataclass(frozen=True)
class KeptLine:
    """One group of kept records in words: how many, until when, why, and what then."""

    count: int
    until: str
    then: str | None
    holds: tuple[tuple[str, str | None], ...]  # (hold name, law citation or None: unverified)


@dataclass(frozen=True)
class KeptInWords:
    """One table's kept records in words (the "my data" page, the PDF report)."""

    table: str
    name: str
    count: int
    lines: tuple[KeptLine, ...]


def in_words(tables: Iterable[KeptTable], language: str) -> tuple[KeptInWords, ...]:
    return tuple(
        KeptInWords(
            table=table.table,
            name=table.name_in(language),
            count=table.count,
            lines=tuple(
                KeptLine(
                    count=group.count,
                    until=group.until_text(language),
                    then=group.then_text(language),
                    holds=group.hold_texts(language),
                )
                for group in table.groups
            ),
        )
        for table in tables
    )


def kept_plain(tables: Iterable[KeptTable], language: str) -> list[dict[str, Any]]:
    """The kept records as plain data (the JSON export, the CSV file), texts in ``language``."""
    return [
        {
            "table": table.table,
            "name": table.name_in(language),
            "count": table.count,
            "groups": [
                {
                    "count": group.count,
                    "until": group.until.isoformat() if group.until else None,
                    "until_text": group.until_text(language),
                    "then": group.then if group.until is not None else None,
                    "holds": [
                        {
                            "key": reason.key,
                            "name": reason.name.get(language, reason.key),
                            "citation": reason.citation_for_person(language),
                            "source": reason.source,
                        }
                        for reason in group.reasons
                    ],
                }
                for group in table.groups
            ],
        }
        for table in tables
    ]
