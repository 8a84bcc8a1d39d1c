"""Pages for customer service and the DPO."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from portal.identity.auth import staff_required


@staff_required()
async def home(request: Request) -> Response:
    return request.app.state.templates.TemplateResponse(request, "staff/home.html", {})


routes = [Route("/staff", home)]
