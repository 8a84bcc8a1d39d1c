"""Pages anyone may see, and operations endpoints."""

from __future__ import annotations

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
    async with request.form() as form:
        language = str(form.get("lang", ""))
        next_url = safe_next(str(form.get("next", "")), "/")
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
