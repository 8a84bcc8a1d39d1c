"""Download links for an export's files, made with the portal's signed links (portal/links.py).

Two kinds, each its own purpose:

* ``export_download``: on a signed-in person's export page. Bound to the person, the export and
  the file; the route also wants a recent sign-in.
* ``request_download``: e-mailed to a person who filed a request without BankID, once the DPO
  has verified them. Bound to the request and the file (the request's ready export is served);
  no sign-in, so it is only ever sent to the address the request was confirmed from.

Both expire with the export (EXPORT_LINK_DAYS), judged by the portal's clock. A download does
not act, so these links are not single-use: the files can be fetched again until they go.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from portal.exports.models import ExportFile
from portal.links import Link, LinkRefused, Purpose, Refusal, sign, verify

__all__ = ["DownloadLink", "LinkRefused", "Refusal", "personal_link", "read_personal"]


@dataclass(frozen=True)
class DownloadLink:
    """What a checked link opens: a file of an export (personal), or of a request's export."""

    file: ExportFile
    export_id: str | None = None
    request_id: int | None = None


def personal_link(
    secret_key: str, *, subject_id: int, export_id: str, file: ExportFile, expires_at: datetime
) -> str:
    link = Link(
        Purpose.export_download, export_id, expires_at, subject_id=subject_id, part=str(file)
    )
    return sign(secret_key, link)


def read_personal(secret_key: str, token: str, *, subject_id: int, now: datetime) -> DownloadLink:
    """The file a signed-in person's link opens; LinkRefused when it is not whole
    (``invalid``), not theirs (``other_person``) or past its time (``expired``)."""
    link = verify(secret_key, token, Purpose.export_download, now, subject_id=subject_id)
    return DownloadLink(file=_file(link), export_id=link.object_id)


def request_link(
    secret_key: str,
    *,
    request_id: int,
    file: ExportFile,
    expires_at: datetime,
    language: str | None = None,
) -> str:
    link = Link(
        Purpose.request_download, str(request_id), expires_at, part=str(file), language=language
    )
    return sign(secret_key, link)


def read_request(secret_key: str, token: str, *, now: datetime) -> DownloadLink:
    """The file of a request's export an e-mailed link opens; LinkRefused as above."""
    link = verify(secret_key, token, Purpose.request_download, now)
    try:
        request_id = int(link.object_id)
    except ValueError:
        raise LinkRefused(Refusal.invalid) from None
    return DownloadLink(file=_file(link), request_id=request_id)


def _file(link: Link) -> ExportFile:
    try:
        return ExportFile(link.part)
    except ValueError:
        raise LinkRefused(Refusal.invalid) from None
