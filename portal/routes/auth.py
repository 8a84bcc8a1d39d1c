"""Sign-in and sign-out against the OpenID provider."""

from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from portal.identity.auth import SignInError, safe_next
from portal.identity.sign_in import account_for
from portal.ratelimit import SIGN_IN
from portal.views.navigation import landing
from portal.web.handlers import client_address, in_db, rate_limited

logger = logging.getLogger("portal.identity.auth")


async def login(request: Request) -> Response:
    if refused := await rate_limited(request, SIGN_IN, "ip", client_address(request)):
        return refused
    state = request.scope["web_session"]
    state.data["next"] = safe_next(request.query_params.get("next"))
    fresh = request.query_params.get("fresh") == "1"
    try:
        return await request.app.state.relying_party.begin(request, fresh=fresh)
    except SignInError as exc:
        return sign_in_failed(request, exc)


async def callback(request: Request) -> Response:
    app = request.app.state
    state = request.scope["web_session"]
    next_url = safe_next(state.data.get("next"))
    try:
        identity = await app.relying_party.complete(request)
        account = await in_db(request, account_for, identity, app.settings, app.now())
    except SignInError as exc:
        return sign_in_failed(request, exc)
    state.sign_in(
        subject_id=account.subject_id,
        staff_id=account.staff_id,
        acr=identity.acr,
        authenticated_at=app.now(),
        # What sign-out needs at the provider: the opaque sub, not the ID token with its claims.
        data={"sub": identity.sub},
    )
    if account.staff_id is not None and next_url == "/me":
        next_url = landing(account.roles)
    return RedirectResponse(next_url, status_code=303)


def sign_in_failed(request: Request, exc: SignInError) -> Response:
    # The reason is a fixed code, never a claim value: safe to log.
    logger.warning("sign-in refused: %s", exc.reason)
    state = request.scope["web_session"]
    # A failed answer ends only a sign-in that had not happened: anyone can send a browser to
    # the callback with error=, and that must not sign a person out.
    if state.subject_id is None and state.staff_id is None:
        state.sign_out()
    return request.app.state.render_error(request, 400, reason=exc.reason)


async def logout(request: Request) -> Response:
    state = request.scope["web_session"]
    sub = state.data.get("sub")
    state.sign_out()
    url = await request.app.state.relying_party.logout_url(sub)
    return RedirectResponse(url or "/signed-out", status_code=303)


routes = [
    Route("/auth/login", login),
    Route("/auth/callback", callback),
    Route("/auth/logout", logout, methods=["POST"]),
]
