"""/dpo/holds: the DPO only; the data map's holds and the case holds; setting, releasing and
re-dating one through the forms (CSRF, refusals shown again with what was typed)."""

# ruff: noqa: F811 - fixtures imported from test_dpo_pages are parameters here

from __future__ import annotations

from datetime import timedelta

from sqlmodel import select
from starlette.testclient import TestClient

from portal import i18n
from portal.audit import AuditEntry
from portal.db import session_scope
from portal.models import StaffRoleName
from portal.workflows.erasure import ErasurePlan
from portal.workflows.erasure_service import latest_plan
from portal.workflows.records import CaseHoldRecord
from portal.workflows.requests import RequestType
from portal.workflows.restriction import restrict_processing
from tests.support import Clock
from tests.workflows.test_dpo_pages import (  # noqa: F401 - fixtures
    add_staff,
    dpo,
    file_erasure_as_person,
    plans,
    sign_in_staff,
)
from tests.workflows.test_request_pages import add_person, file_by_hand, sign_in_subject

PAGE = "/dpo/holds"


def token(client: TestClient) -> str:
    return client.get(PAGE).context["csrf_token"]


def holds_of(client: TestClient) -> list[CaseHoldRecord]:
    with session_scope(client.app.state.engine) as db:
        return list(db.exec(select(CaseHoldRecord).order_by(CaseHoldRecord.id)))


def actions(client: TestClient) -> list[str]:
    with session_scope(client.app.state.engine) as db:
        return [entry.action for entry in db.exec(select(AuditEntry).order_by(AuditEntry.id))]


def set_hold(client: TestClient, **data: str):
    form = {"kind": "litigation", "reason": "Lawsuit 26-1234", **data}
    return client.post(PAGE, data={**form, "csrf_token": token(client)})


class TestRole:
    def test_needs_sign_in(self, client: TestClient) -> None:
        assert client.get(PAGE).status_code == 303

    def test_staff_and_people_are_refused(self, client: TestClient) -> None:
        sign_in_staff(client, add_staff(client, StaffRoleName.staff, sub="cs"))
        assert client.get(PAGE).status_code == 403
        csrf = client.get("/staff").context["csrf_token"]
        data = {"national_id": "15076500565", "kind": "litigation", "reason": "x"}
        assert client.post(PAGE, data={**data, "csrf_token": csrf}).status_code == 403
        assert client.post(f"{PAGE}/1/release", data={"csrf_token": csrf}).status_code == 403
        assert 'href="/dpo/holds"' not in client.get("/staff").text
        sign_in_subject(client, add_person(client, "ordinary"))
        assert client.get(PAGE).status_code == 403
        assert holds_of(client) == []

    def test_the_dpo_finds_it_in_the_console(self, client: TestClient, dpo: int) -> None:
        assert 'href="/dpo/holds"' in client.get("/dpo").text


def test_the_data_maps_holds_with_their_law_period_and_what_they_cover(
    client: TestClient, dpo: int
) -> None:
    response = client.get(PAGE)
    assert response.status_code == 200
    rules = {rule.limit.key: rule for rule in response.context["page"].rules}
    assert "bookkeeping_se" not in rules  # Sweden's: not this controller's
    complaint = rules["open_complaint"]
    assert complaint.limit.citation == "GDPR article 17(3)(e)"
    assert complaint.limit.period == "while its condition holds"
    [use] = complaint.limit.uses
    assert (use.table, use.covers) == ("Complaints", ("Orders", "Order lines"))
    # The kinds of data in the complaints and the orders and lines it keeps with them.
    assert {"Complaints", "Purchases"} <= set(complaint.categories)
    assert "Debt collection" not in complaint.categories
    assert rules["bookkeeping_no"].limit.period == "5 years after the end of the fiscal year"
    assert 'id="limit-open_complaint"' in response.text
    assert "also keeps Orders, Order lines" in response.text
    assert response.context["page"].active == ()
    assert "No case holds." in response.text


def test_setting_a_hold_on_a_requests_person_plans_their_erasure_again(
    client: TestClient, dpo: int
) -> None:
    request_id = file_erasure_as_person(client, "ordinary")
    sign_in_staff(client, dpo)
    response = set_hold(client, request_id=str(request_id), review_at="2099-01-31")
    [hold] = holds_of(client)
    assert response.status_code == 303
    assert response.headers["location"] == f"{PAGE}#hold-{hold.id}"
    assert (hold.request_id, hold.set_by, hold.reason) == (request_id, dpo, "Lawsuit 26-1234")
    assert [plan.version for plan in plans(client, request_id)] == [1, 2]
    page = client.get(PAGE)
    assert f"Hold {hold.id} is set." in page.text  # the flash
    [shown] = page.context["page"].active
    assert (shown.person, shown.reason, shown.request_id) == (
        "Kari Nordmann",
        "Lawsuit 26-1234",
        request_id,
    )
    assert (shown.review_on, shown.review_due, shown.request_type) == (
        "31 Jan 2099",
        False,
        "Erasure",
    )
    assert f'href="/dpo/requests/{request_id}"' in page.text
    # Naming the person is a view of their data.
    assert actions(client).count("case_hold.view") == 1


def test_a_hold_on_one_record_is_named_as_the_dpo_knows_it(client: TestClient, dpo: int) -> None:
    request_id = file_erasure_as_person(client, "ordinary")
    sign_in_staff(client, dpo)
    with session_scope(client.app.state.engine) as db:
        plan = latest_plan(db, request_id)
        assert plan is not None
        order = next(s for s in ErasurePlan.from_dict(plan.plan).steps if s.table == "shop_orders")
    page = client.get(f"/dpo/requests/{request_id}").context["page"]
    index = next(c.index for c in page.records if c.label.startswith("Order "))
    csrf = token(client)
    client.post(
        f"/dpo/requests/{request_id}/record_hold",
        data={
            "plan_id": str(page.plan.id),
            "record": str(index),
            "kind": "complaint",
            "reason": "Complaint about the delivery",
            "csrf_token": csrf,
        },
    )
    [shown] = client.get(PAGE).context["page"].active
    assert shown.record is not None and shown.record.startswith("Order ")
    assert shown.record != f"Orders, record {order.key}"


def test_a_refused_form_comes_back_with_the_reason_and_what_was_typed(
    client: TestClient, dpo: int
) -> None:
    add_person(client, "ordinary")
    missing = set_hold(client, national_id="15076500565", reason="  ", review_at="2099-01-31")
    assert missing.status_code == 400
    page = missing.context["page"]
    assert (page.form, set(page.errors)) == ("set", {"reason"})
    assert page.values["national_id"] == "15076500565" and "csrf_token" not in page.values
    assert 'value="15076500565"' in missing.text and 'value="2099-01-31"' in missing.text
    neither = set_hold(client)
    assert set(neither.context["page"].errors) == {"person"}
    wrong = set_hold(client, request_id="12a")
    assert set(wrong.context["page"].errors) == {"request_id"}
    past = set_hold(client, national_id="15076500565", review_at="2000-01-01")
    assert set(past.context["page"].errors) == {"review_at"}
    not_a_date = set_hold(client, national_id="15076500565", review_at="soon")
    assert set(not_a_date.context["page"].errors) == {"review_at"}
    invalid = set_hold(client, national_id="15076500566")
    assert set(invalid.context["page"].errors) == {"national_id"}
    assert holds_of(client) == []


def test_without_the_csrf_token_nothing_is_set(client: TestClient, dpo: int) -> None:
    client.get(PAGE)
    data = {"national_id": "15076500565", "kind": "litigation", "reason": "Lawsuit"}
    assert client.post(PAGE, data=data).status_code == 403
    assert holds_of(client) == []


def test_a_hold_is_re_dated_and_released_with_a_reason(
    client: TestClient, clock: Clock, dpo: int
) -> None:
    request_id = file_erasure_as_person(client, "ordinary")
    sign_in_staff(client, dpo)
    set_hold(client, request_id=str(request_id))
    [hold] = holds_of(client)
    # The controller's day, as review days are counted (between 23:00 and 24:00 UTC it is
    # already tomorrow in Oslo, and the UTC date would be a day in the past).
    today = i18n.local_day(clock.now, client.app.state.datamap.controller.time_zone)

    past = client.post(
        f"{PAGE}/{hold.id}/review",
        data={"review_at": (today - timedelta(days=1)).isoformat(), "csrf_token": token(client)},
    )
    assert past.status_code == 400
    assert past.context["page"].form == f"review-{hold.id}"
    assert '<details class="hold-action" open>' in past.text
    due = client.post(
        f"{PAGE}/{hold.id}/review",
        data={"review_at": today.isoformat(), "csrf_token": token(client)},
    )
    assert due.status_code == 303
    [shown] = client.get(PAGE).context["page"].active
    assert shown.review_due and client.get(PAGE).context["page"].due == 1
    assert "review due" in client.get(PAGE).text

    no_reason = client.post(
        f"{PAGE}/{hold.id}/release", data={"reason": " ", "csrf_token": token(client)}
    )
    assert no_reason.status_code == 400
    assert set(no_reason.context["page"].errors) == {"reason"}
    assert no_reason.context["page"].form == f"release-{hold.id}"
    released = client.post(
        f"{PAGE}/{hold.id}/release", data={"reason": "Settled", "csrf_token": token(client)}
    )
    assert released.status_code == 303
    [row] = holds_of(client)
    assert (row.released_by, row.release_reason) == (dpo, "Settled")
    assert [plan.version for plan in plans(client, request_id)] == [1, 2, 3]
    page = client.get(PAGE).context["page"]
    assert page.active == ()
    [gone] = page.released
    assert (gone.release_reason, gone.released_by) == ("Settled", "Per Personvernombud")
    assert [a for a in actions(client) if a.startswith("case_hold.") and a != "case_hold.view"] == [
        "case_hold.set",
        "case_hold.review_date",
        "case_hold.release",
    ]
    again = client.post(
        f"{PAGE}/{hold.id}/release", data={"reason": "Again", "csrf_token": token(client)}
    )
    assert again.status_code == 400 and again.context["page"].error


def test_a_restriction_hold_says_the_person_is_told_first(client: TestClient, dpo: int) -> None:
    person = add_person(client, "ordinary")
    request_id = file_by_hand(client, person, RequestType.restriction)
    with session_scope(client.app.state.engine) as db:
        restrict_processing(db, person, request_id, client.app.state.now())
    sign_in_staff(client, dpo)
    page = client.get(PAGE)
    [shown] = page.context["page"].active
    assert shown.restriction and shown.request_type == "Restriction"
    assert "Lifting the restriction sends the person a message first" in page.text
    # The form offers every kind but restriction: that one is the person's own request's.
    assert "restriction" not in dict(page.context["page"].kinds)
