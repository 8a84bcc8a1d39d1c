"""Delivery over a real SMTP server (aiosmtpd, started by the test on a free port): the right
language, subject, text and HTML parts and a working link; while the server is down messages
wait, then go out once; a sender killed between the server's acceptance and our commit sends
again with the same Message-ID, on record; nothing is lost or sent twice otherwise.

aiosmtpd runs in a thread that start-up waits for with a timeout: these tests are real_clock.
"""

from __future__ import annotations

from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlmodel import Session
from starlette.testclient import TestClient

from portal.app import create_app
from portal.db import session_scope
from portal.jobs.outbox import DELIVER_ATTEMPTS, OutboxMessage, queue_message, tell_dpo_parked
from portal.jobs.queue import Job, JobStatus, retry_parked
from portal.mail.kinds import render_message
from portal.mail.transport import SmtpTransport
from portal.models import Assurance
from portal.settings import Settings
from portal.workflows.requests import Actor, RequestType, file_request
from tests.conftest import TEST_SECRET
from tests.mail.support import (
    BASE_URL,
    SITE,
    START,
    MovingClock,
    SmtpServer,
    add_person,
    delivering_worker,
    free_port,
    run_due,
    runtime,
)
from tests.support import signed_in_client

pytestmark = pytest.mark.real_clock


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def clock() -> MovingClock:
    return MovingClock()


def outbox(engine: Engine) -> list[OutboxMessage]:
    with Session(engine) as db:
        return list(db.execute(select(OutboxMessage).order_by(OutboxMessage.id)).scalars())


def jobs(engine: Engine) -> list[Job]:
    with Session(engine) as db:
        return list(db.execute(select(Job).order_by(Job.id)).scalars())


def parts(message: EmailMessage) -> dict[str, str]:
    found = {}
    for part in message.walk():
        if part.get_content_maintype() == "text":
            found[part.get_content_type()] = part.get_content()
    return found


def queue_to(engine: Engine, email: str, request_id: int) -> int:
    context = {
        "request_id": request_id,
        "type": "access",
        "received_on": "2026-11-24",
        "due_on": "2026-12-24",
        "has_account": True,
    }
    with session_scope(engine) as db:
        message = queue_message(
            db, "request_received", language="nb", email=email, context=context, now=START
        )
        return message.id or 0


def test_a_message_arrives_in_the_person_language_with_both_parts_and_a_working_link(
    engine: Engine, smtp: SmtpServer, clock: MovingClock, settings: Settings, demo_sources
) -> None:
    subject_id = add_person(engine)
    with session_scope(engine) as db:
        request = file_request(
            db,
            subject_id=subject_id,
            type=RequestType.access,
            assurance=Assurance.high,
            actor=Actor.person,
            language="sv",
            now=START,
        )
        request_id = request.id
    assert run_due(delivering_worker(engine, runtime(port=smtp.port), clock)) == 1

    [mail] = smtp.messages()
    [envelope] = smtp.envelopes
    [row] = outbox(engine)
    expected = render_message(row.kind, row.context, "sv", SITE)
    english = render_message(row.kind, row.context, "en", SITE)
    assert envelope.rcpt_tos == ["kari@example.no"]
    assert envelope.mail_from == "personvern@nordlys.example"
    assert mail["Subject"] == expected.subject != english.subject
    assert mail["Content-Language"] == "sv"
    assert mail["Message-ID"] == row.message_id
    assert mail.get_content_type() == "multipart/alternative"
    text = parts(mail)
    assert text["text/plain"].replace("\r\n", "\n").strip() == expected.text.strip()
    link = f"{BASE_URL}/me/requests/{request_id}"
    assert link in text["text/plain"] and f'href="{link}"' in text["text/html"]
    assert "01017012345" not in mail.as_string()  # never a national ID
    assert (row.delivery, row.attempts, row.resends) == ("smtp", 1, 0)
    assert row.sent_at == START and row.smtp_reply == "250 2.0.0 Ok: queued as TEST"
    assert row.attempt_started_at is None

    # The link opens the request's page for the person signed in.
    app = create_app(settings, sources=demo_sources)
    with TestClient(app, base_url=BASE_URL) as client:
        signed_in_client(client, secret_key=TEST_SECRET, subject_id=subject_id)
        page = client.get(urlsplit(link).path)
    assert page.status_code == 200
    assert page.context["page"].request.id == request_id


def test_while_the_server_is_down_messages_wait_then_each_goes_out_once(
    engine: Engine, clock: MovingClock
) -> None:
    server = SmtpServer()  # not started: nothing listens on its port
    ids = [queue_to(engine, f"person{n}@example.no", n) for n in range(3)]
    worker = delivering_worker(engine, runtime(port=server.port), clock)

    for _attempt in range(2):
        assert run_due(worker) == 3
        clock.advance(minutes=2)
    rows = outbox(engine)
    assert [(r.attempts, r.sent_at, r.attempt_started_at) for r in rows] == [(2, None, None)] * 3
    assert all(r.last_error and r.last_error.startswith("NotSent") for r in rows)
    assert all(j.status == JobStatus.queued for j in jobs(engine))

    server.start()
    try:
        assert run_due(worker) == 3
        clock.advance(hours=2)
        assert run_due(worker) == 0
    finally:
        server.stop()
    received = server.messages()
    assert sorted(m["To"] for m in received) == [f"person{n}@example.no" for n in range(3)]
    rows = outbox(engine)
    assert sorted(m["Message-ID"] for m in received) == sorted(r.message_id for r in rows)
    assert [(r.id, r.delivery, r.resends, r.email) for r in rows] == [
        (i, "smtp", 0, None) for i in ids
    ]


class WorkerKilled(BaseException):
    """What a SIGKILL looks like from inside: nothing after it runs."""


class DiesAfterSending:
    def __init__(self, inner: SmtpTransport) -> None:
        self.inner = inner

    def send(self, message: EmailMessage, *, sender: str, recipient: str) -> str:
        self.inner.send(message, sender=sender, recipient=recipient)
        raise WorkerKilled


def test_a_sender_killed_between_acceptance_and_commit_resends_with_the_same_message_id(
    engine: Engine, smtp: SmtpServer, clock: MovingClock
) -> None:
    queue_to(engine, "kari@example.no", 7)
    healthy = runtime(port=smtp.port)
    dying = runtime(DiesAfterSending(healthy.transport), port=smtp.port)  # type: ignore[arg-type]
    with pytest.raises(WorkerKilled):
        delivering_worker(engine, dying, clock).run_once()
    [row] = outbox(engine)
    assert len(smtp.envelopes) == 1
    # Accepted by the server, but not marked: the attempt is still in flight.
    assert row.sent_at is None and row.attempt_started_at == START and row.message_id
    assert [j.status for j in jobs(engine)] == [JobStatus.running]

    # Another worker takes the job over once the dead one's lease has run out.
    clock.advance(minutes=6)
    assert run_due(delivering_worker(engine, healthy, clock)) == 1
    first, second = smtp.messages()
    assert first["Message-ID"] == second["Message-ID"] == row.message_id
    [row] = outbox(engine)
    assert (row.attempts, row.resends, row.delivery) == (2, 1, "smtp")
    assert row.attempt_started_at is None and row.sent_at == clock.now
    clock.advance(hours=1)
    assert run_due(delivering_worker(engine, healthy, clock)) == 0
    assert len(smtp.envelopes) == 2


class DropsAfterData(SmtpServer):
    """A server that takes the message's data, keeps it, and breaks the connection before it
    answers: the sender cannot know whether the message was accepted (MaybeSent)."""

    def __init__(self) -> None:
        super().__init__()
        self.drop = True

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.envelopes.append(envelope)
        if self.drop:
            self.drop = False
            server.transport.abort()
        return self.reply


def test_a_connection_broken_after_the_data_is_resent_with_the_same_message_id(
    engine: Engine, clock: MovingClock
) -> None:
    """MaybeSent: the data went, the answer never came. The in-flight mark stays, so the retry
    is recorded as a resend and carries the first attempt's Message-ID (receivers dedupe)."""
    server = DropsAfterData()
    server.start()
    try:
        queue_to(engine, "kari@example.no", 7)
        worker = delivering_worker(engine, runtime(port=server.port), clock)
        assert run_due(worker) == 1
        [row] = outbox(engine)
        assert row.sent_at is None and row.attempt_started_at == START and row.message_id
        assert row.last_error and row.last_error.startswith("MaybeSent")
        assert [j.status for j in jobs(engine)] == [JobStatus.queued]
        first_id = row.message_id
        clock.advance(minutes=2)
        assert run_due(worker) == 1
    finally:
        server.stop()
    first, second = server.messages()
    assert first["Message-ID"] == second["Message-ID"] == first_id
    [row] = outbox(engine)
    assert (row.attempts, row.resends, row.delivery, row.message_id) == (2, 1, "smtp", first_id)
    assert row.attempt_started_at is None and row.sent_at == clock.now
    assert [j.status for j in jobs(engine)] == [JobStatus.done]


def test_a_refused_message_is_retried_as_not_sent(engine: Engine, clock: MovingClock) -> None:
    server = SmtpServer(reply="554 5.7.1 Rejected")
    server.start()
    try:
        queue_to(engine, "kari@example.no", 7)
        run_due(delivering_worker(engine, runtime(port=server.port), clock))
    finally:
        server.stop()
    [row] = outbox(engine)
    # The server said no: the next attempt is a plain retry, not a resend.
    assert row.sent_at is None and row.attempt_started_at is None
    assert row.last_error == "NotSent: SMTPDataError: 554"
    assert [j.status for j in jobs(engine)] == [JobStatus.queued]


def test_a_message_that_keeps_failing_is_parked_the_dpo_told_and_sent_when_retried(
    engine: Engine, clock: MovingClock
) -> None:
    server = SmtpServer()

    def tell(db: Session, job: Job, now) -> None:
        tell_dpo_parked(db, job, now, mailbox="dpo@nordlys.example")

    worker = delivering_worker(engine, runtime(port=server.port), clock, on_park=tell)
    queue_to(engine, "kari@example.no", 7)
    # Until the message is parked, then as long again for the notice queued as it was.
    for _attempt in range(2 * DELIVER_ATTEMPTS + 1):
        run_due(worker)
        clock.advance(minutes=2)
    # The message's job is parked; the notice to the DPO could not go either, and is parked
    # without a notice of its own.
    assert [(j.status, j.attempts) for j in jobs(engine)] == [
        (JobStatus.parked, DELIVER_ATTEMPTS)
    ] * 2
    _message, notice = outbox(engine)
    assert notice.kind == "job_parked" and notice.email == "dpo@nordlys.example"
    assert notice.context == {"job_id": jobs(engine)[0].id, "job_kind": "mail.deliver"}

    server.start()
    try:
        with session_scope(engine) as db:
            for job in jobs(engine):
                retry_parked(db, job.id or 0, clock.now)
        assert run_due(worker) == 2
    finally:
        server.stop()
    assert sorted(m["To"] for m in server.messages()) == [
        "dpo@nordlys.example",
        "kari@example.no",
    ]
    # The DPO's mailbox is kept on the record; the person's address is not.
    assert [(r.delivery, r.email) for r in outbox(engine)] == [
        ("smtp", None),
        ("smtp", "dpo@nordlys.example"),
    ]


def test_the_development_smtp_server_files_what_it_receives(
    engine: Engine, clock: MovingClock, tmp_path: Path
) -> None:
    from portal.mail import devserver, mailbox

    port = free_port()
    server = devserver.start(port, tmp_path)
    try:
        queue_to(engine, "kari@example.no", 7)
        assert run_due(delivering_worker(engine, runtime(port=port), clock)) == 1
    finally:
        server.stop()
    [entry] = mailbox.list_messages(tmp_path)
    assert (entry.recipient, entry.via) == ("kari@example.no", "smtp")
    [row] = outbox(engine)
    assert row.delivery == "smtp" and row.smtp_reply == f"250 OK filed as {entry.name}"
