"""CSV files people open in a spreadsheet: no cell is taken for a formula.

A cell that begins with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is a formula to
Excel, LibreOffice and Google Sheets, so a name such as ``=HYPERLINK("http://evil", "Kari")`` in
a company's database, or in an uploaded call list, would run when the file is opened (OWASP,
"CSV Injection"). Such a cell is written with a ``'`` in front, which spreadsheets show as
text and do not display.

Machines reading the files get the value back exactly: remove one leading ``'`` when what
follows it begins with one of those characters or with another ``'``. (A value that itself
begins with ``'`` and then one of them gets a second ``'``, so the rule never eats a real one.)
Numbers keep their sign untouched (``-120.50``, ``+47 912 34 567``): a spreadsheet reads them
as the numbers they are, and no formula can hide in digits.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
# A cell whose first character is none of these is written as it is (safe_cell strips "'" first).
_FIRST = frozenset("'=+-@\t\r")
# A signed number or phone number as typed: digits, spaces and the punctuation numbers use.
_SIGNED_NUMBER = re.compile(r"[+-][0-9 .,()/-]*")


def safe_cell(value: str) -> str:
    """``value`` as a spreadsheet must show it: with ``'`` in front when it could be a formula."""
    bare = value.lstrip("'")
    if not bare.startswith(TRIGGERS) or _SIGNED_NUMBER.fullmatch(bare):
        return value
    return "'" + value


def unsafe_cell(text: str) -> str:
    """The value back from a cell ``safe_cell`` wrote (for programs reading the files)."""
    if text.startswith("'") and text.lstrip("'").startswith(TRIGGERS):
        bare = text.lstrip("'")
        if not _SIGNED_NUMBER.fullmatch(bare):
            return text[1:]
    return text


class SafeWriter:
    """``csv.writer``'s ``writerow``, every cell made safe first."""

    def __init__(self, writer: Any) -> None:
        self.writer = writer

    def writerow(self, row: Iterable[Any]) -> Any:
        return self.write_cells([str(cell) for cell in row])

    def write_cells(self, cells: list[str]) -> Any:
        """``writerow`` for cells that are strings already (a washed list's): only a cell that
        starts with a trigger or a quote is looked at more closely."""
        return self.writer.writerow([c if c[:1] not in _FIRST else safe_cell(c) for c in cells])
