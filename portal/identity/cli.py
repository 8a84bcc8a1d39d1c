"""`portal identifier link|unlink`: staff link an identifier to a person, with a reason."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping

from portal import i18n
from portal.db import make_engine, session_scope, utcnow
from portal.identity.identifiers import (
    IdentifierRefused,
    link_identifier,
    person_by_national_id,
    staff_by_login,
    unlink_identifier,
)
from portal.identity.national_id import InvalidNationalId
from portal.settings import Settings


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("identifier", help="link identifiers to people (staff)")
    commands = parser.add_subparsers(dest="identifier_command", required=True)
    for name, help_text in (("link", "link an identifier"), ("unlink", "unlink an identifier")):
        command = commands.add_parser(name, help=help_text)
        command.add_argument("--national-id", required=True, help="the person's national ID")
        command.add_argument("--kind", required=True, choices=("email", "phone", "customer_number"))
        command.add_argument("--value", required=True)
        command.add_argument(
            "--staff", required=True, help="who does this: the name they sign in with"
        )
        command.add_argument("--reason", required=True, help="why (kept in the audit log)")
        command.set_defaults(func=_run, action=name)


def _run(args: argparse.Namespace) -> int:
    settings = Settings.for_command()
    engine = make_engine(settings.database_url)
    language = terminal_language(os.environ)
    try:
        with session_scope(engine) as db:
            i18n.set_language(language)  # the domain's messages, in the terminal's language
            subject = person_by_national_id(db, args.national_id)
            act = link_identifier if args.action == "link" else unlink_identifier
            act(
                db,
                subject_id=subject.id or 0,
                kind=args.kind,
                value=args.value,
                staff_id=staff_by_login(db, args.staff).id or 0,
                reason=args.reason,
                region=settings.phone_region,
                now=utcnow(),
            )
    except (IdentifierRefused, InvalidNationalId) as exc:
        print(f"portal: {exc}", file=sys.stderr)
        return 1
    finally:
        engine.dispose()
    words = i18n.Translator(language)
    print(words.gettext("Linked.") if args.action == "link" else words.gettext("Unlinked."))
    return 0


def terminal_language(environ: Mapping[str, str]) -> str:
    """The language of the terminal's locale (LANGUAGE, LC_ALL, LC_MESSAGES, LANG, as gettext
    reads them) when the portal speaks it; English otherwise (C, POSIX, unset)."""
    for name in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG"):
        value = environ.get(name, "")
        if value:
            code = value.split(":")[0].split("_")[0].split(".")[0].lower()
            code = {"no": "nb", "nn": "nb"}.get(code, code)
            return code if code in i18n.LANGUAGES else "en"
    return "en"
