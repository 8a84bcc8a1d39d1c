"""The signed-in person's requests: list, file, follow, cancel."""

from __future__ import annotations

from functools import partial

import anyio
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from portal import i18n
from portal import requests_view as view
from portal.auth import is_fresh, person_required, sign_in_redirect
from portal.workflows.requests import RequestType


def _done(request: Request, done: view.Done) -> Response:
    view.flash(request, done.message)
    return RedirectResponse(done.location, status_code=303)


@person_required
async def list_requests(request: Request) -> Response:
    state = request.app.state
    page = await anyio.to_thread.run_sync(
        view.load_my_requests,
        state.engine,
        request.scope["viewer"].id,
        i18n.current_language(),
        state.now(),
    )
    return view.render(request, "requests/list.html", page)


@person_required
async def new_request(request: Request) -> Response:
    """The form (GET), or filing it (POST). Erasure needs a recent sign-in, both to see the
    form for it and to file it."""
    form = await request.form() if request.method == "POST" else request.query_params
    if form.get("type") == RequestType.erasure and not is_fresh(request):
        # Back to the erasure form afterwards, also when the stale sign-in showed on a POST.
        return sign_in_redirect(request, fresh=True, next_url="/me/requests/new?type=erasure")
    if request.method == "GET":
        return view.render(
            request, "requests/new.html", view.new_request_form(form.get("type", ""))
        )
    state = request.app.state
    result = await anyio.to_thread.run_sync(
        partial(
            view.submit_new_request,
            state.engine,
            dict(form),
            subject_id=request.scope["viewer"].id,
            language=i18n.current_language(),
            now=state.now(),
            datamap=state.datamap,
            sources=state.sources,
            auto_approve=state.settings.erasure_auto_approve,
        )
    )
    if isinstance(result, view.Done):
        return _done(request, result)
    return view.render(request, "requests/new.html", result.page, result.status)


@person_required
async def show_request(request: Request) -> Response:
    state = request.app.state
    page = await anyio.to_thread.run_sync(
        view.load_my_request,
        state.engine,
        request.scope["viewer"].id,
        request.path_params["id"],
        i18n.current_language(),
        state.now(),
    )
    if page is None:
        return state.render_error(request, 404)
    return view.render(request, "requests/detail.html", page)


@person_required
async def cancel_request(request: Request) -> Response:
    state = request.app.state
    result = await anyio.to_thread.run_sync(
        view.cancel_my_request,
        state.engine,
        request.scope["viewer"].id,
        request.path_params["id"],
        i18n.current_language(),
        state.now(),
    )
    if result is None:
        return state.render_error(request, 404)
    if isinstance(result, view.Done):
        return _done(request, result)
    return view.render(request, "requests/detail.html", result.page, result.status)


routes = [
    Route("/me/requests", list_requests),
    Route("/me/requests/new", new_request, methods=["GET", "POST"]),
    Route("/me/requests/{id:int}", show_request),
    Route("/me/requests/{id:int}/cancel", cancel_request, methods=["POST"]),
]
