"""Every console page, as a member of staff holding every role reaches it from the console's
navigation: WCAG 2.1 A/AA by axe-core at 1280 and 390 CSS px, in Norwegian and English, with no
sideways scrolling and no table cut off on a phone. Pages added to the navigation later are
checked without changing this test."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect

from tests.browser.test_accessibility import assert_accessible
from tests.browser.test_dpo_console_browser import console_data  # noqa: F401 (a fixture)
from tests.browser.test_person_pages_browser import (
    assert_no_sideways_scroll,
    assert_no_table_cut_off,
)

pytestmark = pytest.mark.browser

EVERY_ROLE = re.compile(r"\bSuperbruker\b")
WIDTHS = (1280, 390)


def console_links(page: Page) -> list[str]:
    navigation = page.get_by_role("navigation", name=re.compile("^(Konsoll|Console)$"))
    return [link.get_attribute("href") or "" for link in navigation.get_by_role("link").all()]


@pytest.mark.usefixtures("console_data")
def test_every_console_page_passes_axe_and_fits_a_phone_in_both_languages(
    page: Page, sign_in: Callable[..., None]
) -> None:
    sign_in(page, choice=EVERY_ROLE, lands_on="/dpo")
    links = console_links(page)
    # Every role's pages: the queue, the DPO's, customer service's and the administrator's.
    assert {"/dpo", "/dpo/dashboard", "/dpo/audit", "/dpo/records"} <= set(links), links
    assert len(links) >= 6, links
    pages = [*links, "/dpo/requests/1"]
    for language, heading_of_queue in (("nb", "Henvendelseskø"), ("en", "Request queue")):
        page.goto("/dpo")
        page.locator(f"button.language-option[value={language}]").click()
        expect(page.locator("html")).to_have_attribute("lang", language)
        expect(page.get_by_role("heading", level=1)).to_contain_text(heading_of_queue)
        for width in WIDTHS:
            page.set_viewport_size({"width": width, "height": 800})
            for path in pages:
                response = page.goto(path)
                assert response is not None and response.status == 200, path
                assert_no_sideways_scroll(page)
                if width < 1280:
                    assert_no_table_cut_off(page)
                assert_accessible(page)
