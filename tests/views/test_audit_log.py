"""/dpo/audit: the DPO browses the audit log by what, who, person, request and day, a page at
a time; nobody else reads it; it shows no personal data of the people the entries concern."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from starlette.testclient import TestClient

from portal.app import create_app
from portal.audit import AuditActor, record
from portal.audit.chain import check_and_record
from portal.db import session_scope
from portal.models import StaffRoleName, Subject
from portal.settings import Settings
from portal.views.audit_log import PAGE_SIZE, parse_filter
from tests.support import Clock
from tests.workflows.test_dpo_pages import add_staff, sign_in_staff

# 10:30 in Oslo (UTC+1 in November).
T0 = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)
OSLO = "Europe/Oslo"


@pytest.fixture
def client(settings: Settings, demo_sources) -> Iterator[TestClient]:
    app = create_app(settings, now=Clock(), sources=demo_sources)
    with TestClient(app, follow_redirects=False) as c:
        c.cookies.set("lang", "en")
        yield c


@pytest.fixture
def dpo(client: TestClient) -> int:
    staff_id = add_staff(client, StaffRoleName.dpo, sub="dpo")
    sign_in_staff(client, staff_id)
    return staff_id


def write(client: TestClient, *entries: dict) -> None:
    with session_scope(client.app.state.engine) as db:
        for number, entry in enumerate(entries):
            record(db, now=entry.pop("now", T0 + timedelta(minutes=number)), **entry)


def shown(response) -> list[tuple[int, str, str]]:
    assert response.status_code == 200
    return [(row.seq, row.who, row.action) for row in response.context["page"].rows]


class TestWhoReadsIt:
    def test_only_the_dpo(self, client: TestClient) -> None:
        assert client.get("/dpo/audit").status_code == 303  # to the sign-in
        for role, sub in ((StaffRoleName.staff, "cs"), (StaffRoleName.admin, "root")):
            sign_in_staff(client, add_staff(client, role, sub=sub))
            assert client.get("/dpo/audit").status_code == 403
        sign_in_staff(client, add_staff(client, StaffRoleName.dpo, sub="dpo"))
        assert client.get("/dpo/audit").status_code == 200
        assert '<a href="/dpo/audit">Audit log</a>' in client.get("/dpo").text


def test_entries_filtered_by_action_and_by_who(client: TestClient, dpo: int) -> None:
    agent = add_staff(client, StaffRoleName.staff, sub="agent-1")
    write(
        client,
        dict(actor=AuditActor.staff, actor_id=agent, action="identifier.view", subject_id=5),
        dict(actor=AuditActor.staff, actor_id=dpo, action="request.view", subject_id=5,
             details={"request_id": 7}),
        dict(actor=AuditActor.system, actor_id=None, action="erasure.deferred", subject_id=6),
        dict(actor=AuditActor.staff, actor_id=agent, action="request.view", subject_id=6,
             details={"request_id": 8}),
        dict(actor=AuditActor.person, actor_id=5, action="identifier.prove", subject_id=5),
    )  # fmt: skip
    everything = shown(client.get("/dpo/audit"))
    assert [seq for seq, _who, _action in everything] == [5, 4, 3, 2, 1]  # newest first
    assert everything[0][1] == "The person (portal id 5)"
    assert everything[2][1] == "The portal"
    by_action = shown(client.get("/dpo/audit?action=request.view"))
    assert by_action == [
        (4, "Per Personvernombud", "request.view"),
        (2, "Per Personvernombud", "request.view"),
    ]
    by_agent = shown(client.get(f"/dpo/audit?who=staff-{agent}"))
    assert [seq for seq, *_ in by_agent] == [4, 1]
    both = shown(client.get(f"/dpo/audit?action=request.view&who=staff-{agent}"))
    assert [seq for seq, *_ in both] == [4]
    assert [seq for seq, *_ in shown(client.get("/dpo/audit?who=system"))] == [3]
    assert [seq for seq, *_ in shown(client.get("/dpo/audit?who=staff"))] == [4, 2, 1]
    assert [seq for seq, *_ in shown(client.get("/dpo/audit?who=person"))] == [5]
    assert [seq for seq, *_ in shown(client.get("/dpo/audit?subject=6"))] == [4, 3]
    assert [seq for seq, *_ in shown(client.get("/dpo/audit?request=7"))] == [2]
    page = client.get("/dpo/audit?action=request.view").context["page"]
    assert [c.value for c in page.actions if c.selected] == ["request.view"]
    assert {c.value for c in page.actions} >= {"", "identifier.view", "erasure.deferred"}
    # The DPO reads what was done in words; the code stays beside them, and the filter speaks it.
    assert page.rows[0].action_label == "Request opened"
    labels = {c.value: c.label for c in page.actions}
    assert labels["erasure.deferred"] == "Kept records erased when their hold ended"
    html = client.get("/dpo/audit?action=request.view").text
    assert 'Request opened <code class="action-code">request.view</code>' in html


def test_an_action_without_words_shows_its_code(client: TestClient, dpo: int) -> None:
    write(client, dict(actor=AuditActor.system, actor_id=None, action="future.thing"))
    page = client.get("/dpo/audit").context["page"]
    assert (page.rows[0].action, page.rows[0].action_label) == ("future.thing", "future.thing")
    assert "future.thing" in {c.label for c in page.actions}


def test_entries_filtered_by_the_controllers_days(client: TestClient, dpo: int) -> None:
    # 23:30 on 19 Nov in Oslo, then 00:30 on 20 Nov, then 00:30 on 21 Nov.
    moments = [datetime(2026, 11, d, h, 30, tzinfo=UTC) for d, h in ((19, 22), (19, 23), (20, 23))]
    write(
        client,
        *(
            dict(actor=AuditActor.system, actor_id=None, action=action, now=at)
            for action, at in zip("abc", moments, strict=True)
        ),
    )
    one_day = shown(client.get("/dpo/audit?from=2026-11-20&to=2026-11-20"))
    assert [action for *_, action in one_day] == ["b"]
    assert [a for *_, a in shown(client.get("/dpo/audit?from=2026-11-20"))] == ["c", "b"]
    assert [a for *_, a in shown(client.get("/dpo/audit?to=2026-11-19"))] == ["a"]


def test_a_value_that_cannot_be_used_is_said_and_ignored(client: TestClient, dpo: int) -> None:
    write(client, dict(actor=AuditActor.system, actor_id=None, action="a", subject_id=3))
    response = client.get("/dpo/audit?subject=three&from=20.11.2026&who=nobody")
    page = response.context["page"]
    assert set(page.errors) == {"subject", "from"}
    assert len(page.rows) == 1
    assert 'aria-invalid="true"' in response.text
    assert "who" not in page.values


def test_pages_of_fifty_newest_first(client: TestClient, dpo: int) -> None:
    count = PAGE_SIZE * 2 + 7
    write(
        client, *(dict(actor=AuditActor.system, actor_id=None, action="tick") for _ in range(count))
    )
    first = client.get("/dpo/audit?action=tick").context["page"]
    assert (first.total, first.pages, first.previous_href) == (count, 3, None)
    assert [row.seq for row in first.rows] == list(range(count, count - PAGE_SIZE, -1))
    assert first.next_href == "/dpo/audit?action=tick&page=2"
    last = client.get(first.next_href.replace("page=2", "page=3")).context["page"]
    assert [row.seq for row in last.rows] == list(range(7, 0, -1))
    assert last.next_href is None and last.previous_href == "/dpo/audit?action=tick&page=2"
    beyond = client.get("/dpo/audit?page=99").context["page"]
    assert beyond.rows == ()


def test_no_personal_data_of_the_people_concerned(client: TestClient, dpo: int) -> None:
    with session_scope(client.app.state.engine) as db:
        person = Subject(
            national_id="01010112345", country="NO", given_name="Kari", family_name="Nordmann"
        )
        db.add(person)
        db.flush()
        record(db, actor=AuditActor.staff, actor_id=dpo, action="request.view",
               subject_id=person.id, details={"request_id": 4}, now=T0)  # fmt: skip
    text = client.get("/dpo/audit").text
    assert "Nordmann" not in text and "01010112345" not in text
    assert f'href="/dpo/audit?subject={person.id}"' in text
    assert 'href="/dpo/requests/4"' in text


def test_the_last_verification_is_shown(client: TestClient, dpo: int) -> None:
    assert "has not been verified yet" in client.get("/dpo/audit").text
    write(client, dict(actor=AuditActor.system, actor_id=None, action="a"))
    check_and_record(client.app.state.engine, T0)
    text = client.get("/dpo/audit").text
    assert "Last verified 20 Nov 2026, 10:30: 1 entry, unchanged." in text


def test_parse_filter_bounds_every_value() -> None:
    wanted, values, errors, page = parse_filter(
        {"subject": "9" * 11, "request": "0", "page": "-3", "action": "x" * 500}, OSLO
    )
    assert set(errors) == {"subject", "request"}
    assert wanted.subject_id is None and wanted.request_id is None
    assert page == 1
    assert wanted.action is not None and len(wanted.action) == 60
    assert all(len(value) <= 80 for value in values.values())
