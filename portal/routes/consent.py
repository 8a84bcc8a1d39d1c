"""The person's consents, reservations against marketing and objection to it: see and switch."""

from __future__ import annotations

from functools import partial

import anyio
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from portal.identity.auth import person_required
from portal.marketing import preferences
from portal.marketing.consent import Actor, ConsentRefused, TopicKind, Via
from portal.views.common import flash, render
from portal.views.consent import build_page, done_message


def _load(request: Request) -> preferences.PersonChoices:
    state = request.app.state
    return preferences.load(
        state.engine,
        state.datamap,
        state.sources,
        request.scope["viewer"].id,
        region=state.settings.phone_region,
        now=state.now(),
    )


@person_required
async def page(request: Request) -> Response:
    current = await anyio.to_thread.run_sync(_load, request)
    return render(request, "consent/home.html", build_page(request.app.state.datamap, current))


@person_required
async def change(request: Request) -> Response:
    """One switch: give or withdraw a consent, reserve a channel, object (one POST each)."""
    form = await request.form()
    state = request.app.state
    viewer_id = request.scope["viewer"].id
    try:
        item = preferences.Change(
            kind=TopicKind(str(form.get("kind", ""))),
            topic=str(form.get("topic", "")),
            active=form.get("active") == "1",
            via=Via.portal,
            actor=Actor.person,
            actor_id=viewer_id,
            text_version=str(form.get("text_version", ""))[:40] or None,
        )
        await anyio.to_thread.run_sync(
            partial(
                preferences.change,
                state.engine,
                state.datamap,
                state.sources,
                viewer_id,
                item,
                region=state.settings.phone_region,
                now=state.now(),
            )
        )
    except (ValueError, ConsentRefused):
        return state.render_error(request, 400)
    flash(request, done_message(state.datamap, item))
    return RedirectResponse(f"/me/consent#{item.kind}-{item.topic}", status_code=303)


routes = [
    Route("/me/consent", page),
    Route("/me/consent", change, methods=["POST"]),
]
