"""A mock BankID OpenID provider for development and tests; never for production.

The portal mounts it at /mock-idp in development so that one run command works alone; `portal
mock-idp` runs it standalone. See provider.py for what it implements.
"""

from __future__ import annotations

from portal.mock_idp.config import (
    ClientConfig,
    MockIdpConfig,
    MockIdpRefused,
    parse_clients,
)
from portal.mock_idp.people import StaffUser, TestPerson, default_people, default_staff
from portal.mock_idp.provider import create_mock_idp

__all__ = [
    "ClientConfig",
    "MockIdpConfig",
    "MockIdpRefused",
    "StaffUser",
    "TestPerson",
    "create_mock_idp",
    "default_people",
    "default_staff",
    "parse_clients",
]
