"""The "my data" page's content: everything held about a person, in plain words.

People know their data as things: their customer record, their orders, invoices, calls,
e-mails, consents. So the page shows each table of the data map once, as the thing it is, a
row per record with the columns that tell a person which record it is (the map's ``show``) and
every other field under it; each field says its kind of data (category), why we have it
(purposes, legal basis), where it came from and who receives it. A summary at the top says the
same for everything held at once, and lists the tables with their counts, which add up to the
headline, as do what an erasure keeps (workflows/kept.py).

Built from the resolution and the data map, so the page, the exports and the erasure plans never
disagree about what is held. Each dataclass below is the documented context of a template:
`MyDataPage` for me/home.html, `TableSection` for me/_table.html (also the htmx fragment for
paging). GDPR art. 15(1) a–h and 15(2) are covered as follows: purposes (a), categories (b),
recipients and third-country safeguards (c, 15(2)), retention (d), the rights and the supervisory
authority (e, f: the template's closing section), sources (g), automated decisions (h).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy.engine import Engine

from portal import i18n
from portal.datamap import Collection, DataMap, Resolution, Row
from portal.datamap.collect import may_hold_more
from portal.datamap.overview import Overview, overview
from portal.datamap.paging import Section, page_count, sections, with_relatives
from portal.datamap.retention import kept_text
from portal.datamap.wording import (
    IDENTIFIER_LABELS,
    FieldFacts,
    Summary,
    describe_retention,
    field_facts,
    field_label,
    format_field,
    summary_facts,
    unique,
)
from portal.i18n import gettext as _
from portal.identity.identifiers import PersonKeys
from portal.identity.national_id import mask_national_id, parse_national_id
from portal.workflows.kept import KeptInWords, KeptTable, StillKept, in_words, kept_total

PAGE_SIZE = 25
# A person with more records than this sees each table closed and counted on a first view, its
# rows read when opened (overview_page); fewer, and every table's first page is on the page.
INLINE_ROWS = 200
# A table's field labels (read only), each field's facts, and how long its rows are kept.
_TableWords = tuple[Mapping[str, str], tuple[FieldFacts, ...], tuple[str, ...]]


@dataclass(frozen=True)
class Column:
    name: str
    label: str


@dataclass(frozen=True)
class RecordRow:
    """One record: the values that tell which it is, every field, and how long it is kept."""

    shown: tuple[str, ...]  # the values of TableSection.columns
    fields: tuple[tuple[str, str], ...]  # (label, value) of every field, in the map's order
    kept: str  # how long it is kept, with the law ("Kept until 31 Dec 2030 …")


@dataclass(frozen=True)
class TableSection:
    """One table (a kind of record), a page of its rows at a time, newest first."""

    key: str
    name: str
    description: str | None
    source: str
    columns: tuple[Column, ...]
    fields: tuple[FieldFacts, ...]
    rows: tuple[RecordRow, ...]
    total: int
    page: int
    pages: int
    # A history (addresses, consents) is shown as a timeline.
    timeline: bool
    retention: tuple[str, ...]
    # False on a first view of many records (overview_page): the rows are read when the
    # table is opened (/me/data/<table>), and ``rows`` is empty.
    loaded: bool = True

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
    """The whole page. ``total`` is the sum of the tables' counts and of what the person's
    erasures keep (``kept``: pseudonymised, no longer found by their sign-in, still theirs);
    ``empty`` when it is nought."""

    total: int
    summary: Summary
    tables: tuple[TableSection, ...]
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

    @property
    def by_national_id(self) -> bool:
        """Whether the company's systems were searched by the national ID (a map may hold
        none: then only the addresses and numbers the person has shown are theirs)."""
        return any(identifier.kind == "national_id" for identifier in self.identifiers)


# Reads whole rows of the person by key (paging.read bound to the sources and the resolution).
RowReader = Callable[[Mapping[str, Iterable[Any]]], Collection]


def build_page(
    datamap: DataMap,
    resolution: Resolution,
    read: RowReader,
    language: str,
    today: date,
    kept: Sequence[KeptTable] = (),
    hidden: Iterable[tuple[str, str]] = (),
    *,
    staff: bool = False,
) -> MyDataPage:
    """The page with the first page of every table; counts come from the resolution, and only
    the rows shown (and those their retention needs) are read. ``kept``: what the person's
    erasures keep, beyond what the resolution finds. ``hidden``: (table, column) whose values
    are not shown (a protected person's addresses, to customer service). ``staff``: the tables
    in the map's words for staff (customer service's look-up, the DPO's data found), who read
    about the person rather than being spoken to."""
    found = sections(datamap, resolution)
    shown = {section.table: section.page(1, PAGE_SIZE) for section in found}
    view = _View(datamap, resolution, read, shown, language, today, hidden, staff)
    tables = tuple(view.table(section) for section in found)
    names = [section.table for section in found]
    return _page(
        datamap, names, tables, kept, resolution.identifiers, resolution.withheld, language
    )


def _page(
    datamap: DataMap,
    names: Sequence[str],
    tables: tuple[TableSection, ...],
    kept: Sequence[KeptTable],
    identifiers: Mapping[str, tuple[str, ...]],
    withheld: Mapping[str, int],
    language: str,
) -> MyDataPage:
    specs = [field for name in names for field in datamap.tables[name].fields.values()]
    controller = datamap.controller
    return MyDataPage(
        total=sum(table.total for table in tables) + kept_total(kept),
        summary=summary_facts(datamap, names, specs, language),
        tables=tables,
        kept=in_words(kept, language),
        kept_total=kept_total(kept),
        identifiers=_identifiers(identifiers),
        may_hold_more=tuple(
            datamap.tables[name].name.get(language) for name in may_hold_more(datamap)
        ),
        withheld=sum(withheld.values()),
        automated_decisions=_automated_decisions(datamap, specs, language),
        controller_name=controller.name,
        controller_contact=controller.contact,
        dpo_contact=controller.dpo_contact,
        supervisory_authority=controller.supervisory_authority.get(language),
    )


def my_data_page(
    datamap: DataMap,
    sources: Mapping[str, Engine],
    keys: PersonKeys,
    kept: StillKept,
    holdings: Callable[[], tuple[Resolution, RowReader]],
    language: str,
    today: date,
) -> MyDataPage:
    """The person's own page: counted by the database, every table closed, when they have
    many records (more than INLINE_ROWS) and no erasure keeps any (what is kept is told apart
    by key); else every table's first page (``holdings``: the resolution and a row reader)."""
    if not kept.steps:
        national_id, _country, proven = keys
        counted = overview(datamap, sources, national_id, proven=proven)
        if counted is not None and counted.total > INLINE_ROWS:
            return overview_page(datamap, counted, language)
    resolution, read = holdings()
    found = kept.tables(resolution.keys, datamap.table_order())
    return build_page(datamap, resolution, read, language, today, found)


def overview_page(
    datamap: DataMap,
    counted: Overview,
    language: str,
    kept: Sequence[KeptTable] = (),
) -> MyDataPage:
    """The page of a person with many records (overview.INLINE_ROWS), as build_page makes it
    but with every table closed and counted, its rows read when it is opened: a first view
    then costs the counting (datamap/overview.py), not a page of every table."""
    names = [name for name in datamap.table_order() if counted.count(name)]
    tables = tuple(_unread_table(datamap, name, counted.count(name), language) for name in names)
    return _page(datamap, names, tables, kept, counted.identifiers, counted.withheld, language)


def _unread_table(datamap: DataMap, name: str, total: int, language: str) -> TableSection:
    pages = page_count(total, PAGE_SIZE)
    return _table_section(datamap, name, language, False, (), total, 1, pages, loaded=False)


def _table_section(
    datamap: DataMap,
    name: str,
    language: str,
    staff: bool,
    rows: tuple[RecordRow, ...],
    total: int,
    page: int,
    pages: int,
    *,
    loaded: bool = True,
) -> TableSection:
    """A table in the map's words, with these of its rows."""
    spec = datamap.tables[name]
    labels, fields, retention = _table_words(datamap, name, language, staff)
    return TableSection(
        key=name,
        name=spec.name.get(language),
        description=spec.description.get(language) if spec.description else None,
        source=datamap.sources[spec.source].name.get(language),
        columns=tuple(Column(column, labels[column]) for column in spec.shown),
        fields=fields,
        rows=rows,
        total=total,
        page=page,
        pages=pages,
        timeline=spec.timeline is not None,
        retention=retention,
        loaded=loaded,
    )


def table_page(
    datamap: DataMap,
    resolution: Resolution,
    read: RowReader,
    table: str,
    page: int,
    language: str,
    today: date,
) -> TableSection | None:
    """One page of one table (for paging), or None if the person has no such table."""
    found = [section for section in sections(datamap, resolution) if section.table == table]
    if not found:
        return None
    shown = {table: found[0].page(page, PAGE_SIZE)}
    return _View(datamap, resolution, read, shown, language, today).table(found[0])


class _View:
    """Builds the tables of one person's page in one language, as of one day."""

    def __init__(
        self,
        datamap: DataMap,
        resolution: Resolution,
        read: RowReader,
        shown: Mapping[str, tuple[int, int, tuple[Any, ...]]],
        language: str,
        today: date,
        hidden: Iterable[tuple[str, str]] = (),
        staff: bool = False,
    ) -> None:
        self.datamap = datamap
        self.language = language
        self.staff = staff
        self.today = today
        self.shown = shown
        self.hidden = frozenset(hidden)
        # One read for every page shown: their rows, and what their retention needs.
        keys = {table: set(page_keys) for table, (_, _, page_keys) in shown.items()}
        self.rows = read(with_relatives(datamap, resolution, keys))
        self.whole = {
            (name, row.key): row for name, rows in self.rows.tables.items() for row in rows
        }

    def table(self, section: Section) -> TableSection:
        name, language = section.table, self.language
        page, pages, keys = self.shown[name]
        columns = self.datamap.tables[name].shown
        labels = _table_words(self.datamap, name, language, self.staff)[0]
        rows = tuple(self.row(self.whole[(name, key)], columns, labels) for key in keys)
        total = len(section.keys)
        return _table_section(self.datamap, name, language, self.staff, rows, total, page, pages)

    def row(self, row: Row, columns: Sequence[str], labels: Mapping[str, str]) -> RecordRow:
        language, staff = self.language, self.staff
        tz = self.datamap.controller.time_zone
        values = {
            item.name: _("Hidden")
            if (row.table, item.name) in self.hidden
            else format_field(item.spec, item.value, language, tz, staff=staff)
            for item in row.fields
        }
        return RecordRow(
            shown=tuple(values[name] for name in columns),
            fields=tuple((labels[name], value) for name, value in values.items()),
            # The hold that keeps the row longest, else the retention rule that ends it first.
            kept=kept_text(self.datamap, self.rows, row, self.today, language),
        )


# A table's words (field labels, each field's facts, how long rows are kept) are the same for
# every person: worked out once per map, language and audience (the person or staff), not on
# every first view. Keyed by the request's language too, as some of the words come from it
# (i18n.gettext).
_WORDS: dict[tuple[int, str, str, str, bool], tuple[DataMap, _TableWords]] = {}
_MAX_WORDS = 1024


def _table_words(datamap: DataMap, table: str, language: str, staff: bool) -> _TableWords:
    key = (id(datamap), table, language, i18n.current_language(), staff)
    entry = _WORDS.get(key)
    if entry is None or entry[0] is not datamap:
        spec = datamap.tables[table]
        fields = spec.fields.items()
        words = (
            {name: field_label(name, field, language, staff=staff) for name, field in fields},
            tuple(
                field_facts(datamap, name, field, language, staff=staff) for name, field in fields
            ),
            describe_retention(datamap, spec, language),
        )
        if len(_WORDS) >= _MAX_WORDS:
            _WORDS.clear()
        entry = _WORDS[key] = (datamap, words)
    return entry[1]


def _identifiers(identifiers: Mapping[str, tuple[str, ...]]) -> tuple[Identifier, ...]:
    result = []
    for kind, values in identifiers.items():
        for value in values:
            if kind == "national_id":
                value = mask_national_id(parse_national_id(value))
            result.append(Identifier(kind, str(IDENTIFIER_LABELS.get(kind, kind)), value))
    return tuple(result)


def _automated_decisions(
    datamap: DataMap, specs: Iterable[Any], language: str
) -> tuple[AutomatedDecision, ...]:
    used = unique(purpose for spec in specs for purpose in spec.purposes)
    return tuple(
        AutomatedDecision(
            datamap.purposes[key].name.get(language),
            datamap.purposes[key].automated_decision.get(language),
        )
        for key in used
        if datamap.purposes[key].automated_decision is not None
    )
