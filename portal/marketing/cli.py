"""`portal block-list import --source NAME FILE`: load an external do-not-call register."""

from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path

from portal.db import make_engine, session_scope, utcnow
from portal.marketing.registers import RegisterError, import_register
from portal.settings import Settings


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("block-list", help="the global block list")
    commands = parser.add_subparsers(dest="block_list_command", required=True)
    command = commands.add_parser(
        "import",
        help="replace an external register's entries (one number a line, or CSV) in one go",
    )
    command.add_argument(
        "--source", required=True, help="the register, e.g. reservasjonsregisteret or nix"
    )
    command.add_argument(
        "--date", type=date.fromisoformat, default=None, help="the file's date (default: today)"
    )
    command.add_argument("file", type=Path)
    command.set_defaults(func=_import)


def _import(args: argparse.Namespace) -> int:
    settings = Settings.for_command()
    engine = make_engine(settings.database_url)
    try:
        with session_scope(engine) as db:
            result = import_register(
                db,
                args.source,
                args.file,
                region=settings.phone_region,
                source_date=args.date,
                now=utcnow(),
            )
    except (RegisterError, OSError) as exc:
        print(f"portal: {exc}", file=sys.stderr)
        return 1
    finally:
        engine.dispose()
    print(f"Imported {result.imported} numbers into {result.source}.")
    if result.bad_count:
        lines = ", ".join(str(n) for n in result.bad_lines)
        more = " (first 100 listed)" if result.bad_count > len(result.bad_lines) else ""
        print(f"{result.bad_count} lines were not phone numbers{more}: {lines}", file=sys.stderr)
    return 0
