"""What a person and the DPO are told when a request changes: the outbox messages, queued in
the transaction of the change (portal/jobs/outbox.py), and the values their e-mails show.

To the person, by subject id (the address is looked up when the message is sent) or by an
address given for a request filed without BankID:

- ``request_received`` when a request is filed: its number, type and deadline;
- ``more_info`` when the DPO asks a question (``ask_subject``), with the question;
- ``deadline_extended`` with the new deadline and the reason (art. 12(3));
- ``request_completed`` (with the outcome, if one was written) and ``request_rejected``
  (with the reason, art. 12(4)). An erasure's completion is told by its outcome letter
  (``erasure_outcome``, portal/workflows/letters.py) and an export's by ``export_ready``, so
  those completions queue nothing here (``apply(..., notify=False)``);
- ``confirm_address``: a link that proves an e-mail address (queued by the code that makes the
  link; ``confirm_url`` in the context, absolute or a path under the portal).

To the DPO's mailbox (DPO_EMAIL, when set): ``new_request``. The deadline reminders and the
notice of a parked job are queued by portal/workflows/reminders.py and the worker.

Nothing here carries a name, a national ID number or an address: the request's number, type and
dates, and the words the DPO wrote for the person.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any, Protocol

from sqlmodel import Session

from portal import i18n
from portal.datamap.retention import format_day
from portal.i18n import lazy_gettext as _l
from portal.jobs.outbox import OutboxMessage, queue_message
from portal.settings import dpo_email_from

RECEIVED = "request_received"
MORE_INFO = "more_info"
EXTENDED = "deadline_extended"
COMPLETED = "request_completed"
REJECTED = "request_rejected"
CONFIRM_ADDRESS = "confirm_address"
NEW_REQUEST = "new_request"

# The person's page for a request, and the DPO's: e-mails link them, with nothing in the URL
# but the request's number.
REQUEST_PAGE = "/me/requests/{id}"
CASE_PAGE = "/dpo/requests/{id}"

# The message an action of the request machine sends the person.
_AFTER_ACTION = {
    "ask_subject": MORE_INFO,
    "extend": EXTENDED,
    "complete": COMPLETED,
    "complete_partially": COMPLETED,
    "reject": REJECTED,
}

# What the person asked for, as the e-mails say it: "your request for …".
TYPE_WORDS = {
    "access": _l("access to your personal data"),
    "portability": _l("a copy of your data in a machine-readable format"),
    "erasure": _l("erasure of your personal data"),
    "rectification": _l("correction of your personal data"),
    "restriction": _l("restriction of the processing of your data"),
    "objection": _l("objection to the processing of your data"),
}


class RequestLike(Protocol):
    """What a message needs of a request (portal.workflows.requests.DataRequest)."""

    id: int | None
    subject_id: int | None
    type: Any
    language: str
    received_at: datetime
    due_at: datetime


def request_url(base_url: str, request_id: int) -> str:
    """The request's page under the portal's public URL (PORTAL_BASE_URL)."""
    return base_url.rstrip("/") + REQUEST_PAGE.format(id=request_id)


def case_url(base_url: str, request_id: int) -> str:
    """The DPO's case page of a request."""
    return base_url.rstrip("/") + CASE_PAGE.format(id=request_id)


def dpo_mailbox(environ: Mapping[str, str] | None = None) -> str | None:
    """DPO_EMAIL, or None when it is not set."""
    return dpo_email_from(os.environ if environ is None else environ) or None


# --- queueing ------------------------------------------------------------------------------------


def request_filed(
    db: Session,
    request: RequestLike,
    *,
    now: datetime,
    email: str | None = None,
    mailbox: str | None = None,
) -> None:
    """A request was filed: the person is told it was received, and the DPO's mailbox (given,
    else DPO_EMAIL) that there is a new one."""
    tell_person(db, request, RECEIVED, now=now, email=email)
    mailbox = mailbox or dpo_mailbox()
    if mailbox:
        context = {
            "request_id": request.id,
            "type": str(request.type),
            "due_on": request.due_at.date().isoformat(),
        }
        queue_message(
            db, NEW_REQUEST, language=i18n.DEFAULT_LANGUAGE, email=mailbox, context=context, now=now
        )


def after_action(
    db: Session, request: RequestLike, action: str, *, reason: str | None, now: datetime
) -> OutboxMessage | None:
    """The person's message about an action of the machine, if that action has one."""
    kind = _AFTER_ACTION.get(action)
    if kind is None:
        return None
    return tell_person(db, request, kind, now=now, reason=reason)


def tell_person(
    db: Session,
    request: RequestLike,
    kind: str,
    *,
    now: datetime,
    reason: str | None = None,
    email: str | None = None,
    follow_url: str | None = None,
) -> OutboxMessage | None:
    """Queue `kind` about `request` to its person, in the request's language; None when the
    request names nobody to tell (no person and no address).

    The message links the request's page when the person signs in with BankID; a request filed
    without BankID links `follow_url` (a path under the portal, or absolute) if given."""
    if request.subject_id is None and not email:
        return None
    context: dict[str, Any] = {
        "request_id": request.id,
        "type": str(request.type),
        "received_on": request.received_at.date().isoformat(),
        "due_on": request.due_at.date().isoformat(),
        "has_account": request.subject_id is not None,
    }
    if follow_url:
        context["follow_url"] = follow_url
    if reason:
        context["reason"] = reason.strip()
    return queue_message(
        db,
        kind,
        language=request.language,
        subject_id=request.subject_id,
        email=email,
        context=context,
        now=now,
    )


# --- the e-mails' values -------------------------------------------------------------------------


def _day(iso: str | None, language: str) -> str | None:
    return format_day(date.fromisoformat(iso), language) if iso else None


def request_values(context: Mapping[str, Any], language: str, base_url: str) -> dict[str, Any]:
    """The values of a message about a request to its person (the templates'
    ``emails/request_*.txt``, ``more_info``, ``deadline_extended``)."""
    request_id = context.get("request_id")
    words = TYPE_WORDS.get(str(context.get("type")))
    follow = context.get("follow_url")
    return {
        **context,
        "follow_url": _absolute(base_url, follow) if follow else None,
        "type_words": str(words) if words else None,
        "received": _day(context.get("received_on"), language),
        "due": _day(context.get("due_on"), language),
        "request_url": request_url(base_url, int(request_id)) if request_id else None,
    }


def new_request_values(context: Mapping[str, Any], language: str, base_url: str) -> dict[str, Any]:
    return {
        **context,
        "type_words": str(TYPE_WORDS.get(str(context.get("type")), "")),
        "due": _day(context.get("due_on"), language),
        "case_url": case_url(base_url, int(context["request_id"])),
    }


def confirm_values(context: Mapping[str, Any], language: str, base_url: str) -> dict[str, Any]:
    """``confirm_address``: the link (a path is put under the portal's URL) and, if given,
    the day it stops working (``expires_on``)."""
    url = _absolute(base_url, str(context["confirm_url"]))
    return {**context, "confirm_url": url, "expires": _day(context.get("expires_on"), language)}


def _absolute(base_url: str, url: str) -> str:
    return base_url.rstrip("/") + url if url.startswith("/") else url
