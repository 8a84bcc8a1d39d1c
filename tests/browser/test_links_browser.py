"""E-mailed links in a real browser, both ways a person comes to the portal, with every e-mail
read where a developer reads it: the development mailbox at /dev/mailbox.

* without BankID: the public form, the confirmation link opened from the mailbox, the follow
  link from the next e-mail, the DPO verifying the person, and the copy downloaded by the links
  that arrive in the mailbox (a JSON and a ZIP of the person's own data);
* with BankID: a person adds an old address, confirms it from the mailbox, and /me shows the rows
  held under it (the demo's Ola Nordmann, whose old shop account, "ola79", is under
  ola1979@example.org, an address nothing else links to him or to anyone).

The portal here runs no worker of its own: the test delivers the outbox when a step has queued
mail (`deliver_mail`: the delivery job, as `portal serve` runs it in development, filing each
message in the mailbox), so that no step waits on a clock.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy.engine import Engine

from portal.app import create_app
from portal.datamap import load_datamap
from portal.demo import EDGE_CASES_BY_KEY
from portal.jobs.outbox import DELIVER_JOB
from portal.jobs.worker import Worker
from portal.mail.sender import make_handler, runtime_for
from portal.settings import Settings
from tests.browser.conftest import PageProblems
from tests.browser.test_accessibility import assert_accessible
from tests.conftest import make_settings
from tests.support import live_server

pytestmark = pytest.mark.browser

# The DPO's verification makes the copy at once (a PDF takes a second or two).
SLOW_MS = 30_000


@pytest.fixture
def portal(database_url: str, var_dir: Path, engine: Engine) -> Iterator[tuple[str, Settings]]:
    """The portal under uvicorn, and its settings (the mailbox's directory, its URL)."""
    made: dict[str, Settings] = {}

    def app(url: str):
        made["settings"] = make_settings(database_url, var_dir, PORTAL_BASE_URL=url)
        return create_app(made["settings"])

    with live_server(app) as server:
        yield server.url, made["settings"]


@pytest.fixture
def portal_url(portal: tuple[str, Settings]) -> str:
    return portal[0]


@pytest.fixture
def deliver_mail(engine: Engine, portal: tuple[str, Settings]) -> Callable[[], int]:
    """Deliver every message waiting in the outbox into the development mailbox (no SMTP_HOST
    in development); returns how many went."""
    settings = portal[1]
    controller = load_datamap(settings.datamap_file).controller
    runtime = runtime_for(settings, lambda: controller)
    handlers = {DELIVER_JOB: make_handler(lambda: runtime)}

    def deliver() -> int:
        worker = Worker(engine, "browser-mail", handlers=handlers, schedule=[])
        delivered = 0
        while worker.run_once():
            delivered += 1
        return delivered

    return deliver


def open_mail(page: Page, subject: str | re.Pattern[str], to: str) -> None:
    """Open the newest message to `to` whose subject matches, from the mailbox's list."""
    page.goto("/dev/mailbox")
    row = (
        page.locator("tbody tr")
        .filter(has_text=to)
        .filter(has=page.get_by_role("link", name=subject))
    )
    row.first.get_by_role("link", name=subject).click()
    page.wait_for_url(re.compile(r"/dev/mailbox/[^/]+\.eml$"))
    expect(page.get_by_role("heading", level=1)).to_have_text(subject)


def mail_links(page: Page, path: str) -> list[str]:
    """The links of the open message's text part whose path starts with `path`."""
    return [
        link.get_attribute("href") or ""
        for link in page.locator(".mail-text a").all()
        if re.match(r"https?://[^/]+" + re.escape(path), link.get_attribute("href") or "")
    ]


def test_without_bankid_file_confirm_verify_and_download(
    new_page: Callable[..., Page],
    sign_in: Callable[..., None],
    deliver_mail: Callable[[], int],
    problems: PageProblems,
) -> None:
    kari = EDGE_CASES_BY_KEY["ordinary"]
    address = "kari.nordmann@example.com"
    person = new_page()
    person.goto("/")
    person.get_by_role("link", name="Send en forespørsel via e-post i stedet").click()
    person.wait_for_url("**/requests/new-without-bankid")
    assert_accessible(person)
    person.locator("#type-access").check()
    person.locator("#field-name").fill("Kari Nordmann")
    person.locator("#field-email").fill(address)
    person.locator("#field-customer_number").fill("900001")
    person.locator("form.request-form button[type=submit]").click()
    person.wait_for_url("**/requests/new-without-bankid/sent")
    expect(person.get_by_role("heading", name="Sjekk e-posten din")).to_be_visible()
    assert_accessible(person)

    # The confirmation link, from the mailbox.
    assert deliver_mail() == 1
    open_mail(person, "Bekreft forespørselen din", address)
    assert_accessible(person)
    [confirm] = mail_links(person, "/requests/confirm")
    person.locator(f'.mail-text a[href="{confirm}"]').click()
    assert_accessible(person)
    person.get_by_role("button", name="Bekreft og send forespørselen").click()
    person.wait_for_url(re.compile(r"/requests/\d+$"))
    request_id = int(person.url.rsplit("/", 1)[1])
    expect(person.locator(".flash")).to_be_visible()
    expect(person.locator("dd.status")).to_have_text("mottatt")
    assert_accessible(person)

    # The receipt links the request, signed as it was sent: another browser follows it.
    assert deliver_mail() == 1
    elsewhere = new_page()
    open_mail(elsewhere, f"Vi har mottatt henvendelsen din (referanse {request_id})", address)
    expect(elsewhere.locator(".mail-text")).to_contain_text("Takk for at du bekreftet")
    [follow] = mail_links(elsewhere, "/requests/follow")
    elsewhere.locator(f'.mail-text a[href="{follow}"]').click()
    elsewhere.wait_for_url(f"**/requests/{request_id}")
    expect(elsewhere.locator("dd.status")).to_have_text("mottatt")

    dpo = new_page()
    sign_in(dpo, choice=re.compile(r"\bpersonvern\b"), lands_on="/dpo")
    dpo.goto(f"/dpo/requests/{request_id}")
    expect(dpo.locator("dd.contact-customer-number")).to_have_text("900001")
    assert_accessible(dpo)
    dpo.locator("#verify-how").fill("Kundenummer og siste fakturabeløp stemmer")
    dpo.locator("#verify-national-id").fill(kari.national_id)
    dpo.locator("#verify-form button[type=submit]").click(timeout=SLOW_MS)
    dpo.wait_for_url(f"**/dpo/requests/{request_id}", timeout=SLOW_MS)
    expect(dpo.locator(".flash")).to_be_visible()
    expect(dpo.locator("dd.contact-verification")).to_contain_text("Kundenummer")

    # The copy was made at once; its download links arrive in the mailbox.
    assert deliver_mail() == 1
    open_mail(person, f"Kopien din er klar (referanse {request_id})", address)
    assert_accessible(person)
    downloads = mail_links(person, "/requests/download")
    assert len(downloads) == 3  # the PDF report, the ZIP of CSV files, the JSON document
    pdf, archive, document = downloads
    # The person, not signed in, downloads by the links in the e-mail.
    with person.expect_download() as got:
        person.locator(f'.mail-text a[href="{document}"]').click()
    exported = json.loads(Path(got.value.path()).read_bytes())
    assert exported["export"]["subject"]["national_id"].startswith(kari.national_id[:6])
    with person.expect_download() as got:
        person.locator(f'.mail-text a[href="{archive}"]').click()
    with zipfile.ZipFile(io.BytesIO(Path(got.value.path()).read_bytes())) as files:
        names = files.namelist()
        assert "export.json" in names and any(name.endswith(".csv") for name in names)
        inner = json.loads(files.read("export.json"))
    assert inner["export"]["subject"] == exported["export"]["subject"]
    person.goto(f"/requests/{request_id}")
    expect(person.locator("dd.status")).not_to_have_text("mottatt")
    # A changed link downloads nothing, and says so in a page of its own.
    problems.expect(r"status of 400 .*/requests/download\?link=")
    person.goto(pdf[:-3] + "AAA")
    expect(person.get_by_role("heading", name="Lenken virket ikke")).to_be_visible()
    assert_accessible(person)


def test_with_bankid_a_person_proves_an_old_address_and_sees_its_rows(
    page: Page, sign_in: Callable[..., None], deliver_mail: Callable[[], int]
) -> None:
    old = "ola1979@example.org"
    sign_in(page, choice=re.compile(r"^Ola Nordmann\b"), lands_on="/me")
    expect(page.locator("ul.identifiers")).not_to_contain_text(old)
    expect(page.locator("main")).not_to_contain_text("ola79")
    page.locator('a[href="/me/addresses"]').first.click()
    page.wait_for_url("**/me/addresses")
    assert_accessible(page)
    page.locator("#field-email").fill(old)
    page.get_by_role("button", name="Send lenken").click()
    page.wait_for_url("**/me/addresses")
    expect(page.locator("ul.waiting-addresses")).to_contain_text(old)

    assert deliver_mail() == 1
    open_mail(page, "Bekreft e-postadressen din", old)
    [confirm] = mail_links(page, "/me/addresses/confirm")
    page.locator(f'.mail-text a[href="{confirm}"]').click()
    assert_accessible(page)
    page.get_by_role("button", name="Ja, dette er adressen min").click()
    page.wait_for_url("**/me/addresses")
    expect(page.locator("ul.proven-addresses")).to_contain_text(old)

    page.goto("/me")
    expect(page.locator("ul.identifiers")).to_contain_text(old)
    # The old shop account ("ola79") is among his rows now.
    expect(page.locator("main")).to_contain_text("ola79")
