"""Recipients told (art. 19) in Chromium: the case page's section with open tasks and the DPO's
form, the person's list on their request's page, and a recipient's link page; WCAG 2.1 A/AA by
axe-core at 1280 and 390 CSS px, nothing scrolling sideways on a phone."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy.engine import Engine

from portal.datamap import load_datamap
from portal.db import session_scope, utcnow
from portal.demo import DATAMAP_PATH
from portal.models import Assurance
from portal.settings import Settings
from portal.workflows import recipients
from portal.workflows.requests import Actor, RequestType, apply, file_request
from tests.browser.test_accessibility import assert_accessible
from tests.browser.test_person_pages_browser import assert_no_sideways_scroll
from tests.support import add_demo_subject

pytestmark = pytest.mark.browser

DPO = re.compile(r"\bpersonvern\b")
KARI = re.compile(r"^Kari Nordmann\b")
WIDTHS = (1280, 390)
# Set to a directory to keep screenshots of the pages (both widths).
SHOTS = os.environ.get("CASE_SCREENSHOTS")


def shoot(page: Page, name: str) -> None:
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=f"{SHOTS}/{name}.png", full_page=True)


@pytest.fixture
def restricted(engine: Engine, demo_sources) -> int:
    """Kari's restriction, completed: the recipients of her data were told."""
    now = utcnow()
    person = add_demo_subject(engine, "ordinary")
    with session_scope(engine) as db:
        request = file_request(
            db,
            subject_id=person,
            type=RequestType.restriction,
            assurance=Assurance.high,
            actor=Actor.person,
            details="Jeg bestrider kravet.",
            now=now,
        )
        apply(db, request, "start", actor=Actor.dpo, now=now)
        apply(db, request, "complete", actor=Actor.dpo, reason="Begrenset.", now=now)
        made = recipients.tell_about_request(
            db,
            request,
            recipients.TaskAction.restriction,
            datamap=load_datamap(DATAMAP_PATH),
            sources=demo_sources,
            now=now,
        )
        assert made
        return request.id or 0


def test_the_case_page_lists_the_tasks_and_the_dpo_records_one(
    page: Page, sign_in: Callable[..., None], restricted: int
) -> None:
    sign_in(page, choice=DPO, lands_on="/dpo")
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        page.goto(f"/dpo/requests/{restricted}")
        expect(page.locator("#recipients")).to_contain_text("Posten Bring")
        expect(page.locator("p.open-tasks")).to_contain_text("har ikke bekreftet ennå")
        assert_no_sideways_scroll(page)
        assert_accessible(page)
        shoot(page, f"recipients-case-{width}")
    form = page.locator("form.recipient-record").first
    form.get_by_label("Hvordan bekreftet de det?").fill("Bekreftet på telefon")
    form.get_by_role("button", name="Registrer bekreftelsen").click()
    page.wait_for_url(f"**/dpo/requests/{restricted}")
    expect(page.get_by_role("status")).to_contain_text("Bekreftelsen er registrert")
    expect(page.locator("#recipients tr.confirmed")).to_have_count(1)


def test_the_person_and_the_recipient_see_their_pages(
    page: Page, sign_in: Callable[..., None], restricted: int, engine: Engine, settings: Settings
) -> None:
    sign_in(page, choice=KARI, lands_on="/me")
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        page.goto(f"/me/requests/{restricted}")
        expect(page.locator("#recipients-told")).to_contain_text("Posten Bring")
        assert_no_sideways_scroll(page)
        assert_accessible(page)
        shoot(page, f"recipients-person-{width}")
    with session_scope(engine) as db:
        task = next(t for t in recipients.tasks_of(db, restricted) if t.email)
        task_id = task.id or 0
    base = page.url.split("/me/", 1)[0]
    url = recipients.confirm_url(task_id, "nb", utcnow(), settings).split("?", 1)[1]
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        page.goto(f"{base}/recipients/task?{url}")
        expect(page.get_by_role("heading", level=1)).to_contain_text("Bekreft at det er gjort")
        assert_no_sideways_scroll(page)
        assert_accessible(page)
        shoot(page, f"recipients-link-{width}")
    page.get_by_role("button", name="Bekreft at det er gjort").click()
    page.wait_for_url("**/recipients/task/done")
    expect(page.get_by_role("status")).to_contain_text("Takk")
