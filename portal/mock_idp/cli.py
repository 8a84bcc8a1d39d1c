"""`portal mock-idp`: run the mock BankID provider standalone on its own port."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from portal.mock_idp.config import MockIdpConfig, MockIdpRefused, parse_clients
from portal.mock_idp.provider import create_mock_idp

CLIENTS_HELP = (
    'MOCK_IDP_CLIENTS holds the registered clients as JSON, e.g. [{"client_id": "innsyn-portal", '
    '"client_secret": "dev-secret", "redirect_uris": ["http://127.0.0.1:8000/auth/callback"]}]'
)


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add the `mock-idp` subcommand to an argparse subparsers object."""
    parser = subparsers.add_parser(
        "mock-idp",
        help="run the mock BankID OpenID provider (development only)",
        description="Run the mock BankID OpenID provider standalone. " + CLIENTS_HELP + ".",
    )
    parser.add_argument("--host", default="127.0.0.1", help="interface (default: %(default)s)")
    parser.add_argument("--port", type=int, default=8081, help="port (default: %(default)s)")
    parser.add_argument("--issuer", help="issuer URL (default: http://HOST:PORT)")
    parser.add_argument(
        "--key-file",
        type=Path,
        default=Path("var/mock_idp_key.pem"),
        help="RSA signing key, generated when missing (default: %(default)s)",
    )
    # Environment defaults are read when the command runs, not when the parser is built.
    parser.add_argument(
        "--national-id-claim",
        help="claim holding the national ID (default: $OIDC_NATIONAL_ID_CLAIM or nnin)",
    )
    parser.add_argument(
        "--roles-claim", help="claim holding staff roles (default: $OIDC_ROLES_CLAIM or roles)"
    )
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    try:
        config = config_from(args, os.environ)
        app = create_mock_idp(config)
    except (MockIdpRefused, ValueError) as exc:
        print(f"portal mock-idp: {exc}", file=sys.stderr)
        return 2
    import uvicorn  # only the standalone command needs it

    uvicorn.run(app, host=args.host, port=args.port)
    return 0


def config_from(args: argparse.Namespace, env: Any) -> MockIdpConfig:
    """The provider's configuration from the command line and the environment."""
    if env.get("PORTAL_ENV") == "production":
        raise MockIdpRefused(
            "refusing to start: PORTAL_ENV=production, and the mock BankID "
            "provider never runs in production"
        )
    if not env.get("MOCK_IDP_CLIENTS"):
        raise ValueError(f"MOCK_IDP_CLIENTS is not set. {CLIENTS_HELP}")
    host = f"[{args.host}]" if ":" in args.host else args.host
    return MockIdpConfig(
        issuer=args.issuer or f"http://{host}:{args.port}",
        key_file=args.key_file,
        clients=parse_clients(env["MOCK_IDP_CLIENTS"]),
        national_id_claim=(args.national_id_claim or env.get("OIDC_NATIONAL_ID_CLAIM") or "nnin"),
        roles_claim=args.roles_claim or env.get("OIDC_ROLES_CLAIM") or "roles",
        production=env.get("PORTAL_ENV") == "production",
    )


def main(argv: list[str] | None = None) -> int:
    """`python -m portal.mock_idp`: the same command without the rest of the portal CLI."""
    parser = argparse.ArgumentParser(prog="portal")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["mock-idp", *(argv if argv is not None else sys.argv[1:])])
    return args.func(args)
