"""Recipients told (GDPR art. 19): the tasks an erasure makes for the recipients of what it erased
(not of what it kept), once per recipient, action and table; their messages in the recipient's
language; confirming by the signed link and by the DPO."""

# ruff: noqa: F811 - fixtures imported from test_erasure_run are parameters here

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlmodel import Session

from portal import links
from portal.audit import AuditEntry
from portal.datamap import DataMap, collect
from portal.db import session_scope
from portal.jobs.outbox import OutboxMessage
from portal.settings import Settings
from portal.workflows import recipients
from portal.workflows.erasure import Step
from portal.workflows.recipients import RecipientTask, TaskAction, TaskRefused
from portal.workflows.requests import DataRequest
from tests.support import email_text
from tests.workflows.test_erasure_run import (  # noqa: F401 - fixtures
    NOW,
    demo,
    dpo,
    erase,
    national_id,
    new_demo,
    run_jobs,
    runtime,
    sources,
)
from tests.workflows.test_erasure_run import Runtime as RuntimeType

BASE = "https://innsyn.example"


def tasks(engine: Engine, request_id: int) -> list[RecipientTask]:
    with Session(engine) as db:
        return recipients.tasks_of(db, request_id)


def message(engine: Engine, task: RecipientTask) -> OutboxMessage:
    with Session(engine) as db:
        found = db.get(OutboxMessage, task.message_id)
        assert found is not None
        return found


def by_recipient(found: list[RecipientTask]) -> dict[str, RecipientTask]:
    return {task.recipient: task for task in found}


def test_the_recipients_of_erased_data_get_a_task_and_those_of_kept_data_do_not(
    engine: Engine, runtime: RuntimeType, dpo: int, datamap: DataMap
) -> None:
    marte = collect(datamap, runtime.sources, national_id("shop_customer"))
    email = marte.tables["marketing_newsletter"][0].value("email")
    request_id, _plan = erase(engine, "shop_customer", runtime, dpo)

    found = by_recipient(tasks(engine, request_id))
    # The newsletter was erased: Mailchimp is told. The orders are kept under the bookkeeping
    # hold and an open complaint: Bring, their recipient, is not (yet).
    assert "mailchimp" in found
    assert "bring" not in found and "nets" not in found
    mailchimp = found["mailchimp"]
    assert mailchimp.action == TaskAction.erasure
    assert mailchimp.tables == ["marketing_newsletter"]
    assert {"Marketing", "Contact details"} <= set(mailchimp.categories["en"])
    assert "Markedsføring" in mailchimp.categories["nb"]
    assert (mailchimp.email, mailchimp.language) == ("privacy@mailchimp.example", "en")
    assert mailchimp.open and mailchimp.message_id is not None

    # The message, in English, names the record and the e-mail address Mailchimp knows the
    # person by (its identify_by), and nothing else about them.
    sent = message(engine, mailchimp)
    assert (sent.kind, sent.email, sent.language) == ("recipient_task", mailchimp.email, "en")
    assert sent.context["identifiers"] == [["email", email]]
    assert national_id("shop_customer") not in str(sent.context)

    def signed(task_id: int, language: str) -> str:
        return f"{BASE}/recipients/task?link=t{task_id}{language}"

    from portal.jobs.outbox import MessageSite
    from portal.mail.kinds import render_message

    rendered = render_message(
        sent.kind, sent.context, sent.language, MessageSite(BASE, "Europe/Oslo", None, signed)
    )
    assert rendered.subject == f"Please erase personal data (our reference {request_id})"
    assert "Marketing" in rendered.text
    assert f"E-mail address: {email}" in rendered.text
    assert f"{BASE}/recipients/task?link=t{mailchimp.id}en" in rendered.text


def test_a_recipient_without_an_address_gets_a_task_without_a_message(
    engine: Engine, runtime: RuntimeType, dpo: int
) -> None:
    request_id, _plan = erase(engine, "two_collection_cases", runtime, dpo)
    found = by_recipient(tasks(engine, request_id))
    # The old case was anonymised: the agency and its address service both received it.
    assert {"alektum", "evry"} <= set(found)
    assert found["evry"].email is None and found["evry"].message_id is None
    alektum = found["alektum"]
    assert alektum.language == "nb" and alektum.message_id is not None
    sent = message(engine, alektum)
    assert sent.language == "nb"
    # Named by its case (the table's label), not by the person's national ID.
    assert any(record.startswith("Inkassosak ") for record in sent.context["records"])
    assert sent.context["identifiers"] == []
    subject, _body = email_text(sent.kind, sent.context, sent.language, BASE)
    assert subject == f"Vennligst slett personopplysninger (vår referanse {request_id})"


def test_telling_again_makes_no_second_task_and_a_deferred_erasure_tells_the_rest(
    engine: Engine, runtime: RuntimeType, dpo: int, datamap: DataMap
) -> None:
    request_id, _plan = erase(engine, "shop_customer", runtime, dpo)
    before = tasks(engine, request_id)
    with session_scope(engine) as db:
        request = db.get(DataRequest, request_id)
        assert request is not None
        steps = [Step("marketing_newsletter", 1, "erase", delete_row=True)]
        concerned = recipients.erasure_recipients(datamap, steps)
        made = recipients.tell_recipients(
            db,
            request,
            concerned,
            TaskAction.erasure,
            datamap=datamap,
            rows={},
            national_id=None,
            now=NOW,
        )
        assert made == []
    assert len(tasks(engine, request_id)) == len(before)

    # 1 Jan 2030: the bookkeeping hold on the delivered orders has ended; they are erased,
    # and Bring, which delivered them, is told now.
    run_jobs(engine, datetime(2030, 1, 1, 1, tzinfo=UTC))
    after = by_recipient(tasks(engine, request_id))
    assert "bring" in after
    assert after["bring"].tables == ["shop_orders"]
    assert any(
        r.startswith("Order ") or r.startswith("Ordre ")
        for r in after["bring"].reference["records"]
    )
    assert len(tasks(engine, request_id)) == len(before) + len(
        set(after) - {t.recipient for t in before}
    )


def test_erasure_recipients_counts_only_what_is_erased(datamap: DataMap) -> None:
    kept = Step("shop_orders", 1, "retain", pseudonymise=("email",))
    nulled = Step("shop_orders", 2, "erase", null=("delivery_note",))
    assert recipients.erasure_recipients(datamap, [kept]) == []
    [bring] = recipients.erasure_recipients(datamap, [kept, nulled])
    assert (bring.recipient, bring.tables, bring.keys) == (
        "bring",
        ("shop_orders",),
        {"shop_orders": (2,)},
    )
    # A field the map says goes to no recipient tells no one.
    assert (
        recipients.erasure_recipients(datamap, [Step("shop_orders", 3, "erase", null=("email",))])
        == []
    )
    found = recipients.table_recipients(datamap, ["collection_cases", "crm_customers"])
    assert {item.recipient for item in found} == {"alektum", "evry"}


# --- confirming ----------------------------------------------------------------------------------


def one_task(engine: Engine, runtime: RuntimeType, dpo: int) -> RecipientTask:
    request_id, _plan = erase(engine, "shop_customer", runtime, dpo)
    return by_recipient(tasks(engine, request_id))["mailchimp"]


def token(settings: Settings, task_id: int, now: datetime = NOW) -> str:
    url = recipients.confirm_url(task_id, "en", now, settings)
    return url.split("link=", 1)[1]


def test_the_recipient_confirms_by_its_link_once(
    engine: Engine, runtime: RuntimeType, dpo: int, settings: Settings
) -> None:
    task = one_task(engine, runtime, dpo)
    link = token(settings, task.id or 0)
    with session_scope(engine) as db:
        shown = recipients.task_of_link(db, link, now=NOW, settings=settings)
        assert shown.id == task.id
    with session_scope(engine) as db:
        done = recipients.confirm_by_link(
            db, link, " Deleted from our lists. ", now=NOW, settings=settings
        )
        assert (done.confirmed_by, done.note) == ("link", "Deleted from our lists.")
    with Session(engine) as db:
        stored = db.get(RecipientTask, task.id)
        assert stored is not None and stored.confirmed_at is not None
        # What identified the person is forgotten, in the task and in its message.
        assert stored.reference is None
        sent = db.get(OutboxMessage, stored.message_id)
        assert (
            sent is not None and "identifiers" not in sent.context and "records" not in sent.context
        )
        entry = db.execute(
            select(AuditEntry).where(AuditEntry.action == "recipient_task.confirmed")
        ).scalar_one()
        assert entry.details["task_id"] == task.id
    with session_scope(engine) as db, pytest.raises(links.LinkRefused) as used:
        recipients.confirm_by_link(db, link, "", now=NOW, settings=settings)
    assert used.value.reason == links.Refusal.used


def test_an_expired_or_tampered_link_confirms_nothing(
    engine: Engine, runtime: RuntimeType, dpo: int, settings: Settings
) -> None:
    task = one_task(engine, runtime, dpo)
    link = token(settings, task.id or 0)
    later = NOW + timedelta(days=settings.recipient_link_days, seconds=1)
    for bad, now, reason in (
        (link, later, links.Refusal.expired),
        (link[:-2] + ("AA" if not link.endswith("AA") else "BB"), NOW, links.Refusal.invalid),
        (token(settings, 999_999), NOW, links.Refusal.invalid),
    ):
        with session_scope(engine) as db, pytest.raises(links.LinkRefused) as refused:
            recipients.confirm_by_link(db, bad, "", now=now, settings=settings)
        assert refused.value.reason == reason
    with Session(engine) as db:
        stored = db.get(RecipientTask, task.id)
        assert stored is not None and stored.open and stored.reference is not None


def test_the_dpo_records_a_confirmation_with_how(
    engine: Engine, runtime: RuntimeType, dpo: int
) -> None:
    task = one_task(engine, runtime, dpo)
    with session_scope(engine) as db:
        found = db.get(RecipientTask, task.id)
        assert found is not None
        with pytest.raises(TaskRefused):
            recipients.record_by_dpo(db, found, staff_id=dpo, note="  ", now=NOW)
        recipients.record_by_dpo(db, found, staff_id=dpo, note="Confirmed on the phone", now=NOW)
    with session_scope(engine) as db:
        found = db.get(RecipientTask, task.id)
        assert found is not None
        assert found.confirmed_by == f"dpo:{dpo}" and recipients.confirmed_by_staff(found) == dpo
        assert found.note == "Confirmed on the phone" and found.reference is None
        with pytest.raises(TaskRefused):
            recipients.record_by_dpo(db, found, staff_id=dpo, note="again", now=NOW)
        entry = db.execute(
            select(AuditEntry).where(AuditEntry.action == "recipient_task.recorded")
        ).scalar_one()
        assert entry.actor_id == dpo and "phone" not in str(entry.details)


def test_the_outcome_letter_lists_the_recipients_told(
    engine: Engine, runtime: RuntimeType, dpo: int, datamap: DataMap
) -> None:
    from io import BytesIO

    from pypdf import PdfReader

    from portal.workflows.letters import letter_facts

    request_id, _plan = erase(engine, "shop_customer", runtime, dpo)
    task = by_recipient(tasks(engine, request_id))["mailchimp"]
    with session_scope(engine) as db:
        recipients.record_by_dpo(
            db, db.get(RecipientTask, task.id), staff_id=dpo, note="Phoned", now=NOW
        )
    with Session(engine) as db:
        request = db.get(DataRequest, request_id)
        facts = letter_facts(db, request, "")
    assert facts is not None
    assert ("Mailchimp (The Rocket Science Group LLC)", NOW) in {
        (name, at.replace(tzinfo=UTC) if at else None) for name, at in facts.recipients
    }
    pdf = PdfReader(BytesIO(facts.render(datamap.controller, "en")))
    text = " ".join(" ".join(page.extract_text().split()) for page in pdf.pages)
    assert "Others we told" in text
    assert "Mailchimp (The Rocket Science Group LLC) confirmed 24 Nov 2026" in text
