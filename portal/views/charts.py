"""Bar charts as SVG, written on the server: no script, no library, no inline style (the CSP).

Each chart is an image with a name and a description (``<title>`` and ``<desc>``, referenced by
``aria-labelledby``), every bar carries its number as text above it and its label below, so it
reads without colour, and the page shows the same numbers in a table (the text alternative).
Sizes are in CSS pixels; the SVG scales down to its box on a narrow screen.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

BAR = 22
GAP = 8
PAD = 8
PLOT = 100  # the tallest bar's height
TOP = 18  # room for the number above the tallest bar
BOTTOM = 22  # room for the labels under the bars


@dataclass(frozen=True)
class Bar:
    label: str  # short, under the bar ("47")
    value: int
    description: str  # the bar in words, its tooltip ("Week 47, from 16 Nov 2026: 3")


def bar_chart(bars: Sequence[Bar], *, title: str, description: str, chart_id: str) -> Markup:
    """An SVG bar chart of ``bars`` (left to right). ``chart_id`` must be unique on the page."""
    width = 2 * PAD + len(bars) * (BAR + GAP) - GAP
    height = TOP + PLOT + BOTTOM
    tallest = max((bar.value for bar in bars), default=0) or 1
    base = TOP + PLOT
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" id="{escape(chart_id)}" '
        f'viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
        f'aria-labelledby="{escape(chart_id)}-title {escape(chart_id)}-desc">',
        f'<title id="{escape(chart_id)}-title">{escape(title)}</title>',
        f'<desc id="{escape(chart_id)}-desc">{escape(description)}</desc>',
    ]
    for index, bar in enumerate(bars):
        x = PAD + index * (BAR + GAP)
        middle = x + BAR / 2
        tall = round(bar.value / tallest * PLOT)
        parts.append(f"<g><title>{escape(bar.description)}</title>")
        if tall:
            parts.append(
                f'<rect class="chart-bar" x="{x}" y="{base - tall}" width="{BAR}" height="{tall}"/>'
            )
        parts.append(
            f'<text class="chart-value" x="{middle:g}" y="{base - tall - 4}" '
            f'text-anchor="middle">{bar.value}</text>'
        )
        parts.append(
            f'<text class="chart-label" x="{middle:g}" y="{base + 16}" '
            f'text-anchor="middle">{escape(bar.label)}</text></g>'
        )
    parts.append(
        f'<line class="chart-axis" x1="{PAD / 2:g}" y1="{base}" x2="{width - PAD / 2:g}" '
        f'y2="{base}"/>'
    )
    parts.append("</svg>")
    # Safe: every text in it went through escape(), every number is ours.
    return Markup("".join(parts))  # noqa: S704
