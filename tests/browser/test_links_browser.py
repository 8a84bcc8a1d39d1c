"""E-mailed links in a real browser, both ways a person comes to the portal:

* without BankID: the public form, the confirmation link from the e-mail, the DPO verifying the
  person, and the copy downloaded by the link that arrives;
* with BankID: a person adds an old address, confirms it from the e-mail, and /me shows the rows
  held under it (the demo's Ola Nordmann, whose old shop account is under an address nothing
  links to him).

The e-mails are read from the outbox, as delivery would send them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from portal.demo import EDGE_CASES_BY_KEY
from portal.jobs.outbox import OutboxMessage
from tests.browser.conftest import PageProblems
from tests.browser.test_accessibility import assert_accessible

pytestmark = pytest.mark.browser

# The DPO's verification makes the copy at once (a PDF takes a second or two).
SLOW_MS = 30_000


def mail(engine: Engine, kind: str, email: str) -> OutboxMessage:
    """The newest message of this kind to this address."""
    with Session(engine) as db:
        found = db.exec(
            select(OutboxMessage)
            .where(OutboxMessage.kind == kind, OutboxMessage.email == email)
            .order_by(OutboxMessage.id.desc())
        ).first()
    assert found is not None, f"no {kind} message to {email}"
    return found


def local(url: str) -> str:
    """A link from an e-mail, on the portal under test (the same path and query)."""
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


def test_without_bankid_file_confirm_verify_and_download(
    new_page: Callable[..., Page],
    sign_in: Callable[..., None],
    engine: Engine,
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

    person.goto(local(mail(engine, "request_confirm", address).context["confirm_url"]))
    assert_accessible(person)
    person.get_by_role("button", name="Bekreft og send forespørselen").click()
    person.wait_for_url(re.compile(r"/requests/\d+$"))
    request_id = int(person.url.rsplit("/", 1)[1])
    expect(person.locator(".flash")).to_be_visible()
    expect(person.locator("dd.status")).to_have_text("mottatt")
    assert_accessible(person)

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

    ready = mail(engine, "export_link_ready", address)
    links = {item["file"]: local(item["url"]) for item in ready.context["downloads"]}
    # The person, not signed in, downloads by the link in the e-mail.
    got = person.request.get(links["json"])
    assert got.status == 200
    assert "attachment" in got.headers["content-disposition"]
    assert json.loads(got.body())["export"]["subject"]["national_id"].startswith("120384")
    person.reload()
    expect(person.locator("dd.status")).not_to_have_text("mottatt")
    # A changed link downloads nothing, and says so in a page of its own.
    problems.expect(r"status of 400 .*/requests/download\?link=")
    person.goto(links["pdf"][:-3] + "AAA")
    expect(person.get_by_role("heading", name="Lenken virket ikke")).to_be_visible()
    assert_accessible(person)


def test_with_bankid_a_person_proves_an_old_address_and_sees_its_rows(
    page: Page, sign_in: Callable[..., None], engine: Engine
) -> None:
    old = "ola1979@example.org"
    sign_in(page, choice=re.compile(r"^Ola Nordmann\b"), lands_on="/me")
    expect(page.locator("ul.identifiers")).not_to_contain_text(old)
    page.locator('a[href="/me/addresses"]').first.click()
    page.wait_for_url("**/me/addresses")
    assert_accessible(page)
    page.locator("#field-email").fill(old)
    page.get_by_role("button", name="Send lenken").click()
    page.wait_for_url("**/me/addresses")
    expect(page.locator("ul.waiting-addresses")).to_contain_text(old)

    page.goto(local(mail(engine, "confirm_address", old).context["confirm_url"]))
    assert_accessible(page)
    page.get_by_role("button", name="Ja, dette er adressen min").click()
    page.wait_for_url("**/me/addresses")
    expect(page.locator("ul.proven-addresses")).to_contain_text(old)

    page.goto("/me")
    expect(page.locator("ul.identifiers")).to_contain_text(old)
    # The old shop account ("ola79") is among his rows now.
    expect(page.locator("main")).to_contain_text("ola79")
