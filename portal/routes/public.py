"""Pages anyone may see, and operations endpoints."""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode

from sqlalchemy import text
from sqlalchemy.engine import Engine
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from portal import i18n
from portal.identity.auth import safe_next
from portal.views.landing import landing_page
from portal.web.handlers import in_thread


async def landing(request: Request) -> Response:
    viewer = request.scope.get("viewer")
    if viewer is not None:
        return RedirectResponse("/staff" if viewer.kind == "staff" else "/me", status_code=303)
    page = landing_page(
        request.app.state.datamap, session_expired=request.scope["web_session"].expired
    )
    return request.app.state.templates.TemplateResponse(
        request, "public/index.html", {"page": page}
    )


async def signed_out(request: Request) -> Response:
    return request.app.state.templates.TemplateResponse(request, "public/signed_out.html", {})


async def choose_language(request: Request) -> Response:
    """Remember the language and go back to the page, at the same place (a table's page)."""
    async with request.form() as form:
        language = str(form.get("lang", ""))
        next_url = back_to(str(form.get("next", "")))
    response = RedirectResponse(next_url, status_code=303)
    if language in i18n.LANGUAGES:
        response.set_cookie(
            i18n.COOKIE,
            language,
            max_age=365 * 24 * 3600,
            httponly=True,
            samesite="lax",
            secure=request.app.state.settings.production,
        )
    return response


# The query parameters that say where on a page one is. Nothing else from a query goes back
# into a URL: no search terms, no tokens (a download link's), so never personal data.
# The audit log's filters are codes, the portal's own numbers and dates; the queue's are
# codes and staff ids: no personal data (the queue's search never is in a URL).
PLACE_PARAMETERS = frozenset(
    {"page", "type", "status", "action", "who", "subject", "request", "from", "to"}
    | {"assignee", "overdue", "sort"}
)
_PLACE_VALUE = re.compile(r"[A-Za-z0-9_.-]{1,40}")


def back_to(next_url: str) -> str:
    """The page to return to after switching language: a path on this site with only its
    place parameters (`PLACE_PARAMETERS`, short plain values), or the landing page."""
    path, _, query = safe_next(next_url, "/").partition("?")
    kept = [
        (name, value)
        for name, value in parse_qsl(query)
        if name in PLACE_PARAMETERS and _PLACE_VALUE.fullmatch(value)
    ]
    return f"{path}?{urlencode(kept)}" if kept else path


def _ping(engine: Engine) -> None:
    with engine.connect() as connection:
        connection.execute(text("SELECT 1"))


async def healthz(request: Request) -> Response:
    engine = request.app.state.engine
    try:
        await in_thread(_ping, engine)
    except Exception:
        return JSONResponse({"status": "error", "database": "unreachable"}, status_code=503)
    return JSONResponse({"status": "ok", "database": "ok"})


routes = [
    Route("/", landing),
    Route("/signed-out", signed_out),
    Route("/language", choose_language, methods=["POST"]),
    Route("/healthz", healthz),
]
