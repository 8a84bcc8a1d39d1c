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
        parts.append(f"{section} '{_one_line(item)}'" if item is not None else section)
    if table is not None:
        parts.append(f"table '{_one_line(table)}'")
    if field is not None:
        parts.append(f"field '{_one_line(field)}'")
    return ", ".join(parts)


def _one_line(name: str) -> str:
    """A name as a message shows it: control characters escaped, so a problem stays one line
    whatever a database's names hold."""
    if all(ord(char) >= 0x20 and ord(char) != 0x7F for char in name):
        return name
    return "".join(
        char if ord(char) >= 0x20 and ord(char) != 0x7F else char.encode("unicode_escape").decode()
        for char in name
    )


class Problems:
    """Collects messages for one file, so that every problem is reported, not just the first."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.messages: list[str] = []

    def add(self, place: str, message: str) -> None:
        # The message too may quote a name from the file (an unknown key, a reference), and a
        # TOML key may hold a line break: escaped, so each problem stays one line.
        message = _one_line(message)
        self.messages.append(
            f"{self.path}: {place}: {message}" if place else f"{self.path}: {message}"
        )

    def add_validation(self, place: str, error: ValidationError) -> None:
        """One message per error, except that the item's own required keys that are missing
        are named together, where the first of them was: "left to decide: name, links"."""
        messages: list[str] = []
        undecided: list[str] = []
        for detail in error.errors():
            loc = detail["loc"]
            if detail["type"] == "missing" and len(loc) == 1 and str(loc[0]) not in _LANGUAGES:
                if not undecided:
                    messages.append("")  # where the names go
                undecided.append(str(loc[0]))
                continue
            messages.append(describe(loc, detail["type"], detail["msg"], detail["input"]))
        for message in messages:
            self.add(place, message or LEFT_TO_DECIDE + ", ".join(undecided))

    def extend(self, messages: Iterable[str]) -> None:
        self.messages.extend(messages)

    def __bool__(self) -> bool:
        return bool(self.messages)


_LANGUAGES = ("nb", "sv", "en")
# What a problem says of a required key that is not there: the integrator has it still to decide
# (a starting map from `portal datamap init` leaves out what it cannot read from the database).
LEFT_TO_DECIDE = "left to decide: "


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
