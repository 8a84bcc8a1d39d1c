"""The portal's own tables.

The company's data lives elsewhere and is reached through the data map; these tables hold only
what Innsyn itself must remember: who a person is to us, staff and their roles, and sessions.
Every schema change here has an Alembic revision (tests compare the two). Enumerations are
stored as plain strings so that adding a value needs no database type change. Times are aware
UTC datetimes.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import JSON, Column, String, UniqueConstraint
from sqlmodel import Field, SQLModel

from portal.db import utcnow


class IdentifierKind(StrEnum):
    national_id = "national_id"
    email = "email"
    phone = "phone"
    customer_number = "customer_number"


class Assurance(StrEnum):
    """How sure we are who the person is: for an identifier they hold, or a request they filed."""

    # Proven by an electronic ID at a high level (BankID).
    high = "high"
    # Proven by a link sent to the address; enough to follow a request, not to release data.
    low = "low"
    # Linked by staff, with a reason in the audit log.
    staff = "staff"


class Subject(SQLModel, table=True):
    """A person the portal knows, keyed by the national ID proven at sign-in."""

    __tablename__ = "subject"

    id: int | None = Field(default=None, primary_key=True)
    national_id: str = Field(max_length=12, unique=True, index=True)
    country: str = Field(max_length=2)
    given_name: str = Field(default="", max_length=200)
    family_name: str = Field(default="", max_length=200)
    preferred_language: str | None = Field(default=None, max_length=5)
    created_at: datetime = Field(default_factory=utcnow)
    last_sign_in_at: datetime | None = None

    @property
    def display_name(self) -> str:
        return display_name(self.given_name, self.family_name)


def display_name(given_name: str, family_name: str) -> str:
    return f"{given_name} {family_name}".strip()


class SubjectIdentifier(SQLModel, table=True):
    """An identifier (e-mail, phone, customer number) a person has proven or staff have linked."""

    __tablename__ = "subject_identifier"
    __table_args__ = (UniqueConstraint("subject_id", "kind", "value"),)

    id: int | None = Field(default=None, primary_key=True)
    subject_id: int = Field(foreign_key="subject.id", index=True, ondelete="CASCADE")
    kind: IdentifierKind = Field(sa_type=String(20))
    value: str = Field(max_length=320, index=True)
    assurance: Assurance = Field(sa_type=String(10))
    created_at: datetime = Field(default_factory=utcnow)


class StaffRoleName(StrEnum):
    staff = "staff"
    dpo = "dpo"
    admin = "admin"


class StaffMember(SQLModel, table=True):
    """A member of staff, known by the identity provider's issuer and subject."""

    __tablename__ = "staff_member"
    __table_args__ = (UniqueConstraint("issuer", "sub"),)

    id: int | None = Field(default=None, primary_key=True)
    issuer: str = Field(max_length=300)
    sub: str = Field(max_length=255)
    name: str = Field(default="", max_length=200)
    created_at: datetime = Field(default_factory=utcnow)
    last_sign_in_at: datetime | None = None


class StaffRole(SQLModel, table=True):
    __tablename__ = "staff_role"
    __table_args__ = (UniqueConstraint("staff_id", "role"),)

    id: int | None = Field(default=None, primary_key=True)
    staff_id: int = Field(foreign_key="staff_member.id", index=True, ondelete="CASCADE")
    role: StaffRoleName = Field(sa_type=String(10))
    granted_at: datetime = Field(default_factory=utcnow)


class WebSession(SQLModel, table=True):
    """A browser session held on the server; the cookie carries only a signed random id.

    The primary key is a hash of that id, so a copy of this table opens no sessions.
    """

    __tablename__ = "web_session"

    id: str = Field(primary_key=True, max_length=64)
    data: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    subject_id: int | None = Field(
        default=None, foreign_key="subject.id", index=True, ondelete="CASCADE"
    )
    staff_id: int | None = Field(
        default=None, foreign_key="staff_member.id", index=True, ondelete="CASCADE"
    )
    acr: str | None = Field(default=None, max_length=200)
    authenticated_at: datetime | None = None
    created_at: datetime = Field(default_factory=utcnow)
    last_seen_at: datetime = Field(default_factory=utcnow)
    ended_at: datetime | None = None
