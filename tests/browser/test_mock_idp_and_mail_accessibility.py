"""WCAG 2.1 A and AA by axe-core on what the portal shows outside its own pages: every page of
the mock BankID provider, and every e-mail's HTML in every language, rendered by the real
function with the mail tests' fixture data and loaded into Chromium as a mail program would."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from portal.mail.kinds import render_message
from tests.browser.conftest import PageProblems
from tests.browser.test_accessibility import assert_accessible, violations
from tests.mail.support import SITE
from tests.mail.test_render import CONTEXTS

# real_clock: Chromium is a child process.
pytestmark = [pytest.mark.browser, pytest.mark.real_clock]


def open_sign_in(page: Page) -> None:
    page.goto("/auth/login")
    expect(page.get_by_role("heading", name="Sign in with BankID")).to_be_visible()


def test_the_mock_bankid_sign_in_page(page: Page) -> None:
    open_sign_in(page)
    assert_accessible(page)


def test_the_mock_bankid_sign_in_page_with_a_refused_number(
    page: Page, problems: PageProblems
) -> None:
    problems.expect(r"status of 422")
    open_sign_in(page)
    page.get_by_label(re.compile("^Fødselsnummer")).fill("12345678901")
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page.get_by_role("alert")).to_be_visible()
    assert_accessible(page)


def test_the_mock_bankid_sign_in_page_at_phone_width(page: Page) -> None:
    page.set_viewport_size({"width": 390, "height": 800})
    open_sign_in(page)
    assert_accessible(page)


@pytest.mark.parametrize(
    ("path", "heading"),
    [
        ("/mock-idp/authorize", "Unknown client"),
        ("/mock-idp/end-session", "You are signed out"),
    ],
)
def test_the_mock_bankid_message_pages(
    page: Page, problems: PageProblems, path: str, heading: str
) -> None:
    problems.expect(r"status of 400")
    page.goto(path)
    expect(page.get_by_role("heading", level=1)).to_have_text(re.compile(heading, re.I))
    assert_accessible(page)


@pytest.fixture(scope="module")
def mail_program(browser: Browser) -> Iterator[Page]:
    """A page to load e-mails into, as a webmail's frame would: no server, nothing fetched."""
    context = browser.new_context(java_script_enabled=True)
    yield context.new_page()
    context.close()


@pytest.mark.parametrize("kind", sorted(CONTEXTS))
def test_every_e_mail_s_html(mail_program: Page, kind: str) -> None:
    for language in ("nb", "sv", "en"):
        message = render_message(kind, CONTEXTS[kind], language, SITE)
        mail_program.set_content(message.html)
        expect(mail_program.locator("html")).to_have_attribute("lang", language)
        assert mail_program.title() == message.subject
        assert_accessible(mail_program)


def test_axe_reads_an_e_mail_loaded_this_way(mail_program: Page) -> None:
    """A clean result above must mean a clean e-mail: the same e-mail, spoiled, is caught."""
    html = render_message("request_received", CONTEXTS["request_received"], "nb", SITE).html
    spoiled = html.replace('<html lang="nb">', "<html>").replace("color:#1d1d1b", "color:#bbbbbb")
    mail_program.set_content(spoiled)
    found = {violation["id"] for violation in violations(mail_program)}
    assert found == {"html-has-lang", "color-contrast"}, found
