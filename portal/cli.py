"""The `portal` command."""

from __future__ import annotations

import argparse
import gc
import os
import sys
from collections.abc import Sequence

from portal.settings import Settings, SettingsError, served_base_url


def serve(args: argparse.Namespace) -> int:
    import uvicorn

    from portal.app import create_app
    from portal.datamap import DataMapError, check_against_sources
    from portal.web.request_log import configure_logging

    # Development: the portal's URL (and so the OIDC redirect) follows the port actually served,
    # also in the processes of --workers N, which read the same environment.
    served = served_base_url(os.environ, args.host, args.port)
    if served:
        os.environ["PORTAL_BASE_URL"] = served
    settings = Settings.for_command()
    configure_logging()
    from portal.migrations import is_current, upgrade

    if args.upgrade:
        upgrade(settings.database_url)
    elif not is_current(settings.database_url):
        print("portal: the database is not up to date: run `portal db upgrade`", file=sys.stderr)
        return 2
    try:
        app = create_app(settings)
        # Against the live databases: a missing table is found now, not on a person's page.
        problems = check_against_sources(app.state.datamap, app.state.sources)
    except DataMapError as exc:
        problems = exc.problems
    except SettingsError as exc:
        print(f"portal: configuration error: {exc}", file=sys.stderr)
        return 2
    if problems:
        print("portal: the data map cannot be used:", file=sys.stderr)
        for problem in problems:
            print(f"  {problem}", file=sys.stderr)
        return 2
    tune_gc()
    # Development runs the worker in-process, so the one run command does everything.
    worker = None
    if not settings.production and not args.no_worker:
        from portal.jobs.worker import start_in_thread

        worker = start_in_thread(app.state.engine)
    # MAIL_DEV_SERVER: an SMTP server whose mail /dev/mailbox shows (development only).
    mail_server = None
    if not settings.production and settings.mail.dev_server_port:
        from portal.mail import devserver

        mail_server = devserver.start(settings.mail.dev_server_port, settings.mail.mailbox_dir)
    # Our own request log replaces uvicorn's, which would print query strings and addresses.
    options: dict = {"host": args.host, "port": args.port, "access_log": False, "log_config": None}
    try:
        if args.workers > 1:
            # Each process builds its own app (and engines) from the same environment, and
            # listens on a socket of its own (portal/web/processes.py); this one keeps `app`
            # only for the in-process job worker.
            from portal.web import processes

            processes.run(
                "portal.cli:worker_app",
                factory=True,
                workers=args.workers,
                http="portal.web.http_protocol:NoDelayH11Protocol",
                **options,
            )
        else:
            uvicorn.run(app, **options)
    finally:
        if worker is not None:
            worker.stop(timeout=10)
        if mail_server is not None:
            mail_server.stop()
    return 0


def worker_app() -> object:
    """The app of one of several `portal serve --workers N` processes."""
    from portal.app import create_app
    from portal.web.request_log import configure_logging

    configure_logging()
    app = create_app(Settings.for_command())
    tune_gc()
    return app


def tune_gc() -> None:
    """Pages build many small objects per request; the default collector thresholds made full
    collections the p95 tail (benchmarks/README.md). Freeze what start-up allocated."""
    gc.freeze()
    gc.set_threshold(50_000, 50, 100)


def db_upgrade(args: argparse.Namespace) -> int:
    from portal.migrations import upgrade

    upgrade(Settings.for_command().database_url, args.revision)
    return 0


def worker(args: argparse.Namespace) -> int:
    from datetime import timedelta

    from portal.jobs.worker import main as run_worker
    from portal.web.request_log import configure_logging

    settings = Settings.for_command()
    if settings.production:
        from portal.datamap import load_datamap
        from portal.workflows.erasure_run import require_pseudonym_key

        try:
            require_pseudonym_key(load_datamap(settings.datamap_file))
        except SettingsError as exc:
            print(f"portal: configuration error: {exc}", file=sys.stderr)
            return 2
    database_url = settings.database_url
    configure_logging()
    return run_worker(
        database_url,
        once=args.once,
        burst=args.burst,
        worker_id=args.id,
        handler_modules=args.handlers,
        lease=timedelta(seconds=args.lease),
        poll_interval=args.poll,
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="portal", description="Innsyn, the data-subject portal.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("serve", help="run the web portal")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--upgrade", action="store_true", help="apply migrations first")
    p.add_argument(
        "--workers",
        type=int,
        default=int(os.environ.get("WEB_CONCURRENCY", "1")),
        help="web server processes (default: WEB_CONCURRENCY, else 1)",
    )
    p.add_argument(
        "--no-worker", action="store_true", help="development: do not run a worker in-process"
    )
    p.set_defaults(func=serve)

    db = sub.add_parser("db", help="the portal's own database").add_subparsers(
        dest="db_command", required=True
    )
    p = db.add_parser("upgrade", help="apply migrations")
    p.add_argument("revision", nargs="?", default="head")
    p.set_defaults(func=db_upgrade)

    p = sub.add_parser("worker", help="run due jobs (erasure, sweeps, reminders)")
    p.add_argument("--once", action="store_true", help="run at most one job, then exit")
    p.add_argument("--burst", action="store_true", help="exit when no job is due")
    p.add_argument("--id", help="this worker's name in the job table (default host:pid:random)")
    p.add_argument(
        "--handlers",
        action="append",
        default=[],
        metavar="MODULE",
        help="also import MODULE to register handlers (tests); may be repeated",
    )
    p.add_argument("--lease", type=float, default=300, help="seconds a claim lasts if we die")
    p.add_argument("--poll", type=float, default=1.0, help="seconds between looks when idle")
    p.set_defaults(func=worker)

    from portal.audit.cli import register as register_audit
    from portal.datamap.cli import register as register_datamap
    from portal.demo.cli import register as register_demo
    from portal.identity.cli import register as register_identifier
    from portal.marketing.cli import register as register_block_list
    from portal.mock_idp.cli import register as register_mock_idp

    register_mock_idp(sub)
    register_datamap(sub)
    register_demo(sub)
    register_identifier(sub)
    register_block_list(sub)
    register_audit(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    raise SystemExit(main())
