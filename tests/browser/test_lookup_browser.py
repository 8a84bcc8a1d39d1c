"""Customer service in Chromium: signs in, lands on the caller look-up, looks a caller up by
phone with a reason, opens their data and files an access request for them (the copy to the
address she proved), and records a reservation she gives on the phone; a look-up without a
reason is refused, and a shared number lists the people it leads to. WCAG 2.1 A/AA by axe-core
at 1280 and 390 CSS px, with no sideways scrolling and no table cut off on a phone."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy.engine import Engine
from sqlmodel import select

from portal.db import session_scope
from portal.jobs.outbox import OutboxMessage
from portal.models import Assurance, IdentifierKind, SubjectIdentifier
from portal.workflows.requests import DataRequest
from tests.browser.conftest import PageProblems
from tests.browser.test_accessibility import assert_accessible
from tests.browser.test_person_pages_browser import (
    assert_no_sideways_scroll,
    assert_no_table_cut_off,
)
from tests.support import add_demo_subject

pytestmark = pytest.mark.browser

CUSTOMER_SERVICE = re.compile(r"\bkundeservice\b")
PROVEN = "kari.privat@example.org"
WIDTHS = (1280, 390)


def check_at_both_widths(page: Page) -> None:
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 800})
        assert_accessible(page)
        assert_no_sideways_scroll(page)
        assert_no_table_cut_off(page)


def look_up(page: Page, kind: str, value: str, reason: str | None) -> None:
    page.get_by_label(kind, exact=True).check()
    page.get_by_label("Det de oppga").fill(value)
    if reason is not None:
        page.get_by_label(reason).check()
    page.get_by_role("button", name="Slå opp", exact=True).click()


@pytest.fixture
def kari_proved_an_address(engine: Engine) -> None:
    """Kari signed in once and proved an address at /me/addresses."""
    subject_id = add_demo_subject(engine, "ordinary")
    with session_scope(engine) as db:
        db.add(
            SubjectIdentifier(
                subject_id=subject_id,
                kind=IdentifierKind.email,
                value=PROVEN,
                assurance=Assurance.low,
            )
        )


def test_customer_service_looks_a_caller_up_by_phone_and_files_an_access_request(
    page: Page,
    sign_in: Callable[..., None],
    problems: PageProblems,
    engine: Engine,
    kari_proved_an_address: None,
) -> None:
    problems.expect(r"status of 400 .*/staff/lookup\]$")  # the form comes back refused
    sign_in(page, choice=CUSTOMER_SERVICE, lands_on="/staff/lookup")
    expect(page.get_by_role("heading", level=1)).to_have_text("Slå opp en som ringer")
    check_at_both_widths(page)

    look_up(page, "Telefonnummer", "910 00 001", None)
    expect(page.get_by_role("alert")).to_contain_text("Velg hvorfor du slår opp den som ringer.")
    expect(page.get_by_label("Det de oppga")).to_have_value("910 00 001")
    check_at_both_widths(page)

    look_up(page, "Telefonnummer", "910 00 001", "Den som ringer spør om opplysningene sine")
    page.wait_for_url(re.compile(r"/staff/lookup/\d+/people/\d+$"))
    assert "910" not in page.url
    expect(page.get_by_role("heading", level=1)).to_have_text("Kari Nordmann")
    expect(page.locator(".lookup-reason")).to_have_text("Den som ringer spør om opplysningene sine")
    expect(page.get_by_role("heading", name=re.compile("^Kundekort"))).to_be_visible()
    check_at_both_widths(page)
    person = page.url

    page.set_viewport_size({"width": 1280, "height": 800})
    form = page.locator("#access-form")
    expect(form.get_by_label(PROVEN)).to_be_checked()
    # A small copy is built while the agent waits (a PDF among its files): give it time.
    with page.expect_navigation(url=person, timeout=30_000):
        form.get_by_role("button", name="Send en innsynsbegjæring").click(no_wait_after=True)
    expect(page.locator(".flash")).to_contain_text(f"og kopien er sendt til {PROVEN}")
    check_at_both_widths(page)
    with session_scope(engine) as db:
        [request] = db.exec(select(DataRequest)).all()
        sent = db.exec(select(OutboxMessage).where(OutboxMessage.email == PROVEN)).all()
    assert (request.type, request.assurance, request.status) == ("access", "staff", "completed")
    assert sorted(message.kind for message in sent) == ["export_link_ready", "request_received"]

    page.set_viewport_size({"width": 390, "height": 800})
    with page.expect_navigation(url=person):
        page.locator("#reservation-phone").get_by_role("button", name="Reserver").click()
    expect(page.locator("#reservation-phone .state-badge")).to_have_text("Reservert")
    expect(page.locator(".consent-history")).to_contain_text("Kari Kundeservice")
    check_at_both_widths(page)


def test_a_shared_number_lists_the_people_and_a_stranger_is_not_found(
    page: Page, sign_in: Callable[..., None]
) -> None:
    sign_in(page, choice=CUSTOMER_SERVICE, lands_on="/staff/lookup")
    look_up(page, "Telefonnummer", "22 33 44 55", "Den som ringer spør om opplysningene sine")
    found = page.locator("#found")
    expect(found.get_by_role("link")).to_have_text(["Lars Dahl", "Mette Dahl"])
    check_at_both_widths(page)
    look_up(
        page, "Fødselsnummer", "28016810004", "Den som ringer vil reservere seg mot markedsføring"
    )
    expect(page.locator("#not-found")).to_contain_text("Ingen kunde har dette fødselsnummeret.")
    check_at_both_widths(page)


def test_a_protected_identity_is_marked_and_their_addresses_hidden(
    page: Page, sign_in: Callable[..., None]
) -> None:
    sign_in(page, choice=CUSTOMER_SERVICE, lands_on="/staff/lookup")
    look_up(page, "Kundenummer", "900015", "Den som ringer spør om opplysningene sine")
    page.wait_for_url(re.compile(r"/staff/lookup/\d+/people/\d+$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Knut Svendsen")
    expect(page.locator("#protected")).to_contain_text("Skjermet identitet.")
    addresses = page.get_by_role("region", name="Adressehistorikk")
    expect(addresses.locator("tbody tr").first.locator("td").first).to_have_text("Skjult")
    check_at_both_widths(page)
