"""/dpo/records: the records of processing activities (GDPR art. 30(1)), made from the data map.

Everything here comes from the map the portal runs with, so the records describe what the portal
actually finds, shows and erases: the controller and its data protection officer (a), one
processing activity per purpose with its legal bases (b), the categories of people (the map's
``data_subjects``) and of personal data (c), the recipients and processors (d), transfers outside
the EEA with their safeguards (e), how long data is kept, by retention rule and hold (f), and the
general description of the security measures from ``SECURITY_MEASURES_FILE`` (g). What the map
leaves out (no data protection officer, a purpose without categories of people, a transfer without
a safeguard) is listed as a gap for the DPO, never filled in.

``records_of_processing`` builds the page's and the PDF's content (``RecordsOfProcessing``) from
the map alone, in one language; ``render_records_pdf`` prints it with the export report's styles.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from babel import Locale

from portal import i18n
from portal.datamap import DataMap
from portal.datamap.model import FieldSpec, HoldRef, Processor, RetentionRef, TableSpec
from portal.datamap.wording import (
    describe_period,
    describe_retention,
    field_label,
    unique,
    value_label,
)
from portal.exports.report import REPORT_STYLESHEET
from portal.i18n import gettext as _
from portal.templating import TEMPLATES_DIR
from portal.workflows.letters import (
    PDF_ENV,
    PDF_OPTIONS,
    in_language,
    page_counter_content,
    refusing_fetcher,
)

RECORDS_TEMPLATE = "pdf/records.html"
RECORDS_STYLESHEET = TEMPLATES_DIR / "pdf" / "records.css"


@dataclass(frozen=True)
class ControllerFacts:
    """Art. 30(1)(a): who is responsible, and how to reach them and their DPO."""

    name: str
    organisation_number: str
    country: str  # in words
    contact: str
    dpo_contact: str | None  # None: the data map names no data protection officer
    supervisory_authority: str
    joint_controllers: tuple[str, ...]  # recipients the map calls joint controllers


@dataclass(frozen=True)
class Activity:
    """One processing activity: a purpose of the data map and what is processed for it."""

    key: str
    name: str
    description: str | None
    legal_bases: tuple[str, ...]  # "GDPR art. 6(1)(b) – Contract", every basis a field gives
    data_subjects: tuple[str, ...]  # categories of people; empty: the map does not say
    categories: tuple[str, ...]  # categories of personal data, special ones marked
    recipients: tuple[str, ...]  # "Posten Bring (Norway)"
    transfers: tuple[str, ...]  # recipients outside the EEA: "Mailchimp (United States)"
    systems: tuple[str, ...]  # "Web shop: Orders, Order lines"
    retention: tuple[str, ...]  # how long, table by table's rules and holds, in words
    automated_decision: str | None  # art. 22: the logic and consequences, as people read it
    consent: bool  # the purpose rests on consent that people give and withdraw in the portal


@dataclass(frozen=True)
class PeopleCategory:
    """A category of people (the map's ``data_subjects``) and the purposes that concern it."""

    key: str
    name: str
    description: str | None
    purposes: tuple[str, ...]


@dataclass(frozen=True)
class DataCategory:
    """A category of personal data and the purposes it is processed for."""

    key: str
    name: str
    description: str | None
    special: str | None  # "Special category (GDPR art. 9)", "… art. 10", or None
    purposes: tuple[str, ...]


@dataclass(frozen=True)
class Recipient:
    """A processor or other recipient of the map, with where it is and what it receives for."""

    key: str
    name: str
    role: str  # in words: data processor, recipient, joint controller
    country: str  # in words
    country_code: str
    description: str
    purposes: tuple[str, ...]  # the purposes it receives data for (by the map's fields)
    outside_eea: bool
    safeguard: str | None  # the transfer's safeguard; None outside the EEA is a gap


@dataclass(frozen=True)
class Use:
    """Where a retention rule or hold applies: a table, the date it counts from, and the
    condition of the rows it applies to, in words."""

    table: str
    counted_from: str | None
    condition: str | None
    # A hold's other tables it keeps with the rows it is on (the map's ``covers``), by name.
    covers: tuple[str, ...] = ()


@dataclass(frozen=True)
class TimeLimit:
    """A retention rule (the longest time data is kept) or a hold (what keeps it longer)."""

    key: str
    name: str
    description: str | None
    period: str  # in words: "5 years after the end of the fiscal year", "while …"
    then: str | None  # a rule's end: what happens to the records; None for a hold
    citation: str
    citation_verified: bool  # False: nobody has checked it against the statute yet
    uses: tuple[Use, ...]  # empty: no table of the map applies it


@dataclass(frozen=True)
class TextBlock:
    """A paragraph (one item) or a list (its points) of the security measures' text."""

    items: tuple[str, ...]
    is_list: bool


@dataclass(frozen=True)
class RecordsOfProcessing:
    """The context of dpo/records.html and pdf/records.html (art. 30(1) a–g)."""

    language: str
    made_on: str
    datamap_version: str
    controller: ControllerFacts
    activities: tuple[Activity, ...]
    data_subjects: tuple[PeopleCategory, ...]
    categories: tuple[DataCategory, ...]
    recipients: tuple[Recipient, ...]
    retention_rules: tuple[TimeLimit, ...]
    holds: tuple[TimeLimit, ...]
    security_measures: tuple[TextBlock, ...]
    gaps: tuple[str, ...]  # what the map leaves out, for the DPO to complete

    @property
    def transfers(self) -> tuple[Recipient, ...]:
        """The recipients outside the EEA (art. 30(1)(e))."""
        return tuple(recipient for recipient in self.recipients if recipient.outside_eea)


def records_of_processing(
    datamap: DataMap, security_measures: str, language: str, now: datetime
) -> RecordsOfProcessing:
    """The records of processing in ``language`` (nb, sv or en), as of ``now``; the security
    measures' text is the settings' (``SecurityMeasures.get(language)``)."""
    language = language if language in i18n.LANGUAGES else i18n.DEFAULT_LANGUAGE
    return in_language(language, _records, datamap, security_measures, language, now)


def _records(
    datamap: DataMap, security_measures: str, language: str, now: datetime
) -> RecordsOfProcessing:
    uses = _fields_by_purpose(datamap)
    activities = tuple(
        _activity(datamap, key, uses.get(key, []), language) for key in datamap.purposes
    )
    names = {key: datamap.purposes[key].name.get(language) for key in datamap.purposes}
    tz = datamap.controller.time_zone
    return RecordsOfProcessing(
        language=language,
        made_on=i18n.format_day(i18n.local_day(now, tz), language),
        datamap_version=datamap.version,
        controller=_controller(datamap, language),
        activities=activities,
        data_subjects=tuple(
            PeopleCategory(
                key=key,
                name=subjects.name.get(language),
                description=_text(subjects.description, language),
                purposes=tuple(
                    names[p]
                    for p, purpose in datamap.purposes.items()
                    if key in purpose.data_subjects
                ),
            )
            for key, subjects in datamap.data_subjects.items()
        ),
        categories=tuple(
            DataCategory(
                key=key,
                name=category.name.get(language),
                description=_text(category.description, language),
                special=_special(category.special),
                purposes=tuple(
                    names[p]
                    for p, specs in uses.items()
                    if any(s.category == key for _t, s in specs)
                ),
            )
            for key, category in datamap.categories.items()
        ),
        recipients=tuple(
            _recipient(key, processor, uses, names, language)
            for key, processor in datamap.processors.items()
        ),
        retention_rules=tuple(_rules(datamap, language)),
        holds=tuple(_holds(datamap, language)),
        security_measures=text_blocks(security_measures),
        gaps=_gaps(datamap, uses, language),
    )


# --- the parts ---------------------------------------------------------------------------------


def _fields_by_purpose(datamap: DataMap) -> dict[str, list[tuple[str, FieldSpec]]]:
    """Purpose -> (table, field) of every field processed for it, in the map's order."""
    found: dict[str, list[tuple[str, FieldSpec]]] = {}
    for table, spec in datamap.tables.items():
        for field in spec.fields.values():
            for purpose in field.purposes:
                found.setdefault(purpose, []).append((table, field))
    return found


def _controller(datamap: DataMap, language: str) -> ControllerFacts:
    controller = datamap.controller
    return ControllerFacts(
        name=controller.name,
        organisation_number=controller.organisation_number,
        country=country_name(controller.country, language),
        contact=controller.contact,
        dpo_contact=controller.dpo_contact or None,
        supervisory_authority=controller.supervisory_authority.get(language),
        joint_controllers=tuple(
            f"{processor.name} ({country_name(processor.country, language)})"
            for processor in datamap.processors.values()
            if processor.role == "joint_controller"
        ),
    )


def _activity(
    datamap: DataMap, key: str, specs: Sequence[tuple[str, FieldSpec]], language: str
) -> Activity:
    purpose = datamap.purposes[key]
    tables = unique(table for table, _spec in specs)
    recipients = [datamap.processors[r] for r in unique(r for _t, s in specs for r in s.recipients)]
    return Activity(
        key=key,
        name=purpose.name.get(language),
        description=_text(purpose.description, language),
        legal_bases=tuple(
            _basis(datamap, basis, language) for basis in unique(s.legal_basis for _t, s in specs)
        ),
        data_subjects=tuple(
            datamap.data_subjects[name].name.get(language) for name in purpose.data_subjects
        ),
        categories=tuple(
            _category_name(datamap, category, language)
            for category in datamap.categories
            if any(s.category == category for _t, s in specs)
        ),
        recipients=tuple(_named(p, language) for p in recipients),
        transfers=tuple(_named(p, language) for p in recipients if p.outside_eea),
        systems=_systems(datamap, tables, language),
        retention=unique(
            line
            for table in tables
            for line in describe_retention(datamap, datamap.tables[table], language)
        ),
        automated_decision=_text(purpose.automated_decision, language),
        consent=purpose.consent is not None,
    )


def _basis(datamap: DataMap, key: str, language: str) -> str:
    basis = datamap.legal_bases[key]
    return _(
        "GDPR art. %(article)s – %(name)s", article=basis.article, name=basis.name.get(language)
    )


def _category_name(datamap: DataMap, key: str, language: str) -> str:
    category = datamap.categories[key]
    special = _special(category.special)
    name = category.name.get(language)
    return f"{name} ({special})" if special else name


def _special(special: str | None) -> str | None:
    if special == "art9":
        return _("special category, GDPR article 9")
    if special == "art10":
        return _("criminal offences, GDPR article 10")
    return None


def _systems(datamap: DataMap, tables: Iterable[str], language: str) -> tuple[str, ...]:
    """The sources and their tables, "Web shop: Orders, Order lines"."""
    by_source: dict[str, list[str]] = {}
    for table in tables:
        spec = datamap.tables[table]
        by_source.setdefault(spec.source, []).append(spec.name.get(language))
    return tuple(
        f"{datamap.sources[source].name.get(language)}: {', '.join(names)}"
        for source, names in by_source.items()
    )


def _named(processor: Processor, language: str) -> str:
    return f"{processor.name} ({country_name(processor.country, language)})"


def _recipient(
    key: str,
    processor: Processor,
    uses: Mapping[str, Sequence[tuple[str, FieldSpec]]],
    names: Mapping[str, str],
    language: str,
) -> Recipient:
    roles = {
        "processor": _("Data processor"),
        "recipient": _("Recipient"),
        "joint_controller": _("Joint controller"),
    }
    return Recipient(
        key=key,
        name=processor.name,
        role=roles[processor.role],
        country=country_name(processor.country, language),
        country_code=processor.country.upper(),
        description=processor.description.get(language),
        purposes=tuple(
            names[purpose]
            for purpose, specs in uses.items()
            if any(key in spec.recipients for _t, spec in specs)
        ),
        outside_eea=processor.outside_eea,
        safeguard=_text(processor.transfer_safeguard, language),
    )


def _applies(datamap: DataMap, jurisdiction: str) -> bool:
    """Rules and holds of the other country are not the controller's (as on every page)."""
    return jurisdiction in (datamap.settings.jurisdiction, "EU")


def _rules(datamap: DataMap, language: str) -> Iterable[TimeLimit]:
    ends = {
        "delete_row": _("The records are deleted."),
        "anonymise": _("The records are anonymised: kept without the link to the person."),
        "fields": _("Each field is erased as the data map says."),
    }
    for key, rule in datamap.retention_rules.items():
        if not _applies(datamap, rule.jurisdiction):
            continue
        yield TimeLimit(
            key=key,
            name=rule.name.get(language),
            description=_text(rule.description, language),
            period=describe_period(rule.period, rule.counts_from),
            then=ends[rule.then],
            citation=rule.citation.get(language),
            citation_verified=rule.citation_verified,
            uses=tuple(
                _use(datamap, table, spec, ref.from_, ref, language)
                for table, spec in datamap.tables.items()
                for ref in spec.retention
                if ref.rule == key
            ),
        )


def hold_limits(datamap: DataMap, language: str) -> tuple[TimeLimit, ...]:
    """The map's holds of the controller's country and the EU, as the records list them (the
    holds page shows them too)."""
    return tuple(_holds(datamap, language))


def _holds(datamap: DataMap, language: str) -> Iterable[TimeLimit]:
    for key, hold in datamap.holds.items():
        if not _applies(datamap, hold.jurisdiction):
            continue
        yield TimeLimit(
            key=key,
            name=hold.name.get(language),
            description=_text(hold.description, language),
            period=describe_period(hold.period, hold.counts_from)
            if hold.period
            else _("while its condition holds"),
            then=None,
            citation=hold.citation.get(language),
            citation_verified=hold.citation_verified,
            uses=tuple(
                _use(datamap, table, spec, ref.from_, ref, language)
                for table, spec in datamap.tables.items()
                for ref in spec.holds
                if ref.hold == key
            ),
        )


def _use(
    datamap: DataMap,
    table: str,
    spec: TableSpec,
    counted_from: str | None,
    condition: RetentionRef | HoldRef,
    language: str,
) -> Use:
    covered = condition.covers if isinstance(condition, HoldRef) else []
    return Use(
        table=spec.name.get(language),
        counted_from=_column(datamap, table, counted_from, language) if counted_from else None,
        condition=_condition(datamap, table, condition, language),
        covers=tuple(datamap.tables[name].name.get(language) for name in covered),
    )


def _column(datamap: DataMap, table: str, column: str, language: str) -> str:
    """A column's label; "Customer record: Customer relationship ended" for another table's."""
    if "." in column:
        other, _dot, name = column.partition(".")
        spec = datamap.tables[other]
        return f"{spec.name.get(language)}: {_label(name, spec.fields[name], language)}"
    return _label(column, datamap.tables[table].fields[column], language)


def _label(column: str, spec: FieldSpec, language: str) -> str:
    """A column's name as staff read it: the records are the DPO's, not the person's."""
    return field_label(column, spec, language, staff=True)


def _condition(
    datamap: DataMap, table: str, ref: RetentionRef | HoldRef, language: str
) -> str | None:
    """The rows a rule or hold applies to, in words, the codes as the map labels them."""
    fields = datamap.tables[table].fields
    parts = []
    for column, values in ref.when.items():
        spec = fields[column]
        parts.append(
            _(
                "%(field)s is %(values)s",
                field=_label(column, spec, language),
                values=_either([_value(spec, value, language) for value in values]),
            )
        )
    for column in ref.when_null:
        parts.append(_("%(field)s is empty", field=_label(column, fields[column], language)))
    for column in ref.when_not_null:
        parts.append(_("%(field)s is set", field=_label(column, fields[column], language)))
    return "; ".join(parts) or None


def _either(values: Sequence[str]) -> str:
    """The values as "a, b or c", in the language."""
    if len(values) < 2:
        return "".join(values)
    return _("%(items)s or %(last)s", items=", ".join(values[:-1]), last=values[-1])


def _value(spec: FieldSpec, value: Any, language: str) -> str:
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    label = value_label(spec, value, language, staff=True)
    return label if label is not None else str(value)


def _gaps(
    datamap: DataMap, uses: Mapping[str, Sequence[tuple[str, FieldSpec]]], language: str
) -> tuple[str, ...]:
    gaps = []
    if not datamap.controller.dpo_contact:
        gaps.append(
            _("The data map names no data protection officer (dpo_contact under [controller]).")
        )
    for key, purpose in datamap.purposes.items():
        name = purpose.name.get(language)
        if not purpose.data_subjects:
            gaps.append(
                _(
                    "The purpose “%(purpose)s” names no categories of people (data_subjects).",
                    purpose=name,
                )
            )
        if key not in uses:
            gaps.append(
                _(
                    "No field of the data map is processed for the purpose “%(purpose)s”.",
                    purpose=name,
                )
            )
    for processor in datamap.processors.values():
        if processor.outside_eea and processor.transfer_safeguard is None:
            gaps.append(
                _(
                    "%(recipient)s is outside the EEA (%(country)s), and the data map gives no "
                    "safeguard for the transfer (transfer_safeguard).",
                    recipient=processor.name,
                    country=country_name(processor.country, language),
                )
            )
    return tuple(gaps)


def _text(text: Any, language: str) -> str | None:
    return text.get(language) if text is not None else None


@cache
def _territories(language: str) -> Mapping[str, str]:
    return Locale.parse(i18n.babel_locale(language)).territories


def country_name(code: str, language: str) -> str:
    """A country's name in the language ("NO": "Norge" in nb), or the code if unknown."""
    return _territories(language).get(code.upper(), code)


def text_blocks(text: str) -> tuple[TextBlock, ...]:
    """Plain text as paragraphs and lists: a blank line ends a paragraph, a line starting
    with "- " is a point of a list (a point's following lines belong to it)."""
    blocks: list[TextBlock] = []
    for chunk in text.replace("\r\n", "\n").split("\n\n"):
        lines = [line.strip() for line in chunk.split("\n") if line.strip()]
        if not lines:
            continue
        if not lines[0].startswith("- "):
            blocks.append(TextBlock((" ".join(lines),), is_list=False))
            continue
        points: list[str] = []
        for line in lines:
            if line.startswith("- "):
                points.append(line[2:].strip())
            else:
                points[-1] = f"{points[-1]} {line}"
        blocks.append(TextBlock(tuple(points), is_list=True))
    return tuple(blocks)


# --- the PDF -------------------------------------------------------------------------------------


def records_html(records: RecordsOfProcessing) -> str:
    template = PDF_ENV.get_template(RECORDS_TEMPLATE)
    return in_language(records.language, template.render, records=records)


def render_records_pdf(records: RecordsOfProcessing) -> bytes:
    """The records as an A4 PDF in their language, with the export report's styles."""
    from weasyprint import CSS, HTML

    footer = in_language(
        records.language,
        lambda: page_counter_content(i18n.raw_gettext("Page %(page)s of %(pages)s")),
    )
    fetcher = refusing_fetcher()
    stylesheets = [
        CSS(string=REPORT_STYLESHEET.read_text(encoding="utf-8"), url_fetcher=fetcher),
        CSS(string=RECORDS_STYLESHEET.read_text(encoding="utf-8"), url_fetcher=fetcher),
        CSS(string=f"@page {{ @bottom-right {{ content: {footer}; }} }}\n", url_fetcher=fetcher),
    ]
    html = HTML(string=records_html(records), base_url=None, url_fetcher=fetcher)
    return html.write_pdf(stylesheets=stylesheets, **PDF_OPTIONS)
