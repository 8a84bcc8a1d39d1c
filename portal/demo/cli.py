"""`portal demo seed --people N`: create and fill the demo company's database."""

from __future__ import annotations

import argparse
import time
from datetime import date
from pathlib import Path

from sqlalchemy import create_engine
from sqlalchemy.engine import make_url

from portal.demo.schema import URL_ENV, demo_url
from portal.demo.seed import AlreadySeeded, seed


def register(subparsers: argparse._SubParsersAction) -> None:
    demo = subparsers.add_parser("demo", help="the demo company")
    commands = demo.add_subparsers(dest="demo_command", required=True)
    seeder = commands.add_parser("seed", help="create and fill the demo company's database")
    seeder.add_argument(
        "--people", type=int, default=1000, help="generated customers (default 1000)"
    )
    seeder.add_argument(
        "--database-url", default=None, help=f"SQLAlchemy URL (default: ${URL_ENV} or var/)"
    )
    seeder.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    seeder.add_argument("--today", type=date.fromisoformat, default=None, help="YYYY-MM-DD")
    seeder.add_argument("--reset", action="store_true", help="drop the demo tables first")
    seeder.add_argument(
        "--if-empty", action="store_true", help="do nothing (and succeed) if already seeded"
    )
    seeder.set_defaults(func=seed_command)


def seed_command(args: argparse.Namespace) -> int:
    url = make_url(args.database_url or demo_url())
    if url.get_backend_name() == "sqlite" and url.database:
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url)
    started = time.perf_counter()
    try:
        counts = seed(
            engine, args.people, args.seed, today=args.today or date.today(), reset=args.reset
        )
    except AlreadySeeded:
        if args.if_empty:
            print("The demo database already has data; leaving it as it is.")
            return 0
        print("The demo database already has data; add --reset to start again.")
        return 1
    finally:
        engine.dispose()
    elapsed = time.perf_counter() - started
    print(
        f"Seeded {url.render_as_string(hide_password=True)}: {args.people} people and the edge "
        f"cases, {sum(counts.values())} rows in {len(counts)} tables, {elapsed:.1f} s."
    )
    return 0
