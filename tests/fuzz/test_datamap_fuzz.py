"""Data maps under arbitrary edits: the demo company's real map with values replaced (by any TOML
value, or by another value the map holds elsewhere), keys removed or unknown keys added, is
either still a valid map or refused with DataMapError, never another exception; each problem
names the file, and an edit inside a table gets a problem naming that table (and the field,
for an edit of one field's keys)."""

from __future__ import annotations

import copy
import json
import tomllib
from datetime import date, datetime
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from portal.datamap.loader import parse_datamap
from portal.datamap.problems import DataMapError
from portal.demo import DATAMAP_PATH

LABEL = "fuzzed.toml"
DEMO: dict[str, Any] = tomllib.loads(DATAMAP_PATH.read_text("utf-8"))

Path = tuple[str, ...]


def _paths(node: Any, path: Path = ()) -> list[Path]:
    """Every key's path in the map, depth first."""
    found: list[Path] = []
    if isinstance(node, dict):
        for key, value in node.items():
            found.append((*path, key))
            found += _paths(value, (*path, key))
    return found


PATHS = _paths(DEMO)


def _leaves(node: Any) -> list[Any]:
    if isinstance(node, dict):
        return [leaf for value in node.values() for leaf in _leaves(value)]
    return [node]


# Values of the right shape in the wrong place: names of other sections, other texts, numbers.
REAL_VALUES = st.sampled_from([leaf for leaf in _leaves(DEMO) if not isinstance(leaf, dict)])
TEXT = st.text(st.characters(exclude_categories=["Cs"]), max_size=12)
SCALARS = st.one_of(
    TEXT,
    st.integers(-(2**63), 2**63 - 1),
    st.booleans(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.dates(),
)
ANY_VALUE = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(TEXT, inner, max_size=3)),
    max_leaves=6,
)


@st.composite
def edited_maps(draw: st.DrawFn) -> tuple[dict[str, Any], list[Path]]:
    """The demo map with one to three edits, and the paths edited."""
    datamap = copy.deepcopy(DEMO)
    edited = []
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(PATHS))
        parent = _at(datamap, path[:-1])
        if not isinstance(parent, dict) or path[-1] not in parent:
            continue  # an earlier edit removed or replaced it
        edit = draw(st.sampled_from(["replace", "real", "remove", "unknown"]))
        if edit == "replace":
            parent[path[-1]] = draw(ANY_VALUE)
        elif edit == "real":
            parent[path[-1]] = draw(REAL_VALUES)
        elif edit == "remove":
            del parent[path[-1]]
        else:
            path = (*path[:-1], draw(TEXT))
            if path[-1] in parent:
                continue
            parent[path[-1]] = draw(ANY_VALUE)
        edited.append(path)
    return datamap, edited


def _at(node: Any, path: Path) -> Any:
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return node


# --- writing TOML (tomllib only reads) -----------------------------------------------------------


def _string(text: str) -> str:
    # JSON's escapes are TOML's, but TOML also wants DEL escaped.
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, date | datetime):
        return value.isoformat()
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, list):
        return "[" + ", ".join(_value(item) for item in value) + "]"
    return "{" + ", ".join(f"{_string(k)} = {_value(v)}" for k, v in value.items()) + "}"


def to_toml(datamap: dict[str, Any]) -> bytes:
    return "\n".join(f"{_string(k)} = {_value(v)}" for k, v in datamap.items()).encode()


def test_the_writer_writes_the_demo_map_back_as_it_is() -> None:
    assert tomllib.loads(to_toml(DEMO).decode()) == DEMO
    assert parse_datamap(to_toml(DEMO), LABEL).tables.keys() == {key for key in DEMO["tables"]}


# --- the property --------------------------------------------------------------------------------


def _unknown_key(section: str, key: str) -> tuple[dict[str, Any], list[Path]]:
    datamap = copy.deepcopy(DEMO)
    datamap[section][key] = 1
    return datamap, [(section, key)]


# Found by the long profile: a key with a line break made a problem two lines.
@example(_unknown_key("settings", "\n"))
@example(_unknown_key("sources", "a\nb"))
@pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisWarning")  # the map's long repr
@given(edited_maps())
def test_an_edited_map_is_valid_or_refused_naming_the_file_and_the_place(
    case: tuple[dict[str, Any], list[Path]],
) -> None:
    datamap, edited = case
    content = to_toml(datamap)
    assert tomllib.loads(content.decode()) == datamap  # the edit is what the loader reads
    try:
        parse_datamap(content, LABEL)
    except DataMapError as error:
        assert error.problems
        assert all(problem.startswith(f"{LABEL}: ") for problem in error.problems)
        assert all("\n" not in problem for problem in error.problems), error.problems
        if len(edited) == 1 and edited[0][0] == "tables" and len(edited[0]) > 1:
            _names_the_place(error.problems, edited[0])


def _names_the_place(problems: list[str], path: Path) -> None:
    table = f"table '{path[1]}'"
    if not any(table in problem for problem in problems):
        # Removing a table can only leave references to it dangling, named where they are.
        assert len(path) == 2, problems
        return
    if len(path) >= 5 and path[2] == "fields":  # an edit of one field's keys
        field = f"field '{path[3]}'"
        assert any(table in problem and field in problem for problem in problems), problems
