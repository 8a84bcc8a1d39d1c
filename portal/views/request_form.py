"""/me/requests/new: the form for filing a request, its checks, and filing it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session

from portal.datamap import DataMap
from portal.db import session_scope
from portal.exports.models import ExportStatus
from portal.exports.service import export_for_filed_request, runtime_for
from portal.i18n import gettext as _
from portal.models import Assurance
from portal.settings import Settings
from portal.views.common import Done, Refused
from portal.views.labels import DETAILS_LABELS, TYPE_LABELS
from portal.workflows import erasure_service
from portal.workflows.email_requests import MAX_DETAILS
from portal.workflows.requests import (
    Actor,
    DataRequest,
    DuplicateRequest,
    RequestType,
    TransitionRefused,
    file_request,
    open_requests,
)
from portal.workflows.restriction import restrict_processing


@dataclass(frozen=True)
class TypeChoice:
    """One kind of request; `open_href` is the page of the person's open request of this kind
    (a second one is refused until it is closed)."""

    value: str
    label: str
    details_label: str | None
    open_href: str | None = None


@dataclass
class NewRequestForm:
    """The form, as filled in; `errors` by field name when it was refused, and `open_href` the
    open request a refused duplicate points to."""

    type: str = ""
    details: str = ""
    marketing: bool = False
    errors: dict[str, str] = field(default_factory=dict)
    choices: tuple[TypeChoice, ...] = ()
    open_href: str | None = None
    max_details: int = MAX_DETAILS

    @property
    def erasure(self) -> bool:
        return self.type == RequestType.erasure


REQUEST_PAGE = "/me/requests/{id}"


def new_request_form(
    type: str = "",
    details: str = "",
    marketing: bool = False,
    open_ids: Mapping[RequestType, int] | None = None,
) -> NewRequestForm:
    """The form; `open_ids` (the person's open request of each type) marks the kinds they
    cannot ask for again yet."""
    opened = open_ids or {}
    choices = tuple(
        TypeChoice(
            value=str(kind),
            label=str(TYPE_LABELS[kind]),
            details_label=str(DETAILS_LABELS[kind]) if kind in DETAILS_LABELS else None,
            open_href=REQUEST_PAGE.format(id=opened[kind]) if kind in opened else None,
        )
        for kind in RequestType
    )
    chosen = type if type in set(RequestType) else ""
    return NewRequestForm(chosen, details, marketing, choices=choices)


def load_new_request_form(engine: Engine, subject_id: int, type: str = "") -> NewRequestForm:
    """The empty form for a person (GET), with the kinds they have open marked."""
    with session_scope(engine) as db:
        return new_request_form(type, open_ids=open_requests(db, subject_id))


def check_new_request(
    form: Mapping[str, Any], open_ids: Mapping[RequestType, int] | None = None
) -> NewRequestForm:
    """The form as posted, with `errors` filled in if it cannot be filed as it is."""
    filled = new_request_form(
        str(form.get("type", "")),
        str(form.get("details", "")).strip(),
        form.get("marketing") == "yes",
        open_ids,
    )
    if filled.type == "":
        filled.errors["type"] = _("Choose what you want us to do.")
        return filled
    kind = RequestType(filled.type)
    if kind == RequestType.objection and filled.marketing:
        return filled  # direct marketing: absolute (art. 21(3)), no reason needed
    if len(filled.details) > MAX_DETAILS:
        filled.errors["details"] = _(
            "Please keep this under %(count)d characters.", count=MAX_DETAILS
        )
        return filled
    if kind in DETAILS_LABELS and not filled.details:
        filled.errors["details"] = {
            RequestType.rectification: _("Tell us what is wrong."),
            RequestType.restriction: _("Tell us why we should limit the use of your data."),
            RequestType.objection: _("Tell us which use of your data you object to."),
        }[kind]
    return filled


def file_new_request(
    db: Session,
    form: NewRequestForm,
    *,
    subject_id: int,
    language: str,
    now: datetime,
    datamap: DataMap,
    sources: Mapping[str, Engine],
    auto_approve: bool = False,
) -> DataRequest:
    """File a checked form for a person signed in with BankID; an erasure is planned at once
    (and approved at once when `auto_approve` is on and the plan keeps nothing)."""
    kind = RequestType(form.type)
    details = form.details or None  # optional for the kinds that do not require it
    if kind == RequestType.objection and form.marketing:
        details = "\n\n".join(filter(None, [_("Direct marketing (art. 21(3))."), form.details]))
    filed = file_request(
        db,
        subject_id=subject_id,
        type=kind,
        assurance=Assurance.high,
        actor=Actor.person,
        actor_id=subject_id,
        details=details,
        language=language,
        now=now,
    )
    if kind == RequestType.restriction:
        restrict_processing(db, subject_id, filed.id or 0, now)
    if kind == RequestType.erasure:
        erasure_service.plan_request(
            db,
            filed.id or 0,
            datamap=datamap,
            sources=sources,
            now=now,
            auto_approve=auto_approve,
        )
    return filed


def submit_new_request(
    engine: Engine,
    form: Mapping[str, Any],
    *,
    subject_id: int,
    language: str,
    now: datetime,
    datamap: DataMap,
    sources: Mapping[str, Engine],
    auto_approve: bool = False,
) -> Done | Refused:
    """The route's unit of work: check the form, file it in one transaction. A duplicate of an
    open request is refused by the domain (`DuplicateRequest`): the form comes back as typed,
    linking the open request, and nothing is written."""
    with session_scope(engine) as db:
        open_ids = open_requests(db, subject_id)
    filled = check_new_request(form, open_ids)
    if filled.errors:
        return Refused(filled)
    try:
        with session_scope(engine) as db:
            filed = file_new_request(
                db,
                filled,
                subject_id=subject_id,
                language=language,
                now=now,
                datamap=datamap,
                sources=sources,
                auto_approve=auto_approve,
            )
    except DuplicateRequest as exc:
        filled.errors["type"] = str(exc)
        filled.open_href = REQUEST_PAGE.format(id=exc.open_request_id)
        return Refused(filled, 409)
    except (TransitionRefused, ValueError) as exc:
        filled.errors["type"] = str(exc)
        return Refused(filled, 409)
    return Done(f"/me/requests/{filed.id}", _("We have received your request."), filed.id)


def submit_and_export(
    engine: Engine,
    form: Mapping[str, Any],
    *,
    subject_id: int,
    language: str,
    now: datetime,
    settings: Settings,
    datamap: DataMap,
    sources: Mapping[str, Engine],
) -> Done | Refused:
    """The POST of /me/requests/new: file the request (``submit_new_request``); an access or
    portability request goes on to its export's page, where the copy is made (at once, or with
    progress); other requests stay on their own page."""
    result = submit_new_request(
        engine,
        form,
        subject_id=subject_id,
        language=language,
        now=now,
        datamap=datamap,
        sources=sources,
        auto_approve=settings.erasure_auto_approve,
    )
    if isinstance(result, Refused) or result.request_id is None:
        return result
    export = export_for_filed_request(
        engine,
        result.request_id,
        subject_id=subject_id,
        rt=runtime_for(settings, datamap, sources),
        now=now,
        language=language,
    )
    if export is None:
        return result
    if export.status == ExportStatus.ready:
        message = _("We have received your request, and your copy is ready.")
    else:
        message = _("We have received your request. Your copy is shown here when it is ready.")
    return Done(f"/me/exports/{export.id}", message)
