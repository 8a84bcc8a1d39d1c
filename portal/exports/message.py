"""The message that tells a person their (large) export is ready, and the e-mail it becomes.

Queued in the outbox in the transaction that marks the export ready (portal/exports/service.py).
The context holds ids, the export page's path and the expiry day: no name, no national ID
number, and never a download link (downloads need a fresh sign-in, so the e-mail points to the
page).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from sqlmodel import Session

from portal.datamap.retention import format_day
from portal.exports.models import Export
from portal.jobs.outbox import OutboxMessage, queue_message
from portal.workflows.letters import render_email

MESSAGE_KIND = "export_ready"
EMAIL_TEMPLATE = "exports/email_ready.txt"


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


def render_ready_email(
    context: Mapping[str, Any], language: str, *, base_url: str
) -> tuple[str, str]:
    """The e-mail's subject and plain-text body (the e-mail issue sends it)."""
    values = {
        **context,
        "page_url": base_url.rstrip("/") + str(context["page"]),
        "expires": format_day(date.fromisoformat(context["expires_on"]), language),
    }
    return render_email(EMAIL_TEMPLATE, values, language)
