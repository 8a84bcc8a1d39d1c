"""The holds page in Chromium: reached from the console's navigation, WCAG 2.1 A/AA by axe-core
at 1280 and 390 CSS px with a refused form open, nothing wider than a phone, and a hold
re-dated and released through its forms."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy.engine import Engine

from portal.db import session_scope, utcnow
from portal.models import Assurance, Subject
from portal.workflows.records import CaseHoldRecord
from portal.workflows.requests import Actor, RequestType, file_request
from portal.workflows.restriction import restrict_processing
from tests.browser.conftest import PageProblems
from tests.browser.test_accessibility import assert_accessible
from tests.browser.test_person_pages_browser import (
    assert_no_sideways_scroll,
    assert_no_table_cut_off,
)

pytestmark = pytest.mark.browser

DPO = re.compile(r"\bpersonvern\b")
WIDTHS = (1280, 390)


@pytest.fixture
def held(engine: Engine) -> dict[str, int]:
    """A litigation hold due for review from an erasure request, a hold on one record with a
    long reason, a restriction, and one released last week."""
    now = utcnow()
    with session_scope(engine) as db:
        kari = Subject(national_id="15076500565", country="NO", given_name="Kari")
        kari.family_name = "Nordmann-Bakkebø"
        ola = Subject(national_id="01010012356", country="NO")  # never signed in: no name
        db.add_all([kari, ola])
        db.flush()
        erasure = file_request(
            db,
            subject_id=kari.id,
            type=RequestType.erasure,
            assurance=Assurance.high,
            actor=Actor.person,
            now=now,
        )
        restriction = file_request(
            db,
            subject_id=ola.id,
            type=RequestType.restriction,
            assurance=Assurance.high,
            actor=Actor.person,
            now=now,
        )
        restrict_processing(db, ola.id or 0, restriction.id or 0, now)
        due = CaseHoldRecord(
            subject_id=kari.id or 0,
            kind="litigation",
            reason="Søksmål fra kunden, sak 26-123456TVI-OTIR",
            scope="person",
            set_at=now - timedelta(days=40),
            review_at=(now - timedelta(days=2)).date(),
            request_id=erasure.id,
        )
        record = CaseHoldRecord(
            subject_id=kari.id or 0,
            kind="complaint",
            reason="Klage til Forbrukertilsynet om leveringen; " * 6,
            scope="record",
            table_name="shop_orders",
            row_key="999999",
            set_at=now - timedelta(days=3),
            review_at=(now + timedelta(days=60)).date(),
        )
        gone = CaseHoldRecord(
            subject_id=ola.id or 0,
            kind="authority_request",
            reason="Pålegg fra politiet",
            scope="person",
            set_at=now - timedelta(days=30),
            released_at=now - timedelta(days=7),
            release_reason="Saken er henlagt",
        )
        db.add_all([due, record, gone])
        db.flush()
        return {"due": due.id or 0, "record": record.id or 0}


def test_the_holds_page_passes_axe_fits_a_phone_and_its_forms_work(
    page: Page, sign_in: Callable[..., None], held: dict[str, int], problems: PageProblems
) -> None:
    problems.expect(r"status of 400 \(Bad Request\) \[.*/dpo/holds\]$")  # the refused form
    sign_in(page, choice=DPO, lands_on="/dpo")
    page.get_by_role("navigation", name="Konsoll").get_by_role("link", name="Tilbakehold").click()
    page.wait_for_url("**/dpo/holds")
    expect(page.get_by_role("heading", level=1)).to_have_text("Tilbakehold")
    due = page.locator(f"#hold-{held['due']}")
    expect(due).to_contain_text("Kari Nordmann-Bakkebø")
    expect(due).to_contain_text("skal vurderes nå")
    expect(page.locator(".due-summary")).to_contain_text("1 tilbakehold skal vurderes på nytt.")
    expect(page.locator(f"#hold-{held['record']}")).to_contain_text("Ordrer, oppføring 999999")
    expect(page.locator("#limit-open_complaint")).to_contain_text("holder også på Ordrer")

    # The browser keeps a review date from the past (min); the server refuses what it cannot
    # judge: the set form comes back with the reason and what was typed.
    expect(due.get_by_label("Ny dato for ny vurdering")).to_have_attribute(
        "min", re.compile(r"^\d{4}-\d{2}-\d{2}$")
    )
    form = page.locator("#set-hold-form")
    form.get_by_label("eller fødselsnummer").fill("12345678901")
    form.get_by_label("Begrunnelse").fill("Pålegg fra Økokrim")
    form.get_by_role("button", name="Sett tilbakeholdet").click()
    expect(page.locator(".error-message")).to_be_visible()
    expect(page.locator("#set-hold-form .field-error")).to_have_count(1)
    expect(page.locator("#set-hold-form").get_by_label("Begrunnelse")).to_have_value(
        "Pålegg fra Økokrim"
    )
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 800})
        assert_no_sideways_scroll(page)
        if width < 1280:
            assert_no_table_cut_off(page)
        assert_accessible(page)

    page.goto("/dpo/holds")
    due = page.locator(f"#hold-{held['due']}")
    due.get_by_text("Endre datoen for ny vurdering").click()
    due = page.locator(f"#hold-{held['due']}")
    due.get_by_label("Ny dato for ny vurdering").fill("2099-01-31")
    due.get_by_role("button", name="Lagre datoen").click()
    expect(page.locator(".flash")).to_contain_text("skal vurderes på nytt 31. jan. 2099")
    due = page.locator(f"#hold-{held['due']}")
    expect(due).not_to_contain_text("skal vurderes nå")

    due.get_by_text("Opphev tilbakeholdet").first.click()
    due.get_by_label("Hvorfor skal det oppheves?").fill("Forlik inngått")
    due.get_by_role("button", name="Opphev tilbakeholdet").click()
    expect(page.locator(".flash")).to_contain_text(f"Tilbakehold {held['due']} er opphevet.")
    expect(page.locator("table.released-holds")).to_contain_text("Forlik inngått")
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 800})
        page.goto("/dpo/holds")
        assert_no_sideways_scroll(page)
        if width < 1280:
            assert_no_table_cut_off(page)
        assert_accessible(page)
