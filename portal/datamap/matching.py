"""How a company's column is compared with a person's identifiers, whatever the company typed.

Companies store contact identifiers as people typed them: ``Kari@Example.no `` and
``+47 22 44 22 22`` are the person's ``kari@example.no`` and ``+4722442222``. So:

* **E-mail addresses** are trimmed and lower-cased on both sides: the column as
  ``lower(trim(col))``, the person's value in Python.
* **Phone numbers** are compared without the separators people type (``STORED_SEPARATORS``):
  the column as ``replace(replace(col, ' ', ''), '-', '') …``, against every form the person's
  E.164 number may be stored in (``phone_numbers.stored_forms``: ``+4722442222``,
  ``004722442222``, and the national ``22442222`` for a number of the map's ``phone_region``).
  A number read from the company is turned into E.164 with that region before it is compared.
* National IDs and customer numbers are compared as trimmed text.

Both expressions are written with literals, never bound parameters, so that an expression index
on the very same expression serves the look-up (SQLite and PostgreSQL match an index only on an
identical expression). ``index_statements`` writes those indexes for a map; ``portal datamap
check --indexes`` prints them, and docs/datamap.md says when they are worth having.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Column, Index, MetaData, String, Table, func, text
from sqlalchemy.engine import Dialect
from sqlalchemy.schema import CreateIndex

from portal.datamap.model import DataMap
from portal.phone_numbers import STORED_SEPARATORS, normalise_phone, stored_forms

_COMPACT = str.maketrans("", "", STORED_SEPARATORS)


def normalise(kind: str, value: Any, region: str) -> str:
    """A value as it is compared: e-mail addresses lower-cased, phone numbers as E.164 when
    the number is possible in ``region`` (else without separators)."""
    text = str(value).strip()
    if kind == "email":
        return text.lower()
    if kind == "phone":
        return normalise_phone(text, region) or text.translate(_COMPACT)
    return text


def column_expression(kind: str, expression: Any) -> Any:
    """The column as it is compared with ``kind``'s values (see the module docstring)."""
    if kind == "email":
        return func.lower(func.trim(expression))
    if kind == "phone":
        nothing = text("''")
        for separator in STORED_SEPARATORS:
            expression = func.replace(expression, text(f"'{separator}'"), nothing)
        return expression
    return expression


def searched_values(kind: str, values: Iterable[str], region: str) -> set[str]:
    """What the column expression is compared with, for normalised ``values``."""
    if kind == "phone":
        return {form for value in values for form in stored_forms(value, region)}
    return set(values)


def index_statements(datamap: DataMap, dialects: dict[str, Dialect]) -> list[str]:
    """``CREATE INDEX`` statements, one per e-mail or phone link, on the expressions look-ups
    compare (``dialects``: source -> its database's dialect)."""
    statements = []
    for name, spec in datamap.tables.items():
        dialect = dialects.get(spec.source)
        if dialect is None:
            continue
        for link in spec.identifier_links:
            if link.identifier not in ("email", "phone"):
                continue
            db_name = datamap.db_table(name)
            schema = datamap.sources[spec.source].schema_
            table = Table(db_name, MetaData(), Column(link.column, String), schema=schema)
            index = Index(
                f"ix_{db_name}_{link.column}_match".lower(),
                column_expression(link.identifier, table.c[link.column]),
            )
            statements.append(f"{CreateIndex(index).compile(dialect=dialect)};")
    return statements
