"""Problems found in a data map, each a message naming the file and where in it."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from pydantic import ValidationError


class DataMapError(Exception):
    """The data map cannot be used; ``problems`` lists every problem found, one message each."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        count = len(self.problems)
        summary = f"{count} problem{'s' if count != 1 else ''} in the data map"
        super().__init__(summary + ":\n" + "\n".join(self.problems))


def where(
    *,
    table: str | None = None,
    field: str | None = None,
    section: str | None = None,
    item: str | None = None,
) -> str:
    """The place a problem is in, e.g. ``table 'shop_orders', field 'email'``."""
    parts = []
    if section is not None:
        parts.append(f"{section} '{item}'" if item is not None else section)
    if table is not None:
        parts.append(f"table '{table}'")
    if field is not None:
        parts.append(f"field '{field}'")
    return ", ".join(parts)


class Problems:
    """Collects messages for one file, so that every problem is reported, not just the first."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.messages: list[str] = []

    def add(self, place: str, message: str) -> None:
        self.messages.append(
            f"{self.path}: {place}: {message}" if place else f"{self.path}: {message}"
        )

    def add_validation(self, place: str, error: ValidationError) -> None:
        for detail in error.errors():
            self.add(place, describe(detail["loc"], detail["type"], detail["msg"], detail["input"]))

    def extend(self, messages: Iterable[str]) -> None:
        self.messages.extend(messages)

    def __bool__(self) -> bool:
        return bool(self.messages)


_LANGUAGES = ("nb", "sv", "en")


def describe(loc: tuple[Any, ...], kind: str, message: str, value: Any) -> str:
    """One pydantic error as a sentence a person editing the TOML file can act on."""
    path = ".".join(str(part) for part in loc if not str(part).startswith("function-"))
    path = path.replace("from_", "from").replace("schema_", "schema")
    message = message.removeprefix("Value error, ")
    if kind == "missing":
        last = str(loc[-1]) if loc else ""
        if last in _LANGUAGES:
            parent = ".".join(str(part) for part in loc[:-1])
            return f"missing {last} text in {parent}" if parent else f"missing {last} text"
        return f"{path}: required key is missing"
    if kind == "extra_forbidden":
        return f"{path}: unknown key"
    shown = f" (got {value!r})" if not isinstance(value, dict | list) else ""
    return f"{path}: {message}{shown}" if path else f"{message}"
