"""A person's request pages: list, file each type, follow, cancel; never someone else's."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import select
from starlette.testclient import TestClient

from portal.app import create_app
from portal.db import session_scope
from portal.demo import EDGE_CASES_BY_KEY
from portal.i18n import Translator, translations
from portal.models import Assurance, Subject
from portal.settings import Settings
from portal.workflows.erasure_service import latest_plan
from portal.workflows.records import PlanStatus
from portal.workflows.requests import (
    Actor,
    DataRequest,
    RequestStatus,
    RequestType,
    apply,
    file_request,
)
from tests.conftest import TEST_SECRET, make_settings
from tests.support import Clock, add_demo_subject, signed_in_client


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def client(settings: Settings, demo_sources, clock: Clock) -> Iterator[TestClient]:
    app = create_app(settings, now=clock, sources=demo_sources)
    with TestClient(app, follow_redirects=False) as c:
        yield c


def add_person(client: TestClient, key: str) -> int:
    return add_demo_subject(client.app.state.engine, key)


def sign_in_as(client: TestClient, key: str, authenticated_at: datetime | None = None) -> int:
    """A demo person, signed in (just now, unless said otherwise); returns their subject id."""
    subject_id = add_person(client, key)
    sign_in_subject(client, subject_id, authenticated_at)
    return subject_id


def sign_in_subject(
    client: TestClient, subject_id: int, authenticated_at: datetime | None = None
) -> None:
    signed_in_client(
        client,
        secret_key=TEST_SECRET,
        subject_id=subject_id,
        authenticated_at=authenticated_at or client.app.state.now(),
    )


def token(client: TestClient) -> str:
    return client.get("/me/requests").context["csrf_token"]


def requests_of(client: TestClient, subject_id: int) -> list[DataRequest]:
    with session_scope(client.app.state.engine) as db:
        return list(db.exec(select(DataRequest).where(DataRequest.subject_id == subject_id)))


def file_by_hand(client: TestClient, subject_id: int, type: RequestType, **kwargs) -> int:
    with session_scope(client.app.state.engine) as db:
        filed = file_request(
            db,
            subject_id=subject_id,
            type=type,
            assurance=kwargs.pop("assurance", Assurance.high),
            actor=Actor.person,
            now=kwargs.pop("now", client.app.state.now()),
            **kwargs,
        )
        return filed.id


def test_list_starts_empty_and_needs_sign_in(client: TestClient) -> None:
    assert client.get("/me/requests").status_code == 303
    sign_in_as(client, "ordinary")
    response = client.get("/me/requests")
    assert response.status_code == 200
    assert response.template.name == "requests/list.html"
    assert response.context["page"].requests == ()
    assert 'href="/me/requests/new"' in response.text


def test_my_data_page_links_the_rights_to_the_request_form(client: TestClient) -> None:
    sign_in_as(client, "ordinary")
    text = client.get("/me").text
    for kind in RequestType:
        assert f'href="/me/requests/new?type={kind}"' in text


@pytest.mark.parametrize(
    ("kind", "details"),
    [
        ("rectification", "My address is wrong: it is Storgata 1, not Storgata 2."),
        ("restriction", "I dispute the debt, stop using it while you check."),
        ("objection", "The credit scoring."),
    ],
)
def test_filing_each_type(client: TestClient, kind: str, details: str) -> None:
    subject_id = sign_in_as(client, "ordinary")
    form = client.get(f"/me/requests/new?type={kind}")
    assert form.template.name == "requests/new.html"
    assert form.context["page"].type == kind
    response = client.post(
        "/me/requests/new",
        data={"type": kind, "details": details, "csrf_token": form.context["csrf_token"]},
    )
    assert response.status_code == 303
    [filed] = requests_of(client, subject_id)
    assert response.headers["location"] == f"/me/requests/{filed.id}"
    assert filed.type == kind
    assert filed.assurance == Assurance.high
    assert filed.status == RequestStatus.verified
    assert filed.details == (details or None)
    page = client.get(response.headers["location"])
    assert page.template.name == "requests/detail.html"
    assert page.context["flash"]
    assert page.context["page"].timeline[0].what
    assert page.context["page"].can_cancel
    listed = client.get("/me/requests").context["page"].requests
    assert [row.id for row in listed] == [filed.id]
    assert listed[0].deadline and listed[0].days_left >= 28


def test_objection_to_direct_marketing_needs_no_reason(client: TestClient) -> None:
    subject_id = sign_in_as(client, "ordinary")
    response = client.post(
        "/me/requests/new",
        data={"type": "objection", "marketing": "yes", "details": "", "csrf_token": token(client)},
    )
    assert response.status_code == 303
    [filed] = requests_of(client, subject_id)
    assert filed.type == RequestType.objection
    # Stored as the person read it, in their language (bokmål here).
    assert translations("nb").gettext("Direct marketing (art. 21(3)).") in filed.details


@pytest.mark.parametrize("kind", ["rectification", "restriction", "objection"])
def test_missing_text_re_renders_with_an_error_and_creates_nothing(
    client: TestClient, kind: str
) -> None:
    subject_id = sign_in_as(client, "ordinary")
    response = client.post(
        "/me/requests/new", data={"type": kind, "details": "  ", "csrf_token": token(client)}
    )
    assert response.status_code == 400
    assert response.template.name == "requests/new.html"
    page = response.context["page"]
    assert set(page.errors) == {"details"}
    assert page.type == kind
    assert page.errors["details"] in response.text
    assert requests_of(client, subject_id) == []


def test_no_type_chosen_is_an_error(client: TestClient) -> None:
    subject_id = sign_in_as(client, "ordinary")
    response = client.post("/me/requests/new", data={"csrf_token": token(client)})
    assert response.status_code == 400
    assert set(response.context["page"].errors) == {"type"}
    assert requests_of(client, subject_id) == []


def test_erasure_needs_a_fresh_sign_in(
    client: TestClient, clock: Clock, settings: Settings
) -> None:
    stale = clock.now - timedelta(seconds=settings.fresh_sign_in_seconds + 1)
    subject_id = sign_in_as(client, "ordinary", authenticated_at=stale)
    expected = "/auth/login?next=%2Fme%2Frequests%2Fnew%3Ftype%3Derasure&fresh=1"
    response = client.get("/me/requests/new?type=erasure")
    assert response.status_code == 303
    assert response.headers["location"] == expected
    response = client.post(
        "/me/requests/new", data={"type": "erasure", "csrf_token": token(client)}
    )
    assert response.status_code == 303
    assert response.headers["location"] == expected
    assert requests_of(client, subject_id) == []
    # Other types do not need it.
    assert client.get("/me/requests/new?type=access").status_code == 200


def test_filing_erasure_plans_it_and_shows_the_plan_in_plain_words(client: TestClient) -> None:
    subject_id = sign_in_as(client, "ordinary")
    form = client.get("/me/requests/new?type=erasure")
    assert form.status_code == 200
    assert form.context["page"].erasure
    assert 'id="erasure-explained"' in form.text
    response = client.post(
        "/me/requests/new", data={"type": "erasure", "csrf_token": form.context["csrf_token"]}
    )
    assert response.status_code == 303
    [filed] = requests_of(client, subject_id)
    assert filed.status == RequestStatus.awaiting_approval
    with session_scope(client.app.state.engine) as db:
        stored = latest_plan(db, filed.id)
    assert stored is not None and stored.status == PlanStatus.proposed
    page = client.get(response.headers["location"])
    plan = page.context["page"].plan
    assert plan is not None and plan.version == 1
    # Kari has accounts the Bookkeeping Act keeps: the plan says so, in Norwegian, in the
    # future tense (it waits for approval).
    assert plan.phase == "planned" and plan.status == "venter på godkjenning"
    assert any("vil bli slettet" in line for line in plan.lines)
    assert "Dette vil slettingen gjøre" in page.text
    assert any("bokføringsloven" in line for line in plan.lines)
    for line in plan.lines:
        assert line in page.text.replace("&#39;", "'")
    assert page.context["page"].can_cancel


def test_cancel_allowed_then_refused(client: TestClient) -> None:
    subject_id = sign_in_as(client, "ordinary")
    client.cookies.set("lang", "en")
    request_id = file_by_hand(client, subject_id, RequestType.access)
    response = client.post(f"/me/requests/{request_id}/cancel", data={"csrf_token": token(client)})
    assert response.status_code == 303
    assert response.headers["location"] == f"/me/requests/{request_id}"
    [cancelled] = requests_of(client, subject_id)
    assert cancelled.status == RequestStatus.cancelled
    page = client.get(f"/me/requests/{request_id}")
    assert page.context["flash"] == "Your request is cancelled."
    assert not page.context["page"].can_cancel
    assert "/cancel" not in page.text
    # A second cancel (an old tab) is refused in words, and changes nothing.
    again = client.post(f"/me/requests/{request_id}/cancel", data={"csrf_token": token(client)})
    assert again.status_code == 409
    assert again.template.name == "requests/detail.html"
    assert again.context["page"].error == "A request that is cancelled cannot be cancelled."
    assert [r.status for r in requests_of(client, subject_id)] == [RequestStatus.cancelled]


def test_a_request_in_progress_cannot_be_cancelled(client: TestClient) -> None:
    subject_id = sign_in_as(client, "ordinary")
    request_id = file_by_hand(client, subject_id, RequestType.access)
    with session_scope(client.app.state.engine) as db:
        apply(
            db,
            db.get(DataRequest, request_id),
            "start",
            actor=Actor.system,
            now=client.app.state.now(),
        )
    page = client.get(f"/me/requests/{request_id}").context["page"]
    assert not page.can_cancel
    response = client.post(f"/me/requests/{request_id}/cancel", data={"csrf_token": token(client)})
    assert response.status_code == 409
    assert response.context["page"].error
    assert [r.status for r in requests_of(client, subject_id)] == [RequestStatus.in_progress]


def test_another_persons_request_is_not_found(client: TestClient) -> None:
    other = add_person(client, "shared_phone_b")
    theirs = file_by_hand(client, other, RequestType.rectification, details="secret")
    sign_in_as(client, "shared_phone_a")
    response = client.get(f"/me/requests/{theirs}")
    assert response.status_code == 404
    assert "secret" not in response.text
    assert client.get(f"/me/requests/{theirs + 1000}").status_code == 404
    cancel = client.post(f"/me/requests/{theirs}/cancel", data={"csrf_token": token(client)})
    assert cancel.status_code == 404
    assert [r.status for r in requests_of(client, other)] == [RequestStatus.verified]
    assert client.get("/me/requests").context["page"].requests == ()


def test_post_without_csrf_token_is_refused(client: TestClient) -> None:
    subject_id = sign_in_as(client, "ordinary")
    response = client.post("/me/requests/new", data={"type": "access"})
    assert response.status_code == 403
    assert response.context["reason"] == "csrf"
    assert requests_of(client, subject_id) == []


def test_extension_and_outcome_are_shown_to_the_person(client: TestClient) -> None:
    subject_id = sign_in_as(client, "ordinary")
    request_id = file_by_hand(client, subject_id, RequestType.rectification, details="wrong")
    with session_scope(client.app.state.engine) as db:
        request = db.get(DataRequest, request_id)
        apply(
            db,
            request,
            "extend",
            actor=Actor.dpo,
            reason="Many systems",
            data={"months": 1},
            now=client.app.state.now(),
        )
        apply(db, request, "start", actor=Actor.dpo, now=client.app.state.now())
        apply(
            db,
            request,
            "complete",
            actor=Actor.dpo,
            reason="Corrected in the CRM.",
            now=client.app.state.now(),
        )
    response = client.get(f"/me/requests/{request_id}")
    page = response.context["page"]
    assert page.extended and page.extension_reason == "Many systems"
    assert page.outcome == "Corrected in the CRM."
    assert "Many systems" in response.text and "Corrected in the CRM." in response.text
    assert len(page.timeline) == 4


@pytest.mark.parametrize(
    ("setting", "key", "status", "plan_status"),
    [
        ("off", "nothing_held", RequestStatus.awaiting_approval, PlanStatus.proposed),
        ("on", "nothing_held", RequestStatus.in_progress, PlanStatus.approved),
        # A plan that keeps anything always waits for the DPO, whatever the setting.
        ("on", "ordinary", RequestStatus.awaiting_approval, PlanStatus.proposed),
    ],
)
def test_auto_approval_is_a_setting_for_plans_that_keep_nothing(
    database_url: str,
    var_dir: Path,
    engine: Engine,  # migrates, and empties the tables after the test
    demo_sources: dict[str, Engine],
    clock: Clock,
    setting: str,
    key: str,
    status: RequestStatus,
    plan_status: PlanStatus,
) -> None:
    settings = make_settings(database_url, var_dir, ERASURE_AUTO_APPROVE=setting)
    app = create_app(settings, now=clock, sources=demo_sources)
    with TestClient(app, follow_redirects=False) as client:
        subject_id = sign_in_as(client, key)
        response = client.post(
            "/me/requests/new", data={"type": "erasure", "csrf_token": token(client)}
        )
        assert response.status_code == 303
        [filed] = requests_of(client, subject_id)
        with session_scope(app.state.engine) as db:
            stored = latest_plan(db, filed.id)
    assert (filed.status, stored.status) == (status, plan_status)


def test_restriction_marks_everything_restricted_until_the_dpo_lifts_it(
    client: TestClient,
) -> None:
    from portal.audit import entries_for
    from portal.workflows.erasure import ErasurePlan
    from portal.workflows.records import case_holds_for

    subject_id = sign_in_as(client, "ordinary")
    response = client.post(
        "/me/requests/new",
        data={"type": "restriction", "details": "I dispute the debt.", "csrf_token": token(client)},
    )
    assert response.status_code == 303
    with session_scope(client.app.state.engine) as db:
        [hold] = case_holds_for(db, subject_id)
        assert (hold.kind, hold.scope, hold.released_at) == ("restriction", "person", None)
        assert [e.action for e in entries_for(db, subject_id)] == ["case_hold.set"]
    # While restricted, an erasure keeps everything: nothing is erased or anonymised.
    response = client.post(
        "/me/requests/new", data={"type": "erasure", "csrf_token": token(client)}
    )
    erasure = next(r for r in requests_of(client, subject_id) if r.type == "erasure")
    with session_scope(client.app.state.engine) as db:
        plan = ErasurePlan.from_dict(latest_plan(db, erasure.id).plan)
    assert plan.steps
    assert {step.action for step in plan.steps} == {"retain"}
    assert all(step.until is None for step in plan.steps)


# --- the outcome letter -------------------------------------------------------------------------


def completed_erasure(client: TestClient, key: str = "nothing_held") -> tuple[int, int]:
    """A demo person whose erasure was planned, approved and carried out (subject id, request
    id). The person holds nothing, so the shared demo company is left as it is."""
    from portal.workflows.erasure_run import execute_plan
    from portal.workflows.erasure_service import approve_plan, plan_request

    subject_id = add_person(client, key)
    request_id = file_by_hand(client, subject_id, RequestType.erasure, language="en")
    state = client.app.state
    now = state.now()
    with session_scope(state.engine) as db:
        planned = plan_request(
            db, request_id, datamap=state.datamap, sources=state.sources, now=now
        )
        approved = approve_plan(db, planned.id, staff_id=None, now=now)
        assert execute_plan(db, approved, datamap=state.datamap, sources=state.sources, now=now)
    return subject_id, request_id


def test_the_owner_downloads_the_outcome_letter_of_a_completed_erasure(
    client: TestClient, english: None
) -> None:
    from pypdf import PdfReader

    from portal.identity.subjects import subject_for_sign_in

    subject_id, request_id = completed_erasure(client)
    case = EDGE_CASES_BY_KEY["nothing_held"]
    with session_scope(client.app.state.engine) as db:
        # The erasure blanked the name; the BankID sign-in to download the letter stores it.
        assert db.get(Subject, subject_id).display_name == ""
        claims = {"nnin": case.national_id, "given_name": case.given_name, "family_name": "F"}
        subject_for_sign_in(db, claims, national_id_claim="nnin", now=client.app.state.now())
    sign_in_subject(client, subject_id)
    client.cookies.set("lang", "en")
    page = client.get(f"/me/requests/{request_id}")
    assert page.context["page"].letter
    href = f"/me/requests/{request_id}/letter.pdf"
    assert f'href="{href}"' in page.text
    response = client.get(href)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/pdf"
    assert response.headers["content-disposition"] == (
        f'attachment; filename="outcome-letter-{request_id}.pdf"'
    )
    assert response.headers["cache-control"] == "no-store"
    text = " ".join(page.extract_text() for page in PdfReader(io.BytesIO(response.content)).pages)
    assert "we hold nothing about you" in " ".join(text.split())
    assert case.given_name in text  # addressed to the person signed in


def test_no_letter_before_completion_for_others_or_on_a_stale_sign_in(
    client: TestClient, clock: Clock, settings: Settings
) -> None:
    subject_id, request_id = completed_erasure(client)
    # Someone else, signed in: the same 404 as for an id that does not exist.
    sign_in_as(client, "ordinary")
    assert client.get(f"/me/requests/{request_id}/letter.pdf").status_code == 404
    assert client.get(f"/me/requests/{request_id + 1000}/letter.pdf").status_code == 404
    # The owner's request that is not completed has no letter, and no link to one.
    sign_in_subject(client, subject_id)
    open_request = file_by_hand(client, subject_id, RequestType.erasure)
    assert client.get(f"/me/requests/{open_request}/letter.pdf").status_code == 404
    page = client.get(f"/me/requests/{open_request}")
    assert not page.context["page"].letter and "letter.pdf" not in page.text
    # A download needs a recent sign-in; afterwards the browser comes back to the letter.
    stale = clock.now - timedelta(seconds=settings.fresh_sign_in_seconds + 1)
    sign_in_subject(client, subject_id, authenticated_at=stale)
    response = client.get(f"/me/requests/{request_id}/letter.pdf")
    assert response.status_code == 303
    assert response.headers["location"] == (
        f"/auth/login?next=%2Fme%2Frequests%2F{request_id}%2Fletter.pdf&fresh=1"
    )
    # Signed out: to the sign-in page.
    client.cookies.clear()
    assert client.get(f"/me/requests/{request_id}/letter.pdf").status_code == 303


# --- one open request of a type at a time (issue #16, item 6) -----------------------------------


def written(client: TestClient) -> tuple[int, ...]:
    """How many requests, events, plans and exports there are."""
    from portal.exports.models import Export
    from portal.workflows.records import StoredPlan
    from portal.workflows.requests import RequestEvent

    with session_scope(client.app.state.engine) as db:
        return tuple(
            len(db.exec(select(table)).all())
            for table in (DataRequest, RequestEvent, StoredPlan, Export)
        )


@pytest.mark.parametrize(
    ("kind", "details"),
    [("erasure", ""), ("rectification", "My phone number is 912 34 567, not 912 34 576.")],
)
def test_a_second_open_request_of_the_same_type_is_refused_and_nothing_is_written(
    client: TestClient, kind: str, details: str
) -> None:
    subject_id = sign_in_as(client, "ordinary")
    client.cookies.set("lang", "en")
    data = {"type": kind, "details": details, "csrf_token": token(client)}
    assert client.post("/me/requests/new", data=data).status_code == 303
    [first] = requests_of(client, subject_id)
    href = f"/me/requests/{first.id}"
    # The form says so before the person types anything, with a link to the open request.
    form = client.get(f"/me/requests/new?type={kind}")
    choices = {choice.value: choice.open_href for choice in form.context["page"].choices}
    assert choices[kind] == href
    assert {value for value, open_href in choices.items() if open_href} == {kind}
    assert f'<a href="{href}">Follow it on its page</a>' in form.text
    before = written(client)
    again = {**data, "details": "Also my e-mail address." if details else ""}
    response = client.post("/me/requests/new", data=again)
    assert response.status_code == 409
    assert response.template.name == "requests/new.html"
    page = response.context["page"]
    assert page.errors == {
        "type": f"You already have an open request of this kind (number {first.id}). Follow it "
        "on its page; you can send a new one when it is closed."
    }
    assert page.open_href == href and f'href="{href}" class="open-request"' in response.text
    assert (page.type, page.details) == (kind, again["details"])  # the form keeps what was typed
    assert again["details"] in response.text
    # No request, no event, no plan, no export.
    assert written(client) == before
    assert [r.id for r in requests_of(client, subject_id)] == [first.id]


def test_a_second_access_request_while_the_first_is_open_makes_no_new_export(
    client: TestClient,
) -> None:
    subject_id = sign_in_as(client, "ordinary")
    question = {"type": "access", "details": "Who gave you my phone number?"}
    response = client.post("/me/requests/new", data={**question, "csrf_token": token(client)})
    assert response.status_code == 303 and response.headers["location"].startswith("/me/exports/")
    # The copy is made; the question keeps the request open for the DPO's answer.
    [first] = requests_of(client, subject_id)
    assert first.status == RequestStatus.in_progress
    before = written(client)
    again = client.post(
        "/me/requests/new", data={"type": "access", "details": "", "csrf_token": token(client)}
    )
    assert again.status_code == 409
    assert again.context["page"].open_href == f"/me/requests/{first.id}"
    assert written(client) == before


# --- the plan's words follow what happened (issue #16, item 5) ----------------------------------


def file_erasure(client: TestClient, key: str = "ordinary") -> int:
    sign_in_as(client, key)
    csrf = client.get("/me/requests/new?type=erasure").context["csrf_token"]
    response = client.post("/me/requests/new", data={"type": "erasure", "csrf_token": csrf})
    assert response.status_code == 303
    return int(response.headers["location"].rsplit("/", 1)[1])


def test_a_cancelled_requests_plan_was_never_carried_out(client: TestClient) -> None:
    request_id = file_erasure(client)
    cancelled = client.post(f"/me/requests/{request_id}/cancel", data={"csrf_token": token(client)})
    assert cancelled.status_code == 303
    client.cookies.set("lang", "en")
    response = client.get(f"/me/requests/{request_id}")
    page = response.context["page"]
    assert page.request.status == "cancelled"
    plan = page.plan
    assert plan.phase == "never" and not plan.proposed
    assert plan.status == "never carried out: the request was cancelled"
    assert "waiting for approval" not in response.text
    assert "What the erasure would have done" in response.text
    assert "This plan was never carried out." in response.text
    assert plan.lines and all("would have been" in line for line in plan.lines)
    # The history tells what happened then, not what is pending now.
    assert [entry.what for entry in page.timeline] == [
        "Cancelled",
        "Erasure plan made and sent for approval",
        "Request sent",
    ]
    client.cookies.set("lang", "nb")
    norsk = client.get(f"/me/requests/{request_id}")
    assert norsk.context["page"].plan.status == "aldri gjennomført: henvendelsen ble avbrutt"
    assert "venter på godkjenning" not in norsk.text
    assert all("ville blitt" in line for line in norsk.context["page"].plan.lines)


def test_a_carried_out_plan_says_what_was_done(client: TestClient) -> None:
    """The plan and the request as execution leaves them (`erasure_run._finish`), set by hand
    so the shared demo company is not erased."""
    from portal.workflows.requests import apply

    request_id = file_erasure(client)
    now = client.app.state.now()
    with session_scope(client.app.state.engine) as db:
        stored = latest_plan(db, request_id)
        request = db.get(DataRequest, request_id)
        apply(db, request, "approve", actor=Actor.dpo, actor_id=1, now=now)
        apply(db, request, "complete_partially", actor=Actor.system, reason="Kept.", now=now)
        stored.status, stored.executed_at = PlanStatus.executed, now
        db.add(stored)
    client.cookies.set("lang", "en")
    response = client.get(f"/me/requests/{request_id}")
    plan = response.context["page"].plan
    assert (plan.phase, plan.status) == ("carried_out", "carried out")
    assert "What the erasure did" in response.text
    assert "Customer record: 1 was erased." in plan.lines
    assert any(line.startswith("Orders: ") and " are kept until " in line for line in plan.lines)
    assert not any("will be" in line or "would have" in line for line in plan.lines)
    client.cookies.set("lang", "nb")
    norsk = client.get(f"/me/requests/{request_id}").context["page"].plan
    assert "Kundekort: 1 ble slettet." in norsk.lines
    assert norsk.status == "gjennomført"


def test_an_erasure_closed_before_it_was_planned_says_so(client: TestClient) -> None:
    subject_id = sign_in_as(client, "ordinary")
    client.cookies.set("lang", "en")
    # An e-mail filing waits for the DPO's verification before it is planned.
    request_id = file_by_hand(client, subject_id, RequestType.erasure, assurance=Assurance.low)
    assert "There is no plan yet." in client.get(f"/me/requests/{request_id}").text
    with session_scope(client.app.state.engine) as db:
        request = db.get(DataRequest, request_id)
        apply(db, request, "cancel", actor=Actor.person, now=client.app.state.now())
    text = client.get(f"/me/requests/{request_id}").text
    assert "No plan was made" in text and "There is no plan yet." not in text


def test_details_longer_than_the_bound_are_refused_and_nothing_is_filed(
    client: TestClient,
) -> None:
    subject_id = sign_in_as(client, "ordinary")
    form = client.get("/me/requests/new?type=rectification")
    nb = Translator("nb")
    assert 'maxlength="4000"' in form.text
    assert nb.gettext("Up to %(count)s characters.", count=4000) in form.text
    response = client.post(
        "/me/requests/new",
        data={
            "type": "rectification",
            "details": "x" * 4001,
            "csrf_token": form.context["csrf_token"],
        },
    )
    assert response.status_code == 400
    assert response.context["page"].errors["details"] == nb.gettext(
        "Please keep this under %(count)d characters.", count=4000
    )
    assert requests_of(client, subject_id) == []
