"""Every page of a signed-in person, as a person reads them: the navigation with the page's
section marked, no sideways scrolling on a phone (320 and 390 CSS px) and no table cut off at
its box's edge there, WCAG 2.1 A/AA by axe-core, and a language switch that keeps the page of a
table.

The person files a rectification request, asks for an export and gives a consent on the way, so
that a request's page, an export's page and the consent history are among those checked; none
of them changes the demo company.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy.engine import Engine

from portal.app import create_app
from tests.browser.test_accessibility import assert_accessible
from tests.conftest import make_settings
from tests.support import live_server

pytestmark = pytest.mark.browser

KARI = re.compile(r"^Kari Nordmann\b")
FREQUENT_BUYER = re.compile(r"^Bjørn Haug\b")  # 150 orders
SECTIONS = {
    "/me": "Mine opplysninger",
    "/me/requests": "Mine henvendelser",
    "/me/consent": "Samtykke og markedsføring",
    "/me/exports": "Mine kopier",
    "/me/messages": "Meldinger",
}
WIDTHS = (1280, 390, 320)


@pytest.fixture
def portal_url(database_url: str, var_dir: Path, engine: Engine) -> Iterator[str]:
    """The portal, every export left to a worker that does not run here: an export's page shows
    its progress, and no test waits for a PDF to be made."""

    def app(url: str):
        return create_app(
            make_settings(database_url, var_dir, PORTAL_BASE_URL=url, EXPORT_BACKGROUND_ROWS="0")
        )

    with live_server(app) as server:
        yield server.url


def person_pages(page: Page) -> dict[str, str]:
    """Every person page (the path and the section its navigation marks), after filing a
    request and asking for an export so that their pages exist."""
    page.goto("/me/requests/new?type=rectification")
    page.locator("#field-details").fill("Adressen min er feil: jeg har flyttet.")
    page.locator("form.request-form button[type=submit]").click()
    page.wait_for_url(re.compile(r"/me/requests/\d+$"))
    request = page.url.removeprefix(page.url.split("/me/")[0])
    page.goto("/me/exports")
    page.locator("form.export-form button[type=submit]").click()
    page.wait_for_url(re.compile(r"/me/exports/[\w-]+$"))
    export = page.url.removeprefix(page.url.split("/me/")[0])
    # A consent given (the portal records it; the company's data is untouched), so that the
    # consent page has its history table.
    page.goto("/me/consent")
    page.locator("#consent-sms_marketing").get_by_role("button", name=re.compile("^Gi")).click()
    page.wait_for_url("**/me/consent*")
    expect(page.locator("#history table")).to_be_visible()
    # Filing the request queued a message to the person: the navigation counts it unread.
    page.goto("/me/messages")
    navigation = page.get_by_role("navigation", name="Dine sider")
    expect(
        navigation.get_by_role("link", name=re.compile(r"^Meldinger, \d+ uleste?$"))
    ).to_be_visible()
    page.locator(".message-list a").first.click()
    page.wait_for_url(re.compile(r"/me/messages/\d+$"))
    message = page.url.removeprefix(page.url.split("/me/")[0])
    return {
        "/me": "/me",
        "/me/data/shop_orders": "/me",
        "/me/requests": "/me/requests",
        "/me/requests/new": "/me/requests",
        request: "/me/requests",
        "/me/consent": "/me/consent",
        "/me/exports": "/me/exports",
        export: "/me/exports",
        "/me/messages": "/me/messages",
        message: "/me/messages",
    }


def open_everything(page: Page, *, javascript: bool = True) -> None:
    """Open every <details>. A table of many records reads its rows as it opens (htmx), with
    details of their own: those are opened in turn."""
    closed = page.locator("details:not([open]) > summary:visible")
    while True:
        while closed.count():
            closed.first.click()
        if not javascript:
            return
        expect(page.locator("details[open] p.unread")).to_have_count(0)
        if not closed.count():
            return


def assert_no_sideways_scroll(page: Page) -> None:
    widths = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert widths[0] == widths[1], f"{page.url} is {widths[0]} px wide in a {widths[1]} px window"


def assert_no_table_cut_off(page: Page) -> None:
    """No table is wider than its box: on a phone a table stacks or wraps, so nothing hides
    beyond the box's edge (the box would scroll, but a reader does not know to)."""
    cut = page.evaluate(
        """[...document.querySelectorAll('.table-scroll')]
            .filter(box => box.scrollWidth > box.clientWidth)
            .map(box => (box.getAttribute('aria-label') || box.getAttribute('aria-labelledby'))
                 + ': ' + box.scrollWidth + ' px in ' + box.clientWidth)"""
    )
    assert cut == [], f"{page.url}: {cut}"


def assert_navigation_marks(page: Page, section: str) -> None:
    navigation = page.get_by_role("navigation", name="Dine sider")
    expect(navigation.get_by_role("link")).to_have_count(len(SECTIONS))
    for href, name in SECTIONS.items():
        # Messages may say how many are unread: "Meldinger, 1 ulest".
        label = re.compile(rf"^{re.escape(name)}(, \d+ uleste?)?$")
        expect(navigation.get_by_role("link", name=label)).to_have_attribute("href", href)
    current = navigation.locator('[aria-current="page"]')
    expect(current).to_have_count(1)
    expect(current).to_have_attribute("href", section)
    expect(current).to_be_visible()


def test_every_person_page_has_the_navigation_fits_a_phone_and_passes_axe(
    page: Page, sign_in: Callable[..., None]
) -> None:
    sign_in(page, choice=KARI, lands_on="/me")
    pages = person_pages(page)
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 800})
        for path, section in pages.items():
            page.goto(path)
            open_everything(page)
            assert_navigation_marks(page, section)
            assert_no_sideways_scroll(page)
            if width < 1280:
                assert_no_table_cut_off(page)
            assert_accessible(page)


@pytest.mark.parametrize("width", [390, 320])
def test_the_frequent_buyers_data_fits_a_phone(
    new_page: Callable[..., Page], sign_in: Callable[..., None], width: int
) -> None:
    page = new_page(viewport={"width": width, "height": 800}, is_mobile=True, has_touch=True)
    sign_in(page, choice=FREQUENT_BUYER, lands_on="/me")
    assert_no_sideways_scroll(page)
    open_everything(page)
    expect(page.locator("details:not([open])")).to_have_count(0)
    assert_no_sideways_scroll(page)
    assert_navigation_marks(page, "/me")


def test_the_navigation_works_without_javascript_and_by_keyboard(
    new_page: Callable[..., Page], sign_in: Callable[..., None]
) -> None:
    page = new_page(java_script_enabled=False)
    sign_in(page, choice=KARI, lands_on="/me")
    navigation = page.get_by_role("navigation", name="Dine sider")
    for href, name in [*list(SECTIONS.items())[1:], ("/me", "Mine opplysninger")]:
        navigation.get_by_role("link", name=name, exact=True).click()
        page.wait_for_url(f"**{href}")
        assert_navigation_marks(page, href)
    # From the sign-out button, the next stop of the Tab key is the navigation's first link.
    page.get_by_role("button", name="Logg ut").focus()
    page.keyboard.press("Tab")
    expect(navigation.get_by_role("link", name="Mine opplysninger")).to_be_focused()
    page.keyboard.press("Tab")
    expect(navigation.get_by_role("link", name="Mine henvendelser")).to_be_focused()
    page.keyboard.press("Enter")
    page.wait_for_url("**/me/requests")


def test_staff_pages_have_the_consoles_navigation_not_the_persons(
    page: Page, sign_in: Callable[..., None]
) -> None:
    sign_in(page, choice=re.compile(r"\bkundeservice\b"), lands_on="/staff/lookup")
    expect(page.get_by_role("navigation", name="Dine sider")).to_have_count(0)
    console = page.get_by_role("navigation", name="Konsoll")
    expect(console.locator('[aria-current="page"]')).to_have_text("Slå opp en som ringer")
    expect(page.locator('[aria-current="page"]')).to_have_count(1)


def test_the_landing_page_names_the_company(page: Page) -> None:
    page.goto("/")
    expect(page.locator(".hero")).to_contain_text("Personvern hos Nordlys Handel AS")
    expect(page.locator("#controller")).to_contain_text("Nordlys Handel AS (organisasjonsnummer")


def next_page_of_the_first_paged_table(page: Page, *, javascript: bool = True) -> None:
    open_everything(page, javascript=javascript)
    if not javascript:
        # The frequent buyer's tables are read when opened: without JavaScript, on a page of
        # their own (the first table with more than a page of records).
        shown = page.locator("p.unread a").all()
        next(link for link in shown if int(re.sub(r"\D", "", link.inner_text()) or 1) > 25).click()
    pager = page.locator(".pager").first
    expect(pager).to_contain_text("Oppføring 1–25 av")
    pager.get_by_role("link", name="Neste").click()


def test_switching_language_keeps_the_page_of_a_table_without_javascript(
    new_page: Callable[..., Page], sign_in: Callable[..., None]
) -> None:
    page = new_page(java_script_enabled=False)
    sign_in(page, choice=FREQUENT_BUYER, lands_on="/me")
    next_page_of_the_first_paged_table(page, javascript=False)
    page.wait_for_url(re.compile(r"\?page=2$"))
    address = page.url
    page.get_by_role("button", name="English").click()
    page.wait_for_url(address)
    expect(page.locator(".pager")).to_contain_text("Records 26–50 of")


def test_switching_language_keeps_the_page_of_a_table_paged_in_place(
    page: Page, sign_in: Callable[..., None]
) -> None:
    sign_in(page, choice=FREQUENT_BUYER, lands_on="/me")
    next_page_of_the_first_paged_table(page)
    expect(page.locator(".pager").first).to_contain_text("Oppføring 26–50 av")
    assert page.url.endswith("/me")  # paged in place by htmx
    page.get_by_role("button", name="Svenska").click()
    page.wait_for_url(re.compile(r"\?page=2$"))
    expect(page.locator(".pager")).to_contain_text("Post 26–50 av")
