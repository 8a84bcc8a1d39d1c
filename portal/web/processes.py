"""Several web processes on one port, each listening on a socket of its own.

uvicorn's ``workers=N`` shares one listening socket between its processes, and whichever
process wakes first accepts every connection waiting (asyncio accepts up to the backlog per
wake-up). A burst of keep-alive connections (a browser's, a proxy's pool, twenty people at
once) then lands on one process: one core busy, the GIL its limit, the other processes idle
(benchmarks/README.md, "First views"). Here each process binds the port itself with
SO_REUSEPORT, and the kernel spreads new connections over the processes' sockets.

Where SO_REUSEPORT does not exist, uvicorn's own processes are used.
"""

from __future__ import annotations

import logging
import multiprocessing
import signal
import socket
import sys
import threading
from pathlib import Path
from typing import Any

import uvicorn
from uvicorn.config import STARTUP_FAILURE

logger = logging.getLogger("portal.web")
_RESTARTS = 10  # a process that keeps dying is a fault to report, not to hide
_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def run(app: str, *, workers: int, host: str, port: int, **options: Any) -> None:
    """``uvicorn.run(app, workers=workers, host=host, port=port, **options)``, each process
    with its own listening socket. Returns when stopped (SIGINT, SIGTERM); exits if a process
    fails at start-up."""
    if not hasattr(socket, "SO_REUSEPORT"):
        uvicorn.run(app, workers=workers, host=host, port=port, **options)
        return
    # A port in use (another portal, anything) is refused as uvicorn refuses it, rather than
    # shared: bound once without SO_REUSEPORT. Then held, bound but never listening (only
    # listening sockets get connections), while the processes come and go.
    _socket(host, port, share=False).close()
    holder = _socket(host, port)
    context = multiprocessing.get_context("spawn")
    arguments = (app, host, port, options)
    processes = [context.Process(target=_serve, args=arguments) for _ in range(workers)]
    for process in processes:
        process.start()
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in _SIGNALS}
    restarts = 0
    try:
        while not stop.wait(0.5):
            for index, process in enumerate(processes):
                if process.is_alive():
                    continue
                if process.exitcode == STARTUP_FAILURE or restarts >= _RESTARTS:
                    logger.error("a web process stopped (exit code %s)", process.exitcode)
                    stop.set()
                    sys.exit(STARTUP_FAILURE)
                restarts += 1
                logger.warning("a web process died (exit code %s): started again", process.exitcode)
                processes[index] = context.Process(target=_serve, args=arguments)
                processes[index].start()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        for process in processes:
            if process.is_alive():
                process.terminate()  # SIGTERM: uvicorn finishes the requests under way
        for process in processes:
            process.join(30)
        holder.close()


def _serve(app: str, host: str, port: int, options: dict[str, Any]) -> None:
    """One process: its own socket on the shared port, and uvicorn serving on it."""
    sock = _socket(host, port)
    config = uvicorn.Config(app, host=host, port=port, **options)
    uvicorn.Server(config).run(sockets=[sock])


def _socket(host: str, port: int, *, share: bool = True) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if share:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


def listening(port: int) -> int:
    """How many sockets listen on the port, IPv4 (Linux: /proc/net/tcp; elsewhere the
    answer is sys.maxsize, as if all did)."""
    try:
        lines = Path("/proc/net/tcp").read_text().splitlines()[1:]
    except OSError:
        return sys.maxsize
    rows = [line.split() for line in lines]
    return sum(1 for row in rows if row[1].endswith(f":{port:04X}") and row[3] == "0A")
