"""The portal under a working day's load: people and staff at once, on PostgreSQL.

    python -m benchmarks.load [--quick] [--people 50] [--staff 5] [--seconds 120] [--think 2]

Starts the portal as production would run it on this machine (`portal serve --workers 2
--no-worker` plus two `portal worker` processes) against a fresh portal database on
PostgreSQL and a seeded demo company, then lets --people simulated people and --staff members
of staff use it for --seconds:

- a person signs in with the development BankID (the mock provider, over HTTP, as a browser
  does), opens /me, switches a reservation on their consent page, asks for an export (made in the
  background by the workers: EXPORT_BACKGROUND_ROWS=0) and follows it until it is ready, opens
  /me again and signs out; then again, with a pause of about --think seconds between pages;
- a member of staff (signed in once) opens the DPO's queue, looks a caller up by phone and opens
  the person found, and washes a small call list (upload, columns, wash, download).

Prints one table: per page (method and route) and per action end to end, the requests, req/s,
p50/p95/p99 and errors, and whether the issue's targets are met (no errors; p95 under 300 ms for
every page but the exports). Reports, never gates: exit 1 only when the script itself failed.
See docs/performance.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import resource
import secrets
import subprocess
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import httpx2

from benchmarks import me_page
from benchmarks.me_page import (
    ROOT,
    Person,
    _free_port,
    percentile,
    pick_people,
    seeded_demo,
    temporary_postgres_database,
)
from portal.demo import schema as demo
from portal.migrations import upgrade

P95_TARGET_MS = 300.0
LOAD_FLAG = Path("/tmp/LOAD_RUNNING")  # noqa: S108 - a flag other helpers look for
# Limits a crowd from one address would hit; raised in the servers' environment (printed).
RAISED_LIMITS = {
    "RATE_LIMIT_SIGN_IN_PER_IP": "1000000",  # a person signs in every half minute or so
    "RATE_LIMIT_FILINGS_PER_PERSON": "100000",  # each export files (or joins) an access request
    "RATE_LIMIT_LOOKUPS_PER_HOUR": "100000",  # a member of staff looks a caller up every cycle
}
CSRF = re.compile(r'name="csrf_token" value="([0-9a-f]+)"')
PENDING = re.compile(r'name="pending" value="([^"]+)"')
REASON = re.compile(r'data-reason="(\w+)"')
EXPORT_STATUS = re.compile(r'data-status="(\w+)"')
# Paths as routes, so that a table row is a page, not one person's copy of it.
ROUTE_PARTS = (
    (re.compile(r"^/me/exports/[^/?]+"), "/me/exports/{id}"),
    (re.compile(r"^/staff/lookup/\d+/people/\d+"), "/staff/lookup/{id}/people/{id}"),
    (re.compile(r"^/staff/wash/[0-9a-f]+/download"), "/staff/wash/{id}/download"),
    (re.compile(r"^/staff/wash/[0-9a-f]+"), "/staff/wash/{id}"),
)


@dataclass(frozen=True)
class Options:
    people: int
    staff: int
    seconds: float
    think: float
    demo_people: int
    quick: bool
    exports: bool = True


def parse_options(argv: Sequence[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.load", description=__doc__)
    parser.add_argument("--people", type=int, help="simulated people (default 50)")
    parser.add_argument("--staff", type=int, help="simulated members of staff (default 5)")
    parser.add_argument("--seconds", type=float, help="how long the load lasts (default 120)")
    parser.add_argument(
        "--think", type=float, default=2.0, help="mean pause between pages, s (default 2)"
    )
    parser.add_argument(
        "--demo-people", type=int, help="people in the seeded demo company (default 10000)"
    )
    parser.add_argument(
        "--no-exports",
        action="store_true",
        help="people ask for no exports (what do the workers' export builds cost the pages?)",
    )
    parser.add_argument("--quick", action="store_true", help="a small run: is the script OK?")
    args = parser.parse_args(argv)
    quick = {"people": 5, "staff": 1, "seconds": 20.0, "demo_people": 2000}
    full = {"people": 50, "staff": 5, "seconds": 120.0, "demo_people": 10_000}
    defaults = quick if args.quick else full

    def value(name: str) -> Any:
        given = getattr(args, name)
        return defaults[name] if given is None else given

    return Options(
        people=value("people"),
        staff=value("staff"),
        seconds=value("seconds"),
        think=max(0.0, args.think),
        demo_people=value("demo_people"),
        quick=args.quick,
        exports=not args.no_exports,
    )


# --- one machine, one measurement -------------------------------------------------------------


@contextmanager
def load_running(wait_for: str | None = None, patience: float = 600) -> Iterator[None]:
    """LOAD_FLAG for the duration, so the other work on this machine waits (the common
    rule of this repository's helpers); first, up to `patience` s for processes matching
    `wait_for` (pgrep -f) to end."""
    LOAD_FLAG.write_text(f"{os.getpid()}\n")
    try:
        if wait_for:
            deadline = time.monotonic() + patience
            while _running(wait_for) and time.monotonic() < deadline:
                print(f"waiting for other work to finish ({wait_for!r}) …", flush=True)
                time.sleep(10)
            if _running(wait_for):
                print(f"still running after {patience:.0f} s, going ahead: {wait_for!r}")
        yield
    finally:
        LOAD_FLAG.unlink(missing_ok=True)


def _running(pattern: str) -> bool:
    found = subprocess.run(["pgrep", "-f", pattern], capture_output=True, text=True)  # noqa: S603, S607
    return any(int(pid) != os.getpid() for pid in found.stdout.split())


def machine() -> str:
    with open("/proc/meminfo") as meminfo:
        kib = int(meminfo.readline().split()[1])
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    return f"{os.cpu_count()} CPUs, {kib / 2**20:.1f} GiB RAM, load average {load}"


# --- the portal: web server and workers as separate processes ---------------------------------


@dataclass
class Portal:
    url: str
    environment: dict[str, str]
    workdir: Path
    server: subprocess.Popen[bytes] | None = None
    idp: subprocess.Popen[bytes] | None = None
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def start_idp(self) -> None:
        """The mock BankID provider in its own process, as a real provider is: mounted in the
        portal, it keeps its codes in one web process's memory, and with --workers 2 the code
        exchange would reach the other process half of the time."""
        port = self.environment["OIDC_DISCOVERY_URL"].split(":")[2].split("/")[0]
        key = str(self.workdir / "mock_idp_key.pem")
        self.idp = self._spawn(["mock-idp", "--port", port, "--key-file", key], "idp.log")
        wait_until_up(self.environment["OIDC_DISCOVERY_URL"], self.idp)

    def start_server(self, web_workers: int = 2) -> None:
        port = self.url.rsplit(":", 1)[1]
        command = ["serve", "--workers", str(web_workers), "--no-worker", "--port", port]
        self.server = self._spawn(command, "server.log")
        wait_until_up(f"{self.url}/healthz", self.server)

    def start_worker(self, name: str, *extra: str) -> subprocess.Popen[bytes]:
        command = ["worker", "--id", name, "--poll", "0.2", *extra]
        worker = self._spawn(command, f"{name}.log")
        self.workers.append(worker)
        return worker

    def _spawn(self, arguments: list[str], log_name: str) -> subprocess.Popen[bytes]:
        log = open(self.workdir / log_name, "ab")  # noqa: SIM115 - the child writes to it
        command = [sys.executable, "-m", "portal.cli", *arguments]
        env = {**os.environ, **self.environment}
        return subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)  # noqa: S603

    def log(self, name: str) -> str:
        path = self.workdir / name
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        processes = [*self.workers, *(p for p in (self.server, self.idp) if p is not None)]
        for process in processes:
            if process.poll() is None:
                process.terminate()
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def wait_until_up(url: str, process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args} exited with status {process.returncode}")
        try:
            if httpx2.get(url, timeout=1, trust_env=False).status_code == 200:
                return
        except httpx2.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {timeout:.0f} s")


@contextmanager
def portal(demo_url: str, prefix: str, **extra_env: str) -> Iterator[Portal]:
    """A fresh portal database (migrated, dropped afterwards) and the environment of its
    processes; the caller starts the server and workers it wants. Stopped afterwards."""
    with ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix=f"{prefix}_")))
        database_url = stack.enter_context(temporary_postgres_database(prefix))
        upgrade(database_url)
        port, idp_port = _free_port(), _free_port()
        base = f"http://127.0.0.1:{port}"
        client = {"client_id": "innsyn-load", "client_secret": secrets.token_urlsafe(24)}
        redirects = [f"{base}/auth/callback", f"{base}/signed-out"]
        environment = {
            "DATABASE_URL": database_url,
            "SECRET_KEY": secrets.token_urlsafe(48),
            "PORTAL_VAR_DIR": str(workdir),
            "PORTAL_BASE_URL": base,
            "OIDC_DISCOVERY_URL": f"http://127.0.0.1:{idp_port}/.well-known/openid-configuration",
            "OIDC_CLIENT_ID": client["client_id"],
            "OIDC_CLIENT_SECRET": client["client_secret"],
            "MOCK_IDP_CLIENTS": json.dumps([{**client, "redirect_uris": redirects}]),
            demo.URL_ENV: demo_url,
            **extra_env,
        }
        running = Portal(base, environment, workdir)
        try:
            yield running
        finally:
            running.stop()


@contextmanager
def demo_company(people: int) -> Iterator[tuple[str, list[Person]]]:
    """A throw-away copy of the seeded demo company on PostgreSQL (the seed is kept and reused,
    as benchmarks/me_page.py does; the copy, which the run changes, is dropped), and its
    customers with an e-mail address, a phone and a web shop account."""
    options = replace(me_page.parse_options(["--db", "postgres", "--quick"]), people=people)
    engine, _ = seeded_demo("postgres", options)
    try:
        template, customers = engine.url.database, pick_people(engine, 400)
    finally:
        engine.dispose()
    name = f"innsyn_demo_copy_{uuid.uuid4().hex[:8]}"
    with me_page._admin() as admin:
        admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    try:
        yield me_page._postgres_url(name), customers
    finally:
        with me_page._admin() as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# --- the simulated users ------------------------------------------------------------------------


@dataclass
class Tally:
    """Latencies (s) and errors per page or action, and the responses by status."""

    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    statuses: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    deadline: float = 0.0

    def error(self, name: str, what: str) -> None:
        self.errors[name].append(what)


def route(method: str, url: str, portal: httpx2.URL) -> str:
    """`GET /me/exports/{id}`; the provider's pages as `IdP GET /authorize`."""
    parsed = httpx2.URL(url)
    path = parsed.path
    for pattern, name in ROUTE_PARTS:
        path = pattern.sub(name, path)
    elsewhere = parsed.is_absolute_url and parsed.port != portal.port
    return f"{'IdP ' if elsewhere else ''}{method} {path}"


class Unexpected(Exception):
    """A response other than the one the flow needs (already counted as an error)."""


class User:
    """One browser: its own cookies, one connection pool, every request timed and checked."""

    def __init__(
        self, url: str, tally: Tally, rng: random.Random, think: float, address: str | None = None
    ) -> None:
        # Each user from its own loopback address (127.0.0.2, …), as people come from their own:
        # limits per client address then count per person, in the portal and in the mock
        # provider (whose limit of 60 sign-ins per address in 10 minutes has no setting).
        transport = httpx2.AsyncHTTPTransport(local_address=address, trust_env=False)
        self.client = httpx2.AsyncClient(
            base_url=url, follow_redirects=False, trust_env=False, timeout=60, transport=transport
        )
        self.tally, self.rng, self.think_mean = tally, rng, think
        self.csrf = ""

    async def request(
        self, method: str, url: str, expect: int | tuple[int, ...] = 200, **kwargs: Any
    ) -> httpx2.Response:
        name = route(method, url, self.client.base_url)
        started = time.perf_counter()
        try:
            response = await self.client.request(method, url, **kwargs)
        except httpx2.HTTPError as exc:
            self.tally.error(name, type(exc).__name__)
            raise Unexpected(name) from exc
        elapsed = time.perf_counter() - started
        self.tally.statuses[response.status_code] += 1
        expected = (expect,) if isinstance(expect, int) else expect
        if response.status_code not in expected:
            reason = REASON.search(response.text)
            self.tally.error(
                name, f"status {response.status_code}" + (f" ({reason.group(1)})" if reason else "")
            )
            raise Unexpected(name)
        self.tally.latencies[name].append(elapsed)
        found = CSRF.search(response.text) if response.status_code == 200 else None
        if found:
            self.csrf = found.group(1)
        return response

    async def think(self) -> None:
        if self.think_mean:
            await asyncio.sleep(self.rng.uniform(0.5, 1.5) * self.think_mean)

    def time_left(self) -> bool:
        return time.perf_counter() < self.tally.deadline

    async def sign_in(self, **choice: str) -> None:
        started = time.perf_counter()
        login = await self.request("GET", "/auth/login", 302)
        page = await self.request("GET", login.headers["location"])
        pending = PENDING.search(page.text)
        if pending is None:
            self.tally.error("sign in", "no pending transaction on the provider's page")
            raise Unexpected("sign in")
        data = {"pending": pending.group(1), **choice}
        back = await self.request("POST", str(page.url.join("authorize")), 303, data=data)
        await self.request("GET", back.headers["location"], 303)
        self.tally.latencies["sign in (4 requests)"].append(time.perf_counter() - started)

    async def close(self) -> None:
        await self.client.aclose()


async def person(user: User, who: Person, exports: bool = True) -> None:
    """Sign in, /me, a consent switch, an export followed to the end, /me, sign out; again."""
    reserved = False
    while user.time_left():
        try:
            await user.sign_in(national_id=who.national_id)
            await user.request("GET", "/me")
            await user.think()
            await user.request("GET", "/me/consent")
            reserved = not reserved
            form = {"csrf_token": user.csrf, "kind": "reservation", "topic": "phone"}
            changed = await user.request(
                "POST", "/me/consent", 303, data={**form, "active": "1" if reserved else "0"}
            )
            await user.request("GET", changed.headers["location"])
            await user.think()
            if exports:
                await export(user)
                await user.think()
            await user.request("GET", "/me")
            await user.request("POST", "/auth/logout", 303, data={"csrf_token": user.csrf})
            await user.think()
        except Unexpected:
            user.client.cookies.clear()  # start again from a fresh sign-in
            await user.think()


async def export(user: User) -> None:
    """Ask for an export and follow its page (every 2 s, as its htmx fragment does) until it is
    ready: the end-to-end time includes the wait for a worker."""
    await user.request("GET", "/me/exports")
    started = time.perf_counter()
    data = {"csrf_token": user.csrf, "scope": "access"}
    asked = await user.request("POST", "/me/exports", 303, data=data)
    location = asked.headers["location"]
    while True:
        page = await user.request("GET", location, headers={"HX-Request": "true"})
        status = EXPORT_STATUS.search(page.text)
        state = status.group(1) if status else "?"
        if state == "ready":
            user.tally.latencies["export: asked → ready"].append(time.perf_counter() - started)
            return
        if state not in {"queued", "building"} or time.perf_counter() - started > 120:
            user.tally.error("export: asked → ready", f"export {state}")
            raise Unexpected("export")
        await asyncio.sleep(2.0)


def call_list(people: Sequence[Person], rng: random.Random, rows: int = 50) -> bytes:
    lines = ["name;phone"]
    for index in range(rows):
        who = people[rng.randrange(len(people))]
        phone = who.phone if index % 3 else f"+47 9{rng.randrange(10**7):07d}"
        lines.append(f"Kunde {index};{phone}")
    return ("\n".join(lines) + "\n").encode()


async def staff_member(user: User, people: Sequence[Person]) -> None:
    """The DPO's queue, a caller looked up by phone and their page, a call list washed."""
    signed_in = False
    while user.time_left():
        try:
            if not signed_in:
                await user.sign_in(staff="superbruker")
                signed_in = True
            await user.request("GET", "/dpo")
            await user.think()
            await look_up(user, people[user.rng.randrange(len(people))])
            await user.think()
            await wash(user, call_list(people, user.rng))
            await user.think()
        except Unexpected:
            user.client.cookies.clear()
            signed_in = False
            await user.think()


async def look_up(user: User, who: Person) -> None:
    await user.request("GET", "/staff/lookup")
    form = {"csrf_token": user.csrf, "kind": "phone", "value": who.phone, "reason": "own_data"}
    found = await user.request("POST", "/staff/lookup", (200, 303), data=form)
    if found.status_code == 303:
        await user.request("GET", found.headers["location"])


async def wash(user: User, content: bytes) -> None:
    started = time.perf_counter()
    await user.request("GET", "/staff/wash")
    files = {"file": ("list.csv", content, "text/csv")}
    uploaded = await user.request(
        "POST", "/staff/wash", 303, data={"csrf_token": user.csrf}, files=files
    )
    location = uploaded.headers["location"]
    await user.request("GET", location)
    form = {
        "csrf_token": user.csrf,
        "phone_column": "1",
        "channel": "phone",
        "mode": "mark",
        "encoding": "utf-8",
        "delimiter": "semicolon",
        "has_header": "yes",
    }
    await user.request("POST", location, 303, data=form)
    await user.request("GET", location)
    await user.request("GET", f"{location}/download")
    user.tally.latencies["wash: upload → download"].append(time.perf_counter() - started)


async def drive(url: str, people: Sequence[Person], options: Options) -> tuple[Tally, float]:
    """Everyone at once, each starting within the first pause; returns the tally and the
    wall-clock seconds until the last user finished what it was doing."""
    tally = Tally()
    users: list[User] = []
    tasks = []
    started = time.perf_counter()
    tally.deadline = started + options.seconds
    for index in range(options.people + options.staff):
        rng = random.Random(index)
        user = User(url, tally, rng, options.think, address=loopback(index))
        users.append(user)
        if index < options.people:
            tasks.append(
                _staggered(person(user, people[index], options.exports), rng, options.think)
            )
        else:
            tasks.append(_staggered(staff_member(user, people), rng, options.think))
    try:
        await asyncio.gather(*tasks)
    finally:
        for user in users:
            await user.close()
    return tally, time.perf_counter() - started


def loopback(index: int) -> str:
    """A loopback address of its own for user `index` (127.0.0.2 onwards; Linux routes 127/8)."""
    number = index + 2
    return f"127.0.{number // 250}.{number % 250 + 2}" if number >= 250 else f"127.0.0.{number}"


async def _staggered(work: Any, rng: random.Random, think: float) -> None:
    await asyncio.sleep(rng.uniform(0, max(think, 0.1)))
    await work


# --- the report ---------------------------------------------------------------------------------


HEADERS = ("page / action", "requests", "req/s", "p50 ms", "p95 ms", "p99 ms", "errors", "met")


def is_export(name: str) -> bool:
    return "export" in name


def rows_for(tally: Tally, elapsed: float) -> list[tuple[str, ...]]:
    names = sorted(set(tally.latencies) | set(tally.errors), key=lambda n: (n[0].islower(), n))
    rows = []
    for name in names:
        values, errors = tally.latencies.get(name, []), len(tally.errors.get(name, []))
        p95 = percentile(values, 0.95) * 1000 if values else float("nan")
        pages = not name[0].islower()  # an action end to end has no p95 target
        target = pages and not is_export(name)
        met = errors == 0 and (not target or p95 < P95_TARGET_MS)
        rows.append(
            (
                name,
                str(len(values)),
                f"{len(values) / elapsed:.1f}",
                _ms(values, 0.5),
                _ms(values, 0.95),
                _ms(values, 0.99),
                str(errors),
                ("yes" if met else "NO") + ("" if target else " (errors only)"),
            )
        )
    pages = [v for n, v in tally.latencies.items() if not n[0].islower() for v in v]
    errors = sum(len(e) for n, e in tally.errors.items())
    rows.append(
        (
            "all requests",
            str(len(pages)),
            f"{len(pages) / elapsed:.1f}",
            _ms(pages, 0.5),
            _ms(pages, 0.95),
            _ms(pages, 0.99),
            str(errors),
            "–",
        )
    )
    return rows


def _ms(values: Sequence[float], share: float) -> str:
    return f"{percentile(values, share) * 1000:.0f}" if values else "–"


def table(rows: Sequence[Sequence[str]], headers: Sequence[str] = HEADERS) -> str:
    everything = [tuple(headers), *(tuple(row) for row in rows)]
    widths = [max(len(row[i]) for row in everything) for i in range(len(headers))]
    lines = [
        "| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |"
        for row in everything
    ]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def job_summary(database_url: str) -> str:
    import psycopg

    plain = database_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(plain) as connection:
        rows = connection.execute(
            "SELECT kind, status, count(*), max(attempts) FROM job GROUP BY kind, status "
            "ORDER BY kind, status"
        ).fetchall()
    return "; ".join(
        f"{kind} {status}: {count} (max attempts {most})" for kind, status, count, most in rows
    )


def main(argv: Sequence[str] | None = None) -> int:
    options = parse_options(argv)
    print(
        f"load: {options.people} people and {options.staff} staff for {options.seconds:.0f} s, "
        f"pauses of {options.think:g} s on average"
        + ("" if options.exports else ", no exports")
        + f"; {machine()}"
    )
    extra = {**RAISED_LIMITS, "EXPORT_BACKGROUND_ROWS": "0"}
    print(
        "servers' environment: "
        + ", ".join(f"{k}={v}" for k, v in extra.items())
        + " (rate limits raised so that the crowd's pace is measured, not refused, although each"
        " user comes from its own loopback address; every export is made by a worker)"
    )
    flag = load_running(wait_for="pytest") if not options.quick else _nothing()
    with (
        demo_company(options.demo_people) as (demo_url, people),
        portal(demo_url, "innsyn_load", **extra) as running,
        flag,
    ):
        running.start_idp()
        running.start_server(web_workers=2)
        running.start_worker("load-worker-1")
        running.start_worker("load-worker-2")
        print(
            f"portal served at {running.url}: portal serve --workers 2 --no-worker, two "
            "portal worker processes, PostgreSQL; the mock BankID provider in its own process "
            "(portal mock-idp)"
        )
        cpu = resource.getrusage(resource.RUSAGE_SELF)
        tally, elapsed = asyncio.run(drive(running.url, people, options))
        after = resource.getrusage(resource.RUSAGE_SELF)
        client_cpu = after.ru_utime + after.ru_stime - cpu.ru_utime - cpu.ru_stime
        jobs = job_summary(running.environment["DATABASE_URL"])
        server_log = running.log("server.log")
    print()
    print(table(rows_for(tally, elapsed)))
    requests = sum(tally.statuses.values())
    print(
        f"\n{requests} responses in {elapsed:.1f} s by status: "
        + ", ".join(f"{status}: {count}" for status, count in sorted(tally.statuses.items()))
        + f"; the load generator took {client_cpu:.1f} s of CPU"
        + f" ({client_cpu / max(requests, 1) * 1000:.2f} ms per request); {machine()}"
    )
    print(f"jobs: {jobs}")
    tracebacks = server_log.count("Traceback")
    print(f"server log: {tracebacks} tracebacks")
    for name, errors in tally.errors.items():
        print(f"errors in {name}: {len(errors)}, first: {errors[0]}")
    print(
        f"\ntargets: 0 errors; p95 < {P95_TARGET_MS:.0f} ms for every page but the exports. "
        "Rows in lower case are actions end to end (several requests, pauses excluded)."
    )
    return 0 if requests else 1


@contextmanager
def _nothing() -> Iterator[None]:
    yield


if __name__ == "__main__":
    sys.exit(main())
