"""The signed-in person's own pages."""

from __future__ import annotations

import anyio
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from portal import i18n
from portal.auth import person_required
from portal.datamap import Collection, collect
from portal.db import session_scope
from portal.identifiers import proven_identifiers
from portal.models import Subject
from portal.my_data import build_page, table_page


def _collection(request: Request) -> Collection:
    """Everything held about the signed-in person, found from their proven identifiers."""
    state = request.app.state
    with session_scope(state.engine) as db:
        subject = db.get(Subject, request.scope["viewer"].id)
        proven = proven_identifiers(db, subject.id)
        national_id = subject.national_id
    return collect(state.datamap, state.sources, national_id, proven=proven)


@person_required
async def home(request: Request) -> Response:
    collection = await anyio.to_thread.run_sync(_collection, request)
    state = request.app.state
    page = build_page(state.datamap, collection, i18n.current_language(), state.now().date())
    return request.app.state.templates.TemplateResponse(request, "me/home.html", {"page": page})


@person_required
async def table(request: Request) -> Response:
    """One page of a table within a category: an htmx fragment, or a page of its own."""
    try:
        number = int(request.query_params.get("page", "1"))
    except ValueError:
        number = 1
    collection = await anyio.to_thread.run_sync(_collection, request)
    section = table_page(
        request.app.state.datamap,
        collection,
        request.path_params["category"],
        request.path_params["table"],
        number,
        i18n.current_language(),
        request.app.state.now().date(),
    )
    if section is None:
        return request.app.state.render_error(request, 404)
    name = "me/_table.html" if request.headers.get("hx-request") else "me/table.html"
    return request.app.state.templates.TemplateResponse(request, name, {"table": section})


routes = [
    Route("/me", home),
    Route("/me/data/{category}/{table}", table),
]
