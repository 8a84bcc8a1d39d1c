"""Whole journeys with the keyboard alone: Tab, Shift+Tab, Enter, Space and typing, never a
click. Each step tabs to the control it needs (so the tab order proves it reaches it), checks
that the control shows it has focus, and uses it.

A person signs in through the mock BankID, pages through their data, makes an export and
downloads it, gives and withdraws a consent, and asks for erasure. The DPO signs in, searches and
filters the queue, assigns a request to themselves and opens it. Along the way, what each htmx
swap did is checked in the page's live regions, and where the keyboard's focus lands after it.

The portal builds exports with a worker beside it (tests/browser/test_export_browser.py's), so
the export's progress is polled and announced as it is for a person with much data.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Locator, Page, expect

from portal.i18n import translations
from tests.browser.test_export_browser import READY_MS, portal_url  # noqa: F401 (a fixture)
from tests.browser.test_queue_browser import queue_data  # noqa: F401 (a fixture)

# real_clock: the export worker's thread polls with timed waits, which hang under libfaketime.
pytestmark = [pytest.mark.browser, pytest.mark.real_clock]

# Far more than any journey here needs: a control further away than this is too far anyway.
MAX_TABS = 250

FOCUSED = """() => {
  const element = document.activeElement;
  if (!element || element === document.body) return "(nothing: the page itself)";
  const name = (element.getAttribute("aria-label") || element.innerText || element.value || "")
    .trim().replace(/\\s+/g, " ").slice(0, 60);
  return `${element.tagName.toLowerCase()}${element.id ? "#" + element.id : ""} "${name}"`;
}"""

FOCUS_SHOWN = """(element) => {
  const style = getComputedStyle(element);
  const outline = style.outlineStyle !== "none" && parseFloat(style.outlineWidth) > 0;
  return element.matches(":focus-visible") && (outline || style.boxShadow !== "none");
}"""


def nb(message: str) -> str:
    return translations("nb").gettext(message)


def has_focus(target: Locator) -> bool:
    return target.evaluate("(element) => element === document.activeElement")


def tab_to(page: Page, target: Locator, *, backwards: bool = False) -> None:
    """Press Tab (or Shift+Tab) until `target` has focus, and check that it shows it."""
    key = "Shift+Tab" if backwards else "Tab"
    visited: list[str] = []
    for _ in range(MAX_TABS):
        page.keyboard.press(key)
        if has_focus(target):
            assert target.evaluate(FOCUS_SHOWN), f"{visited[-1:]} then the target: no focus ring"
            return
        visited.append(page.evaluate(FOCUSED))
    pytest.fail(
        f"{key} did not reach {target} in {MAX_TABS} presses on {page.url}; focus went to:\n  "
        + "\n  ".join(dict.fromkeys(visited)),
        pytrace=False,
    )


def sign_in_by_keyboard(page: Page, choice: re.Pattern[str], lands_on: str) -> None:
    page.goto("/")
    page.keyboard.press("Tab")  # the skip link comes first, and shows itself
    skip = page.get_by_role("link", name=nb("Skip to main content"))
    expect(skip).to_be_focused()
    expect(skip).to_be_in_viewport()
    tab_to(page, page.get_by_role("link", name="Logg inn med BankID"))
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Sign in with BankID")).to_be_visible()
    tab_to(page, page.get_by_role("button", name=choice))
    page.keyboard.press("Enter")
    page.wait_for_url(f"**{lands_on}")


def go_by_navigation(page: Page, label: str, path: str) -> None:
    navigation = page.get_by_role("navigation", name=re.compile("^(Dine sider|Konsoll)$"))
    tab_to(page, navigation.get_by_role("link", name=label, exact=True))
    page.keyboard.press("Enter")
    page.wait_for_url(f"**{path}")


def htmx_idle(page: Page) -> None:
    """Wait until no htmx request, swap or settle is under way."""
    page.wait_for_function(
        "() => !document.querySelector('.htmx-request, .htmx-swapping, .htmx-settling')"
    )


def test_a_person_s_journey_by_keyboard(page: Page, tmp_path: Path) -> None:
    sign_in_by_keyboard(page, re.compile(r"^Bjørn Haug\b"), "/me")
    announce = page.locator("#announce")

    # My data: open the orders (Space on the summary), then their next page, swapped in place.
    orders = page.locator("details.category", has=page.locator("summary", has_text="Ordrer"))
    tab_to(page, orders.locator(":scope > summary"))
    page.keyboard.press("Space")
    expect(orders).to_have_attribute("open", "")
    # His many records are read as the table opens (htmx).
    expect(orders.locator(".pager")).to_contain_text("Oppføring 1–25 av")
    expect(announce).to_contain_text("Oppføring 1–25 av")
    tab_to(page, orders.locator(".pager").get_by_role("link", name=nb("Next")))
    page.keyboard.press("Enter")
    expect(orders.locator(".pager")).to_contain_text("Oppføring 26–50 av")
    expect(announce).to_contain_text("Oppføring 26–50 av")  # the live region says so
    following = orders.locator(".pager").get_by_role("link", name=nb("Next"))
    expect(following).to_be_focused()  # htmx gave it back
    # On to the last page by Enter alone: there, with no "Next", the count takes the focus.
    count = orders.locator(".pager > span")
    for _ in range(10):
        if not following.count():
            break
        shown = count.inner_text()
        htmx_idle(page)  # the link swapped in is htmx's before Enter (else the browser follows it)
        page.keyboard.press("Enter")
        expect(count).not_to_have_text(shown)
    expect(count).to_be_focused()
    expect(announce).to_contain_text(count.inner_text())
    assert page.url.endswith("/me")

    # An export: asked for, built by the worker while the page polls, announced, downloaded.
    go_by_navigation(page, nb("My copies"), "/me/exports")
    tab_to(page, page.get_by_role("button", name=nb("Make an export")))
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/me/exports/[\w-]+$"))
    progress = page.locator("#export-progress")
    # On a busy machine the worker may finish before the page is first shown: then nothing is
    # polled, and the page itself says it (test_live_regions.py checks the fragment either way).
    polled = progress.get_attribute("data-status") != "ready"
    expect(progress).to_have_attribute("data-status", "ready", timeout=READY_MS)
    if polled:
        expect(announce).to_have_text(f"{nb('Status')}: {nb('ready to download')}")
    json_file = nb("Everything in one machine-readable file (JSON)")
    tab_to(page, progress.get_by_role("link", name=json_file))
    with page.expect_download() as download:
        page.keyboard.press("Enter")
    saved = tmp_path / "export.json"
    download.value.save_as(saved)
    assert '"Bjørn Haug"' in saved.read_text(encoding="utf-8")

    # A consent given and withdrawn, each with one key press, and each confirmed in words.
    go_by_navigation(page, nb("Consent and marketing"), "/me/consent")
    sms = page.locator("#consent-sms_marketing")
    tab_to(page, sms.get_by_role("button", name=re.compile(f"^{nb('Give consent')}")))
    page.keyboard.press("Enter")
    page.wait_for_url("**/me/consent#consent-sms_marketing")
    expect(sms.locator(".flash")).to_contain_text("SMS")
    # The page comes back at the choice: the very next Tab is its button, now to withdraw.
    page.keyboard.press("Tab")
    expect(sms.get_by_role("button", name=re.compile(f"^{nb('Withdraw consent')}"))).to_be_focused()
    page.keyboard.press("Enter")
    expect(sms.locator(".flash")).to_contain_text("trukket tilbake")
    expect(sms.locator(".state-badge")).to_have_text(re.compile("Ikke gitt"))

    # Erasure: from the rights on "my data", the form, sent.
    go_by_navigation(page, nb("My data"), "/me")
    tab_to(page, page.get_by_role("link", name=nb("Ask us to erase your data")))
    page.keyboard.press("Enter")
    page.wait_for_url("**/me/requests/new?type=erasure")
    expect(page.locator("#type-erasure")).to_be_checked()
    tab_to(page, page.get_by_role("button", name=nb("Send the request")))
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/me/requests/\d+$"))
    expect(page.locator(".status")).to_have_text(nb("awaiting approval"))


@pytest.mark.usefixtures("queue_data")
def test_the_dpo_works_the_queue_by_keyboard(page: Page) -> None:
    sign_in_by_keyboard(page, re.compile(r"\bpersonvern\b"), "/dpo")
    status = page.locator("#queue-status")
    rows = page.locator("table.queue tbody tr")
    expect(rows).to_have_count(4)

    # Search: type, Enter; the table changes in place and the status line says what it found.
    search = page.get_by_label("Søk etter referanse, navn, e-postadresse eller kundenummer")
    tab_to(page, search)
    page.keyboard.type("nordmann")
    page.keyboard.press("Enter")
    expect(status).to_contain_text("2 henvendelser")
    expect(rows).to_have_count(2)
    expect(page.locator("#queue-q")).to_be_focused()  # the box swapped back keeps the focus

    # Filter by type with the arrow keys on the closed list: each change swaps the table.
    kind = page.get_by_label("Type", exact=True)
    tab_to(page, kind)
    for _ in range(5):
        if kind.evaluate("(select) => select.selectedOptions[0].label") == "Sletting":
            break
        page.keyboard.press("ArrowDown")
    expect(kind).to_have_value("erasure")
    expect(rows).to_have_count(1)
    expect(status).to_contain_text("1 henvendelse")
    expect(kind).to_be_focused()

    # Assign to me from the row: said in the status line, and the focus stays on the row.
    kari = int(rows.first.locator("input[name=request]").get_attribute("value") or 0)
    expect(rows.first).to_contain_text("Kari Nordmann")
    tab_to(page, page.get_by_role("button", name=f"Tildel til meg (henvendelse {kari})"))
    page.keyboard.press("Enter")
    expect(status).to_contain_text(f"Henvendelse {kari} er tildelt deg.")
    assignee = page.locator(f"#assignee-{kari}")
    expect(assignee).to_contain_text("(deg)")
    expect(assignee).to_be_focused()

    # Open the case: back along the row to its link.
    tab_to(page, page.get_by_role("link", name=f"Henvendelse {kari}", exact=True), backwards=True)
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/dpo/requests/{kari}")
    expect(page.get_by_role("heading", level=1)).to_contain_text(str(kari))

    # The data found, fetched in place: the focus moves to its heading, the count is read out.
    tab_to(page, page.get_by_role("link", name=nb("Show the data found")))
    page.keyboard.press("Enter")
    heading = page.get_by_role("heading", name=nb("The data found"))
    expect(heading).to_be_focused()
    expect(page.locator("#announce")).to_contain_text(nb("The data found"))
