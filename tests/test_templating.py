"""What every template must do, read from the templates themselves."""

from __future__ import annotations

import re

from portal.templating import TEMPLATES_DIR

# A box that scrolls sideways: <div class="table-scroll" ...> (static/css/site.css).
SCROLL_BOX = re.compile(r"<div\b[^>]*\bclass=\"[^\"]*\btable-scroll\b[^\"]*\"[^>]*>")


def test_every_scroll_box_can_be_focused_and_is_named() -> None:
    """axe's scrollable-region-focusable: a keyboard reaches a box that scrolls (tabindex="0"),
    and a screen reader says which table it holds (a region with a name)."""
    boxes = [
        (path.relative_to(TEMPLATES_DIR), box)
        for path in sorted(TEMPLATES_DIR.rglob("*.html"))
        for box in SCROLL_BOX.findall(path.read_text(encoding="utf-8"))
    ]
    assert len(boxes) >= 10
    unreachable = [
        (str(path), box)
        for path, box in boxes
        if 'tabindex="0"' not in box
        or 'role="region"' not in box
        or not re.search(r'\baria-label(ledby)?="[^"]+"', box)
    ]
    assert unreachable == []
