"""The signed-in person's requests: list, file, follow, cancel."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from portal import i18n
from portal.identity.auth import is_fresh, person_required, sign_in_redirect
from portal.ratelimit import PERSON_FILES
from portal.views import my_requests, request_form
from portal.views.common import pdf_response, render, respond
from portal.web.handlers import in_thread, limited, viewer_key
from portal.workflows.requests import RequestType

T = TypeVar("T")


@person_required
async def list_requests(request: Request) -> Response:
    state = request.app.state
    page = await in_thread(
        my_requests.load_my_requests,
        state.engine,
        request.scope["viewer"].id,
        i18n.current_language(),
        state.datamap.controller.time_zone,
        state.now(),
    )
    return render(request, "requests/list.html", page)


@person_required
@limited(PERSON_FILES, "subject", viewer_key)
async def new_request(request: Request) -> Response:
    """The form (GET), or filing it (POST). Erasure needs a recent sign-in, both to see the
    form for it and to file it."""
    form = await request.form() if request.method == "POST" else request.query_params
    if form.get("type") == RequestType.erasure and not is_fresh(request):
        # Back to the erasure form afterwards, also when the stale sign-in showed on a POST.
        return sign_in_redirect(request, fresh=True, next_url="/me/requests/new?type=erasure")
    state, viewer_id = request.app.state, request.scope["viewer"].id
    if request.method == "GET":
        load = request_form.load_new_request_form
        page = await in_thread(load, state.engine, viewer_id, form.get("type", ""))
        return render(request, "requests/new.html", page)
    result = await in_thread(
        request_form.submit_and_export,
        state.engine,
        dict(form),
        subject_id=viewer_id,
        language=i18n.current_language(),
        now=state.now(),
        settings=state.settings,
        datamap=state.datamap,
        sources=state.sources,
    )
    return respond(request, result, "requests/new.html")


@person_required
async def show_request(request: Request) -> Response:
    state = request.app.state
    lang, tz, now = i18n.current_language(), state.datamap.controller.time_zone, state.now()
    page = await _mine(request, my_requests.load_my_request, lang, tz, now)
    if page is None:
        return state.render_error(request, 404)
    return render(request, "requests/detail.html", page)


@person_required
async def cancel_request(request: Request) -> Response:
    state = request.app.state
    lang, tz, now = i18n.current_language(), state.datamap.controller.time_zone, state.now()
    result = await _mine(request, my_requests.cancel_my_request, lang, tz, now)
    if result is None:
        return state.render_error(request, 404)
    return respond(request, result, "requests/detail.html")


@person_required
async def answer(request: Request) -> Response:
    """The person's answer to the DPO's question (shown while the request waits for them)."""
    state = request.app.state
    lang, tz, now = i18n.current_language(), state.datamap.controller.time_zone, state.now()
    form = {"answer": str((await request.form()).get("answer", ""))}
    result = await _mine(request, my_requests.answer_my_request, form, lang, tz, now)
    if result is None:
        return state.render_error(request, 404)
    return respond(request, result, "requests/detail.html")


@person_required
async def outcome_letter(request: Request) -> Response:
    """The outcome letter of the person's own completed erasure (PDF, in the page's language).
    A download of personal data: it needs a recent sign-in, as erasure does."""
    if not is_fresh(request):
        return sign_in_redirect(request, fresh=True)
    state = request.app.state
    facts = await _mine(request, my_requests.load_my_letter)
    if facts is None:
        return state.render_error(request, 404)
    pdf = await in_thread(facts.render, state.datamap.controller, i18n.current_language())
    return pdf_response(pdf, facts.request_id)


async def _mine(request: Request, function: Callable[..., T], *more: Any) -> T:
    """``function(engine, the person's id, the request id in the path, *more)``, in a thread."""
    state = request.app.state
    viewer_id, request_id = request.scope["viewer"].id, request.path_params["id"]
    return await in_thread(function, state.engine, viewer_id, request_id, *more)


routes = [
    Route("/me/requests", list_requests),
    Route("/me/requests/new", new_request, methods=["GET", "POST"]),
    Route("/me/requests/{id:int}", show_request),
    Route("/me/requests/{id:int}/cancel", cancel_request, methods=["POST"]),
    Route("/me/requests/{id:int}/answer", answer, methods=["POST"]),
    Route("/me/requests/{id:int}/letter.pdf", outcome_letter),
]
