"""The data map's categories of people (``[data_subjects.NAME]``, named by purposes'
``data_subjects``) and where its recipients are (inside or outside the EEA)."""

from __future__ import annotations

from pathlib import Path

import pytest

from portal.datamap import DataMapError, load_datamap, parse_datamap
from portal.demo import DATAMAP_PATH

MINIMAL = Path(__file__).parent / "datamaps" / "minimal.toml"
PEOPLE = """
[data_subjects.customers]
name = { nb = "Kunder", sv = "Kunder", en = "Customers" }
description = { nb = "Alle kunder.", sv = "Alla kunder.", en = "Every customer." }
"""


def minimal_with(purpose_line: str, section: str = PEOPLE) -> bytes:
    text = MINIMAL.read_text(encoding="utf-8")
    old = '[purposes.service]\nname = { nb = "Kundeservice", sv = "Kundtjänst", en = "Customer '
    old += 'service" }'
    assert old in text
    return text.replace(old, f"{old}\n{purpose_line}\n{section}").encode()


def problems(content: bytes) -> list[str]:
    with pytest.raises(DataMapError) as caught:
        parse_datamap(content, "m.toml")
    return caught.value.problems


def test_purposes_name_their_categories_of_people() -> None:
    datamap = parse_datamap(minimal_with('data_subjects = ["customers"]'), "m.toml")
    assert datamap.purposes["service"].data_subjects == ["customers"]
    assert datamap.data_subjects["customers"].name.sv == "Kunder"
    assert datamap.data_subjects["customers"].description.en == "Every customer."


def test_categories_of_people_are_optional() -> None:
    datamap = load_datamap(MINIMAL)
    assert datamap.data_subjects == {}
    assert datamap.purposes["service"].data_subjects == []


def test_an_unknown_category_of_people_is_a_problem() -> None:
    assert problems(minimal_with('data_subjects = ["customers", "kunder"]')) == [
        "m.toml: purpose 'service': unknown data subjects 'kunder' in data_subjects"
    ]


def test_a_category_of_people_needs_every_language() -> None:
    section = '[data_subjects.customers]\nname = { nb = "Kunder", en = "Customers" }\n'
    assert problems(minimal_with('data_subjects = ["customers"]', section)) == [
        "m.toml: data subjects 'customers': missing sv text in name"
    ]


def test_the_demo_map_names_the_people_of_every_purpose() -> None:
    datamap = load_datamap(DATAMAP_PATH)
    assert all(purpose.data_subjects for purpose in datamap.purposes.values())
    used = {name for purpose in datamap.purposes.values() for name in purpose.data_subjects}
    assert used == set(datamap.data_subjects)


def test_recipients_outside_the_eea() -> None:
    datamap = load_datamap(DATAMAP_PATH)
    outside = {key for key, p in datamap.processors.items() if p.outside_eea}
    assert outside == {"mailchimp"}
    assert datamap.processors["mailchimp"].transfer_safeguard is not None
    # Norway, Iceland and Liechtenstein are in the EEA, not the EU; Switzerland and the UK are
    # in neither.
    processor = datamap.processors["nets"]
    for country, outside_eea in (
        ("NO", False),
        ("is", False),
        ("LI", False),
        ("CH", True),
        ("GB", True),
    ):
        assert processor.model_copy(update={"country": country}).outside_eea is outside_eea
