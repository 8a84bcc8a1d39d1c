"""The data map's shape: pydantic models for every section of the TOML file.

These models check one item at a time (types, allowed values, required keys). Whether the names an
item refers to exist, whether links form a cycle and so on is checked in ``checks.py``, because
those checks need the whole map. ``docs/datamap.md`` documents every key.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from portal import i18n

LANGUAGES = ("nb", "sv", "en")

IdentifierKind = Literal["national_id", "customer_number", "email", "phone"]
# Anchor identifiers name one person (the company issues a customer number to one customer);
# contact identifiers may be shared (a family phone, a reused e-mail address), see identity.py.
ANCHOR_KINDS: tuple[str, ...] = ("national_id", "customer_number")
CONTACT_KINDS: tuple[str, ...] = ("email", "phone")

FieldErasure = Literal["delete_row", "null", "pseudonymise", "keep"]
TableErasure = Literal["fields", "delete_row", "anonymise"]
Jurisdiction = Literal["NO", "SE", "EU"]
# What a period counts from: the date in the column itself; the end of the fiscal year the date
# falls in (NO bookkeeping); the end of the calendar year in which that fiscal year ends (SE).
CountsFrom = Literal["date", "end_of_fiscal_year", "end_of_calendar_year_of_fiscal_year_end"]
Scalar = str | int | float | bool | date
# The European Economic Area: the EU's 27 members, Iceland, Liechtenstein and Norway (ISO codes).
# A recipient elsewhere receives a transfer under GDPR chapter V, which needs a safeguard.
# fmt: off
EEA_COUNTRIES = frozenset({
    "AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GR", "HR", "HU", "IE",
    "IT", "LT", "LU", "LV", "MT", "NL", "PL", "PT", "RO", "SE", "SI", "SK", "IS", "LI", "NO",
})
# fmt: on

_PERIOD = re.compile(r"^P(?:(?P<y>\d+)Y)?(?:(?P<m>\d+)M)?(?:(?P<d>\d+)D)?$")
_ARTICLE = re.compile(r"^(6\(1\)\([a-f]\)|9\(2\)\([a-j]\)|10)$")
_MONTH_DAY = re.compile(r"^(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _check_period(value: str) -> str:
    match = _PERIOD.match(value)
    if match is None or value == "P":
        raise ValueError("a period is written like P5Y, P3Y6M, P3M or P30D (ISO 8601)")
    return value


def _check_article(value: str) -> str:
    if not _ARTICLE.match(value):
        raise ValueError("an article is one of 6(1)(a)-(f), 9(2)(a)-(j) or 10")
    return value


def _check_month_day(value: str) -> str:
    if not _MONTH_DAY.match(value):
        raise ValueError("write the fiscal-year end as MM-DD, e.g. 12-31")
    return value


def _check_name(value: str) -> str:
    if not _NAME.match(value):
        raise ValueError(
            "a column or table name is letters, digits and _ (not starting with a digit)"
        )
    return value


PeriodText = Annotated[str, AfterValidator(_check_period)]
Article = Annotated[str, AfterValidator(_check_article)]
MonthDay = Annotated[str, AfterValidator(_check_month_day)]
Identifier = Annotated[str, AfterValidator(_check_name)]


@dataclass(frozen=True)
class Period:
    """A parsed ISO 8601 period (years, months, days); what later issues add to dates."""

    years: int
    months: int
    days: int

    @classmethod
    def parse(cls, text: str) -> Period:
        match = _PERIOD.match(_check_period(text))
        assert match is not None
        return cls(*(int(match[part] or 0) for part in ("y", "m", "d")))


class _Item(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Text(_Item):
    """One text in every language the portal speaks."""

    nb: str = Field(min_length=1)
    sv: str = Field(min_length=1)
    en: str = Field(min_length=1)

    def get(self, language: str) -> str:
        return getattr(self, language) if language in LANGUAGES else self.en


class Settings(_Item):
    jurisdiction: Literal["NO", "SE"]
    fiscal_year_end: MonthDay = "12-31"
    # The key for "pseudonymise" (a keyed hash) is read from this variable, never stored here.
    pseudonym_key_env: str = "INNSYN_PSEUDONYM_KEY"
    # The country a phone number stored without a country code belongs to (ISO 3166 code);
    # by default the jurisdiction's. Stored numbers match a person's in any typed form.
    phone_region: str | None = None

    @field_validator("phone_region")
    @classmethod
    def _known_region(cls, value: str | None) -> str | None:
        import phonenumbers

        if value is not None and value not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError(f"unknown phone region '{value}' (an ISO 3166 code such as NO or SE)")
        return value

    @property
    def region(self) -> str:
        return self.phone_region or self.jurisdiction


class Controller(_Item):
    name: str = Field(min_length=1)
    organisation_number: str = Field(min_length=1)
    country: Literal["NO", "SE"]
    contact: str = Field(min_length=1)
    dpo_contact: str | None = None
    supervisory_authority: Text

    @property
    def time_zone(self) -> str:
        """The time zone the controller's dates and times are read in (i18n.time_zone)."""
        return i18n.time_zone(self.country)


class SourceLocation(_Item):
    """Where a source's database is: a URL, or the environment variable holding one."""

    url: str | None = None
    url_env: str | None = None
    url_default: str | None = None
    schema_: str | None = Field(default=None, alias="schema")

    @model_validator(mode="after")
    def _one_url(self) -> SourceLocation:
        if (self.url is None) == (self.url_env is None):
            raise ValueError("give exactly one of url or url_env")
        if self.url_default is not None and self.url_env is None:
            raise ValueError("url_default only goes with url_env")
        return self


class Source(SourceLocation):
    """A source: where its database is, and its name as people read it."""

    name: Text


class Category(_Item):
    name: Text
    description: Text | None = None
    # Special categories (GDPR art. 9) and criminal offence data (art. 10) need more care.
    special: Literal["art9", "art10"] | None = None


class ConsentTarget(_Item):
    """What withdrawing a consent changes in the company's data: a column set, or a row deleted."""

    table: str
    column: Identifier | None = None
    set: Scalar | None = None  # "$now" means the time of the withdrawal
    action: Literal["set", "delete_row"] = "set"
    when: dict[str, list[Scalar]] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _target(self) -> ConsentTarget:
        if self.action == "set" and (self.column is None or self.set is None):
            raise ValueError("action 'set' needs column and set")
        if self.action == "delete_row" and (self.column is not None or self.set is not None):
            raise ValueError("action 'delete_row' takes no column or set")
        return self


MarketingChannel = Literal["phone", "sms", "email", "post"]


class ConsentRecord(_Item):
    """Where the company already keeps this consent: rows imported into the portal's history
    (channel "import") until the person first acts on the purpose in the portal."""

    table: str
    given: Identifier  # the time the consent was given
    withdrawn: Identifier | None = None  # the time it was withdrawn, if it was
    version: Identifier | None = None  # the version of the text the person saw
    when: dict[str, list[Scalar]] = Field(default_factory=dict)


class Consent(_Item):
    lifetime: PeriodText | None = None  # e.g. NIX: a consent lasts 3 months
    jurisdiction: Jurisdiction = "EU"
    withdraw: list[ConsentTarget] = Field(default_factory=list)
    # What the person reads beside the switch, and its version (recorded with each choice).
    text: Text | None = None
    version: str = Field(default="1", min_length=1, max_length=40)
    # The marketing channels the consent covers: a withdrawn or expired consent blocks them.
    channels: list[MarketingChannel] = Field(default_factory=list)
    record: ConsentRecord | None = None


class DataSubjects(_Item):
    """A category of people whose data is processed (customers, newsletter subscribers,
    debtors): named once, referenced by purposes, for the records of processing (art. 30)."""

    name: Text
    description: Text | None = None


class Purpose(_Item):
    name: Text
    description: Text | None = None
    # Art. 30(1)(c): the categories of people this purpose processes data about (names of
    # [data_subjects.NAME]); the records of processing say so when none is given.
    data_subjects: list[str] = Field(default_factory=list)
    consent: Consent | None = None  # set for purposes that rest on consent (art. 6(1)(a))
    # Art. 15(1)(h), 22: an automated decision made for this purpose, its logic and consequences.
    automated_decision: Text | None = None


class LegalBasis(_Item):
    article: Article
    name: Text
    description: Text | None = None


class Processor(_Item):
    name: str = Field(min_length=1)
    role: Literal["processor", "recipient", "joint_controller"]
    country: str = Field(min_length=2, max_length=2)
    description: Text
    transfer_safeguard: Text | None = None  # outside the EEA: the art. 46 safeguard
    # Art. 19: where the recipient is told of an erasure, rectification or restriction, and in
    # which language. Without an address the DPO tells them another way and records it.
    contact_email: str | None = Field(default=None, max_length=320)
    language: Literal["nb", "sv", "en"] | None = None
    # What identifies a person to this recipient besides the records it received (an e-mail
    # address for a newsletter service): the message names these of the person's identifiers
    # and nothing more.
    identify_by: list[IdentifierKind] = Field(default_factory=list)

    @field_validator("contact_email")
    @classmethod
    def _an_address(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", value):
            raise ValueError("contact_email is an e-mail address, e.g. privacy@example.com")
        return value

    def language_for(self, controller_country: str) -> str:
        """The language the recipient is written to: its own, else the controller's."""
        return self.language or ("sv" if controller_country == "SE" else "nb")

    @property
    def outside_eea(self) -> bool:
        """Data sent to this recipient leaves the EEA (a transfer under GDPR chapter V)."""
        return self.country.upper() not in EEA_COUNTRIES


class Origin(_Item):
    name: Text
    # Art. 20: only data the person provided (under consent or contract) is portable.
    provided_by_subject: bool


# Words that mark a citation as unsure. Doubt belongs in ``citation_verified``, never in the text
# a person reads ("hvitvaskingsloven § 30 (ikke bekreftet)" reached people that way).
_DOUBT = re.compile(
    r"\?|\b(?:unconfirmed|not confirmed|unverified|not verified|to be (?:confirmed|verified)"
    r"|tbc|uncertain|unsure|ikke bekreftet|ubekreftet|ikke verifisert|uverifisert|usikkert?"
    r"|ej bekräftad|ej bekräftat|inte bekräftad|inte bekräftat|obekräftad|obekräftat"
    r"|ej verifierad|inte verifierad|overifierad|osäkert?)\b",
    re.IGNORECASE,
)


def doubt_in(text: str) -> str | None:
    """The words in ``text`` that mark it as unsure ("ikke bekreftet", "?"), or None."""
    match = _DOUBT.search(text)
    return match.group(0) if match else None


class LawReference(_Item):
    jurisdiction: Jurisdiction
    citation: Text  # law and paragraph, e.g. "bokføringsloven § 13 andre ledd"
    # False: nobody has read the statute yet. The citation is then never shown to a person (the
    # rule or hold is named without it); the DPO's pages list it as a citation to check.
    citation_verified: bool = True

    @field_validator("citation")
    @classmethod
    def _no_doubt_in_citation(cls, citation: Text) -> Text:
        for language in LANGUAGES:
            doubt = doubt_in(citation.get(language))
            if doubt is not None:
                raise ValueError(
                    f"the {language} text marks a doubt ({doubt!r}): give the law as it reads "
                    "and set citation_verified = false instead"
                )
        return citation

    def citation_for_person(self, language: str) -> str | None:
        """The citation as a person may read it: None while it is not verified."""
        return self.citation.get(language) if self.citation_verified else None


class RetentionRule(LawReference):
    name: Text
    description: Text | None = None
    period: PeriodText
    counts_from: CountsFrom = "date"
    then: Literal["delete_row", "anonymise", "fields"] = "delete_row"


class Hold(LawReference):
    name: Text
    description: Text | None = None
    # Without a period the hold lasts while its condition holds (an open case, an unpaid invoice).
    period: PeriodText | None = None
    counts_from: CountsFrom = "date"


class Link(_Item):
    """How a table's rows link to a person: an identifier column, or a column pointing at a row
    of another mapped table (a foreign key, possibly across sources)."""

    column: Identifier
    identifier: IdentifierKind | None = None
    table: str | None = None
    references: Identifier | None = None  # the parent's column; defaults to the parent's key

    @model_validator(mode="after")
    def _one_kind(self) -> Link:
        if (self.identifier is None) == (self.table is None):
            raise ValueError("give exactly one of identifier or table")
        if self.references is not None and self.table is None:
            raise ValueError("references only goes with table")
        return self


class _Conditional(_Item):
    when: dict[str, list[Scalar]] = Field(default_factory=dict)
    when_null: list[Identifier] = Field(default_factory=list)
    when_not_null: list[Identifier] = Field(default_factory=list)


class RetentionRef(_Conditional):
    rule: str
    # The date column the period counts from: a column of this table, or "table.column" of a
    # table this one links to (directly or further up).
    from_: str = Field(alias="from")


class HoldRef(_Conditional):
    hold: str
    from_: str | None = Field(default=None, alias="from")
    # Other tables the hold reaches, through the links: an open complaint also holds the order
    # it is about (a table this one links to) and that order's lines (linked to the same order).
    covers: list[str] = Field(default_factory=list)


class FieldDefaults(_Item):
    category: str | None = None
    purposes: list[str] | None = None
    legal_basis: str | None = None
    origin: str | None = None
    recipients: list[str] | None = None
    erasure: FieldErasure | None = None
    address: bool | None = None


class FieldSpec(_Item):
    """Everything the portal knows about one column."""

    category: str
    purposes: list[str] = Field(min_length=1)
    legal_basis: str
    origin: str
    recipients: list[str] = Field(default_factory=list)
    erasure: FieldErasure
    # What the person sees as the column's name; without one, the column name is tidied up.
    label: Text | None = None
    description: Text | None = None
    # The company's codes in words: a stored value ("delivered") -> what the person reads
    # ("levert"). A value without a label is shown as it is.
    values: dict[str, Text] = Field(default_factory=dict)
    # The same in staff's words, where the person's speak to the person ("Nummeret du ringte
    # fra", "fra deg"): customer service and the DPO read about the person, not to them. Without
    # one, staff read the person's words.
    staff_label: Text | None = None
    staff_values: dict[str, Text] = Field(default_factory=dict)
    # Where the person lives or can be found (a street, a delivery address): hidden from
    # customer service when the person's identity is protected (the table's ``protected``).
    address: bool = False

    @model_validator(mode="after")
    def _staff_values_reword_values(self) -> FieldSpec:
        # A staff wording of a code the person has none for would show staff one thing and the
        # person the raw code: a typo in either key, most likely.
        unknown = sorted(set(self.staff_values) - set(self.values))
        if unknown:
            raise ValueError(
                "staff_values: " + ", ".join(unknown) + " not in values (staff_values words a "
                "value the person's values already label)"
            )
        return self


class TableSpec(_Item):
    source: str
    table: Identifier | None = None  # the table's name in the database; defaults to the map's key
    key: Identifier = "id"
    name: Text
    description: Text | None = None
    links: list[Link] = Field(min_length=1)
    erasure: TableErasure = "fields"
    retention: list[RetentionRef] = Field(default_factory=list)
    holds: list[HoldRef] = Field(default_factory=list)
    defaults: FieldDefaults | None = None
    # A history (addresses, consents): the date column its rows are ordered by, as a timeline.
    timeline: Identifier | None = None
    # The columns that tell a person which record is which (an order's number, date and total):
    # the "my data" page lists them, every other field is under each record.
    show: list[Identifier] = Field(default_factory=list)
    # A date column the rows are shown by, newest first (default: the timeline; else the key).
    order_by: Identifier | None = None
    # What staff call one record, with its fields in braces, in each language: "Ordre
    # {order_number}, {ordered_at}" (wording.record_label; the DPO's record holds). Without
    # one, the table's name and its first ``show`` values.
    label: Text | None = None
    # A date column set when the person has died: their identifiers go on the block list.
    deceased: Identifier | None = None
    # The columns that hold the person's name, in the order it is written (given name, family
    # name): customer service tells the people a caller may be apart by it (caller look-up).
    person_name: list[Identifier] = Field(default_factory=list)
    # A column that is true when the person's identity or address is protected (Norway's
    # strengt fortrolig adresse, Sweden's skyddad identitet): staff lists show them as
    # "protected", never by name (protection.protected_national_ids), and customer service's
    # caller look-up hides their ``address`` fields.
    protected: Identifier | None = None
    fields: dict[str, FieldSpec] = Field(default_factory=dict)

    @property
    def identifier_links(self) -> list[Link]:
        return [link for link in self.links if link.identifier is not None]

    @property
    def parent_links(self) -> list[Link]:
        return [link for link in self.links if link.table is not None]

    @property
    def shown(self) -> list[str]:
        """``show``, or by default every field but the key and the links to other tables."""
        if self.show:
            return list(self.show)
        hidden = {self.key, *(link.column for link in self.parent_links)}
        return [name for name in self.fields if name not in hidden]


class DataMap(_Item):
    """A loaded, valid data map. ``version`` is a hash of the file's bytes, for exports."""

    path: str
    version: str
    settings: Settings
    controller: Controller
    sources: dict[str, Source]
    categories: dict[str, Category]
    purposes: dict[str, Purpose]
    data_subjects: dict[str, DataSubjects] = Field(default_factory=dict)
    legal_bases: dict[str, LegalBasis]
    processors: dict[str, Processor] = Field(default_factory=dict)
    origins: dict[str, Origin]
    retention_rules: dict[str, RetentionRule] = Field(default_factory=dict)
    holds: dict[str, Hold] = Field(default_factory=dict)
    tables: dict[str, TableSpec]

    def db_table(self, name: str) -> str:
        """The table's name in its database."""
        return self.tables[name].table or name

    def parent_key(self, link: Link) -> str:
        """The parent's column a link points at."""
        assert link.table is not None
        return link.references or self.tables[link.table].key

    def table_order(self) -> list[str]:
        """Tables with every parent before its children, otherwise in file order."""
        done: list[str] = []
        seen: set[str] = set()

        def visit(name: str) -> None:
            if name in seen:
                return
            seen.add(name)
            for link in self.tables[name].parent_links:
                visit(link.table or "")
            done.append(name)

        for name in self.tables:
            visit(name)
        return done
