"""Protected identities against the demo company (on the database kind under test), and the
map's check of a ``protected`` column."""

from __future__ import annotations

import pytest
from sqlalchemy.engine import Engine

from portal.datamap import DataMap, DataMapError, parse_datamap
from portal.datamap.protection import protected_national_ids
from portal.demo import EDGE_CASES_BY_KEY
from tests.datamap.test_datamap_loader import MAPS

KARI = EDGE_CASES_BY_KEY["ordinary"].national_id
KNUT = EDGE_CASES_BY_KEY["protected_address"].national_id


@pytest.mark.parametrize("chunk_size", [1, 1000])
def test_protected_identities_are_found_in_chunks(
    datamap: DataMap, demo_sources: dict[str, Engine], chunk_size: int
) -> None:
    wanted = [KARI, KNUT, "01010112345", " "]
    found = protected_national_ids(datamap, demo_sources, wanted, chunk_size=chunk_size)
    assert found == {KNUT}
    assert protected_national_ids(datamap, demo_sources, []) == set()


def test_a_protected_column_is_checked() -> None:
    text = (MAPS / "minimal.toml").read_text()
    good = text.replace(
        'links = [{ column = "national_id", identifier = "national_id" }]',
        'protected = "email"\nlinks = [{ column = "national_id", identifier = "national_id" }]',
    )
    assert parse_datamap(good.encode(), "m.toml").tables["customers"].protected == "email"
    bad = good.replace('protected = "email"', 'protected = "secret"').replace(
        'links = [{ column = "customer_id", table = "customers" }]',
        'protected = "text"\nlinks = [{ column = "customer_id", table = "customers" }]',
    )
    with pytest.raises(DataMapError) as caught:
        parse_datamap(bad.encode(), "m.toml")
    assert caught.value.problems == [
        "m.toml: table 'customers', field 'secret': the protected column is not among the fields",
        "m.toml: table 'notes', field 'text': a protected column needs a table that links by "
        "national_id",
    ]
