"""Staff: the block list (look up, add a caller, remove with a reason), importing an external
register, and call-list washing.

Customer service (role "staff") and the DPO use the block list; customer service washes lists.
The DPO and administrators import registers: an import replaces a whole register at once, a
decision about the company's compliance (DPO) or the operator's routine (admin, who had the
command line), not a caller's request. Numbers and addresses travel only in POST bodies, never
in addresses or query strings.
"""

from __future__ import annotations

from datetime import date
from functools import partial
from typing import Any

import anyio
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response
from starlette.routing import Route

from portal import audit
from portal.db import session_scope
from portal.i18n import gettext as _
from portal.identity.auth import staff_required
from portal.marketing import block_list, registers, washing
from portal.marketing.block_list import BlockRefused
from portal.marketing.consent import consent_purposes
from portal.marketing.registers import ImportResult, RegisterError
from portal.marketing.washing import Options, Wash, WashError, WashStatus
from portal.views.common import flash, render
from portal.views.registers import import_message, import_page, regions_for
from portal.views.washing import block_list_page, parse_options, wash_page

BLOCK_LIST_ROLES = ("staff", "dpo")
IMPORT_ROLES = ("dpo", "admin")
WASH_ROLE = "staff"
IMPORT_PATH = "/staff/block-list/import"


def _staff(request: Request) -> tuple[int, tuple[str, ...]]:
    viewer = request.scope["viewer"]
    return viewer.id, tuple(viewer.roles)


# --- the block list ------------------------------------------------------------------------------


@staff_required(*BLOCK_LIST_ROLES)
async def show_block_list(request: Request) -> Response:
    page = await anyio.to_thread.run_sync(
        partial(block_list_page, request.app.state.engine, now=request.app.state.now())
    )
    return render(request, "staff/block_list.html", page)


@staff_required(*BLOCK_LIST_ROLES)
async def search_block_list(request: Request) -> Response:
    form = await request.form()
    staff_id, _roles = _staff(request)
    page = await anyio.to_thread.run_sync(
        partial(
            block_list_page,
            request.app.state.engine,
            search=(str(form.get("kind", "")), str(form.get("value", ""))),
            staff_id=staff_id,
            region=request.app.state.settings.phone_region,
            now=request.app.state.now(),
        )
    )
    return render(request, "staff/block_list.html", page, 200 if not page.errors else 400)


@staff_required(*BLOCK_LIST_ROLES)
async def add_entry(request: Request) -> Response:
    form = await request.form()
    state = request.app.state
    staff_id, _roles = _staff(request)

    def add() -> None:
        with session_scope(state.engine) as db:
            block_list.add_staff_entry(
                db,
                kind=str(form.get("kind", "")),
                value=str(form.get("value", "")),
                channel=str(form.get("channel", "")),
                note=str(form.get("note", "")),
                staff_id=staff_id,
                region=state.settings.phone_region,
                now=state.now(),
            )

    try:
        await anyio.to_thread.run_sync(add)
    except BlockRefused as exc:
        page = await anyio.to_thread.run_sync(
            partial(
                block_list_page,
                state.engine,
                now=state.now(),
                add_error=str(exc),
                add_form=dict(form),
            )
        )
        return render(request, "staff/block_list.html", page, 400)
    flash(request, _("The entry is on the block list."))
    return RedirectResponse("/staff/block-list", status_code=303)


@staff_required(*BLOCK_LIST_ROLES)
async def remove_entry(request: Request) -> Response:
    form = await request.form()
    state = request.app.state
    staff_id, _roles = _staff(request)

    def remove() -> None:
        with session_scope(state.engine) as db:
            block_list.remove_staff_entry(
                db,
                request.path_params["id"],
                reason=str(form.get("reason", "")),
                staff_id=staff_id,
                now=state.now(),
            )

    try:
        await anyio.to_thread.run_sync(remove)
    except BlockRefused as exc:
        page = await anyio.to_thread.run_sync(
            partial(block_list_page, state.engine, now=state.now(), remove_error=str(exc))
        )
        return render(request, "staff/block_list.html", page, 400)
    flash(request, _("The entry was removed from the block list."))
    return RedirectResponse("/staff/block-list", status_code=303)


# --- importing an external register --------------------------------------------------------------


@staff_required(*IMPORT_ROLES)
async def show_import(request: Request) -> Response:
    state = request.app.state
    page = await anyio.to_thread.run_sync(import_page, state.engine, state.settings.phone_region)
    return render(request, "staff/register_import.html", page)


@staff_required(*IMPORT_ROLES)
async def run_import(request: Request) -> Response:
    state = request.app.state
    staff_id, _roles = _staff(request)
    async with request.form() as form:
        source = str(form.get("source", "")).strip().lower()
        typed_date = str(form.get("source_date", "")).strip()
        region = str(form.get("region", "")) or state.settings.phone_region
        file = form.get("file")
        try:
            source_date = registers.parse_file_date(typed_date, state.now().date())
            if region not in regions_for(state.settings.phone_region):
                raise RegisterError("region")
            if not isinstance(file, UploadFile) or not file.filename:
                registers.check_source_name(source)  # the name's problem first, if it has one
                raise RegisterError("no_file")
            result = await anyio.to_thread.run_sync(
                partial(_import, state, source, file, source_date, region, staff_id)
            )
        except RegisterError as exc:
            error = exc.message()
        else:
            flash(request, import_message(result))
            return RedirectResponse(IMPORT_PATH, status_code=303)
    typed = {"source": source, "source_date": typed_date, "region": region}
    build = partial(import_page, state.engine, state.settings.phone_region, typed, error)
    page = await anyio.to_thread.run_sync(build)
    return render(request, "staff/register_import.html", page, 400)


def _import(
    state: Any,
    source: str,
    file: UploadFile,
    source_date: date | None,
    region: str,
    staff_id: int,
) -> ImportResult:
    # session_scope rolls back on RegisterError, so a refused file leaves the old entries.
    with session_scope(state.engine) as db:
        return registers.import_register(
            db,
            source,
            file.file,
            region=region,
            source_date=source_date,
            now=state.now(),
            staff_id=staff_id,
            max_bytes=registers.MAX_UPLOAD_BYTES,
        )


# --- washing -------------------------------------------------------------------------------------


@staff_required(WASH_ROLE)
async def washes(request: Request) -> Response:
    staff_id, roles = _staff(request)
    page = await anyio.to_thread.run_sync(
        partial(wash_page, request.app.state, None, staff_id=staff_id, roles=roles)
    )
    return render(request, "staff/wash.html", page)


@staff_required(WASH_ROLE)
async def upload(request: Request) -> Response:
    state = request.app.state
    staff_id, roles = _staff(request)
    async with request.form() as form:
        file = form.get("file")
        if not isinstance(file, UploadFile) or not file.filename:
            error = _("Choose a CSV file to upload.")
        else:
            try:
                wash = await anyio.to_thread.run_sync(partial(_store, state, file, staff_id))
            except WashError as exc:
                error = exc.message()
            else:
                return RedirectResponse(f"/staff/wash/{wash.id}", status_code=303)
    page = await anyio.to_thread.run_sync(
        partial(wash_page, state, None, staff_id=staff_id, roles=roles, upload_error=error)
    )
    return render(request, "staff/wash.html", page, 400)


def _store(state: Any, file: UploadFile, staff_id: int) -> Wash:
    with session_scope(state.engine) as db:
        return washing.store_upload(
            db,
            file.file,
            directory=state.settings.var_dir / "washing",
            staff_id=staff_id,
            role=WASH_ROLE,
            region=state.settings.phone_region,
            now=state.now(),
        )


@staff_required(WASH_ROLE)
async def show_wash(request: Request) -> Response:
    staff_id, roles = _staff(request)
    page = await anyio.to_thread.run_sync(
        partial(
            wash_page, request.app.state, request.path_params["id"], staff_id=staff_id, roles=roles
        )
    )
    if page is None:
        return request.app.state.render_error(request, 404)
    name = "staff/_wash_status.html" if request.headers.get("hx-request") else "staff/wash.html"
    return render(request, name, page)


@staff_required(WASH_ROLE)
async def start_wash(request: Request) -> Response:
    state = request.app.state
    staff_id, roles = _staff(request)
    form = await request.form()
    options = parse_options(dict(form))
    result = await anyio.to_thread.run_sync(
        partial(_start, state, request.path_params["id"], options, staff_id, roles)
    )
    if result is None:
        return state.render_error(request, 404)
    if result:
        page = await anyio.to_thread.run_sync(
            partial(
                wash_page,
                state,
                request.path_params["id"],
                staff_id=staff_id,
                roles=roles,
                options_errors=result,
            )
        )
        return render(request, "staff/wash.html", page, 400)
    return RedirectResponse(f"/staff/wash/{request.path_params['id']}", status_code=303)


def _start(
    state: Any, wash_id: str, options: Options | None, staff_id: int, roles: tuple[str, ...]
) -> dict[str, str] | None:
    """Problems by field, {} when started (and, for a small file, done), None if not found."""
    now = state.now()
    with session_scope(state.engine) as db:
        wash = db.get(Wash, wash_id)
        if wash is None or not washing.may_see(wash, staff_id, roles):
            return None
        if wash.status != WashStatus.uploaded:
            return {}
        if options is None:
            return {"columns": _("Choose at least one column to wash by.")}
        purposes = list(consent_purposes(state.datamap))
        errors = washing.configure(wash, options, purposes=purposes)
        if errors:
            return errors
        inline = washing.start(db, wash, staff_id=staff_id, now=now)
    if inline:
        with session_scope(state.engine) as db:
            washing.run_and_finish(db, db.get(Wash, wash_id), now=now)
    return {}


@staff_required(WASH_ROLE)
async def download(request: Request) -> Response:
    state = request.app.state
    staff_id, roles = _staff(request)

    def find() -> Wash | None:
        with session_scope(state.engine) as db:
            wash = db.get(Wash, request.path_params["id"])
            if wash is None or not washing.may_see(wash, staff_id, roles):
                return None
            if wash.status != WashStatus.done or not wash.result_path.is_file():
                return None
            audit.record(
                db,
                actor=audit.AuditActor.staff,
                actor_id=staff_id,
                action="wash.download",
                details={"wash_id": wash.id},
                now=state.now(),
            )
            return wash

    wash = await anyio.to_thread.run_sync(find)
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
