"""`portal datamap check FILE`: the same problems the portal refuses to start with."""

from __future__ import annotations

import argparse
import sys

from portal.datamap.loader import load_datamap
from portal.datamap.problems import DataMapError
from portal.datamap.schema_check import check_against_sources
from portal.datamap.sources import create_engines, dispose_engines


def register(subparsers: argparse._SubParsersAction) -> None:
    datamap = subparsers.add_parser("datamap", help="work with data map files")
    commands = datamap.add_subparsers(dest="datamap_command", required=True)
    check = commands.add_parser("check", help="validate a data map file and its databases")
    check.add_argument("file", help="the data map (TOML)")
    check.add_argument(
        "--offline",
        action="store_true",
        help="check the file only, without connecting to the sources",
    )
    check.set_defaults(func=check_command)


def check_command(args: argparse.Namespace) -> int:
    try:
        datamap = load_datamap(args.file)
    except DataMapError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stdout)
        return 1
    problems: list[str] = []
    if not args.offline:
        try:
            engines = create_engines(datamap)
        except DataMapError as exc:
            problems = [f"{datamap.path}: {problem}" for problem in exc.problems]
        else:
            try:
                problems = check_against_sources(datamap, engines)
            finally:
                dispose_engines(engines)
    for problem in problems:
        print(problem)
    if problems:
        return 1
    fields = sum(len(table.fields) for table in datamap.tables.values())
    print(
        f"{datamap.path}: OK: {len(datamap.sources)} sources, {len(datamap.tables)} tables, "
        f"{fields} fields, {len(datamap.purposes)} purposes ({datamap.version[:19]})"
    )
    return 0
