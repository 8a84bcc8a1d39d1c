"""The data map in a person's words: field labels, values (with the map's labels for coded
values), retention (a citation not yet verified left out), each field's category,
purposes, legal bases, origin and recipients, and a summary of them all, in the person's
language.

One wording for the "my data" page (portal/views/my_data.py), the JSON document and the PDF report
of an export (portal/exports/), so that what a person reads never differs between them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from functools import cache, lru_cache
from typing import Any

from babel import Locale
from babel.numbers import format_decimal

from portal import i18n
from portal.datamap.model import DataMap, FieldSpec, Period, Processor, TableSpec


@dataclass(frozen=True)
class Recipient:
    name: str
    role: str
    country: str
    description: str
    # Outside the EEA, the safeguard for the transfer (art. 15(2), art. 46).
    safeguard: str | None


@dataclass(frozen=True)
class Purpose:
    name: str
    description: str | None
    legal_basis: str  # the article and its name, e.g. "Art. 6(1)(b) – contract"


IDENTIFIER_LABELS = {
    "national_id": i18n.lazy_gettext("National identity number"),
    "customer_number": i18n.lazy_gettext("Customer number"),
    "email": i18n.lazy_gettext("E-mail address"),
    "phone": i18n.lazy_gettext("Phone number"),
}


def field_label(name: str, spec: FieldSpec, language: str, *, staff: bool = False) -> str:
    """The column's name for the person, or with ``staff`` for staff reading about them (the
    map's ``staff_label``, else the person's)."""
    if staff and spec.staff_label is not None:
        return spec.staff_label.get(language)
    if spec.label is not None:
        return spec.label.get(language)
    return name.replace("_", " ").capitalize()


def value_label(spec: FieldSpec, value: Any, language: str, *, staff: bool = False) -> str | None:
    """The data map's words for one of the company's codes (``values``: "delivered" is "levert"
    in nb), or None when the value has no label; with ``staff``, ``staff_values`` first. Text
    and whole numbers are matched as written in the map; the raw value stays what the JSON
    export carries."""
    if not spec.values or value is None or isinstance(value, bool):
        return None
    if not isinstance(value, str | int):
        return None
    label = (staff and spec.staff_values.get(str(value))) or spec.values.get(str(value))
    return label.get(language) if label is not None else None


_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


def label_fields(template: str) -> list[str] | None:
    """The field names a table's label names in braces, or None when a brace is not part of a
    ``{field}`` (the map check says so)."""
    if "{" in _PLACEHOLDER.sub("", template) or "}" in _PLACEHOLDER.sub("", template):
        return None
    return _PLACEHOLDER.findall(template)


def record_label(table: TableSpec, values: Mapping[str, Any], language: str, tz: str) -> str | None:
    """One record as staff call it, from the table's ``label`` ("Ordre 10234, 12.03.2025"):
    each ``{field}`` its value as `format_field` writes it for staff ("–" when empty); None
    without a label."""
    if table.label is None:
        return None

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        found = values.get(name)
        if found is None or found == "":
            return "–"
        return format_field(table.fields[name], found, language, tz, staff=True)

    return _PLACEHOLDER.sub(value, table.label.get(language))


def format_field(
    spec: FieldSpec, value: Any, language: str, tz: str, *, staff: bool = False
) -> str:
    """A field's value as a person reads it: its label when the map gives one (with ``staff``,
    in staff's words), else the value formatted (days, moments in the controller's time zone
    ``tz``, amounts, yes/no). The one formatting of values for /me, the PDF report and every
    other page that shows a field (the CSV file takes the label, or the value as in the JSON:
    ``value_label``)."""
    label = value_label(spec, value, language, staff=staff)
    return label if label is not None else format_value(value, language, tz)


def format_value(value: Any, language: str, tz: str) -> str:
    """A value as a person reads it; a moment in the controller's time zone ``tz``."""
    if value is None or value == "":
        return "–"
    if isinstance(value, bool):
        return i18n.gettext("Yes") if value else i18n.gettext("No")
    if isinstance(value, datetime):
        return i18n.format_moment(value, language, tz)
    if isinstance(value, date):
        return i18n.format_day(value, language)
    if isinstance(value, Decimal | float):
        return _localised(value, language)
    return str(value)


@lru_cache(maxsize=8192, typed=True)
def _localised(value: Decimal | float, language: str) -> str:
    # Babel's formatting is a good part of the page's time, and a person's amounts repeat:
    # formatted once per value and language (i18n caches dates the same way).
    return format_decimal(value, locale=_locale(language))


@cache
def _locale(language: str) -> Locale:
    return Locale.parse(i18n.babel_locale(language))


def describe_retention(datamap: DataMap, spec: TableSpec, language: str) -> tuple[str, ...]:
    """How long the table's rows are kept, rule by rule, in words (art. 15(1)(d))."""
    lines = []
    for ref in spec.retention:
        rule = datamap.retention_rules[ref.rule]
        if rule.jurisdiction not in (datamap.settings.jurisdiction, "EU"):
            continue
        citation = rule.citation_for_person(language)
        if citation is None:  # not verified: the rule is named without it
            line = i18n.gettext(
                "%(rule)s: at most %(period)s.",
                rule=rule.name.get(language),
                period=describe_period(rule.period, rule.counts_from),
            )
        else:
            line = i18n.gettext(
                "%(rule)s: at most %(period)s (%(citation)s).",
                rule=rule.name.get(language),
                period=describe_period(rule.period, rule.counts_from),
                citation=citation,
            )
        lines.append(line)
    for ref in spec.holds:
        hold = datamap.holds[ref.hold]
        if hold.jurisdiction not in (datamap.settings.jurisdiction, "EU"):
            continue
        citation = hold.citation_for_person(language)
        if citation is None:
            line = i18n.gettext("Kept longer when needed: %(hold)s.", hold=hold.name.get(language))
        else:
            line = i18n.gettext(
                "Kept longer when needed: %(hold)s (%(citation)s).",
                hold=hold.name.get(language),
                citation=citation,
            )
        lines.append(line)
    return tuple(lines)


@dataclass(frozen=True)
class UnverifiedCitation:
    """A rule or hold whose law citation nobody has checked yet (``citation_verified = false``):
    people never read it; the DPO's pages list it, to check against the statute."""

    kind: str  # "retention rule" or "hold", in the viewer's language
    key: str
    name: str
    citation: str
    jurisdiction: str | None  # None where not known (a stored plan's reason)


def unverified_citations(datamap: DataMap, language: str) -> tuple[UnverifiedCitation, ...]:
    """Every retention rule and hold of the map marked ``citation_verified = false``."""
    found = []
    for kind, items in (
        (i18n.gettext("Retention rule"), datamap.retention_rules),
        (i18n.gettext("Hold"), datamap.holds),
    ):
        for key, item in items.items():
            if not item.citation_verified:
                found.append(
                    UnverifiedCitation(
                        kind=kind,
                        key=key,
                        name=item.name.get(language),
                        citation=item.citation.get(language),
                        jurisdiction=item.jurisdiction,
                    )
                )
    return tuple(found)


def describe_period(period: str, counts_from: str) -> str:
    parsed = Period.parse(period)
    parts = []
    if parsed.years:
        parts.append(i18n.ngettext("%(num)d year", "%(num)d years", parsed.years))
    if parsed.months:
        parts.append(i18n.ngettext("%(num)d month", "%(num)d months", parsed.months))
    if parsed.days:
        parts.append(i18n.ngettext("%(num)d day", "%(num)d days", parsed.days))
    if not parts:
        return i18n.gettext("until it is no longer needed")
    length = " ".join(parts)
    if counts_from == "end_of_fiscal_year":
        return i18n.gettext("%(length)s after the end of the fiscal year", length=length)
    if counts_from == "end_of_calendar_year_of_fiscal_year_end":
        return i18n.gettext(
            "%(length)s after the end of the calendar year in which the fiscal year ended",
            length=length,
        )
    return length


def _purposes(datamap: DataMap, specs: list[FieldSpec], language: str) -> tuple[Purpose, ...]:
    pairs = unique((purpose, spec.legal_basis) for spec in specs for purpose in spec.purposes)
    result = []
    for key, basis_key in pairs:
        purpose = datamap.purposes[key]
        basis = datamap.legal_bases[basis_key]
        result.append(
            Purpose(
                name=purpose.name.get(language),
                description=purpose.description.get(language) if purpose.description else None,
                legal_basis=i18n.gettext(
                    "GDPR art. %(article)s – %(name)s",
                    article=basis.article,
                    name=basis.name.get(language),
                ),
            )
        )
    return tuple(result)


def _recipients(datamap: DataMap, specs: list[FieldSpec], language: str) -> tuple[Recipient, ...]:
    keys = unique(key for spec in specs for key in spec.recipients)
    return tuple(_recipient(datamap.processors[key], language) for key in keys)


def _recipient(processor: Processor, language: str) -> Recipient:
    return Recipient(
        name=processor.name,
        role=processor.role,
        country=processor.country,
        description=processor.description.get(language),
        safeguard=processor.transfer_safeguard.get(language)
        if processor.transfer_safeguard
        else None,
    )


def unique(items: Iterable[Any]) -> tuple[Any, ...]:
    return tuple(dict.fromkeys(items))


# --- the "my data" page's summary and fields -------------------------------------------------


@dataclass(frozen=True)
class CategoryName:
    key: str
    name: str
    description: str | None
    special: str | None


@dataclass(frozen=True)
class Summary:
    """Everything held at once (art. 15(1)(a)–(d), (g)): the kinds of data, the purposes with
    their legal bases, where it came from, who receives it and how long it is kept."""

    categories: tuple[CategoryName, ...]
    purposes: tuple[Purpose, ...]
    origins: tuple[str, ...]
    recipients: tuple[Recipient, ...]
    retention: tuple[str, ...]


def summary_facts(
    datamap: DataMap, tables: Iterable[str], specs: list[FieldSpec], language: str
) -> Summary:
    """The summary of these tables' fields (``specs``), categories in the map's order."""
    used = {spec.category for spec in specs}
    return Summary(
        categories=tuple(
            CategoryName(
                key=key,
                name=category.name.get(language),
                description=category.description.get(language) if category.description else None,
                special=category.special,
            )
            for key, category in datamap.categories.items()
            if key in used
        ),
        purposes=_by_purpose(_purposes(datamap, specs, language)),
        origins=unique(datamap.origins[spec.origin].name.get(language) for spec in specs),
        recipients=_recipients(datamap, specs, language),
        retention=unique(
            line
            for table in tables
            for line in describe_retention(datamap, datamap.tables[table], language)
        ),
    )


def _by_purpose(purposes: Iterable[Purpose]) -> tuple[Purpose, ...]:
    """Each purpose once, with every legal basis it rests on for some field, "; "-joined."""
    merged: dict[str, list[Purpose]] = {}
    for purpose in purposes:
        merged.setdefault(purpose.name, []).append(purpose)
    return tuple(
        Purpose(same[0].name, same[0].description, "; ".join(p.legal_basis for p in same))
        for same in merged.values()
    )


@dataclass(frozen=True)
class FieldFacts:
    """One field of a table: what kind of data it is, why we have it, where it came from and
    who receives it (the "my data" page and the PDF report, per table)."""

    name: str
    label: str
    category: str
    purposes: tuple[Purpose, ...]  # each with its legal basis
    origin: str
    recipients: tuple[str, ...]


def field_facts(
    datamap: DataMap, name: str, spec: FieldSpec, language: str, *, staff: bool = False
) -> FieldFacts:
    return FieldFacts(
        name=name,
        label=field_label(name, spec, language, staff=staff),
        category=datamap.categories[spec.category].name.get(language),
        purposes=_purposes(datamap, [spec], language),
        origin=datamap.origins[spec.origin].name.get(language),
        recipients=tuple(datamap.processors[key].name for key in spec.recipients),
    )
