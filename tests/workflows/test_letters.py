"""The erasure outcome letter (PDF) and its e-mail, from real plans for the demo's edge cases."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime

import pytest
from pypdf import PdfReader
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlmodel import Session

from portal import i18n
from portal.datamap import DataMap
from portal.datamap.model import Controller
from portal.datamap.retention import CaseHold
from portal.db import session_scope
from portal.demo import EDGE_CASES_BY_KEY
from portal.jobs.outbox import OutboxMessage
from portal.models import Assurance, IdentifierKind, Subject, SubjectIdentifier
from portal.workflows.contacts import RequestContact
from portal.workflows.erasure import ErasurePlan, Phase, describe_plan, plan_erasure
from portal.workflows.letters import (
    MESSAGE_KIND,
    _letter_html,
    _refusing_fetcher,
    css_string,
    letter_content,
    outcome_attachment,
    outcome_context,
    page_counter_content,
    queue_outcome_message,
    render_outcome_letter,
)
from portal.workflows.records import PlanStatus, StoredPlan
from portal.workflows.requests import (
    Actor,
    DataRequest,
    RequestStatus,
    RequestType,
    file_request,
)
from tests.erasure_support import TODAY, person, seeded_demo
from tests.support import email_text, tagged_pdf_structure

# Every Nordic letter the letter must keep: in a name, so it is there in every language.
NAME = "Åse Ørnæs-Bäckström"
RECEIVED = datetime(2026, 11, 2, 23, 30, tzinfo=UTC)  # 3 Nov in Oslo
COMPLETED = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)

FOOTER = {"nb": "Side {} av {}", "sv": "Sida {} av {}", "en": "Page {} of {}"}


@pytest.fixture(scope="module")
def engines(
    db_kind: str, datamap: DataMap, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Engine]]:
    with seeded_demo(db_kind, tmp_path_factory.mktemp("letters")) as demo:
        yield dict.fromkeys(datamap.sources, demo)


@pytest.fixture(scope="module")
def plans(datamap: DataMap, engines: dict[str, Engine]) -> dict[str, ErasurePlan]:
    found = {
        key: plan_erasure(datamap, person(datamap, engines, key), TODAY)
        for key in (
            "shop_customer",
            "two_collection_cases",
            "open_collection",
            "nothing_held",
            "reused_email_a",
            "frequent_buyer",
        )
    }
    lawsuit = CaseHold(
        "lit-9",
        "litigation",
        "Lawsuit about a delivery",
        "person",
        set_at=datetime(2026, 11, 1, 9, 0, tzinfo=UTC),
    )
    ordinary = person(datamap, engines, "ordinary")
    found["litigation"] = plan_erasure(datamap, ordinary, TODAY, [lawsuit])
    return found


def render(plan: ErasurePlan, controller: Controller, language: str, name: str = NAME) -> list[str]:
    """The letter's pages as text, whitespace collapsed (table cells wrap lines)."""
    pdf = render_outcome_letter(
        plan,
        person_name=name,
        request_id=4711,
        received_at=RECEIVED,
        completed_at=COMPLETED,
        controller=controller,
        language=language,
    )
    assert pdf.startswith(b"%PDF-")
    reader = PdfReader(io.BytesIO(pdf))
    assert name not in str(reader.metadata)  # the title names the controller, not the person
    return [" ".join((page.extract_text() or "").split()) for page in reader.pages]


def kept_citations(plan: ErasurePlan, language: str) -> set[tuple[str, str | None]]:
    """Each kept row's deciding citations, with its release date as the language writes it."""
    found = set()
    for step in plan.steps:
        if step.action != "retain":
            continue
        day = None if step.until is None else i18n.format_day(step.until, language)
        for reason in step.reasons:
            if reason.until == step.until:
                found.add((reason.citation[language], day))
    return found


@pytest.mark.parametrize("language", ["sv", "en"])
def test_the_letter_is_a_tagged_pdf_in_its_language(
    datamap: DataMap, plans: dict[str, ErasurePlan], language: str
) -> None:
    pdf = render_outcome_letter(
        plans["shop_customer"],
        person_name=NAME,
        request_id=4711,
        received_at=RECEIVED,
        completed_at=COMPLETED,
        controller=datamap.controller,
        language=language,
    )
    title = {"sv": "Svar på ditt ärende om radering", "en": "Outcome of your erasure request"}
    structure = tagged_pdf_structure(pdf, language=language, title=title[language])
    assert {"H1", "P", "Table", "TH", "TD"} <= structure, structure


@pytest.mark.parametrize("language", ["nb", "sv", "en"])
@pytest.mark.parametrize("key", ["shop_customer", "two_collection_cases", "open_collection"])
def test_the_letter_says_what_is_kept_why_and_until_when(
    datamap: DataMap, plans: dict[str, ErasurePlan], key: str, language: str
) -> None:
    plan = plans[key]
    pages = render(plan, datamap.controller, language)
    text = " ".join(pages)
    assert NAME in text  # æ ø å ä ö survive
    assert datamap.controller.name in text
    assert "4711" in text
    assert i18n.format_day(date(2026, 11, 3), language) in text  # received, on Oslo's calendar
    assert i18n.format_day(date(2026, 11, 24), language) in text  # the letter's date
    citations = kept_citations(plan, language)
    assert citations
    for citation, day in citations:
        assert citation in text
        if day is not None:
            assert day in text
    for summary in plan.tables:
        assert summary.name[language] in text
    assert datamap.controller.supervisory_authority.get(language) in text
    assert datamap.controller.dpo_contact in text
    for number, page in enumerate(pages, start=1):
        assert page.endswith(FOOTER[language].format(number, len(pages))), page[-80:]


def test_every_page_is_numbered_in_a_long_letter(
    datamap: DataMap, plans: dict[str, ErasurePlan]
) -> None:
    pages = render(plans["frequent_buyer"], datamap.controller, "nb")
    assert len(pages) >= 2
    for number, page in enumerate(pages, start=1):
        assert f"Side {number} av {len(pages)}" in page
        assert page.count(datamap.controller.name) >= 1  # the running footer
    # The kept table runs on over the pages, its header row repeated (printed in capitals).
    assert "Hva vi beholder, hvorfor og hvor lenge" in pages[0]
    assert all("HVORFOR VI BEHOLDER DET" in page for page in pages[:2])


def test_the_release_dates_are_written_as_each_language_writes_them(
    datamap: DataMap, plans: dict[str, ErasurePlan]
) -> None:
    plan = plans["shop_customer"]
    expected = {"nb": "31. des. 2029", "sv": "31 dec. 2029", "en": "31 Dec 2029"}
    for language, day in expected.items():
        assert day in " ".join(render(plan, datamap.controller, language))


@pytest.mark.parametrize("name", ["<b>x</b>", EDGE_CASES_BY_KEY["special_characters"].name])
def test_markup_in_a_name_is_printed_not_obeyed(
    datamap: DataMap, plans: dict[str, ErasurePlan], name: str
) -> None:
    text = " ".join(render(plans["shop_customer"], datamap.controller, "en", name=name))
    assert name in text
    html = _letter_html(
        plans["shop_customer"],
        person_name=name,
        request_id=4711,
        received_at=RECEIVED,
        completed_at=COMPLETED,
        controller=datamap.controller,
        language="en",
    )
    assert name not in html
    assert "<b>x</b>" not in html and "<script>" not in html


def test_nothing_held_says_so(datamap: DataMap, plans: dict[str, ErasurePlan]) -> None:
    plan = plans["nothing_held"]
    assert plan.steps == ()
    content = letter_content(plan, "en")
    assert content.nothing_held
    text = " ".join(render(plan, datamap.controller, "en"))
    assert "we hold nothing about you" in text
    assert "nothing to erase" in text
    assert "What we erased" not in text and "What we keep" not in text
    assert "complain to Datatilsynet" in text
    assert text.endswith("Page 1 of 1")


def test_a_case_hold_keeps_everything_until_released(
    datamap: DataMap, plans: dict[str, ErasurePlan]
) -> None:
    plan = plans["litigation"]
    content = letter_content(plan, "en")
    assert not content.erased and not content.anonymised
    assert {item.until for item in content.kept} == {"until the hold is released"}
    assert all(not item.unlinked for item in content.kept)
    text = " ".join(render(plan, datamap.controller, "sv"))
    assert "tills spärren hävs" in text
    assert "Litigation" not in text  # the hold's name in Swedish, from the plan


def test_anonymised_and_withheld_records_are_told(
    datamap: DataMap, plans: dict[str, ErasurePlan]
) -> None:
    content = letter_content(plans["two_collection_cases"], "en")
    assert [(item.table, item.count) for item in content.anonymised] == [
        ("Collection cases", "1 record"),
        ("Collection case events", "3 records"),
    ]
    then = {(item.table, item.until, item.then) for item in content.kept}
    assert ("Collection cases", "24 Nov 2028", "then anonymised") in then
    withheld = " ".join(render(plans["reused_email_a"], datamap.controller, "en"))
    assert "We also found 2 records that may concern you" in withheld


def test_the_letter_fetches_nothing() -> None:
    fetcher = _refusing_fetcher()
    for url in ("http://example.com/x.css", "https://example.com/font.woff2", "file:///etc/passwd"):
        with pytest.raises(ValueError, match="disallowed protocol"):
            fetcher(url)


def test_page_footer_css() -> None:
    assert page_counter_content("Side %(page)s av %(pages)s") == (
        '"Side " counter(page) " av " counter(pages)'
    )
    # A language may put the total first; quotes and a closing tag cannot escape the string.
    assert page_counter_content("%(pages)s: %(page)s") == 'counter(pages) ": " counter(page)'
    assert css_string('a"b\\</style>') == '"a\\22 b\\5c \\3c /style\\3e "'


def test_rendering_leaves_the_callers_language_alone(
    datamap: DataMap, plans: dict[str, ErasurePlan]
) -> None:
    i18n.set_language("sv")
    try:
        render(plans["nothing_held"], datamap.controller, "en")
        assert i18n.current_language() == "sv"
    finally:
        i18n.set_language(i18n.DEFAULT_LANGUAGE)


def test_a_received_day_is_the_controllers_calendar_day() -> None:
    oslo, stockholm = i18n.time_zone("NO"), i18n.time_zone("SE")
    assert i18n.local_day(RECEIVED, oslo) == date(2026, 11, 3)
    assert i18n.local_day(datetime(2026, 6, 30, 21, 59, tzinfo=UTC), stockholm) == date(2026, 6, 30)
    assert i18n.local_day(date(2026, 1, 1), oslo) == date(2026, 1, 1)


# --- the outbox message --------------------------------------------------------------------------


def stored(db: Session, plan: ErasurePlan) -> tuple[Subject, StoredPlan, int]:
    edge = EDGE_CASES_BY_KEY["shop_customer"]
    subject = Subject(
        national_id=edge.national_id,
        country="NO",
        given_name=edge.given_name,
        family_name=edge.family_name,
    )
    db.add(subject)
    db.flush()
    assert subject.id is not None
    request = file_request(
        db,
        subject_id=subject.id,
        type=RequestType.erasure,
        assurance=Assurance.high,
        actor=Actor.person,
        now=RECEIVED,
    )
    record = StoredPlan(
        request_id=request.id,  # type: ignore[arg-type]
        version=1,
        status=PlanStatus.executed,
        datamap_version=plan.datamap_version,
        plan=plan.to_dict(),
    )
    db.add(record)
    db.flush()
    return subject, record, request.id  # type: ignore[return-value]


def test_queue_outcome_message_writes_one_row_without_personal_data(
    engine: Engine, datamap: DataMap, plans: dict[str, ErasurePlan]
) -> None:
    """Our choice: the context names the request and the plan, the controller, and the person's
    own plan in plain words (table names, counts, dates, laws). No name, national ID number or
    address: the row outlives the erasure, and the recipient is the subject id alone."""
    plan = plans["shop_customer"]
    with session_scope(engine) as db:
        subject, record, request_id = stored(db, plan)
        request = db.get(DataRequest, request_id)
        assert request is not None
        queue_outcome_message(
            db,
            plan=record,
            request=request,
            subject=subject,
            controller=datamap.controller,
            language="nb",
            now=RECEIVED,
        )

    with Session(engine) as db:
        rows = list(
            db.execute(select(OutboxMessage).where(OutboxMessage.kind == MESSAGE_KIND)).scalars()
        )
    assert len(rows) == 1
    [message] = rows
    assert (message.kind, message.subject_id, message.email, message.language) == (
        MESSAGE_KIND,
        subject.id,
        None,
        "nb",
    )
    context = message.context
    assert set(context) == {
        "request_id",
        "plan_id",
        "received_on",
        "lines",
        "nothing_held",
        "holds_anything",
        "kept_to_a_date",
        "kept_while_open",
        "controller",
        "letter_attached",
    }
    assert context["letter_attached"] is False  # filed with BankID: the page has the letter
    assert (context["request_id"], context["plan_id"]) == (request_id, record.id)
    assert context["received_on"] == "2026-11-03"
    # Sent once the plan is carried out: what was erased, in the past tense.
    assert context["lines"] == describe_plan(plan, "nb", Phase.carried_out)
    assert any(line.endswith("ble slettet.") for line in context["lines"])
    assert not any("vil bli" in line for line in context["lines"])
    text = json.dumps(context, ensure_ascii=False)
    edge = EDGE_CASES_BY_KEY["shop_customer"]
    for personal in (edge.national_id, edge.given_name, edge.family_name, "@example"):
        assert personal not in text


def test_the_outcome_goes_to_the_address_on_file_before_the_erasure_removes_it(
    engine: Engine, datamap: DataMap, plans: dict[str, ErasurePlan]
) -> None:
    """The erasure removes the identifiers staff linked, so the address is taken when the
    message is queued. A request filed without BankID gets the letter attached."""
    plan = plans["shop_customer"]
    with session_scope(engine) as db:
        subject, record, request_id = stored(db, plan)
        db.add(
            SubjectIdentifier(
                subject_id=subject.id,
                kind=IdentifierKind.email,
                value="kari@example.no",
                assurance=Assurance.staff,
            )
        )
        request = db.get(DataRequest, request_id)
        assert request is not None
        request.assurance = Assurance.low
        request.status = RequestStatus.completed
        message = queue_outcome_message(
            db,
            plan=record,
            request=request,
            subject=subject,
            controller=datamap.controller,
            language="en",
            now=RECEIVED,
        )
        assert message.email == "kari@example.no"
        assert message.context["letter_attached"] is True
        found = outcome_attachment(db, message.context, "en", datamap.controller)
    assert found is not None
    name, pdf = found
    assert name == f"outcome-letter-{request_id}.pdf" and pdf.startswith(b"%PDF")
    _subject, text = email_text("erasure_outcome", message.context, "en", "https://x.example")
    assert "attached to this e-mail" in text and "https://x.example/me/requests" not in text


def test_the_outcome_of_a_request_filed_without_bankid_goes_to_its_confirmed_address(
    engine: Engine, datamap: DataMap, plans: dict[str, ErasurePlan]
) -> None:
    """Its messages go to the address confirmed for it (portal/workflows/contacts.py), not the
    person's address on file, with the letter attached and the request's follow link, signed
    as the message is sent; never the signed-in page."""
    plan = plans["shop_customer"]
    with session_scope(engine) as db:
        subject, record, request_id = stored(db, plan)
        db.add(
            SubjectIdentifier(
                subject_id=subject.id,
                kind=IdentifierKind.email,
                value="kari@example.no",
                assurance=Assurance.staff,
            )
        )
        db.add(
            RequestContact(
                request_id=request_id, name="", email="kari@filed.example", confirmed_at=RECEIVED
            )
        )
        request = db.get(DataRequest, request_id)
        assert request is not None
        request.assurance = Assurance.low
        message = queue_outcome_message(
            db,
            plan=record,
            request=request,
            subject=subject,
            controller=datamap.controller,
            language="en",
            now=RECEIVED,
        )
        assert (message.email, message.subject_id) == ("kari@filed.example", subject.id)
        assert message.context["letter_attached"] is True and message.context["follow"] is True
        context = dict(message.context)
    _subject, text = email_text(
        "erasure_outcome",
        context,
        "en",
        "https://x.example",
        follow_link=lambda rid, language: f"https://x.example/requests/follow?link={rid}",
    )
    assert "attached to this e-mail" in text
    assert f"https://x.example/requests/follow?link={request_id}\n" in text
    assert "/me/requests" not in text


def test_the_email_renders_from_the_queued_context(
    datamap: DataMap, plans: dict[str, ErasurePlan]
) -> None:
    plan = plans["shop_customer"]
    context = outcome_context(
        plan,
        request_id=4711,
        plan_id=3,
        received_at=RECEIVED,
        controller=datamap.controller,
        language="sv",
    )
    base = "https://innsyn.nordlys.example/"
    subject, body = email_text("erasure_outcome", json.loads(json.dumps(context)), "sv", base)
    assert "4711" in subject and "\n" not in subject
    # Not attached: the letter is downloaded from the request's page, whose URL holds only the
    # request number (PORTAL_BASE_URL, no double slash).
    assert "\nhttps://innsyn.nordlys.example/me/requests/4711\n" in body
    assert "BankID" in body
    assert "3 nov. 2026" in body
    for line in describe_plan(plan, "sv", Phase.carried_out):
        assert f"- {line}\n" in body
    assert "Datatilsynet (Norge)" in body
    assert datamap.controller.dpo_contact in body
    assert not re.search(r"\n{3,}", body)
    _subject, english = email_text("erasure_outcome", {**context, "lines": []}, "en", base)
    assert "no longer linked to you" in english and "kept unchanged" in english
    _subject, empty = email_text(
        "erasure_outcome",
        outcome_context(
            plans["nothing_held"],
            request_id=1,
            plan_id=None,
            received_at=RECEIVED,
            controller=datamap.controller,
            language="en",
        ),
        "en",
        "http://127.0.0.1:8000",
    )
    assert "we hold nothing about you" in empty
    assert "download it from your request's page" in empty
    assert "http://127.0.0.1:8000/me/requests/1\n" in empty
    assert "- " not in empty
