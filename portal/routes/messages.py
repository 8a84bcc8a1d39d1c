"""The signed-in person's messages: everything the portal sent them."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from portal import i18n
from portal.identity.auth import person_required
from portal.views import messages
from portal.views.common import render
from portal.web.handlers import in_thread


@person_required
async def list_messages(request: Request) -> Response:
    state = request.app.state
    page = await in_thread(
        messages.load_messages,
        state.engine,
        request.scope["viewer"].id,
        i18n.current_language(),
        messages.site_of(state.settings.base_url, state.datamap.controller.time_zone),
    )
    return render(request, "messages/list.html", page)


@person_required
async def show_message(request: Request) -> Response:
    """One message; opening it marks it read."""
    state = request.app.state
    page = await in_thread(
        messages.load_message,
        state.engine,
        request.scope["viewer"].id,
        request.path_params["id"],
        i18n.current_language(),
        messages.site_of(state.settings.base_url, state.datamap.controller.time_zone),
        state.now(),
    )
    if page is None:
        return state.render_error(request, 404)
    return render(request, "messages/detail.html", page)


routes = [
    Route("/me/messages", list_messages),
    Route("/me/messages/{id:int}", show_message),
]
