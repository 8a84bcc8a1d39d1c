"""`portal identifier link|unlink`: staff link an identifier to a person, with a reason."""

from __future__ import annotations

import argparse
import sys

from sqlmodel import select

from portal.db import make_engine, session_scope, utcnow
from portal.identity.identifiers import IdentifierRefused, link_identifier, unlink_identifier
from portal.identity.national_id import InvalidNationalId, parse_national_id
from portal.models import Subject
from portal.settings import Settings


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("identifier", help="link identifiers to people (staff)")
    commands = parser.add_subparsers(dest="identifier_command", required=True)
    for name, help_text in (("link", "link an identifier"), ("unlink", "unlink an identifier")):
        command = commands.add_parser(name, help=help_text)
        command.add_argument("--national-id", required=True, help="the person's national ID")
        command.add_argument("--kind", required=True, choices=("email", "phone", "customer_number"))
        command.add_argument("--value", required=True)
        command.add_argument("--staff-id", type=int, required=True, help="who does this")
        command.add_argument("--reason", required=True, help="why (kept in the audit log)")
        command.set_defaults(func=_run, action=name)


def _run(args: argparse.Namespace) -> int:
    settings = Settings.for_command()
    engine = make_engine(settings.database_url)
    try:
        with session_scope(engine) as db:
            subject_id = _subject(db, args.national_id)
            act = link_identifier if args.action == "link" else unlink_identifier
            act(
                db,
                subject_id=subject_id,
                kind=args.kind,
                value=args.value,
                staff_id=args.staff_id,
                reason=args.reason,
                now=utcnow(),
            )
    except (IdentifierRefused, InvalidNationalId) as exc:
        print(f"portal: {exc}", file=sys.stderr)
        return 1
    finally:
        engine.dispose()
    print("Linked." if args.action == "link" else "Unlinked.")
    return 0


def _subject(db, national_id: str) -> int:
    """The person, known to the portal from now on even if they never signed in."""
    nid = parse_national_id(national_id)
    subject = db.exec(select(Subject).where(Subject.national_id == nid.number)).first()
    if subject is None:
        subject = Subject(national_id=nid.number, country=nid.country)
        db.add(subject)
        db.flush()
    return subject.id
