"""Valid national ID numbers for fake people, fast enough for 100,000 of them.

Faker's ``ssn()`` gives valid numbers too, but may repeat; these are built from a birth date and a
serial so that each person gets a distinct number. Tests check them with
portal.identity.national_id.
"""

from __future__ import annotations

from datetime import date

from stdnum import luhn

_K1 = (3, 7, 6, 1, 8, 9, 4, 5, 2)
_K2 = (5, 4, 3, 2, 7, 6, 5, 4, 3, 2)


def _control(digits: str, weights: tuple[int, ...]) -> int | None:
    remainder = 11 - sum(w * int(d) for w, d in zip(weights, digits, strict=True)) % 11
    if remainder == 11:
        return 0
    return None if remainder == 10 else remainder


def no_fodselsnummer(birth: date, individual: int) -> str | None:
    """An 11-digit Norwegian number, or None when this individual number has no valid control
    digits (about one in five). ``individual`` must suit the century: 0-499 for 1900-1999,
    500-999 for 2000-2039."""
    base = f"{birth:%d%m%y}{individual:03d}"
    k1 = _control(base, _K1)
    if k1 is None:
        return None
    k2 = _control(f"{base}{k1}", _K2)
    return None if k2 is None else f"{base}{k1}{k2}"


def se_personnummer(birth: date, serial: int) -> str:
    """A 12-digit Swedish number YYYYMMDDNNNC (the form portal.identity.national_id stores)."""
    base = f"{birth:%y%m%d}{serial:03d}"
    return f"{birth:%Y}{base[2:]}{luhn.calc_check_digit(base)}"


def no_individual_range(birth: date) -> range:
    return range(0, 500) if birth.year < 2000 else range(500, 1000)


def se_samordningsnummer(birth: date, serial: int) -> str:
    """A 12-digit Swedish co-ordination number: the day of birth plus 60."""
    base = f"{birth:%y%m}{birth.day + 60:02d}{serial:03d}"
    return f"{birth:%Y}{base[2:]}{luhn.calc_check_digit(base)}"
