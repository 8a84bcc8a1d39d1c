"""The "my data" page's content: everything held about a person, in plain words.

Built from the collector's result and the data map alone, so the page, the exports and the
erasure plans never disagree about what is held. Each dataclass below is the documented context
of a template: `MyDataPage` for me/data.html, `TableSection` for me/_table.html (also the htmx
fragment for paging). GDPR art. 15(1) a–h and 15(2) are covered as follows: purposes (a),
categories (b), recipients and third-country safeguards (c, 15(2)), retention (d), the rights
and the supervisory authority (e, f: the template's closing section), sources (g), automated
decisions (h).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from portal.datamap import Collection, DataMap, Resolution, Row
from portal.datamap.collect import may_hold_more
from portal.datamap.paging import Section, sections, with_relatives
from portal.datamap.retention import kept_text
from portal.datamap.wording import (
    IDENTIFIER_LABELS,
    CategorySection,
    category_facts,
    describe_retention,
    field_label,
    format_value,
    unique,
)
from portal.identity.national_id import mask_national_id, parse_national_id
from portal.workflows.kept import KeptInWords, KeptTable, in_words, kept_total

PAGE_SIZE = 25


@dataclass(frozen=True)
class Column:
    name: str
    label: str


@dataclass(frozen=True)
class TableSection:
    """One table's rows within a category, a page at a time."""

    category: str
    key: str
    name: str
    description: str | None
    source: str
    columns: tuple[Column, ...]
    rows: tuple[tuple[str, ...], ...]
    # Per row shown: how long it is kept, in words, with the law ("Kept until 31.12.2030 …").
    kept: tuple[str, ...]
    total: int
    page: int
    pages: int
    # A history (addresses, consents) is shown newest first, as a timeline.
    timeline: bool
    retention: tuple[str, ...]

    @property
    def first_row_number(self) -> int:
        return (self.page - 1) * PAGE_SIZE + 1


@dataclass(frozen=True)
class Identifier:
    kind: str
    label: str
    value: str


@dataclass(frozen=True)
class AutomatedDecision:
    purpose: str
    explanation: str


@dataclass(frozen=True)
class MyDataPage:
    """The whole page. `empty` is true when the company holds nothing about the person.
    ``total`` counts the records found and those kept after an erasure (``kept``, ``kept_total``:
    pseudonymised, no longer found by the person's sign-in, still theirs; workflows/kept.py)."""

    total: int
    categories: tuple[CategorySection[TableSection], ...]
    kept: tuple[KeptInWords, ...]
    kept_total: int
    identifiers: tuple[Identifier, ...]
    # Tables where rows under an e-mail address or phone number alone may exist; rows under
    # addresses the person has not proven are not shown, so the page says more may be held.
    may_hold_more: tuple[str, ...]
    withheld: int
    automated_decisions: tuple[AutomatedDecision, ...]
    controller_name: str
    controller_contact: str
    dpo_contact: str | None
    supervisory_authority: str

    @property
    def empty(self) -> bool:
        return self.total == 0


# Reads whole rows of the person by key (paging.read bound to the sources and the resolution).
RowReader = Callable[[Mapping[str, Iterable[Any]]], Collection]


def build_page(
    datamap: DataMap,
    resolution: Resolution,
    read: RowReader,
    language: str,
    today: date,
    kept: Sequence[KeptTable] = (),
) -> MyDataPage:
    """The page with the first page of every table; counts come from the resolution, and only
    the rows shown (and those their retention needs) are read. ``kept``: what the person's
    erasures keep, beyond what the resolution finds."""
    grouped = sections(datamap, resolution)
    shown = {
        (section.category, section.table): section.page(1, PAGE_SIZE)
        for category in grouped.values()
        for section in category
    }
    view = _View(datamap, resolution, read, shown, language, today)
    categories = tuple(view.category(key, tables) for key, tables in grouped.items())
    controller = datamap.controller
    return MyDataPage(
        total=sum(len(keys) for keys in resolution.keys.values()) + kept_total(kept),
        categories=categories,
        kept=in_words(kept, language),
        kept_total=kept_total(kept),
        identifiers=_identifiers(resolution.identifiers),
        may_hold_more=tuple(
            datamap.tables[name].name.get(language) for name in may_hold_more(datamap)
        ),
        withheld=sum(resolution.withheld.values()),
        automated_decisions=_automated_decisions(datamap, grouped, language),
        controller_name=controller.name,
        controller_contact=controller.contact,
        dpo_contact=controller.dpo_contact,
        supervisory_authority=controller.supervisory_authority.get(language),
    )


def table_page(
    datamap: DataMap,
    resolution: Resolution,
    read: RowReader,
    category: str,
    table: str,
    page: int,
    language: str,
    today: date,
) -> TableSection | None:
    """One page of one table within a category (for paging), or None if there is no such."""
    found = [s for s in sections(datamap, resolution).get(category, []) if s.table == table]
    if not found:
        return None
    section = found[0]
    shown = {(category, table): section.page(page, PAGE_SIZE)}
    return _View(datamap, resolution, read, shown, language, today).table(section)


class _View:
    """Builds the sections of one person's page in one language, as of one day."""

    def __init__(
        self,
        datamap: DataMap,
        resolution: Resolution,
        read: RowReader,
        shown: Mapping[tuple[str, str], tuple[int, int, tuple[Any, ...]]],
        language: str,
        today: date,
    ) -> None:
        self.datamap = datamap
        self.language = language
        self.today = today
        self.shown = shown
        # One read for every page shown: their rows, and what their retention needs.
        keys: dict[str, set[Any]] = {}
        for (_, table), (_, _, page_keys) in shown.items():
            keys.setdefault(table, set()).update(page_keys)
        self.rows = read(with_relatives(datamap, resolution, keys))
        self.whole = {
            (name, row.key): row for name, rows in self.rows.tables.items() for row in rows
        }
        # A row appears in every category it has fields in; its retention is the same in each.
        self._kept: dict[tuple[str, object], str] = {}

    def category(self, key: str, tables: list[Section]) -> CategorySection[TableSection]:
        datamap, language = self.datamap, self.language
        specs = [
            datamap.tables[section.table].fields[column]
            for section in tables
            for column in section.columns
        ]
        return CategorySection(
            **category_facts(datamap, key, specs, language),
            count=sum(len(section.keys) for section in tables),
            tables=tuple(self.table(section) for section in tables),
        )

    def table(self, section: Section) -> TableSection:
        datamap, language = self.datamap, self.language
        spec = datamap.tables[section.table]
        page, pages, keys = self.shown[(section.category, section.table)]
        rows = [self.whole[(section.table, key)] for key in keys]
        return TableSection(
            category=section.category,
            key=section.table,
            name=spec.name.get(language),
            description=spec.description.get(language) if spec.description else None,
            source=datamap.sources[spec.source].name.get(language),
            columns=tuple(
                Column(name, field_label(name, spec.fields[name], language))
                for name in section.columns
            ),
            rows=tuple(
                tuple(format_value(row.value(name), language) for name in section.columns)
                for row in rows
            ),
            kept=tuple(self.kept(row) for row in rows),
            total=len(section.keys),
            page=page,
            pages=pages,
            timeline=section.timeline,
            retention=describe_retention(datamap, spec, language),
        )

    def kept(self, row: Row) -> str:
        """The hold that keeps the row longest, else the retention rule that ends it first."""
        cache_key = (row.table, row.key)
        if cache_key not in self._kept:
            self._kept[cache_key] = kept_text(
                self.datamap, self.rows, row, self.today, self.language
            )
        return self._kept[cache_key]


def _identifiers(identifiers: Mapping[str, tuple[str, ...]]) -> tuple[Identifier, ...]:
    result = []
    for kind, values in identifiers.items():
        for value in values:
            if kind == "national_id":
                value = mask_national_id(parse_national_id(value))
            result.append(Identifier(kind, str(IDENTIFIER_LABELS.get(kind, kind)), value))
    return tuple(result)


def _automated_decisions(
    datamap: DataMap, grouped: dict[str, list[Section]], language: str
) -> tuple[AutomatedDecision, ...]:
    used = unique(
        purpose
        for tables in grouped.values()
        for section in tables
        for column in section.columns
        for purpose in datamap.tables[section.table].fields[column].purposes
    )
    return tuple(
        AutomatedDecision(
            datamap.purposes[key].name.get(language),
            datamap.purposes[key].automated_decision.get(language),
        )
        for key in used
        if datamap.purposes[key].automated_decision is not None
    )
