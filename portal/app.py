"""The application factory: settings in, a Starlette app out, middleware stacked explicitly."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from portal import i18n
from portal.datamap import create_engines, dispose_engines, load_datamap
from portal.db import make_engine, utcnow
from portal.identity.auth import RelyingParty
from portal.marketing.registers import MAX_UPLOAD_BYTES
from portal.routes import addresses as address_routes
from portal.routes import api as api_routes
from portal.routes import auth, dev, dpo, me, public, staff
from portal.routes import block_list as block_list_routes
from portal.routes import consent as consent_routes
from portal.routes import email_requests as email_request_routes
from portal.routes import exports as export_routes
from portal.routes import holds as hold_routes
from portal.routes import identifiers as identifier_routes
from portal.routes import lookup as lookup_routes
from portal.routes import messages as message_routes
from portal.routes import recipients as recipient_routes
from portal.routes import requests as request_routes
from portal.routes import sessions as session_routes
from portal.settings import Settings
from portal.templating import make_templates
from portal.views.navigation import console_navigation, person_navigation
from portal.web.body_limit import BodyLimitMiddleware
from portal.web.csrf import CSRFMiddleware
from portal.web.errors import ServerErrorMiddleware, error_renderer
from portal.web.request_log import RequestLogMiddleware
from portal.web.security import SecurityHeadersMiddleware, content_security_policy
from portal.web.session_memory import ForgetOnChange, SessionMemory
from portal.web.sessions import SessionMiddleware, SessionStore
from portal.web.viewer import ViewerMiddleware, viewer_of_record
from portal.workflows.erasure_run import require_pseudonym_key

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
MOCK_IDP_PREFIX = "/mock-idp"


class LanguageMiddleware:
    """Sets the request's language from the switch's cookie or the browser's preference."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            request = Request(scope)
            i18n.set_language(
                i18n.negotiate(
                    request.cookies.get(i18n.COOKIE), request.headers.get("accept-language")
                )
            )
        await self.app(scope, receive, send)


def create_app(
    settings: Settings | None = None,
    *,
    now: Callable[[], datetime] = utcnow,
    relying_party_kwargs: dict[str, Any] | None = None,
    sources: Mapping[str, Engine] | None = None,
) -> Starlette:
    """The portal. `sources` replaces the data map's own source engines (tests use it to point
    the map at a seeded demo database); the caller then owns and disposes them."""
    settings = settings or Settings.from_env()
    # A broken data map stops start-up (DataMapError lists every problem): every page that
    # shows personal data reads it.
    datamap = load_datamap(settings.datamap_file)
    if settings.production:
        require_pseudonym_key(datamap)
    engine = make_engine(settings.database_url)
    owns_sources = sources is None
    sources = create_engines(datamap) if sources is None else dict(sources)
    templates = make_templates()
    templates.env.globals["person_navigation"] = person_navigation
    templates.env.globals["console_navigation"] = console_navigation
    render_error = error_renderer(templates)
    routes: list[BaseRoute] = [
        *public.routes,
        *auth.routes,
        *me.routes,
        *address_routes.routes,
        *request_routes.routes,
        *email_request_routes.routes,
        *recipient_routes.routes,
        *message_routes.routes,
        *session_routes.routes,
        *export_routes.routes,
        *staff.routes,
        *identifier_routes.routes,
        *lookup_routes.routes,
        *dpo.routes,
        *hold_routes.routes,
        *consent_routes.routes,
        *block_list_routes.routes,
        *api_routes.routes,
        Mount("/static", app=StaticFiles(directory=STATIC_DIR), name="static"),
    ]
    if settings.mock_idp_mounted:
        routes.append(Mount(MOCK_IDP_PREFIX, app=_mock_idp(settings)))
    if not settings.production:
        # The mail development sent (/dev/mailbox): never mounted in production, so a 404 there.
        routes.extend(dev.routes)

    async def csrf_failed(scope: Scope, receive: Receive, send: Send) -> None:
        response = render_error(Request(scope, receive), 403, reason="csrf")
        await response(scope, receive, send)

    async def too_large(scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        response: Response
        if scope["path"].startswith("/api/"):
            message = f"the body is larger than {limit // 1024} KB"
            response = JSONResponse({"error": "too_large", "message": message}, status_code=413)
        else:
            response = render_error(Request(scope, receive), 413)
        # The rest of the body is never read: the connection cannot carry another request.
        response.headers["connection"] = "close"
        await response(scope, receive, send)

    memory = SessionMemory(settings.me_cache_seconds)
    form_origins = () if settings.mock_idp_mounted else (settings.oidc_origin,)
    middleware = [
        Middleware(RequestLogMiddleware),
        Middleware(
            SecurityHeadersMiddleware,
            csp=content_security_policy(form_origins),
            hsts=settings.production,
        ),
        Middleware(LanguageMiddleware),
        Middleware(ServerErrorMiddleware, render=render_error),
        Middleware(
            SessionMiddleware,
            store=SessionStore(
                engine,
                idle=timedelta(minutes=settings.session_idle_minutes),
                now=now,
                with_record=viewer_of_record,
            ),
            secret_key=settings.secret_key,
            cookie_name="__Host-innsyn" if settings.production else "innsyn_session",
            secure=settings.production,
        ),
        Middleware(ViewerMiddleware),
        Middleware(ForgetOnChange, memory=memory),
        # Before anything reads a body, the CSRF check included (it spools the form to read it).
        Middleware(
            BodyLimitMiddleware,
            limits=(
                ("/staff/wash", settings.body_limit_upload),
                # The register file's own limit, with room for the multipart framing.
                ("/staff/block-list/import", MAX_UPLOAD_BYTES + 2**20),
                ("/api", settings.body_limit_api),
            ),
            default=settings.body_limit_form,
            refuse=too_large,
        ),
        Middleware(
            CSRFMiddleware,
            on_failure=csrf_failed,
            # The mock provider's forms carry their own signed transaction; its token endpoint
            # is a back channel authenticated by the client secret. The API under /api/ takes
            # bearer tokens, never the session cookie.
            exempt_prefixes=(
                "/api/",
                *((MOCK_IDP_PREFIX + "/",) if settings.mock_idp_mounted else ()),
            ),
            token_for=lambda scope: scope["web_session"].csrf_token,
        ),
    ]

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        return render_error(request, exc.status_code)

    async def server_error(request: Request, exc: Exception) -> Response:
        return render_error(request, 500)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        engine.dispose()
        if owns_sources:
            dispose_engines(sources)

    app = Starlette(
        routes=routes,
        middleware=middleware,
        exception_handlers={HTTPException: http_error, 500: server_error},
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.datamap = datamap
    app.state.sources = sources
    app.state.templates = templates
    app.state.render_error = render_error
    app.state.now = now
    app.state.memory = memory
    app.state.relying_party = RelyingParty(settings, client_kwargs=relying_party_kwargs)
    return app


def _mock_idp(settings: Settings) -> ASGIApp:
    from portal.demo import EDGE_CASES
    from portal.mock_idp import (
        ClientConfig,
        MockIdpConfig,
        TestPerson,
        create_mock_idp,
        default_people,
        parse_clients,
    )

    def people() -> list[TestPerson]:
        # The demo company's people first: each shows a case a real company has.
        demo = [TestPerson(c.national_id, c.given_name, c.family_name) for c in EDGE_CASES]
        return demo + default_people()

    own = ClientConfig(
        client_id=settings.oidc_client_id,
        client_secret=settings.oidc_client_secret,
        redirect_uris=(settings.redirect_uri, settings.post_logout_redirect_uri),
    )
    extra = parse_clients(settings.mock_idp_clients) if settings.mock_idp_clients else []
    return create_mock_idp(
        MockIdpConfig(
            issuer=settings.mock_idp_issuer,
            key_file=settings.var_dir / "mock_idp_key.pem",
            clients=[own, *extra],
            national_id_claim=settings.oidc_national_id_claim,
            roles_claim=settings.oidc_roles_claim,
            people=people,
            production=settings.production,
        )
    )
