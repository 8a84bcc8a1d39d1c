"""Browser tests: Debian's Chromium, driven by Playwright, against the portal under real uvicorn.

Playwright's own browser download is never used (it cannot work here): the browser is
/usr/bin/chromium, which `make system-deps` installs. One browser serves the whole package; each
test gets a fresh portal (its own port and var dir, the run's database) and a fresh browser
context, so no cookie, storage or cache crosses from one test to the next.

Every page a test opens is watched: a console error, an uncaught exception or a Content Security
Policy violation fails the test, unless the test says it expects that exact message.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Page, sync_playwright
from sqlalchemy.engine import Engine

from portal.app import create_app
from tests.conftest import make_settings
from tests.support import live_server

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",  # the tests run as root
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-quic",
]
# Every step here is local and quick: a missing element should fail in seconds, not minutes.
TIMEOUT_MS = 5_000

# Runs in every document before its own scripts. Playwright injects it through the DevTools
# protocol, so the page's CSP does not apply to it, and the binding it calls is not a script.
WATCH_CSP = """
document.addEventListener("securitypolicyviolation", (event) => {
  window.__innsynCspViolation(
    `${event.effectiveDirective} blocked ${event.blockedURI || "(inline)"}` +
      ` in ${event.sourceFile || event.documentURI}:${event.lineNumber}`
  );
});
"""


@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    """One headless Chromium for all browser tests.

    Package scope (not session): Playwright's sync API keeps an asyncio loop marked as running
    in the main thread for as long as it lives, which would break any later non-browser test in
    the same run that starts a loop of its own. Under `pytest tests/browser` this is the session.
    """
    if not (CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)):
        pytest.fail(
            f"{CHROMIUM} is missing: the browser tests drive Debian's Chromium. "
            "Install it with `make system-deps` (scripts/system-deps.sh, as root). "
            "Do not run `playwright install`; its browser download is not used.",
            pytrace=False,
        )
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def portal_url(database_url: str, var_dir: Path, engine: Engine) -> Iterator[str]:
    """The portal, with the mock BankID mounted, under uvicorn on a free loopback port."""

    def app(url: str):
        return create_app(make_settings(database_url, var_dir, PORTAL_BASE_URL=url))

    with live_server(app) as server:
        yield server.url


@dataclass
class PageProblems:
    """Console errors, uncaught exceptions and CSP violations seen in a test's pages."""

    seen: list[str] = field(default_factory=list)
    expected: list[re.Pattern[str]] = field(default_factory=list)

    def expect(self, pattern: str) -> None:
        """Accept problems matching `pattern` (a regex searched in the recorded text)."""
        self.expected.append(re.compile(pattern))

    def unexpected(self) -> list[str]:
        return [p for p in self.seen if not any(e.search(p) for e in self.expected)]

    def watch(self, context: BrowserContext) -> None:
        context.on("console", self._console)
        context.on("weberror", lambda error: self.seen.append(f"page error: {error.error}"))
        context.expose_binding(
            "__innsynCspViolation",
            lambda source, text: self.seen.append(f"CSP violation: {text}"),
        )
        context.add_init_script(WATCH_CSP)

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            where = message.location.get("url") or (message.page.url if message.page else "?")
            self.seen.append(f"console error: {message.text} [{where}]")


@pytest.fixture
def problems() -> PageProblems:
    return PageProblems()


@pytest.fixture
def new_page(
    browser: Browser, portal_url: str, problems: PageProblems
) -> Iterator[Callable[..., Page]]:
    """Open a page in a new, watched browser context; options go to `browser.new_context`."""
    contexts: list[BrowserContext] = []

    def new_page(**options: Any) -> Page:
        context = browser.new_context(
            **{"base_url": portal_url, "locale": "nb-NO", "timezone_id": "Europe/Oslo", **options}
        )
        contexts.append(context)
        context.set_default_timeout(TIMEOUT_MS)
        problems.watch(context)
        return context.new_page()

    yield new_page
    for context in contexts:
        # Let events still in flight (a late console message, a CSP report) reach us first.
        for page in context.pages:
            page.wait_for_timeout(50)
        context.close()
    if unexpected := problems.unexpected():
        pytest.fail("the browser reported problems:\n  " + "\n  ".join(unexpected), pytrace=False)


@pytest.fixture
def page(new_page: Callable[..., Page]) -> Page:
    """A page in a fresh browser context, with Norwegian as the browser's language."""
    return new_page()


@pytest.fixture
def sign_in(problems: PageProblems) -> Callable[..., None]:
    """Sign in through the landing page and the mock BankID, as a person would."""

    def sign_in(page: Page, *, choice: str | re.Pattern[str], lands_on: str) -> None:
        page.goto("/")
        page.get_by_role("link", name="Logg inn med BankID").click()
        page.get_by_role("heading", name="Sign in with BankID").wait_for()
        page.get_by_role("button", name=choice).click()
        page.wait_for_url(f"**{lands_on}")

    return sign_in
