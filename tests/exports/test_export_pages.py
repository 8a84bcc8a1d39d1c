"""The export pages over HTTP: ask, watch, download; every refused link shows a clear page and
serves nothing; the schema is public at its stable address."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs

import jsonschema
import pytest
from sqlmodel import Session, select
from starlette.testclient import TestClient

import portal.exports.jobs  # noqa: F401 - registers the handlers
from portal.app import create_app
from portal.db import session_scope
from portal.demo import EDGE_CASES_BY_KEY
from portal.exports import service
from portal.exports.document import SCHEMA_FILE
from portal.exports.models import Export, ExportStatus
from portal.jobs import queue as jobs
from portal.jobs.worker import Worker
from portal.models import Assurance, WebSession
from portal.settings import Settings
from portal.web.sessions import _hash
from portal.workflows.requests import (
    Actor,
    DataRequest,
    RequestEvent,
    RequestStatus,
    RequestType,
    apply,
    file_request,
)
from tests.conftest import TEST_SECRET, make_settings
from tests.support import Clock, add_demo_subject, csrf_token_from, signed_in_client


@pytest.fixture
def clock() -> Clock:
    return Clock()


def make_client(settings: Settings, demo_sources, clock: Clock) -> Iterator[TestClient]:
    app = create_app(settings, now=clock, sources=demo_sources)
    with TestClient(app, follow_redirects=False) as client:
        yield client


@pytest.fixture
def client(settings: Settings, demo_sources, clock: Clock) -> Iterator[TestClient]:
    yield from make_client(settings, demo_sources, clock)


def add_person(client: TestClient, key: str) -> int:
    return add_demo_subject(client.app.state.engine, key)


def run_due_jobs(client: TestClient, settings: Settings, clock: Clock) -> None:
    """The worker builds the export the page asked for, with the app's data map and sources
    (and delivers the messages due, to the development mailbox)."""
    state = client.app.state
    service.set_runtime(service.runtime_for(settings, state.datamap, state.sources))
    try:
        worker = Worker(state.engine, "t", jobs.HANDLERS, now=clock, schedule=[])
        assert worker.run_once()
        while worker.run_once():
            pass
    finally:
        service.set_runtime(None)


def sign_in(client: TestClient, subject_id: int, at: datetime | None = None) -> None:
    """A session signed in at ``at`` (default: now by the app's clock), active now."""
    now = client.app.state.now()
    sid = signed_in_client(
        client, secret_key=TEST_SECRET, subject_id=subject_id, authenticated_at=at or now
    )
    with session_scope(client.app.state.engine) as db:
        session = db.get(WebSession, _hash(sid))
        session.last_seen_at = session.created_at = now
        db.add(session)


def ask_for_export(client: TestClient, scope: str = "access") -> str:
    """POST the form; returns the export page's address."""
    page = client.get("/me/exports")
    response = client.post(
        "/me/exports", data={"scope": scope, "csrf_token": csrf_token_from(page.text)}
    )
    assert response.status_code == 303, response.text
    return response.headers["location"]


def download_links(client: TestClient, address: str) -> dict[str, str]:
    page = client.get(address)
    assert page.status_code == 200
    return {d.kind: d.href for d in page.context["page"].export.downloads}


def test_pages_need_a_signed_in_person(client: TestClient) -> None:
    for address in ("/me/exports", "/me/exports/abc", "/me/exports/download?link=abc"):
        response = client.get(address)
        assert response.status_code == 303
        assert response.headers["location"].startswith("/auth/login?")


def test_ask_download_and_open_a_small_export(client: TestClient, english: None) -> None:
    subject_id = add_person(client, "ordinary")
    sign_in(client, subject_id)
    page = client.get("/me/exports")
    assert page.template.name == "exports/list.html"
    assert page.context["page"].exports == ()

    address = ask_for_export(client)
    page = client.get(address)
    assert page.template.name == "exports/detail.html"
    export = page.context["page"].export
    assert export.status == ExportStatus.ready and not export.working
    links = {d.kind: d.href for d in export.downloads}
    assert set(links) == {"pdf", "zip", "json"}
    for href in links.values():
        # The link names no one: no national ID, name or e-mail address in it.
        assert EDGE_CASES_BY_KEY["ordinary"].national_id not in href
        assert "Nordmann" not in href

    response = client.get(links["json"])
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert "attachment" in response.headers["content-disposition"]
    document = response.json()
    assert document["export"]["subject"]["name"] == "Kari Nordmann"
    jsonschema.validate(document, json.loads(SCHEMA_FILE.read_text()))
    archive = zipfile.ZipFile(io.BytesIO(client.get(links["zip"]).content))
    assert "README.txt" in archive.namelist()
    assert client.get(links["pdf"]).content.startswith(b"%PDF")

    with Session(client.app.state.engine) as db:
        stored = db.exec(select(Export)).one()
        request = db.get(DataRequest, stored.request_id)
        actions = [
            (event.action, event.data.get("file"))
            for event in db.exec(
                select(RequestEvent)
                .where(RequestEvent.request_id == request.id)
                .order_by(RequestEvent.id)
            )
        ]
    assert stored.downloads == 3
    assert request.status == RequestStatus.completed
    assert actions == [
        ("file", None),
        ("start", None),
        ("complete", None),
        ("export_downloaded", "json"),
        ("export_downloaded", "zip"),
        ("export_downloaded", "pdf"),
    ]
    listed = client.get("/me/exports").context["page"].exports
    assert [item.href for item in listed] == [address]


def test_a_large_export_shows_progress_until_the_worker_is_done(
    database_url: str, var_dir: Path, engine, demo_sources, clock: Clock
) -> None:
    settings = make_settings(database_url, var_dir, EXPORT_BACKGROUND_ROWS="100")
    for client in make_client(settings, demo_sources, clock):
        sign_in(client, add_person(client, "frequent_buyer"))
        address = ask_for_export(client)
        page = client.get(address)
        export = page.context["page"].export
        assert export.working and export.downloads == ()
        assert 'hx-trigger="every 2s"' in page.text  # htmx polls the fragment
        assert f'href="{address}"' in page.text  # without JavaScript: a plain link to reload
        fragment = client.get(address, headers={"HX-Request": "true"})
        assert fragment.template.name == "exports/_progress.html"
        assert "<html" not in fragment.text

        run_due_jobs(client, settings, clock)
        fragment = client.get(address, headers={"HX-Request": "true"})
        export = fragment.context["page"].export
        assert export.status == ExportStatus.ready and export.percent == 100
        assert "hx-trigger" not in fragment.text  # polling stops
        assert len(export.downloads) == 3
        assert client.get(export.downloads[0].href).status_code == 200


@pytest.fixture
def ready(client: TestClient) -> tuple[int, str, dict[str, str]]:
    """Person A (Kari) with a ready export: her id, its page, its download links."""
    subject_id = add_person(client, "ordinary")
    sign_in(client, subject_id)
    address = ask_for_export(client)
    return subject_id, address, download_links(client, address)


def downloads_recorded(client: TestClient) -> int:
    with Session(client.app.state.engine) as db:
        return len(
            db.exec(select(RequestEvent).where(RequestEvent.action == "export_downloaded")).all()
        )


def assert_refused(response, reason: str, status: int) -> None:
    assert response.status_code == status
    assert response.template.name == "exports/refused.html"
    assert response.context["reason"] == reason
    assert "attachment" not in response.headers.get("content-disposition", "")
    assert not response.content.startswith((b"%PDF", b"PK", b"{"))


def test_a_link_in_another_persons_session_is_refused(
    client: TestClient, ready: tuple[int, str, dict[str, str]]
) -> None:
    _, address, links = ready
    sign_in(client, add_person(client, "two_systems"))
    for href in links.values():
        assert_refused(client.get(href), "other_person", 403)
    assert client.get(address).status_code == 404  # nor may they see the page
    assert downloads_recorded(client) == 0


def test_a_tampered_link_is_refused(
    client: TestClient, ready: tuple[int, str, dict[str, str]]
) -> None:
    href = ready[2]["json"]
    token = href.split("?link=", 1)[1]
    payload, signature = token.rsplit(".", 1)
    # A character in the middle: the last one of base64 may carry only padding bits.
    flipped = signature[:5] + ("A" if signature[5] != "A" else "B") + signature[6:]
    for bad in (f"{payload}.{flipped}", token[:-5], "not-a-link", f"x{token}"):
        assert_refused(client.get(f"/me/exports/download?link={bad}"), "invalid", 400)
    assert_refused(client.get("/me/exports/download"), "invalid", 400)
    assert downloads_recorded(client) == 0


def test_an_expired_link_is_refused(
    client: TestClient, clock: Clock, ready: tuple[int, str, dict[str, str]]
) -> None:
    subject_id, _, links = ready
    clock.now += timedelta(days=7, seconds=1)
    sign_in(client, subject_id)  # a fresh sign-in does not revive the link
    assert_refused(client.get(links["zip"]), "expired", 410)
    assert downloads_recorded(client) == 0


def test_a_link_without_a_fresh_sign_in_asks_for_one(
    client: TestClient, clock: Clock, ready: tuple[int, str, dict[str, str]]
) -> None:
    subject_id, _, links = ready
    sign_in(client, subject_id, at=clock.now - timedelta(minutes=10))
    response = client.get(links["pdf"])
    assert_refused(response, "fresh", 403)
    sign_in_href = response.context["sign_in_href"]
    assert sign_in_href.startswith("/auth/login?")
    # The fresh sign-in comes back to the same link, which then downloads.
    assert parse_qs(sign_in_href.split("?", 1)[1]) == {"next": [links["pdf"]], "fresh": ["1"]}
    assert downloads_recorded(client) == 0
    sign_in(client, subject_id)  # signed in again just now
    assert client.get(links["pdf"]).status_code == 200
    assert downloads_recorded(client) == 1


def test_deleted_files_are_not_served(
    client: TestClient, ready: tuple[int, str, dict[str, str]]
) -> None:
    _, address, links = ready
    export_id = address.rsplit("/", 1)[1]
    with session_scope(client.app.state.engine) as db:
        export = db.get(Export, export_id)
        store = service.runtime_for(client.app.state.settings, client.app.state.datamap, {}).store
        assert service.expire(db, export, store, export.expires_at)
    assert_refused(client.get(links["json"]), "gone", 410)
    page = client.get(address)
    assert page.context["page"].export.status == ExportStatus.expired


def test_refused_export_request_changes_nothing(client: TestClient) -> None:
    sign_in(client, add_person(client, "ordinary"))
    token = csrf_token_from(client.get("/me/exports").text)
    response = client.post("/me/exports", data={"request": "999999", "csrf_token": token})
    assert response.status_code == 400
    assert response.context["page"].error
    with Session(client.app.state.engine) as db:
        assert db.exec(select(Export)).all() == []
        assert db.exec(select(DataRequest)).all() == []


def test_the_schema_is_public_at_a_stable_address(client: TestClient) -> None:
    response = client.get("/schemas/export-v1.json")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/schema+json")
    assert response.json() == json.loads(SCHEMA_FILE.read_text())


def test_an_access_requests_page_offers_its_export_and_completes(
    client: TestClient, english: None
) -> None:
    subject_id = add_person(client, "ordinary")
    sign_in(client, subject_id)
    with session_scope(client.app.state.engine) as db:
        request_id = file_request(
            db,
            subject_id=subject_id,
            type=RequestType.access,
            assurance=Assurance.high,
            actor=Actor.person,
            now=client.app.state.now(),
        ).id
    page = client.get(f"/me/requests/{request_id}")
    assert page.status_code == 200
    assert 'action="/me/exports"' in page.text
    assert f'name="request" value="{request_id}"' in page.text
    response = client.post(
        "/me/exports",
        data={"request": str(request_id), "csrf_token": csrf_token_from(page.text)},
    )
    assert response.status_code == 303
    address = response.headers["location"]
    with Session(client.app.state.engine) as db:
        export = db.exec(select(Export)).one()
        assert export.request_id == request_id
        assert db.get(DataRequest, request_id).status == RequestStatus.completed
    href = download_links(client, address)["zip"]
    assert client.get(href).status_code == 200
    page = client.get(f"/me/requests/{request_id}")
    assert f'href="{address}"' in page.text  # the request links to its export
    assert 'action="/me/exports"' not in page.text  # and offers no second one
    timeline = [entry.what for entry in page.context["page"].timeline]
    assert timeline[:2] == ["Utlevering lastet ned", "Fullført"]  # the page is in bokmål


@pytest.mark.parametrize(("kind", "scope"), [("access", "access"), ("portability", "portability")])
def test_filing_an_access_or_portability_request_makes_the_copy_at_once(
    client: TestClient, english: None, kind: str, scope: str
) -> None:
    subject_id = add_person(client, "ordinary")
    sign_in(client, subject_id)
    client.cookies.set("lang", "en")
    form = client.get(f"/me/requests/new?type={kind}")
    response = client.post(
        "/me/requests/new", data={"type": kind, "csrf_token": csrf_token_from(form.text)}
    )
    assert response.status_code == 303
    address = response.headers["location"]
    assert address.startswith("/me/exports/")
    with Session(client.app.state.engine) as db:
        export = db.exec(select(Export)).one()
        request = db.get(DataRequest, export.request_id)
    assert address == f"/me/exports/{export.id}"
    assert (request.subject_id, request.type, str(export.scope)) == (subject_id, kind, scope)
    assert request.status == RequestStatus.completed
    page = client.get(address)
    assert page.context["flash"] == "We have received your request, and your copy is ready."
    assert len(page.context["page"].export.downloads) == 3
    assert client.get(address).context["flash"] is None  # shown once


def test_a_large_filed_request_goes_to_its_exports_progress(
    database_url: str, var_dir: Path, engine, demo_sources, clock: Clock, english: None
) -> None:
    settings = make_settings(database_url, var_dir, EXPORT_BACKGROUND_ROWS="100")
    for client in make_client(settings, demo_sources, clock):
        sign_in(client, add_person(client, "frequent_buyer"))
        client.cookies.set("lang", "en")
        form = client.get("/me/requests/new?type=access")
        response = client.post(
            "/me/requests/new", data={"type": "access", "csrf_token": csrf_token_from(form.text)}
        )
        page = client.get(response.headers["location"])
        assert page.context["page"].export.working
        assert "shown here when it is ready" in page.context["flash"]
        with Session(client.app.state.engine) as db:
            export = db.exec(select(Export)).one()
            assert db.get(DataRequest, export.request_id).status == RequestStatus.in_progress


def test_a_head_on_a_link_answers_without_recording_a_download(
    client: TestClient, ready: tuple[int, str, dict[str, str]]
) -> None:
    response = client.head(ready[2]["zip"])
    assert response.status_code == 200
    assert "attachment" in response.headers["content-disposition"]
    assert downloads_recorded(client) == 0
    assert client.get(ready[2]["zip"]).status_code == 200
    assert downloads_recorded(client) == 1


def test_an_export_ready_after_staff_closed_its_request_is_recorded(
    database_url: str, var_dir: Path, engine, demo_sources, clock: Clock
) -> None:
    settings = make_settings(database_url, var_dir, EXPORT_BACKGROUND_ROWS="100")
    for client in make_client(settings, demo_sources, clock):
        sign_in(client, add_person(client, "frequent_buyer"))
        ask_for_export(client)
        with session_scope(client.app.state.engine) as db:
            export = db.exec(select(Export)).one()
            request = db.get(DataRequest, export.request_id)
            apply(
                db,
                request,
                "complete",
                actor=Actor.dpo,
                reason="Sent by post.",
                now=client.app.state.now(),
            )
        run_due_jobs(client, settings, clock)
        with Session(client.app.state.engine) as db:
            events = db.exec(
                select(RequestEvent)
                .where(RequestEvent.request_id == export.request_id)
                .order_by(RequestEvent.id)
            ).all()
            assert db.get(Export, export.id).status == ExportStatus.ready
        assert [event.action for event in events][-2:] == ["complete", "export_ready"]
        assert events[-1].data == {"export": export.id}
        assert events[-1].from_status == events[-1].to_status == RequestStatus.completed


def test_an_access_request_with_a_question_stays_open_for_the_dpo(
    client: TestClient, english: None
) -> None:
    sign_in(client, add_person(client, "ordinary"))
    form = client.get("/me/requests/new?type=access")
    question = "Who did you give my phone number to in 2024?"
    data = {"type": "access", "details": question, "csrf_token": csrf_token_from(form.text)}
    address = client.post("/me/requests/new", data=data).headers["location"]
    assert client.get(address).context["page"].export.status == ExportStatus.ready
    with Session(client.app.state.engine) as db:
        request = db.exec(select(DataRequest)).one()
        actions = [e.action for e in db.exec(select(RequestEvent).order_by(RequestEvent.id))]
    assert request.details == question
    assert request.status == RequestStatus.in_progress  # the DPO answers the question
    assert actions == ["file", "start", "export_ready"]
