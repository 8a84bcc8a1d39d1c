"""The DPO's case page in Chromium: a planned erasure that was waiting for the person's answer,
with a duplicate, a note and record holds named from the data map; WCAG 2.1 A/AA by axe-core at
1280 and 390 CSS px, nothing scrolling sideways on a phone, and the data found shown on demand
with htmx and without JavaScript."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy.engine import Engine
from sqlmodel import select

from portal.datamap import load_datamap
from portal.db import session_scope, utcnow
from portal.demo import DATAMAP_PATH
from portal.models import Assurance, StaffMember
from portal.workflows import erasure_service, notes
from portal.workflows.requests import Actor, RequestType, apply, file_request, person_answered
from tests.browser.test_accessibility import assert_accessible
from tests.browser.test_person_pages_browser import assert_no_sideways_scroll
from tests.support import add_demo_subject

pytestmark = pytest.mark.browser

DPO = re.compile(r"\bpersonvern\b")
KARI = re.compile(r"^Kari Nordmann\b")
WIDTHS = (1280, 390)
# Set to a directory to keep screenshots of the page (nb and en, both widths).
SHOTS = os.environ.get("CASE_SCREENSHOTS")


@pytest.fixture
def case_id(engine: Engine, demo_sources) -> int:
    """Kari's erasure: asked and answered a week later (the deadline moved on), planned; an
    earlier erasure of hers, completed (a duplicate); a note by the DPO."""
    now = utcnow()
    person = add_demo_subject(engine, "ordinary")
    with session_scope(engine) as db:
        first = file_request(
            db,
            subject_id=person,
            type=RequestType.erasure,
            assurance=Assurance.high,
            actor=Actor.person,
            now=now - timedelta(days=12),
        )
        apply(db, first, "start", actor=Actor.system, now=now - timedelta(days=11))
        apply(db, first, "complete", actor=Actor.system, now=now - timedelta(days=11))
        request = file_request(
            db,
            subject_id=person,
            type=RequestType.erasure,
            assurance=Assurance.high,
            actor=Actor.person,
            now=now - timedelta(days=9),
        )
        apply(
            db,
            request,
            "ask_subject",
            actor=Actor.dpo,
            reason="Vil du også at nyhetsbrevet skal slettes?",
            now=now - timedelta(days=8),
        )
        person_answered(db, request, "Ja, alt.", subject_id=person, now=now - timedelta(days=1))
        request_id = request.id
    with session_scope(engine) as db:
        erasure_service.plan_request(
            db,
            request_id,
            datamap=load_datamap(DATAMAP_PATH),
            sources=demo_sources,
            now=now,
            actor=Actor.system,
        )
    return request_id


def add_note(engine: Engine, request_id: int) -> None:
    with session_scope(engine) as db:
        staff_id = db.exec(select(StaffMember.id)).first()
        notes.add_note(
            db, request_id, None, "Ringte henne: gjelder alt.", staff_id=staff_id, now=utcnow()
        )


def test_the_case_page_passes_axe_fits_a_phone_and_shows_the_data_on_demand(
    page: Page, sign_in: Callable[..., None], engine: Engine, case_id: int
) -> None:
    sign_in(page, choice=DPO, lands_on="/dpo")
    add_note(engine, case_id)
    page.goto(f"/dpo/requests/{case_id}")
    expect(page.locator("#duplicates")).to_contain_text("Mulig dublett")
    expect(page.get_by_label("Behold")).to_contain_text("fullført")
    expect(page.locator("#notes")).to_contain_text("Ringte henne")
    expect(page.locator("ol.request-timeline:not(.notes-list)")).to_contain_text(
        "Fristen sto stille i 7 dager"
    )
    options = page.locator("#record-hold-record option")
    expect(options.filter(has_text=re.compile(r"^Ordre O\d+, "))).not_to_have_count(0)
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        page.goto(f"/dpo/requests/{case_id}")
        assert_no_sideways_scroll(page)
        assert_accessible(page)
        if SHOTS:
            for language in ("nb", "en"):
                page.context.add_cookies([{"name": "lang", "value": language, "url": page.url}])
                page.reload()
                Path(SHOTS).mkdir(parents=True, exist_ok=True)
                page.screenshot(path=f"{SHOTS}/case-{language}-{width}.png", full_page=True)
            page.context.add_cookies([{"name": "lang", "value": "nb", "url": page.url}])
    page.goto(f"/dpo/requests/{case_id}")
    page.get_by_role("link", name="Vis dataene som ble funnet").click()
    found = page.locator("section.data-found")
    expect(found).to_contain_text("oppføringer funnet")
    assert page.url.endswith(f"/dpo/requests/{case_id}")  # htmx: on the case page
    assert_accessible(page)


def test_the_data_found_without_javascript(
    new_page: Callable[..., Page], sign_in: Callable[..., None], case_id: int
) -> None:
    page = new_page(java_script_enabled=False)
    sign_in(page, choice=DPO, lands_on="/dpo")
    page.goto(f"/dpo/requests/{case_id}")
    page.get_by_role("link", name="Vis dataene som ble funnet").click()
    page.wait_for_url(f"**/dpo/requests/{case_id}/data")
    expect(page.get_by_role("heading", level=1)).to_contain_text(str(case_id))
    expect(page.locator("section.data-found")).to_contain_text("oppføringer funnet")


def test_the_person_answers_the_question_on_their_request_page(
    page: Page, sign_in: Callable[..., None], engine: Engine
) -> None:
    now = utcnow()
    person = add_demo_subject(engine, "ordinary")
    with session_scope(engine) as db:
        request = file_request(
            db,
            subject_id=person,
            type=RequestType.rectification,
            assurance=Assurance.high,
            actor=Actor.person,
            details="Adressen er feil.",
            now=now - timedelta(days=3),
        )
        apply(
            db,
            request,
            "ask_subject",
            actor=Actor.dpo,
            reason="Hvilken adresse er riktig?",
            now=now - timedelta(days=1),
        )
        request_id = request.id
    sign_in(page, choice=KARI, lands_on="/me")
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        page.goto(f"/me/requests/{request_id}")
        expect(page.locator("#answer")).to_contain_text("Hvilken adresse er riktig?")
        assert_no_sideways_scroll(page)
        assert_accessible(page)
        if SHOTS:
            page.screenshot(path=f"{SHOTS}/answer-nb-{width}.png", full_page=True)
    page.get_by_label("Svaret ditt").fill("Storgata 1, 0155 Oslo.")
    page.get_by_role("button", name="Send svaret").click()
    page.wait_for_url(f"**/me/requests/{request_id}")
    expect(page.get_by_role("status")).to_contain_text("Takk")
    expect(page.locator("#answer")).to_have_count(0)
    expect(page.locator("ol.request-timeline")).to_contain_text("Storgata 1, 0155 Oslo.")
