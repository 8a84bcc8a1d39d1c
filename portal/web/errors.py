"""Error pages: a clear message in the person's language, never a stack trace or a claim value."""

from __future__ import annotations

from collections.abc import Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.templating import Jinja2Templates

from portal.i18n import lazy_gettext as _l

TITLES = {
    400: _l("Something went wrong"),
    403: _l("Not allowed"),
    404: _l("Page not found"),
    405: _l("Not allowed"),
    500: _l("Something went wrong on our side"),
}

MESSAGES = {
    400: _l("The request could not be understood."),
    403: _l("You do not have access to this page."),
    404: _l("There is no page at this address. Check the address, or start from the front page."),
    405: _l("This page cannot be used that way."),
    500: _l("We could not complete what you asked. Please try again in a little while."),
}

# Sign-in failures say what happened in words a person understands; the code goes to the log.
REASONS = {
    "csrf": _l(
        "The form had expired or did not come from this site. Go back, reload the page and "
        "try again."
    ),
    "access_denied": _l("The sign-in was cancelled. Nothing was changed."),
    "mismatching_state": _l(
        "This sign-in could not be matched to your browser. It may have expired or already "
        "been used. Please start the sign-in again."
    ),
    "invalid_id_token": _l(
        "The answer from the identity provider could not be verified, so you were not signed in."
    ),
    "invalid_grant": _l(
        "The sign-in could not be completed: the code from the identity provider was not "
        "accepted. Please start the sign-in again."
    ),
    "token_exchange_failed": _l(
        "The sign-in could not be completed with the identity provider. Please try again."
    ),
    "no_id_token": _l(
        "The identity provider did not confirm who you are, so you were not signed in."
    ),
    "missing_national_id": _l(
        "The identity provider did not send a national identity number, so we cannot show "
        "you your data."
    ),
    "invalid_national_id": _l(
        "The identity provider sent a national identity number that is not valid."
    ),
    "provider_unavailable": _l(
        "The identity provider cannot be reached right now. Please try again in a little while."
    ),
}

ErrorRenderer = Callable[..., Response]


def error_renderer(templates: Jinja2Templates) -> ErrorRenderer:
    def render(request: Request, status: int, *, reason: str | None = None) -> Response:
        if reason is not None:
            message = REASONS.get(reason, MESSAGES[400])
            title = _l("Sign-in failed") if reason != "csrf" else TITLES[403]
        else:
            message = MESSAGES.get(status, MESSAGES[500])
            title = TITLES.get(status, TITLES[500])
        return templates.TemplateResponse(
            request,
            "errors/error.html",
            {"status": status, "title": title, "message": message, "reason": reason},
            status_code=status,
        )

    return render
