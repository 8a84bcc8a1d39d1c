"""/sessions: where a signed-in person or member of staff sees their sessions and ends the
others."""

from __future__ import annotations

from datetime import timedelta

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from portal import i18n
from portal.i18n import ngettext
from portal.identity.auth import sign_in_redirect
from portal.views.common import flash, render
from portal.views.sessions import end_others, holder_of, sessions_page
from portal.web.handlers import in_thread


async def show(request: Request) -> Response:
    viewer, state = request.scope.get("viewer"), request.app.state
    if viewer is None:
        return sign_in_redirect(request)
    page = await in_thread(
        sessions_page,
        state.engine,
        holder_of(viewer),
        current_key=request.scope["web_session"].record.id,
        now=state.now(),
        idle=timedelta(minutes=state.settings.session_idle_minutes),
        language=i18n.current_language(),
        tz=state.datamap.controller.time_zone,
    )
    return render(request, "sessions/list.html", page)


async def end_the_others(request: Request) -> Response:
    viewer, state = request.scope.get("viewer"), request.app.state
    if viewer is None:
        return sign_in_redirect(request, next_url="/sessions")
    keep = request.scope["web_session"].record.id
    ended = await in_thread(
        end_others, state.engine, holder_of(viewer), keep_key=keep, now=state.now()
    )
    flash(
        request,
        ngettext(
            "Signed out of %(num)d other browser.", "Signed out of %(num)d other browsers.", ended
        ),
    )
    return RedirectResponse("/sessions", status_code=303)


routes = [
    Route("/sessions", show),
    Route("/sessions/end-others", end_the_others, methods=["POST"]),
]
