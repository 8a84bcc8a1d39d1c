"""Signed download links: bound to one person and one file of one export, expiring.

A link carries, signed with SECRET_KEY (itsdangerous, its own salt): the subject's internal id,
the export's random id, the file kind and the moment it expires. None of these is personal
data. The expiry is checked against the portal's clock (so tests control it) rather than the
time the link was signed. The route checks the rest: the signed-in person must be the one the
link was made for, and must have signed in within FRESH_SIGN_IN_SECONDS.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from itsdangerous import BadSignature, URLSafeSerializer

from portal.exports.models import ExportFile

SALT = "innsyn.export-download"


class Refusal(StrEnum):
    """Why a link is refused; each has its own clear page."""

    invalid = "invalid"  # tampered, truncated, or not a link of ours
    other_person = "other_person"  # made for someone else
    expired = "expired"


class LinkRefused(Exception):
    def __init__(self, reason: Refusal) -> None:
        super().__init__(str(reason))
        self.reason = reason


@dataclass(frozen=True)
class DownloadLink:
    subject_id: int
    export_id: str
    file: ExportFile
    expires_at: datetime


def sign(secret_key: str, link: DownloadLink) -> str:
    payload = {
        "s": link.subject_id,
        "e": link.export_id,
        "f": str(link.file),
        "x": int(link.expires_at.timestamp()),
    }
    return URLSafeSerializer(secret_key, salt=SALT).dumps(payload)


def read(secret_key: str, token: str) -> DownloadLink:
    """The link a token stands for; LinkRefused(invalid) unless it is ours and whole."""
    try:
        payload = URLSafeSerializer(secret_key, salt=SALT).loads(token)
        return DownloadLink(
            subject_id=int(payload["s"]),
            export_id=str(payload["e"]),
            file=ExportFile(payload["f"]),
            expires_at=datetime.fromtimestamp(int(payload["x"]), UTC),
        )
    except (BadSignature, KeyError, TypeError, ValueError):
        raise LinkRefused(Refusal.invalid) from None


def check(link: DownloadLink, subject_id: int, now: datetime) -> None:
    """Refuse a link made for someone else, or one past its time."""
    if link.subject_id != subject_id:
        raise LinkRefused(Refusal.other_person)
    if now >= link.expires_at:
        raise LinkRefused(Refusal.expired)
