"""The signed-in person's requests: list, file, follow, cancel."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any, TypeVar

import anyio
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from portal import i18n
from portal.exports.models import ExportStatus
from portal.exports.service import export_for_filed_request, runtime_for
from portal.i18n import gettext as _
from portal.identity.auth import is_fresh, person_required, sign_in_redirect
from portal.views import my_requests, request_form
from portal.views.common import Done, flash, pdf_response, render
from portal.workflows.requests import RequestType

T = TypeVar("T")


def _done(request: Request, done: Done) -> Response:
    flash(request, done.message)
    return RedirectResponse(done.location, status_code=303)


@person_required
async def list_requests(request: Request) -> Response:
    state = request.app.state
    page = await anyio.to_thread.run_sync(
        my_requests.load_my_requests,
        state.engine,
        request.scope["viewer"].id,
        i18n.current_language(),
        state.now(),
    )
    return render(request, "requests/list.html", page)


@person_required
async def new_request(request: Request) -> Response:
    """The form (GET), or filing it (POST). Erasure needs a recent sign-in, both to see the
    form for it and to file it."""
    form = await request.form() if request.method == "POST" else request.query_params
    if form.get("type") == RequestType.erasure and not is_fresh(request):
        # Back to the erasure form afterwards, also when the stale sign-in showed on a POST.
        return sign_in_redirect(request, fresh=True, next_url="/me/requests/new?type=erasure")
    if request.method == "GET":
        return render(
            request, "requests/new.html", request_form.new_request_form(form.get("type", ""))
        )
    state = request.app.state
    result = await anyio.to_thread.run_sync(
        partial(
            request_form.submit_new_request,
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
    if isinstance(result, Done):
        return _done(request, await anyio.to_thread.run_sync(_with_export, request, result))
    return render(request, "requests/new.html", result.page, result.status)


def _with_export(request: Request, done: Done) -> Done:
    """An access or portability request goes on to its export's page, where the copy is made
    (at once, or with progress); other requests stay on their own page."""
    state = request.app.state
    if done.request_id is None:
        return done
    export = export_for_filed_request(
        state.engine,
        done.request_id,
        subject_id=request.scope["viewer"].id,
        rt=runtime_for(state.settings, state.datamap, state.sources),
        now=state.now(),
        language=i18n.current_language(),
    )
    if export is None:
        return done
    if export.status == ExportStatus.ready:
        message = _("We have received your request, and your copy is ready.")
    else:
        message = _("We have received your request. Your copy is shown here when it is ready.")
    return Done(f"/me/exports/{export.id}", message)


@person_required
async def show_request(request: Request) -> Response:
    state = request.app.state
    page = await _mine(request, my_requests.load_my_request, i18n.current_language(), state.now())
    if page is None:
        return state.render_error(request, 404)
    return render(request, "requests/detail.html", page)


@person_required
async def cancel_request(request: Request) -> Response:
    state = request.app.state
    lang, now = i18n.current_language(), state.now()
    result = await _mine(request, my_requests.cancel_my_request, lang, now)
    if result is None:
        return state.render_error(request, 404)
    if isinstance(result, Done):
        return _done(request, result)
    return render(request, "requests/detail.html", result.page, result.status)


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
    pdf = await anyio.to_thread.run_sync(
        facts.render, state.datamap.controller, i18n.current_language()
    )
    return pdf_response(pdf, facts.request_id)


async def _mine(request: Request, function: Callable[..., T], *more: Any) -> T:
    """``function(engine, the person's id, the request id in the path, *more)``, in a thread."""
    state = request.app.state
    viewer_id, request_id = request.scope["viewer"].id, request.path_params["id"]
    return await anyio.to_thread.run_sync(function, state.engine, viewer_id, request_id, *more)


routes = [
    Route("/me/requests", list_requests),
    Route("/me/requests/new", new_request, methods=["GET", "POST"]),
    Route("/me/requests/{id:int}", show_request),
    Route("/me/requests/{id:int}/cancel", cancel_request, methods=["POST"]),
    Route("/me/requests/{id:int}/letter.pdf", outcome_letter),
]
