"""The `portal` command."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from portal.settings import Settings, SettingsError


def _settings() -> Settings:
    try:
        return Settings.from_env()
    except SettingsError as exc:
        print(f"portal: configuration error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def serve(args: argparse.Namespace) -> int:
    import uvicorn

    from portal.app import create_app
    from portal.request_log import configure_logging

    settings = _settings()
    configure_logging()
    if args.upgrade:
        from portal.migrations import upgrade

        upgrade(settings.database_url)
    app = create_app(settings)
    # Our own request log replaces uvicorn's, which would print query strings and addresses.
    uvicorn.run(app, host=args.host, port=args.port, access_log=False, log_config=None)
    return 0


def db_upgrade(args: argparse.Namespace) -> int:
    from portal.migrations import upgrade

    upgrade(_settings().database_url, args.revision)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="portal", description="Innsyn, the data-subject portal.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("serve", help="run the web portal")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--upgrade", action="store_true", help="apply migrations first")
    p.set_defaults(func=serve)

    db = sub.add_parser("db", help="the portal's own database").add_subparsers(
        dest="db_command", required=True
    )
    p = db.add_parser("upgrade", help="apply migrations")
    p.add_argument("revision", nargs="?", default="head")
    p.set_defaults(func=db_upgrade)

    from portal.datamap.cli import register as register_datamap
    from portal.demo.cli import register as register_demo
    from portal.mock_idp.cli import register as register_mock_idp

    register_mock_idp(sub)
    register_datamap(sub)
    register_demo(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    raise SystemExit(main())
