"""In a real browser: a person withdraws a consent and reserves against phone marketing; customer
service washes a small list holding her number and sees the row removed with reason "reserved".

The portal here has a demo company of its own (withdrawing changes the company's data).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Locator, Page, expect
from sqlalchemy.engine import Engine

from portal.app import create_app
from portal.datamap import load_datamap
from portal.db import make_engine
from portal.demo import DATAMAP_PATH
from portal.demo.seed import seed
from tests.browser.test_accessibility import assert_accessible
from tests.conftest import DEMO_TODAY, make_settings
from tests.support import live_server

pytestmark = pytest.mark.browser


@pytest.fixture
def portal_url(database_url: str, var_dir: Path, engine: Engine, tmp_path: Path) -> Iterator[str]:
    company = make_engine(f"sqlite:///{tmp_path / 'company.db'}")
    seed(company, 3, today=DEMO_TODAY)
    sources = dict.fromkeys(load_datamap(DATAMAP_PATH).sources, company)

    def app(url: str):
        return create_app(
            make_settings(database_url, var_dir, PORTAL_BASE_URL=url), sources=sources
        )

    with live_server(app) as server:
        yield server.url
    company.dispose()


LOOKS = """(button) => {
  const style = getComputedStyle(button);
  const box = button.getBoundingClientRect();
  return [style.backgroundColor, style.color, style.borderColor, style.borderWidth,
          style.fontSize, style.fontWeight, style.padding, Math.round(box.height)];
}"""


def looks(button: Locator) -> list:
    """What makes a button weigh more than another: colours, border, type, size."""
    return button.evaluate(LOOKS)


def test_a_reservation_washes_her_number_off_a_call_list(
    new_page: Callable[..., Page], sign_in: Callable[..., None], tmp_path: Path
) -> None:
    person = new_page()
    sign_in(person, choice=re.compile(r"^Kari Nordmann\b"), lands_on="/me")
    person.locator('#rights a[href="/me/consent"]').click()
    person.wait_for_url("**/me/consent")
    assert_accessible(person)
    newsletter = person.locator("#consent-newsletter")
    expect(newsletter.locator(".state-badge")).to_have_text("✓ Gitt")
    withdraw = newsletter.get_by_role("button", name="Trekk tilbake samtykket: Nyhetsbrev")
    give = person.locator("#consent-sms_marketing").get_by_role("button", name=re.compile("^Gi"))
    # Giving and withdrawing weigh the same: one look, one size (no nudge toward consent).
    assert looks(withdraw) == looks(give)
    withdraw.click()
    person.wait_for_url("**/me/consent*")
    expect(person.locator(".flash")).to_have_text(
        "Du har trukket tilbake samtykket til «Nyhetsbrev». Vi har stoppet, og systemene våre "
        "blir oppdatert."
    )
    expect(newsletter.locator(".state-badge")).to_have_text("– Ikke gitt")
    phone = person.locator("#reservation-phone")
    phone.get_by_role("button", name="Reserver: Telefonsamtaler").click()
    person.wait_for_url("**/me/consent*")
    expect(person.locator(".flash")).to_have_text("Du har reservert deg mot telefonsalg.")
    expect(phone.locator(".state-badge")).to_have_text("✓ Reservert")
    expect(person.locator("#history tbody tr")).to_have_count(5)  # 3 imported, 2 her own
    assert_accessible(person)

    listing = tmp_path / "call-list.csv"
    listing.write_text("navn;telefon\nKari Nordmann;+47 910 00 001\nOla Hansen;912 34 599\n")
    staff = new_page()
    sign_in(staff, choice=re.compile(r"Kundeservice"), lands_on="/staff/lookup")
    staff.get_by_role("navigation", name="Konsoll").locator('a[href="/staff/wash"]').click()
    staff.wait_for_url("**/staff/wash")
    assert_accessible(staff)
    staff.locator("#field-file").set_input_files(str(listing))
    staff.locator("#upload-form button[type=submit]").click()
    staff.wait_for_url(re.compile(r"/staff/wash/[0-9a-f]{32}$"))
    expect(staff.locator("#field-phone_column")).to_have_value("1")
    assert_accessible(staff)
    staff.locator("#options-form button[type=submit]").click()
    expect(staff.locator("#wash-summary")).to_contain_text("1")
    summary = staff.locator("#wash-summary tbody")
    expect(summary).to_contain_text(re.compile(r"reservert|reserved"))
    assert_accessible(staff)
    with staff.expect_download() as info:
        staff.locator("#download").click()
    washed = Path(info.value.path()).read_text()
    assert washed.splitlines() == ["navn;telefon", "Ola Hansen;912 34 599"]

    marked = tmp_path / "marked.csv"
    staff.goto("/staff/wash")
    staff.locator("#field-file").set_input_files(str(listing))
    staff.locator("#upload-form button[type=submit]").click()
    staff.wait_for_url(re.compile(r"/staff/wash/[0-9a-f]{32}$"))
    staff.locator("#mode-mark").check()
    staff.locator("#options-form button[type=submit]").click()
    with staff.expect_download() as info:
        staff.locator("#download").click()
    info.value.save_as(marked)
    # The reason in the washer's words (Norwegian here), and its code beside it for programs.
    assert marked.read_text().splitlines()[1] == (
        "Kari Nordmann;+47 910 00 001;reservert mot telefonsalg;reserved:phone"
    )
