"""`portal datamap check FILE`: the same problems the portal refuses to start with."""

from __future__ import annotations

import argparse

from portal.datamap.check_file import check_file


def register(subparsers: argparse._SubParsersAction) -> None:
    datamap = subparsers.add_parser("datamap", help="work with data map files")
    commands = datamap.add_subparsers(dest="datamap_command", required=True)
    check = commands.add_parser(
        "check",
        help="validate a data map file and its databases",
        description="Validate a data map and compare it with its databases (opened read-only): "
        "one line per problem, naming the file, the table and the field.",
    )
    check.add_argument("file", help="the data map (TOML)")
    check.add_argument(
        "--offline",
        action="store_true",
        help="check the file only, without connecting to the sources",
    )
    check.set_defaults(func=check_command)


def check_command(args: argparse.Namespace) -> int:
    checked = check_file(args.file, offline=args.offline)
    for problem in checked.problems:
        print(problem)
    if checked.problems or checked.datamap is None:
        return 1
    datamap = checked.datamap
    fields = sum(len(table.fields) for table in datamap.tables.values())
    print(
        f"{datamap.path}: OK: {len(datamap.sources)} sources, {len(datamap.tables)} tables, "
        f"{fields} fields, {len(datamap.purposes)} purposes ({datamap.version[:19]})"
    )
    return 0
