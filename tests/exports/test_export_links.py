"""Signed download links: bound to a person, an export and a file; expiring by our clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from portal.exports.links import DownloadLink, LinkRefused, Refusal, check, read, sign
from portal.exports.models import ExportFile

SECRET = "s" * 40
EXPIRES = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
LINK = DownloadLink(subject_id=7, export_id="abc123", file=ExportFile.zip, expires_at=EXPIRES)


def refusal(action) -> Refusal:
    with pytest.raises(LinkRefused) as caught:
        action()
    return caught.value.reason


def test_a_link_reads_back_as_signed() -> None:
    token = sign(SECRET, LINK)
    assert read(SECRET, token) == LINK
    check(read(SECRET, token), 7, EXPIRES - timedelta(seconds=1))
    # Only internal ids travel in it: no national ID number, name or address.
    assert set(token) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.")


def test_a_link_signed_with_another_key_or_changed_is_invalid() -> None:
    token = sign(SECRET, LINK)
    other = sign("t" * 40, LINK)
    pdf = sign(SECRET, DownloadLink(7, "abc123", ExportFile.pdf, EXPIRES))
    swapped = token.split(".")[0] + "." + pdf.split(".")[1]  # another link's signature
    for bad in (other, swapped, token + "x", "", "abc.def"):
        assert refusal(lambda bad=bad: read(SECRET, bad)) == Refusal.invalid


def test_a_link_is_for_one_person_and_until_it_expires() -> None:
    link = read(SECRET, sign(SECRET, LINK))
    assert refusal(lambda: check(link, 8, EXPIRES - timedelta(days=1))) == Refusal.other_person
    assert refusal(lambda: check(link, 7, EXPIRES)) == Refusal.expired
