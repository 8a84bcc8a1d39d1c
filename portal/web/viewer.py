"""Who is looking: the signed-in person or member of staff, loaded once per request, in the
statement that reads the session: a person's name and their unread messages (the count on the
navigation's link to Messages), or a member of staff's name and roles."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Row, Select
from sqlalchemy.engine import Connection
from sqlmodel import Session
from starlette.types import ASGIApp, Receive, Scope, Send

from portal.identity.staff import roles_of
from portal.mail.inbox import unread_of
from portal.models import StaffMember, Subject, WebSession, display_name
from portal.web.sessions import Companion


@dataclass(frozen=True)
class Viewer:
    kind: str  # "person" or "staff"
    id: int
    name: str
    roles: tuple[str, ...] = ()
    # A person's unread messages, when the session was read (the navigation shows it).
    unread: int = 0


def _with_names(statement: Select) -> Select:
    sessions, subjects, staff = WebSession.__table__, Subject.__table__, StaffMember.__table__
    return statement.add_columns(
        subjects.c.given_name.label("viewer_given_name"),
        subjects.c.family_name.label("viewer_family_name"),
        staff.c.name.label("viewer_staff_name"),
        unread_of(sessions.c.subject_id).label("viewer_unread"),
    ).select_from(
        sessions.outerjoin(subjects, subjects.c.id == sessions.c.subject_id).outerjoin(
            staff, staff.c.id == sessions.c.staff_id
        )
    )


def _viewer_of_row(connection: Connection, row: Row) -> Viewer | None:
    names = row._mapping
    if names["viewer_given_name"] is not None:
        name = display_name(names["viewer_given_name"], names["viewer_family_name"])
        return Viewer("person", row.subject_id, name, unread=names["viewer_unread"] or 0)
    if names["viewer_staff_name"] is not None:
        with Session(bind=connection) as db:
            roles = tuple(roles_of(db, row.staff_id))
        return Viewer("staff", row.staff_id, names["viewer_staff_name"], roles)
    return None


# The viewer of a session record, read in the record's own statement (SessionStore's
# `with_record`): a person's name, or a member of staff's name and then their roles.
viewer_of_record = Companion(extend=_with_names, make=_viewer_of_row)


class ViewerMiddleware:
    """Puts the viewer the session store read with the record (`viewer_of_record`) where
    routes and templates look for it: ``scope["viewer"]``, None when nobody is signed in."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            scope["viewer"] = scope["web_session"].companion
        await self.app(scope, receive, send)
