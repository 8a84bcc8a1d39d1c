"""Issue 19's acceptance, end to end in Chromium: a person files an erasure request; the DPO
signs in, lands on the queue, finds the request by the person's name, assigns it, reviews the
plan with its bookkeeping hold and approves; the worker carries it out and the processor tasks
appear; the person sees the outcome, which recipients were told, and downloads the letter.

The erasure really runs, so this test has a demo company of its own (a fresh SQLite database),
never the one the other tests share; the worker runs in a thread of the test process, as
`portal serve` runs one in development.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy.engine import Engine

from portal.app import create_app
from portal.datamap import load_datamap
from portal.db import make_engine
from portal.demo import DATAMAP_PATH
from portal.demo.seed import seed
from portal.i18n import translations
from portal.jobs.worker import start_in_thread
from portal.workflows import erasure_run
from tests.browser.test_accessibility import assert_accessible
from tests.conftest import DEMO_PEOPLE, DEMO_TODAY, make_settings
from tests.support import live_server

# real_clock: the worker thread polls with timed waits, which hang under libfaketime.
pytestmark = [pytest.mark.browser, pytest.mark.real_clock]
DONE_MS = 30_000  # the worker plans, erases and writes the letter


def nb(message: str) -> str:
    return translations("nb").gettext(message)


@pytest.fixture
def own_company(tmp_path: Path) -> Iterator[dict[str, Engine]]:
    engine = make_engine(f"sqlite:///{tmp_path / 'company.db'}")
    seed(engine, DEMO_PEOPLE, today=DEMO_TODAY)
    yield dict.fromkeys(load_datamap(DATAMAP_PATH).sources, engine)
    engine.dispose()


@pytest.fixture
def portal_url(
    database_url: str, var_dir: Path, engine: Engine, own_company: dict[str, Engine]
) -> Iterator[str]:
    def app(url: str):
        made = create_app(
            make_settings(database_url, var_dir, PORTAL_BASE_URL=url), sources=own_company
        )
        erasure_run.set_runtime(made.state.datamap, own_company)
        return made

    worker = start_in_thread(engine, poll_interval=0.2, schedule=[])
    try:
        with live_server(app) as server:
            yield server.url
    finally:
        worker.stop()
        erasure_run.set_runtime(load_datamap(DATAMAP_PATH), {})


def test_a_person_files_an_erasure_the_dpo_approves_it_and_the_person_gets_the_letter(
    new_page: Callable[..., Page], sign_in: Callable[..., None], tmp_path: Path
) -> None:
    person = new_page()
    sign_in(person, choice=re.compile(r"^Kari Nordmann\b"), lands_on="/me")
    person.goto("/me/requests/new?type=erasure")
    person.locator("form.request-form button[type=submit]").click()
    person.wait_for_url(re.compile(r"/me/requests/\d+$"))
    request_id = person.url.rsplit("/", 1)[1]
    expect(person.locator(".status")).to_have_text(nb("awaiting approval"))

    dpo = new_page()
    sign_in(dpo, choice=re.compile(r"\bpersonvern\b"), lands_on="/dpo")
    # The DPO finds it by the person's name, and takes it.
    search = dpo.get_by_label("Søk etter referanse, navn, e-postadresse eller kundenummer")
    search.fill("Kari Nordmann")
    dpo.get_by_role("button", name="Søk", exact=True).click()
    status = dpo.locator("#queue-status")
    expect(status).to_contain_text("funnet med søket")  # the search's answer is in
    row = dpo.locator("table.queue tbody tr", has=dpo.locator(f'a[href$="/{request_id}"]'))
    expect(dpo.locator("table.queue tbody tr")).to_have_count(1)
    expect(row).to_contain_text(nb("awaiting approval"))
    assert "Kari" not in dpo.url and "Nordmann" not in dpo.url
    dpo.get_by_role("button", name=f"Tildel til meg (henvendelse {request_id})").click()
    expect(status).to_contain_text("tildelt deg")
    expect(row).to_contain_text("Per Personvernombud (deg)")
    row.locator(f'a[href$="/{request_id}"]').click()
    dpo.wait_for_url(f"**/dpo/requests/{request_id}")
    # The plan keeps the bookkeeping records, and says so in plain words with the law.
    expect(dpo.locator("main")).to_contain_text("bokføringsloven")
    assert_accessible(dpo)
    dpo.locator("#approve-form button").click()
    expect(dpo.locator(".flash")).to_be_visible()
    # The worker carries the plan out: partially completed, since the bookkeeping records stay.
    done = nb("partially completed")
    for _ in range(DONE_MS // 500):
        dpo.reload()
        if dpo.locator(".status").inner_text().strip() == done:
            break
        dpo.wait_for_timeout(500)
    expect(dpo.locator(".status")).to_have_text(done)
    # The processors of what was erased are told (art. 19): their tasks are on the case page.
    expect(dpo.locator("#recipients table.recipient-tasks tbody tr")).not_to_have_count(0)
    assert_accessible(dpo)

    # The erasure ended the person's sessions with the rest; they sign in again to read it.
    sign_in(person, choice=re.compile(r"^Kari Nordmann\b"), lands_on="/me")
    person.goto(f"/me/requests/{request_id}")
    expect(person.locator(".status")).to_have_text(done)
    expect(person.locator("#recipients-told")).to_be_visible()
    assert_accessible(person)
    # The letter is a PDF made on request: seconds on a busy machine, more than a click's wait.
    with person.expect_download(timeout=DONE_MS) as info:
        person.locator(".letter-download a").click(timeout=DONE_MS)
    letter = tmp_path / "letter.pdf"
    info.value.save_as(letter)
    assert letter.read_bytes().startswith(b"%PDF")
