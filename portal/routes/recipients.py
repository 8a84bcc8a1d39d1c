"""The pages a recipient of a person's data opens from its message (GDPR art. 19): the task its
signed link confirms (GET shows it, the button POSTs), and the thank-you page. The link's token
travels in the query string or the form, never the path: the request log writes paths only."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from portal import i18n
from portal.links import LinkRefused
from portal.views import recipients_told as pages
from portal.views.common import redirect, render
from portal.views.links import STATUS, speak_as_link
from portal.web.handlers import in_db


def _refused(request: Request, refused: LinkRefused) -> Response:
    speak_as_link(request.cookies.get(i18n.COOKIE), refused)
    controller = request.app.state.datamap.controller
    status = STATUS.get(refused.reason, 400)
    page = pages.RefusedTaskPage(
        str(refused.reason), controller.dpo_contact or controller.contact, status
    )
    return render(request, "recipients/refused.html", page, status)


async def task(request: Request) -> Response:
    """The link from the message opens the task with its button; opening it confirms nothing."""
    state = request.app.state
    token = request.query_params.get("link", "")
    try:
        page = await in_db(
            request,
            pages.task_page,
            token,
            now=state.now(),
            settings=state.settings,
            controller=state.datamap.controller,
        )
    except LinkRefused as refused:
        return _refused(request, refused)
    speak_as_link(request.cookies.get(i18n.COOKIE), page.language)
    return render(request, "recipients/task.html", page)


async def confirm(request: Request) -> Response:
    """The button: the task is confirmed, with the recipient's note (bounded)."""
    state = request.app.state
    async with request.form() as form:
        token, note = str(form.get("link", "")), str(form.get("note", ""))
    try:
        done = await in_db(
            request, pages.confirm_task, token, note, now=state.now(), settings=state.settings
        )
    except LinkRefused as refused:
        return _refused(request, refused)
    return redirect(request, done)


async def done(request: Request) -> Response:
    return render(request, "recipients/done.html", None)


routes = [
    Route("/recipients/task", task, methods=["GET"]),
    Route("/recipients/task", confirm, methods=["POST"]),
    Route(pages.DONE_PATH, done),
]
