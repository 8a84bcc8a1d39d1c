"""Phone numbers as E.164, the one form the block list, washing and the API compare.

``phonenumbers`` decides every case; the fast path below only spares it the common shapes of a
call list (``+47 912 34 567``, ``0047 91234567``, ``91234567``), where it costs most of the time
of a million-row wash. The fast path returns exactly what ``phonenumbers`` would (a test compares
the two over many generated numbers) and hands everything else to it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import phonenumbers

# Separators people type inside numbers; removed before the fast path looks at the digits. Not
# a tab: phonenumbers ends a number at one, and the fast path must answer exactly as it does.
_SEPARATORS = str.maketrans("", "", " -.()/\u00a0")


@dataclass(frozen=True)
class _Region:
    code: str  # the country calling code, e.g. "47"
    national_prefix: str  # "0" in Sweden, "" in Norway
    lengths: frozenset[int]  # possible lengths of the national number


@lru_cache(maxsize=64)
def _region(region: str) -> _Region | None:
    metadata = phonenumbers.PhoneMetadata.metadata_for_region(region)
    if metadata is None:
        return None
    lengths = frozenset(metadata.general_desc.possible_length or ())
    return _Region(str(metadata.country_code), metadata.national_prefix or "", lengths)


def normalise_phone(text: str, region: str) -> str | None:
    """The number in E.164 (``+4791234567``), or None when it is not a possible phone number."""
    compact = text.translate(_SEPARATORS)
    fast = _fast(compact, region)
    return fast if fast is not None else _slow(text.strip(), region)


def _fast(compact: str, region: str) -> str | None:
    known = _region(region)
    # ASCII only: str.isdigit() also passes other scripts' digits (full-width ９), which the
    # fast path would have copied into the "E.164" number; phonenumbers converts them.
    if known is None or not compact or not compact.isascii():
        return None
    if compact[0] == "+":
        digits = compact[1:]
    elif compact.startswith("00"):
        digits = compact[2:]
    else:
        digits = ""
    if digits:
        national = digits[len(known.code) :]
        if not digits.startswith(known.code) or not national.isdigit():
            return None
    else:
        if not compact.isdigit():
            return None
        prefix = known.national_prefix
        if prefix and not compact.startswith(prefix):
            return None
        national = compact[len(prefix) :]
    # A national number starting with the trunk prefix (or 0 at all) is left to phonenumbers.
    if not national or national[0] == "0" or len(national) not in known.lengths:
        return None
    return f"+{known.code}{national}"


def key_function(region: str) -> Callable[[str], int | None]:
    """What washing compares per row: a number as an integer, its E.164 digits
    (``+47 912 34 567`` -> 4791234567), or None when it is not a possible phone number.

    The same answer as ``phone_key(normalise_phone(text, region))`` for every text (a test
    compares them). A region's common shapes, with spaces at most, are matched by one compiled
    pattern in about a third of ``normalise_phone``'s time; a text the pattern does not match
    goes the whole way. Removing only spaces first is enough: if what is left matches, it holds
    nothing but ``+`` and digits, which is what removing every separator would have left too.
    """
    pattern = _pattern(region)
    known = _region(region)
    code = known.code if known is not None else ""

    def key(text: str) -> int | None:
        if pattern is not None:
            found = pattern.fullmatch(text.replace(" ", ""))
            if found is not None:
                return int(code + (found[1] or found[2]))
        return phone_key(normalise_phone(text, region))

    return key


def keys_function(region: str) -> Callable[[list[str]], list[int | None]]:
    """``key_function`` for a list of texts at once (a column of a batch of a wash), text by
    text the same answer (a test compares them).

    When every text, spaces removed, is of the region's common shapes (one regular expression
    over the texts joined by newlines), the keys come from C-level string operations: each
    international prefix (``+47``, ``0047``) marked, the trunk prefix of national numbers
    removed, the country code put in front of every national number, ``int`` of each line;
    about 0.3 against 0.9 µs a text. Any other list goes text by text.
    """
    one = key_function(region)
    every = _every(region)
    known = _region(region)
    if every is None or known is None:
        return lambda texts: list(map(one, texts))
    code, prefix = known.code, known.national_prefix

    def keys(texts: list[str]) -> list[int | None]:
        joined = "\n".join(texts).replace(" ", "")
        if not texts or joined.count("\n") != len(texts) - 1 or not every.fullmatch(joined):
            return list(map(one, texts))
        # Each line is "+" code national, "00" code national, or prefix national, the national
        # number starting with 1-9: mark the first two "#" so that removing the prefix cannot
        # touch them (the United States' prefix and code are both "1").
        marked = ("\n" + joined).replace("\n+" + code, "\n#").replace("\n00" + code, "\n#")
        if prefix:
            marked = marked.replace("\n" + prefix, "\n")
        digits = marked.replace("\n#", "\n").replace("\n", "\n" + code)
        return list(map(int, digits[1:].split("\n")))

    return keys


@lru_cache(maxsize=64)
def _every(region: str) -> re.Pattern[str] | None:
    """Lines (joined by newlines) each of which ``_pattern`` matches whole: the same shapes,
    without groups, the longest national length tried first and the repetition possessive
    (a line's parse is unique), 90 against 200 ns a line."""
    known = _region(region)
    # A trunk prefix that could be read as an international one ("00", "+") is left alone.
    if known is None or not known.lengths or known.national_prefix.startswith(("00", "+")):
        return None
    rest = "|".join(f"[0-9]{{{length - 1}}}" for length in sorted(known.lengths, reverse=True))
    line = rf"(?:(?:\+|00){known.code}|{re.escape(known.national_prefix)})[1-9](?:{rest})"
    return re.compile(rf"{line}(?:\n{line})*+")


def phone_key(e164: str | None) -> int | None:
    """An E.164 number as an integer (``+4791234567`` -> 4791234567); None for anything else.
    E.164 digits never start with 0, so no two numbers share one."""
    if e164 is None or not e164.startswith("+"):
        return None
    digits = e164[1:]
    if not digits.isascii() or not digits.isdigit() or digits[0] == "0":
        return None
    return int(digits)


@lru_cache(maxsize=64)
def _pattern(region: str) -> re.Pattern[str] | None:
    """The region's numbers as ``_fast`` takes them, separators gone: international with its
    country code (``+47``, ``0047``) or national (after the trunk prefix, if the region has one),
    a national number of a possible length not starting with 0. ASCII digits only."""
    known = _region(region)
    if known is None or not known.lengths:
        return None
    rest = "|".join(f"[0-9]{{{length - 1}}}" for length in sorted(known.lengths))
    national = f"([1-9](?:{rest}))"
    prefix = re.escape(known.national_prefix)
    return re.compile(rf"(?:\+|00){known.code}{national}|{prefix}{national}")


@lru_cache(maxsize=4096)
def _slow(text: str, region: str) -> str | None:
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


# What a company's database may hold a number as, once the separators are gone (the data map's
# matching compares a column with these removed: datamap/matching.py). Kept short so that an
# expression index on the column stays cheap; tabs and no-break spaces are not removed there.
STORED_SEPARATORS = " -.()/"


def stored_forms(e164: str, region: str) -> tuple[str, ...]:
    """The compact forms (no separators) a number may be stored in by a company of ``region``:
    international (``+4722442222``, ``004722442222``) and, for a number of that region only,
    national (``22442222``; ``0701234567`` and ``+460701234567`` where the region has a trunk
    prefix). A number of another region is never matched by its national form: the same
    digits there are someone else's number."""
    if not e164.startswith("+") or not e164[1:].isdigit():
        return (e164,)
    forms = [e164, "00" + e164[1:]]
    known = _region(region)
    if known is not None and e164[1:].startswith(known.code):
        national = e164[1 + len(known.code) :]
        forms.append(known.national_prefix + national)
        if known.national_prefix:
            forms.append(f"+{known.code}{known.national_prefix}{national}")
    # Only forms read back as this very number: behind a national number that itself starts
    # with 0 (possible to phonenumbers in some regions), the trunk prefix makes another number.
    others = (form for form in dict.fromkeys(forms[1:]) if normalise_phone(form, region) == e164)
    return (e164, *others)
