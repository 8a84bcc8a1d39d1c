"""The export as a PDF report to read and print (WeasyPrint), in nb, sv or en.

A cover, a table of contents with page numbers, how the data was found, a summary (the kinds
of data, why we have them and on which legal basis, where they came from, who receives them,
how long they are kept), then each table once, as on the "my data" page: how long it is kept,
what each field is and why we have it, and its rows newest first, each with how long it is kept
and under which law, every field of a row on it (the table's ``show`` columns first). What an
erasure keeps, automated decisions and the person's rights follow. The counts add up: the
cover's total is the tables' counts and the kept records. Pages are numbered "Page 3 of 97" in
the person's language.

A person with more than ``ROW_LIMIT`` rows gets the same report without the rows (counts per
table instead): a PDF of tens of thousands of rows helps nobody, and the JSON and CSV files hold
every row. Rendering follows the outcome letter (portal/workflows/letters.py): no base URL, a
fetcher that refuses everything but ``data:`` URLs, fonts from fontconfig, the language set in a
copied context.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from portal import i18n
from portal.datamap import Collection, DataMap, FieldSpec, Row
from portal.datamap.order import newest_first_rows
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
)
from portal.exports.document import exported_fields
from portal.exports.models import ExportScope
from portal.templating import TEMPLATES_DIR
from portal.workflows.kept import KeptInWords, KeptTable, in_words, kept_total
from portal.workflows.letters import (
    PDF_ENV,
    PDF_OPTIONS,
    in_language,
    page_counter_content,
    refusing_fetcher,
)

REPORT_TEMPLATE = "pdf/report.html"
REPORT_STYLESHEET = TEMPLATES_DIR / "pdf" / "report.css"
# Above this many rows the report gives counts, not rows (the JSON and CSV have them all):
# 2,000 rows make about 100 pages, take 9 s and 450 MB to render (benchmarks/exports.py).
ROW_LIMIT = 2500
# A table listing more rows than this prints each row as one line, its columns named once above:
# WeasyPrint lays out every table cell as its own box, and a line per row instead of a cell per
# value halves the time of a 2,000-row report (benchmarks/exports.py). Shorter tables keep
# their columns, unless they have more than fit side by side on A4.
COMPACT_ROWS = 60
WIDE_COLUMNS = 7


@dataclass(frozen=True)
class RowGroup:
    """Rows kept for the same time under the same law, in the table's order. Rows that read
    the same within a category (the name on each of 150 orders) are shown once, counted."""

    kept: str
    rows: tuple[tuple[tuple[str, ...], int], ...]  # (formatted values, how many rows)


@dataclass(frozen=True)
class ReportTable:
    key: str
    name: str
    source: str
    description: str | None
    retention: tuple[str, ...]
    fields: tuple[FieldFacts, ...]  # what each exported field is, and why we have it
    columns: tuple[str, ...]  # the exported fields' labels: the show columns first
    groups: tuple[RowGroup, ...]  # empty when rows are not listed
    repeated: bool  # some rows are shown once for several: the table has a count column
    count: int
    compact: bool = False  # a line per row (COMPACT_ROWS, WIDE_COLUMNS), not a cell per value


@dataclass(frozen=True)
class ReportContent:
    """The documented context of pdf/report.html."""

    person_name: str
    made_on: str
    scope: ExportScope
    datamap_version: str
    total: int  # the tables' counts and the kept records
    rows_listed: bool
    summary: Summary
    tables: tuple[ReportTable, ...]
    identifiers: tuple[tuple[str, str], ...]  # (label, value)
    by_national_id: bool  # searched by it: a map may hold no national IDs
    withheld: int
    may_hold_more: tuple[str, ...]
    automated_decisions: tuple[tuple[str, str], ...]  # (purpose, explanation)
    # Records the person's erasures keep, no longer found under them (workflows/kept.py).
    kept: tuple[KeptInWords, ...] = ()
    kept_total: int = 0


def _unique(items: Iterable[Any]) -> tuple[Any, ...]:
    return tuple(dict.fromkeys(items))


class _Builder:
    def __init__(self, datamap: DataMap, scope: ExportScope, language: str, today: date) -> None:
        self.datamap = datamap
        self.scope = scope
        self.language = language
        self.today = today

    def columns(self, table: str) -> list[str]:
        """The table's exported columns: those that tell which record it is (``show``) first,
        then the others in the map's order."""
        spec = self.datamap.tables[table]
        exported = exported_fields(self.datamap, spec, self.scope)
        first = [name for name in spec.shown if name in exported]
        return first + [name for name in exported if name not in first]

    def table(
        self, name: str, columns: list[str], rows: list[Row], count: int, kept: Any
    ) -> ReportTable:
        datamap, spec, language = self.datamap, self.datamap.tables[name], self.language
        rows = newest_first_rows(spec, rows)  # as on /me and in the JSON and CSV
        # Grouped by how long they are kept, so the reason is said once, not on every row.
        groups: dict[str, dict[tuple[str, ...], int]] = {}
        tz = datamap.controller.time_zone
        for row in rows:
            values = tuple(
                format_field(spec.fields[c], row.value(c), language, tz) for c in columns
            )
            same = groups.setdefault(kept(row), {})
            same[values] = same.get(values, 0) + 1
        listed = sum(len(same) for same in groups.values())
        return ReportTable(
            key=name,
            name=spec.name.get(language),
            source=datamap.sources[spec.source].name.get(language),
            description=spec.description.get(language) if spec.description else None,
            retention=describe_retention(datamap, spec, language),
            fields=tuple(field_facts(datamap, c, spec.fields[c], language) for c in columns),
            columns=tuple(field_label(c, spec.fields[c], language) for c in columns),
            groups=tuple(RowGroup(text, tuple(same.items())) for text, same in groups.items()),
            repeated=any(n > 1 for same in groups.values() for n in same.values()),
            count=count,
            compact=listed > COMPACT_ROWS or len(columns) > WIDE_COLUMNS,
        )


def report_content(
    datamap: DataMap,
    *,
    collection: Collection | None,
    counts: Mapping[str, int],
    identifiers: Mapping[str, tuple[str, ...]],
    withheld: int,
    person_name: str,
    scope: ExportScope,
    language: str,
    made_at: datetime,
    kept: Sequence[KeptTable] = (),
) -> ReportContent:
    """The report's content. ``collection`` holds every row when they are to be listed (at most
    ROW_LIMIT); without it, ``counts`` (table -> rows) alone gives a report without rows.
    ``kept``: what the person's erasures keep (counted in the total)."""
    return in_language(
        language,
        _content,
        datamap,
        collection,
        counts,
        kept,
        identifiers,
        withheld,
        person_name,
        scope,
        language,
        made_at,
    )


def _content(
    datamap: DataMap,
    collection: Collection | None,
    counts: Mapping[str, int],
    kept_tables: Sequence[KeptTable],
    identifiers: Mapping[str, tuple[str, ...]],
    withheld: int,
    person_name: str,
    scope: ExportScope,
    language: str,
    made_at: datetime,
) -> ReportContent:
    today = i18n.local_day(made_at, datamap.controller.time_zone)
    builder = _Builder(datamap, scope, language, today)
    tables: list[ReportTable] = []
    specs: list[FieldSpec] = []
    for name in datamap.table_order():
        count = counts.get(name, 0)
        columns = builder.columns(name)
        if not count or not columns:
            continue
        rows = list(collection.tables.get(name, ())) if collection is not None else []
        cache: dict[Any, str] = {}

        def kept(row: Row, cache: dict[Any, str] = cache) -> str:
            if row.key not in cache:
                assert collection is not None
                cache[row.key] = kept_text(datamap, collection, row, today, language)
            return cache[row.key]

        tables.append(builder.table(name, columns, rows, count, kept))
        specs.extend(datamap.tables[name].fields[c] for c in columns)
    used_purposes = _unique(p for spec in specs for p in spec.purposes)
    return ReportContent(
        person_name=person_name,
        made_on=i18n.format_day(today, language),
        scope=scope,
        datamap_version=datamap.version,
        total=sum(counts.values()) + kept_total(kept_tables),
        rows_listed=collection is not None,
        summary=summary_facts(datamap, [table.key for table in tables], specs, language),
        tables=tuple(tables),
        identifiers=_identifiers(identifiers),
        by_national_id="national_id" in identifiers,
        withheld=withheld,
        may_hold_more=_may_hold_more(datamap, language),
        automated_decisions=tuple(
            (datamap.purposes[key].name.get(language), item.get(language))
            for key in used_purposes
            if (item := datamap.purposes[key].automated_decision) is not None
        ),
        kept=in_words(kept_tables, language),
        kept_total=kept_total(kept_tables),
    )


def _identifiers(identifiers: Mapping[str, tuple[str, ...]]) -> tuple[tuple[str, str], ...]:
    from portal.identity.national_id import mask_national_id, parse_national_id

    found = []
    for kind, values in identifiers.items():
        for value in values:
            shown = mask_national_id(parse_national_id(value)) if kind == "national_id" else value
            found.append((str(IDENTIFIER_LABELS.get(kind, kind)), shown))
    return tuple(found)


def _may_hold_more(datamap: DataMap, language: str) -> tuple[str, ...]:
    from portal.datamap.collect import may_hold_more

    return tuple(datamap.tables[name].name.get(language) for name in may_hold_more(datamap))


# --- rendering -----------------------------------------------------------------------------------


def report_html(content: ReportContent, datamap: DataMap, language: str) -> str:
    controller = datamap.controller
    context = {
        "language": language,
        "content": content,
        "controller": controller,
        "authority": controller.supervisory_authority.get(language),
    }
    return in_language(language, PDF_ENV.get_template(REPORT_TEMPLATE).render, context)


def render_report(content: ReportContent, datamap: DataMap, language: str) -> bytes:
    """The report as PDF bytes, in ``language`` (nb, sv or en; anything else: nb)."""
    from weasyprint import CSS, HTML

    language = language if language in i18n.LANGUAGES else i18n.DEFAULT_LANGUAGE
    html = report_html(content, datamap, language)
    footer = in_language(
        language, lambda: page_counter_content(i18n.raw_gettext("Page %(page)s of %(pages)s"))
    )
    fetcher = refusing_fetcher()
    stylesheets = [
        CSS(string=REPORT_STYLESHEET.read_text(encoding="utf-8"), url_fetcher=fetcher),
        CSS(string=f"@page {{ @bottom-right {{ content: {footer}; }} }}\n", url_fetcher=fetcher),
    ]
    return HTML(string=html, base_url=None, url_fetcher=fetcher).write_pdf(
        stylesheets=stylesheets, **PDF_OPTIONS
    )
