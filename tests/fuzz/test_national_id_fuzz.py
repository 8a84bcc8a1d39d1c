"""National ID numbers under arbitrary input: parse_national_id answers with a NationalId or
InvalidNationalId, nothing else; valid numbers built here (check digits computed independently
of the module) parse to one normal form however they are typed; a one-digit typing error in a
digit the check digits cover is refused."""

from __future__ import annotations

from datetime import date, timedelta

from hypothesis import assume, example, given
from hypothesis import strategies as st

from portal.identity.national_id import (
    InvalidNationalId,
    NationalId,
    format_national_id,
    parse_national_id,
)
from tests.identity.test_national_id import K1_WEIGHTS, K2_WEIGHTS, luhn_digit, weighted

TODAY = date(2026, 11, 24)


def _parse(text: str) -> NationalId | None:
    """The parsed number, or None for the one documented refusal."""
    try:
        return parse_national_id(text, today=TODAY)
    except InvalidNationalId as refused:
        assert refused.message and str(refused) == refused.message
        return None


@st.composite
def norwegian(draw: st.DrawFn) -> str:
    """A valid Norwegian number: fødselsnummer, D-number or H-number, born 1900-today, with the
    old rule's first control digit or (now and then) the 2032 rule's remainders 1-3."""
    born = draw(st.dates(date(1900, 1, 1), TODAY))
    kind = draw(st.sampled_from(["fodselsnummer", "d_number", "h_number"]))
    day = born.day + (40 if kind == "d_number" else 0)
    month = born.month + (40 if kind == "h_number" else 0)
    individual = draw(st.integers(0, 499) if born.year < 2000 else st.integers(500, 999))
    remainder = draw(st.sampled_from([0, 0, 0, 1, 2, 3]))
    first9 = f"{day:02d}{month:02d}{born:%y}{individual:03d}"
    k1 = (remainder - weighted(K1_WEIGHTS, first9)) % 11
    # About one individual number in five has no valid control digit: not a number at all.
    assume(k1 != 10)
    k2 = -weighted(K2_WEIGHTS, f"{first9}{k1}") % 11
    assume(k2 != 10)
    return f"{first9}{k1}{k2}"


@st.composite
def swedish(draw: st.DrawFn) -> str:
    """A valid Swedish number in the stored form YYYYMMDDNNNC: personnummer or samordningsnummer."""
    born = draw(st.dates(date(1900, 1, 1), TODAY))
    day = born.day + draw(st.sampled_from([0, 60]))
    base = f"{born:%y%m}{day:02d}{draw(st.integers(0, 999)):03d}"
    return f"{born:%Y}{base[2:]}{luhn_digit(base)}"


def _no_forms(number: str) -> list[str]:
    return [number, f"{number[:6]} {number[6:]}", f"{number[:6]}-{number[6:]}", f" {number}\t"]


def _se_forms(number: str) -> list[str]:
    born = date(int(number[:4]), int(number[4:6]), 1)
    century_sign = "+" if TODAY.year - born.year >= 100 else "-"
    short = number[2:]
    return [
        number,
        f"{number[:8]}-{number[8:]}",
        f"{short[:6]}{century_sign}{short[6:]}",
        f" {number[:8]} {number[8:]} ",
    ] + ([short] if century_sign == "-" else [])


@given(st.text())
@example("١٢٣٤٥٦٧٨٩٠١")  # Arabic-Indic digits: \d in a str pattern matches them
@example("19900118-٠٠٠٠")
@example("0" * 11)
@example("")
def test_any_text_is_a_number_or_refused_with_the_documented_error(text: str) -> None:
    parsed = _parse(text)
    if parsed is not None:
        assert parsed.country in ("NO", "SE")
        assert parsed.number.isascii() and parsed.number.isdigit()
        assert len(parsed.number) == (11 if parsed.country == "NO" else 12)


@given(st.text(alphabet="0123456789 -+", max_size=16))
def test_digit_strings_are_a_number_or_refused_with_the_documented_error(text: str) -> None:
    parsed = _parse(text)
    if parsed is not None:
        assert _parse(parsed.number) == parsed  # the normal form is a fixed point


@given(norwegian())
def test_a_norwegian_number_typed_any_usual_way_parses_to_one_normal_form(number: str) -> None:
    parsed = {_parse(form) for form in _no_forms(number)}
    assert parsed == {_parse(number)}
    (nid,) = parsed
    assert nid is not None and nid.number == number and nid.country == "NO"
    assert _parse(format_national_id(nid)) == nid


@given(swedish())
def test_a_swedish_number_typed_any_usual_way_parses_to_one_normal_form(number: str) -> None:
    parsed = {_parse(form) for form in _se_forms(number)}
    assert parsed == {_parse(number)}
    (nid,) = parsed
    assert nid is not None and nid.number == number and nid.country == "SE"
    expected = "samordningsnummer" if int(number[6:8]) > 60 else "personnummer"
    assert nid.kind == expected
    assert _parse(format_national_id(nid)) == nid


@given(norwegian(), st.integers(0, 10), st.integers(1, 9))
def test_one_wrong_digit_in_a_norwegian_number_is_refused(
    number: str, position: int, change: int
) -> None:
    # The second control digit weighs every digit 1-7 modulo the prime 11: any one change shows.
    digit = str((int(number[position]) + change) % 10)
    assert _parse(number[:position] + digit + number[position + 1 :]) is None


@given(swedish(), st.integers(2, 11), st.integers(1, 9))
def test_one_wrong_digit_in_a_swedish_number_is_refused(
    number: str, position: int, change: int
) -> None:
    # Luhn covers YYMMDDNNNC; the century digits (0-1) are outside it, so they are not changed.
    digit = str((int(number[position]) + change) % 10)
    assert _parse(number[:position] + digit + number[position + 1 :]) is None


@given(st.dates(TODAY + timedelta(days=1), date(2039, 12, 31)))
def test_a_birth_date_after_today_is_refused(born: date) -> None:
    base = f"{born:%y%m%d}123"
    assert _parse(f"{born:%Y}{base[2:]}{luhn_digit(base)}") is None


# Zero of scripts whose digits int() reads as 0-9: Arabic-Indic, Devanagari, full-width.
_OTHER_ZEROS = (0x660, 0x966, 0xFF10)


@given(st.one_of(norwegian(), swedish()), st.data())
@example("01019010046", None)  # found by hand: ten Arabic-Indic digits and an ASCII check digit
def test_a_number_in_another_scripts_digits_is_refused_not_stored_as_another_key(
    number: str, data: st.DataObject | None
) -> None:
    if data is None:
        positions, zero = list(range(10)), 0x660
    else:
        positions = data.draw(st.sets(st.integers(0, len(number) - 1), min_size=1))
        zero = data.draw(st.sampled_from(_OTHER_ZEROS))
    written = "".join(chr(zero + int(d)) if i in positions else d for i, d in enumerate(number))
    assert _parse(written) is None
