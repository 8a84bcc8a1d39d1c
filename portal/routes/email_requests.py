"""Requests from people without BankID: the public form, the e-mailed links that confirm and
follow a request, new links, and the download of a verified request's copy.

A follow link opens the request for this browser session (until the link would have expired)
and redirects to the request's page, so the link's token leaves the address bar and the page
keeps working after a language switch. Every link's token travels in the query string or a
form, never the path: the request log writes paths only.
"""

from __future__ import annotations

from datetime import UTC, datetime

from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response
from starlette.routing import Route

from portal import i18n
from portal.exports import links as export_links
from portal.exports import service
from portal.links import LinkRefused, Purpose, Refusal, lifetime
from portal.views import email_requests as pages
from portal.views.common import redirect, render, respond
from portal.views.links import refused_link_page, render_refused, speak_as_link
from portal.web.handlers import in_db, in_thread

FOLLOWED = "followed_requests"


async def new_request(request: Request) -> Response:
    """The public form (GET), or filing it (POST): a link to confirm the address is sent."""
    state = request.app.state
    if request.method == "GET":
        return render(request, "email_requests/new.html", pages.public_form())
    result = await in_thread(
        pages.submit_public_form,
        state.engine,
        dict(await request.form()),
        ip=request.client.host if request.client else None,
        language=i18n.current_language(),
        now=state.now(),
        settings=state.settings,
    )
    return respond(request, result, "email_requests/new.html")


async def sent(request: Request) -> Response:
    page = pages.SentPage(hours=request.app.state.settings.request_link_hours)
    return render(request, "email_requests/sent.html", page)


async def confirm_page(request: Request) -> Response:
    """The link from the e-mail opens a page with the button; opening it confirms nothing."""
    state = request.app.state
    token = request.query_params.get("link", "")
    try:
        page = await in_db(
            request, pages.confirm_page, token, now=state.now(), settings=state.settings
        )
    except LinkRefused as refused:
        return render_refused(request, Purpose.confirm_request, refused)
    speak_as_link(request.cookies.get(i18n.COOKIE), page.language)
    return render(request, "email_requests/confirm.html", page)


async def confirm(request: Request) -> Response:
    """The button: the request is sent (the link's token comes in the form)."""
    state = request.app.state
    async with request.form() as form:
        token = str(form.get("link", ""))
    try:
        done = await in_db(
            request, pages.confirm_request, token, now=state.now(), settings=state.settings
        )
    except LinkRefused as refused:
        return render_refused(request, Purpose.confirm_request, refused)
    until = state.now() + lifetime(state.settings, Purpose.follow_request)
    _open_for_session(request, done.request_id or 0, until)
    return redirect(request, done)


async def follow(request: Request) -> Response:
    """A follow link: the request opens for this session, at its own address."""
    state = request.app.state
    token = request.query_params.get("link", "")
    try:
        link = await in_db(request, pages.follow, token, now=state.now(), settings=state.settings)
    except LinkRefused as refused:
        return render_refused(request, Purpose.follow_request, refused)
    speak_as_link(request.cookies.get(i18n.COOKIE), link.language)
    _open_for_session(request, int(link.object_id), link.expires_at)
    return RedirectResponse(pages.REQUEST_PATH.format(id=link.object_id), status_code=303)


async def show(request: Request) -> Response:
    """A request this session opened with its link; any other looks like no page at all."""
    state, request_id = request.app.state, request.path_params["id"]
    if not _opened(request, request_id, state.now()):
        return render_refused(request, Purpose.follow_request, LinkRefused(Refusal.expired))
    lang, tz = i18n.current_language(), state.datamap.controller.time_zone
    page = await in_db(request, pages.follow_page, request_id, lang, tz, state.now())
    if page is None:
        return state.render_error(request, 404)
    return render(request, "email_requests/follow.html", page)


async def answer(request: Request) -> Response:
    """The person's answer to the DPO's question, on a request this session opened."""
    state, request_id = request.app.state, request.path_params["id"]
    if not _opened(request, request_id, state.now()):
        return render_refused(request, Purpose.follow_request, LinkRefused(Refusal.expired))
    form = {"answer": str((await request.form()).get("answer", ""))}
    lang, tz = i18n.current_language(), state.datamap.controller.time_zone
    result = await in_thread(
        pages.answer_followed, state.engine, request_id, form, lang, tz, state.now()
    )
    if result is None:
        return state.render_error(request, 404)
    return respond(request, result, "email_requests/follow.html")


async def ask_for_links(request: Request) -> Response:
    """New links by e-mail address (GET: the form). The answer is the same for any address."""
    state = request.app.state
    if request.method == "GET":
        return render(request, "email_requests/links.html", pages.LinksForm())
    result = await in_thread(
        pages.ask_for_links,
        state.engine,
        dict(await request.form()),
        ip=request.client.host if request.client else None,
        language=i18n.current_language(),
        now=state.now(),
        settings=state.settings,
    )
    return respond(request, result, "email_requests/links.html")


async def links_sent(request: Request) -> Response:
    return render(request, "email_requests/links_sent.html", None)


async def download(request: Request) -> Response:
    """A file of a verified request's copy, by the link e-mailed to the person: no sign-in."""
    state = request.app.state
    try:
        link = export_links.read_request(
            state.settings.secret_key, request.query_params.get("link", ""), now=state.now()
        )
    except LinkRefused as refused:
        return render_refused(request, Purpose.request_download, refused)
    store = service.runtime_for(state.settings, state.datamap, state.sources).store
    record = request.method != "HEAD"
    found = await in_db(
        request, service.open_request_download, link, store, state.now(), record=record
    )
    if found is None:
        page = refused_link_page(Purpose.request_download, "gone")
        return render(request, "links/refused.html", page, 410)
    path, export = found
    filename = f"innsyn-{export.id[:8]}-{link.file.filename}"
    return FileResponse(path, media_type=link.file.media_type, filename=filename)


def _open_for_session(request: Request, request_id: int, until: datetime) -> None:
    opened = dict(request.scope["web_session"].data.get(FOLLOWED) or {})
    opened[str(request_id)] = int(until.timestamp())
    request.scope["web_session"].data[FOLLOWED] = opened


def _opened(request: Request, request_id: int, now: datetime) -> bool:
    until = (request.scope["web_session"].data.get(FOLLOWED) or {}).get(str(request_id))
    return until is not None and datetime.fromtimestamp(int(until), UTC) > now


routes = [
    Route(pages.FORM_PATH, new_request, methods=["GET", "POST"]),
    Route(pages.SENT_PATH, sent),
    # Every link's token goes in the query string: the request log writes paths, never queries.
    Route("/requests/confirm", confirm_page, methods=["GET"]),
    Route("/requests/confirm", confirm, methods=["POST"]),
    Route("/requests/follow", follow),
    Route(pages.LINKS_PATH, ask_for_links, methods=["GET", "POST"]),
    Route(pages.LINKS_SENT_PATH, links_sent),
    Route("/requests/download", download),
    Route("/requests/{id:int}", show),
    Route("/requests/{id:int}/answer", answer, methods=["POST"]),
]
