"""The signed-in person's own pages."""

from __future__ import annotations

from functools import partial
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from portal import i18n
from portal.datamap import Resolution, resolve
from portal.datamap.paging import read
from portal.db import session_scope
from portal.identity.auth import person_required
from portal.identity.identifiers import PersonKeys, keys_of, person_keys
from portal.views.my_data import RowReader, my_data_page, table_page
from portal.web.handlers import in_thread
from portal.workflows.kept import still_kept


def _holdings(request: Request, keys: PersonKeys | None = None) -> tuple[Resolution, RowReader]:
    """Whose rows are whose (from this session's short memory when fresh), and a reader of
    whole rows by key. Runs in a worker thread: it queries the company's databases.
    ``keys``: the person's (identifiers.person_keys), when the caller has read them."""
    state = request.app.state
    viewer_id = request.scope["viewer"].id

    def resolve_now() -> Resolution:
        national_id, _country, proven = keys or person_keys(state.engine, viewer_id)
        return resolve(state.datamap, state.sources, national_id, proven=proven)

    resolution = state.memory.get(_session_key(request), viewer_id, "resolution", resolve_now)

    def reader(wanted: Any) -> Any:
        return read(state.datamap, state.sources, resolution, wanted)

    return resolution, reader


def _session_key(request: Request) -> str:
    return request.scope["web_session"].record.id


@person_required
async def home(request: Request) -> Response:
    state = request.app.state
    language, today = i18n.current_language(), state.now().date()
    # The rendered page is remembered briefly for the session (portal/web/session_memory.py).
    remembered = (_session_key(request), request.scope["viewer"].id, ("/me", language, today))
    body = state.memory.recall(*remembered)
    if body is not None:
        return HTMLResponse(body)

    def build() -> Any:
        viewer_id = request.scope["viewer"].id
        with session_scope(state.engine) as db:  # closed before the company's are read
            kept, keys = still_kept(db, viewer_id), keys_of(db, viewer_id)
        holdings = partial(_holdings, request, keys)
        return my_data_page(state.datamap, state.sources, keys, kept, holdings, language, today)

    page = await in_thread(build)
    response = state.templates.TemplateResponse(request, "me/home.html", {"page": page})
    state.memory.keep(*remembered, response.body)
    return response


@person_required
async def table(request: Request) -> Response:
    """One page of a table: an htmx fragment, or a page of its own."""
    try:
        number = int(request.query_params.get("page", "1"))
    except ValueError:
        number = 1
    state = request.app.state
    language, today = i18n.current_language(), state.now().date()
    name = request.path_params["table"]

    def build() -> Any:
        resolution, reader = _holdings(request)
        return table_page(state.datamap, resolution, reader, name, number, language, today)

    section = await in_thread(build)
    if section is None:
        return state.render_error(request, 404)
    template = "me/_table.html" if request.headers.get("hx-request") else "me/table.html"
    return state.templates.TemplateResponse(request, template, {"table": section})


routes = [
    Route("/me", home),
    Route("/me/data/{table}", table),
]
