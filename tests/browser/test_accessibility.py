"""WCAG 2.1 A and AA, checked by axe-core in Chromium on the portal's own pages.

axe-core comes bundled in the `axe-playwright-python` package (no network). It is injected with
`page.evaluate`, which runs through the DevTools protocol: the pages keep their real Content
Security Policy (no `bypass_csp`), and the watcher in conftest.py would report any violation.
The mock BankID pages and the e-mails are checked in test_mock_idp_and_mail_accessibility.py.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page, expect

from tests.browser.conftest import PageProblems

pytestmark = pytest.mark.browser

WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
AXE_OPTIONS = {"runOnly": {"type": "tag", "values": WCAG_TAGS}, "resultTypes": ["violations"]}
PHONE = {"width": 375, "height": 740}

axe = Axe()


def violations(page: Page) -> list[dict]:
    return axe.run(page, options=AXE_OPTIONS).response["violations"]


def describe(page: Page, found: list[dict]) -> str:
    lines = [f"{page.url}: {len(found)} WCAG 2.1 A/AA violation(s)"]
    for violation in found:
        lines.append(f"- {violation['id']} ({violation['impact']}): {violation['help']}")
        lines.append(f"  {violation['helpUrl']}")
        for node in violation["nodes"]:
            target = " ".join(str(part) for part in node["target"])
            lines.append(f"    at {target}: {node.get('failureSummary', '').splitlines()[-1]}")
    return "\n".join(lines)


def assert_accessible(page: Page) -> None:
    found = violations(page)
    assert not found, describe(page, found)


def landing(page: Page, sign_in: Callable[..., None], problems: PageProblems) -> None:
    page.goto("/")
    expect(page.get_by_role("link", name="Logg inn med BankID")).to_be_visible()


def person_home(page: Page, sign_in: Callable[..., None], problems: PageProblems) -> None:
    sign_in(page, choice=re.compile(r"^Åse Bjørnstad\b"), lands_on="/me")


def my_data_opened(page: Page, sign_in: Callable[..., None], problems: PageProblems) -> None:
    """The data page with something in every category, every category opened."""
    sign_in(page, choice=re.compile(r"^Kari Nordmann\b"), lands_on="/me")
    for summary in page.locator("details.category > summary").all():
        summary.click()
    expect(page.locator("details.category[open]")).not_to_have_count(0)


def staff_home(page: Page, sign_in: Callable[..., None], problems: PageProblems) -> None:
    sign_in(page, choice=re.compile(r"\bkundeservice\b"), lands_on="/staff/lookup")
    page.goto("/staff")


def not_found(page: Page, sign_in: Callable[..., None], problems: PageProblems) -> None:
    problems.expect(r"status of 404 .*/no-such-page\]$")
    response = page.goto("/no-such-page")
    assert response is not None and response.status == 404


def signed_out(page: Page, sign_in: Callable[..., None], problems: PageProblems) -> None:
    sign_in(page, choice=re.compile(r"^Åse Bjørnstad\b"), lands_on="/me")
    page.get_by_role("button", name="Logg ut").click()
    page.wait_for_url("**/signed-out")


def landing_in_swedish(page: Page, sign_in: Callable[..., None], problems: PageProblems) -> None:
    page.goto("/")
    page.get_by_role("button", name="Svenska").click()
    expect(page.get_by_role("link", name="Logga in med BankID")).to_be_visible()


def sign_ins(page: Page, sign_in: Callable[..., None], problems: PageProblems) -> None:
    """The person's sessions, reached from the header at phone width."""
    page.set_viewport_size({"width": 390, "height": 800})
    sign_in(page, choice=re.compile(r"^Åse Bjørnstad\b"), lands_on="/me")
    page.get_by_role("link", name="Innlogginger").click()
    page.wait_for_url("**/sessions")
    expect(page.locator("table.sessions tbody tr")).to_have_count(1)


PAGES = {
    "landing": landing,
    "sessions": sign_ins,
    "me": person_home,
    "my-data-opened": my_data_opened,
    "staff": staff_home,
    "not-found": not_found,
    "signed-out": signed_out,
    "landing-sv": landing_in_swedish,
}


@pytest.mark.parametrize("open_it", PAGES.values(), ids=PAGES.keys())
def test_page_has_no_wcag_violations(
    page: Page,
    sign_in: Callable[..., None],
    problems: PageProblems,
    open_it: Callable[..., None],
) -> None:
    open_it(page, sign_in, problems)
    assert_accessible(page)


def test_landing_page_at_phone_width(new_page: Callable[..., Page]) -> None:
    page = new_page(viewport=PHONE, is_mobile=True, has_touch=True, device_scale_factor=2)
    page.goto("/")
    assert_accessible(page)


def test_axe_finds_what_it_should(page: Page) -> None:
    """A clean result must mean a clean page: axe runs under our CSP and does report problems."""
    page.goto("/")
    page.evaluate(
        """() => {
          const image = document.createElement("img");
          image.src = "/static/favicon.svg";
          document.querySelector("main").append(image);
        }"""
    )
    assert [v["id"] for v in violations(page)] == ["image-alt"]


def test_skip_link_is_first_and_moves_focus_to_the_content(page: Page) -> None:
    page.goto("/")
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Hopp til hovedinnholdet")
    expect(skip).to_be_focused()
    expect(skip).to_be_in_viewport()  # hidden off-screen until focused, then shown
    page.keyboard.press("Enter")
    expect(page.get_by_role("main")).to_be_focused()
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Logg inn med BankID")).to_be_focused()
