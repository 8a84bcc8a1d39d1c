"""benchmarks/results.py: every run's table is kept, newest last, with when, what and where."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from benchmarks.results import append


def test_runs_are_appended_with_date_commit_and_machine(tmp_path: Path) -> None:
    first = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
    path = append("washing", "a | 1\n", command="one", directory=tmp_path, now=first)
    append("washing", "a | 2\n", command="two", note="Busy machine.", directory=tmp_path)

    text = path.read_text()
    assert path == tmp_path / "washing.md"
    assert text.count("# Results of benchmarks/washing.py") == 1
    assert text.index("a | 1") < text.index("a | 2")  # newest last, nothing overwritten
    assert "## 2026-12-01 09:30 UTC, " in text and "`one`" in text and "`two`" in text
    assert text.count("Machine: ") == 2 and " cores, " in text and "Busy machine." in text
