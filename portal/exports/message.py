"""The messages that tell a person their export is ready, and the values of their e-mails
(templates/emails/export_ready.* and export_link_ready.*; the kinds are registered in
portal/mail/kinds.py).

Queued in the outbox in the transaction that marks the export ready (portal/exports/service.py).
``export_ready``'s context holds ids, the export page's path and the expiry day: no name, no
national ID number, and never a download link (downloads need a fresh sign-in, so the e-mail
points to the page).

A person who filed without BankID has no page to sign in to: their message
(``export_link_ready``) carries the download links themselves, bound to the request and
expiring with the export, and goes to the address they confirmed the request from. Those links
open the files without a sign-in, so the kind is never shown on a Messages page
(``in_portal=False`` in the registry).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlmodel import Session

from portal.exports.links import request_link
from portal.exports.models import Export, ExportFile
from portal.jobs.outbox import MessageSite, OutboxMessage, queue_message
from portal.links import absolute
from portal.workflows.contacts import contact_of

MESSAGE_KIND = "export_ready"
# The e-mail with download links, for a request filed without BankID.
LINKS_KIND = "export_link_ready"
DOWNLOAD_PATH = "/requests/download"


def queue_ready_message(db: Session, export: Export, *, now: datetime) -> OutboxMessage:
    if export.expires_at is None:
        raise ValueError("only a ready export is announced")
    return queue_message(
        db,
        MESSAGE_KIND,
        language=export.language,
        subject_id=export.subject_id,
        context={
            "export_id": export.id,
            "request_id": export.request_id,
            "page": f"/me/exports/{export.id}",
            "expires_at": export.expires_at.isoformat(),
        },
        now=now,
    )


def queue_links_message(
    db: Session,
    export: Export,
    *,
    secret_key: str,
    base_url: str,
    now: datetime,
    by_staff: bool = False,
) -> OutboxMessage | None:
    """The download links of a ready export, e-mailed to the person who filed its request
    without BankID (to the address they confirmed; None when the request has no such
    address), or for whom customer service filed it on a call (``by_staff``: to the address
    the person had proven, portal/exports/on_behalf.py). The links are bound to the request
    and the file, and expire with the export; they open the files without a sign-in, so they
    go nowhere but that address."""
    contact = contact_of(db, export.request_id)
    if export.expires_at is None or contact is None:
        return None
    downloads = [
        {
            "file": str(file),
            "url": absolute(
                base_url,
                DOWNLOAD_PATH,
                request_link(
                    secret_key,
                    request_id=export.request_id,
                    file=file,
                    expires_at=export.expires_at,
                    language=export.language,
                ),
            ),
        }
        for file in (ExportFile.pdf, ExportFile.zip, ExportFile.json)
    ]
    return queue_message(
        db,
        LINKS_KIND,
        language=export.language,
        email=contact.email,
        context={
            "request_id": export.request_id,
            "downloads": downloads,
            "expires_at": export.expires_at.isoformat(),
            **({"by_staff": True} if by_staff else {}),
        },
        now=now,
    )


def ready_values(context: Mapping[str, Any], language: str, site: MessageSite) -> dict[str, Any]:
    """The e-mail's values: the export page's URL and the day the files are deleted."""
    return {
        **context,
        "page_url": site.url(str(context["page"])),
        "expires": site.day(context, "expires", language),
    }


def links_values(context: Mapping[str, Any], language: str, site: MessageSite) -> dict[str, Any]:
    """``export_link_ready``: the download links as queued, and when they stop working."""
    return {**context, "expires": site.moment(context, "expires", language)}
