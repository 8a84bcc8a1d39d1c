"""`portal datamap check FILE`: the same problems the portal refuses to start with; and
`portal datamap init URL`: a starting map of a database, for the integrator to complete."""

from __future__ import annotations

import argparse
import sys

from portal.datamap.check_file import check_file
from portal.datamap.identity import finding_summary
from portal.datamap.matching import index_statements
from portal.datamap.starting_map import StartingMapError, read_database, starting_map


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
    check.add_argument(
        "--indexes",
        action="store_true",
        help="also print the indexes that keep look-ups by e-mail and phone fast on large tables",
    )
    check.set_defaults(func=check_command)
    init = commands.add_parser(
        "init",
        help="write a starting data map of a database to standard output",
        description="Read a database (read-only) and write a starting data map: every table "
        "and column, keys, foreign keys as links, e-mail, phone and national ID columns as "
        "identifiers. What it cannot decide is left out; `portal datamap check` lists it.",
        epilog="example: portal datamap init postgresql://reader@db/shop --schema sales > map.toml",
    )
    init.add_argument(
        "url", help="the database's SQLAlchemy URL (sqlite:///PATH, postgresql://...)"
    )
    init.add_argument("--schema", default=None, help="the schema to read (default: the default)")
    init.add_argument(
        "--source", default=None, help="the source's name in the map (default: the database's)"
    )
    init.set_defaults(func=init_command)


def init_command(args: argparse.Namespace) -> int:
    try:
        database = read_database(args.url, schema=args.schema, source=args.source)
    except StartingMapError as exc:
        print(f"portal datamap init: {exc}", file=sys.stderr)
        return 1
    sys.stdout.write(starting_map(database))
    return 0


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
    print("People are found by:")
    for line in finding_summary(datamap):
        print(line)
    indexes = index_statements(datamap, checked.dialects) if args.indexes else []
    if indexes:
        print("Indexes for look-ups by e-mail and phone (docs/datamap.md, 'Identifiers as typed'):")
        for statement in indexes:
            print(statement)
    return 0
