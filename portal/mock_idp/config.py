"""Configuration of the mock provider: registered clients, test users, claim names."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from portal.mock_idp.people import StaffUser, TestPerson, default_people, default_staff

_CLIENT_FIELDS = ("client_id", "client_secret", "redirect_uris")
_EXAMPLE = (
    '[{"client_id": "innsyn-portal", "client_secret": "dev-secret", '
    '"redirect_uris": ["http://127.0.0.1:8000/auth/callback"]}]'
)


class MockIdpRefused(RuntimeError):
    """The mock provider was asked to run where it must not (production)."""


@dataclass(frozen=True)
class ClientConfig:
    client_id: str
    client_secret: str
    redirect_uris: tuple[str, ...]


@dataclass
class MockIdpConfig:
    issuer: str  # e.g. "http://127.0.0.1:8000/mock-idp"; endpoint URLs are issuer + path
    key_file: Path  # RSA private key (PEM); generated there when missing
    clients: list[ClientConfig]
    national_id_claim: str = "nnin"
    roles_claim: str = "roles"
    # Called at every login page render, so the portal can offer its seeded demo people.
    people: Callable[[], list[TestPerson]] = default_people
    staff: list[StaffUser] = field(default_factory=default_staff)
    production: bool = False
    # The clock, injectable so tests can expire codes without sleeping.
    now: Callable[[], float] = time.time


def parse_clients(json_text: str) -> list[ClientConfig]:
    """Read MOCK_IDP_CLIENTS: a JSON list of {client_id, client_secret, redirect_uris}."""
    if not json_text.strip():
        raise ValueError(f"MOCK_IDP_CLIENTS is empty; set it to a JSON list such as {_EXAMPLE}")
    try:
        data = json.loads(json_text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"MOCK_IDP_CLIENTS is not valid JSON: {exc}") from None
    if not isinstance(data, list) or not data:
        raise ValueError(f"MOCK_IDP_CLIENTS must be a non-empty JSON list such as {_EXAMPLE}")
    clients = [_parse_client(index, item) for index, item in enumerate(data)]
    seen: set[str] = set()
    for index, client in enumerate(clients):
        if client.client_id in seen:
            raise ValueError(
                f"MOCK_IDP_CLIENTS[{index}].client_id: {client.client_id!r} is listed twice"
            )
        seen.add(client.client_id)
    return clients


def _parse_client(index: int, item: Any) -> ClientConfig:
    where = f"MOCK_IDP_CLIENTS[{index}]"
    if not isinstance(item, dict):
        raise ValueError(f"{where} must be an object with {', '.join(_CLIENT_FIELDS)}")
    unknown = sorted(set(item) - set(_CLIENT_FIELDS))
    if unknown:
        raise ValueError(
            f"{where}: unknown field {unknown[0]!r} (expected {', '.join(_CLIENT_FIELDS)})"
        )
    for name in ("client_id", "client_secret"):
        if not isinstance(item.get(name), str) or not item[name].strip():
            raise ValueError(f"{where}.{name}: required, a non-empty string")
    uris = item.get("redirect_uris")
    if not isinstance(uris, list) or not uris:
        raise ValueError(f"{where}.redirect_uris: required, a non-empty list of URLs")
    for position, uri in enumerate(uris):
        problem = redirect_uri_problem(uri)
        if problem:
            raise ValueError(f"{where}.redirect_uris[{position}]: {problem}")
    return ClientConfig(item["client_id"], item["client_secret"], tuple(uris))


def redirect_uri_problem(uri: Any) -> str | None:
    """Why a redirect URI is unusable, or None (RFC 6749 §3.1.2: absolute, no fragment)."""
    if not isinstance(uri, str):
        return "must be a string"
    parts = urlsplit(uri)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return f"{uri!r} is not an absolute http(s) URL"
    if parts.fragment or uri.endswith("#"):
        return f"{uri!r} must not contain a fragment"
    return None
