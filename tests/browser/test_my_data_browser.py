"""The "my data" page in a real browser: tables open, a record's fields, paging with htmx,
languages."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.browser


def test_open_a_table_and_a_record_and_switch_language(
    page: Page, sign_in: Callable[..., None]
) -> None:
    sign_in(page, choice=re.compile(r"^Kari Nordmann\b"), lands_on="/me")
    expect(page.get_by_role("heading", level=1)).to_have_text("Hei, Kari Nordmann")
    orders = page.locator("details.category", has=page.locator("summary", has_text="Ordrer"))
    expect(orders.get_by_role("table").first).to_be_hidden()
    orders.locator("summary").first.click()
    records = orders.locator("table.records")
    expect(records).to_be_visible()
    expect(records.locator("thead")).to_contain_text("Ordrenummer")
    expect(records.locator("thead")).to_contain_text("Totalbeløp")
    # A record's every field, under it.
    record = records.locator("tbody tr").first
    expect(record.get_by_text("Leveringsadresse")).to_be_hidden()
    record.get_by_text("Vis alle feltene").click()
    expect(record.get_by_text("Leveringsadresse")).to_be_visible()
    # What each field is and why we have it.
    orders.get_by_text("Hva hvert felt er, og hvorfor vi har det").click()
    expect(orders.locator("table.field-facts")).to_contain_text("Levering av kjøp")
    page.get_by_role("button", name="Svenska").click()
    page.wait_for_url("**/me")
    expect(page.get_by_role("heading", level=1)).to_have_text("Hej, Kari Nordmann")
    expect(page.locator("details.category > summary", has_text="Beställningar")).to_be_visible()


def test_paging_swaps_in_place_with_htmx(page: Page, sign_in: Callable[..., None]) -> None:
    sign_in(page, choice=re.compile(r"^Bjørn Haug\b"), lands_on="/me")
    orders = page.locator("details.category", has=page.locator("summary", has_text="Ordrer"))
    orders.locator("summary").first.click()
    expect(orders.locator(".pager")).to_contain_text("Oppføring 1–25 av")
    orders.locator(".pager").get_by_role("link", name="Neste").click()
    expect(orders.locator(".pager")).to_contain_text("Oppføring 26–50 av")
    assert page.url.endswith("/me")  # swapped in place, no navigation


def test_paging_works_without_javascript(
    new_page: Callable[..., Page], sign_in: Callable[..., None]
) -> None:
    page = new_page(java_script_enabled=False)
    sign_in(page, choice=re.compile(r"^Bjørn Haug\b"), lands_on="/me")
    orders = page.locator("details.category", has=page.locator("summary", has_text="Ordrer"))
    orders.locator("summary").first.click()
    # His many records are read a table at a time: without JavaScript, on a page of its own.
    orders.get_by_role("link", name=re.compile(r"^Vis de \d+ oppføringene$")).click()
    page.wait_for_url("**/me/data/shop_orders")
    page.locator(".pager").get_by_role("link", name="Neste").click()
    page.wait_for_url("**/me/data/shop_orders?page=2")
    expect(page.locator(".pager")).to_contain_text("Oppføring 26–50 av")
