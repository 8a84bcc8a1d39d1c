"""The DPO's request queue in Chromium: searched, filtered and assigned with htmx (the table
swapped in place, the status line read out, the address never carrying the search), the same
without JavaScript, and WCAG 2.1 A/AA by axe-core at 1280 and 390 CSS px with nothing cut off
on a phone."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta

import pytest
from playwright.sync_api import Page, Route, expect
from sqlalchemy.engine import Engine

from portal.db import session_scope, utcnow
from portal.models import Assurance
from portal.workflows.contacts import RequestContact
from portal.workflows.requests import Actor, DataRequest, RequestType, apply, file_request
from tests.browser.test_accessibility import assert_accessible
from tests.browser.test_person_pages_browser import (
    assert_no_sideways_scroll,
    assert_no_table_cut_off,
)
from tests.support import add_demo_subject

pytestmark = pytest.mark.browser

DPO = re.compile(r"\bpersonvern\b")
WIDTHS = (1280, 390)
ROWS = "table.queue tbody tr"


@pytest.fixture
def queue_data(engine: Engine) -> dict[str, int]:
    """Kari's erasure, overdue; Knut's access request (a protected address), due in three days;
    Ola's objection, waiting for his answer (paused); a request filed without BankID."""
    now = utcnow()
    made: dict[str, int] = {}
    people = (
        ("ordinary", RequestType.erasure, 40),
        ("protected_address", RequestType.access, 27),
        ("two_systems", RequestType.objection, 20),
    )
    subjects = {key: add_demo_subject(engine, key) for key, _, _ in people}
    with session_scope(engine) as db:
        for key, kind, days_ago in people:
            subject = subjects[key]
            filed = file_request(
                db,
                subject_id=subject,
                type=kind,
                assurance=Assurance.high,
                actor=Actor.person,
                details="Ingen reklame" if kind == RequestType.objection else None,
                now=now - timedelta(days=days_ago),
            )
            made[key] = filed.id or 0
        ola = db.get(DataRequest, made["two_systems"])
        apply(db, ola, "ask_subject", actor=Actor.dpo, reason="Hvilken kanal?", now=now)
        typed = DataRequest(
            subject_id=None,
            type=RequestType.access,
            status="received",
            assurance=Assurance.low,
            received_at=now,
            due_at=now + timedelta(days=30),
        )
        db.add(typed)
        db.flush()
        db.add(RequestContact(request_id=typed.id, name="Nils Nilsen",
                              email="nils@example.org", confirmed_at=now))  # fmt: skip
        made["typed"] = typed.id or 0
    return made


def test_the_queue_with_htmx_passes_axe_and_fits_a_phone(
    page: Page, sign_in: Callable[..., None], queue_data: dict[str, int]
) -> None:
    sign_in(page, choice=DPO, lands_on="/dpo")
    expect(page.get_by_role("heading", level=1)).to_have_text("Henvendelseskø")
    status = page.locator("#queue-status")
    expect(status).to_contain_text("4 henvendelser, 1 over fristen")
    rows = page.locator(ROWS)
    expect(rows).to_have_count(4)
    expect(rows.nth(0)).to_contain_text("Kari Nordmann")
    expect(rows.nth(0)).to_contain_text("over fristen")
    expect(rows.nth(1)).to_contain_text("Skjermet")  # Knut: protected, never named
    expect(page.locator("table.queue")).not_to_contain_text("Svendsen")
    expect(rows.nth(1)).to_contain_text("snart")
    expect(page.locator("table.queue")).to_contain_text("stanset: venter på personen")
    expect(page.locator("table.queue")).to_contain_text("venter på svar fra personen")
    expect(page.locator("table.queue")).to_contain_text("Nils Nilsen")
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        page.goto("/dpo")
        assert_no_sideways_scroll(page)
        if width < 1280:
            assert_no_table_cut_off(page)
        assert_accessible(page)
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto("/dpo")
    # Search by name: the table changes in place, the address keeps the filters only.
    page.get_by_label("Søk etter referanse, navn, e-postadresse eller kundenummer").fill("nordmann")
    page.get_by_role("button", name="Søk", exact=True).click()
    expect(rows).to_have_count(2)  # Kari, and Ola (whose objection waits for him)
    expect(status).to_contain_text("2 henvendelser")
    assert "nordmann" not in page.url.lower() and page.url.endswith("/dpo")
    # Assign Kari's to me from her row; the status line says so.
    kari = queue_data["ordinary"]
    page.get_by_role("button", name=f"Tildel til meg (henvendelse {kari})").click()
    expect(status).to_contain_text(f"Henvendelse {kari} er tildelt deg.")
    expect(rows.nth(0)).to_contain_text("Per Personvernombud (deg)")
    # Only mine: a filter in the address, the search still kept in the session.
    page.get_by_label("Tildelt", exact=True).select_option(label="Meg")
    expect(rows).to_have_count(1)
    page.wait_for_url(re.compile(r"/dpo\?assignee=me$"))
    assert_accessible(page)
    page.reload()  # the page itself, from the address and the session
    expect(rows).to_have_count(1)
    expect(
        page.get_by_label("Søk etter referanse, navn, e-postadresse eller kundenummer")
    ).to_have_value("nordmann")
    page.get_by_role("button", name="Tøm søket").click()
    expect(page.get_by_role("button", name="Tøm søket")).to_have_count(0)
    expect(rows).to_have_count(1)  # still only mine


def test_search_filter_and_bulk_assign_without_javascript(
    new_page: Callable[..., Page], sign_in: Callable[..., None], queue_data: dict[str, int]
) -> None:
    page = new_page(java_script_enabled=False)
    sign_in(page, choice=DPO, lands_on="/dpo")
    rows = page.locator(ROWS)
    expect(rows).to_have_count(4)
    page.get_by_label("Type").select_option(label="Innsyn")
    page.get_by_role("button", name="Vis henvendelser").click()
    page.wait_for_url(re.compile(r"/dpo\?type=access$"))
    expect(rows).to_have_count(2)
    search = page.get_by_label("Søk etter referanse, navn, e-postadresse eller kundenummer")
    search.fill("nils@example.org")
    page.get_by_role("button", name="Søk", exact=True).click()
    page.wait_for_url(re.compile(r"/dpo\?type=access$"))
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Nils Nilsen")
    expect(rows.first).to_contain_text("E-postlenke, ikke kontrollert")
    page.get_by_role("button", name="Tøm søket").click()
    page.wait_for_url(re.compile(r"/dpo\?type=access$"))
    expect(rows).to_have_count(2)
    for key in ("protected_address", "typed"):
        page.get_by_label(f"Velg henvendelse {queue_data[key]}").check()
    page.get_by_label("Tildel de valgte henvendelsene til").select_option(
        label="Per Personvernombud"
    )
    page.get_by_role("button", name="Tildel", exact=True).click()
    page.wait_for_url(re.compile(r"/dpo\?type=access$"))
    expect(page.locator(".flash")).to_have_text("2 henvendelser er tildelt deg.")
    expect(page.locator("table.queue td.assignee").filter(has_text="(deg)")).to_have_count(2)


def _assignee(engine: Engine, request_id: int) -> int | None:
    with session_scope(engine) as db:
        found = db.get(DataRequest, request_id)
        return found.assignee_id if found else None


def test_an_assignment_clicked_while_a_search_is_on_its_way_is_never_silently_lost(
    page: Page, sign_in: Callable[..., None], queue_data: dict[str, int], engine: Engine
) -> None:
    """The search's answer is held back until the row's "Assign to me" has been clicked: the
    assignment either happens and the status line says so once all is in, or visibly does not
    happen (the button cannot be pressed); the table is the search's, the session's too."""
    sign_in(page, choice=DPO, lands_on="/dpo")
    rows, status = page.locator(ROWS), page.locator("#queue-status")
    expect(rows).to_have_count(4)
    held: list[Route] = []
    page.route("**/dpo/search", lambda route: held.append(route))
    search = page.get_by_label("Søk etter referanse, navn, e-postadresse eller kundenummer")
    search.fill("nordmann")
    with page.expect_request("**/dpo/search"):
        page.get_by_role("button", name="Søk", exact=True).click()
    kari = queue_data["ordinary"]
    assign = page.get_by_role("button", name=f"Tildel til meg (henvendelse {kari})")
    pressable = assign.is_enabled()
    if pressable:  # then it must be answered, and said once the search is in too
        with page.expect_response("**/dpo/assign"):
            assign.click()
    else:  # a person's click on a disabled button: nothing is sent
        assign.click(force=True)
    held[0].continue_()
    expect(rows).to_have_count(2)  # the search's table: Kari, and Ola
    expect(status).to_contain_text("2 henvendelser")
    page.unroute("**/dpo/search")
    if _assignee(engine, kari) is not None:
        expect(status).to_contain_text(f"Henvendelse {kari} er tildelt deg.")
    else:
        assert not pressable, "the click was taken, yet nothing was assigned"
        assign.click()  # pressable again now that the search is in
        expect(status).to_contain_text(f"Henvendelse {kari} er tildelt deg.")
    expect(rows.nth(0)).to_contain_text("Per Personvernombud (deg)")
    page.reload()  # the session's search is the one the table showed
    expect(rows).to_have_count(2)
    expect(search).to_have_value("nordmann")


def test_two_quick_filter_changes_end_with_the_second_even_if_the_first_answers_last(
    page: Page, sign_in: Callable[..., None], queue_data: dict[str, int]
) -> None:
    sign_in(page, choice=DPO, lands_on="/dpo")
    rows = page.locator(ROWS)
    expect(rows).to_have_count(4)
    held: list[Route] = []

    def hold_the_first(route: Route) -> None:
        if held:
            route.continue_()
        else:
            held.append(route)

    page.route("**/dpo/search", hold_the_first)
    kind = page.get_by_label("Type", exact=True)
    kind.select_option(label="Innsyn")
    kind.select_option(label="Sletting")
    page.wait_for_timeout(500)  # time enough for a second request, if sent, to be answered
    held[0].continue_()
    page.wait_for_url(re.compile(r"/dpo\?type=erasure$"))
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Kari Nordmann")
    expect(page.locator("#queue-status")).to_contain_text("1 henvendelse")
    page.wait_for_timeout(200)  # nothing still on its way changes it afterwards
    expect(rows).to_have_count(1)
    expect(kind).to_have_value("erasure")


def test_a_filter_chosen_while_an_assignment_is_on_its_way_is_not_undone_by_its_answer(
    page: Page, sign_in: Callable[..., None], queue_data: dict[str, int], engine: Engine
) -> None:
    """The older answer (the assignment's, held back) must not overwrite the newer filter's
    table; the assignment is still said in the status line on its way."""
    sign_in(page, choice=DPO, lands_on="/dpo")
    rows, status = page.locator(ROWS), page.locator("#queue-status")
    expect(rows).to_have_count(4)
    said: list[str] = []
    page.expose_function("queueStatusSaid", lambda text: said.append(text))
    page.evaluate(
        """() => new MutationObserver(() => queueStatusSaid(
            document.querySelector("#queue-status").textContent)).observe(
            document.querySelector("#queue-status"), {childList: true, subtree: true})"""
    )
    held: list[Route] = []
    page.route("**/dpo/assign", lambda route: held.append(route))
    kari = queue_data["ordinary"]
    with page.expect_request("**/dpo/assign"):
        page.get_by_role("button", name=f"Tildel til meg (henvendelse {kari})").click()
    page.get_by_label("Type", exact=True).select_option(label="Innsyn")
    page.wait_for_timeout(500)  # time enough for the filter's request, if sent, to be answered
    with page.expect_response("**/dpo/assign"):
        held[0].continue_()
    page.wait_for_url(re.compile(r"/dpo\?type=access$"))
    expect(rows).to_have_count(2)  # Knut's and Nils's access requests
    page.wait_for_timeout(200)  # nothing still on its way changes it afterwards
    expect(rows).to_have_count(2)
    expect(status).to_contain_text("2 henvendelser")  # the status line agrees with the table
    assert _assignee(engine, kari) is not None
    assert any(f"Henvendelse {kari} er tildelt deg." in text for text in said), said
