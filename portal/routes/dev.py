"""Development-only pages: the mailbox of sent mail. Mounted only outside production."""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from portal.views import dev_mailbox
from portal.views.common import render
from portal.web.handlers import in_thread


def _directory(request: Request) -> Path:
    return request.app.state.settings.mail.mailbox_dir


async def mailbox(request: Request) -> Response:
    page = await in_thread(dev_mailbox.load_mailbox, _directory(request))
    return render(request, "dev/mailbox.html", page)


async def message(request: Request) -> Response:
    name = request.path_params["name"]
    page = await in_thread(dev_mailbox.load_message, _directory(request), name)
    if page is None:
        return request.app.state.render_error(request, 404)
    return render(request, "dev/message.html", page)


async def message_html(request: Request) -> Response:
    name = request.path_params["name"]
    html = await in_thread(dev_mailbox.load_html, _directory(request), name)
    if html is None:
        return request.app.state.render_error(request, 404)
    headers = {"Content-Security-Policy": dev_mailbox.HTML_POLICY}
    return Response(html, media_type="text/html", headers=headers)


async def attachment(request: Request) -> Response:
    name, index = request.path_params["name"], request.path_params["index"]
    found = await in_thread(dev_mailbox.load_attachment, _directory(request), name, index)
    if found is None:
        return request.app.state.render_error(request, 404)
    filename, content_type, data = found
    disposition = f'attachment; filename="{filename}"'
    return Response(data, media_type=content_type, headers={"Content-Disposition": disposition})


routes = [
    Route("/dev/mailbox", mailbox),
    Route("/dev/mailbox/{name:str}", message),
    Route("/dev/mailbox/{name:str}/html", message_html),
    Route("/dev/mailbox/{name:str}/attachments/{index:int}", attachment),
]
