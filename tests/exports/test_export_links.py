"""Download links: a signed-in person's bound to them, an export and a file; an e-mailed one
bound to a request and a file; both expiring by our clock (made with portal/links.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from portal.exports.links import (
    DownloadLink,
    LinkRefused,
    Refusal,
    personal_link,
    read_personal,
    read_request,
    request_link,
)
from portal.exports.models import ExportFile

SECRET = "s" * 40
EXPIRES = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
BEFORE = EXPIRES - timedelta(seconds=1)


def refusal(action) -> Refusal:
    with pytest.raises(LinkRefused) as caught:
        action()
    return caught.value.reason


def personal(file: ExportFile = ExportFile.zip, secret: str = SECRET) -> str:
    return personal_link(secret, subject_id=7, export_id="abc123", file=file, expires_at=EXPIRES)


def test_a_link_reads_back_as_signed() -> None:
    token = personal()
    assert read_personal(SECRET, token, subject_id=7, now=BEFORE) == DownloadLink(
        file=ExportFile.zip, export_id="abc123"
    )
    # Only internal ids travel in it: no national ID number, name or address.
    assert set(token) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.")


def test_a_link_signed_with_another_key_or_changed_is_invalid() -> None:
    token = personal()
    pdf = personal(ExportFile.pdf)
    swapped = token.split(".")[0] + "." + pdf.split(".")[1]  # another link's signature
    for bad in (personal(secret="t" * 40), swapped, token + "x", "", "abc.def"):
        assert refusal(lambda bad=bad: read_personal(SECRET, bad, subject_id=7, now=BEFORE)) == (
            Refusal.invalid
        )


def test_a_link_is_for_one_person_and_until_it_expires() -> None:
    token = personal()
    assert refusal(lambda: read_personal(SECRET, token, subject_id=8, now=BEFORE)) == (
        Refusal.other_person
    )
    assert refusal(lambda: read_personal(SECRET, token, subject_id=7, now=EXPIRES)) == (
        Refusal.expired
    )


def test_an_emailed_link_is_bound_to_its_request_and_is_no_personal_link() -> None:
    token = request_link(SECRET, request_id=42, file=ExportFile.pdf, expires_at=EXPIRES)
    assert read_request(SECRET, token, now=BEFORE) == DownloadLink(
        file=ExportFile.pdf, request_id=42
    )
    assert refusal(lambda: read_request(SECRET, token, now=EXPIRES)) == Refusal.expired
    # Each purpose signs with its own salt: one kind of link is never taken for the other.
    assert refusal(lambda: read_personal(SECRET, token, subject_id=7, now=BEFORE)) == (
        Refusal.invalid
    )
    assert refusal(lambda: read_request(SECRET, personal(), now=BEFORE)) == Refusal.invalid
