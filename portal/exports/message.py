"""The message that tells a person their (large) export is ready, and the e-mail it becomes.

Queued in the outbox in the transaction that marks the export ready (portal/exports/service.py).
The context holds ids, the export page's path and the expiry day: no name, no national ID
number, and never a download link (downloads need a fresh sign-in, so the e-mail points to the
page).

A person who filed without BankID has no page to sign in to: their message
(``export_link_ready``) carries the download links themselves, bound to the request and
expiring with the export, and goes to the address they confirmed the request from.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from sqlmodel import Session

from portal import i18n
from portal.exports.links import request_link
from portal.exports.models import Export, ExportFile
from portal.jobs.outbox import OutboxMessage, queue_message
from portal.links import absolute
from portal.workflows.contacts import contact_of
from portal.workflows.letters import render_email

MESSAGE_KIND = "export_ready"
EMAIL_TEMPLATE = "exports/email_ready.txt"
# The e-mail with download links, for a request filed without BankID.
LINKS_KIND = "export_link_ready"
DOWNLOAD_PATH = "/requests/download"


def queue_ready_message(db: Session, export: Export) -> OutboxMessage:
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
            "expires_on": export.expires_at.date().isoformat(),
        },
    )


def queue_links_message(
    db: Session, export: Export, *, secret_key: str, base_url: str
) -> OutboxMessage | None:
    """The download links of a ready export, e-mailed to the person who filed its request
    without BankID (to the address they confirmed; None when the request has no such
    address). The links are bound to the request and the file, and expire with the export;
    they open the files without a sign-in, so they go nowhere but that address."""
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
            "expires_on": export.expires_at.date().isoformat(),
            "expires": i18n.format_day(export.expires_at.date(), export.language),
        },
    )


def render_ready_email(
    context: Mapping[str, Any], language: str, *, base_url: str
) -> tuple[str, str]:
    """The e-mail's subject and plain-text body (the e-mail issue sends it)."""
    values = {
        **context,
        "page_url": base_url.rstrip("/") + str(context["page"]),
        "expires": i18n.format_day(date.fromisoformat(context["expires_on"]), language),
    }
    return render_email(EMAIL_TEMPLATE, values, language)
