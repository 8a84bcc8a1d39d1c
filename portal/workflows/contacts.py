"""Who filed a request without BankID (portal/workflows/email_requests.py): the address the
request's messages go to, and what they typed. A module of its own, below the request machine,
so that the messages about a request (portal/workflows/notices.py) can find the address."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Text
from sqlmodel import Field, Session, SQLModel

MAX_NAME = 200
MAX_EMAIL = 320
MAX_CUSTOMER_NUMBER = 50
MAX_PHONE = 30


class RequestContact(SQLModel, table=True):
    """Who filed a request without BankID, as they told us, and how the DPO verified them.

    The request's messages go to ``email``, the address the person proved by the link. The
    name, customer number and phone are what the person typed: unverified until the DPO has
    checked them and recorded how (``verification``)."""

    __tablename__ = "request_contact"

    request_id: int = Field(foreign_key="data_request.id", primary_key=True)
    name: str = Field(max_length=MAX_NAME)
    email: str = Field(max_length=MAX_EMAIL, index=True)
    customer_number: str | None = Field(default=None, max_length=MAX_CUSTOMER_NUMBER)
    phone: str | None = Field(default=None, max_length=MAX_PHONE)
    confirmed_at: datetime
    verified_at: datetime | None = None
    verified_by: int | None = None  # the DPO's staff id
    verification: str | None = Field(default=None, sa_type=Text)


def contact_of(db: Session, request_id: int | None) -> RequestContact | None:
    return db.get(RequestContact, request_id) if request_id is not None else None
