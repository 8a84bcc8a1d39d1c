"""Requests in a real browser: a person asks for erasure and sees the plan; the DPO approves.

Locators use addresses and ids rather than link texts: the texts are translated later, the
addresses are not. Approving only enqueues the erasure job (no worker runs under these tests),
so the shared demo company is not changed.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect

from portal.i18n import translations
from tests.browser.conftest import PageProblems
from tests.browser.test_accessibility import assert_accessible

pytestmark = pytest.mark.browser


def nb(message: str) -> str:
    return translations("nb").gettext(message)


def test_person_asks_for_erasure_and_the_dpo_approves(
    new_page: Callable[..., Page], sign_in: Callable[..., None], problems: PageProblems
) -> None:
    person = new_page()
    sign_in(person, choice=re.compile(r"^Kari Nordmann\b"), lands_on="/me")
    person.locator('#rights a[href="/me/requests/new?type=erasure"]').click()
    person.wait_for_url("**/me/requests/new?type=erasure")
    expect(person.locator("#erasure-explained")).to_be_visible()
    expect(person.locator("#type-erasure")).to_be_checked()
    assert_accessible(person)
    person.locator("form.request-form button[type=submit]").click()
    person.wait_for_url(re.compile(r"/me/requests/\d+$"))
    request_id = person.url.rsplit("/", 1)[1]
    expect(person.locator(".flash")).to_be_visible()
    expect(person.locator(".status")).to_have_text(nb("awaiting approval"))
    plan = person.locator("#plan .plan-lines")
    expect(plan).to_contain_text("vil bli slettet")
    expect(plan).to_contain_text("bokføringsloven")
    assert_accessible(person)
    # A second erasure while this one is open: the form says so, and sending it is refused with
    # a link back to the open request (409, which Chromium reports on the console).
    problems.expect(r"status of 409 \(Conflict\) \[.*/me/requests/new\]")
    person.goto("/me/requests/new?type=erasure")
    expect(person.locator(f'.open-hint a[href="/me/requests/{request_id}"]')).to_be_visible()
    person.locator("form.request-form button[type=submit]").click()
    expect(person.locator("#errors")).to_be_visible()
    assert_accessible(person)
    person.locator(f'#errors a.open-request[href="/me/requests/{request_id}"]').click()
    person.wait_for_url(f"**/me/requests/{request_id}")
    person.goto("/me/requests")
    expect(person.locator(f'table.requests a[href="/me/requests/{request_id}"]')).to_be_visible()
    assert_accessible(person)

    dpo = new_page()
    sign_in(dpo, choice=re.compile(r"\bpersonvern\b"), lands_on="/dpo")
    row = dpo.locator("table.queue tbody tr", has=dpo.locator(f'a[href$="/{request_id}"]'))
    expect(row).to_contain_text(nb("awaiting approval"))
    assert_accessible(dpo)
    # The status filter swaps the table in place with htmx (a plain GET form without it).
    dpo.locator("#filter-status").select_option("completed")
    dpo.wait_for_url("**/dpo?status=completed")
    expect(row).to_have_count(0)
    dpo.locator("#filter-status").select_option("open")
    dpo.wait_for_url(re.compile(r"/dpo$"))  # "open" is the default: the plain address
    row.get_by_role("link").click()
    dpo.wait_for_url(f"**/dpo/requests/{request_id}")
    expect(dpo.locator(".person")).to_have_text("Kari Nordmann")
    expect(dpo.locator("table.plan-counts tbody tr").first).to_be_visible()
    assert_accessible(dpo)
    dpo.locator("#approve-form button").click()
    expect(dpo.locator(".flash")).to_be_visible()
    expect(dpo.locator(".status")).to_have_text(nb("in progress"))
    expect(dpo.locator("#approve-form")).to_have_count(0)

    person.goto(f"/me/requests/{request_id}")
    expect(person.locator(".status")).to_have_text(nb("in progress"))
    expect(person.locator("form.cancel-form")).to_have_count(0)
