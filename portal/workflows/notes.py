"""Internal notes on a request: what staff write to each other about a case.

Staff-only: never shown to the person, never in an export, a letter or a message (nothing but
the DPO's case page reads this table). Writing one is audit-logged without its text, which may
hold personal data.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Text
from sqlmodel import Field, Session, SQLModel, col, select

from portal.audit import AuditActor, record
from portal.db import utcnow
from portal.i18n import gettext as _

MAX_NOTE = 4000


class RequestNote(SQLModel, table=True):
    __tablename__ = "request_note"

    id: int | None = Field(default=None, primary_key=True)
    request_id: int = Field(foreign_key="data_request.id", index=True)
    staff_id: int = Field(foreign_key="staff_member.id")
    at: datetime = Field(default_factory=utcnow)
    text: str = Field(sa_type=Text)


class NoteRefused(ValueError):
    """An empty or too long note; nothing was written."""


def add_note(
    db: Session,
    request_id: int,
    subject_id: int | None,
    text: str,
    *,
    staff_id: int,
    now: datetime,
) -> RequestNote:
    """A note on the request by ``staff_id``; refused (NoteRefused) when empty or longer than
    MAX_NOTE. The audit entry names the request, never the text."""
    text = text.strip()
    if not text:
        raise NoteRefused(_("Write the note."))
    if len(text) > MAX_NOTE:
        raise NoteRefused(_("Please keep this under %(count)d characters.", count=MAX_NOTE))
    note = RequestNote(request_id=request_id, staff_id=staff_id, at=now, text=text)
    db.add(note)
    db.flush()
    record(
        db,
        actor=AuditActor.staff,
        actor_id=staff_id,
        action="request.note",
        subject_id=subject_id,
        details={"request_id": request_id, "note_id": note.id},
        now=now,
    )
    return note


def notes_of(db: Session, request_id: int) -> list[RequestNote]:
    """The request's notes, newest first."""
    return list(
        db.exec(
            select(RequestNote)
            .where(RequestNote.request_id == request_id)
            .order_by(col(RequestNote.at).desc(), col(RequestNote.id).desc())
        )
    )
