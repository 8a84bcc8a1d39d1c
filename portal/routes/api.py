"""The washing API for dialers, its OpenAPI document, and the administrator's token page.

``POST /api/v1/block-list/check`` takes a batch of numbers (or e-mail addresses) and answers,
for each, whether it is blocked on the channel and why: the same check as washing a list. It is
authenticated by a bearer token an administrator creates (``api_tokens.py``), not by a session,
so the CSRF check does not apply under /api/.
"""

from __future__ import annotations

import json

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from portal.i18n import gettext as _
from portal.identity.auth import staff_required
from portal.marketing import api_tokens
from portal.marketing.api_check import CheckRefused, check_batch
from portal.marketing.api_tokens import TokenRefused
from portal.marketing.openapi import openapi_document
from portal.ratelimit import API_CHECK
from portal.views.api_tokens import tokens_page
from portal.views.common import flash, render
from portal.web.handlers import in_db, in_thread, rate_limited

ADMIN = "admin"


def _unauthorised() -> Response:
    return JSONResponse(
        {"error": "unauthorised", "message": "a valid API token is required"},
        status_code=401,
        headers={"WWW-Authenticate": 'Bearer realm="innsyn"'},
    )


async def check(request: Request) -> Response:
    state = request.app.state
    now = state.now()
    header = request.headers.get("authorization")
    token = await in_db(request, api_tokens.authenticate, header, now)
    if token is None:
        return _unauthorised()
    if refused := await rate_limited(request, API_CHECK, "token", str(token.id)):
        return refused
    body = await request.body()
    try:
        if len(body) > state.settings.body_limit_api:
            raise CheckRefused(
                f"the body is larger than {state.settings.body_limit_api // 1024} KB"
            )
        payload = json.loads(body or b"null")
        region = state.settings.phone_region
        answer = await in_thread(check_batch, state.engine, payload, region=region, now=now)
    except (ValueError, RecursionError, CheckRefused) as exc:
        # A body nested thousands deep makes the parser recurse: refused like any bad JSON.
        message = str(exc) if isinstance(exc, CheckRefused) else "the body is not valid JSON"
        return JSONResponse({"error": "bad_request", "message": message}, status_code=400)
    return JSONResponse(answer)


async def openapi(request: Request) -> Response:
    return JSONResponse(openapi_document(request.app.state.settings.base_url))


# --- the administrator's page --------------------------------------------------------------------


async def _tokens_response(
    request: Request,
    status: int = 200,
    *,
    created: tuple[str, str] | None = None,
    error: str | None = None,
) -> Response:
    tz = request.app.state.datamap.controller.time_zone
    page = await in_db(request, tokens_page, tz, created, error)
    return render(request, "staff/api_tokens.html", page, status)


@staff_required(ADMIN)
async def tokens(request: Request) -> Response:
    return await _tokens_response(request)


@staff_required(ADMIN)
async def create_token(request: Request) -> Response:
    """The new secret is shown on this response only; it is never stored or put in a flash."""
    form = await request.form()
    try:
        token, secret = await in_db(
            request,
            api_tokens.create_token,
            name=str(form.get("name", "")),
            staff_id=request.scope["viewer"].id,
            now=request.app.state.now(),
        )
    except TokenRefused as exc:
        return await _tokens_response(request, 400, error=str(exc))
    return await _tokens_response(request, created=(token.name, secret))


@staff_required(ADMIN)
async def revoke_token(request: Request) -> Response:
    try:
        await in_db(
            request,
            api_tokens.revoke_token,
            request.path_params["id"],
            staff_id=request.scope["viewer"].id,
            now=request.app.state.now(),
        )
    except TokenRefused as exc:
        return await _tokens_response(request, 400, error=str(exc))
    flash(request, _("The token is revoked: it no longer works."))
    return RedirectResponse("/staff/api-tokens", status_code=303)


routes = [
    Route("/api/v1/block-list/check", check, methods=["POST"]),
    Route("/api/openapi.json", openapi),
    Route("/staff/api-tokens", tokens),
    Route("/staff/api-tokens", create_token, methods=["POST"]),
    Route("/staff/api-tokens/{id:int}/revoke", revoke_token, methods=["POST"]),
]
