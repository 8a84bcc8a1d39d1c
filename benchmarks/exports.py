"""Exports under load: memory and time of a large JSON/CSV export, and of a PDF report.

    python -m benchmarks.exports [--people 20000] [--db sqlite,postgres] [--rows 50000]
                                 [--pdf-rows 2000] [--quick]

For each database: seed the demo company, give the ordinary customer (Kari Nordmann) about
--rows more rows by bulk insert (benchmarks.erasure.add_rows: orders, lines, receipts, calls,
e-mails), and give another customer (Hilde Strand) about --pdf-rows more, made to differ from
one another as a real customer's do (addresses, products, dates, amounts). Then, each in a fresh
process so that its peak resident memory (VmHWM) is its own:

* baseline: ``collect()`` Kari's rows, everything in memory at once (what the "my data" page
  did before it read a page at a time);
* the export: ``build_files`` for Kari, which streams the rows into export.json and the CSVs and
  zips them; once without the PDF (the streamed part, the target) and once whole, with the
  report (without rows: more than report.ROW_LIMIT), which loads WeasyPrint;
* the PDF report for Hilde: collect her rows and render the report with every row;
  the baseline is her JSON/CSV/ZIP export without the PDF, in the same process.

Prints one table with the ratios; reports, never gates (targets: the streamed JSON and CSV
under 150 MB peak RSS, the PDF under 10 s).
"""

from __future__ import annotations

import argparse
import multiprocessing
import resource
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

RSS_TARGET_MB = 150.0
PDF_TARGET_S = 10.0
MADE_AT = datetime(2026, 11, 24, 12, tzinfo=UTC)


def _peak_mb() -> float:
    """This process's peak resident memory. VmHWM, not ru_maxrss: Linux carries ru_maxrss
    over an exec, so a fresh process would report the (larger) parent's peak."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB, not on Linux


def _setup(url: str) -> tuple[Any, Any, float]:
    """The data map and its sources in this (fresh) process, and the memory that costs."""
    from portal.datamap import load_datamap
    from portal.db import make_engine
    from portal.demo import DATAMAP_PATH
    from portal.exports import build, report  # noqa: F401 - imported before measuring

    engine = make_engine(url)
    datamap = load_datamap(DATAMAP_PATH)
    return datamap, dict.fromkeys(datamap.sources, engine), _peak_mb()


def _collect(url: str, key: str, directory: str) -> dict[str, float]:
    from portal.datamap import collect
    from portal.demo import EDGE_CASES_BY_KEY

    datamap, sources, idle = _setup(url)
    started = time.perf_counter()
    found = collect(datamap, sources, EDGE_CASES_BY_KEY[key].national_id)
    seconds = time.perf_counter() - started
    rows = sum(len(rows) for rows in found.tables.values())
    return {"rows": rows, "seconds": seconds, "peak_mb": _peak_mb(), "idle_mb": idle}


def _export(url: str, key: str, directory: str, pdf: bool = True) -> dict[str, float]:
    from portal.demo import EDGE_CASES_BY_KEY
    from portal.exports import build
    from portal.exports.models import ExportScope
    from portal.exports.store import ExportStore

    datamap, sources, idle = _setup(url)
    case = EDGE_CASES_BY_KEY[key]
    if not pdf:  # the baseline for the PDF: the same export without its report
        build._write_report = lambda *args, **kwargs: args[-1].write_bytes(b"")  # type: ignore[attr-defined]
    started = time.perf_counter()
    built = build.build_files(
        datamap,
        sources,
        ExportStore(Path(directory)),
        export_id=f"bench-{key}-{int(pdf)}",
        person=build.Person(case.name, case.national_id),
        scope=ExportScope.access,
        language="nb",
        made_at=MADE_AT,
        schema_url="http://127.0.0.1:8000/schemas/export-v1.json",
    )
    seconds = time.perf_counter() - started
    return {
        "rows": built.rows,
        "seconds": seconds,
        "peak_mb": _peak_mb(),
        "idle_mb": idle,
        "json_mb": built.files["json"] / 1024 / 1024,
        "zip_mb": built.files["zip"] / 1024 / 1024,
    }


def _report(url: str, key: str, directory: str) -> dict[str, float]:
    from pypdf import PdfReader

    from portal.datamap import collect
    from portal.demo import EDGE_CASES_BY_KEY
    from portal.exports import report
    from portal.exports.models import ExportScope

    datamap, sources, idle = _setup(url)
    case = EDGE_CASES_BY_KEY[key]
    started = time.perf_counter()
    found = collect(datamap, sources, case.national_id)
    counts = {name: len(rows) for name, rows in found.tables.items() if rows}
    content = report.report_content(
        datamap,
        collection=found,
        counts=counts,
        identifiers=found.identifiers,
        withheld=sum(found.withheld.values()),
        person_name=case.name,
        scope=ExportScope.access,
        language="nb",
        made_at=MADE_AT,
    )
    pdf = report.render_report(content, datamap, "nb")
    seconds = time.perf_counter() - started
    target = Path(directory) / f"report-{key}.pdf"
    target.write_bytes(pdf)
    return {
        "rows": sum(counts.values()),
        "seconds": seconds,
        "peak_mb": _peak_mb(),
        "idle_mb": idle,
        "pages": len(PdfReader(target).pages),
    }


def vary(engine: Any, since: dict[str, int]) -> None:
    """Make the rows added after ``since`` (table -> highest id before) read differently, as a
    real customer's orders, lines, invoices, calls and e-mails do: add_rows makes them alike,
    and the report shows alike rows once."""
    from datetime import date, timedelta
    from decimal import Decimal

    from sqlalchemy import bindparam, select, update

    from portal.demo import schema as demo

    changes = {
        demo.shop_orders: lambda i: {
            "delivery_street": f"Storgata {i % 97 + 1}",
            "delivery_city": f"Ås {i % 13}",
            "total": Decimal(100 + i % 900),
        },
        demo.shop_order_lines: lambda i: {
            "product_name": f"Vare {i % 211}",
            "unit_price": Decimal(10 + i % 500),
        },
        demo.billing_invoices: lambda i: {
            "issued_on": date(2023, 1, 1) + timedelta(days=i % 700),
            "amount": Decimal(100 + i % 900),
        },
        demo.contact_calls: lambda i: {"summary": f"Spørsmål om sak {i}"},
        demo.contact_emails: lambda i: {"subject": f"Sak {i}"},
    }
    with engine.begin() as connection:
        for table, values in changes.items():
            ids = connection.execute(select(table.c.id).where(table.c.id > since[table.name]))
            rows = [{"row_id": i, **values(i)} for (i,) in ids]
            if rows:
                statement = update(table).where(table.c.id == bindparam("row_id"))
                connection.execute(statement, rows)


def highest_ids(engine: Any) -> dict[str, int]:
    from sqlalchemy import func, select

    from portal.demo import schema as demo

    tables = (
        demo.shop_orders,
        demo.shop_order_lines,
        demo.billing_invoices,
        demo.contact_calls,
        demo.contact_emails,
    )
    with engine.connect() as connection:
        return {t.name: connection.execute(select(func.max(t.c.id))).scalar() or 0 for t in tables}


def _child(queue: Any, work: str, args: tuple[Any, ...]) -> None:
    try:
        queue.put(globals()[work](*args))
    except BaseException as exc:  # report it to the parent rather than hang it
        queue.put({"error": f"{type(exc).__name__}: {exc}"})


def in_fresh_process(work: str, *args: Any) -> dict[str, float]:
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=_child, args=(queue, work, args))
    process.start()
    result = queue.get()
    process.join()
    if "error" in result:
        raise RuntimeError(f"{work} failed: {result['error']}")
    return result


Result = tuple[str, str, str, str, str]


def run(kind: str, people: int, rows: int, pdf_rows: int, directory: Path) -> list[Result]:
    # Imported here, not at the top: the measuring processes import this module, and must not
    # carry the seeder (Faker) in their memory.
    from benchmarks.erasure import add_rows, company
    from portal.demo import EDGE_CASES_BY_KEY

    results: list[Result] = []
    with company(kind, people, directory) as engine:
        added = add_rows(engine, EDGE_CASES_BY_KEY["ordinary"].national_id, rows)
        before = highest_ids(engine)
        added_pdf = add_rows(engine, EDGE_CASES_BY_KEY["open_complaint"].national_id, pdf_rows)
        vary(engine, before)
        url = engine.url.render_as_string(hide_password=False)
        files = str(directory / f"files_{kind}")

        base = in_fresh_process("_collect", url, "ordinary", files)
        streamed = in_fresh_process("_export", url, "ordinary", files, False)
        export = in_fresh_process("_export", url, "ordinary", files)
        rss_met = "yes" if streamed["peak_mb"] < RSS_TARGET_MB else "NO"
        results += [
            (f"{kind}: rows exported (+{added} added)", f"{export['rows']:.0f}", "", "", ""),
            (f"{kind}: process after imports, RSS", f"{export['idle_mb']:.0f} MB", "", "", ""),
            (f"{kind}: baseline collect(), peak RSS", f"{base['peak_mb']:.0f} MB", "1.00", "", ""),
            (
                f"{kind}: JSON+CSV+ZIP streamed, peak RSS",
                f"{streamed['peak_mb']:.0f} MB",
                f"{streamed['peak_mb'] / base['peak_mb']:.2f}",
                f"< {RSS_TARGET_MB:.0f} MB",
                rss_met,
            ),
            (
                f"{kind}: whole export (+ summary PDF), peak RSS",
                f"{export['peak_mb']:.0f} MB",
                f"{export['peak_mb'] / base['peak_mb']:.2f}",
                "",
                "",
            ),
            (f"{kind}: baseline collect(), time", f"{base['seconds']:.2f} s", "1.00", "", ""),
            (
                f"{kind}: JSON+CSV+ZIP streamed, time",
                f"{streamed['seconds']:.2f} s",
                f"{streamed['seconds'] / base['seconds']:.2f}",
                "",
                "",
            ),
            (
                f"{kind}: whole export, time",
                f"{export['seconds']:.2f} s",
                f"{export['seconds'] / base['seconds']:.2f}",
                "",
                "",
            ),
            (
                f"{kind}: export.json / export.zip",
                f"{export['json_mb']:.1f}/{export['zip_mb']:.1f} MB",
                "",
                "",
                "",
            ),
        ]
        _progress(results[3])
        plain = in_fresh_process("_export", url, "open_complaint", files, False)
        pdf = in_fresh_process("_report", url, "open_complaint", files)
        pdf_met = "yes" if pdf["seconds"] < PDF_TARGET_S else "NO"
        results += [
            (f"{kind}: PDF person rows (+{added_pdf} added)", f"{pdf['rows']:.0f}", "", "", ""),
            (f"{kind}: baseline JSON+CSV+ZIP, time", f"{plain['seconds']:.2f} s", "1.00", "", ""),
            (
                f"{kind}: PDF report ({pdf['pages']:.0f} pages), time",
                f"{pdf['seconds']:.2f} s",
                f"{pdf['seconds'] / plain['seconds']:.2f}",
                f"< {PDF_TARGET_S:.0f} s",
                pdf_met,
            ),
            (f"{kind}: PDF report, peak RSS", f"{pdf['peak_mb']:.0f} MB", "", "", ""),
        ]
        _progress(results[-2])
    return results


def _progress(result: Result) -> None:
    print(f"  {result[0]}: {result[1]}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=None)
    parser.add_argument("--rows", type=int, default=None)
    parser.add_argument("--pdf-rows", type=int, default=2_000)
    parser.add_argument("--db", default="sqlite,postgres")
    parser.add_argument("--quick", action="store_true", help="2,000 people, 5,000 rows")
    args = parser.parse_args(argv)
    people = args.people or (2_000 if args.quick else 20_000)
    rows = args.rows or (5_000 if args.quick else 50_000)
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="innsyn-bench-exports-") as directory:
        for kind in args.db.split(","):
            results += run(kind.strip(), people, rows, args.pdf_rows, Path(directory))
    width = max(len(row[0]) for row in results)
    print(f"{'measure':<{width}}  {'value':>12}  {'ratio':>5}  {'target':>9}  met")
    for measure, value, ratio, target, met in results:
        print(f"{measure:<{width}}  {value:>12}  {ratio:>5}  {target:>9}  {met}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
