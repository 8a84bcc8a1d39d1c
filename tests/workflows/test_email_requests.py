"""Requests without BankID (portal/workflows/email_requests.py): filed, confirmed by a single-use
link, verified by the DPO; links used twice, tampered with or expired act on nothing."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from portal import links, ratelimit
from portal.audit import AuditEntry
from portal.db import session_scope
from portal.jobs.outbox import OutboxMessage
from portal.links import LinkRefused, Refusal
from portal.models import Assurance, StaffMember, Subject
from portal.settings import Settings
from portal.workflows import email_requests, notices
from portal.workflows.contacts import RequestContact
from portal.workflows.email_requests import (
    Filing,
    FilingRefused,
    PendingRequest,
    VerificationRefused,
    check_filing,
)
from portal.workflows.requests import (
    Actor,
    DataRequest,
    RequestEvent,
    RequestStatus,
    RequestType,
    TransitionRefused,
    file_request,
)
from tests.support import email_text

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
CLIENT = ratelimit.Client.of("k" * 40, "198.51.100.4")
KARI = Filing(RequestType.access, "Kari Nordmann", "kari@example.no", None, "900001", None)


def messages(engine: Engine, kind: str | None = None) -> list[OutboxMessage]:
    with Session(engine) as db:
        statement = select(OutboxMessage).order_by(OutboxMessage.id)
        if kind:
            statement = statement.where(OutboxMessage.kind == kind)
        return list(db.exec(statement))


def token_of(url: str) -> str:
    return parse_qs(urlsplit(url).query)["link"][0]


def file(engine: Engine, settings: Settings, filing: Filing = KARI, at: datetime = NOW) -> str:
    """File and return the confirmation link's token, read from the outbox."""
    with session_scope(engine) as db:
        email_requests.file_unconfirmed(
            db, filing, client=CLIENT, language="sv", now=at, settings=settings
        )
    return token_of(messages(engine, email_requests.CONFIRM_MESSAGE)[-1].context["confirm_url"])


def confirm(engine: Engine, settings: Settings, token: str, at: datetime = NOW) -> DataRequest:
    with session_scope(engine) as db:
        return email_requests.confirm(db, token, now=at, settings=settings)


def requests(engine: Engine) -> list[DataRequest]:
    with Session(engine) as db:
        return list(db.exec(select(DataRequest)))


def refusal(action) -> Refusal:
    with pytest.raises(LinkRefused) as caught:
        action()
    return caught.value.reason


# --- the form -------------------------------------------------------------------------------------


def test_the_form_is_checked_and_bounded(english) -> None:
    filing = check_filing(
        {"type": "erasure", "name": " Kari ", "email": "Kari@Example.NO", "phone": "915 55 555"}
    )
    assert (filing.type, filing.name, filing.email, filing.phone) == (
        RequestType.erasure,
        "Kari",
        "kari@example.no",
        "+4791555555",
    )
    with pytest.raises(FilingRefused) as caught:
        check_filing({"type": "everything", "email": "no-at-sign", "details": "x" * 4001})
    assert set(caught.value.errors) == {"type", "name", "email", "details"}
    with pytest.raises(FilingRefused) as caught:
        check_filing({"type": "access", "name": "K", "email": "k@example.no", "phone": "12"})
    assert set(caught.value.errors) == {"phone"}


# --- filing and confirming -----------------------------------------------------------------------


def test_filing_sends_a_link_and_nothing_enters_the_queue(engine: Engine, settings) -> None:
    token = file(engine, settings)
    assert requests(engine) == []
    [message] = messages(engine)
    assert (message.kind, message.email, message.subject_id, message.language) == (
        email_requests.CONFIRM_MESSAGE,
        "kari@example.no",
        None,
        "sv",
    )
    # The link names no one: the address, name and customer number are not in it.
    url = message.context["confirm_url"]
    assert url.startswith("http://testserver/requests/confirm?link=")
    for personal in ("kari", "Nordmann", "900001"):
        assert (
            personal not in url
            and personal
            not in links.read(settings.secret_key, token, links.Purpose.confirm_request).object_id
        )


def test_the_message_is_the_same_whether_or_not_we_know_the_address(
    engine: Engine, settings, demo_sources
) -> None:
    """A filing never looks at the company's data: a customer's address and an unknown one get
    the same message (only the link differs)."""
    known = Filing(RequestType.access, "Kari", "kari.nordmann@example.com")
    unknown = Filing(RequestType.access, "Kari", "nobody.at.all@example.com")
    file(engine, settings, known)
    file(engine, settings, unknown)
    first, second = messages(engine)
    assert {k: v for k, v in first.context.items() if k != "confirm_url"} == {
        k: v for k, v in second.context.items() if k != "confirm_url"
    }
    assert (first.kind, first.language) == (second.kind, second.language)


def test_confirming_files_a_low_assurance_request(engine: Engine, settings) -> None:
    request = confirm(engine, settings, file(engine, settings))
    assert (request.status, request.assurance, request.subject_id, request.language) == (
        RequestStatus.received,
        Assurance.low,
        None,
        "sv",
    )
    with Session(engine) as db:
        contact = db.get(RequestContact, request.id)
        assert (contact.email, contact.customer_number, contact.confirmed_at) == (
            "kari@example.no",
            "900001",
            NOW,
        )
        assert db.exec(select(PendingRequest)).all() == []
    [received] = messages(engine, notices.RECEIVED)
    assert received.email == "kari@example.no" and received.context["request_id"] == request.id
    assert received.context["follow"] is True and received.subject_id is None
    # The follow link is signed as the message is sent (here: rendered as the sender does).
    _subject, body = email_text(
        received.kind,
        received.context,
        received.language,
        settings.base_url,
        follow_link=lambda rid, language: email_requests.follow_url(rid, language, NOW, settings),
    )
    [url] = re.findall(r"\S+/requests/follow\S+", body)
    follow = token_of(url)
    with Session(engine) as db:
        link = email_requests.followed(db, follow, now=NOW, settings=settings)
    assert link.object_id == str(request.id)


def test_a_confirmation_link_used_twice_acts_once(engine: Engine, settings) -> None:
    token = file(engine, settings)
    confirm(engine, settings, token)
    before = (len(requests(engine)), len(messages(engine)))
    assert refusal(lambda: confirm(engine, settings, token)) == Refusal.used
    assert (len(requests(engine)), len(messages(engine))) == before
    with Session(engine) as db:
        assert (
            refusal(lambda: email_requests.read_confirmation(db, token, now=NOW, settings=settings))
            == Refusal.used
        )


def test_a_tampered_confirmation_link_acts_on_nothing(engine: Engine, settings) -> None:
    token = file(engine, settings)
    payload, signature = token.split(".")
    other = file(engine, settings, Filing(RequestType.erasure, "Ola", "ola@example.no"))
    for bad in (payload + "." + signature[::-1], other.split(".")[0] + "." + signature, token[:-3]):
        assert refusal(lambda bad=bad: confirm(engine, settings, bad)) == Refusal.invalid
    assert requests(engine) == []
    # The genuine link still works: a tampered copy spent nothing.
    assert confirm(engine, settings, token).type == RequestType.access


def test_an_expired_confirmation_link_acts_on_nothing(engine: Engine, settings) -> None:
    token = file(engine, settings)
    late = NOW + timedelta(hours=settings.request_link_hours)
    assert refusal(lambda: confirm(engine, settings, token, late)) == Refusal.expired
    assert requests(engine) == []
    with Session(engine) as db:
        assert db.exec(select(PendingRequest)).one().email == "kari@example.no"


def test_an_unconfirmed_request_is_removed_after_its_time(engine: Engine, settings) -> None:
    token = file(engine, settings)
    with session_scope(engine) as db:
        assert email_requests.clean_up(db, NOW + timedelta(hours=47))["unconfirmed_requests"] == 0
        removed = email_requests.clean_up(db, NOW + timedelta(hours=48))
    assert removed["unconfirmed_requests"] == 1
    with Session(engine) as db:
        assert db.exec(select(PendingRequest)).all() == []
    # Its link, had it still been in time, finds nothing to confirm.
    settings_long = Settings(**{**settings.__dict__, "request_link_hours": 100})
    late = NOW + timedelta(hours=49)
    assert refusal(lambda: confirm(engine, settings_long, token, late)) == Refusal.expired
    assert requests(engine) == []


def test_the_clean_up_job_is_scheduled_hourly() -> None:
    from portal.jobs.queue import HANDLERS, SCHEDULE, load_handler_modules

    load_handler_modules()
    assert email_requests.CLEANUP_JOB in HANDLERS
    [periodic] = [p for p in SCHEDULE if p.kind == email_requests.CLEANUP_JOB]
    assert periodic.every == timedelta(hours=1)


def test_filing_is_rate_limited_per_address(engine: Engine, settings) -> None:
    for n in range(settings.rate_limit_per_address):
        file(engine, settings, at=NOW + timedelta(minutes=n))
    with pytest.raises(ratelimit.RateLimited), session_scope(engine) as db:
        email_requests.file_unconfirmed(
            db, KARI, client=ratelimit.Client.of("x", "203.0.113.9"), language="nb",
            now=NOW + timedelta(minutes=10), settings=settings,
        )  # fmt: skip
    assert len(messages(engine)) == settings.rate_limit_per_address


# --- new links ------------------------------------------------------------------------------------


def test_new_links_go_only_to_an_address_with_requests(engine: Engine, settings) -> None:
    confirm(engine, settings, file(engine, settings))
    file(engine, settings, Filing(RequestType.erasure, "Kari", "kari@example.no"))
    sent = len(messages(engine))
    with session_scope(engine) as db:
        email_requests.ask_for_links(
            db, "nobody@example.no", client=CLIENT, language="en", now=NOW, settings=settings
        )
    assert len(messages(engine)) == sent
    with session_scope(engine) as db:
        email_requests.ask_for_links(
            db, "KARI@example.no", client=CLIENT, language="en", now=NOW, settings=settings
        )
    new = messages(engine)[sent:]
    assert sorted(m.kind for m in new) == [
        email_requests.CONFIRM_MESSAGE,
        email_requests.LINKS_MESSAGE,
    ]
    [listing] = [m for m in new if m.kind == email_requests.LINKS_MESSAGE]
    [only] = listing.context["requests"]
    assert only["request_id"] == requests(engine)[0].id and only["follow_url"]


# --- verification ---------------------------------------------------------------------------------


def add_dpo(engine: Engine) -> int:
    with session_scope(engine) as db:
        found = db.exec(select(StaffMember)).first()
        if found is not None:
            return found.id
        member = StaffMember(issuer="https://idp", sub="dpo", name="DPO")
        db.add(member)
        db.flush()
        return member.id


def verify(engine: Engine, request_id: int, **values: str) -> DataRequest:
    staff_id = add_dpo(engine) if "staff" not in values else int(values.pop("staff"))
    with session_scope(engine) as db:
        request = db.get(DataRequest, request_id)
        return email_requests.verify_identity(db, request, staff_id=staff_id, now=NOW, **values)


def test_the_dpo_verifies_and_ties_the_request_to_the_person(engine: Engine, settings) -> None:
    request = confirm(engine, settings, file(engine, settings))
    with pytest.raises(VerificationRefused) as caught:
        verify(engine, request.id, how=" ", national_id="12038410081")
    assert caught.value.field == "how"
    with pytest.raises(VerificationRefused) as caught:
        verify(engine, request.id, how="Matched customer number", national_id="12038410082")
    assert caught.value.field == "national_id"
    assert requests(engine)[0].status == RequestStatus.received
    how = "Matched customer number and last invoice amount"
    verified = verify(engine, request.id, how=how, national_id="120384 10081")
    assert verified.status == RequestStatus.verified
    with Session(engine) as db:
        subject = db.get(Subject, verified.subject_id)
        assert (subject.national_id, subject.given_name) == ("12038410081", "Kari Nordmann")
        contact = db.get(RequestContact, request.id)
        assert contact.verification == how and contact.verified_at == NOW
        event = db.exec(select(RequestEvent).where(RequestEvent.action == "verify")).one()
        assert (event.actor, event.reason) == (Actor.dpo, how)
        entry = db.exec(
            select(AuditEntry).where(AuditEntry.action == "request.verify_identity")
        ).one()
        assert "12038410081" not in str(entry.details) and entry.subject_id == subject.id


def test_a_second_open_request_of_the_kind_is_not_tied_to_the_person(
    engine: Engine, settings
) -> None:
    with session_scope(engine) as db:
        subject = Subject(national_id="12038410081", country="NO")
        db.add(subject)
        db.flush()
        file_request(
            db,
            subject_id=subject.id,
            type=RequestType.access,
            assurance=Assurance.high,
            actor=Actor.person,
            now=NOW,
        )
    request = confirm(engine, settings, file(engine, settings))
    with pytest.raises(TransitionRefused):
        verify(engine, request.id, how="ID document seen", national_id="12038410081")
    with Session(engine) as db:
        assert db.get(DataRequest, request.id).subject_id is None


def test_an_erasure_blanks_what_the_person_typed_but_the_address(engine: Engine, settings) -> None:
    request = confirm(engine, settings, file(engine, settings))
    verified = verify(engine, request.id, how="ID document seen", national_id="12038410081")
    with session_scope(engine) as db:
        email_requests.forget_contacts(db, verified.subject_id)
    with Session(engine) as db:
        contact = db.get(RequestContact, request.id)
    assert (contact.name, contact.customer_number, contact.phone, contact.email) == (
        "",
        None,
        None,
        "kari@example.no",
    )


SAMPLES = {
    "confirm_address": {"confirm_url": "https://x/me/addresses/confirm?link=T"},
    "request_confirm": {"confirm_url": "https://x/requests/confirm?link=T"},
    "request_received": {"request_id": 4, "follow_url": "https://x/requests/follow?link=T"},
    "request_link": {"requests": [{"request_id": 4, "follow_url": "https://x/f?link=T"}]},
    "export_link_ready": {
        "request_id": 4,
        "expires_at": "2026-12-01T09:00:00+00:00",
        "downloads": [
            {"file": f, "url": f"https://x/requests/download?link={f}"}
            for f in ("pdf", "zip", "json")
        ],
    },
}


@pytest.mark.parametrize("language", ["nb", "sv", "en"])
@pytest.mark.parametrize("kind", sorted(SAMPLES))
def test_the_messages_render_in_every_language(kind: str, language: str) -> None:
    subject, body = email_text(kind, SAMPLES[kind], language, "https://x")
    assert subject and "\n" not in subject
    # Every link of the context is in the body, whole, on a line of its own words.
    for url in re.findall(r"https://x/\S+", repr(SAMPLES[kind])):
        assert url.rstrip("'\"}],") in body
    assert "{{" not in body and "%(" not in body
