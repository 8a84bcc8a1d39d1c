"""The one registry of message kinds: who reads each, its templates' values, what it attaches.

A kind's templates are ``templates/emails/<kind>.txt`` and ``.html`` (portal/mail/render.py);
its ``values`` function lives with the code that queues it and turns the stored context (ids,
moments, words) into what the templates show, in a language, where it is rendered
(`portal.jobs.outbox.MessageSite`: the portal's public URL, the controller's time zone, and in
the sender the follow links of requests filed without BankID). A kind not listed here cannot
be sent: its delivery job fails, and is parked for the DPO.

``Audience.dpo`` messages go to the DPO's mailbox and keep the address when sent, as do
``Audience.recipient`` messages, to a company the person's data was disclosed to (art. 19);
``Audience.person`` messages forget it once delivered (portal/jobs/outbox.py). A kind with
``in_portal=False`` carries a secret (a link that proves an address, or opens files without a
sign-in): the person's Messages page shows that it was sent, never its body.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlmodel import Session

from portal import i18n
from portal.datamap.model import Controller
from portal.exports import message as export_message
from portal.jobs.outbox import PARKED_KIND, MessageSite
from portal.mail.render import Attachment, Rendered, render_templates
from portal.workflows import (
    email_requests,
    holds,
    letters,
    notices,
    recipients,
    reminders,
    restriction,
)

Values = Callable[[Mapping[str, Any], str, MessageSite], Mapping[str, Any]]
Attach = Callable[[Session, Mapping[str, Any], str, Controller], tuple[Attachment, ...]]

# The DPO's page of parked jobs, which a job_parked message links.
JOBS_PAGE = "/dpo/jobs"


class Audience(StrEnum):
    person = "person"
    dpo = "dpo"
    recipient = "recipient"


@dataclass(frozen=True)
class Kind:
    audience: Audience
    values: Values
    attach: Attach | None = None
    in_portal: bool = True


def parked_values(context: Mapping[str, Any], language: str, site: MessageSite) -> dict[str, Any]:
    return {**context, "jobs_url": site.url(JOBS_PAGE)}


def outcome_letter(
    db: Session, context: Mapping[str, Any], language: str, controller: Controller
) -> tuple[Attachment, ...]:
    found = letters.outcome_attachment(db, context, language, controller)
    if found is None:
        return ()
    name, pdf = found
    return (Attachment(name, "application/pdf", pdf),)


PERSON, DPO = Audience.person, Audience.dpo

KINDS: dict[str, Kind] = {
    notices.RECEIVED: Kind(PERSON, notices.request_values),
    notices.CONFIRM_ADDRESS: Kind(PERSON, notices.confirm_values, in_portal=False),
    notices.MORE_INFO: Kind(PERSON, notices.request_values),
    notices.EXTENDED: Kind(PERSON, notices.request_values),
    notices.COMPLETED: Kind(PERSON, notices.request_values),
    notices.REJECTED: Kind(PERSON, notices.request_values),
    notices.MERGED: Kind(PERSON, notices.request_values),
    export_message.MESSAGE_KIND: Kind(PERSON, export_message.ready_values),
    export_message.LINKS_KIND: Kind(PERSON, export_message.links_values, in_portal=False),
    email_requests.CONFIRM_MESSAGE: Kind(PERSON, email_requests.confirm_values, in_portal=False),
    email_requests.LINKS_MESSAGE: Kind(PERSON, email_requests.links_values, in_portal=False),
    letters.MESSAGE_KIND: Kind(PERSON, letters.outcome_values, attach=outcome_letter),
    restriction.MESSAGE_KIND: Kind(PERSON, restriction.lifted_values),
    notices.NEW_REQUEST: Kind(DPO, notices.new_request_values),
    notices.ANSWERED: Kind(DPO, notices.new_request_values),
    reminders.MESSAGE_KIND: Kind(DPO, reminders.reminder_values),
    holds.MESSAGE_KIND: Kind(DPO, holds.review_values),
    PARKED_KIND: Kind(DPO, parked_values),
    # Carries the link that confirms the task: never shown in a Messages page.
    recipients.MESSAGE_KIND: Kind(Audience.recipient, recipients.task_values, in_portal=False),
}


class UnknownMessageKind(LookupError):
    """The outbox holds a kind no template is registered for."""


def kind_of(name: str) -> Kind:
    try:
        return KINDS[name]
    except KeyError:
        raise UnknownMessageKind(f"no templates for message kind {name!r}") from None


def render_message(
    kind: str,
    context: Mapping[str, Any],
    language: str,
    site: MessageSite,
    *,
    db: Session | None = None,
    controller: Callable[[], Controller] | None = None,
) -> Rendered:
    """A queued message in words, in `language`. With `db` and `controller`, what the kind
    attaches is rendered too (the e-mail); without, it is left out (the Messages page)."""
    entry = kind_of(kind)
    language = language if language in i18n.LANGUAGES else i18n.DEFAULT_LANGUAGE

    def run() -> Rendered:
        i18n.set_language(language)
        values = entry.values(context, language, site)
        rendered = render_templates(kind, values, language)
        if entry.attach is None or db is None or controller is None:
            return rendered
        attachments = entry.attach(db, context, language, controller())
        return Rendered(rendered.subject, rendered.text, rendered.html, attachments)

    return contextvars.copy_context().run(run)
