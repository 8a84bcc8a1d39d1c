"""`portal audit verify`: check the audit log's hash chain and record that it was checked."""

from __future__ import annotations

import argparse
import sys

from portal.audit.chain import ChainCheck, check_and_record
from portal.db import make_engine, utcnow
from portal.settings import Settings

# What is wrong with the first broken entry (portal.audit.chain.PROBLEMS), for the terminal.
PROBLEMS = {
    "missing": "it is missing (deleted, or the log was cut short)",
    "changed": "its fields no longer give its hash (the row was changed)",
    "unlinked": "it does not carry the hash of the entry before it",
    "rewritten": "its hash is not the one an earlier verification recorded for it",
    "head": "the chain's head does not name the last entry (audit_chain_head was changed)",
}


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("audit", help="the audit log")
    commands = parser.add_subparsers(dest="audit_command", required=True)
    verify = commands.add_parser(
        "verify",
        help="check the audit log's hash chain; exit 1 naming the first broken entry",
    )
    verify.set_defaults(func=_verify)


def _verify(args: argparse.Namespace) -> int:
    engine = make_engine(Settings.for_command().database_url)
    try:
        check = check_and_record(engine, utcnow())
    finally:
        engine.dispose()
    return report(check)


def report(check: ChainCheck) -> int:
    """The outcome in the terminal: a line on standard output and 0 when the chain is whole,
    else a line on standard error naming the first broken entry and 1."""
    if check.broken is None:
        print(
            f"portal: the audit log is whole: {check.entries} entries verified"
            + (
                f"; the last, number {check.last_seq}, has hash {check.last_hash}"
                if check.entries
                else ""
            )
        )
        return 0
    broken = check.broken
    row = f" (row id {broken.entry_id})" if broken.entry_id is not None else ""
    print(
        f"portal: the audit log is broken at entry number {broken.seq}{row}: "
        f"{PROBLEMS[broken.problem]}. The {check.entries} entries before it are whole.",
        file=sys.stderr,
    )
    return 1
