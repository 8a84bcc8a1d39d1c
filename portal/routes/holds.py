"""The DPO's holds page: the data map's holds and the case holds, with their forms."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from portal import i18n
from portal.identity.auth import staff_required
from portal.views import holds
from portal.views.common import render, respond
from portal.web.handlers import in_thread


def _runtime(request: Request) -> holds.Runtime:
    state = request.app.state
    return holds.Runtime(state.datamap, state.sources, state.now())


@staff_required("dpo")
async def page(request: Request) -> Response:
    """Every hold; naming the case holds' people is audit-logged."""
    content = await in_thread(
        holds.load_holds_page,
        request.app.state.engine,
        request.scope["viewer"].id,
        i18n.current_language(),
        _runtime(request),
    )
    return render(request, "dpo/holds.html", content)


async def _act(request: Request, action: str, hold_id: int | None) -> Response:
    result = await in_thread(
        holds.act_on_holds,
        request.app.state.engine,
        action,
        hold_id,
        dict(await request.form()),
        staff_id=request.scope["viewer"].id,
        language=i18n.current_language(),
        rt=_runtime(request),
    )
    return respond(request, result, "dpo/holds.html")


@staff_required("dpo")
async def set_hold(request: Request) -> Response:
    """A hold on a request's person, or a person by national ID."""
    return await _act(request, "set", None)


@staff_required("dpo")
async def release(request: Request) -> Response:
    """Release a hold, with the reason."""
    return await _act(request, "release", request.path_params["id"])


@staff_required("dpo")
async def review(request: Request) -> Response:
    """A new review day for a hold."""
    return await _act(request, "review", request.path_params["id"])


routes = [
    Route("/dpo/holds", page),
    Route("/dpo/holds", set_hold, methods=["POST"]),
    Route("/dpo/holds/{id:int}/release", release, methods=["POST"]),
    Route("/dpo/holds/{id:int}/review", review, methods=["POST"]),
]
