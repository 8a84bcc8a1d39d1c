"""Norwegian and Swedish national identity numbers: parse, normalise, format, mask.

python-stdnum does the ordinary work (cleaning input, the Norwegian mod-11 check digits, the Luhn
digit). Two rules it lacks are added here:

* Swedish *samordningsnummer* (co-ordination numbers): the day of birth plus 60, so 1990-01-18
  becomes ``900178``; ``stdnum.se.personnummer`` rejects them as a bad date.
* Norway's numbers from 2032 (Skatteetaten, "nytt fødselsnummer fra 2032"). The first control
  digit k1 may be chosen so that the weighted sum of the first ten digits (weights
  3 7 6 1 8 9 4 5 2 1) leaves a remainder of 0, 1, 2 or 3 modulo 11; until now only 0. k2 is
  computed as before, from the k1 actually present. The individual digits no longer tell the
  century (they count down from 999 and carry no gender), so for a number only the new rule
  accepts, or whose individual digits fit no century of the old table, the birth date is unknown
  and ``birth_date`` is ``None``. navikt/fnrvalidator reads the rule the same way.

The normalised ``number`` is what the database stores: 11 digits for Norway, 12 (YYYYMMDDNNNC) for
Sweden, so that one person always has one key whatever way the number was typed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Literal

from stdnum import luhn
from stdnum.no import fodselsnummer
from stdnum.se import personnummer

Country = Literal["NO", "SE"]

# Weights of the first control digit over digits 1-10 (k1 itself weighs 1); the 2032 rule accepts
# these remainders modulo 11 (the old rule only 0).
_K1_WEIGHTS = (3, 7, 6, 1, 8, 9, 4, 5, 2, 1)
_K1_REMAINDERS_2032 = frozenset({0, 1, 2, 3})

# ASCII digits only, here and below: ``\d`` also matches other scripts' digits (Arabic-Indic,
# full-width), which int() reads, so a number written in them passed the check digits and was
# stored as a second, different key for the same person.
_SE_INPUT = re.compile(
    r"^(?P<century>[0-9]{2})?(?P<date>[0-9]{6})(?P<sep>[-+]?)(?P<serial>[0-9]{4})$"
)


class InvalidNationalId(ValueError):
    """The text is not a valid national identity number; ``message`` says why, for people."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class NationalId:
    """A validated national identity number in its normalised compact form."""

    country: Country
    kind: str  # fodselsnummer, d_number, h_number | personnummer, samordningsnummer
    number: str  # NO: 11 digits; SE: 12 digits YYYYMMDDNNNC
    birth_date: date | None

    def __str__(self) -> str:
        return self.number


def parse_national_id(
    value: str, *, country: Country | None = None, today: date | None = None
) -> NationalId:
    """Parse a Norwegian or Swedish number typed in any of the usual ways.

    The country follows from the digit count (11 is Norwegian; 10 or 12 Swedish) unless
    ``country`` restricts it. ``today`` decides the century of a 10-digit Swedish number and
    whether a birth date lies in the future. It is the one default of the wall clock in the
    domain, on purpose: a number typed or stored is judged against the real date (a test that
    depends on it passes ``today``), and threading a date through every block-list, washing and
    sign-in caller would change no result a test could see.
    """
    today = today or date.today()
    text = value.strip() if isinstance(value, str) else ""
    if not text:
        raise InvalidNationalId("Enter a national identity number.")
    digits = re.sub(r"[^0-9]", "", text)
    if country == "NO" or (country is None and len(digits) == 11):
        return _parse_no(text, today)
    if country == "SE" or (country is None and len(digits) in (10, 12)):
        return _parse_se(text, today)
    raise InvalidNationalId(
        "A national identity number has 11 digits (Norway) or 10 or 12 digits (Sweden); "
        f"this has {len(digits)}."
    )


def format_national_id(nid: NationalId) -> str:
    """The usual written form: ``DDMMYY NNNNN`` in Norway, ``YYYYMMDD-NNNN`` in Sweden."""
    if nid.country == "NO":
        return fodselsnummer.format(nid.number)
    return f"{nid.number[:8]}-{nid.number[8:]}"


def mask_national_id(nid: NationalId) -> str:
    """The date part only, for screens and logs that must not show the whole number."""
    if nid.country == "NO":
        return f"{nid.number[:6]} *****"
    return f"{nid.number[:8]}-****"


# --- Norway ---------------------------------------------------------------------------------


def _parse_no(text: str, today: date) -> NationalId:
    number = fodselsnummer.compact(text)
    if not re.fullmatch(r"[0-9]{11}", number):
        raise InvalidNationalId(
            "A Norwegian national identity number has 11 digits (spaces are allowed)."
        )
    if not _no_check_digits_ok(number):
        raise InvalidNationalId(
            "The control digits do not match: check the number for a typing error."
        )
    kind, day, month = _no_kind(number)
    birth_date = _no_birth_date(number, day, month)
    if birth_date is not None and birth_date > today:
        raise InvalidNationalId("The birth date in this number lies in the future.")
    return NationalId("NO", kind, number, birth_date)


def _k1_remainder(number: str) -> int:
    return sum(w * int(d) for w, d in zip(_K1_WEIGHTS, number, strict=False)) % 11


def _no_check_digits_ok(number: str) -> bool:
    # stdnum's calc_check_digit1 knows only remainder 0; the 2032 rule also allows 1-3.
    k1_ok = _k1_remainder(number) in _K1_REMAINDERS_2032
    return k1_ok and number[10] == fodselsnummer.calc_check_digit2(number)


def _no_kind(number: str) -> tuple[str, int, int]:
    """The kind of number and the real day and month it encodes."""
    day, month = int(number[0:2]), int(number[2:4])
    if day >= 80:
        # FH-numbers (health-sector auxiliary numbers) carry no date and identify nobody outside
        # the health service; a data subject never signs in with one.
        raise InvalidNationalId(
            "This is a health-sector auxiliary number (FH-number), not a national identity number."
        )
    if day > 40:
        return "d_number", day - 40, month
    if month > 40:
        return "h_number", day, month - 40
    return "fodselsnummer", day, month


def _no_birth_date(number: str, day: int, month: int) -> date | None:
    """The birth date by the pre-2032 century table; None where the century cannot be known."""
    yy = int(number[4:6])
    century = _no_century(number) if number[9] == fodselsnummer.calc_check_digit1(number) else None
    try:
        # Without a century, 2000 + yy is a leap year exactly when some century makes it one
        # (yy = 00 included), so 29 February passes whenever it can be real.
        born = date((century or 2000) + yy, month, day)
    except ValueError:
        raise InvalidNationalId(
            "The first six digits are not a real date (DDMMYY): check the number."
        ) from None
    return born if century else None


def _no_century(number: str) -> int | None:
    """Century from the individual digits (Skatteetaten's table for numbers issued until 2032)."""
    yy, individual = int(number[4:6]), int(number[6:9])
    if individual < 500:
        return 1900
    if individual < 750 and yy >= 54:
        return 1800
    if yy < 40:
        return 2000
    if individual >= 900:
        return 1900
    return None  # outside the table: possible only for a number issued from 2032


# --- Sweden ---------------------------------------------------------------------------------


def _parse_se(text: str, today: date) -> NationalId:
    match = _SE_INPUT.fullmatch(re.sub(r"\s", "", text))
    if match is None:
        raise InvalidNationalId(
            "A Swedish personal identity number is written YYMMDD-NNNN, YYMMDD+NNNN "
            "or YYYYMMDD-NNNN."
        )
    yymmdd, serial = match["date"], match["serial"]
    if not luhn.is_valid(yymmdd + serial):
        raise InvalidNationalId("The check digit does not match: check the number for a typo.")
    month, day = int(yymmdd[2:4]), int(yymmdd[4:6])
    kind = "personnummer"
    if day > 60:
        kind, day = "samordningsnummer", day - 60
    if match["century"]:
        year = int(match["century"] + yymmdd[:2])
    else:
        year = _se_year(int(yymmdd[:2]), plus=match["sep"] == "+", today=today)
    try:
        birth_date = date(year, month, day)
    except ValueError:
        raise InvalidNationalId(
            "The date part is not a real date (YYMMDD, or day + 60 for a samordningsnummer)."
        ) from None
    if birth_date > today:
        raise InvalidNationalId("The birth date in this number lies in the future.")
    number = f"{year:04d}{yymmdd[2:]}{serial}"
    if kind == "personnummer" and not personnummer.is_valid(f"{number[:8]}-{serial}"):
        # stdnum knows ordinary personnummer only; it must agree with us on those.
        raise InvalidNationalId("This is not a valid Swedish personal identity number.")
    return NationalId("SE", kind, number, birth_date)


def _se_year(yy: int, *, plus: bool, today: date) -> int:
    """The birth year of a 10-digit number: '-' under 100 years of age this year, '+' from 100.

    Folkbokföringslagen § 18: the separator becomes '+' in the year the person turns 100.
    """
    year = today.year - (today.year - yy) % 100  # latest year ending in yy, not after this one
    return year - 100 if plus else year
