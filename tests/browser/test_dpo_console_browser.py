"""The DPO's key figures and audit log in Chromium: reached from the console's navigation,
WCAG 2.1 A/AA by axe-core at 1280 and 390 CSS px, no sideways scrolling and no table cut off on
a phone, and the audit log filtered and paged without JavaScript."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy.engine import Engine

from portal.audit import AuditActor, record
from portal.audit.chain import check_and_record
from portal.db import session_scope, utcnow
from portal.models import Assurance
from portal.workflows.requests import DataRequest, RequestStatus, RequestType
from tests.browser.test_accessibility import assert_accessible
from tests.browser.test_person_pages_browser import (
    assert_no_sideways_scroll,
    assert_no_table_cut_off,
)

pytestmark = pytest.mark.browser

DPO = re.compile(r"\bpersonvern\b")
WIDTHS = (1280, 390)


@pytest.fixture
def console_data(engine: Engine) -> None:
    """Requests over the weeks (one overdue, some completed), 60 audit entries of two kinds,
    and a verification of the log."""
    now = utcnow()
    kinds = list(RequestType)
    with session_scope(engine) as db:
        for number in range(30):
            received = now - timedelta(days=number * 2 + 1)
            done = number % 3 == 0
            db.add(
                DataRequest(
                    subject_id=None,
                    type=kinds[number % 4],
                    status=RequestStatus.completed if done else RequestStatus.verified,
                    assurance=Assurance.high,
                    received_at=received,
                    due_at=received + timedelta(days=30),
                    closed_at=received + timedelta(days=number % 7 + 1) if done else None,
                )
            )
        for number in range(60):
            record(
                db,
                actor=AuditActor.system if number % 2 else AuditActor.staff,
                actor_id=None,
                action="retention.sweep" if number % 2 else "request.view",
                subject_id=number,
                details={"request_id": number + 1, "rows": number},
                now=now - timedelta(minutes=60 - number),
            )
    check_and_record(engine, now)


def test_the_key_figures_and_the_audit_log_pass_axe_and_fit_a_phone(
    page: Page, sign_in: Callable[..., None], console_data: None
) -> None:
    sign_in(page, choice=DPO, lands_on="/dpo")
    page.get_by_role("navigation", name="Konsoll").get_by_role("link", name="Nøkkeltall").click()
    page.wait_for_url("**/dpo/dashboard")
    expect(page.get_by_role("heading", level=1)).to_have_text("Nøkkeltall")
    expect(
        page.get_by_role("img", name="Alle henvendelser: henvendelser mottatt per uke")
    ).to_be_visible()
    expect(page.locator(".verification-ok")).to_contain_text("60 oppføringer, alle uendret")
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 800})
        for path in ("/dpo/dashboard", "/dpo/audit", "/dpo/audit?who=system&page=1"):
            page.goto(path)
            assert_no_sideways_scroll(page)
            if width < 1280:
                assert_no_table_cut_off(page)
            assert_accessible(page)


def test_the_audit_log_is_filtered_and_paged_without_javascript(
    new_page: Callable[..., Page], sign_in: Callable[..., None], console_data: None
) -> None:
    page = new_page(java_script_enabled=False)
    sign_in(page, choice=DPO, lands_on="/dpo")
    page.get_by_role("navigation", name="Konsoll").get_by_role("link", name="Nøkkeltall").click()
    page.get_by_role("link", name="Les revisjonsloggen").click()
    page.wait_for_url("**/dpo/audit")
    expect(page.locator("table.audit-entries tbody tr")).to_have_count(50)
    page.get_by_role("link", name="Eldre").click()
    page.wait_for_url(re.compile(r"page=2$"))
    # The 60 entries, and the DPO's look at the queue on landing (it names people).
    expect(page.locator("table.audit-entries tbody tr")).to_have_count(11)
    page.get_by_label("Hva").select_option("retention.sweep")
    page.get_by_role("button", name="Vis oppføringer").click()
    page.wait_for_url(re.compile(r"action=retention.sweep"))
    rows = page.locator("table.audit-entries tbody tr")
    expect(rows).to_have_count(30)
    expect(rows.first).to_contain_text("Portalen")
    expect(page.locator("table.audit-entries")).not_to_contain_text("request.view")
