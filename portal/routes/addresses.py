"""The signed-in person's e-mail addresses: add one (a link proves it), confirm, withdraw."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from portal import i18n
from portal.identity.auth import person_required
from portal.links import LinkRefused, Purpose
from portal.views import addresses
from portal.views.common import render, respond
from portal.views.links import render_refused
from portal.web.handlers import in_db, in_thread


@person_required
async def page(request: Request) -> Response:
    """The person's addresses (GET), or adding one (POST): a link goes to the address."""
    state, viewer_id = request.app.state, request.scope["viewer"].id
    language, now = i18n.current_language(), state.now()
    tz = state.datamap.controller.time_zone
    if request.method == "GET":
        found = await in_db(request, addresses.addresses_page, viewer_id, language, tz, now)
        return render(request, "me/addresses.html", found)
    result = await in_thread(
        addresses.claim,
        state.engine,
        dict(await request.form()),
        subject_id=viewer_id,
        ip=request.client.host if request.client else None,
        language=language,
        tz=tz,
        now=now,
        settings=state.settings,
    )
    return respond(request, result, "me/addresses.html")


@person_required
async def confirm_page(request: Request) -> Response:
    """The link from the e-mail opens a page with the button: opening a link acts on nothing
    (mail scanners open links). Only for the person the link was made for, signed in."""
    state = request.app.state
    try:
        found = await in_db(
            request,
            addresses.confirm_page,
            request.query_params.get("link", ""),
            subject_id=request.scope["viewer"].id,
            now=state.now(),
            settings=state.settings,
        )
    except LinkRefused as refused:
        return render_refused(request, Purpose.confirm_address, refused)
    return render(request, "me/confirm_address.html", found)


@person_required
async def confirm(request: Request) -> Response:
    """The button: prove the address (the link's token comes in the form)."""
    state = request.app.state
    async with request.form() as form:
        token = str(form.get("link", ""))
    try:
        result = await in_thread(
            addresses.confirm,
            state.engine,
            token,
            subject_id=request.scope["viewer"].id,
            language=i18n.current_language(),
            tz=state.datamap.controller.time_zone,
            now=state.now(),
            settings=state.settings,
        )
    except LinkRefused as refused:
        return render_refused(request, Purpose.confirm_address, refused)
    return respond(request, result, "me/addresses.html")


@person_required
async def withdraw(request: Request) -> Response:
    state = request.app.state
    result = await in_thread(
        addresses.withdraw,
        state.engine,
        request.path_params["kind"],
        request.path_params["id"],
        subject_id=request.scope["viewer"].id,
        language=i18n.current_language(),
        tz=state.datamap.controller.time_zone,
        now=state.now(),
    )
    return respond(request, result, "me/addresses.html")


routes = [
    Route("/me/addresses", page, methods=["GET", "POST"]),
    # The link's token goes in the query string: the request log writes paths, never queries.
    Route("/me/addresses/confirm", confirm_page, methods=["GET"]),
    Route("/me/addresses/confirm", confirm, methods=["POST"]),
    Route("/me/addresses/{kind:str}/{id:int}/withdraw", withdraw, methods=["POST"]),
]
