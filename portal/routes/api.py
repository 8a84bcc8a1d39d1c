"""The washing API for dialers, its OpenAPI document, and the administrator's token page.

``POST /api/v1/block-list/check`` takes a batch of numbers (or e-mail addresses) and answers,
for each, whether it is blocked on the channel and why: the same check as washing a list. It is
authenticated by a bearer token an administrator creates (``api_tokens.py``), not by a session,
so the CSRF check does not apply under /api/.
"""

from __future__ import annotations

import json
from functools import partial
from typing import Any

import anyio
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from portal.db import session_scope
from portal.i18n import gettext as _
from portal.identity.auth import staff_required
from portal.marketing import api_tokens
from portal.marketing.api_check import CheckRefused, check_batch
from portal.marketing.api_tokens import TokenRefused
from portal.marketing.openapi import openapi_document
from portal.views.common import day, flash, render

ADMIN = "admin"
MAX_BODY = 1024 * 1024


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

    def authorised() -> bool:
        with session_scope(state.engine) as db:
            return api_tokens.authenticate(db, header, now) is not None

    if not await anyio.to_thread.run_sync(authorised):
        return _unauthorised()
    body = await request.body()
    try:
        if len(body) > MAX_BODY:
            raise CheckRefused("the body is larger than 1 MB")
        payload = json.loads(body or b"null")
        answer = await anyio.to_thread.run_sync(
            partial(check_batch, state.engine, payload, region=state.settings.phone_region, now=now)
        )
    except (ValueError, CheckRefused) as exc:
        message = str(exc) if isinstance(exc, CheckRefused) else "the body is not valid JSON"
        return JSONResponse({"error": "bad_request", "message": message}, status_code=400)
    return JSONResponse(answer)


async def openapi(request: Request) -> Response:
    return JSONResponse(openapi_document(request.app.state.settings.base_url))


# --- the administrator's page --------------------------------------------------------------------


def _tokens_page(
    engine: Any, created: tuple[str, str] | None = None, error: str | None = None
) -> dict[str, Any]:
    from portal import i18n

    language = i18n.current_language()
    with session_scope(engine) as db:
        rows = [
            {
                "id": token.id,
                "name": token.name,
                "hint": token.hint,
                "created": day(token.created_at, language),
                "last_used": day(token.last_used_at, language) if token.last_used_at else "–",
                "revoked": day(token.revoked_at, language) if token.revoked_at else None,
            }
            for token in api_tokens.all_tokens(db)
        ]
    return {"tokens": rows, "created": created, "error": error}


@staff_required(ADMIN)
async def tokens(request: Request) -> Response:
    page = await anyio.to_thread.run_sync(_tokens_page, request.app.state.engine)
    return render(request, "staff/api_tokens.html", page)


@staff_required(ADMIN)
async def create_token(request: Request) -> Response:
    """The new secret is shown on this response only; it is never stored or put in a flash."""
    state = request.app.state
    form = await request.form()
    staff_id = request.scope["viewer"].id

    def create() -> tuple[str, str]:
        with session_scope(state.engine) as db:
            token, secret = api_tokens.create_token(
                db, name=str(form.get("name", "")), staff_id=staff_id, now=state.now()
            )
            return token.name, secret

    try:
        created = await anyio.to_thread.run_sync(create)
    except TokenRefused as exc:
        page = await anyio.to_thread.run_sync(partial(_tokens_page, state.engine, error=str(exc)))
        return render(request, "staff/api_tokens.html", page, 400)
    page = await anyio.to_thread.run_sync(partial(_tokens_page, state.engine, created))
    return render(request, "staff/api_tokens.html", page)


@staff_required(ADMIN)
async def revoke_token(request: Request) -> Response:
    state = request.app.state
    staff_id = request.scope["viewer"].id

    def revoke() -> None:
        with session_scope(state.engine) as db:
            api_tokens.revoke_token(
                db, request.path_params["id"], staff_id=staff_id, now=state.now()
            )

    try:
        await anyio.to_thread.run_sync(revoke)
    except TokenRefused as exc:
        page = await anyio.to_thread.run_sync(partial(_tokens_page, state.engine, error=str(exc)))
        return render(request, "staff/api_tokens.html", page, 400)
    flash(request, _("The token is revoked: it no longer works."))
    return RedirectResponse("/staff/api-tokens", status_code=303)


routes = [
    Route("/api/v1/block-list/check", check, methods=["POST"]),
    Route("/api/openapi.json", openapi),
    Route("/staff/api-tokens", tokens),
    Route("/staff/api-tokens", create_token, methods=["POST"]),
    Route("/staff/api-tokens/{id:int}/revoke", revoke_token, methods=["POST"]),
]
