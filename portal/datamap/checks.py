"""Checks that need the whole map: references between items, links, cycles, conditions.

Every check adds to ``problems`` and carries on, so one run reports everything.
"""

from __future__ import annotations

import re

from portal.datamap.model import ConsentRecord, HoldRef, RetentionRef, TableSpec
from portal.datamap.parsed import Parsed
from portal.datamap.problems import Problems, where
from portal.datamap.wording import label_fields

_COLUMN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Field keys that name another section's item, with that section and the word for it.
_FIELD_REFERENCES = (
    ("category", "categories", "category"),
    ("legal_basis", "legal_bases", "legal basis"),
    ("origin", "origins", "origin"),
)
_LINK_ERASURES = ("null", "pseudonymise")


def check_map(parsed: Parsed, problems: Problems) -> None:
    for name in parsed.raw_fields:
        _check_references(parsed, name, problems)
    for name, table in parsed.tables.items():
        _check_table(parsed, name, table, problems)
    _check_duplicate_tables(parsed, problems)
    _check_cycles(parsed, problems)
    _check_consents(parsed, problems)
    _check_data_subjects(parsed, problems)
    # No rule that some table links by an identifier: every table has a link, and links form
    # no cycle, so following parents ends at a table linked by identifiers only. A map without
    # national IDs is fine: identity.finding_summary says how its people are found.


def _unknown(parsed: Parsed, section: str, name: str) -> bool:
    return name not in parsed.declared.get(section, set())


def _check_table(parsed: Parsed, name: str, table: TableSpec, problems: Problems) -> None:
    place = where(table=name)
    if _unknown(parsed, "sources", table.source):
        problems.add(place, f"unknown source '{table.source}'")
    written = "key" in parsed.table_keys.get(name, {"key"})  # else the loader says what to do
    if written and table.key not in _columns(parsed, name):
        problems.add(where(table=name, field=table.key), "the key column is not among the fields")
    if table.timeline is not None and table.timeline not in _columns(parsed, name):
        problems.add(
            where(table=name, field=table.timeline), "the timeline column is not among the fields"
        )
    for column in (table.order_by, *table.show):
        if column is not None and column not in _columns(parsed, name):
            problems.add(
                where(table=name, field=column), "a show or order_by column is not among the fields"
            )
    if len(set(table.show)) != len(table.show):
        problems.add(place, "a column is named twice in show")
    _check_label(parsed, name, table, problems)
    _check_links(parsed, name, table, problems)
    if table.erasure == "anonymise":
        _check_anonymise(name, table, problems)
    _check_retention(parsed, name, table, problems)
    _check_holds(parsed, name, table, problems)
    _check_deceased(parsed, name, table, problems)
    for column in table.person_name:
        if column not in _columns(parsed, name):
            problems.add(
                where(table=name, field=column), "a person_name column is not among the fields"
            )
    _check_protected(parsed, name, table, problems)


def _check_label(parsed: Parsed, name: str, table: TableSpec, problems: Problems) -> None:
    if table.label is None:
        return
    for language in ("nb", "sv", "en"):
        names = label_fields(table.label.get(language))
        if names is None:
            problems.add(
                where(table=name),
                f"the {language} label's braces must each hold one field name, as {{order_number}}",
            )
            continue
        for column in names:
            if column not in _columns(parsed, name):
                problems.add(
                    where(table=name, field=column), "a label's column is not among the fields"
                )


def _columns(parsed: Parsed, name: str) -> set[str]:
    """The columns a table lists, whether or not each one's keys are valid."""
    return set(parsed.raw_fields.get(name, {}))


def _check_references(parsed: Parsed, name: str, problems: Problems) -> None:
    """Names of other items, in the defaults (once) and in each field's own keys; and the
    columns' own names (also of a table whose keys are not valid yet)."""
    for column in _columns(parsed, name):
        if not _COLUMN.match(column):
            problems.add(
                where(table=name, field=column),
                "a column name is letters, digits and _ (not starting with a digit)",
            )
    _check_reference_keys(
        parsed, parsed.raw_defaults.get(name, {}), problems, f"{where(table=name)}, defaults"
    )
    for column, raw in parsed.raw_fields.get(name, {}).items():
        _check_reference_keys(parsed, raw, problems, where(table=name, field=column))


def _check_reference_keys(parsed: Parsed, raw: dict, problems: Problems, place: str) -> None:
    for key, section, word in _FIELD_REFERENCES:
        value = raw.get(key)
        if isinstance(value, str) and _unknown(parsed, section, value):
            problems.add(place, f"unknown {word} '{value}'")
    for key, section, word in (
        ("purposes", "purposes", "purpose"),
        ("recipients", "processors", "processor"),
    ):
        values = raw.get(key)
        for value in values if isinstance(values, list) else ():
            if isinstance(value, str) and _unknown(parsed, section, value):
                problems.add(place, f"unknown {word} '{value}' in {key}")


def _check_links(parsed: Parsed, name: str, table: TableSpec, problems: Problems) -> None:
    for link in table.links:
        place = where(table=name, field=link.column)
        if link.column not in _columns(parsed, name):
            problems.add(place, "the link column is not among the fields")
        if link.table is None:
            continue
        if _unknown(parsed, "tables", link.table):
            problems.add(
                place, f"link to unknown table '{link.table}'" + _map_name_hint(parsed, link.table)
            )
            continue
        parent = parsed.tables.get(link.table)
        if parent is None:
            continue  # its own problems are reported
        target = link.references or parent.key
        if target not in _columns(parsed, link.table):
            problems.add(place, f"link to unknown column '{target}' of table '{link.table}'")


def _check_anonymise(name: str, table: TableSpec, problems: Problems) -> None:
    # Anonymising keeps the row, so every column that links it to a person must lose its value.
    for column, spec in table.fields.items():
        if spec.erasure == "delete_row":
            problems.add(
                where(table=name, field=column),
                "erasure 'delete_row' in a table whose rows are anonymised (erasure = 'anonymise')",
            )
    for link in table.links:
        spec = table.fields.get(link.column)
        if spec is not None and spec.erasure not in _LINK_ERASURES:
            problems.add(
                where(table=name, field=link.column),
                f"a link column of an anonymised table must be erased by null or pseudonymise, "
                f"not '{spec.erasure}'",
            )


def _ancestors(parsed: Parsed, name: str) -> set[str]:
    seen: set[str] = set()
    pending = [name]
    while pending:
        table = parsed.tables.get(pending.pop())
        for link in table.parent_links if table else ():
            if link.table not in seen and link.table is not None:
                seen.add(link.table)
                pending.append(link.table)
    return seen


def _check_date_column(
    parsed: Parsed, name: str, table: TableSpec, value: str, what: str, problems: Problems
) -> None:
    if "." not in value:
        if value not in _columns(parsed, name):
            problems.add(where(table=name, field=value), f"{what} counts from an unknown column")
        return
    other, column = value.split(".", 1)
    known = _map_name(parsed, other)
    if known is not None:
        problems.add(
            where(table=name, field=value),
            f"{what} counts from table '{other}', which is not a name in the map: use the map's "
            f"name '{known}' for table {other} (from = \"{known}.{column}\")",
        )
    elif other not in _ancestors(parsed, name):
        problems.add(
            where(table=name, field=value),
            f"{what} counts from table '{other}', which this table does not link to",
        )
    elif other in parsed.tables and column not in _columns(parsed, other):
        problems.add(where(table=name, field=value), f"{what} counts from an unknown column")


def _check_condition(
    parsed: Parsed, name: str, ref: RetentionRef | HoldRef, what: str, problems: Problems
) -> None:
    for column in [*ref.when, *ref.when_null, *ref.when_not_null]:
        if column not in _columns(parsed, name):
            problems.add(where(table=name, field=column), f"{what}: condition on an unknown column")


def _check_retention(parsed: Parsed, name: str, table: TableSpec, problems: Problems) -> None:
    for ref in table.retention:
        what = f"retention rule '{ref.rule}'"
        if _unknown(parsed, "retention_rules", ref.rule):
            problems.add(where(table=name), f"unknown retention rule '{ref.rule}'")
        _check_date_column(parsed, name, table, ref.from_, what, problems)
        _check_condition(parsed, name, ref, what, problems)


def _check_holds(parsed: Parsed, name: str, table: TableSpec, problems: Problems) -> None:
    for ref in table.holds:
        what = f"hold '{ref.hold}'"
        if _unknown(parsed, "holds", ref.hold):
            problems.add(where(table=name), f"unknown hold '{ref.hold}'")
        hold = parsed.items.get("holds", {}).get(ref.hold)
        if ref.from_ is not None:
            _check_date_column(parsed, name, table, ref.from_, what, problems)
            if hold is not None and hold.period is not None:
                _check_date_kept(parsed, name, ref.from_, what, problems)
        elif hold is not None and hold.period is not None:
            problems.add(
                where(table=name), f"{what} has a period, so it needs 'from' (a date column)"
            )
        if (
            hold is not None
            and hold.period is None
            and not (ref.when or ref.when_null or ref.when_not_null)
        ):
            problems.add(
                where(table=name),
                f"{what} lasts while its condition holds, so it needs 'when', 'when_null' or "
                "'when_not_null'",
            )
        _check_condition(parsed, name, ref, what, problems)
        for other in ref.covers:
            if not _related(parsed, name, other):
                problems.add(
                    where(table=name),
                    f"{what} covers table '{other}', which is not linked to this table"
                    + _map_name_hint(parsed, other),
                )


def _check_date_kept(parsed: Parsed, name: str, value: str, what: str, problems: Problems) -> None:
    """A hold with a period ends a period after its date, and the deferred erasure reads that
    date again when the period is over. A row kept to a date has its `null` and `pseudonymise`
    fields changed at once, so a date erased that way is gone by then: the hold would seem not
    to have begun, and would keep the row (and the rows it covers) for ever."""
    other, column = value.split(".", 1) if "." in value else (name, value)
    spec = parsed.tables.get(other)
    field = spec.fields.get(column) if spec is not None else None
    if field is not None and field.erasure in ("null", "pseudonymise"):
        problems.add(
            where(table=other, field=column),
            f"{what} of table '{name}' counts from this date, but erasure '{field.erasure}' "
            "clears it on the rows kept until then, so the hold would never end; use keep "
            "(the row's own erasure still deletes or anonymises it when the hold is over)",
        )


def _map_name(parsed: Parsed, name: str) -> str | None:
    """The map's name for a table named ``name`` in its database (or in other letter case), when
    ``name`` is not itself one of the map's names: what was meant by ``Invoice.IssuedOn``."""
    if name in parsed.declared.get("tables", set()):
        return None
    for exact in (True, False):
        for key, table in parsed.tables.items():
            names = (table.table or key, key)
            if any(n == name if exact else n.casefold() == name.casefold() for n in names):
                return key
    return None


def _map_name_hint(parsed: Parsed, name: str) -> str:
    known = _map_name(parsed, name)
    return "" if known is None else f": use the map's name '{known}' for table {name}"


def _related(parsed: Parsed, name: str, other: str) -> bool:
    """Whether ``other`` is a table this one links to, or links to one of those."""
    if other not in parsed.tables:
        return other in parsed.declared.get("tables", set())  # reported on its own
    mine = _ancestors(parsed, name)
    return other in mine or bool(_ancestors(parsed, other) & (mine | {name}))


def _check_duplicate_tables(parsed: Parsed, problems: Problems) -> None:
    seen: dict[tuple[str, str], str] = {}
    for name, table in parsed.tables.items():
        key = (table.source, table.table or name)
        if key in seen:
            problems.add(
                where(table=name),
                f"maps the same database table as '{seen[key]}' in source '{table.source}'",
            )
        seen.setdefault(key, name)


def _check_cycles(parsed: Parsed, problems: Problems) -> None:
    """Links between tables must form a tree-like graph: a cycle has no row to start from."""
    state: dict[str, str] = {}  # name -> "open" | "done"
    stack: list[str] = []

    def visit(name: str) -> None:
        state[name] = "open"
        stack.append(name)
        table = parsed.tables[name]
        for link in table.parent_links:
            parent = link.table or ""
            if parent not in parsed.tables:
                continue
            if state.get(parent) == "open":
                cycle = [*stack[stack.index(parent) :], parent]
                problems.add(
                    where(table=name, field=link.column),
                    "links form a cycle: " + " -> ".join(cycle),
                )
            elif parent not in state:
                visit(parent)
        stack.pop()
        state[name] = "done"

    for name in parsed.tables:
        if name not in state:
            visit(name)


def _check_consents(parsed: Parsed, problems: Problems) -> None:
    for name, purpose in parsed.items.get("purposes", {}).items():
        if purpose.consent is None:
            continue
        for target in purpose.consent.withdraw:
            place = where(section="purpose", item=name, table=target.table)
            if _unknown(parsed, "tables", target.table):
                problems.add(place, "consent withdrawal updates an unknown table")
                continue
            for column in [c for c in [target.column, *target.when] if c is not None]:
                if column not in _columns(parsed, target.table):
                    problems.add(
                        where(section="purpose", item=name, table=target.table, field=column),
                        "consent withdrawal names an unknown column",
                    )
        _check_consent_record(parsed, name, purpose.consent.record, problems)


def _check_data_subjects(parsed: Parsed, problems: Problems) -> None:
    for name, purpose in parsed.items.get("purposes", {}).items():
        for subjects in purpose.data_subjects:
            if _unknown(parsed, "data_subjects", subjects):
                problems.add(
                    where(section="purpose", item=name),
                    f"unknown data subjects '{subjects}' in data_subjects",
                )


def _check_consent_record(
    parsed: Parsed, name: str, record: ConsentRecord | None, problems: Problems
) -> None:
    if record is None:
        return
    place = where(section="purpose", item=name, table=record.table)
    if _unknown(parsed, "tables", record.table):
        problems.add(place, "consent record names an unknown table")
        return
    columns = [record.given, record.withdrawn, record.version, *record.when]
    for column in [c for c in columns if c is not None]:
        if column not in _columns(parsed, record.table):
            problems.add(
                where(section="purpose", item=name, table=record.table, field=column),
                "consent record names an unknown column",
            )


def _check_deceased(parsed: Parsed, name: str, table: TableSpec, problems: Problems) -> None:
    if table.deceased is None:
        return
    place = where(table=name, field=table.deceased)
    if table.deceased not in _columns(parsed, name):
        problems.add(place, "the deceased column is not among the fields")
    if not any(link.identifier == "national_id" for link in table.links):
        problems.add(place, "a deceased column needs a table that links by national_id")


def _check_protected(parsed: Parsed, name: str, table: TableSpec, problems: Problems) -> None:
    if table.protected is None:
        return
    place = where(table=name, field=table.protected)
    if table.protected not in _columns(parsed, name):
        problems.add(place, "the protected column is not among the fields")
    if not any(link.identifier == "national_id" for link in table.links):
        problems.add(place, "a protected column needs a table that links by national_id")
