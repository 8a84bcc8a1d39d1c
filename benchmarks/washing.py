"""Washing a call list against the block list, end to end.

    python -m benchmarks.washing [--rows N] [--entries N] [--db sqlite,postgres] [--quick]

For each database: migrate a fresh portal database, load --entries block-list entries (an
external register's import, untimed), write a call list of --rows rows (name;phone;city, the
numbers in mixed forms, about one in five blocked), then time upload -> wash -> download in a
fresh process (so that its peak RSS is the wash's own): the upload streamed into the portal's
var directory, detection, the wash in remove mode, the result read back. The baseline, measured
in the same run, is the same file copied through Python's csv reader and writer with no lookups.
Then the dialer API, in a fresh process through the ASGI app (Starlette's test client): --batches
requests of 1,000 numbers each (the same mix of forms, about one in five blocked), against the
raw baseline of the same run, the numbers' E.164 forms looked up in one SQL statement through
the driver with the body's JSON read and an answer's written. Prints one table, appended to
benchmarks/results/washing.md unless --no-record; reports, never gates (targets from issue #21:
the wash at most 3x the baseline and under 200 MB; a batch answered in under 50 ms at p95).
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
TARGET_RATIO = 3.0  # the wash, end to end, against the csv copy of the same file
TARGET_MB = 200
TARGET_API_MS = 50.0  # p95 of a 1,000-number batch
API_BATCH = 1000


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
    peak_mb = peak_rss_mb()
    queue.put((elapsed, peak_mb, summary, downloaded))


def peak_rss_mb() -> float:
    """This process's peak resident memory: VmHWM, since Linux carries ru_maxrss over the exec
    of a spawned process, so that it showed the parent's peak after loading the entries."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def baseline(path: Path, queue: Any) -> None:
    started = time.perf_counter()
    out_path = path.with_suffix(".copy")
    with path.open(encoding="utf-8", newline="") as src, out_path.open("w", newline="") as out:
        writer = csv.writer(out, delimiter=";")
        for row in csv.reader(src, delimiter=";"):
            writer.writerow(row)
    elapsed = time.perf_counter() - started
    out_path.unlink()
    queue.put((elapsed, peak_rss_mb(), {}, 0))


def api_batches(url: str, var_dir: str, rows: int, batches: int, queue: Any) -> None:
    """In a fresh process: ``batches`` checks of 1,000 numbers through the ASGI app, and the raw
    baseline; reports both latencies in ms, and the statuses counted."""
    from sqlmodel import Session
    from starlette.testclient import TestClient

    from portal.app import create_app
    from portal.db import make_engine
    from portal.marketing import api_tokens
    from portal.models import StaffMember
    from portal.settings import Settings

    engine = make_engine(url)
    with Session(engine) as db:
        member = StaffMember(issuer="bench", sub=uuid.uuid4().hex, name="Bench")
        db.add(member)
        db.flush()
        _token, secret = api_tokens.create_token(db, name="bench", staff_id=member.id, now=NOW)
        db.commit()
    engine.dispose()
    env = {
        "DATABASE_URL": url,
        "SECRET_KEY": "b" * 40,
        "PORTAL_VAR_DIR": var_dir,
        "PORTAL_BASE_URL": "http://testserver",
        "RATE_LIMIT_API_PER_MINUTE": "1000000",
    }
    app = create_app(Settings.from_env(env), now=lambda: NOW, sources={})
    rng = random.Random(2)
    bodies = [
        [forms(number(rng.randrange(rows)), rng) for _ in range(API_BATCH)] for _ in range(batches)
    ]
    headers = {"Authorization": f"Bearer {secret}"}
    api_ms: list[float] = []
    statuses: dict[str, int] = {}
    with TestClient(app) as client:
        for i, numbers in enumerate([bodies[0], *bodies]):  # the first one warms up
            started = time.perf_counter()
            response = client.post(
                "/api/v1/block-list/check", json={"numbers": numbers}, headers=headers
            )
            elapsed = (time.perf_counter() - started) * 1000
            assert response.status_code == 200, response.text
            if i:
                api_ms.append(elapsed)
                for result in response.json()["results"]:
                    statuses[result["status"]] = statuses.get(result["status"], 0) + 1
    raw_ms = raw_batches(url, bodies)
    queue.put((api_ms, raw_ms, statuses))


def raw_batches(url: str, bodies: list[list[str]]) -> list[float]:
    """The floor under the API: the body's JSON read, the E.164 forms (computed beforehand,
    untimed) looked up in one statement through the driver, an answer's JSON written."""
    import json
    import sqlite3

    wanted = [["+47" + "".join(c for c in n if c.isdigit())[-8:] for n in body] for body in bodies]
    if url.startswith("sqlite"):
        connection: Any = sqlite3.connect(url.removeprefix("sqlite:///"))
        marks = ",".join("?" * API_BATCH)
        sql = f"SELECT value, reason, source FROM block_entry WHERE kind = 'phone' AND value IN ({marks})"  # noqa: E501
        lookup = lambda values: connection.execute(sql, values).fetchall()  # noqa: E731
    else:
        connection = psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"))
        sql = (
            "SELECT value, reason, source FROM block_entry WHERE kind = 'phone' AND value = ANY(%s)"
        )
        lookup = lambda values: connection.execute(sql, (values,)).fetchall()  # noqa: E731
    times = []
    for numbers, values in zip(bodies, wanted, strict=True):
        body = json.dumps({"numbers": numbers}).encode()
        started = time.perf_counter()
        json.loads(body)
        found = {value: (reason, source) for value, reason, source in lookup(values)}
        answer = zip(numbers, values, strict=True)
        json.dumps([{"number": n, "status": found.get(v)} for n, v in answer])
        times.append((time.perf_counter() - started) * 1000)
    connection.close()
    return times


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def in_fresh_process(target: Any, *args: Any) -> Any:
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
    parser.add_argument("--batches", type=int, default=200, help="API requests of 1,000 numbers")
    parser.add_argument("--quick", action="store_true", help="100,000 rows and entries")
    parser.add_argument("--no-record", action="store_true", help="do not append to results/")
    parser.add_argument("--note", default="", help="said with the recorded table")
    args = parser.parse_args(argv)
    if args.quick:
        args.rows = args.entries = 100_000
        args.batches = min(args.batches, 50)
    lines = []
    for kind in args.db.split(","):
        with tempfile.TemporaryDirectory() as tmp, portal_database(kind, Path(tmp)) as url:
            directory = Path(tmp)
            print(
                f"{kind}: loading {args.entries:,} entries, writing {args.rows:,} rows…",
                file=sys.stderr,
            )
            path = setup(url, args.entries, args.rows, directory)
            base_s, _base_mb, _summary, _size = in_fresh_process(baseline, path)
            wash_s, wash_mb, summary, _size = in_fresh_process(
                wash_end_to_end, url, str(path), str(directory / "var")
            )
            api_ms, raw_ms, _statuses = in_fresh_process(
                api_batches, url, str(directory / "var"), args.rows, args.batches
            )
            lines.append((kind, base_s, wash_s, wash_mb, summary, api_ms, raw_ms))
    table = render(lines, args)
    print(table)
    if not args.no_record:
        from benchmarks.results import append

        given = sys.argv[1:] if argv is None else argv
        shown = [a for i, a in enumerate(given) if "--note" not in (a, given[i - 1] if i else "")]
        command = " ".join(["python -m benchmarks.washing", *shown])
        print(f"recorded in {append('washing', table, command=command, note=args.note)}")
    return 0


def render(lines: list[tuple], args: argparse.Namespace) -> str:
    out = [
        f"washing {args.rows:,} rows against {args.entries:,} block-list entries, end to end;",
        f"the API: {args.batches} batches of {API_BATCH:,} numbers",
        "",
        "db       | baseline s | wash s | ratio | peak MB | blocked | kept    | target"
        "                | met",
        "---------+------------+--------+-------+---------+---------+---------+-------"
        "----------------+----",
    ]
    for kind, base_s, wash_s, wash_mb, summary, _api, _raw in lines:
        ratio = wash_s / base_s
        met = "yes" if ratio <= TARGET_RATIO and wash_mb < TARGET_MB else "no"
        out.append(
            f"{kind:<8} | {base_s:>10.2f} | {wash_s:>6.2f} | {ratio:>4.1f}× | {wash_mb:>7.0f} | "
            f"{summary.get('blocked', 0):>7,} | {summary.get('written', 0):>7,} | "
            f"≤ {TARGET_RATIO:.0f}× and < {TARGET_MB} MB     | {met}"
        )
    out += [
        "",
        "db       | API p50 ms | API p95 ms | API p99 ms | raw p50 ms | raw p95 ms | p95/raw p95"
        " | target      | met",
        "---------+------------+------------+------------+------------+------------+------------"
        "-+-------------+----",
    ]
    for kind, *_rest, api_ms, raw_ms in lines:
        p95, raw95 = percentile(api_ms, 0.95), percentile(raw_ms, 0.95)
        out.append(
            f"{kind:<8} | {percentile(api_ms, 0.5):>10.1f} | {p95:>10.1f} | "
            f"{percentile(api_ms, 0.99):>10.1f} | {percentile(raw_ms, 0.5):>10.2f} | "
            f"{raw95:>10.2f} | {p95 / raw95:>10.1f}× | p95 < {TARGET_API_MS:.0f} ms | "
            f"{'yes' if p95 < TARGET_API_MS else 'no'}"
        )
    return "\n".join(out)


if __name__ == "__main__":
    raise SystemExit(main())
