"""`portal serve` as a real process: in development its URL follows the port it serves."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx2 as httpx
import pytest
from sqlalchemy.engine import Engine

from tests.conftest import TEST_SECRET

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.real_clock
def test_sign_in_goes_through_the_mock_provider_on_the_port_served(
    database_url: str, demo_engine: Engine, tmp_path: Path
) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "PORTAL_BASE_URL"}
    env |= {
        "DATABASE_URL": database_url,
        "DEMO_DATABASE_URL": demo_engine.url.render_as_string(hide_password=False),
        "SECRET_KEY": TEST_SECRET,
        "PORTAL_VAR_DIR": str(tmp_path),
    }
    log = tmp_path / "serve.log"
    command = [sys.executable, "-m", "portal.cli", "serve", "--port", str(port), "--no-worker"]
    with log.open("w") as out:
        server = subprocess.Popen(
            [*command, "--upgrade"], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
        )
    base = f"http://127.0.0.1:{port}"
    try:
        response = _first_answer(f"{base}/auth/login", server, log)
        # The portal found its provider's discovery document on its own port, and sends the
        # person there with a redirect URI back to that port.
        assert response.status_code in (302, 303), log.read_text()
        target = urlsplit(response.headers["location"])
        assert f"{target.scheme}://{target.netloc}{target.path}" == f"{base}/mock-idp/authorize"
        assert parse_qs(target.query)["redirect_uri"] == [f"{base}/auth/callback"]
    finally:
        server.terminate()
        server.wait(timeout=30)


def _first_answer(url: str, server: subprocess.Popen[bytes], log: Path) -> httpx.Response:
    deadline = time.monotonic() + 60
    while True:
        assert server.poll() is None, log.read_text()
        try:
            return httpx.get(url, follow_redirects=False)
        except httpx.ConnectError:
            if time.monotonic() > deadline:
                raise AssertionError(f"portal serve did not answer:\n{log.read_text()}") from None
            time.sleep(0.1)
