"""Erasure and retention sweeps under load.

    python -m benchmarks.erasure [--people 100000] [--db sqlite,postgres] [--rows 10000] [--quick]

For each database: seed the demo company with N people, give the ordinary customer (Kari
Nordmann) about --rows more rows across four sources by bulk insert (old orders with lines and
receipts, which are kept pseudonymised under bookkeeping; calls and e-mails, which are
deleted), then time planning and executing her erasure; then time a retention sweep over the
whole company (the dry-run report, then applying it). Prints one table; reports, never gates.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import psycopg
from sqlalchemy import create_engine, func, insert, select
from sqlalchemy.engine import Engine
from sqlmodel import Session

from benchmarks.results import append, quiet
from portal.datamap import DataMap, collect, load_datamap
from portal.db import make_engine
from portal.demo import DATAMAP_PATH, EDGE_CASES_BY_KEY
from portal.demo import schema as demo
from portal.demo.seed import seed
from portal.migrations import upgrade
from portal.models import Assurance, StaffMember, Subject
from portal.workflows.erasure_run import execute_plan, sweep
from portal.workflows.erasure_service import approve_plan, plan_request
from portal.workflows.requests import Actor, RequestType, file_request

TODAY = date(2026, 11, 24)
NOW = datetime(2026, 11, 24, 12, tzinfo=UTC)
POSTGRES_ADMIN_URL = os.environ.get(
    "INNSYN_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test"
)
ERASURE_TARGET_S = 5.0
SWEEP_TARGET_PER_S = 10_000  # rows due, applied per second (the run, with its own scan)
KEY_ENV_DEFAULT = "benchmark-pseudonym-key-0123456789"


@contextmanager
def company(kind: str, people: int, directory: Path) -> Iterator[Engine]:
    if kind == "sqlite":
        engine = create_engine(f"sqlite:///{directory / f'demo_{people}.db'}")
        seed(engine, people, today=TODAY)
        yield engine
        engine.dispose()
        return
    name = f"innsyn_bench_erasure_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    base = POSTGRES_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://")
    engine = create_engine(f"{base}/{name}")
    try:
        seed(engine, people, today=TODAY)
        yield engine
    finally:
        engine.dispose()
        with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def add_rows(engine: Engine, national_id: str, rows: int) -> int:
    """About ``rows`` more rows for the person, a fifth in each of five tables."""
    per = rows // 5
    with engine.begin() as connection:
        customer = connection.execute(
            select(demo.crm_customers).where(demo.crm_customers.c.national_id == national_id)
        ).one()
        account = connection.execute(
            select(demo.shop_accounts.c.id).where(
                demo.shop_accounts.c.customer_number == customer.customer_number
            )
        ).scalar_one()

        def next_id(table: object) -> int:
            return (connection.execute(select(func.max(table.c.id))).scalar() or 0) + 1  # type: ignore[attr-defined]

        order0, line0, invoice0 = (
            next_id(demo.shop_orders),
            next_id(demo.shop_order_lines),
            next_id(demo.billing_invoices),
        )
        call0, mail0 = next_id(demo.contact_calls), next_id(demo.contact_emails)
        ordered = datetime(2023, 6, 1, 10)
        connection.execute(
            insert(demo.shop_orders),
            [
                {
                    "id": order0 + i,
                    "order_number": f"B{order0 + i:09d}",
                    "account_id": account,
                    "email": customer.email,
                    "ordered_at": ordered,
                    "delivered_on": date(2023, 6, 5),
                    "status": "delivered",
                    "delivery_name": f"{customer.given_name} {customer.family_name}",
                    "delivery_street": "Storgata 1",
                    "delivery_postal_code": "0150",
                    "delivery_city": "Oslo",
                    "delivery_note": "Ring på",
                    "total": Decimal("199.00"),
                    "currency": "NOK",
                }
                for i in range(per)
            ],
        )
        connection.execute(
            insert(demo.shop_order_lines),
            [
                {
                    "id": line0 + i,
                    "order_id": order0 + i,
                    "sku": "SKU1",
                    "product_name": "Kopp",
                    "quantity": 1,
                    "unit_price": Decimal("199.00"),
                    "durable": False,
                }
                for i in range(per)
            ],
        )
        connection.execute(
            insert(demo.billing_invoices),
            [
                {
                    "id": invoice0 + i,
                    "invoice_number": f"BF{invoice0 + i:09d}",
                    "customer_number": customer.customer_number,
                    "order_number": f"B{order0 + i:09d}",
                    "kind": "receipt",
                    "issued_on": date(2023, 6, 1),
                    "due_on": date(2023, 6, 1),
                    "amount": Decimal("199.00"),
                    "currency": "NOK",
                    "status": "paid",
                    "billing_name": f"{customer.given_name} {customer.family_name}",
                    "billing_address": "Storgata 1, 0150 Oslo",
                }
                for i in range(per)
            ],
        )
        connection.execute(
            insert(demo.contact_calls),
            [
                {
                    "id": call0 + i,
                    "customer_id": customer.id,
                    "caller_phone": customer.phone,
                    "started_at": datetime(2026, 1, 2, 9),
                    "duration_seconds": 60,
                    "agent": "Agent",
                    "summary": "Spørsmål om levering",
                }
                for i in range(per)
            ],
        )
        connection.execute(
            insert(demo.contact_emails),
            [
                {
                    "id": mail0 + i,
                    "customer_id": customer.id,
                    "from_address": customer.email,
                    "direction": "in",
                    "received_at": datetime(2026, 1, 2, 9),
                    "subject": "Levering",
                    "body": "Hei",
                }
                for i in range(per)
            ],
        )
    return per * 5


def time_erasure(datamap: DataMap, demo_engine: Engine, portal: Engine) -> dict[str, float]:
    sources = dict.fromkeys(datamap.sources, demo_engine)
    national_id = EDGE_CASES_BY_KEY["ordinary"].national_id
    with Session(portal, expire_on_commit=False) as db:
        subject = Subject(national_id=national_id, country="NO")
        staff = StaffMember(issuer="bench", sub=uuid.uuid4().hex, name="DPO")
        db.add_all([subject, staff])
        db.flush()
        request = file_request(
            db,
            subject_id=subject.id,
            type=RequestType.erasure,
            assurance=Assurance.high,
            actor=Actor.person,
            now=NOW,
        )
        started = time.perf_counter()
        stored = plan_request(db, request.id or 0, datamap=datamap, sources=sources, now=NOW)
        planned = time.perf_counter()
        approve_plan(db, stored.id or 0, staff_id=staff.id, now=NOW)
        execute_plan(db, stored, datamap=datamap, sources=sources, now=NOW)
        done = time.perf_counter()
        db.commit()
        rows = len(stored.plan["steps"])
    left = collect(datamap, sources, national_id)
    assert left.empty, "the person is still found after erasure"
    return {
        "steps": rows,
        "plan_s": planned - started,
        "execute_s": done - planned,
        "total_s": done - started,
    }


def time_sweep(
    datamap: DataMap, demo_engine: Engine, portal: Engine, compare: bool = False
) -> dict[str, float]:
    sources = dict.fromkeys(datamap.sources, demo_engine)
    with Session(portal) as db:
        found: dict[str, float] = {}
        if compare:  # the dry run as before issue #21: every row read and judged in Python
            started = time.perf_counter()
            wide = sweep(db, datamap=datamap, sources=sources, today=TODAY, now=NOW, narrow=False)
            found["wide_dry_s"] = time.perf_counter() - started
            found["wide_scanned"] = sum(wide.scanned.values())
        started = time.perf_counter()
        report = sweep(db, datamap=datamap, sources=sources, today=TODAY, now=NOW)
        dry = time.perf_counter() - started
        started = time.perf_counter()
        sweep(db, datamap=datamap, sources=sources, today=TODAY, dry_run=False, now=NOW)
        applied = time.perf_counter() - started
        db.commit()
    scanned = sum(report.scanned.values())
    due = sum(item.count for item in report.due)
    return found | {
        "scanned": scanned,
        "due": due,
        "dry_s": dry,
        "rows_per_s": scanned / dry if dry else 0.0,
        "apply_s": applied,
        "due_per_s": due / applied if applied else 0.0,
    }


def run(
    kind: str,
    people: int,
    rows: int,
    directory: Path,
    compare: bool = False,
    sweep_only: bool = False,
    lock: str | None = None,
) -> list[tuple[str, str, str, str]]:
    datamap = load_datamap(DATAMAP_PATH)
    url = f"sqlite:///{directory / f'portal_{kind}.db'}"
    upgrade(url)
    portal = make_engine(url)
    results: list[tuple[str, str, str, str]] = []
    started = time.perf_counter()
    with company(kind, people, directory) as engine:
        seeded = time.perf_counter() - started
        results.append((f"{kind}: seeding {people} people", f"{seeded:.0f} s", "", ""))
        _progress(results[-1])
        if not sweep_only:
            with quiet(lock):
                results += _erasure_rows(kind, datamap, engine, portal, rows)
            _progress(results[-1])
        with quiet(lock):
            swept = time_sweep(datamap, engine, portal, compare)
        if compare:
            ratio = swept["wide_dry_s"] / swept["dry_s"] if swept["dry_s"] else 0.0
            results += [
                (
                    f"{kind}: sweep, dry run as before #21 ({swept['wide_scanned']:.0f} rows read)",
                    f"{swept['wide_dry_s']:.2f} s",
                    "",
                    "",
                ),
                (f"{kind}: sweep, dry run, before / now", f"{ratio:.1f}x", "", ""),
            ]
        results += [
            (f"{kind}: sweep {people} people, rows read", f"{swept['scanned']:.0f}", "", ""),
            (f"{kind}: sweep, dry run", f"{swept['dry_s']:.2f} s", "", ""),
            (f"{kind}: sweep, dry run, rows read/s", f"{swept['rows_per_s']:.0f}", "", ""),
            (
                f"{kind}: sweep, apply ({swept['due']:.0f} rows due)",
                f"{swept['apply_s']:.2f} s",
                "",
                "",
            ),
            (
                f"{kind}: sweep, apply, due rows/s",
                f"{swept['due_per_s']:.0f}",
                f">= {SWEEP_TARGET_PER_S}" if kind == "postgres" else "",
                ("yes" if swept["due_per_s"] >= SWEEP_TARGET_PER_S else "NO")
                if kind == "postgres"
                else "",
            ),
        ]
    _progress(results[-1])
    portal.dispose()
    return results


def _erasure_rows(
    kind: str, datamap: DataMap, engine: Engine, portal: Engine, rows: int
) -> list[tuple[str, str, str, str]]:
    added = add_rows(engine, EDGE_CASES_BY_KEY["ordinary"].national_id, rows)
    erasure = time_erasure(datamap, engine, portal)
    met = "yes" if erasure["total_s"] < ERASURE_TARGET_S else "NO"
    return [
        (f"{kind}: erasure, rows in plan (+{added} added)", f"{erasure['steps']:.0f}", "", ""),
        (f"{kind}: erasure, plan (collect + decide)", f"{erasure['plan_s']:.2f} s", "", ""),
        (f"{kind}: erasure, execute", f"{erasure['execute_s']:.2f} s", "", ""),
        (f"{kind}: erasure, total", f"{erasure['total_s']:.2f} s", "< 5 s", met),
    ]


def _progress(result: tuple[str, str, str, str]) -> None:
    print(f"  {result[0]}: {result[1]}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=None)
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--db", default="sqlite,postgres")
    parser.add_argument("--quick", action="store_true", help="2,000 people")
    parser.add_argument("--no-record", action="store_true", help="not in benchmarks/results")
    parser.add_argument(
        "--compare", action="store_true", help="also time the dry run as before #21 (wide)"
    )
    parser.add_argument("--sweep-only", action="store_true", help="no erasure, the sweep alone")
    parser.add_argument("--note", default="", help="said with the recorded table")
    parser.add_argument("--lock", help="a file to flock around the timed parts (not the seeding)")
    args = parser.parse_args(argv)
    people = args.people or (2_000 if args.quick else 100_000)
    os.environ.setdefault(load_datamap(DATAMAP_PATH).settings.pseudonym_key_env, KEY_ENV_DEFAULT)
    results: list[tuple[str, str, str, str]] = []
    with tempfile.TemporaryDirectory(prefix="innsyn-bench-erasure-") as directory:
        for kind in args.db.split(","):
            results += run(
                kind.strip(),
                people,
                args.rows,
                Path(directory),
                args.compare,
                args.sweep_only,
                args.lock,
            )
    width = max(len(row[0]) for row in results)
    lines = [f"{'measure':<{width}}  {'value':>10}  {'target':>7}  met"]
    lines += [f"{m:<{width}}  {v:>10}  {t:>7}  {ok}" for m, v, t, ok in results]
    table = "\n".join(lines)
    print(table)
    if not args.no_record:
        append("erasure", table, note=args.note)
    return 0


if __name__ == "__main__":
    sys.exit(main())
