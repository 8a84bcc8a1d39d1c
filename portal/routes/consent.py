"""The person's consents, reservations against marketing and objection to it: see and switch."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from portal.identity.auth import person_required
from portal.marketing import preferences
from portal.marketing.consent import ConsentRefused
from portal.views.common import render
from portal.views.consent import build_page, change_from_form, remember_change, take_changed
from portal.web.handlers import in_thread


@person_required
async def page(request: Request) -> Response:
    state = request.app.state
    current = await in_thread(
        preferences.load,
        state.engine,
        state.datamap,
        state.sources,
        request.scope["viewer"].id,
        region=state.settings.phone_region,
        now=state.now(),
    )
    page = build_page(state.datamap, current, changed=take_changed(request))
    return render(request, "consent/home.html", page)


@person_required
async def change(request: Request) -> Response:
    """One switch: give or withdraw a consent, reserve a channel, object (one POST each)."""
    form = await request.form()
    state = request.app.state
    viewer_id = request.scope["viewer"].id
    try:
        item = change_from_form(form, viewer_id)
        await in_thread(
            preferences.change,
            state.engine,
            state.datamap,
            state.sources,
            viewer_id,
            item,
            region=state.settings.phone_region,
            now=state.now(),
        )
    except (ValueError, ConsentRefused):
        return state.render_error(request, 400)
    return RedirectResponse(remember_change(request, state.datamap, item), status_code=303)


routes = [
    Route("/me/consent", page),
    Route("/me/consent", change, methods=["POST"]),
]
