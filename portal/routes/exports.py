"""A person's exports: ask for one, watch it being made, download its files; and the published
JSON Schema of the export format."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response
from starlette.routing import Route

from portal import i18n
from portal.exports import links, service
from portal.exports.document import SCHEMA_FILE, SCHEMA_PATH
from portal.identity.auth import is_fresh, person_required, sign_in_redirect
from portal.views import exports as pages
from portal.views.common import render
from portal.web.handlers import in_db, in_thread


def _runtime(request: Request) -> service.ExportRuntime:
    state = request.app.state
    return service.runtime_for(state.settings, state.datamap, state.sources)


def _render(request: Request, name: str, context: dict[str, Any], status: int = 200) -> Response:
    return request.app.state.templates.TemplateResponse(request, name, context, status_code=status)


async def _list_page(request: Request, error: str | None = None) -> pages.ExportsPage:
    state, viewer_id = request.app.state, request.scope["viewer"].id
    lang, tz = i18n.current_language(), state.datamap.controller.time_zone
    return await in_db(request, pages.exports_page, viewer_id, lang, tz, state.now(), error)


@person_required
async def list_exports(request: Request) -> Response:
    """The person's exports and the form for a new one (GET), or asking for one (POST)."""
    if request.method == "POST":
        form = {key: str(value) for key, value in (await request.form()).items()}
        try:
            export = await in_thread(
                pages.start_export,
                request.app.state.engine,
                form,
                subject_id=request.scope["viewer"].id,
                rt=_runtime(request),
                now=request.app.state.now(),
                language=i18n.current_language(),
            )
        except service.ExportRefused as refused:
            page = await _list_page(request, str(refused))
            return _render(request, "exports/list.html", {"page": page}, 400)
        return RedirectResponse(f"/me/exports/{export.id}", status_code=303)
    return _render(request, "exports/list.html", {"page": await _list_page(request)})


@person_required
async def show_export(request: Request) -> Response:
    """One export: its progress while it is made (the htmx fragment polls), then its files."""
    state = request.app.state
    page = await in_db(
        request,
        pages.export_page,
        request.scope["viewer"].id,
        request.path_params["id"],
        i18n.current_language(),
        state.datamap.controller.time_zone,
        state.now(),
        state.settings.secret_key,
        state.settings.export_link_days,
    )
    if page is None:
        return state.render_error(request, 404)
    if request.headers.get("hx-request"):
        return _render(request, "exports/_progress.html", {"page": page})
    return render(request, "exports/detail.html", page)  # with the flash of a filed request


STATUS = {"invalid": 400, "other_person": 403, "expired": 410}


def _refused(request: Request, reason: str, status: int) -> Response:
    context = {"reason": reason, "sign_in_href": None}
    if reason == "fresh":
        back = f"{request.url.path}?{request.url.query}"
        context["sign_in_href"] = "/auth/login?" + urlencode({"next": back, "fresh": "1"})
    return _render(request, "exports/refused.html", context, status)


async def download(request: Request) -> Response:
    """A file, for the person the link was made for, within its time, after a fresh sign-in."""
    state = request.app.state
    viewer = request.scope.get("viewer")
    if viewer is None or viewer.kind != "person":
        return sign_in_redirect(request, fresh=True)
    token, secret = request.query_params.get("link", ""), state.settings.secret_key
    try:
        link = links.read_personal(secret, token, subject_id=viewer.id, now=state.now())
    except links.LinkRefused as refused:
        return _refused(request, refused.reason, STATUS[refused.reason])
    if not is_fresh(request):
        return _refused(request, "fresh", 403)
    store = _runtime(request).store
    # A HEAD (a browser or download manager looking first) is answered, not recorded.
    record = request.method != "HEAD"
    path = await in_db(
        request, service.open_download, link, viewer.id, store, state.now(), record=record
    )
    if path is None:
        return _refused(request, "gone", 410)
    filename = f"innsyn-{(link.export_id or '')[:8]}-{link.file.filename}"
    return FileResponse(path, media_type=link.file.media_type, filename=filename)


async def schema(request: Request) -> Response:
    """The export format's JSON Schema, public, at a stable address."""
    return FileResponse(SCHEMA_FILE, media_type="application/schema+json")


routes = [
    Route("/me/exports", list_exports, methods=["GET", "POST"]),
    # The signed link goes in the query string: the request log writes paths, never queries.
    Route("/me/exports/download", download),
    Route("/me/exports/{id}", show_export),
    Route(SCHEMA_PATH, schema),
]
