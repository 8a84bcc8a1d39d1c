"""Keep each benchmark's numbers: every run appends its table to ``benchmarks/results/<name>.md``
with the date, the commit and the machine, so a regression shows against earlier runs (the
files are committed; benchmarks/README.md links them).

    from benchmarks.results import append
    append("washing", table_text, command="python -m benchmarks.washing", note="...")
"""

from __future__ import annotations

import fcntl
import os
import platform
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def append(
    name: str,
    table: str,
    *,
    command: str | None = None,
    note: str = "",
    directory: Path = RESULTS_DIR,
    now: datetime | None = None,
) -> Path:
    """Append one run's ``table`` to ``<directory>/<name>.md``; returns the file's path."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.md"
    when = (now or datetime.now(UTC)).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        f"## {when}, {commit()}",
        "",
        f"`{command or ' '.join(['python', '-m', f'benchmarks.{name}', *sys.argv[1:]])}`",
        "",
        f"Machine: {machine()}",
        "",
    ]
    if note:
        lines += [note.strip(), ""]
    lines += ["```", table.rstrip(), "```", ""]
    header = "" if path.exists() else f"# Results of benchmarks/{name}.py (newest last)\n\n"
    with path.open("a", encoding="utf-8") as out:
        out.write(header + "\n".join(lines) + "\n")
    return path


def commit() -> str:
    """The commit measured, marked ``+changes`` when the tree differs from it."""
    root = Path(__file__).resolve().parent.parent
    try:
        head = _git(root, "rev-parse", "--short=10", "HEAD")
        dirty = _git(root, "status", "--porcelain", "--untracked-files=no", "--", "portal")
    except (OSError, subprocess.CalledProcessError):
        return "commit unknown"
    return f"{head}{' +changes' if dirty else ''}"


def machine() -> str:
    """Cores, memory, CPU model, Python and the load when the run started."""
    cores = os.cpu_count() or 0
    memory = _meminfo_gib()
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return (
        f"{cores} cores, {memory:.0f} GiB, {_cpu_model()}, Python {platform.python_version()}, "
        f"load average {load}"
    )


def _git(root: Path, *args: str) -> str:
    command = ["git", "-C", str(root), *args]  # our own fixed arguments
    done = subprocess.run(command, check=True, capture_output=True, text=True)  # noqa: S603
    return done.stdout.strip()


def _meminfo_gib() -> float:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 1024 / 1024
    except OSError:
        pass
    return 0.0


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.machine()


@contextmanager
def quiet(lock: str | None) -> Iterator[None]:
    """Hold ``lock`` (a file, flock'd) while timing, so that benchmarks sharing the machine wait
    for each other's timed parts and not for each other's untimed seeding; None: no lock."""
    if lock is None:
        yield
        return
    with open(lock, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
