"""Authorization codes and access tokens, kept in memory: the mock serves one process.

Codes are single-use: the first presentation consumes one whatever its outcome, and presenting it
again revokes the access tokens it produced (RFC 6749 §4.1.2).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

CODE_TTL = 60  # seconds; long enough for a redirect, short enough that a leaked code is stale
ACCESS_TOKEN_TTL = 300
PKCE_VALUE = re.compile(r"[A-Za-z0-9\-._~]{43,128}")  # RFC 7636 §4.1 (verifier), §4.2 (challenge)


class InvalidGrant(Exception):
    """The code cannot be redeemed; the message goes into error_description."""


@dataclass(frozen=True)
class Identity:
    """Who signed in: the subject, the claims about them, and how they signed in."""

    sub: str
    claims: dict[str, Any]  # name, national ID or roles, ...: the same in ID token and userinfo
    acr: str
    amr: tuple[str, ...]


@dataclass
class CodeGrant:
    client_id: str
    redirect_uri: str
    code_challenge: str
    nonce: str | None
    scope: str
    identity: Identity
    auth_time: int
    expires_at: float
    used: bool = False
    access_tokens: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class AccessGrant:
    client_id: str
    identity: Identity
    expires_at: float


def s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


class GrantStore:
    def __init__(self, now: Callable[[], float]) -> None:
        self._now = now
        self._lock = threading.Lock()
        self._codes: dict[str, CodeGrant] = {}
        self._tokens: dict[str, AccessGrant] = {}

    def issue_code(self, grant: CodeGrant) -> str:
        code = secrets.token_urlsafe(32)
        with self._lock:
            self._purge()
            self._codes[code] = grant
        return code

    def redeem(self, code: str, *, client_id: str, redirect_uri: str, verifier: str) -> CodeGrant:
        with self._lock:
            grant = self._codes.get(code)
            if grant is None:
                raise InvalidGrant("unknown or expired authorization code")
            if grant.used:
                self._revoke(grant)
                raise InvalidGrant("authorization code already used")
            grant.used = True
        _check_grant(grant, self._now(), client_id, redirect_uri, verifier)
        return grant

    def issue_access_token(self, grant: CodeGrant) -> str:
        token = secrets.token_urlsafe(32)
        expires_at = self._now() + ACCESS_TOKEN_TTL
        with self._lock:
            self._tokens[token] = AccessGrant(grant.client_id, grant.identity, expires_at)
            grant.access_tokens.append(token)
        return token

    def lookup_access_token(self, token: str) -> AccessGrant | None:
        with self._lock:
            grant = self._tokens.get(token)
        if grant is None or grant.expires_at <= self._now():
            return None
        return grant

    def revoke_subject(self, sub: str, client_id: str | None) -> None:
        """Sign-out: drop the access tokens of this subject (at this client, when known)."""
        with self._lock:
            for token, grant in list(self._tokens.items()):
                if grant.identity.sub == sub and client_id in (None, grant.client_id):
                    del self._tokens[token]

    def _revoke(self, grant: CodeGrant) -> None:
        for token in grant.access_tokens:
            self._tokens.pop(token, None)

    def _purge(self) -> None:
        # Used codes stay until their tokens would have expired, so reuse is still detected.
        now = self._now()
        for code, grant in list(self._codes.items()):
            if grant.expires_at + ACCESS_TOKEN_TTL <= now:
                del self._codes[code]
        for token, access in list(self._tokens.items()):
            if access.expires_at <= now:
                del self._tokens[token]


def _check_grant(
    grant: CodeGrant, now: float, client_id: str, redirect_uri: str, verifier: str
) -> None:
    if grant.expires_at <= now:
        raise InvalidGrant("authorization code expired")
    if grant.client_id != client_id:
        raise InvalidGrant("authorization code was issued to another client")
    if grant.redirect_uri != redirect_uri:
        raise InvalidGrant("redirect_uri does not match the authorization request")
    if not verifier:
        raise InvalidGrant("code_verifier is required (PKCE)")
    if not PKCE_VALUE.fullmatch(verifier):
        raise InvalidGrant("code_verifier must be 43-128 characters of [A-Za-z0-9-._~]")
    if not hmac.compare_digest(s256(verifier), grant.code_challenge):
        raise InvalidGrant("code_verifier does not match code_challenge")
