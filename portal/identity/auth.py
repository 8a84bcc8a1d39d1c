"""Sign-in: the portal as an OpenID Connect relying party.

Authlib's Starlette client does discovery, the authorization code flow with PKCE (S256), state
and nonce, and checks the ID token's signature, issuer, audience, expiry and nonce. This module
adds what a BankID sign-in needs on top: the national ID from a configurable claim, a fresh
session, and guards for pages that need a person, staff, or a recent sign-in.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from authlib.integrations.starlette_client import OAuth, OAuthError
from joserfc.errors import JoseError
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from portal.settings import Settings

# Clock skew we tolerate between us and the provider; Authlib's default of two minutes is lax.
LEEWAY_SECONDS = 30
PROVIDER = "bankid"
# An OAuth error code (RFC 6749 §4.1.2.1: access_denied, login_required...): letters and "_".
_ERROR_CODE = re.compile(r"[a-z_]{1,40}")

Endpoint = Callable[[Request], Awaitable[Response]]


class SignInError(Exception):
    """Sign-in failed; `reason` is a short code for the log, never personal data."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Identity:
    """What the provider told us, checked."""

    issuer: str
    sub: str
    claims: dict[str, Any]
    acr: str | None
    authenticated_at: datetime
    id_token: str


class RelyingParty:
    def __init__(self, settings: Settings, *, client_kwargs: dict[str, Any] | None = None) -> None:
        self.settings = settings
        oauth = OAuth()
        oauth.register(
            PROVIDER,
            server_metadata_url=settings.oidc_discovery_url,
            client_id=settings.oidc_client_id,
            client_secret=settings.oidc_client_secret,
            client_kwargs={
                "scope": "openid profile",
                "code_challenge_method": "S256",
                **(client_kwargs or {}),
            },
        )
        self.client = oauth.create_client(PROVIDER)

    async def begin(self, request: Request, *, fresh: bool) -> Response:
        extra = {"prompt": "login", "max_age": 0} if fresh else {}
        try:
            return await self.client.authorize_redirect(
                request, self.settings.redirect_uri, **extra
            )
        except Exception as exc:  # the provider is down or its discovery document is broken
            raise SignInError("provider_unavailable") from exc

    async def complete(self, request: Request) -> Identity:
        await self._check_issuer(request)
        try:
            token = await self.client.authorize_access_token(request, leeway=LEEWAY_SECONDS)
        except OAuthError as exc:
            # The provider's error code comes back in the URL, so anyone can write it: only a
            # code's shape is kept (it is logged and shown), anything else is "oauth_error".
            code = exc.error or ""
            raise SignInError(code if _ERROR_CODE.fullmatch(code) else "oauth_error") from exc
        except JoseError as exc:
            raise SignInError("invalid_id_token") from exc
        except Exception as exc:
            raise SignInError("token_exchange_failed") from exc
        claims = token.get("userinfo")
        if not claims:
            raise SignInError("no_id_token")
        claims = dict(claims)
        auth_time = claims.get("auth_time") or claims.get("iat")
        return Identity(
            issuer=str(claims["iss"]),
            sub=str(claims["sub"]),
            claims=claims,
            acr=claims.get("acr"),
            authenticated_at=datetime.fromtimestamp(int(auth_time), UTC),
            id_token=token["id_token"],
        )

    async def _check_issuer(self, request: Request) -> None:
        """RFC 9207: a provider that says it sends ``iss`` with its answer must send its own
        issuer there, or the answer may come from another provider (a mix-up attack)."""
        try:
            metadata = await self.client.load_server_metadata()
        except Exception as exc:
            raise SignInError("provider_unavailable") from exc
        if not metadata.get("authorization_response_iss_parameter_supported"):
            return
        if request.query_params.get("iss") != metadata.get("issuer"):
            raise SignInError("issuer_mismatch")

    async def logout_url(self, sub: str | None) -> str | None:
        """The provider's end-session URL, or None if it has none (then we only end ours).

        It names the person by ``logout_hint`` (their ``sub``, an opaque id at the provider)
        beside our ``client_id``, never by ``id_token_hint``: an ID token carries the national
        ID, name and birth date, and a URL ends up in browser history, proxies and logs."""
        try:
            metadata = await self.client.load_server_metadata()
        except Exception:
            return None
        endpoint = metadata.get("end_session_endpoint")
        if not endpoint:
            return None
        params = {
            "client_id": self.settings.oidc_client_id,
            "post_logout_redirect_uri": self.settings.post_logout_redirect_uri,
        }
        if sub:
            params["logout_hint"] = sub
        return f"{endpoint}?{urlencode(params)}"


def safe_next(value: str | None, default: str = "/me") -> str:
    """Only a path on this site: an open redirect would let a phishing page borrow our sign-in."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return default
    return value


def sign_in_redirect(
    request: Request, *, fresh: bool = False, next_url: str | None = None
) -> RedirectResponse:
    """To the provider, and back to `next_url`, or to the page asked for (with its query)."""
    if next_url is None:
        next_url = request.url.path
        if request.method == "GET" and request.url.query:
            next_url += f"?{request.url.query}"
    params = {"next": next_url}
    if fresh:
        params["fresh"] = "1"
    return RedirectResponse(f"/auth/login?{urlencode(params)}", status_code=303)


def person_required(endpoint: Endpoint) -> Endpoint:
    """The page needs a signed-in person; others are sent to sign in and brought back."""

    @functools.wraps(endpoint)
    async def wrapper(request: Request) -> Response:
        viewer = request.scope.get("viewer")
        if viewer is None or viewer.kind != "person":
            return sign_in_redirect(request)
        return await endpoint(request)

    return wrapper


def fresh_sign_in_required(endpoint: Endpoint) -> Endpoint:
    """For sensitive actions (downloading an export, asking for erasure): the person must have
    signed in within FRESH_SIGN_IN_SECONDS, or sign in again (OIDC max_age=0)."""

    @functools.wraps(endpoint)
    async def wrapper(request: Request) -> Response:
        if not is_fresh(request):
            return sign_in_redirect(request, fresh=True)
        return await endpoint(request)

    return wrapper


def is_fresh(request: Request) -> bool:
    state = request.scope["web_session"]
    settings: Settings = request.app.state.settings
    if state.authenticated_at is None:
        return False
    age = request.app.state.now() - state.authenticated_at
    return age <= timedelta(seconds=settings.fresh_sign_in_seconds)


def staff_required(*roles: str) -> Callable[[Endpoint], Endpoint]:
    """The page needs a member of staff holding one of `roles` (any role if none is named)."""

    def decorate(endpoint: Endpoint) -> Endpoint:
        @functools.wraps(endpoint)
        async def wrapper(request: Request) -> Response:
            viewer = request.scope.get("viewer")
            if viewer is None:
                return sign_in_redirect(request)
            if viewer.kind != "staff" or (roles and not set(roles) & set(viewer.roles)):
                return request.app.state.render_error(request, 403)
            return await endpoint(request)

        return wrapper

    return decorate
