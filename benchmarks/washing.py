"""Washing a call list against the block list, end to end.

    python -m benchmarks.washing [--rows N] [--entries N] [--db sqlite,postgres] [--quick]

For each database: migrate a fresh portal database, load --entries block-list entries (an
external register's import, untimed), write a call list of --rows rows (name;phone;city, the
numbers in mixed forms, about one in five blocked), then time upload -> wash -> download in a
fresh process (so that its peak RSS is the wash's own): the upload streamed into the portal's
var directory, detection, the wash in remove mode, the result read back. The baseline, measured
in the same run, is the same file copied through Python's csv reader and writer with no lookups.
Prints one table; reports, never gates (targets: under 10 s and 300 MB).
"""

from __future__ import annotations

import argparse
import csv
import multiprocessing
import os
import random
import resource
import sys
import tempfile
import time
import uuid
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

POSTGRES_ADMIN_URL = os.environ.get(
    "INNSYN_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test"
)
NOW = datetime(2026, 11, 24, 12, tzinfo=UTC)
TARGET_S = 10.0
TARGET_MB = 300


@contextmanager
def portal_database(kind: str, directory: Path):
    if kind == "sqlite":
        yield f"sqlite:///{directory / 'portal.db'}"
        return
    name = f"innsyn_bench_wash_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    base = POSTGRES_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://")
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def number(i: int) -> str:
    return f"9{i:07d}"  # Norwegian mobile-like, 8 digits


def forms(digits: str, rng: random.Random) -> str:
    choice = rng.randrange(3)
    if choice == 0:
        return f"+47 {digits[:3]} {digits[3:5]} {digits[5:]}"
    if choice == 1:
        return f"0047 {digits}"
    return digits


def setup(url: str, entries: int, rows: int, directory: Path) -> Path:
    from sqlmodel import Session

    from portal.db import make_engine
    from portal.marketing import block_list
    from portal.marketing.block_list import Channel, Kind, NewEntry, Reason
    from portal.migrations import upgrade

    upgrade(url)
    engine = make_engine(url)
    # Entries on every fifth number of the list's range, the rest beyond it.
    blocked = (number(i * 5) for i in range(entries))
    with Session(engine) as db:
        block_list.replace_source(
            db,
            "reservasjonsregisteret",
            (
                NewEntry(Kind.phone, f"+47{d}", Reason.external_register, Channel.phone)
                for d in blocked
            ),
            now=NOW,
        )
        db.commit()
    engine.dispose()
    path = directory / "call_list.csv"
    rng = random.Random(1)
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out, delimiter=";")
        writer.writerow(["navn", "telefon", "sted"])
        for i in range(rows):
            writer.writerow([f"Person {i}", forms(number(i), rng), "Oslo"])
    return path


def wash_end_to_end(url: str, path: str, var_dir: str, queue: Any) -> None:
    """In a fresh process: upload, wash, download; reports seconds, peak RSS and the summary."""
    from sqlmodel import Session

    from portal.db import make_engine
    from portal.marketing import washing
    from portal.marketing.washing import Options
    from portal.models import StaffMember

    engine = make_engine(url)
    with Session(engine) as db:
        member = StaffMember(issuer="bench", sub=uuid.uuid4().hex, name="Bench")
        db.add(member)
        db.commit()
        staff_id = member.id
    started = time.perf_counter()
    with Session(engine) as db, open(path, "rb") as upload:
        wash = washing.store_upload(
            db,
            upload,
            directory=Path(var_dir) / "washing",
            staff_id=staff_id,
            role="staff",
            region="NO",
            now=NOW,
        )
        options = Options(1, None, None, "phone", "remove", wash.encoding, wash.delimiter, True)
        assert washing.configure(wash, options, purposes=[]) == {}
        washing.start(db, wash, staff_id=staff_id, now=NOW)
        washing.run_and_finish(db, wash, now=NOW)
        db.commit()
        result = wash.result_path
        summary = dict(wash.summary)
    downloaded = 0
    with result.open("rb") as handle:
        while chunk := handle.read(1024 * 1024):
            downloaded += len(chunk)
    elapsed = time.perf_counter() - started
    engine.dispose()
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    queue.put((elapsed, peak_mb, summary, downloaded))


def baseline(path: Path, queue: Any) -> None:
    started = time.perf_counter()
    out_path = path.with_suffix(".copy")
    with path.open(encoding="utf-8", newline="") as src, out_path.open("w", newline="") as out:
        writer = csv.writer(out, delimiter=";")
        for row in csv.reader(src, delimiter=";"):
            writer.writerow(row)
    elapsed = time.perf_counter() - started
    out_path.unlink()
    queue.put((elapsed, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, {}, 0))


def in_fresh_process(target: Any, *args: Any) -> tuple[float, float, dict, int]:
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=target, args=(*args, queue))
    process.start()
    result = queue.get()
    process.join()
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--db", default="sqlite,postgres")
    parser.add_argument("--quick", action="store_true", help="100,000 rows and entries")
    args = parser.parse_args(argv)
    if args.quick:
        args.rows = args.entries = 100_000
    lines = []
    for kind in args.db.split(","):
        with tempfile.TemporaryDirectory() as tmp, portal_database(kind, Path(tmp)) as url:
            directory = Path(tmp)
            print(
                f"{kind}: loading {args.entries:,} entries, writing {args.rows:,} rows…",
                file=sys.stderr,
            )
            path = setup(url, args.entries, args.rows, directory)
            base_s, base_mb, _summary, _size = in_fresh_process(baseline, path)
            wash_s, wash_mb, summary, size = in_fresh_process(
                wash_end_to_end, url, str(path), str(directory / "var")
            )
            lines.append((kind, base_s, base_mb, wash_s, wash_mb, summary, size))
    print(f"\nwashing {args.rows:,} rows against {args.entries:,} block-list entries")
    print(
        f"{'db':<10}{'baseline s':>12}{'wash s':>10}{'ratio':>8}{'peak MB':>10}"
        f"{'blocked':>10}{'kept':>10}{'targets':>18}"
    )
    for kind, base_s, _base_mb, wash_s, wash_mb, summary, _size in lines:
        ok = "ok" if wash_s < TARGET_S and wash_mb < TARGET_MB else "MISSED"
        print(
            f"{kind:<10}{base_s:>12.2f}{wash_s:>10.2f}{wash_s / base_s:>8.1f}{wash_mb:>10.0f}"
            f"{summary.get('blocked', 0):>10,}{summary.get('written', 0):>10,}"
            f"{f'<{TARGET_S:.0f} s, <{TARGET_MB} MB: {ok}':>18}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
