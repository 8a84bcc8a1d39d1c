"""The pages of a request filed without BankID (portal/workflows/email_requests.py): the public
form, the confirmation, new links, the request followed by its link. Each dataclass is the
documented context (``page``) of a template under templates/email_requests/.

Nothing here says whether the company holds anything about an address: the form, the page after
it and the page after asking for new links are the same for every address.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session

from portal import links, ratelimit
from portal.db import session_scope
from portal.i18n import gettext as _
from portal.identity.identifiers import IdentifierRefused
from portal.settings import Settings
from portal.views.answers import AnswerBox, answer, answer_box
from portal.views.common import ActionRefused, Done, Refused
from portal.views.labels import ACTOR_LABELS, TYPE_LABELS
from portal.views.recipients_told import TaskView, task_views
from portal.views.request_summary import RequestRow, TimelineEntry, request_row, timeline
from portal.workflows import email_requests
from portal.workflows.requests import (
    MAX_ANSWER,
    DataRequest,
    RequestStatus,
    RequestType,
    history,
)

FORM_PATH = email_requests.FORM_PATH
SENT_PATH = FORM_PATH + "/sent"
LINKS_PATH = "/requests/links"
LINKS_SENT_PATH = LINKS_PATH + "/sent"
REQUEST_PATH = "/requests/{id}"
ANSWER_PATH = "/requests/{id}/answer"


@dataclass(frozen=True)
class TypeChoice:
    value: str
    label: str


@dataclass
class PublicRequestForm:
    """email_requests/new.html: the form as typed; ``errors`` by field name (``form``: the whole
    form, e.g. too many attempts)."""

    type: str = ""
    name: str = ""
    email: str = ""
    details: str = ""
    customer_number: str = ""
    phone: str = ""
    errors: dict[str, str] = field(default_factory=dict)
    choices: tuple[TypeChoice, ...] = ()
    max_details: int = email_requests.MAX_DETAILS


def public_form(
    values: Mapping[str, Any] | None = None, errors: Mapping[str, str] | None = None
) -> PublicRequestForm:
    typed = {
        name: str((values or {}).get(name, "") or "")[:limit]
        for name, limit in (
            ("type", 20),
            ("name", email_requests.MAX_NAME),
            ("email", email_requests.MAX_EMAIL),
            ("details", email_requests.MAX_DETAILS),
            ("customer_number", email_requests.MAX_CUSTOMER_NUMBER),
            ("phone", email_requests.MAX_PHONE),
        )
    }
    choices = tuple(TypeChoice(str(kind), str(TYPE_LABELS[kind])) for kind in RequestType)
    return PublicRequestForm(**typed, errors=dict(errors or {}), choices=choices)


def too_many() -> str:
    return _(
        "We have had many requests from you or for this address in a short time. Please wait "
        "a while and try again."
    )


def submit_public_form(
    engine: Engine,
    form: Mapping[str, Any],
    *,
    ip: str | None,
    language: str,
    now: datetime,
    settings: Settings,
) -> Done | Refused:
    """File the form (unconfirmed) and send the confirmation link; the same page follows for
    every address."""
    try:
        filing = email_requests.check_filing(form, region=settings.phone_region)
    except email_requests.FilingRefused as refused:
        return Refused(public_form(form, refused.errors))
    try:
        with session_scope(engine) as db:
            email_requests.file_unconfirmed(
                db,
                filing,
                client=ratelimit.Client.of(settings.secret_key, ip),
                language=language,
                now=now,
                settings=settings,
            )
    except ratelimit.RateLimited:
        return Refused(public_form(form, {"form": too_many()}), 429)
    return Done(SENT_PATH, _("Your request is saved. Confirm your e-mail address to send it."))


@dataclass(frozen=True)
class SentPage:
    """email_requests/sent.html: what happens next (the same whatever the address)."""

    hours: int


@dataclass(frozen=True)
class ConfirmPage:
    """email_requests/confirm.html: the request a link confirms, and its button (the link's
    token goes back in the form, never into another address)."""

    type_label: str
    token: str
    language: str


def confirm_page(db: Session, token: str, *, now: datetime, settings: Settings) -> ConfirmPage:
    """LinkRefused for a link that will not confirm anything."""
    found = email_requests.read_confirmation(db, token, now=now, settings=settings)
    return ConfirmPage(str(TYPE_LABELS[found.type]), token, found.language)


def confirm_request(db: Session, token: str, *, now: datetime, settings: Settings) -> Done:
    """Confirm (LinkRefused: nothing done); on to the request's page."""
    request = email_requests.confirm(db, token, now=now, settings=settings)
    return Done(
        REQUEST_PATH.format(id=request.id),
        _(
            "Thank you. Your request is sent, and we have e-mailed you a link to follow it. We "
            "check who you are before we share any data."
        ),
        request.id,
    )


@dataclass
class LinksForm:
    """email_requests/links.html: ask for new links by e-mail address."""

    email: str = ""
    error: str | None = None


def ask_for_links(
    engine: Engine,
    form: Mapping[str, Any],
    *,
    ip: str | None,
    language: str,
    now: datetime,
    settings: Settings,
) -> Done | Refused:
    address = str(form.get("email", "") or "").strip()[: email_requests.MAX_EMAIL]
    try:
        with session_scope(engine) as db:
            email_requests.ask_for_links(
                db,
                address,
                client=ratelimit.Client.of(settings.secret_key, ip),
                language=language,
                now=now,
                settings=settings,
            )
    except IdentifierRefused as refused:
        return Refused(LinksForm(address, str(refused)))
    except ratelimit.RateLimited:
        return Refused(LinksForm(address, too_many()), 429)
    return Done(
        LINKS_SENT_PATH, _("If we have requests from that address, the links are on their way.")
    )


@dataclass(frozen=True)
class FollowPage:
    """email_requests/follow.html: a request filed without BankID, opened by its link."""

    request: RequestRow
    type_label: str
    details: str | None
    extended: bool
    extension_reason: str | None
    outcome: str | None
    timeline: tuple[TimelineEntry, ...]
    # Not yet verified by the DPO: nothing is shared until then.
    unverified: bool
    # An access or portability request: its copy comes by e-mail links.
    export: bool
    # While the request waits for the person: the question and the answer form.
    answer: AnswerBox | None = None
    # The recipients of the person's data told of it (art. 19, last sentence).
    recipients_told: tuple[TaskView, ...] = ()


def follow_page(
    db: Session,
    request_id: int,
    language: str,
    tz: str,
    now: datetime,
    refused: ActionRefused | None = None,
    typed: str = "",
) -> FollowPage | None:
    """The request a link opened; its days and events in the controller's time zone ``tz``.
    ``refused`` and ``typed``: an answer just refused, and what the person wrote."""
    request = db.get(DataRequest, request_id)
    if request is None or email_requests.contact_of(db, request.id) is None:
        return None
    kind = RequestType(request.type)
    return FollowPage(
        request=request_row(request, language, tz, now, REQUEST_PATH.format(id=request.id)),
        type_label=str(TYPE_LABELS[kind]),
        details=request.details,
        extended=request.extended_at is not None,
        extension_reason=request.extension_reason,
        outcome=request.outcome,
        timeline=timeline(history(db, request.id or 0), language, tz, ACTOR_LABELS),
        unverified=request.status == RequestStatus.received,
        export=kind in (RequestType.access, RequestType.portability),
        answer=answer_box(
            db,
            request,
            ANSWER_PATH.format(id=request.id),
            value=typed,
            error=refused.message if refused else None,
        ),
        recipients_told=task_views(db, request.id or 0, language, tz),
    )


def answer_followed(
    engine: Engine,
    request_id: int,
    form: Mapping[str, str],
    language: str,
    tz: str,
    now: datetime,
) -> Done | Refused | None:
    """The person's answer on a request this session opened by its follow link (the route
    checks that), all or nothing."""
    try:
        with session_scope(engine) as db:
            request = db.get(DataRequest, request_id, with_for_update=True)
            if request is None or email_requests.contact_of(db, request.id) is None:
                return None
            answer(db, request, form, subject_id=request.subject_id, now=now)
    except ActionRefused as refused:
        with session_scope(engine) as db:
            typed = str(form.get("answer", ""))[: MAX_ANSWER + 100]
            page = follow_page(db, request_id, language, tz, now, refused, typed)
            assert page is not None
            return Refused(page, 400)
    return Done(
        REQUEST_PATH.format(id=request_id),
        _("Thank you. Your answer is sent, and we go on with your request."),
    )


def follow(db: Session, token: str, *, now: datetime, settings: Settings) -> links.Link:
    """The link that opens a request (LinkRefused when it does not)."""
    return email_requests.followed(db, token, now=now, settings=settings)
