"""Customer service looks a caller up (portal/views/caller_lookup.py): /staff/lookup.

Customer service, the DPO and administrators. The value looked up and the reason travel only in
POST bodies; the person's page is by the portal's own ids (the look-up's and the person's).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from portal import i18n
from portal.exports.service import runtime_for
from portal.i18n import gettext as _
from portal.identity.auth import staff_required
from portal.ratelimit import STAFF_LOOKUP
from portal.views import caller_lookup as views
from portal.views.common import Done, Refused, flash, redirect, render
from portal.web.handlers import in_thread, limited, viewer_key

ROLES = ("staff", "dpo", "admin")
SEARCH_TEMPLATE = "staff/lookup.html"
PERSON_TEMPLATE = "staff/lookup_person.html"


@staff_required(*ROLES)
@limited(STAFF_LOOKUP, "staff", viewer_key)
async def search(request: Request) -> Response:
    if request.method == "GET":
        return render(request, SEARCH_TEMPLATE, views.search_page())
    state = request.app.state
    found = await in_thread(
        views.search,
        state.engine,
        state.datamap,
        state.sources,
        await request.form(),
        staff_id=request.scope["viewer"].id,
        region=state.settings.phone_region,
        language=i18n.current_language(),
        now=state.now(),
    )
    if isinstance(found, Done):
        return redirect(request, found)
    if isinstance(found, Refused):
        return render(request, SEARCH_TEMPLATE, found.page, found.status)
    return render(request, SEARCH_TEMPLATE, found)


async def _person(request: Request, refused: Refused | None = None) -> Response:
    """The person's page; after a refused action, with why (400)."""
    state = request.app.state
    page = await in_thread(
        views.person_page,
        state.engine,
        state.datamap,
        state.sources,
        request.path_params["lookup"],
        request.path_params["person"],
        staff_id=request.scope["viewer"].id,
        region=state.settings.phone_region,
        language=i18n.current_language(),
        now=state.now(),
        error=refused.page if refused is not None else None,
    )
    if page is None:
        return _look_up_first(request)
    return render(request, PERSON_TEMPLATE, page, 400 if refused is not None else 200)


def _look_up_first(request: Request) -> Response:
    flash(request, _("Look the caller up first, with a reason."))
    return RedirectResponse(views.SEARCH_PATH, status_code=303)


async def _acted(request: Request, done: Done | Refused | None) -> Response:
    if done is None:
        return _look_up_first(request)
    if isinstance(done, Refused):
        return await _person(request, done)
    return redirect(request, done)


@staff_required(*ROLES)
async def person(request: Request) -> Response:
    return await _person(request)


@staff_required(*ROLES)
async def access_request(request: Request) -> Response:
    state = request.app.state
    done = await in_thread(
        views.file_access_request,
        state.engine,
        runtime_for(state.settings, state.datamap, state.sources),
        request.path_params["lookup"],
        request.path_params["person"],
        await request.form(),
        staff_id=request.scope["viewer"].id,
        now=state.now(),
    )
    return await _acted(request, done)


@staff_required(*ROLES)
async def choice(request: Request) -> Response:
    state = request.app.state
    done = await in_thread(
        views.record_choice,
        state.engine,
        state.datamap,
        state.sources,
        request.path_params["lookup"],
        request.path_params["person"],
        await request.form(),
        staff_id=request.scope["viewer"].id,
        region=state.settings.phone_region,
        now=state.now(),
    )
    return await _acted(request, done)


PERSON_PATH = views.SEARCH_PATH + "/{lookup:int}/people/{person:int}"
routes = [
    Route(views.SEARCH_PATH, search, methods=["GET", "POST"]),
    Route(PERSON_PATH, person),
    Route(PERSON_PATH + "/access-request", access_request, methods=["POST"]),
    Route(PERSON_PATH + "/choice", choice, methods=["POST"]),
]
