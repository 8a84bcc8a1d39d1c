"""Jinja2 templates with the i18n extension, shared by every route."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.templating import Jinja2Templates

from portal import i18n

TEMPLATES_DIR = Path(__file__).parent / "templates"


def _context(request: Request) -> dict[str, Any]:
    state = request.scope.get("web_session")
    return {
        "language": i18n.current_language(),
        "languages": i18n.LANGUAGES,
        "csrf_token": state.csrf_token if state else "",
        "viewer": request.scope.get("viewer"),
    }


def make_templates() -> Jinja2Templates:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        autoescape=select_autoescape(default=True, default_for_string=True),
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    # newstyle: %-formatting happens inside gettext, after escaping the variables.
    env.install_gettext_callables(i18n.raw_gettext, i18n.raw_ngettext, newstyle=True)  # type: ignore[attr-defined]
    # The static files' addresses as every other link on the pages: paths from the root.
    # (url_for('static', …) looked through every route, three times a page.)
    env.globals["static_url"] = static_url
    return Jinja2Templates(env=env, context_processors=[_context])


def static_url(path: str) -> str:
    """The address of a file under static/ (app.py mounts it at /static)."""
    return "/static/" + path.lstrip("/")
