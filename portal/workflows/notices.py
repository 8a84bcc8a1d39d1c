"""What a person and the DPO are told when a request changes: the outbox messages, queued in
the transaction of the change (portal/jobs/outbox.py), and the values their e-mails show.

To the person:

- ``request_received`` when a request is filed: its number, type and deadline (a request filed
  without BankID when its address is confirmed, portal/workflows/email_requests.py);
- ``more_info`` when the DPO asks a question (``ask_subject``), with the question;
- ``deadline_extended`` with the new deadline and the reason (art. 12(3));
- ``request_completed`` (with the outcome, if one was written) and ``request_rejected``
  (with the reason, art. 12(4)). An erasure's completion is told by its outcome letter
  (``erasure_outcome``, portal/workflows/letters.py) and an export's by ``export_ready``, so
  those completions queue nothing here (``apply(..., notify=False)``);
- ``confirm_address``: a link that proves an e-mail address (queued by
  portal/identity/addresses.py; ``confirm_url`` and ``expires_at`` in the context).

Where a message to the person goes is decided when it is queued (`recipient`): a request filed
without BankID has a contact (portal/workflows/contacts.py), and its messages go to the address
confirmed for it, also once the DPO has tied it to a person, and link the request's signed
follow link, made when the message is sent (``follow`` in the context; the sender signs it, see
`MessageSite.follow_link`). Any other request's messages name the person by subject id: the
sender looks their address up when it sends, and the message links the request's page, opened
after signing in with BankID.

- ``request_merged`` when the DPO closes a request as a duplicate of another (``kept_id``).

To the DPO's mailbox (DPO_EMAIL, when set): ``new_request``, and ``subject_answered`` when the
person answers a question on their request's page (the answer is not in it: the case page
shows it). The deadline reminders and the
notice of a parked job are queued by portal/workflows/reminders.py and the worker.

Nothing here carries a name, a national ID number or an address: the request's number, type and
moments, and the words the DPO wrote for the person. Days are shown on the controller's
calendar when the message is rendered (`MessageSite`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlmodel import Session

from portal import i18n
from portal.i18n import lazy_gettext as _l
from portal.jobs.outbox import MessageSite, OutboxMessage, queue_message
from portal.settings import dpo_email_from
from portal.workflows.contacts import contact_of

RECEIVED = "request_received"
MORE_INFO = "more_info"
EXTENDED = "deadline_extended"
COMPLETED = "request_completed"
REJECTED = "request_rejected"
CONFIRM_ADDRESS = "confirm_address"
NEW_REQUEST = "new_request"
ANSWERED = "subject_answered"
MERGED = "request_merged"

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


@dataclass(frozen=True)
class Recipient:
    """Where a request's messages to its person go: the person (``subject_id``, their address
    looked up when sending) and/or an address; ``follow`` when the request was filed without
    BankID (its messages link the signed follow link, not the signed-in page)."""

    subject_id: int | None
    email: str | None
    follow: bool


def recipient(db: Session, request: RequestLike) -> Recipient | None:
    """Where `request`'s messages go, decided now; None when it names nobody to tell."""
    contact = contact_of(db, request.id)
    if contact is not None:
        return Recipient(request.subject_id, contact.email, follow=True)
    if request.subject_id is None:
        return None
    return Recipient(request.subject_id, None, follow=False)


def request_filed(
    db: Session,
    request: RequestLike,
    *,
    now: datetime,
    mailbox: str | None = None,
    by_staff: bool = False,
) -> None:
    """A request was filed: the person is told it was received (when the request names
    someone to tell: a request filed without BankID is told when its address is confirmed;
    ``by_staff``: customer service filed it on the person's call, and the message says so),
    and the DPO's mailbox (given, else DPO_EMAIL) that there is a new one."""
    tell_person(db, request, RECEIVED, now=now, extra={"by_staff": True} if by_staff else None)
    mailbox = mailbox or dpo_mailbox()
    if mailbox:
        context = {
            "request_id": request.id,
            "type": str(request.type),
            "due_at": request.due_at.isoformat(),
        }
        queue_message(
            db, NEW_REQUEST, language=i18n.DEFAULT_LANGUAGE, email=mailbox, context=context, now=now
        )


def subject_answered(
    db: Session, request: RequestLike, *, now: datetime, mailbox: str | None = None
) -> OutboxMessage | None:
    """The DPO's mailbox (given, else DPO_EMAIL) hears that the person answered: the request's
    number and type, and the case page. None without a mailbox (the queue shows it)."""
    mailbox = mailbox or dpo_mailbox()
    if not mailbox:
        return None
    context = {
        "request_id": request.id,
        "type": str(request.type),
        "due_at": request.due_at.isoformat(),
    }
    return queue_message(
        db, ANSWERED, language=i18n.DEFAULT_LANGUAGE, email=mailbox, context=context, now=now
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
    extra: Mapping[str, Any] | None = None,
) -> OutboxMessage | None:
    """Queue `kind` about `request` to its person (`recipient`), in the request's language;
    None when the request names nobody to tell (no person and no contact). ``extra``: more
    values for the context (ids and moments, never personal data)."""
    to = recipient(db, request)
    if to is None:
        return None
    context: dict[str, Any] = {
        "request_id": request.id,
        "type": str(request.type),
        "received_at": request.received_at.isoformat(),
        "due_at": request.due_at.isoformat(),
        "has_account": not to.follow,
    }
    if to.follow:
        context["follow"] = True
    if reason:
        context["reason"] = reason.strip()
    context.update(extra or {})
    return queue_message(
        db,
        kind,
        language=request.language,
        subject_id=to.subject_id,
        email=to.email,
        context=context,
        now=now,
    )


# --- the e-mails' values -------------------------------------------------------------------------


def follow_values(context: Mapping[str, Any], language: str, site: MessageSite) -> dict[str, Any]:
    """Where a message about a request sends the person: ``follow_url`` (a request filed
    without BankID: the signed follow link the sender makes, or one queued with the message)
    or, with ``has_account``, ``request_url`` (the request's page, after signing in). A message
    of a request filed without BankID read on the Messages page (its person has since signed
    in with BankID) links the request's page: no link is signed there."""
    request_id = context.get("request_id")
    follow = context.get("follow_url")
    if follow:
        follow_url: str | None = site.url(str(follow))
    elif context.get("follow") and request_id and site.follow_link is not None:
        follow_url = site.follow_link(int(request_id), language)
    else:
        follow_url = None
    has_account = bool(context.get("has_account")) or (
        bool(context.get("follow")) and follow_url is None
    )
    return {
        "follow_url": follow_url,
        "has_account": has_account,
        "request_url": site.url(REQUEST_PAGE.format(id=request_id)) if request_id else None,
    }


def request_values(context: Mapping[str, Any], language: str, site: MessageSite) -> dict[str, Any]:
    """The values of a message about a request to its person (the templates'
    ``emails/request_*``, ``more_info``, ``deadline_extended``)."""
    words = TYPE_WORDS.get(str(context.get("type")))
    return {
        **context,
        **follow_values(context, language, site),
        "type_words": str(words) if words else None,
        "received": site.day(context, "received", language),
        "due": site.day(context, "due", language),
    }


def new_request_values(
    context: Mapping[str, Any], language: str, site: MessageSite
) -> dict[str, Any]:
    return {
        **context,
        "type_words": str(TYPE_WORDS.get(str(context.get("type")), "")),
        "due": site.day(context, "due", language),
        "case_url": case_url(site.base_url, int(context["request_id"])),
    }


def confirm_values(context: Mapping[str, Any], language: str, site: MessageSite) -> dict[str, Any]:
    """``confirm_address``: the link (a path is put under the portal's URL) and, if given,
    the moment it stops working (``expires_at``)."""
    return {
        **context,
        "confirm_url": site.url(str(context["confirm_url"])),
        "expires": site.moment(context, "expires", language),
    }
