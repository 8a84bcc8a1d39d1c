"""CSV cells no spreadsheet takes for a formula, and the exact value back for programs."""

from __future__ import annotations

import pytest

from portal.spreadsheet import safe_cell, unsafe_cell


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ("=1+1", "'=1+1"),
        ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("'=1", "''=1"),
        ("''@x", "'''@x"),
        # Numbers and phone numbers keep their sign; ordinary text is untouched.
        ("-120.50", "-120.50"),
        ("+47 912 34 567", "+47 912 34 567"),
        ("-", "-"),
        ("Kari = Ola", "Kari = Ola"),
        ("'quoted'", "'quoted'"),
        ("", ""),
    ],
)
def test_a_cell_is_neutralised_only_when_it_could_be_a_formula_and_comes_back_exactly(
    value: str, written: str
) -> None:
    assert safe_cell(value) == written
    assert unsafe_cell(written) == value
