"""Who is looking: the signed-in person or member of staff, loaded once per request."""

from __future__ import annotations

from dataclasses import dataclass

import anyio
from sqlalchemy import Row, Select
from sqlalchemy.engine import Connection, Engine
from sqlmodel import Session
from starlette.types import ASGIApp, Receive, Scope, Send

from portal.db import session_scope
from portal.models import StaffMember, Subject, WebSession, display_name
from portal.sessions import Companion
from portal.staff import roles_of


@dataclass(frozen=True)
class Viewer:
    kind: str  # "person" or "staff"
    id: int
    name: str
    roles: tuple[str, ...] = ()


def load_viewer(engine: Engine, subject_id: int | None, staff_id: int | None) -> Viewer | None:
    with session_scope(engine) as db:
        return viewer_in(db, subject_id, staff_id)


def viewer_in(db: Session, subject_id: int | None, staff_id: int | None) -> Viewer | None:
    if subject_id is not None:
        subject = db.get(Subject, subject_id)
        if subject is not None:
            return Viewer("person", subject_id, subject.display_name)
    if staff_id is not None:
        member = db.get(StaffMember, staff_id)
        if member is not None:
            return Viewer("staff", staff_id, member.name, tuple(roles_of(db, staff_id)))
    return None


def _with_names(statement: Select) -> Select:
    sessions, subjects, staff = WebSession.__table__, Subject.__table__, StaffMember.__table__
    return statement.add_columns(
        subjects.c.given_name.label("viewer_given_name"),
        subjects.c.family_name.label("viewer_family_name"),
        staff.c.name.label("viewer_staff_name"),
    ).select_from(
        sessions.outerjoin(subjects, subjects.c.id == sessions.c.subject_id).outerjoin(
            staff, staff.c.id == sessions.c.staff_id
        )
    )


def _viewer_of_row(connection: Connection, row: Row) -> Viewer | None:
    names = row._mapping
    if names["viewer_given_name"] is not None:
        name = display_name(names["viewer_given_name"], names["viewer_family_name"])
        return Viewer("person", row.subject_id, name)
    if names["viewer_staff_name"] is not None:
        with Session(bind=connection) as db:
            roles = tuple(roles_of(db, row.staff_id))
        return Viewer("staff", row.staff_id, names["viewer_staff_name"], roles)
    return None


# The viewer of a session record, read in the record's own statement (SessionStore's
# `with_record`): a person's name, or a member of staff's name and then their roles.
viewer_of_record = Companion(extend=_with_names, make=_viewer_of_row)


class ViewerMiddleware:
    def __init__(self, app: ASGIApp, *, engine: Engine) -> None:
        self.app = app
        self.engine = engine

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            state = scope["web_session"]
            scope["viewer"] = None
            if state.companion_loaded:  # read with the session record
                scope["viewer"] = state.companion
            elif state.subject_id is not None or state.staff_id is not None:
                scope["viewer"] = await anyio.to_thread.run_sync(
                    load_viewer, self.engine, state.subject_id, state.staff_id
                )
        await self.app(scope, receive, send)
