"""`portal serve --workers N`: each process listens on a socket of its own, so connections
opened at once are spread over the processes rather than all taken by the first to wake."""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from portal.web.processes import listening

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [
    pytest.mark.skipif(not hasattr(socket, "SO_REUSEPORT"), reason="Linux, BSD"),
    pytest.mark.real_clock,  # child processes and timed waits
]


async def app(scope, receive, send) -> None:  # type: ignore[no-untyped-def]
    """Answers with the number of the process that served the request."""
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": str(os.getpid()).encode()})


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


_RUN = """
import sys
from portal.web import processes
processes.run("tests.web.test_processes:app", workers=2, host="127.0.0.1", port=int(sys.argv[1]),
              log_config=None, access_log=False)
"""


def test_connections_opened_at_once_are_served_by_every_process() -> None:
    port = _free_port()
    server = subprocess.Popen([sys.executable, "-c", _RUN, str(port)], cwd=ROOT)
    try:
        deadline = time.monotonic() + 30
        while listening(port) < 2:
            assert server.poll() is None, "the server stopped"
            assert time.monotonic() < deadline, "two processes did not listen within 30 s"
            time.sleep(0.1)
        connections = [http.client.HTTPConnection("127.0.0.1", port) for _ in range(20)]
        served = set()
        for connection in connections:
            connection.request("GET", "/")
            served.add(connection.getresponse().read())
        for connection in connections:
            connection.close()
        # Twenty connections hashed over two sockets all landing on one: one in 2^19.
        assert len(served) == 2
        # A second server on the same port is refused, not let in to share it.
        second = subprocess.run(
            [sys.executable, "-c", _RUN, str(port)], cwd=ROOT, capture_output=True, timeout=30
        )
        assert second.returncode != 0 and b"Address already in use" in second.stderr
    finally:
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=30) == 0
    assert listening(port) == 0
