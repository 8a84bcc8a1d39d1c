"""The records of processing in Chromium, as the DPO reads them: reached from the staff page,
WCAG 2.1 A/AA by axe-core, no sideways scrolling and no table cut off at 1280 and 390 px, in
Norwegian and in English, and the PDF link answering with a PDF."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect

from tests.browser.test_accessibility import assert_accessible
from tests.browser.test_person_pages_browser import (
    assert_no_sideways_scroll,
    assert_no_table_cut_off,
)

pytestmark = pytest.mark.browser

DPO = re.compile(r"\bpersonvern\b")
WIDTHS = (1280, 390)


def test_the_dpo_reads_the_records_at_desk_and_phone_widths_in_both_languages(
    page: Page, sign_in: Callable[..., None]
) -> None:
    sign_in(page, choice=DPO, lands_on="/dpo")  # the DPO starts at the request queue
    page.goto("/staff")
    page.get_by_role("link", name=re.compile("Protokoll over behandlingsaktiviteter")).click()
    page.wait_for_url("**/dpo/records")
    for language, title, transfers in (
        ("nb", "Protokoll over behandlingsaktiviteter", "Overføringer ut av EØS"),
        ("en", "Records of processing activities", "Transfers outside the EEA"),
    ):
        if language == "en":
            page.get_by_role("button", name="English").click()
            page.wait_for_url("**/dpo/records")
        expect(page.get_by_role("heading", level=1)).to_have_text(title)
        expect(page.locator("#transfers")).to_contain_text(transfers)
        expect(page.locator("#transfers")).to_contain_text("Mailchimp")
        for width in WIDTHS:
            page.set_viewport_size({"width": width, "height": 900})
            assert_no_sideways_scroll(page)
            if width < 1280:
                assert_no_table_cut_off(page)
            assert_accessible(page)
    # WeasyPrint takes a few seconds for some twenty pages, more on a busy machine.
    response = page.request.get("/dpo/records.pdf", timeout=60_000)
    assert response.status == 200
    assert response.headers["content-type"] == "application/pdf"
    assert response.body().startswith(b"%PDF")
