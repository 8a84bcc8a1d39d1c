"""What every request page shares: flash messages, rendering, dates, and the outcome of a POST."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from portal import i18n

FLASH_KEY = "flash"


class ActionRefused(Exception):
    """What the person or the DPO asked for was refused; nothing changed. `errors` names the
    form fields at fault (for the page to mark), `message` says why."""

    def __init__(self, message: str, errors: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.errors = dict(errors or {})


@dataclass(frozen=True)
class Done:
    """A POST succeeded: flash `message`, go to `location` (303)."""

    location: str
    message: str
    request_id: int | None = None  # the request the POST filed, when it filed one


@dataclass(frozen=True)
class Refused:
    """A POST was refused and nothing changed: show `page` again, with the reason."""

    page: Any
    status: int = 400


def day(moment: datetime | date, language: str, tz: str) -> str:
    """The day of a date or a moment, as people read it: a moment's day is the controller's
    (``tz``, the data map's ``controller.time_zone``), not UTC's."""
    return i18n.format_day(i18n.local_day(moment, tz), language)


def moment(stored: datetime, language: str, tz: str) -> str:
    """A moment the portal stored, as people read it: its day and hours:minutes in the zone
    ``tz``. The portal's moments are UTC, and SQLite hands them back naive: made aware first,
    so that one stored at 00:00 UTC reads as 01:00 in Oslo on either database, never as a day
    (``format_moment`` reads a naive midnight as a date held as a timestamp)."""
    aware = stored if stored.tzinfo else stored.replace(tzinfo=UTC)
    return i18n.format_moment(aware, language, tz)


def flash(request: Request, message: str) -> None:
    """A message for the next page the browser shows (after a POST's redirect)."""
    request.scope["web_session"].data[FLASH_KEY] = message


def take_flash(request: Request) -> str | None:
    return request.scope["web_session"].data.pop(FLASH_KEY, None)


def render(request: Request, name: str, page: object, status: int = 200) -> Response:
    """A request page: `page` (its dataclass) and the flash message, if any."""
    context = {"page": page, "flash": take_flash(request)}
    templates = request.app.state.templates
    return templates.TemplateResponse(request, name, context, status_code=status)


def redirect(request: Request, done: Done) -> Response:
    """After a POST that succeeded: the message for the next page, and on to it (303)."""
    flash(request, done.message)
    return RedirectResponse(done.location, status_code=303)


def respond(request: Request, result: Done | Refused, name: str) -> Response:
    """A POST's outcome: on to the next page, or template `name` again with the reason."""
    if isinstance(result, Done):
        return redirect(request, result)
    return render(request, name, result.page, result.status)


def pdf_response(pdf: bytes, request_id: int) -> Response:
    """An outcome letter as a download; the file name carries the request number only."""
    disposition = f'attachment; filename="outcome-letter-{request_id}.pdf"'
    return Response(pdf, media_type="application/pdf", headers={"Content-Disposition": disposition})
