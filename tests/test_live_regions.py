"""Every htmx swap in the templates tells a screen reader what it did (WCAG 4.1.3, status
messages), read from the templates themselves, so that a swap added later without it fails here.

A swap passes in one of two ways:

- its target sits inside a live region (aria-live polite/assertive, or role status/alert/log)
  that the swap does not itself replace: a live region is read when its content changes, and one
  that arrives new with the content is not reliably read at all;
- or the fragment that renders the target also fills, out of band (hx-swap-oob), an element
  that is a live region on the page, such as base.html's #announce or the queue's status line.

Each page template is read with its `{% extends %}` and `{% include %}`s inlined and Jinja's
own syntax taken out (an `{% if %}` keeps both its branches), then parsed as HTML.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html.parser import HTMLParser

import pytest

from portal.templating import TEMPLATES_DIR

LIVE_ROLES = {"status", "alert", "log"}
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr"}
INCLUDE = re.compile(r"""{%-?\s*include\s+["']([^"']+)["'][^%]*-?%}""")
EXTENDS = re.compile(r"""{%-?\s*extends\s+["']([^"']+)["']\s*-?%}""")


@dataclass
class Element:
    tag: str
    attrs: dict[str, str]
    parent: Element | None
    children: list[Element] = field(default_factory=list)

    def ancestors_and_self(self) -> list[Element]:
        found, element = [], self
        while element is not None:
            found.append(element)
            element = element.parent
        return found

    def is_live(self) -> bool:
        live = self.attrs.get("aria-live") in ("polite", "assertive")
        return live or self.attrs.get("role") in LIVE_ROLES

    def descendants(self) -> list[Element]:
        found = []
        for child in self.children:
            found += [child, *child.descendants()]
        return found


class _TreeBuilder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Element("#document", {}, None)
        self.current = self.root

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, {name: value or "" for name, value in attrs}, self.current)
        self.current.children.append(element)
        if tag not in VOID:
            self.current = element

    def handle_endtag(self, tag: str) -> None:
        # Close up to the nearest open element of this name (tolerant, as a browser is).
        for element in self.current.ancestors_and_self():
            if element.tag == tag:
                self.current = element.parent or self.root
                return


def source(name: str, depth: int = 0) -> str:
    """A template's text with what it extends and includes inlined."""
    assert depth < 10, f"includes nest too deep at {name}"
    text = (TEMPLATES_DIR / name).read_text(encoding="utf-8")
    text = re.sub(r"{#.*?#}", "", text, flags=re.S)
    text = INCLUDE.sub(lambda match: source(match.group(1), depth + 1), text)
    if parent := EXTENDS.search(text):
        # The child's blocks after the parent's page: ancestry inside each is what counts.
        text = source(parent.group(1), depth + 1) + EXTENDS.sub("", text)
    return text


def parse(text: str) -> Element:
    # Expressions become a placeholder, statements disappear: ids such as "rows-{{ key }}" and
    # targets such as "#rows-{{ key }}" still match.
    text = re.sub(r"{{.*?}}", "X", text, flags=re.S)
    text = re.sub(r"{%.*?%}", "", text, flags=re.S)
    builder = _TreeBuilder()
    builder.feed(text)
    builder.close()
    return builder.root


def html_templates() -> list[str]:
    names = (p.relative_to(TEMPLATES_DIR).as_posix() for p in TEMPLATES_DIR.rglob("*.html"))
    # E-mails and PDFs never run htmx.
    return sorted(n for n in names if not n.startswith(("emails/", "pdf/")))


def by_id(tree: Element, element_id: str) -> list[Element]:
    return [e for e in tree.descendants() if e.attrs.get("id") == element_id]


def swaps(tree: Element) -> list[Element]:
    return [e for e in tree.descendants() if "hx-get" in e.attrs or "hx-post" in e.attrs]


def target_of(swap: Element, tree: Element) -> Element:
    selector = swap.attrs.get("hx-target", "this")
    if selector == "this":
        return swap
    assert selector.startswith("#"), f"a target other than #id or this: {selector!r}"
    found = by_id(tree, selector[1:])
    assert found, f"the target {selector} is not on the page"
    return found[0]


def announced_by_its_target(swap: Element, target: Element) -> bool:
    replaces_target = swap.attrs.get("hx-swap", "innerHTML").split()[0] == "outerHTML"
    live = [e for e in target.ancestors_and_self() if e.is_live()]
    return any(not (replaces_target and e is target) for e in live)


FRAGMENTS = {name: parse(source(name)) for name in html_templates()}


def announced_out_of_band(target: Element, page: Element) -> bool:
    """Some fragment renders the target and fills a live region of this page out of band."""
    target_id = target.attrs.get("id")
    for fragment in FRAGMENTS.values():
        if not target_id or not by_id(fragment, target_id):
            continue
        for oob in fragment.descendants():
            oob_id = oob.attrs.get("id") if "hx-swap-oob" in oob.attrs else None
            if oob_id and any(e.is_live() for e in by_id(page, oob_id)):
                return True
    return False


def pages() -> list[str]:
    """The templates that are whole pages; a partial is checked where a page includes it."""
    return [name for name, tree in FRAGMENTS.items() if any(e.tag == "html" for e in tree.children)]


@pytest.mark.parametrize("name", pages())
def test_every_swap_announces_its_result(name: str) -> None:
    page = FRAGMENTS[name]
    for swap in swaps(page):
        target = target_of(swap, page)
        assert announced_by_its_target(swap, target) or announced_out_of_band(target, page), (
            f"{name}: <{swap.tag} {swap.attrs}> swaps #{target.attrs.get('id')} and no live "
            "region says what it did: put the target inside an aria-live region it does not "
            'replace, or fill one out of band from its fragment (include "_announce.html")'
        )


def test_the_templates_swap_in_all_the_places_we_know() -> None:
    """The check above has something to check: the swaps it found, page by page."""
    found = {
        name: {target_of(swap, tree).attrs.get("id") for swap in swaps(tree)}
        for name, tree in FRAGMENTS.items()
        if swaps(tree) and not name.split("/")[-1].startswith("_")
    }
    assert found["dpo/queue.html"] == {"queue"}
    assert found["me/home.html"] == {"rows-X"}
    assert found["exports/detail.html"] == {"export-progress"}
    assert found["staff/wash.html"] == {"wash-status"}
    assert found["dpo/request.html"] == {"data-found"}


def test_base_has_an_empty_live_region_outside_main() -> None:
    page = FRAGMENTS["base.html"]
    (announce,) = by_id(page, "announce")
    assert announce.is_live() and not announce.children
    assert "main" not in {e.tag for e in announce.ancestors_and_self()}


def test_a_swap_without_an_announcement_is_caught() -> None:
    page = parse(
        '<main><div id="list"></div><a hx-get="/more" hx-target="#list">More</a>'
        '<p aria-live="polite"><span id="said"></span></p>'
        '<section id="self" aria-live="polite" hx-get="/poll" hx-swap="outerHTML"></section></main>'
    )
    more, poll = swaps(page)
    assert not announced_by_its_target(more, target_of(more, page))
    assert not announced_out_of_band(target_of(more, page), page)
    # A live region that the swap replaces is new each time, and not reliably read.
    assert not announced_by_its_target(poll, target_of(poll, page))
    inside = parse(
        '<div aria-live="polite"><div id="list"></div></div><a hx-get="/x" hx-target="#list">'
    )
    (swap,) = swaps(inside)
    assert announced_by_its_target(swap, target_of(swap, inside))
