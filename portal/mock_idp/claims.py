"""Who signs in and what the tokens say about them."""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any

from joserfc import jwt
from joserfc.jwk import RSAKey

from portal.identity.national_id import NationalId
from portal.mock_idp.grants import CodeGrant, Identity
from portal.mock_idp.people import StaffUser

ID_TOKEN_TTL = 300
ACR_BY_COUNTRY = {"NO": "urn:grn:authn:no:bankid:high", "SE": "urn:grn:authn:se:bankid"}
# Staff do not sign in with BankID; their own value keeps the two apart at the relying party.
STAFF_ACR = "urn:innsyn:mock-idp:staff"


def subject(secret: bytes, kind: str, value: str) -> str:
    """A stable, opaque ``sub``: a keyed hash, so the national ID never appears in it."""
    digest = hmac.new(secret, f"{kind}:{value}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:20]).rstrip(b"=").decode("ascii")


def person_identity(
    nid: NationalId, given_name: str, family_name: str, *, secret: bytes, national_id_claim: str
) -> Identity:
    claims: dict[str, Any] = {
        national_id_claim: nid.number,
        "name": f"{given_name} {family_name}",
        "given_name": given_name,
        "family_name": family_name,
    }
    if nid.birth_date is not None:
        claims["birthdate"] = nid.birth_date.isoformat()
    return Identity(
        sub=subject(secret, "person", nid.number),
        claims=claims,
        acr=ACR_BY_COUNTRY[nid.country],
        amr=("bankid",),
    )


def staff_identity(user: StaffUser, *, secret: bytes, roles_claim: str) -> Identity:
    claims: dict[str, Any] = {
        "name": user.name,
        "given_name": user.given_name,
        "family_name": user.family_name,
        roles_claim: list(user.roles),
    }
    return Identity(
        sub=subject(secret, "staff", user.username), claims=claims, acr=STAFF_ACR, amr=("pwd",)
    )


def id_token(
    grant: CodeGrant, *, issuer: str, key: RSAKey, kid: str, access_token: str, now: int
) -> str:
    claims: dict[str, Any] = {
        "iss": issuer,
        "sub": grant.identity.sub,
        "aud": grant.client_id,
        "exp": now + ID_TOKEN_TTL,
        "iat": now,
        "auth_time": grant.auth_time,
        "acr": grant.identity.acr,
        "amr": list(grant.identity.amr),
        "at_hash": _at_hash(access_token),
        **grant.identity.claims,
    }
    if grant.nonce is not None:
        claims["nonce"] = grant.nonce
    return jwt.encode({"alg": "RS256", "kid": kid, "typ": "JWT"}, claims, key)


def _at_hash(access_token: str) -> str:
    # OIDC Core §3.1.3.6: left half of the SHA-256 of the token, base64url.
    digest = hashlib.sha256(access_token.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest[:16]).rstrip(b"=").decode("ascii")
