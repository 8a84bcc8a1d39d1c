"""Phone numbers under arbitrary input: normalising never raises and gives E.164 in ASCII or
None, is idempotent, gives the same answer as phonenumbers itself (the fast path is only a
shortcut), and every form people type one number in normalises to the same value."""

from __future__ import annotations

import contextlib
import re

import phonenumbers
from hypothesis import example, given
from hypothesis import strategies as st

from portal.phone_numbers import (
    _slow,
    key_function,
    keys_function,
    normalise_phone,
    phone_key,
    stored_forms,
)

E164 = re.compile(r"\+[1-9][0-9]{1,14}")
REGIONS = st.sampled_from(["NO", "SE", "DK", "FI", "GB"])
# What call lists hold: digits (some of other scripts, which phonenumbers reads as digits),
# the separators people type, plus signs and a few letters.
TYPED = st.text(alphabet="0123456789+-. ()/\u00a0\t０９٠٩²abcx", max_size=24)
# The shapes the wash's pattern takes: a prefix, then digits in groups with spaces.
GROUPED = st.builds(
    "".join,
    st.lists(
        st.sampled_from(["+", "00", "0", " ", "4", "6", "7", "9", "1", "0", "5", "358", "44"]),
        max_size=16,
    ),
)


@given(st.one_of(st.text(max_size=40), TYPED), REGIONS)
@example("+47９１２３４５６７", "NO")  # full-width digits: the fast path took them as they are
@example("²²²²²²²²", "NO")  # superscripts pass str.isdigit()
def test_any_text_normalises_to_ascii_e164_or_none(text: str, region: str) -> None:
    normal = normalise_phone(text, region)
    assert normal is None or E164.fullmatch(normal), normal


@given(st.one_of(st.text(max_size=40), TYPED), REGIONS)
@example("+47９１２３４５６７", "NO")
@example("1000\t0", "NO")  # found by the long profile: a tab was a separator to the fast path only
def test_the_fast_path_answers_as_phonenumbers_does(text: str, region: str) -> None:
    assert normalise_phone(text, region) == _slow(text.strip(), region)


@given(st.one_of(st.text(max_size=40), TYPED, GROUPED), REGIONS)
@example("+47 912 34 567", "NO")
@example("0046 70 123 45 67", "SE")
@example("+46 070 123 45 67", "SE")  # the trunk prefix after the country code
@example("0047 0912 3456", "NO")
@example("+47\u00a0912 34 567", "NO")  # a no-break space: only spaces are the pattern's
def test_washing_keys_are_the_normalised_numbers_as_integers(text: str, region: str) -> None:
    # The wash's per-row key (a pattern for the common shapes) must agree with normalise_phone.
    assert key_function(region)(text) == phone_key(normalise_phone(text, region))


# Lists a wash's column may hold: mostly the common shapes (the batch's fast path), sometimes
# one text that is not (the whole list then goes text by text), and a newline inside a text.
REGIONS_WITH_PREFIX = st.sampled_from(["NO", "SE", "DK", "FI", "GB", "US", "RU"])
COMMON = st.builds(
    str.__add__,
    st.sampled_from(["+47 ", "0047", "", "0", "+46 ", "0046", "+1", "001", "1", "+44", "8", "+7"]),
    st.from_regex(r"[1-9][0-9]{4,11}", fullmatch=True),
)


@given(
    st.lists(st.one_of(COMMON, COMMON, GROUPED, TYPED, st.just("1\n2"), st.just("")), max_size=12),
    REGIONS_WITH_PREFIX,
)
@example(["+1 1234567890", "11234567890", "001 2345678901", "2345678901"], "US")
@example(["070 123 45 67", "+46 70 123 45 67", "0046701234567"], "SE")
@example(["+47 912 34 567", "0047 91234567", "91234567", "22442"], "NO")
def test_a_columns_keys_at_once_are_its_keys_one_by_one(texts: list[str], region: str) -> None:
    one = key_function(region)
    assert keys_function(region)(texts) == [one(text) for text in texts]


@given(st.one_of(st.text(max_size=20), st.from_regex(r"\+[0-9]{1,17}", fullmatch=True)))
def test_a_number_is_keyed_by_its_e164_digits_and_nothing_else_is(text: str) -> None:
    key = phone_key(text)
    if re.fullmatch(r"\+[1-9][0-9]*", text, flags=re.ASCII):
        assert key == int(text[1:]) and f"+{key}" == text  # one key per number, and back
    else:
        assert key is None


@given(st.one_of(st.text(max_size=40), TYPED), REGIONS)
def test_normalising_is_idempotent(text: str, region: str) -> None:
    normal = normalise_phone(text, region)
    if normal is not None:
        assert normalise_phone(normal, region) == normal
        # Every form a company may store the number in leads back to it.
        for form in stored_forms(normal, region):
            assert normalise_phone(form, region) == normal


def _groups(digits: str, sizes: list[int], separator: str) -> str:
    parts, start = [], 0
    for size in sizes:
        parts.append(digits[start : start + size])
        start += size
    parts.append(digits[start:])
    return separator.join(part for part in parts if part)


@st.composite
def norwegian_mobile(draw: st.DrawFn) -> str:
    return draw(st.sampled_from("49")) + draw(st.text("0123456789", min_size=7, max_size=7))


@st.composite
def swedish_mobile(draw: st.DrawFn) -> str:
    """The national significant number (without the trunk 0): 70, 72, 73, 76 or 79 + 7 digits."""
    return (
        "7" + draw(st.sampled_from("02369")) + draw(st.text("0123456789", min_size=7, max_size=7))
    )


SEPARATORS = st.sampled_from([" ", "-", ".", "", " - "])
GROUPING = st.lists(st.integers(1, 4), max_size=4)


@given(norwegian_mobile(), SEPARATORS, GROUPING)
def test_the_forms_of_a_norwegian_number_normalise_alike(
    national: str, separator: str, sizes: list[int]
) -> None:
    grouped = _groups(national, sizes, separator)
    forms = [
        national,
        grouped,
        f"+47 {grouped}",
        f"+47{separator}{grouped}",
        f"0047 {grouped}",
        f"(+47) {grouped}",
        f"  {grouped}  ",
    ]
    assert {form: normalise_phone(form, "NO") for form in forms} == dict.fromkeys(
        forms, f"+47{national}"
    )
    # From a Swedish list, a number is Norwegian only with its country code.
    assert normalise_phone(f"+47 {grouped}", "SE") == f"+47{national}"


@given(swedish_mobile(), SEPARATORS, GROUPING)
def test_the_forms_of_a_swedish_number_normalise_alike(
    national: str, separator: str, sizes: list[int]
) -> None:
    grouped = _groups(national, sizes, separator)
    forms = [
        f"0{national}",
        f"0{grouped}",
        f"+46 {grouped}",
        f"0046{separator}{grouped}",
        f"(+46) {grouped}",
        f"+46 (0){grouped}",
        f"0{national[:2]}-{national[2:]}",
    ]
    assert {form: normalise_phone(form, "SE") for form in forms} == dict.fromkeys(
        forms, f"+46{national}"
    )


@given(st.text(max_size=40), REGIONS)
def test_phonenumbers_itself_refuses_only_with_its_own_error(text: str, region: str) -> None:
    # _slow catches NumberParseException alone; anything else would reach washing as a crash.
    with contextlib.suppress(phonenumbers.NumberParseException):
        phonenumbers.parse(text, region)
