"""The SVG bar chart: named and described for assistive technology, every bar's number as text,
heights in proportion, and every text escaped."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from portal.views.charts import PLOT, Bar, bar_chart

SVG = "{http://www.w3.org/2000/svg}"


def parse(markup: str) -> ET.Element:
    return ET.fromstring(str(markup))  # noqa: S314 - our own SVG


def test_a_chart_is_an_image_named_by_its_title_and_description() -> None:
    svg = parse(
        bar_chart(
            [Bar("46", 2, "Week 46: 2"), Bar("47", 0, "Week 47: 0"), Bar("48", 4, "Week 48: 4")],
            title="Access: requests received per week",
            description="6 requests in three weeks",
            chart_id="chart-access",
        )
    )
    assert svg.get("role") == "img"
    assert svg.get("aria-labelledby") == "chart-access-title chart-access-desc"
    assert svg.find(f"{SVG}title").text == "Access: requests received per week"
    assert svg.find(f"{SVG}title").get("id") == "chart-access-title"
    assert svg.find(f"{SVG}desc").text == "6 requests in three weeks"
    groups = svg.findall(f"{SVG}g")
    # Each bar: its words as a tooltip, its number above it and its label under it, as text.
    assert [g.find(f"{SVG}title").text for g in groups] == [
        "Week 46: 2",
        "Week 47: 0",
        "Week 48: 4",
    ]
    assert [[t.text for t in g.findall(f"{SVG}text")] for g in groups] == [
        ["2", "46"],
        ["0", "47"],
        ["4", "48"],
    ]
    heights = [g.find(f"{SVG}rect") for g in groups]
    assert heights[1] is None  # nothing to draw for 0; the number says 0
    assert [int(r.get("height")) for r in (heights[0], heights[2])] == [PLOT // 2, PLOT]
    # No style attribute (the CSP forbids inline styles): colours come from the stylesheet.
    assert "style=" not in str(bar_chart([Bar("1", 1, "x")], title="t", description="d",
                                         chart_id="c"))  # fmt: skip


def test_every_text_is_escaped() -> None:
    markup = str(
        bar_chart(
            [Bar("<b>", 1, 'a "quote" & <tag>')],
            title="<script>alert(1)</script>",
            description="x & y",
            chart_id="c",
        )
    )
    assert "<script>" not in markup and "<b>" not in markup and "<tag>" not in markup
    svg = parse(markup)
    assert svg.find(f"{SVG}title").text == "<script>alert(1)</script>"
    assert svg.find(f"{SVG}g").find(f"{SVG}title").text == 'a "quote" & <tag>'


def test_all_zero_draws_no_bar_and_no_division_by_zero() -> None:
    svg = parse(bar_chart([Bar("1", 0, "x"), Bar("2", 0, "y")], title="t", description="d",
                          chart_id="c"))  # fmt: skip
    assert svg.findall(f".//{SVG}rect") == []
    assert [t.text for t in svg.findall(f".//{SVG}text")] == ["0", "1", "0", "2"]
