"""The export table: one row per export a person asked for, with its progress and its files.

An export belongs to an access (art. 15) or portability (art. 20) request; the request's events
record that it was made, delivered, downloaded and deleted. The row holds no personal data: its
id is random (it names the files on disk and appears in page addresses), and the files
themselves live under ``var/exports/<id>/``.
"""

from __future__ import annotations

import secrets
from datetime import datetime
from enum import StrEnum

from sqlalchemy import JSON, Column, String
from sqlmodel import Field, SQLModel

from portal.db import utcnow


class ExportStatus(StrEnum):
    # Waiting for the worker (a large export).
    queued = "queued"
    # Being written; rows_done counts the rows read so far.
    building = "building"
    # The files are there and may be downloaded until expires_at.
    ready = "ready"
    # Building failed for good; the error names the cause without personal data.
    failed = "failed"
    # Past expires_at: the files have been deleted.
    expired = "expired"


class ExportScope(StrEnum):
    # Art. 15(3): a copy of everything held.
    access = "access"
    # Art. 20: only data the person provided, under consent or a contract.
    portability = "portability"


class ExportFile(StrEnum):
    """The files an export offers, named by what they are, never by who they are about."""

    json = "json"
    zip = "zip"
    pdf = "pdf"

    @property
    def filename(self) -> str:
        return {"json": "export.json", "zip": "export.zip", "pdf": "report.pdf"}[self.value]

    @property
    def media_type(self) -> str:
        return {
            "json": "application/json",
            "zip": "application/zip",
            "pdf": "application/pdf",
        }[self.value]


def new_export_id() -> str:
    """128 random bits, URL-safe: an id nobody can guess or count through."""
    return secrets.token_urlsafe(16)


class Export(SQLModel, table=True):
    __tablename__ = "export"

    id: str = Field(default_factory=new_export_id, primary_key=True, max_length=32)
    subject_id: int = Field(foreign_key="subject.id", index=True, ondelete="CASCADE")
    request_id: int = Field(foreign_key="data_request.id", index=True)
    scope: ExportScope = Field(sa_type=String(20))
    language: str = Field(max_length=5)
    status: ExportStatus = Field(default=ExportStatus.queued, sa_type=String(20), index=True)
    # Built by the worker (more rows than EXPORT_BACKGROUND_ROWS) rather than on request.
    background: bool = False
    rows_total: int = 0
    rows_done: int = 0
    datamap_version: str | None = Field(default=None, max_length=80)
    # File kind -> size in bytes, once written.
    files: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    # Exception class and first line only, as for jobs: no personal data.
    error: str | None = Field(default=None, max_length=500)
    created_at: datetime = Field(default_factory=utcnow)
    started_at: datetime | None = None
    ready_at: datetime | None = None
    expires_at: datetime | None = None
    deleted_at: datetime | None = None
    downloads: int = 0

    @property
    def open(self) -> bool:
        return self.status in (ExportStatus.queued, ExportStatus.building)
