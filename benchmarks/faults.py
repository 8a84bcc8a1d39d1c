"""Faults: PostgreSQL restarted under load, and workers killed with SIGKILL mid-job.

    python -m benchmarks.faults --scenario restart     # (b) the database goes away and back
    python -m benchmarks.faults --scenario kill        # (c) a worker killed in three kinds of job
    python -m benchmarks.faults                        # both, one after the other

restart: the portal as in benchmarks/load.py (`portal serve --workers 2 --no-worker`, two
`portal worker` processes, PostgreSQL), people signed in and clicking (/me, the consent page, a
consent switch), and counted jobs (`faults.record`, benchmarks/fault_hooks.py) being worked
through; then PostgreSQL is stopped for --outage seconds and started again. Prints the answers
before, during and after (503 expected during, never a 500 or a traceback), how soon the portal
answered 200 again by itself, the longest request, and whether every job ran exactly once.
PostgreSQL is stopped for everyone on this machine: the script first creates /tmp/LOAD_RUNNING,
waits until no `pytest ... --db=postgres` runs, and always starts the cluster again.

kill: an erasure, an export and the e-mail they send, each run by a worker that is killed with
SIGKILL after the job's work is done (the company's rows erased, the files written, the message
handed to SMTP) and before its transaction commits: the worst moment. A new worker takes each
job over after its lease. Prints, per job, what was killed and whether the work was done exactly
once: rows gone and each source recorded once, one export with one set of files, and the
messages an SMTP server run by the script received (by Message-ID).

Reports, never gates; exit 1 only when the script itself failed. See docs/performance.md.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2
from sqlalchemy import func, select, text
from sqlmodel import Session

from benchmarks.load import (
    LOAD_FLAG,
    Tally,
    User,
    demo_company,
    load_running,
    loopback,
    machine,
    portal,
    table,
)
from benchmarks.me_page import Person, percentile
from portal.db import make_engine, session_scope, utcnow
from portal.jobs.queue import Job, JobStatus, enqueue

CLUSTER = os.environ.get("INNSYN_FAULTS_CLUSTER", "15 main").split()
PG_CTL = ["pg_ctlcluster", "--skip-systemctl-redirect", *CLUSTER]
WAIT_FOR = r"pytest.*--db=postgres"
FAULT_HANDLERS = "benchmarks.fault_hooks"
KILL_KINDS = ("erasure.execute", "exports.build", "mail.deliver")


# --- PostgreSQL, stopped and started -----------------------------------------------------------


def cluster_online() -> bool:
    listed = subprocess.run(["pg_lsclusters", "-h"], capture_output=True, text=True)  # noqa: S607
    return any(
        line.split()[:2] == CLUSTER and "online" in line for line in listed.stdout.splitlines()
    )


def pg(action: str) -> None:
    extra = ["-m", "fast"] if action == "stop" else []
    subprocess.run([*PG_CTL, action, *extra], check=True, capture_output=True)  # noqa: S603


@contextmanager
def cluster_started_at_the_end() -> Iterator[None]:
    """Whatever happens, the cluster is online when this ends."""
    try:
        yield
    finally:
        if not cluster_online():
            print("starting PostgreSQL again …")
            pg("start")


# --- (b) the restart ------------------------------------------------------------------------------


@dataclass
class Answer:
    started: float
    finished: float
    route: str
    status: int  # 0: no answer (a transport error)
    traceback: bool = False


@dataclass
class Traffic:
    answers: list[Answer] = field(default_factory=list)
    stop: bool = False


async def click(user: User, traffic: Traffic, think: float) -> None:
    """/me, the consent page and a consent switch, round and round; every answer recorded,
    whatever its status (the portal must answer; the session survives the outage)."""
    reserved = False
    while not traffic.stop:
        for method, path in (("GET", "/me"), ("GET", "/me/consent"), ("POST", "/me/consent")):
            data = None
            if method == "POST":
                reserved = not reserved
                data = {
                    "csrf_token": user.csrf,
                    "kind": "reservation",
                    "topic": "phone",
                    "active": "1" if reserved else "0",
                }
            started = time.perf_counter()
            try:
                response = await user.client.request(method, path, data=data)
                status, body = response.status_code, response.text
            except httpx2.HTTPError:
                status, body = 0, ""
            traffic.answers.append(
                Answer(
                    started, time.perf_counter(), f"{method} {path}", status, "Traceback" in body
                )
            )
            found = user_csrf(body)
            if found:
                user.csrf = found
            await asyncio.sleep(think)


def user_csrf(body: str) -> str | None:
    from benchmarks.load import CSRF

    found = CSRF.search(body)
    return found.group(1) if found else None


@dataclass(frozen=True)
class Outage:
    stopped: float  # perf_counter when the stop began
    started: float  # when PostgreSQL accepted connections again
    first_200: float | None  # the first /me answered 200 that was asked after `started`


async def restart_under_traffic(
    url: str, people: Sequence[Person], clients: int, before: float, outage: float, after: float
) -> tuple[Traffic, Outage]:
    tally = Tally(deadline=time.perf_counter() + 600)
    users = [User(url, tally, _rng(i), 0, address=loopback(i)) for i in range(clients)]
    for user, who in zip(users, people, strict=False):
        await user.sign_in(national_id=who.national_id)
        await user.request("GET", "/me")
    traffic = Traffic()
    tasks = [asyncio.create_task(click(user, traffic, 0.2)) for user in users]
    await asyncio.sleep(before)
    stopped = time.perf_counter()
    print(f"stopping PostgreSQL for {outage:g} s …", flush=True)
    await asyncio.to_thread(pg, "stop")
    await asyncio.sleep(outage)
    await asyncio.to_thread(pg, "start")
    started = time.perf_counter()
    print("PostgreSQL started again", flush=True)
    await asyncio.sleep(after)
    traffic.stop = True
    await asyncio.gather(*tasks)
    for user in users:
        await user.close()
    first = [
        a.finished
        for a in traffic.answers
        if a.started >= started and a.route == "GET /me" and a.status == 200
    ]
    return traffic, Outage(stopped, started, min(first) if first else None)


def _rng(seed: int) -> Any:
    import random

    return random.Random(seed)


def phase_rows(traffic: Traffic, outage: Outage) -> list[tuple[str, ...]]:
    phases: dict[str, list[Answer]] = {"before": [], "during": [], "after": []}
    # By when the answer came: a request asked just before the stop and answered during the
    # outage met the outage.
    for answer in traffic.answers:
        if answer.finished < outage.stopped:
            phases["before"].append(answer)
        elif answer.finished < outage.started:
            phases["during"].append(answer)
        else:
            phases["after"].append(answer)
    rows = []
    for name, answers in phases.items():
        statuses = Counter(a.status for a in answers)
        fine = sum(count for status, count in statuses.items() if status in (200, 303))
        other = sum(
            count for status, count in statuses.items() if status not in (0, 200, 303, 500, 503)
        )
        latencies = [a.finished - a.started for a in answers]
        rows.append(
            (
                name,
                str(len(answers)),
                str(fine),
                str(statuses[503]),
                str(statuses[500]),
                str(other),
                str(statuses[0]),
                str(sum(a.traceback for a in answers)),
                f"{percentile(latencies, 0.95) * 1000:.0f}" if latencies else "–",
                f"{max(latencies) * 1000:.0f}" if latencies else "–",
            )
        )
    return rows


PHASE_HEADERS = (
    "phase",
    "requests",
    "200/303",
    "503",
    "500",
    "other",
    "no answer",
    "tracebacks",
    "p95 ms",
    "max ms",
)


def enqueue_counted(database_url: str, count: int, sleep: float) -> list[int]:
    from benchmarks.fault_hooks import metadata

    engine = make_engine(database_url)
    try:
        metadata.create_all(engine)
        with session_scope(engine) as db:
            now = utcnow()
            ids = [enqueue(db, "faults.record", {"sleep": sleep}, now=now) for _ in range(count)]
        return [job_id for job_id in ids if job_id is not None]
    finally:
        engine.dispose()


def wait_for_jobs(database_url: str, kinds: Sequence[str], timeout: float) -> dict[str, int]:
    """Until no job of these kinds is queued or running (or the time is up): statuses counted."""
    engine = make_engine(database_url)
    deadline = time.monotonic() + timeout
    try:
        while True:
            with Session(engine) as db:
                rows = db.execute(
                    select(Job.status, func.count()).where(Job.kind.in_(kinds)).group_by(Job.status)
                ).all()
            counts = {str(status): count for status, count in rows}
            busy = counts.get(JobStatus.queued, 0) + counts.get(JobStatus.running, 0)
            if not busy or time.monotonic() > deadline:
                return counts
            time.sleep(1)
    finally:
        engine.dispose()


def counted_rows(database_url: str, ids: Sequence[int]) -> list[tuple[str, ...]]:
    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            effects = Counter(
                job_id for (job_id,) in connection.execute(text("SELECT job_id FROM faults_effect"))
            )
            jobs = connection.execute(
                select(Job.status, Job.attempts).where(Job.kind == "faults.record")
            ).all()
    finally:
        engine.dispose()
    done = sum(1 for status, _ in jobs if status == JobStatus.done)
    retried = sum(1 for _, attempts in jobs if attempts > 1)
    twice = sum(1 for job_id in ids if effects[job_id] > 1)
    never = sum(1 for job_id in ids if effects[job_id] == 0)
    met = done == len(ids) and not twice and not never
    return [
        (
            str(len(ids)),
            str(done),
            str(retried),
            str(sum(effects.values())),
            str(twice),
            str(never),
            "yes" if met else "NO",
        )
    ]


JOB_HEADERS = (
    "jobs enqueued",
    "done",
    "retried (attempts > 1)",
    "effect rows",
    "ran twice",
    "never ran",
    "exactly once",
)


def scenario_restart(options: argparse.Namespace) -> bool:
    print(f"\n== restart: PostgreSQL stopped for {options.outage:g} s under traffic; {machine()}")
    # The cluster is started again (if need be) before the databases are dropped.
    with (
        load_running(wait_for=WAIT_FOR),
        demo_company(2000) as (demo_url, people),
        portal(demo_url, "innsyn_faults") as running,
        cluster_started_at_the_end(),
    ):
        running.start_idp()
        running.start_server(web_workers=2)
        for name in ("faults-worker-1", "faults-worker-2"):
            running.start_worker(name, "--handlers", FAULT_HANDLERS, "--lease", "30")
        database_url = running.environment["DATABASE_URL"]
        ids = enqueue_counted(database_url, options.jobs, sleep=0.1)
        print(f"{len(ids)} counted jobs enqueued; {options.clients} people clicking")
        traffic, outage = asyncio.run(
            restart_under_traffic(
                running.url, people, options.clients, options.before, options.outage, 15
            )
        )
        counts = wait_for_jobs(database_url, ["faults.record"], timeout=180)
        jobs = counted_rows(database_url, ids)
        logs = {name: running.log(name) for name in ("server.log", "faults-worker-1.log")}
        logs["faults-worker-2.log"] = running.log("faults-worker-2.log")
        alive = [p.poll() is None for p in [running.server, *running.workers] if p]
    print()
    print(table(phase_rows(traffic, outage), PHASE_HEADERS))
    print()
    print(table(jobs, JOB_HEADERS))
    recovered = (
        f"{outage.first_200 - outage.started:.1f} s after PostgreSQL was up"
        if outage.first_200
        else "never"
    )
    server = logs["server.log"]
    workers = logs["faults-worker-1.log"] + logs["faults-worker-2.log"]
    print(
        f"\noutage {outage.started - outage.stopped:.1f} s (stop + {options.outage:g} s + start); "
        f"the first /me answered 200 again {recovered}; job statuses at the end: {counts}; "
        f"server and workers still running: {all(alive)}"
    )
    print(
        f"server log: {server.count('database unavailable')} 'database unavailable' lines, "
        f"{server.count('Traceback')} tracebacks, {server.count('unhandled error')} 500s; "
        f"worker logs: {workers.count('cannot reach the database')} 'cannot reach' and "
        f"{workers.count('reached the database again')} 'reached again' lines, "
        f"{workers.count('(recorded late)')} failures recorded once the database was back, "
        f"{workers.count('Traceback')} tracebacks"
    )
    rows = phase_rows(traffic, outage)
    # No 500, no traceback, no request without an answer, in any phase; the jobs exactly once.
    clean = all(row[4] == "0" and row[6] == "0" and row[7] == "0" for row in rows)
    return clean and jobs[0][-1] == "yes" and outage.first_200 is not None


# --- (c) SIGKILL mid-job ------------------------------------------------------------------------


class Mailbox:
    """An SMTP server on a free loopback port that keeps the Message-ID of every message."""

    def __init__(self) -> None:
        from aiosmtpd.controller import Controller

        from benchmarks.me_page import _free_port

        self.received: list[str] = []
        self.port = _free_port()
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        from email import message_from_bytes

        message = message_from_bytes(envelope.content)
        self.received.append(str(message.get("Message-ID", "")))
        return "250 2.0.0 Ok: kept"

    def __enter__(self) -> Mailbox:
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()


@dataclass
class Work:
    erasure_subject: int
    erasure_request: int
    erasure_plan: int
    erasure_national_id: str
    sources: tuple[str, ...]
    export_subject: int
    export_id: str


def make_work(environment: dict[str, str], demo_url: str) -> Work:
    """An approved erasure of the ordinary customer and an export (left to the worker) of the
    frequent buyer, as the portal's own code makes them; each sends an e-mail when done."""
    os.environ.update(environment)
    from portal.datamap import load_datamap
    from portal.demo import DATAMAP_PATH, EDGE_CASES_BY_KEY
    from portal.exports import service
    from portal.models import (
        Assurance,
        IdentifierKind,
        StaffMember,
        Subject,
        SubjectIdentifier,
    )
    from portal.settings import Settings
    from portal.workflows.erasure import ErasurePlan
    from portal.workflows.erasure_run import _by_source
    from portal.workflows.erasure_service import approve_plan, plan_request
    from portal.workflows.requests import Actor, RequestType, file_request

    settings = Settings.from_env(environment)
    datamap = load_datamap(DATAMAP_PATH)
    demo_engine = make_engine(demo_url)
    sources = dict.fromkeys(datamap.sources, demo_engine)
    engine = make_engine(environment["DATABASE_URL"])
    now = utcnow()
    ordinary = EDGE_CASES_BY_KEY["ordinary"]
    buyer = EDGE_CASES_BY_KEY["frequent_buyer"]
    try:
        with session_scope(engine) as db:
            person = Subject(national_id=ordinary.national_id, country="NO")
            other = Subject(national_id=buyer.national_id, country="NO")
            staff = StaffMember(issuer="faults", sub="dpo", name="DPO")
            db.add_all([person, other, staff])
            db.flush()
            # Proven addresses, so the messages go out over SMTP (not only to Messages).
            for subject, address in ((person, "kari@example.test"), (other, "buyer@example.test")):
                db.add(
                    SubjectIdentifier(
                        subject_id=subject.id or 0,
                        kind=IdentifierKind.email,
                        value=address,
                        assurance=Assurance.high,
                    )
                )
            request = file_request(
                db,
                subject_id=person.id,
                type=RequestType.erasure,
                assurance=Assurance.high,
                actor=Actor.person,
                now=now,
            )
            stored = plan_request(db, request.id or 0, datamap=datamap, sources=sources, now=now)
            approve_plan(db, stored.id or 0, staff_id=staff.id, now=now)
            steps = ErasurePlan.from_dict(stored.plan).steps
            planned_sources = tuple(sorted(_by_source(datamap, steps, stored.id)))
            ids = (person.id or 0, request.id or 0, stored.id or 0, other.id or 0)
        rt = service.runtime_for(settings, datamap, sources)
        export = service.ask_for_export(engine, subject_id=ids[3], rt=rt, now=now, language="nb")
        return Work(
            ids[0], ids[1], ids[2], ordinary.national_id, planned_sources, ids[3], export.id
        )
    finally:
        engine.dispose()
        demo_engine.dispose()


def kill_rounds(running: Any, pause_dir: Path, rounds: int, timeout: float) -> list[str]:
    """Start a worker, wait until it pauses inside a job, SIGKILL it; again for every kind.
    Returns what each kill hit: 'kind job=ID attempt=N'."""
    killed: list[str] = []
    seen: set[Path] = set()
    for number in range(1, rounds + 1):
        worker = running.start_worker(
            f"kill-worker-{number}", "--handlers", FAULT_HANDLERS, "--lease", "5"
        )
        deadline = time.monotonic() + timeout
        mark = None
        while mark is None and time.monotonic() < deadline:
            fresh = [p for p in pause_dir.glob("*.paused") if p not in seen]
            mark = fresh[0] if fresh else None
            time.sleep(0.1)
        if mark is None:
            worker.terminate()
            worker.wait(timeout=30)
            break
        seen.add(mark)
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=30)
        _pid, job_id, attempt = mark.read_text().split()
        killed.append(f"{mark.name.removesuffix('.paused')} job={job_id} attempt={attempt}")
        print(f"SIGKILL worker {number} inside {killed[-1]}", flush=True)
    return killed


def kill_checks(
    environment: dict[str, str], demo_url: str, work: Work, received: Sequence[str]
) -> list[tuple[str, ...]]:
    from portal.datamap import collect, load_datamap
    from portal.demo import DATAMAP_PATH
    from portal.exports.models import Export
    from portal.jobs.outbox import OutboxMessage
    from portal.workflows.records import PlanSourceDone, StoredPlan

    datamap = load_datamap(DATAMAP_PATH)
    demo_engine = make_engine(demo_url)
    engine = make_engine(environment["DATABASE_URL"])
    rows: list[tuple[str, ...]] = []
    try:
        left = collect(
            datamap, dict.fromkeys(datamap.sources, demo_engine), work.erasure_national_id
        )
        with Session(engine) as db:
            jobs = db.execute(select(Job.kind, Job.status, Job.attempts)).all()
            done = db.execute(
                select(PlanSourceDone.source).where(PlanSourceDone.plan_id == work.erasure_plan)
            ).all()
            plan = db.get(StoredPlan, work.erasure_plan)
            exports = (
                db.execute(select(Export).where(Export.subject_id == work.export_subject))
                .scalars()
                .all()
            )
            messages = db.execute(select(OutboxMessage)).scalars().all()
        by_kind: dict[str, list[tuple[str, int]]] = defaultdict(list)
        for kind, status, attempts in jobs:
            by_kind[kind].append((str(status), attempts))
        per_source = Counter(source for (source,) in done)
        erased = left.empty and all(per_source[s] == 1 for s in work.sources)
        rows.append(
            (
                "erasure.execute",
                _jobs(by_kind["erasure.execute"]),
                f"plan {plan.status if plan else '?'}; person found afterwards: "
                f"{'no' if left.empty else 'YES'}; sources recorded done: "
                + ", ".join(f"{s} ×{per_source[s]}" for s in work.sources),
                "yes" if erased else "NO",
            )
        )
        store = Path(environment["PORTAL_VAR_DIR"]) / "exports"
        files = sorted(p.name for e in exports for p in (store / e.id).glob("*"))
        one = len(exports) == 1 and exports[0].status == "ready"
        recorded = sorted(exports[0].files) if exports else []
        rows.append(
            (
                "exports.build",
                _jobs(by_kind["exports.build"]),
                f"{len(exports)} export row(s), status "
                f"{', '.join(str(e.status) for e in exports)}; files on disk {len(files)}, "
                f"recorded {len(recorded)}",
                "yes" if one and len(files) == len(recorded) else "NO",
            )
        )
        sent = Counter(received)
        ids = [m.message_id for m in messages]
        twice = [i for i in ids if sent[i] > 1]
        lost = [m for m in messages if m.delivery == "email" and sent[m.message_id] == 0]
        unsent = [m for m in messages if m.sent_at is None]
        rows.append(
            (
                "mail.deliver",
                _jobs(by_kind["mail.deliver"]),
                f"{len(messages)} message(s) in the outbox, {len(unsent)} unsent; SMTP received "
                f"{len(received)} ({len(sent)} Message-IDs): {len(twice)} twice with the same "
                f"Message-ID, recorded as resends: {sum(m.resends for m in messages)}",
                "at least once, at most twice, deduplicable"
                if twice and not lost and not unsent
                else ("yes" if not lost and not unsent else "NO"),
            )
        )
    finally:
        engine.dispose()
        demo_engine.dispose()
    return rows


def _jobs(rows: Sequence[tuple[str, int]]) -> str:
    counted = Counter(status for status, _ in rows)
    most = max((attempts for _, attempts in rows), default=0)
    return ", ".join(f"{n} {s}" for s, n in sorted(counted.items())) + f" (max attempts {most})"


KILL_HEADERS = ("job kind", "jobs", "what was done", "exactly once")


def scenario_kill(options: argparse.Namespace) -> bool:
    print(f"\n== kill: a worker SIGKILLed inside {', '.join(KILL_KINDS)}; {machine()}")
    pause_dir = Path(tempfile.mkdtemp(prefix="innsyn_faults_pause_"))
    with Mailbox() as mailbox, demo_company(2000) as (demo_url, _people):
        extra = {
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": str(mailbox.port),
            "SMTP_SECURITY": "none",
            "MAIL_FROM": "innsyn@example.test",
            "EXPORT_BACKGROUND_ROWS": "0",
            "FAULTS_PAUSE_DIR": str(pause_dir),
            "FAULTS_PAUSE_KINDS": ",".join(KILL_KINDS),
        }
        with portal(demo_url, "innsyn_faults", **extra) as running:
            work = make_work(running.environment, demo_url)
            print(
                f"erasure plan {work.erasure_plan} over {len(work.sources)} sources approved; "
                f"export {work.export_id[:8]} asked for; SMTP server on port {mailbox.port}"
            )
            killed = kill_rounds(running, pause_dir, len(KILL_KINDS), timeout=90)
            final = running.start_worker("kill-worker-final", "--handlers", FAULT_HANDLERS)
            counts = wait_for_jobs(running.environment["DATABASE_URL"], [*KILL_KINDS], timeout=180)
            final.send_signal(signal.SIGTERM)
            final.wait(timeout=60)
            time.sleep(0.5)  # the last message's DATA handled
            rows = kill_checks(running.environment, demo_url, work, mailbox.received)
    print()
    print(f"killed: {'; '.join(killed) or 'nothing (no job paused)'}; job statuses: {counts}")
    print(table(rows, KILL_HEADERS))
    return len(killed) == len(KILL_KINDS)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.faults", description=__doc__)
    parser.add_argument("--scenario", choices=("restart", "kill", "both"), default="both")
    parser.add_argument("--clients", type=int, default=10, help="people clicking (restart)")
    parser.add_argument("--jobs", type=int, default=400, help="counted jobs, 0.1 s each (restart)")
    parser.add_argument("--before", type=float, default=8.0, help="s of traffic before the stop")
    parser.add_argument("--outage", type=float, default=5.0, help="s PostgreSQL stays down")
    options = parser.parse_args(argv)
    print(f"faults: {options.scenario}; flag {LOAD_FLAG} while it runs")
    ok = True
    if options.scenario in ("restart", "both"):
        ok &= scenario_restart(options)
    if options.scenario in ("kill", "both"):
        ok &= scenario_kill(options)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
