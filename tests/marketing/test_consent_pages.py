"""The pages: a person's consents and reservations; staff's block list and washing."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from html import escape
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import select
from starlette.testclient import TestClient

from portal.app import create_app
from portal.audit import AuditEntry
from portal.datamap import load_datamap
from portal.db import make_engine, session_scope
from portal.demo import DATAMAP_PATH, EDGE_CASES_BY_KEY
from portal.demo.seed import seed
from portal.marketing.block_list import BlockEntry
from portal.marketing.consent import ConsentEvent, Via
from portal.marketing.washing import Wash
from portal.models import StaffRoleName, Subject
from portal.settings import Settings
from tests.conftest import DEMO_TODAY, TEST_SECRET
from tests.support import csrf_token_from, sign_in_staff, signed_in_client

NOW = datetime(2026, 11, 24, 12, tzinfo=UTC)
KARI = EDGE_CASES_BY_KEY["ordinary"]


@pytest.fixture
def company(tmp_path: Path) -> Iterator[dict[str, Engine]]:
    engine = make_engine(f"sqlite:///{tmp_path / 'company.db'}")
    seed(engine, 3, today=DEMO_TODAY)
    yield dict.fromkeys(load_datamap(DATAMAP_PATH).sources, engine)
    engine.dispose()


@pytest.fixture
def client(settings: Settings, company) -> Iterator[TestClient]:
    app = create_app(settings, now=lambda: NOW, sources=company)
    with TestClient(app, follow_redirects=False) as c:
        yield c


def sign_in_person(client: TestClient) -> int:
    with session_scope(client.app.state.engine) as db:
        subject = Subject(national_id=KARI.national_id, country="NO", given_name="Kari")
        db.add(subject)
        db.flush()
        subject_id = subject.id
    signed_in_client(client, secret_key=TEST_SECRET, subject_id=subject_id)
    client.cookies.set("lang", "en")
    return subject_id


def post(client: TestClient, page: str, url: str, data: dict, **kwargs: object):
    token = csrf_token_from(client.get(page).text)
    return client.post(url, data={**data, "csrf_token": token}, **kwargs)


# --- the person ----------------------------------------------------------------------------------


def test_the_person_sees_each_consent_with_its_explanation_and_switch(
    client: TestClient, english: None
) -> None:
    sign_in_person(client)
    assert 'href="/me/consent"' in client.get("/me").text
    response = client.get("/me/consent")
    assert response.status_code == 200
    page = response.context["page"]
    consents = {s.topic: s for s in page.consents}
    assert set(consents) == {
        "newsletter",
        "email_marketing",
        "sms_marketing",
        "phone_marketing",
        "profiling",
    }
    assert consents["newsletter"].on and consents["newsletter"].explanation.startswith("We send")
    assert not consents["sms_marketing"].on
    assert consents["sms_marketing"].status.startswith("Withdrawn on")
    assert [s.topic for s in page.reservations] == ["phone", "sms", "email", "post", "all"]


def test_each_state_is_a_label_and_both_buttons_weigh_the_same(
    client: TestClient, english: None
) -> None:
    sign_in_person(client)
    response = client.get("/me/consent")
    page = response.context["page"]
    consents = {s.topic: s for s in page.consents}
    given, withdrawn = consents["newsletter"], consents["sms_marketing"]
    assert (given.state, given.action) == ("Given", "Withdraw consent")
    assert (withdrawn.state, withdrawn.action) == ("Not given", "Give consent")
    assert (page.reservations[0].state, page.reservations[0].action) == ("Not reserved", "Reserve")
    assert (page.objection.state, page.objection.action) == ("No objection", "Object")
    html = response.text
    assert '<span aria-hidden="true">✓</span> Given</span>' in html
    assert '<span aria-hidden="true">–</span> Not given</span>' in html
    # One look for every button, whichever way it switches: no nudge toward consent.
    buttons = re.findall(r'<button type="submit" class="([^"]*)" aria-label', html)
    assert len(buttons) == len(page.consents) + len(page.reservations) + 1
    assert set(buttons) == {"button button-choice"}
    assert "button-primary" not in html.split('id="consents"')[1]


@pytest.mark.parametrize(
    ("language", "data", "sentence"),
    [
        ("nb", {"kind": "reservation", "topic": "phone", "active": "1"},
         "Du har reservert deg mot telefonsalg."),
        ("sv", {"kind": "reservation", "topic": "phone", "active": "1"},
         "Du har spärrat dig mot telefonförsäljning."),
        ("en", {"kind": "reservation", "topic": "phone", "active": "1"},
         "You have reserved yourself against telemarketing."),
        ("nb", {"kind": "consent", "topic": "newsletter", "active": "0"},
         "Du har trukket tilbake samtykket til «Nyhetsbrev». Vi har stoppet, og systemene våre "
         "blir oppdatert."),
        ("sv", {"kind": "consent", "topic": "sms_marketing", "active": "1"},
         "Du har lämnat samtycke till ”Marknadsföring via sms”."),
        ("en", {"kind": "objection", "topic": "direct_marketing", "active": "1"},
         "You have objected to direct marketing. We stop all marketing to you, on every "
         "channel."),
    ],
)  # fmt: skip
def test_what_was_done_is_told_in_a_sentence_in_the_page_language(
    client: TestClient, language: str, data: dict, sentence: str
) -> None:
    sign_in_person(client)
    client.cookies.set("lang", language)
    response = post(client, "/me/consent", "/me/consent", data)
    assert response.status_code == 303
    assert response.headers["location"] == f"/me/consent#{data['kind']}-{data['topic']}"
    page = client.get("/me/consent").text
    said = f'<p class="flash" role="status">{escape(sentence)}</p>'
    # Beside the choice switched, where the person is looking; not at the top as well.
    choice = page.split(f'<li id="{data["kind"]}-{data["topic"]}"')[1].split("</li>")[0]
    assert said in choice and page.count(said) == 1
    lifted = {**data, "active": "0" if data["active"] == "1" else "1"}
    post(client, "/me/consent", "/me/consent", lifted)
    again = client.get("/me/consent").text
    assert escape(sentence) not in again and '<p class="flash" role="status">' in again


def test_withdrawing_is_one_post_and_giving_again_is_one_more(
    client: TestClient, english: None
) -> None:
    subject_id = sign_in_person(client)
    data = {"kind": "consent", "topic": "newsletter", "text_version": "2024-01"}
    withdrawn = post(client, "/me/consent", "/me/consent", {**data, "active": "0"})
    assert withdrawn.status_code == 303
    assert not next(s for s in client.get("/me/consent").context["page"].consents).on
    given = post(client, "/me/consent", "/me/consent", {**data, "active": "1"})
    assert given.status_code == 303
    page = client.get("/me/consent")
    assert "newsletter: given" in page.text.lower() or page.context["page"].consents[0].on
    with session_scope(client.app.state.engine) as db:
        mine = [
            (e.active, e.text_version)
            for e in db.exec(select(ConsentEvent).where(ConsentEvent.subject_id == subject_id))
            if e.via == Via.portal
        ]
    assert mine == [(False, "2024-01"), (True, "2024-01")]


def test_reserving_against_phone_marketing_blocks_her_number(
    client: TestClient, english: None
) -> None:
    sign_in_person(client)
    response = post(
        client,
        "/me/consent",
        "/me/consent",
        {"kind": "reservation", "topic": "phone", "active": "1"},
    )
    assert response.status_code == 303
    with session_scope(client.app.state.engine) as db:
        values = {
            e.value
            for e in db.exec(select(BlockEntry).where(BlockEntry.reason == "reserved")).all()
        }
    assert values == {"+4791000001", "kari.nordmann@example.com", KARI.national_id}


def test_an_unknown_choice_is_refused(client: TestClient) -> None:
    sign_in_person(client)
    response = post(
        client, "/me/consent", "/me/consent", {"kind": "consent", "topic": "nope", "active": "1"}
    )
    assert response.status_code == 400
    with session_scope(client.app.state.engine) as db:
        assert [e.via for e in db.exec(select(ConsentEvent)).all()] == [Via.import_] * 3


def test_staff_cannot_use_the_persons_page(client: TestClient) -> None:
    sign_in_staff(client, StaffRoleName.staff)
    assert client.get("/me/consent").status_code in (303, 403)


# --- staff: the block list -----------------------------------------------------------------------


def test_staff_add_a_caller_look_them_up_and_remove_them(client: TestClient, english: None) -> None:
    staff_id = sign_in_staff(client, StaffRoleName.staff)
    added = post(
        client,
        "/staff/block-list",
        "/staff/block-list/add",
        {"kind": "phone", "value": "0047 912 34 567", "channel": "phone", "note": "Rang inn"},
    )
    assert added.status_code == 303
    found = post(
        client,
        "/staff/block-list",
        "/staff/block-list/search",
        {"kind": "phone", "value": "91234567"},
    )
    (row,) = found.context["page"].results
    assert (row.reason, row.note, row.removable) == ("reserved", "Rang inn", True)
    removed = post(
        client,
        "/staff/block-list",
        f"/staff/block-list/{row.id}/remove",
        {"reason": "Feil nummer"},
    )
    assert removed.status_code == 303
    again = post(
        client,
        "/staff/block-list",
        "/staff/block-list/search",
        {"kind": "phone", "value": "91234567"},
    )
    assert again.context["page"].results == [] and 'id="not-found"' in again.text
    with session_scope(client.app.state.engine) as db:
        log = [(e.action, e.actor_id) for e in db.exec(select(AuditEntry)).all()]
    assert log == [
        ("block_list.add", staff_id),
        ("block_list.search", staff_id),
        ("block_list.remove", staff_id),
        ("block_list.search", staff_id),
    ]


def test_a_bad_entry_re_renders_the_form_and_changes_nothing(
    client: TestClient, english: None
) -> None:
    sign_in_staff(client, StaffRoleName.staff)
    response = post(
        client,
        "/staff/block-list",
        "/staff/block-list/add",
        {"kind": "phone", "value": "hello", "channel": "phone", "note": "x"},
    )
    assert response.status_code == 400
    assert "That is not a phone number." in response.text
    assert response.context["page"].add_form["value"] == "hello"
    with session_scope(client.app.state.engine) as db:
        assert db.exec(select(BlockEntry)).first() is None


@pytest.mark.parametrize("role", [StaffRoleName.admin])
def test_other_roles_cannot_use_the_block_list_or_wash(
    client: TestClient, role: StaffRoleName
) -> None:
    sign_in_staff(client, role)
    assert client.get("/staff/block-list").status_code == 403
    assert client.get("/staff/wash").status_code == 403


# --- staff: washing ------------------------------------------------------------------------------


def test_staff_wash_a_list_and_download_it_and_only_their_role_may(
    client: TestClient, english: None
) -> None:
    sign_in_person(client)
    post(
        client,
        "/me/consent",
        "/me/consent",
        {"kind": "reservation", "topic": "phone", "active": "1"},
    )
    sign_in_staff(client, StaffRoleName.staff)
    content = b"name;phone\nKari;+47 910 00 001\nOla;91234599\nBad;xyz\n"
    uploaded = post(
        client,
        "/staff/wash",
        "/staff/wash",
        {},
        files={"file": ("list.csv", content, "text/csv")},
    )
    assert uploaded.status_code == 303
    location = uploaded.headers["location"]
    wash_id = location.rsplit("/", 1)[1]
    form = client.get(location)
    assert form.context["page"].wash.phone_column == 1
    started = post(
        client,
        location,
        location,
        {
            "phone_column": "1",
            "channel": "phone",
            "mode": "mark",
            "encoding": "utf-8",
            "delimiter": "semicolon",
            "has_header": "yes",
        },
    )
    assert started.status_code == 303
    done = client.get(location)
    assert done.context["page"].reasons == [("reserved", 1)]
    assert done.context["page"].bad_rows == [(4, "not a phone number")]
    download = client.get(f"{location}/download")
    assert download.status_code == 200
    assert download.text.splitlines() == [
        "name;phone;block_reason;block_reason_code",
        "Kari;+47 910 00 001;reserved against phone sales;reserved:phone",
        "Ola;91234599;;",
    ]
    sign_in_staff(client, StaffRoleName.staff, sub="colleague")
    assert client.get(f"{location}/download").status_code == 200
    sign_in_staff(client, StaffRoleName.dpo, StaffRoleName.admin, sub="other")
    assert client.get(f"{location}/download").status_code == 403
    with session_scope(client.app.state.engine) as db:
        assert db.get(Wash, wash_id) is not None
        actions = [e.action for e in db.exec(select(AuditEntry)).all()]
    assert actions.count("wash.download") == 2 and "wash.start" in actions


def test_a_file_that_is_not_csv_is_refused_on_the_page(client: TestClient, english: None) -> None:
    sign_in_staff(client, StaffRoleName.staff)
    response = post(
        client,
        "/staff/wash",
        "/staff/wash",
        {},
        files={"file": ("photo.png", b"\x89PNG\r\n\x1a\n\x00\x00", "image/png")},
    )
    assert response.status_code == 400
    assert "This is not a CSV file." in response.text
    with session_scope(client.app.state.engine) as db:
        assert db.exec(select(Wash)).first() is None
