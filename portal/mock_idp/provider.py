"""The mock BankID OpenID provider as a Starlette app.

A real provider, only with a pretend login: discovery, JWKS, authorization code flow with PKCE
(S256 required), RS256 ID tokens, userinfo and end-session. The login page offers test people, a
typed national identity number, or staff users; there is no provider-side session, so every
authorization request shows the login page (prompt=login and max_age are always satisfied, and
prompt=none always answers login_required).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import logging
import math
from collections import defaultdict, deque
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus, urlencode, urlsplit, urlunsplit

from itsdangerous import BadSignature, URLSafeSerializer
from joserfc import jwt
from joserfc.errors import JoseError
from starlette.applications import Starlette
from starlette.datastructures import FormData, QueryParams
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from portal.identity.national_id import (
    InvalidNationalId,
    NationalId,
    format_national_id,
    parse_national_id,
)
from portal.mock_idp.claims import (
    ACR_BY_COUNTRY,
    STAFF_ACR,
    id_token,
    person_identity,
    staff_identity,
)
from portal.mock_idp.config import ClientConfig, MockIdpConfig, MockIdpRefused, redirect_uri_problem
from portal.mock_idp.grants import (
    ACCESS_TOKEN_TTL,
    CODE_TTL,
    PKCE_VALUE,
    CodeGrant,
    GrantStore,
    Identity,
    InvalidGrant,
)
from portal.mock_idp.keys import derive_secret, load_or_create_key
from portal.mock_idp.people import StaffUser, TestPerson

log = logging.getLogger(__name__)

HERE = Path(__file__).parent
PENDING_TTL = 600  # seconds a login page may stay open
LOGIN_WINDOW = 600.0  # seconds
LOGINS_PER_WINDOW = 60  # sign-ins per client address in the window
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
# The pages hold no script and no inline style; the CSP says so, so a browser test would notice.
PAGE_HEADERS = {
    **NO_STORE,
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
}
# Names given to a typed number that is not one of the test people.
UNKNOWN_NAMES = {"NO": ("Test", "Testesen"), "SE": ("Test", "Testsson")}


class OAuthError(Exception):
    def __init__(self, error: str, description: str, status_code: int = 400) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.status_code = status_code


class PageError(Exception):
    """A problem shown on an error page, never sent to a redirect URI we cannot trust."""

    def __init__(self, title: str, message: str) -> None:
        super().__init__(message)
        self.title = title
        self.message = message


class LoginProblem(Exception):
    """The login form was filled in wrongly: the page is shown again with this message."""


@dataclass(frozen=True)
class PendingAuthorization:
    """A checked authorization request, carried signed through the login form."""

    client_id: str
    redirect_uri: str
    scope: str
    state: str | None
    nonce: str | None
    code_challenge: str
    expires_at: int


@dataclass(frozen=True)
class PersonChoice:
    national_id: str  # normalised; the value the login form posts
    display: str  # as people write it
    name: str
    country: str
    kind: str


@dataclass(frozen=True)
class LoginPage:
    """Context of login.html."""

    client_id: str
    pending: str  # the signed PendingAuthorization
    people: list[PersonChoice]
    staff: list[StaffUser]
    error: str | None = None
    typed: str = ""


@dataclass(frozen=True)
class MessagePage:
    """Context of message.html: errors and the signed-out page."""

    title: str
    message: str


def create_mock_idp(config: MockIdpConfig) -> Starlette:
    """Build the provider app; mount it anywhere, its URLs follow ``config.issuer``."""
    return MockIdp(config).app()


class MockIdp:
    def __init__(self, config: MockIdpConfig) -> None:
        if config.production:
            raise MockIdpRefused(
                "The mock BankID provider never runs in production: it signs anyone in as anyone. "
                "Configure a real OpenID provider (OIDC_DISCOVERY_URL) instead."
            )
        _check_issuer(config.issuer)
        self.config = config
        self.base = config.issuer.rstrip("/")  # OIDC Discovery §4: no trailing slash before paths
        self.key = load_or_create_key(config.key_file)
        self.kid = self.key.thumbprint()
        self.clients = {client.client_id: client for client in config.clients}
        self.pending = URLSafeSerializer(derive_secret(self.key, "pending"), salt="authorize")
        self.sub_secret = derive_secret(self.key, "sub")
        self.grants = GrantStore(config.now)
        # Sign-ins per client address in the last LOGIN_WINDOW: this provider is one process
        # (development only), so memory is the right store.
        self.logins: dict[str, deque[float]] = defaultdict(deque)
        self.templates = Jinja2Templates(directory=HERE / "templates")

    def app(self) -> Starlette:
        routes = [
            Route("/.well-known/openid-configuration", self.discovery),
            Route("/jwks", self.jwks),
            Route("/authorize", self.authorize, methods=["GET"]),
            Route("/authorize", self.login, methods=["POST"]),
            Route("/token", self.token, methods=["POST"]),
            Route("/userinfo", self.userinfo, methods=["GET", "POST"]),
            Route("/end-session", self.end_session, methods=["GET", "POST"]),
            Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
        ]
        app = Starlette(routes=routes)
        app.state.mock_idp = self
        return app

    # --- endpoints --------------------------------------------------------------------------

    async def discovery(self, request: Request) -> Response:
        return JSONResponse(self.metadata())

    async def jwks(self, request: Request) -> Response:
        public = self.key.as_dict(private=False, kid=self.kid, use="sig", alg="RS256")
        return JSONResponse({"keys": [public]})

    async def authorize(self, request: Request) -> Response:
        params = request.query_params
        try:
            client = self._registered_client(params)
        except PageError as exc:
            return self._message_page(request, exc.title, exc.message, status_code=400)
        redirect_uri = params["redirect_uri"]
        try:
            pending = self._check_authorization_request(params, client)
        except OAuthError as exc:
            return self._error_redirect(redirect_uri, exc, params.get("state"))
        signed = self.pending.dumps(asdict(pending))
        return self._login_page(request, LoginPage(client.client_id, signed, *self._choices()))

    async def login(self, request: Request) -> Response:
        if retry_after := self._too_many_logins(request):
            page = self._message_page(
                request,
                "Too many sign-ins",
                "This address has signed in many times in a short while. Wait and try again.",
                status_code=429,
            )
            page.headers["Retry-After"] = str(retry_after)
            return page
        form = await request.form()
        signed = str(form.get("pending", ""))
        pending = self._load_pending(signed)
        if pending is None:
            return self._message_page(
                request,
                "The sign-in request is not valid",
                "It was altered or has expired. Start signing in again from the service.",
                status_code=400,
            )
        if "cancel" in form:
            denied = OAuthError("access_denied", "the user cancelled the sign-in")
            return self._error_redirect(pending.redirect_uri, denied, pending.state)
        try:
            identity = self._chosen_identity(form)
        except LoginProblem as exc:
            people, staff = self._choices()
            typed = str(form.get("national_id", ""))
            page = LoginPage(pending.client_id, signed, people, staff, str(exc), typed)
            return self._login_page(request, page, status_code=422)
        code = self.grants.issue_code(self._code_grant(pending, identity))
        params = {"code": code, "state": pending.state, "iss": self.config.issuer}
        return RedirectResponse(_with_query(pending.redirect_uri, params), status_code=303)

    def _too_many_logins(self, request: Request) -> int:
        """Seconds to wait when this client address used up its sign-ins, else 0 (counted)."""
        now = self.config.now()
        seen = self.logins[request.client.host if request.client else "unknown"]
        while seen and now - seen[0] > LOGIN_WINDOW:
            seen.popleft()
        if len(seen) >= LOGINS_PER_WINDOW:
            return max(1, math.ceil(seen[0] + LOGIN_WINDOW - now))
        seen.append(now)
        return 0

    async def token(self, request: Request) -> Response:
        form = await request.form()
        try:
            client = self._authenticate_client(request, form)
            grant = self._redeem(form, client)
        except OAuthError as exc:
            return _oauth_error_response(exc)
        access_token = self.grants.issue_access_token(grant)
        signed = id_token(
            grant,
            issuer=self.config.issuer,
            key=self.key,
            kid=self.kid,
            access_token=access_token,
            now=int(self.config.now()),
        )
        body = {
            "access_token": access_token,
            "token_type": "Bearer",
            "expires_in": ACCESS_TOKEN_TTL,
            "scope": grant.scope,
            "id_token": signed,
        }
        return JSONResponse(body, headers=NO_STORE)

    async def userinfo(self, request: Request) -> Response:
        token = _bearer_token(request.headers.get("authorization", ""))
        access = self.grants.lookup_access_token(token) if token else None
        if access is None:
            # RFC 6750 §3: no error code when no token was sent at all.
            challenge = 'Bearer realm="mock-idp"'
            if token:
                challenge += ', error="invalid_token", error_description="unknown or expired"'
            return JSONResponse(
                {"error": "invalid_token"}, 401, headers={"WWW-Authenticate": challenge}
            )
        return JSONResponse(
            {"sub": access.identity.sub, **access.identity.claims}, headers=NO_STORE
        )

    async def end_session(self, request: Request) -> Response:
        params = request.query_params if request.method == "GET" else await request.form()
        try:
            clients = self._sign_out(params)
            target = params.get("post_logout_redirect_uri")
            if target:
                self._check_logout_target(str(target), clients)
        except PageError as exc:
            return self._message_page(request, exc.title, exc.message, status_code=400)
        if target:
            url = _with_query(str(target), {"state": params.get("state")})
            return RedirectResponse(url, status_code=303)
        return self._message_page(
            request, "You are signed out", "You have been signed out of the mock BankID provider."
        )

    # --- discovery ---------------------------------------------------------------------------

    def metadata(self) -> dict[str, Any]:
        config = self.config
        claims = {"iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "acr", "amr", "at_hash"}
        claims |= {"name", "given_name", "family_name", "birthdate"}
        claims |= {config.national_id_claim, config.roles_claim}
        return {
            "issuer": config.issuer,
            "authorization_endpoint": f"{self.base}/authorize",
            "token_endpoint": f"{self.base}/token",
            "userinfo_endpoint": f"{self.base}/userinfo",
            "jwks_uri": f"{self.base}/jwks",
            "end_session_endpoint": f"{self.base}/end-session",
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": ["authorization_code"],
            "code_challenge_methods_supported": ["S256"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "subject_types_supported": ["public"],
            "scopes_supported": ["openid", "profile"],
            "claims_supported": sorted(claims),
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "acr_values_supported": [*ACR_BY_COUNTRY.values(), STAFF_ACR],
            "prompt_values_supported": ["none", "login"],
            "authorization_response_iss_parameter_supported": True,
            "claims_parameter_supported": False,
            "request_parameter_supported": False,
            "request_uri_parameter_supported": False,
        }

    # --- authorization request ---------------------------------------------------------------

    def _registered_client(self, params: QueryParams) -> ClientConfig:
        """Check client and redirect URI before anything else: until both are known-good, an
        error must be shown here, never sent to a URI an attacker may have chosen."""
        for name in ("client_id", "redirect_uri"):
            if len(params.getlist(name)) > 1:
                raise PageError("The sign-in request is not valid", f"{name} is given twice.")
        client_id = params.get("client_id", "")
        client = self.clients.get(client_id)
        if client is None:
            raise PageError(
                "Unknown client",
                f"No client with client_id {client_id!r} is registered with this provider.",
            )
        if params.get("redirect_uri") not in client.redirect_uris:
            raise PageError(
                "Unregistered redirect URI",
                f"The redirect_uri is missing or not registered for client {client_id!r}; "
                "it must match a registered one exactly.",
            )
        return client

    def _check_authorization_request(
        self, params: QueryParams, client: ClientConfig
    ) -> PendingAuthorization:
        _check_no_repeats(params)
        if params.get("response_type") != "code":
            raise OAuthError("unsupported_response_type", "only response_type=code is supported")
        if "openid" not in params.get("scope", "").split():
            raise OAuthError("invalid_scope", "scope must include openid")
        _check_pkce_challenge(params)
        if params.get("request") or params.get("request_uri"):
            raise OAuthError("request_not_supported", "request objects are not supported")
        if params.get("response_mode", "query") != "query":
            raise OAuthError("invalid_request", "only response_mode=query is supported")
        if "none" in params.get("prompt", "").split():
            raise OAuthError("login_required", "this provider keeps no session to reuse")
        return PendingAuthorization(
            client_id=client.client_id,
            redirect_uri=params["redirect_uri"],
            scope=params["scope"],
            state=params.get("state"),
            nonce=params.get("nonce"),
            code_challenge=params["code_challenge"],
            expires_at=int(self.config.now()) + PENDING_TTL,
        )

    def _load_pending(self, signed: str) -> PendingAuthorization | None:
        try:
            pending = PendingAuthorization(**self.pending.loads(signed))
        except (BadSignature, TypeError):
            return None
        return pending if pending.expires_at > self.config.now() else None

    # --- login ---------------------------------------------------------------------------------

    def _people(self) -> list[tuple[TestPerson, NationalId]]:
        people = []
        for person in self.config.people():
            try:
                people.append((person, parse_national_id(person.national_id)))
            except InvalidNationalId as exc:
                log.warning("mock IdP: skipping test person %s: %s", person.name, exc.message)
        return people

    def _choices(self) -> tuple[list[PersonChoice], list[StaffUser]]:
        people = [
            PersonChoice(nid.number, format_national_id(nid), person.name, nid.country, nid.kind)
            for person, nid in self._people()
        ]
        return people, list(self.config.staff)

    def _chosen_identity(self, form: FormData) -> Identity:
        if (listed := form.get("person")) is not None:
            return self._person(str(listed), listed=True)
        if (typed := form.get("national_id")) is not None:
            return self._person(str(typed), listed=False)
        if (username := form.get("staff")) is not None:
            return self._staff(str(username))
        raise LoginProblem(
            "Choose a test person, type a national identity number, or choose staff."
        )

    def _person(self, text: str, *, listed: bool) -> Identity:
        try:
            nid = parse_national_id(text)
        except InvalidNationalId as exc:
            raise LoginProblem(exc.message) from None
        known = next((p for p, pid in self._people() if pid.number == nid.number), None)
        if known is None and listed:
            raise LoginProblem("That test person is no longer offered; choose again.")
        given, family = (
            (known.given_name, known.family_name) if known else UNKNOWN_NAMES[nid.country]
        )
        return person_identity(
            nid,
            given,
            family,
            secret=self.sub_secret,
            national_id_claim=self.config.national_id_claim,
        )

    def _staff(self, username: str) -> Identity:
        user = next((u for u in self.config.staff if u.username == username), None)
        if user is None:
            raise LoginProblem("That staff user is not offered; choose again.")
        return staff_identity(user, secret=self.sub_secret, roles_claim=self.config.roles_claim)

    def _code_grant(self, pending: PendingAuthorization, identity: Identity) -> CodeGrant:
        now = self.config.now()
        return CodeGrant(
            client_id=pending.client_id,
            redirect_uri=pending.redirect_uri,
            code_challenge=pending.code_challenge,
            nonce=pending.nonce,
            scope=pending.scope,
            identity=identity,
            auth_time=int(now),
            expires_at=now + CODE_TTL,
        )

    # --- token ---------------------------------------------------------------------------------

    def _authenticate_client(self, request: Request, form: FormData) -> ClientConfig:
        basic = _basic_credentials(request.headers.get("authorization", ""))
        if basic is not None and "client_secret" in form:
            raise OAuthError("invalid_request", "use one client authentication method, not two")
        client_id, secret = basic or (form.get("client_id"), form.get("client_secret"))
        client = self.clients.get(str(client_id or ""))
        if client is None or not isinstance(secret, str) or not _same(secret, client.client_secret):
            raise OAuthError("invalid_client", "client authentication failed", status_code=401)
        return client

    def _redeem(self, form: FormData, client: ClientConfig) -> CodeGrant:
        if form.get("grant_type") != "authorization_code":
            raise OAuthError("unsupported_grant_type", "only authorization_code is supported")
        code = form.get("code")
        if not isinstance(code, str) or not code:
            raise OAuthError("invalid_request", "code is required")
        try:
            return self.grants.redeem(
                code,
                client_id=client.client_id,
                redirect_uri=str(form.get("redirect_uri", "")),
                verifier=str(form.get("code_verifier", "")),
            )
        except InvalidGrant as exc:
            raise OAuthError("invalid_grant", str(exc)) from None

    # --- end session -----------------------------------------------------------------------------

    def _sign_out(self, params: QueryParams | FormData) -> list[ClientConfig]:
        """Revoke the hinted subject's tokens; return the clients a redirect may go back to."""
        client_id = params.get("client_id")
        hint = params.get("id_token_hint")
        if params.get("logout_hint") and client_id and not hint:
            # OIDC RP-Initiated Logout 1.0 §2: the sub, beside the client that names it.
            self.grants.revoke_subject(str(params["logout_hint"]), str(client_id))
        if hint:
            claims = self._hint_claims(str(hint))
            if client_id and client_id != claims.get("aud"):
                raise PageError("Sign-out refused", "client_id does not match id_token_hint.")
            client_id = claims.get("aud")
            self.grants.revoke_subject(str(claims.get("sub")), str(client_id))
        if not client_id:
            return list(self.clients.values())
        client = self.clients.get(str(client_id))
        if client is None:
            raise PageError("Sign-out refused", f"No client {client_id!r} is registered.")
        return [client]

    def _hint_claims(self, hint: str) -> dict[str, Any]:
        # An expired hint is fine (OIDC RP-Initiated Logout §2); a forged one is not.
        try:
            claims = jwt.decode(hint, self.key, algorithms=["RS256"]).claims
        except (JoseError, ValueError):
            claims = {}
        if claims.get("iss") != self.config.issuer:
            raise PageError(
                "Sign-out refused", "id_token_hint is not a token this provider issued."
            )
        return claims

    def _check_logout_target(self, target: str, clients: list[ClientConfig]) -> None:
        """Allowed: a registered redirect URI of the client, or any URL on the same origin
        (scheme, host, port) as one, such as the portal's front page. Anything else would make
        this endpoint an open redirect."""
        origin = _origin(target) if redirect_uri_problem(target) is None else None
        for client in clients:
            if target in client.redirect_uris:
                return
            if origin and origin in {_origin(uri) for uri in client.redirect_uris}:
                return
        raise PageError(
            "Sign-out redirect refused",
            "post_logout_redirect_uri is not on the origin of a registered redirect URI.",
        )

    # --- rendering -------------------------------------------------------------------------------

    def _login_page(self, request: Request, page: LoginPage, status_code: int = 200) -> Response:
        return self.templates.TemplateResponse(
            request, "login.html", {"page": page}, status_code=status_code, headers=PAGE_HEADERS
        )

    def _message_page(
        self, request: Request, title: str, message: str, status_code: int = 200
    ) -> Response:
        return self.templates.TemplateResponse(
            request,
            "message.html",
            {"page": MessagePage(title, message)},
            status_code=status_code,
            headers=PAGE_HEADERS,
        )

    def _error_redirect(self, redirect_uri: str, exc: OAuthError, state: str | None) -> Response:
        params = {
            "error": exc.error,
            "error_description": exc.description,
            "state": state,
            "iss": self.config.issuer,
        }
        return RedirectResponse(_with_query(redirect_uri, params), status_code=303)


# --- helpers -------------------------------------------------------------------------------------


def _check_issuer(issuer: str) -> None:
    parts = urlsplit(issuer)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise ValueError(f"issuer must be an absolute http(s) URL without query, not {issuer!r}")


def _check_no_repeats(params: QueryParams) -> None:
    # RFC 6749 §3.1: parameters must not be included more than once.
    for name in params:
        if len(params.getlist(name)) > 1:
            raise OAuthError("invalid_request", f"{name} is given more than once")


def _check_pkce_challenge(params: QueryParams) -> None:
    challenge = params.get("code_challenge")
    if not challenge:
        raise OAuthError("invalid_request", "code_challenge is required (PKCE with S256)")
    if params.get("code_challenge_method") != "S256":
        raise OAuthError("invalid_request", "code_challenge_method must be S256; plain is refused")
    if len(challenge) != 43 or not PKCE_VALUE.fullmatch(challenge):
        raise OAuthError("invalid_request", "code_challenge must be a base64url SHA-256 digest")


def _with_query(uri: str, params: dict[str, str | None]) -> str:
    parts = urlsplit(uri)
    extra = urlencode({name: value for name, value in params.items() if value is not None})
    query = f"{parts.query}&{extra}" if parts.query else extra
    return urlunsplit(parts._replace(query=query))


def _origin(uri: str) -> tuple[str, str, int] | None:
    parts = urlsplit(uri)
    try:
        port = parts.port or {"http": 80, "https": 443}.get(parts.scheme.lower(), 0)
    except ValueError:
        return None
    return parts.scheme.lower(), (parts.hostname or "").lower(), port


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())


def _basic_credentials(header: str) -> tuple[str, str] | None:
    """client_id and secret from HTTP Basic; both form-urlencoded first (RFC 6749 §2.3.1)."""
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise OAuthError("invalid_client", "malformed Basic credentials", 401) from None
    client_id, sep, secret = decoded.partition(":")
    if not sep:
        raise OAuthError("invalid_client", "malformed Basic credentials", 401)
    return unquote_plus(client_id), unquote_plus(secret)


def _bearer_token(header: str) -> str | None:
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer":
        return None
    return value.strip() or None


def _oauth_error_response(exc: OAuthError) -> Response:
    headers = dict(NO_STORE)
    if exc.status_code == 401:
        headers["WWW-Authenticate"] = 'Basic realm="mock-idp"'
    body = {"error": exc.error, "error_description": exc.description}
    return JSONResponse(body, exc.status_code, headers=headers)
