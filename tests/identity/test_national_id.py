from __future__ import annotations

from datetime import date

import pytest
from stdnum.no import fodselsnummer
from stdnum.se import personnummer

from portal.identity.national_id import (
    InvalidNationalId,
    NationalId,
    format_national_id,
    mask_national_id,
    parse_national_id,
)

TODAY = date(2025, 6, 1)

# Numbers are built here with the control-digit rules written out independently of the module
# under test, so a shared mistake cannot make both sides agree.
K1_WEIGHTS = (3, 7, 6, 1, 8, 9, 4, 5, 2)
K2_WEIGHTS = (5, 4, 3, 2, 7, 6, 5, 4, 3, 2)


def weighted(weights: tuple[int, ...], digits: str) -> int:
    return sum(w * int(d) for w, d in zip(weights, digits, strict=True))


def no_number(ddmmyy: str, individual: int, k1_remainder: int = 0) -> str:
    """The first valid number at or after ``individual`` (some give a control digit of 10)."""
    for ind in range(individual, individual + 40):
        first9 = f"{ddmmyy}{ind:03d}"
        k1 = (k1_remainder - weighted(K1_WEIGHTS, first9)) % 11
        if k1 == 10:
            continue
        k2 = -weighted(K2_WEIGHTS, first9 + str(k1)) % 11
        if k2 != 10:
            return f"{first9}{k1}{k2}"
    raise AssertionError("no valid individual number in range")


def luhn_digit(nine: str) -> str:
    total = 0
    for position, char in enumerate(nine):
        value = int(char) * (2 if position % 2 == 0 else 1)
        total += value - 9 if value > 9 else value
    return str(-total % 10)


def se_number(yymmdd: str, serial3: str) -> str:
    return f"{yymmdd}{serial3}{luhn_digit(yymmdd + serial3)}"


def parse(value: str) -> NationalId:
    return parse_national_id(value, today=TODAY)


def rejects(value: str) -> str:
    with pytest.raises(InvalidNationalId) as info:
        parse(value)
    assert info.value.message == str(info.value)
    return info.value.message


# --- Norway --------------------------------------------------------------------------------


@pytest.mark.parametrize("typed", ["15108695088", "151086 95088", "151086-95088", " 1510 8695088 "])
def test_norwegian_number_in_any_usual_spacing(typed: str) -> None:
    nid = parse(typed)
    assert nid == NationalId("NO", "fodselsnummer", "15108695088", date(1986, 10, 15))


def test_norwegian_centuries_follow_the_individual_digits() -> None:
    assert parse(no_number("010190", 100)).birth_date == date(1990, 1, 1)
    assert parse(no_number("010160", 600)).birth_date == date(1860, 1, 1)
    assert parse(no_number("010110", 600)).birth_date == date(2010, 1, 1)
    assert parse(no_number("010145", 950)).birth_date == date(1945, 1, 1)


def test_norwegian_agrees_with_stdnum_on_ordinary_numbers() -> None:
    for number in (no_number("311299", 400), no_number("010203", 500), no_number("020304", 1)):
        assert fodselsnummer.is_valid(number)
        assert parse(number).number == number


def test_norwegian_checksum_error() -> None:
    assert "control digits" in rejects("15108695077")
    good = no_number("150385", 120)
    assert "control digits" in rejects(good[:-1] + str((int(good[-1]) + 1) % 10))


@pytest.mark.parametrize(("ddmmyy", "individual"), [("300290", 100), ("310490", 100)])
def test_norwegian_impossible_dates(ddmmyy: str, individual: int) -> None:
    assert "not a real date" in rejects(no_number(ddmmyy, individual))


def test_norwegian_29_february_depends_on_the_century() -> None:
    assert parse(no_number("290200", 500)).birth_date == date(2000, 2, 29)
    assert "not a real date" in rejects(no_number("290200", 100))  # 1900 was no leap year


def test_d_number() -> None:
    nid = parse(no_number("520888", 150))
    assert (nid.kind, nid.birth_date) == ("d_number", date(1988, 8, 12))
    assert "not a real date" in rejects(no_number("720888", 150))  # day 32


def test_h_number() -> None:
    nid = parse(no_number("154290", 100))
    assert (nid.kind, nid.birth_date) == ("h_number", date(1990, 2, 15))


def test_fh_number_is_not_accepted() -> None:
    assert "FH-number" in rejects(no_number("812345", 100))


def test_birth_date_in_the_future() -> None:
    assert "future" in rejects(no_number("010126", 500))  # 2026, after TODAY


@pytest.mark.parametrize("remainder", [1, 2, 3])
def test_2032_rule_accepts_k1_remainders_up_to_3(remainder: int) -> None:
    number = no_number("150385", 900, k1_remainder=remainder)
    assert not fodselsnummer.is_valid(number)  # stdnum knows only remainder 0
    nid = parse(number)
    assert (nid.country, nid.kind, nid.number) == ("NO", "fodselsnummer", number)
    assert nid.birth_date is None  # the century is no longer in the individual digits


def test_2032_rule_still_rejects_other_remainders() -> None:
    assert "control digits" in rejects(no_number("150385", 900, k1_remainder=4))


def test_2032_rule_still_checks_the_date_and_kind() -> None:
    assert parse(no_number("550385", 900, k1_remainder=2)).kind == "d_number"
    assert "not a real date" in rejects(no_number("300285", 900, k1_remainder=2))


def test_individual_digits_outside_the_old_table_have_no_birth_date() -> None:
    number = no_number("010145", 800)  # 800-899 meant no century with a year of 40 or later
    assert not fodselsnummer.is_valid(number)
    assert parse(number).birth_date is None


# --- Sweden --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "typed", ["880320-0016", "8803200016", "19880320-0016", "198803200016", "880320 - 0016"]
)
def test_swedish_number_with_or_without_century_and_separator(typed: str) -> None:
    nid = parse(typed)
    assert nid == NationalId("SE", "personnummer", "198803200016", date(1988, 3, 20))
    assert personnummer.is_valid(typed.replace(" ", ""))


def test_swedish_plus_means_a_hundred_years_or_more() -> None:
    number = se_number("200905", "121")
    assert parse(f"{number[:6]}+{number[6:]}").birth_date == date(1920, 9, 5)
    assert parse(f"{number[:6]}-{number[6:]}").birth_date == date(2020, 9, 5)
    assert parse(f"19{number}").birth_date == date(1920, 9, 5)


def test_swedish_century_window_moves_with_today() -> None:
    number = se_number("300101", "123")
    assert parse_national_id(number, today=date(2025, 1, 1)).birth_date == date(1930, 1, 1)
    assert parse_national_id(number, today=date(2031, 1, 1)).birth_date == date(2030, 1, 1)
    # From the year someone turns 100 their separator is "+": the same digits, a century earlier.
    assert parse_national_id(f"{number[:6]}+{number[6:]}", today=date(2030, 1, 1)).birth_date == (
        date(1930, 1, 1)
    )


def test_swedish_later_this_year_is_in_the_future() -> None:
    assert "future" in rejects(se_number("251201", "123"))


def test_swedish_checksum_error() -> None:
    assert "check digit" in rejects("880320-0018")


def test_swedish_impossible_date() -> None:
    assert "not a real date" in rejects(se_number("900230", "123"))
    assert "not a real date" in rejects(se_number("010229", "123"))  # 2001 was no leap year
    assert parse(se_number("000229", "123")).birth_date == date(2000, 2, 29)


def test_samordningsnummer() -> None:
    number = se_number("850374", "451")  # born 14 March 1985: day + 60
    assert not personnummer.is_valid(number)  # what python-stdnum lacks
    nid = parse(number)
    assert nid == NationalId("SE", "samordningsnummer", f"19{number}", date(1985, 3, 14))
    assert parse(f"19{number[:6]}-{number[6:]}") == nid


def test_samordningsnummer_impossible_date_and_checksum() -> None:
    assert "not a real date" in rejects(se_number("850290", "451"))  # 30 February
    good = se_number("850374", "451")
    assert "check digit" in rejects(good[:-1] + str((int(good[-1]) + 1) % 10))


# --- input shape, formatting, masking --------------------------------------------------------


@pytest.mark.parametrize("typed", ["", "   ", "abc", "12345", "1234567890123", "8803200016x"])
def test_wrong_shapes_are_rejected_with_a_message(typed: str) -> None:
    assert rejects(typed)


def test_country_can_be_required() -> None:
    with pytest.raises(InvalidNationalId):
        parse_national_id("15108695088", country="SE", today=TODAY)
    with pytest.raises(InvalidNationalId):
        parse_national_id("8803200016", country="NO", today=TODAY)
    assert parse_national_id("15108695088", country="NO", today=TODAY).country == "NO"


def test_format_and_mask() -> None:
    norwegian, swedish = parse("15108695088"), parse("880320-0016")
    assert format_national_id(norwegian) == "151086 95088"
    assert format_national_id(swedish) == "19880320-0016"
    assert mask_national_id(norwegian) == "151086 *****"
    assert mask_national_id(swedish) == "19880320-****"
    assert parse(format_national_id(norwegian)) == norwegian
    assert parse(format_national_id(swedish)) == swedish
    assert "95088" not in mask_national_id(norwegian)
