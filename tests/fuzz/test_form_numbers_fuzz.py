"""Numbers typed into the DPO's forms: any text is a number or a refusal, never a crash.
``str.isdigit()`` passes superscripts ("²") that ``int()`` refuses, so the checks use
``isdecimal()`` (found while fuzzing phone numbers, whose fast path had the same mistake)."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import example, given
from hypothesis import strategies as st

from portal.views.common import ActionRefused
from portal.views.dpo_queue import assign_from_form
from portal.views.holds import _request_id, _typed_key

DIGITS_AND_MORE = st.text(alphabet="0123456789²³¹٣९０ x-", max_size=12)


@given(DIGITS_AND_MORE)
@example("²")
def test_a_hold_forms_request_number_is_a_number_or_refused(text: str) -> None:
    try:
        number = _request_id({"request_id": text})
    except ActionRefused:
        return
    assert number is None or number >= 0


@given(DIGITS_AND_MORE)
@example("²")
def test_a_stored_key_reads_as_a_whole_number_only_in_ascii_digits(key: str) -> None:
    typed = _typed_key(key)
    assert typed == key or (isinstance(typed, int) and key.isascii() and int(key) == typed)


@given(DIGITS_AND_MORE)
@example("²")
def test_an_assignment_of_a_request_number_that_is_not_one_is_refused(text: str) -> None:
    # Refused before the database is touched: no engine is needed for a number that is not one.
    if text.isdecimal() and len(text) < 10:
        return
    now = datetime(2026, 11, 24, tzinfo=UTC)
    assigned = assign_from_form(None, {"assign_one": text}, [], staff_id=1, now=now)  # type: ignore[arg-type]
    assert assigned.refused
