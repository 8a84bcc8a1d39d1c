"""A starting data map from a database: ``portal datamap init URL [--schema S] > map.toml``.

``read_database`` reads a database's schema (SQLAlchemy inspection, read-only); ``starting_map``,
a pure function of what was read, writes the map as TOML text:

* every table and every column, and each table's primary key (``key``);
* the foreign keys as links (``{ column = ..., table = ... }``), except those a map cannot hold:
  one that would make the links form a cycle (a table pointing at itself, two tables pointing
  at each other), one of more than one column, one to a table of another schema;
* columns whose names say e-mail address, phone number or national ID number (fnr,
  personnummer, ssn) as identifier links, to be checked;
* each table's date columns, in a comment: candidates for its timeline, its order and what its
  retention counts from.

Nothing else: what the schema cannot tell (what a column is, why it is kept, on what legal basis,
how it is erased, what a person calls the table) is left out, so that ``portal datamap check``
names each thing left, with the file, the table and the field: ``left to decide: ...``. The text
is English, the integrator's language on a terminal. No TOML writer is a dependency of the
portal, so values are written here (``toml_value``), with TOML's quoting rules.
"""

from __future__ import annotations

import re
import textwrap
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import inspect
from sqlalchemy.engine import URL, Inspector, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.types import Date, DateTime, Enum, String

from portal.datamap.sources import (
    SourceUnavailable,
    absolute,
    read_only_engine,
    safe_url,
    sqlite_file,
)

ColumnKind = Literal["text", "date", "other"]
IdentifierGuess = Literal["national_id", "email", "phone"]


@dataclass(frozen=True)
class ColumnInfo:
    name: str
    type: str  # as the database names it, for the integrator
    kind: ColumnKind
    nullable: bool


@dataclass(frozen=True)
class ForeignKeyInfo:
    columns: tuple[str, ...]
    table: str  # the table pointed at
    referred: tuple[str, ...]  # its columns
    other_schema: bool = False  # the table pointed at is in another schema


@dataclass(frozen=True)
class TableInfo:
    name: str
    columns: tuple[ColumnInfo, ...]
    primary_key: tuple[str, ...] = ()
    foreign_keys: tuple[ForeignKeyInfo, ...] = ()


@dataclass(frozen=True)
class DatabaseInfo:
    """What ``starting_map`` writes a map of."""

    source: str  # the source's name in the map
    url_env: str  # the variable the source's URL is read from
    url_default: str | None  # the URL to fall back on; None when it carries a password
    shown_url: str  # the URL as the file's header names it, never with a password
    schema: str | None
    tables: tuple[TableInfo, ...]


class StartingMapError(Exception):
    """The database cannot be read; the message says why (never with a password)."""


# --- reading the database -----------------------------------------------------------------------


def read_database(
    url_text: str, *, schema: str | None = None, source: str | None = None
) -> DatabaseInfo:
    """The schema of the database at ``url_text``, opened read-only (a SQLite file must exist)."""
    try:
        url = make_url(url_text)
    except ArgumentError:
        raise StartingMapError("not a valid SQLAlchemy URL") from None
    secret = _has_password(url)
    shown = safe_url(url.set(query={}) if secret else url)
    try:
        engine = read_only_engine(absolute(url))
    except SourceUnavailable as exc:
        raise StartingMapError(str(exc)) from None
    try:
        inspector = inspect(engine)
        if schema is not None and schema not in inspector.get_schema_names():
            raise StartingMapError(f"no schema '{schema}' in {shown}")
        tables = inspect_tables(inspector, schema)
    except SQLAlchemyError as exc:
        raise StartingMapError(f"cannot read {shown} ({type(exc).__name__})") from None
    finally:
        engine.dispose()
    if not tables:
        where = f" (schema '{schema}')" if schema is not None else ""
        raise StartingMapError(f"no tables in {shown}{where}")
    name = source or source_name(url)
    return DatabaseInfo(
        source=name,
        url_env=re.sub(r"[^A-Z0-9]+", "_", _ascii(name).upper()).strip("_") + "_DATABASE_URL",
        url_default=None if secret else url.render_as_string(hide_password=False),
        shown_url=shown,
        schema=schema,
        tables=tables,
    )


def inspect_tables(inspector: Inspector, schema: str | None) -> tuple[TableInfo, ...]:
    """Every table of the schema (not views), by name, with its columns in the database's order."""
    columns = inspector.get_multi_columns(schema=schema)
    keys = inspector.get_multi_pk_constraint(schema=schema)
    foreign = inspector.get_multi_foreign_keys(schema=schema)
    tables = []
    for (_schema, name), found in sorted(columns.items(), key=lambda item: item[0][1]):
        tables.append(
            TableInfo(
                name=name,
                columns=tuple(
                    ColumnInfo(c["name"], _type_name(c["type"]), _kind(c["type"]), c["nullable"])
                    for c in found
                ),
                primary_key=tuple(
                    (keys.get((_schema, name)) or {}).get("constrained_columns") or ()
                ),
                foreign_keys=tuple(
                    ForeignKeyInfo(
                        columns=tuple(key["constrained_columns"]),
                        table=key["referred_table"],
                        referred=tuple(key["referred_columns"]),
                        other_schema=key.get("referred_schema") not in (None, schema),
                    )
                    for key in foreign.get((_schema, name), [])
                ),
            )
        )
    return tuple(tables)


def source_name(url: URL) -> str:
    """A name for the source: the database's (a SQLite file's stem), as a plain identifier."""
    path = sqlite_file(url)
    database = path.stem if path is not None else (url.database or "")
    name = re.sub(r"[^a-z0-9]+", "_", _ascii(database).lower()).strip("_")
    if not name:
        return "main"
    return name if not name[0].isdigit() else f"db_{name}"


def _has_password(url: URL) -> bool:
    return url.password is not None or any("password" in key.lower() for key in url.query)


def _kind(kind: Any) -> ColumnKind:
    if isinstance(kind, Date | DateTime):
        return "date"
    if isinstance(kind, String) and not isinstance(kind, Enum):
        return "text"
    return "other"


def _type_name(kind: Any) -> str:
    try:
        return str(kind)
    except Exception:  # a type only its dialect can name
        return type(kind).__name__


# --- what names say --------------------------------------------------------------------------

# Words (folded to ASCII lower case, run together) a column name says an identifier with.
_IDENTIFIER_WORDS: dict[IdentifierGuess, frozenset[str]] = {
    "national_id": frozenset(
        {
            "nationalid",
            "nationalidnumber",
            "nationalidentitynumber",
            "nationalidentificationnumber",
            "nin",
            "fnr",
            "fodselsnummer",
            "fodselsnr",
            "foedselsnummer",
            "personnummer",
            "personnr",
            "pnr",
            "samordningsnummer",
            "dnummer",
            "ssn",
            "socialsecuritynumber",
            "personalidentitynumber",
        }
    ),
    "email": frozenset(
        {"email", "emailaddress", "epost", "epostadresse", "epostadress", "mail", "mailaddress"}
    ),
    "phone": frozenset(
        {
            "phone",
            "phonenumber",
            "telephone",
            "telephonenumber",
            "telefon",
            "telefonnummer",
            "telefonnr",
            "tlf",
            "tel",
            "mobile",
            "mobilephone",
            "mobilenumber",
            "mobil",
            "mobilnummer",
            "mobilnr",
            "cellphone",
            "msisdn",
        }
    ),
}
# Words that may follow one of those and still name the identifier ("phone_number", "email2").
_TRAILING = frozenset({"number", "nr", "no", "num", "address", "adresse", "adress", "addr"})


def guess_identifier(column: ColumnInfo) -> IdentifierGuess | None:
    """The identifier a text column's name says it holds (``customer_email``, ``PhoneNumber``,
    ``fnr``, ``debtor_national_id``), or None. A guess: the integrator checks it."""
    if column.kind != "text":
        return None
    words = _words(column.name)
    for start in range(len(words)):
        for end in range(start + 1, len(words) + 1):
            run = "".join(words[start:end])
            rest = words[end:]
            if all(word in _TRAILING or word.isdigit() for word in rest):
                for kind, names in _IDENTIFIER_WORDS.items():
                    if run in names:
                        return kind
    return None


def _words(name: str) -> list[str]:
    """``debtorNationalID_2`` -> ``["debtor", "national", "id", "2"]``, in ASCII lower case."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", name)
    spaced = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1 \2", spaced)
    spaced = re.sub(r"([A-Za-z])([0-9])", r"\1 \2", spaced)
    return [word for word in re.split(r"[^a-z0-9]+", _ascii(spaced).lower()) if word]


def _ascii(text: str) -> str:
    folded = text.replace("ø", "o").replace("Ø", "O").replace("æ", "ae").replace("Æ", "AE")
    folded = folded.replace("ß", "ss")
    return unicodedata.normalize("NFKD", folded).encode("ascii", "ignore").decode("ascii")


# --- writing the map ----------------------------------------------------------------------------

_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")
_ESCAPES = {"\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r", '"': '\\"'}
_ESCAPES["\\"] = "\\\\"


def toml_string(text: str) -> str:
    """A TOML basic string: quotes, backslashes and control characters escaped."""
    out = []
    for char in text:
        if char in _ESCAPES:
            out.append(_ESCAPES[char])
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\u{ord(char):04X}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def toml_key(key: str) -> str:
    """A key, bare when TOML allows it (letters, digits, _ and -), else quoted."""
    return key if _BARE_KEY.match(key) else toml_string(key)


def toml_value(value: Any) -> str:
    """A value on one line: a string, a whole number, a boolean, a list or an inline table."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return toml_string(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(item) for item in value) + "]"
    if isinstance(value, Mapping):
        if not value:
            return "{}"
        pairs = ", ".join(f"{toml_key(str(k))} = {toml_value(v)}" for k, v in value.items())
        return "{ " + pairs + " }"
    raise TypeError(f"no TOML value for {type(value).__name__}")


def _comments(text: str) -> list[str]:
    """Comment lines of at most 100 characters."""
    return ["# " + line for line in textwrap.wrap(_comment(text), width=98, break_long_words=False)]


def _comment(text: str) -> str:
    """Text for a comment: one line, whatever the database's names hold."""
    return "".join(" " if ord(char) < 0x20 or ord(char) == 0x7F else char for char in text)


_HEADER = """\
# A starting data map of {url}{schema}.
# Written by `portal datamap init`; the format is in docs/datamap.md.
#
# Read from the database: every table and column, each table's key, its foreign keys as links
# (a column that points at a row of another table), and, as identifier links, the columns whose
# names say e-mail address, phone number or national ID number: check those, a name can
# mislead. Each table's date columns are listed in a comment above its fields.
#
# Everything else is left to decide. `portal datamap check FILE` names each thing left, with
# the table and the field ("left to decide: category, purposes, ..."), and compares the file
# with the database in the same run. What to do next:
#
#  1. Delete the section of every table that holds no personal data.
#  2. Fill in [settings] and [controller]: whose national rules apply, and who the controller is.
#  3. Give the source its name; in production its URL is read from ${url_env}.
#  4. Declare the categories, purposes, legal bases and origins the fields name (and any
#     processors, retention rules and holds); each section shows the form in a comment.
#  5. Each table: its name as a person reads it, in nb, sv and en; how its rows reach a person
#     (links) where none was found; its retention rules and holds.
#  6. Each field: category, purposes, legal_basis, origin and erasure (a table's
#     defaults = {{ ... }} gives them to all its fields at once), and a label.
#  7. Run `portal datamap check FILE` until it prints OK.
"""

_SECTIONS = """\
[settings]
# jurisdiction = "NO"  # or "SE": whose national rules apply
# fiscal_year_end = "12-31"
# phone_region = "NO"  # the country of numbers stored without +country code (default: jurisdiction)

[controller]
# name = "Example AS"
# organisation_number = "912345678"
# country = "NO"
# contact = "privacy@example.com"
# supervisory_authority = {{ nb = "Datatilsynet", sv = "Datatilsynet", en = "Datatilsynet" }}

[sources.{source}]
{location}
# name = {{ nb = "", sv = "", en = "" }}  # the system, as a person reads it

[categories]
# [categories.contact]
# name = {{ nb = "Kontaktopplysninger", sv = "Kontaktuppgifter", en = "Contact details" }}

[purposes]
# [purposes.customer_service]
# name = {{ nb = "Kundeservice", sv = "Kundtjänst", en = "Customer service" }}
# data_subjects = ["customers"]  # whose data: names of [data_subjects.NAME] (art. 30)

[legal_bases]
# [legal_bases.contract]
# article = "6(1)(b)"
# name = {{ nb = "Avtale", sv = "Avtal", en = "Contract" }}

[origins]
# [origins.subject]
# name = {{ nb = "Fra deg", sv = "Från dig", en = "From you" }}
# provided_by_subject = true

# [data_subjects.NAME], [processors.NAME], [retention_rules.NAME] and [holds.NAME]: see
# docs/datamap.md.

# --- tables -------------------------------------------------------------------------------------
"""


def starting_map(database: DatabaseInfo) -> str:
    """The starting map of ``database``, as TOML text the loader reads."""
    schema = f", schema '{database.schema}'" if database.schema is not None else ""
    location = [f"url_env = {toml_string(database.url_env)}"]
    if database.url_default is not None:
        location.append(f"url_default = {toml_string(database.url_default)}")
    else:
        location.append(
            f"# url_default left out: the URL has a password; set {_comment(database.url_env)}"
        )
    if database.schema is not None:
        location.append(f"schema = {toml_string(database.schema)}")
    parts = [
        _HEADER.format(
            url=_comment(database.shown_url), schema=_comment(schema), url_env=database.url_env
        ),
        _SECTIONS.format(source=toml_key(database.source), location="\n".join(location)),
    ]
    links = _links(database.tables)
    for table in database.tables:
        parts.append(_table(database.source, table, links[table.name]))
    return "\n".join(parts)


@dataclass(frozen=True)
class _Link:
    column: str
    value: dict[str, str]  # the link as the map writes it
    note: str  # why it is proposed


@dataclass(frozen=True)
class _Links:
    links: list[_Link]
    left_out: list[str]  # foreign keys that are not links, and why


def _links(tables: Sequence[TableInfo]) -> dict[str, _Links]:
    """Each table's proposed links: its foreign keys, so long as they form no cycle, then its
    identifier columns."""
    by_name = {table.name: table for table in tables}
    parents: dict[str, set[str]] = {table.name: set() for table in tables}
    found: dict[str, _Links] = {}
    for table in tables:
        links: list[_Link] = []
        left_out: list[str] = []
        linked: set[str] = set()
        for key in table.foreign_keys:
            columns = ", ".join(toml_string(column) for column in key.columns)
            target = toml_string(key.table)
            if len(key.columns) != 1:
                left_out.append(f"{columns} point at {target} together (a link is one column)")
            elif key.other_schema or key.table not in by_name:
                left_out.append(f"{columns} points at {target}, a table of another schema")
            elif key.table == table.name or _reaches(parents, key.table, table.name):
                left_out.append(
                    f"{columns} points at {target}, which would make the links form a cycle"
                )
            elif key.columns[0] not in linked:
                parents[table.name].add(key.table)
                linked.add(key.columns[0])
                value = {"column": key.columns[0], "table": key.table}
                parent_key = by_name[key.table].primary_key
                if tuple(key.referred) != tuple(parent_key[:1]) or len(parent_key) != 1:
                    value["references"] = key.referred[0]
                links.append(_Link(key.columns[0], value, "foreign key"))
        for column in table.columns:
            kind = guess_identifier(column)
            if kind is not None and column.name not in linked:
                links.append(
                    _Link(column.name, {"column": column.name, "identifier": kind}, "by its name")
                )
        found[table.name] = _Links(links, left_out)
    return found


def _reaches(parents: Mapping[str, set[str]], start: str, goal: str) -> bool:
    """Whether ``goal`` is among ``start``'s parents, any number of links up."""
    pending, seen = [start], set()
    while pending:
        name = pending.pop()
        if name == goal:
            return True
        if name not in seen:
            seen.add(name)
            pending.extend(parents.get(name, ()))
    return False


def _table(source: str, table: TableInfo, found: _Links) -> str:
    section = f"tables.{toml_key(table.name)}"
    lines = [f"[{section}]", f"source = {toml_string(source)}"]
    if len(table.primary_key) == 1:
        lines.append(f"key = {toml_string(table.primary_key[0])}")
    else:
        lines += _comments(
            'key = "...": left to decide, the table has no primary key of one column; name the '
            "column that identifies a row"
        )
    lines.append('# name = { nb = "", sv = "", en = "" }  # what a person calls these records')
    if found.links:
        lines.append("links = [")
        for link in found.links:
            lines.append(f"  {toml_value(link.value)},  # {link.note}")
        lines.append("]")
    else:
        lines += _comments(
            "links = [...]: left to decide, no foreign key or identifier column was found. How "
            'do its rows reach a person? { column = "...", identifier = "national_id" } (or '
            '"customer_number", "email", "phone"), or { column = "...", table = "..." }'
        )
    for reason in found.left_out:
        lines += _comments(f"not a link: {reason}")
    dates = [column.name for column in table.columns if column.kind == "date"]
    if dates:
        names = ", ".join(toml_string(name) for name in dates)
        lines += _comments(
            f"dates: {names} (for timeline = ..., order_by = ..., and the retention rules' "
            "and holds' from = ...)"
        )
    lines.append(f"[{section}.fields]")
    linked = {link.column: link for link in found.links}
    for column in table.columns:
        notes = [column.type]
        if not column.nullable:
            notes.append("NOT NULL")
        if table.primary_key[:1] == (column.name,) and len(table.primary_key) == 1:
            notes.append("the key")
        link = linked.get(column.name)
        if link is not None:
            notes.append(
                f"links to {link.value['table']}"
                if "table" in link.value
                else f"identifier: {link.value['identifier']}"
            )
        lines.append(f"{toml_key(column.name)} = {{}}  # " + _comment(", ".join(notes)))
    return "\n".join(lines) + "\n"
