"""Where export files live: ``<var>/exports/<export id>/``, named by the export's random id and
the kind of file, never by anything about the person.

Files are written into a temporary directory beside the final one and moved into place in one
rename, so a crash mid-way leaves no half-written export that could be served.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from portal.exports.models import ExportFile


class ExportStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def directory(self, export_id: str) -> Path:
        if not export_id or "/" in export_id or export_id.startswith("."):
            raise ValueError("not an export id")
        return self.root / export_id

    def path(self, export_id: str, kind: ExportFile) -> Path:
        return self.directory(export_id) / kind.filename

    @contextmanager
    def writing(self, export_id: str) -> Iterator[Path]:
        """A scratch directory; on success its files replace the export's directory."""
        self.root.mkdir(parents=True, exist_ok=True)
        scratch = Path(tempfile.mkdtemp(prefix=f".{export_id}-", dir=self.root))
        try:
            yield scratch
            target = self.directory(export_id)
            if target.exists():
                shutil.rmtree(target)
            scratch.rename(target)
        finally:
            if scratch.exists():
                shutil.rmtree(scratch, ignore_errors=True)

    def delete(self, export_id: str) -> bool:
        """Remove the export's files; True when there were any."""
        target = self.directory(export_id)
        if not target.exists():
            return False
        shutil.rmtree(target)
        return True
