"""The "my data" page in a real browser: categories open, paging with htmx, languages."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.browser


def test_open_a_category_and_switch_language(page: Page, sign_in: Callable[..., None]) -> None:
    sign_in(page, choice=re.compile(r"^Kari Nordmann\b"), lands_on="/me")
    expect(page.get_by_role("heading", level=1)).to_have_text("Hei, Kari Nordmann")
    purchases = page.locator("details.category", has=page.locator("summary", has_text="Kjøp"))
    expect(purchases.get_by_role("table").first).to_be_hidden()
    purchases.locator("summary").click()
    expect(purchases.get_by_role("table").first).to_be_visible()
    expect(purchases).to_contain_text("Levere det du har kjøpt")
    page.get_by_role("button", name="Svenska").click()
    page.wait_for_url("**/me")
    expect(page.get_by_role("heading", level=1)).to_have_text("Hej, Kari Nordmann")
    expect(page.locator("details.category > summary", has_text="Köp")).to_be_visible()


def test_paging_swaps_in_place_with_htmx(page: Page, sign_in: Callable[..., None]) -> None:
    sign_in(page, choice=re.compile(r"^Bjørn Haug\b"), lands_on="/me")
    purchases = page.locator("details.category", has=page.locator("summary", has_text="Kjøp"))
    purchases.locator("summary").click()
    orders = purchases.locator("section.table-section", has_text="Ordrer").first
    expect(orders.locator(".pager")).to_contain_text("Oppføring 1–25 av")
    orders.get_by_role("link", name="Neste").click()
    expect(purchases.locator(".pager").first).to_contain_text("Oppføring 26–50 av")
    assert page.url.endswith("/me")  # swapped in place, no navigation


def test_paging_works_without_javascript(
    new_page: Callable[..., Page], sign_in: Callable[..., None]
) -> None:
    page = new_page(java_script_enabled=False)
    sign_in(page, choice=re.compile(r"^Bjørn Haug\b"), lands_on="/me")
    purchases = page.locator("details.category", has=page.locator("summary", has_text="Kjøp"))
    purchases.locator("summary").click()
    purchases.locator("section.table-section", has_text="Ordrer").first.get_by_role(
        "link", name="Neste"
    ).click()
    page.wait_for_url("**/me/data/purchase/shop_orders?page=2")
    expect(page.locator(".pager")).to_contain_text("Oppføring 26–50 av")
