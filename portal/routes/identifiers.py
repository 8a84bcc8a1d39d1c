"""Staff link identifiers to a person, or unlink them (portal/views/identifiers.py).

Customer service and the DPO: a caller shows an old address is theirs, or a second customer
number. National IDs and identifiers travel only in POST bodies; the person's page is by the
portal's own id.
"""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from portal import i18n
from portal.identity.auth import staff_required
from portal.views import identifiers as views
from portal.views.common import Done, redirect, render
from portal.web.handlers import in_db

ROLES = ("staff", "dpo")


@staff_required(*ROLES)
async def search(request: Request) -> Response:
    if request.method == "GET":
        return render(request, "staff/identifiers_search.html", views.SearchPage())
    found = await in_db(request, views.find_person, await request.form())
    if isinstance(found, Done):
        return redirect(request, found)
    return render(request, "staff/identifiers_search.html", found.page, found.status)


async def _person(request: Request, status: int = 200, **refused) -> Response:
    state = request.app.state
    page = await in_db(
        request,
        views.person_page,
        request.path_params["id"],
        staff_id=request.scope["viewer"].id,
        language=i18n.current_language(),
        tz=state.datamap.controller.time_zone,
        now=state.now(),
        **refused,
    )
    if page is None:
        raise HTTPException(404)
    return render(request, "staff/identifiers_person.html", page, status)


@staff_required(*ROLES)
async def person(request: Request) -> Response:
    return await _person(request)


@staff_required(*ROLES)
async def link(request: Request) -> Response:
    form = await request.form()
    state = request.app.state
    done = await in_db(
        request,
        views.link,
        request.path_params["id"],
        form,
        staff_id=request.scope["viewer"].id,
        region=state.settings.phone_region,
        now=state.now(),
    )
    if isinstance(done, Done):
        return redirect(request, done)
    return await _person(request, 400, errors=done, form=dict(form))


@staff_required(*ROLES)
async def unlink(request: Request) -> Response:
    identifier_id = request.path_params["identifier"]
    done = await in_db(
        request,
        views.unlink,
        request.path_params["id"],
        identifier_id,
        await request.form(),
        staff_id=request.scope["viewer"].id,
        now=request.app.state.now(),
    )
    if isinstance(done, Done):
        return redirect(request, done)
    return await _person(request, 400, unlink_error=(identifier_id, done))


routes = [
    Route(views.SEARCH_PATH, search, methods=["GET", "POST"]),
    Route("/staff/people/{id:int}/identifiers", person),
    Route("/staff/people/{id:int}/identifiers/link", link, methods=["POST"]),
    Route("/staff/people/{id:int}/identifiers/{identifier:int}/unlink", unlink, methods=["POST"]),
]
