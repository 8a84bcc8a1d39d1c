"""Exports in a real browser: ask for one, watch the progress finish (htmx polling, then a plain
reload without JavaScript), download the JSON and open it.

Every export here goes to the worker (EXPORT_BACKGROUND_ROWS=0), which runs in a thread of the
test process against the same database, as `portal serve` runs one in development.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import jsonschema
import pytest
from playwright.sync_api import Page, expect
from sqlalchemy.engine import Engine

from portal.app import create_app
from portal.exports import service
from portal.exports.document import SCHEMA_FILE
from portal.exports.jobs import build_job
from portal.jobs.worker import start_in_thread
from tests.browser.conftest import PageProblems
from tests.browser.test_accessibility import assert_accessible
from tests.conftest import make_settings
from tests.support import live_server

# real_clock: the worker thread polls with timed waits, which hang under libfaketime.
pytestmark = [pytest.mark.browser, pytest.mark.real_clock]
# The worker builds the files (a PDF takes a second or two): allow more than a click's wait.
READY_MS = 30_000


@pytest.fixture
def portal_url(database_url: str, var_dir: Path, engine: Engine) -> Iterator[str]:
    """The portal with every export built in the background, and a worker beside it."""

    def app(url: str):
        settings = make_settings(
            database_url, var_dir, PORTAL_BASE_URL=url, EXPORT_BACKGROUND_ROWS="0"
        )
        made = create_app(settings)
        service.set_runtime(service.runtime_for(settings, made.state.datamap, made.state.sources))
        return made

    worker = start_in_thread(
        engine, handlers={service.BUILD_JOB: build_job}, poll_interval=0.2, schedule=[]
    )
    try:
        with live_server(app) as server:
            yield server.url
    finally:
        worker.stop()
        service.set_runtime(None)


def test_ask_watch_download_and_open_the_json(
    page: Page, sign_in: Callable[..., None], problems: PageProblems, tmp_path: Path
) -> None:
    sign_in(page, choice=re.compile(r"^Kari Nordmann\b"), lands_on="/me")
    page.goto("/me/exports")
    assert_accessible(page)
    expect(page.locator("#scope-access")).to_be_checked()
    page.locator("form.export-form button[type=submit]").click()
    page.wait_for_url(re.compile(r"/me/exports/[\w-]+$"))
    address = page.url
    progress = page.locator("#export-progress")
    expect(progress).to_have_attribute("hx-get", re.compile(r"^/me/exports/"))
    assert_accessible(page)
    # htmx polls the fragment and swaps it in place until the worker is done.
    expect(progress).to_have_attribute("data-status", "ready", timeout=READY_MS)
    assert page.url == address
    expect(progress.locator("a.download")).to_have_count(3)
    assert_accessible(page)

    with page.expect_download() as info:
        progress.locator("a.download-json").click()
    saved = tmp_path / "export.json"
    info.value.save_as(saved)
    document = json.loads(saved.read_text(encoding="utf-8"))
    jsonschema.validate(document, json.loads(SCHEMA_FILE.read_text(encoding="utf-8")))
    assert document["export"]["subject"]["name"] == "Kari Nordmann"
    tables = {table["key"]: table for table in document["tables"]}
    assert tables["shop_orders"]["row_count"] == len(tables["shop_orders"]["rows"]) > 0

    page.goto("/me/exports")
    expect(page.locator("table.exports tbody tr")).to_have_count(1)

    # A broken link: a clear page, nothing downloaded.
    problems.expect(r"status of 400")
    response = page.goto("/me/exports/download?link=not-a-link")
    assert response is not None and response.status == 400
    expect(page.locator(".error-page")).to_have_attribute("data-reason", "invalid")
    assert_accessible(page)


def test_progress_without_javascript_by_reloading(
    new_page: Callable[..., Page], sign_in: Callable[..., None]
) -> None:
    page = new_page(java_script_enabled=False)
    sign_in(page, choice=re.compile(r"^Hilde Strand\b"), lands_on="/me")
    page.goto("/me/exports")
    page.locator("#scope-portability").check()
    page.locator("form.export-form button[type=submit]").click()
    page.wait_for_url(re.compile(r"/me/exports/[\w-]+$"))
    progress = page.locator("#export-progress")
    for _ in range(60):
        if progress.get_attribute("data-status") == "ready":
            break
        page.locator("a.check-again").click()  # the plain link reloads the page
        page.wait_for_timeout(500)
    expect(progress).to_have_attribute("data-status", "ready")
    expect(progress.locator("a.download")).to_have_count(3)
