"""The signed-in person's own pages."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from portal.auth import person_required


@person_required
async def home(request: Request) -> Response:
    return request.app.state.templates.TemplateResponse(request, "me/home.html", {})


routes = [Route("/me", home)]
