"""/dpo/dashboard: the DPO's key figures, reached from every console page; only the DPO
sees it; its charts and their table say the same numbers."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from starlette.testclient import TestClient

from portal.app import create_app
from portal.audit import AuditActor, record
from portal.audit.chain import check_and_record
from portal.db import session_scope
from portal.models import Assurance, StaffRoleName
from portal.settings import Settings
from portal.workflows.requests import DataRequest, RequestStatus, RequestType
from tests.conftest import TEST_SECRET
from tests.support import Clock, signed_in_client
from tests.workflows.test_dpo_pages import add_staff

# Thursday 26 Nov 2026, 10:00 in Oslo.
NOW = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture
def clock() -> Clock:
    clock = Clock()
    clock.now = NOW
    return clock


@pytest.fixture
def client(settings: Settings, demo_sources, clock: Clock) -> Iterator[TestClient]:
    app = create_app(settings, now=clock, sources=demo_sources)
    with TestClient(app, follow_redirects=False) as c:
        c.cookies.set("lang", "en")
        yield c


def sign_in_at_now(client: TestClient, staff_id: int) -> None:
    signed_in_client(client, secret_key=TEST_SECRET, staff_id=staff_id, now=NOW)
    client.cookies.set("lang", "en")


@pytest.fixture
def dpo(client: TestClient) -> int:
    staff_id = add_staff(client, StaffRoleName.dpo, sub="dpo")
    sign_in_at_now(client, staff_id)
    return staff_id


def add_request(client: TestClient, received: datetime, kind: RequestType, **values) -> None:
    with session_scope(client.app.state.engine) as db:
        db.add(
            DataRequest(
                subject_id=None,
                type=kind,
                status=values.pop("status", RequestStatus.verified),
                assurance=Assurance.high,
                received_at=received,
                due_at=values.pop("due", received + timedelta(days=30)),
                **values,
            )
        )


def test_only_the_dpo_sees_it(client: TestClient) -> None:
    assert client.get("/dpo/dashboard").status_code == 303
    for role, sub in ((StaffRoleName.staff, "cs"), (StaffRoleName.admin, "root")):
        sign_in_at_now(client, add_staff(client, role, sub=sub))
        assert client.get("/dpo/dashboard").status_code == 403
        assert 'href="/dpo/dashboard"' not in client.get("/staff").text


def test_reached_from_the_queue_and_the_staff_page(client: TestClient, dpo: int) -> None:
    """The console's navigation, on every page of the console, leads to it and to the log."""
    for path in ("/dpo", "/staff", "/dpo/audit"):
        assert '<a href="/dpo/dashboard">Key figures</a>' in client.get(path).text
    page = client.get("/dpo/dashboard").text
    assert '<a href="/dpo/dashboard" aria-current="page">Key figures</a>' in page
    assert '<a href="/dpo/audit">Audit log</a>' in page


def test_the_numbers_and_the_charts_that_show_them(client: TestClient, dpo: int) -> None:
    add_request(client, NOW - timedelta(days=1), RequestType.access)
    add_request(client, NOW - timedelta(days=2), RequestType.access)
    add_request(client, NOW - timedelta(days=9), RequestType.erasure, due=NOW - timedelta(days=1))
    for days in (2, 10, 40):
        closed = NOW - timedelta(days=3)
        add_request(client, closed - timedelta(days=days), RequestType.objection,
                    status=RequestStatus.completed, closed_at=closed)  # fmt: skip
    response = client.get("/dpo/dashboard")
    page = response.context["page"]
    assert (page.open, page.overdue, page.completed) == (3, 1, 3)
    assert (page.median_days, page.p90_days) == ("10", "40")
    assert page.quiet_types == ("Portability", "Rectification", "Restriction")
    assert [chart.title for chart in page.charts] == [
        "Every request",
        "Access",
        "Erasure",
        "Objection",
    ]
    # The table: this week (from 23 Nov) has the two access requests; the week before the erasure.
    assert page.weeks[-1].week == "Week 48" and page.weeks[-1].starts == "23 Nov 2026"
    assert page.weeks[-1].counts[:3] == (2, 0, 0) and page.weeks[-1].total == 2
    assert page.weeks[-2].counts[2] == 1
    # The chart of every request: twelve bars, the last one says 2, as text.
    svg = ET.fromstring(str(page.charts[0].svg))  # noqa: S314 - our own SVG
    groups = svg.findall(f"{SVG}g")
    assert len(groups) == 12
    assert [t.text for t in groups[-1].findall(f"{SVG}text")] == ["2", "48"]
    assert groups[-1].find(f"{SVG}title").text == "Week 48, from 23 Nov 2026: 2"
    assert svg.find(f"{SVG}desc").text.startswith("6 requests in twelve weeks")
    assert '<svg xmlns="http://www.w3.org/2000/svg" class="chart" id="chart-all"' in response.text
    assert "<script" not in response.text.split("<main", 1)[1]


def test_the_audit_logs_last_verification(client: TestClient, dpo: int) -> None:
    assert "has not been verified yet" in client.get("/dpo/dashboard").text
    with session_scope(client.app.state.engine) as db:
        record(db, actor=AuditActor.system, actor_id=None, action="x", now=NOW)
    check_and_record(client.app.state.engine, NOW - timedelta(hours=1))
    assert (
        "Last verified 26 Nov 2026, 09:00: 1 entry, unchanged." in client.get("/dpo/dashboard").text
    )


def test_in_norwegian(client: TestClient, dpo: int) -> None:
    client.cookies.set("lang", "nb")
    add_request(client, NOW - timedelta(days=1), RequestType.access)
    text = client.get("/dpo/dashboard").text
    assert "<h1>Nøkkeltall</h1>" in text and "Uke 48" in text
