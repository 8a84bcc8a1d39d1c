"""Staff: the block list (look up, add a caller, remove with a reason), importing an external
register, and call-list washing.

Customer service (role "staff") and the DPO use the block list; customer service washes lists.
The DPO and administrators import registers: an import replaces a whole register at once, a
decision about the company's compliance (DPO) or the operator's routine (admin, who had the
command line), not a caller's request. Numbers and addresses travel only in POST bodies, never
in addresses or query strings.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response
from starlette.routing import Route

from portal.i18n import gettext as _
from portal.identity.auth import staff_required
from portal.marketing import block_list, washing
from portal.marketing.block_list import BlockRefused
from portal.views.common import Refused, flash, render, respond
from portal.views.registers import IMPORT_PATH, import_page, submit_import
from portal.views.washing import (
    add_form_entry,
    block_list_page,
    parse_options,
    start_washing,
    upload_list,
    wash_page,
)
from portal.web.handlers import in_db, in_thread

BLOCK_LIST_ROLES = ("staff", "dpo")
IMPORT_ROLES = ("dpo", "admin")
WASH_ROLE = "staff"


def _staff(request: Request) -> tuple[int, tuple[str, ...]]:
    viewer = request.scope["viewer"]
    return viewer.id, tuple(viewer.roles)


# --- the block list ------------------------------------------------------------------------------


async def _block_list(request: Request, status: int = 200, **refused: Any) -> Response:
    """The page; after a refused change, with the reason (``add_error`` or ``remove_error``)."""
    state = request.app.state
    tz = state.datamap.controller.time_zone
    page = await in_thread(block_list_page, state.engine, tz=tz, now=state.now(), **refused)
    return render(request, "staff/block_list.html", page, status)


@staff_required(*BLOCK_LIST_ROLES)
async def show_block_list(request: Request) -> Response:
    return await _block_list(request)


@staff_required(*BLOCK_LIST_ROLES)
async def search_block_list(request: Request) -> Response:
    form = await request.form()
    staff_id, _roles = _staff(request)
    page = await in_thread(
        block_list_page,
        request.app.state.engine,
        search=(str(form.get("kind", "")), str(form.get("value", ""))),
        staff_id=staff_id,
        region=request.app.state.settings.phone_region,
        tz=request.app.state.datamap.controller.time_zone,
        now=request.app.state.now(),
    )
    return render(request, "staff/block_list.html", page, 200 if not page.errors else 400)


@staff_required(*BLOCK_LIST_ROLES)
async def add_entry(request: Request) -> Response:
    form = await request.form()
    state = request.app.state
    staff_id, _roles = _staff(request)
    region = state.settings.phone_region
    try:
        await in_db(
            request, add_form_entry, form, staff_id=staff_id, region=region, now=state.now()
        )
    except BlockRefused as exc:
        return await _block_list(request, 400, add_error=str(exc), add_form=dict(form))
    flash(request, _("The entry is on the block list."))
    return RedirectResponse("/staff/block-list", status_code=303)


@staff_required(*BLOCK_LIST_ROLES)
async def remove_entry(request: Request) -> Response:
    form = await request.form()
    staff_id, _roles = _staff(request)
    try:
        await in_db(
            request,
            block_list.remove_staff_entry,
            request.path_params["id"],
            reason=str(form.get("reason", "")),
            staff_id=staff_id,
            now=request.app.state.now(),
        )
    except BlockRefused as exc:
        return await _block_list(request, 400, remove_error=str(exc))
    flash(request, _("The entry was removed from the block list."))
    return RedirectResponse("/staff/block-list", status_code=303)


# --- importing an external register --------------------------------------------------------------


@staff_required(*IMPORT_ROLES)
async def show_import(request: Request) -> Response:
    state = request.app.state
    tz = state.datamap.controller.time_zone
    page = await in_thread(import_page, state.engine, state.settings.phone_region, tz)
    return render(request, "staff/register_import.html", page)


@staff_required(*IMPORT_ROLES)
async def run_import(request: Request) -> Response:
    state = request.app.state
    staff_id, _roles = _staff(request)
    # The file is read while the form is open: closing the form closes its uploaded files.
    async with request.form() as form:
        result = await in_thread(
            submit_import,
            state.engine,
            form,
            phone_region=state.settings.phone_region,
            tz=state.datamap.controller.time_zone,
            staff_id=staff_id,
            now=state.now(),
        )
    return respond(request, result, "staff/register_import.html")


# --- washing -------------------------------------------------------------------------------------


@staff_required(WASH_ROLE)
async def washes(request: Request) -> Response:
    staff_id, roles = _staff(request)
    page = await in_thread(wash_page, request.app.state, None, staff_id=staff_id, roles=roles)
    return render(request, "staff/wash.html", page)


@staff_required(WASH_ROLE)
async def upload(request: Request) -> Response:
    state = request.app.state
    staff_id, roles = _staff(request)
    async with request.form() as form:
        result = await in_thread(
            upload_list, state, form.get("file"), staff_id=staff_id, roles=roles, role=WASH_ROLE
        )
    if isinstance(result, Refused):
        return render(request, "staff/wash.html", result.page, result.status)
    return RedirectResponse(f"/staff/wash/{result.id}", status_code=303)


@staff_required(WASH_ROLE)
async def show_wash(request: Request) -> Response:
    staff_id, roles = _staff(request)
    state, wash_id = request.app.state, request.path_params["id"]
    page = await in_thread(wash_page, state, wash_id, staff_id=staff_id, roles=roles)
    if page is None:
        return state.render_error(request, 404)
    name = "staff/_wash_status.html" if request.headers.get("hx-request") else "staff/wash.html"
    return render(request, name, page)


@staff_required(WASH_ROLE)
async def start_wash(request: Request) -> Response:
    state, wash_id = request.app.state, request.path_params["id"]
    staff_id, roles = _staff(request)
    options = parse_options(dict(await request.form()))
    errors = await in_thread(start_washing, state, wash_id, options, staff_id=staff_id, roles=roles)
    if errors is None:
        return state.render_error(request, 404)
    if errors:
        page = await in_thread(
            wash_page, state, wash_id, staff_id=staff_id, roles=roles, options_errors=errors
        )
        return render(request, "staff/wash.html", page, 400)
    return RedirectResponse(f"/staff/wash/{wash_id}", status_code=303)


@staff_required(WASH_ROLE)
async def download(request: Request) -> Response:
    state = request.app.state
    staff_id, roles = _staff(request)
    wash = await in_db(
        request,
        washing.open_result,
        request.path_params["id"],
        staff_id=staff_id,
        roles=roles,
        now=state.now(),
    )
    if wash is None:
        return state.render_error(request, 404)
    name = f"washed-{wash.created_at:%Y-%m-%d}.csv"
    return FileResponse(
        wash.result_path, media_type=f"text/csv; charset={wash.encoding}", filename=name
    )


routes = [
    Route("/staff/block-list", show_block_list),
    Route("/staff/block-list/search", search_block_list, methods=["POST"]),
    Route("/staff/block-list/add", add_entry, methods=["POST"]),
    Route("/staff/block-list/{id:int}/remove", remove_entry, methods=["POST"]),
    Route(IMPORT_PATH, show_import),
    Route(IMPORT_PATH, run_import, methods=["POST"]),
    Route("/staff/wash", washes),
    Route("/staff/wash", upload, methods=["POST"]),
    Route("/staff/wash/{id:str}", show_wash),
    Route("/staff/wash/{id:str}", start_wash, methods=["POST"]),
    Route("/staff/wash/{id:str}/download", download),
]
