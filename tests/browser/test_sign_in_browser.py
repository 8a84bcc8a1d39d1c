"""Signing in and out in a real browser, as a person does it: links, buttons, redirects, cookies.

The HTTP-level tests (test_sign_in.py) prove the protocol; these prove that the pages carry a
person through it, in Chromium, under the portal's Content Security Policy.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import PageProblems

pytestmark = pytest.mark.browser

ASE = re.compile(r"^Åse Bjørnstad\b")  # 15038512010, one of the mock provider's test people
PHONE = {"width": 375, "height": 740}


def test_person_signs_in_and_out(page: Page, sign_in: Callable[..., None]) -> None:
    sign_in(page, choice=ASE, lands_on="/me")
    expect(page.get_by_role("heading", level=1)).to_have_text("Hei, Åse Bjørnstad")
    expect(page.get_by_role("banner")).to_contain_text("Åse Bjørnstad")

    page.get_by_role("banner").get_by_role("button", name="Logg ut").click()
    page.wait_for_url("**/signed-out")
    expect(page.get_by_role("heading", level=1)).to_have_text("Du er logget ut")
    expect(page.get_by_role("button", name="Logg ut")).to_have_count(0)

    # The session is gone on the server: /me sends the person to sign in again.
    page.goto("/me")
    expect(page.get_by_role("heading", name="Sign in with BankID")).to_be_visible()
    assert "/mock-idp/authorize?" in page.url


def test_staff_member_signs_in(page: Page, sign_in: Callable[..., None]) -> None:
    # Customer service starts at the caller look-up, their work page.
    sign_in(page, choice=re.compile(r"\bkundeservice\b"), lands_on="/staff/lookup")
    expect(page.get_by_role("heading", level=1)).to_have_text("Slå opp en som ringer")
    page.get_by_role("navigation", name="Konsoll").get_by_role("link", name="Oversikt").click()
    page.wait_for_url("**/staff")
    expect(page.get_by_role("heading", level=1)).to_have_text("Hei, Kari Kundeservice")
    expect(page.locator("ul.roles li")).to_have_text(["Kundeservice"])
    expect(page.locator("main").get_by_role("link", name="Vask en ringeliste")).to_be_visible()
    nav = page.get_by_role("navigation", name="Konsoll")
    expect(nav.get_by_role("link", name="Oversikt")).to_have_attribute("aria-current", "page")


def test_invalid_national_id_is_refused_with_a_reason(page: Page, problems: PageProblems) -> None:
    problems.expect(r"status of 422 .*/mock-idp/authorize\]$")  # the form comes back refused
    page.goto("/")
    page.get_by_role("link", name="Logg inn med BankID").click()
    field = page.get_by_label("Fødselsnummer, D-nummer, personnummer or samordningsnummer")
    field.fill("15038512011")
    page.get_by_role("button", name="Sign in", exact=True).click()

    expect(page.get_by_role("alert")).to_have_text(
        "The control digits do not match: check the number for a typing error."
    )
    expect(field).to_have_attribute("aria-invalid", "true")
    expect(field).to_have_accessible_description(re.compile("control digits do not match"))
    expect(field).to_have_value("15038512011")  # kept, to be corrected rather than retyped
    assert "/auth/callback" not in page.url


def test_language_switch_to_swedish(page: Page) -> None:
    page.goto("/")
    expect(page.get_by_role("link", name="Logg inn med BankID")).to_be_visible()
    page.get_by_role("button", name="Svenska").click()

    expect(page.get_by_role("link", name="Logga in med BankID")).to_be_visible()
    expect(page.locator("html")).to_have_attribute("lang", "sv")
    expect(page.get_by_role("button", name="Svenska")).to_have_attribute("aria-current", "true")
    page.goto("/signed-out")  # the choice is remembered on the next page
    expect(page.get_by_role("heading", level=1)).to_have_text("Du är utloggad")


def test_browser_language_is_honoured(new_page: Callable[..., Page]) -> None:
    page = new_page(locale="sv-SE")
    page.goto("/")
    expect(page.get_by_role("link", name="Logga in med BankID")).to_be_visible()


def assert_fits(page: Page) -> None:
    """No sideways scrolling at the phone's width, nor at 320 px (WCAG 1.4.10, reflow)."""
    for width in (PHONE["width"], 320):
        page.set_viewport_size({**PHONE, "width": width})
        sizes = page.evaluate(
            "() => ({scroll: document.scrollingElement.scrollWidth, inner: window.innerWidth})"
        )
        # A mobile browser widens the layout viewport to fit content that overflows, so
        # innerWidth must still be the device's width for the comparison to mean anything.
        assert sizes["inner"] == width, f"{page.url} widened the viewport: {sizes}"
        assert sizes["scroll"] <= width, f"{page.url} scrolls sideways: {sizes}"
    page.set_viewport_size(PHONE)


def test_pages_fit_a_phone(
    new_page: Callable[..., Page], sign_in: Callable[..., None], problems: PageProblems
) -> None:
    page = new_page(viewport=PHONE, is_mobile=True, has_touch=True, device_scale_factor=2)
    page.goto("/")
    assert_fits(page)
    expect(page.get_by_role("link", name="Logg inn med BankID")).to_be_in_viewport()

    sign_in(page, choice=ASE, lands_on="/me")
    assert_fits(page)
    expect(page.get_by_role("button", name="Logg ut")).to_be_in_viewport()

    page.get_by_role("button", name="Svenska").click()
    expect(page.get_by_role("button", name="Logga ut")).to_be_in_viewport()
    assert_fits(page)

    page.get_by_role("button", name="Logga ut").click()
    page.wait_for_url("**/signed-out")
    assert_fits(page)
    problems.expect(r"status of 404 .*/no-such-page\]$")
    page.goto("/no-such-page")
    assert_fits(page)


def test_watcher_reports_csp_violations(page: Page, problems: PageProblems) -> None:
    """The guard the other tests rely on: an inline script is refused and we hear of it."""
    page.goto("/")
    page.evaluate(
        """() => {
          const script = document.createElement("script");
          script.textContent = "window.ran = true";
          document.body.append(script);
        }"""
    )
    page.wait_for_timeout(100)
    assert page.evaluate("window.ran") is None
    csp = [p for p in problems.seen if p.startswith("CSP violation: script-src-elem blocked")]
    assert csp, problems.seen
    assert any("Content Security Policy" in p for p in problems.seen if "console" in p)
    problems.seen.clear()


def test_mock_idp_page_asks_for_no_missing_favicon(page: Page, problems: PageProblems) -> None:
    page.goto("/auth/login")
    expect(page.get_by_role("heading", name="Sign in with BankID")).to_be_visible()
    missing: list[str] = []
    for _ in range(20):  # the icon is fetched after the page loads: give it up to 2 s
        page.wait_for_timeout(100)
        if missing := [p for p in problems.seen if "/favicon.ico" in p]:
            break
    problems.seen.clear()  # this test reports through its own assertion, not the watcher
    assert not missing, missing
