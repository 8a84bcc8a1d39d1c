"""What the mail tests share: a real SMTP server (aiosmtpd) on a free port, a person with an
address on file, and a worker that delivers with a given transport and a clock."""

from __future__ import annotations

import socket
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from sqlalchemy.engine import Engine

from portal.datamap import load_datamap
from portal.db import session_scope
from portal.demo import DATAMAP_PATH
from portal.jobs.outbox import DELIVER_JOB, MessageSite
from portal.jobs.worker import Worker
from portal.mail.sender import Runtime, make_handler
from portal.mail.transport import SmtpTransport, Transport
from portal.models import Assurance, IdentifierKind, Subject, SubjectIdentifier
from portal.settings import MailSettings

START = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
BASE_URL = "http://testserver"
MAIL_FROM = "Nordlys personvern <personvern@nordlys.example>"
# Where the tests render messages: the demo controller's time zone, no follow links signed.
SITE = MessageSite(BASE_URL, "Europe/Oslo")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class SmtpServer:
    """aiosmtpd on 127.0.0.1 on a port of its own, which it keeps across stop() and start()
    (a mail server going down and coming back)."""

    def __init__(self, reply: str = "250 2.0.0 Ok: queued as TEST") -> None:
        self.port = free_port()
        self.reply = reply
        self.envelopes: list[Any] = []
        self.controller: Any = None

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.reply.startswith("250"):
            self.envelopes.append(envelope)
        return self.reply

    def start(self) -> None:
        from aiosmtpd.controller import Controller

        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    def messages(self) -> list[EmailMessage]:
        return [
            message_from_bytes(e.original_content, policy=policy.default)  # type: ignore[misc]
            for e in self.envelopes
        ]


def mail_settings(port: int) -> MailSettings:
    return MailSettings(
        smtp_host="127.0.0.1",
        smtp_port=port,
        smtp_security="none",
        mail_from=MAIL_FROM,
        base_url=BASE_URL,
        timeout=5,
    )


def runtime(transport: Transport | None = None, *, port: int = 25) -> Runtime:
    settings = mail_settings(port)
    controller = load_datamap(DATAMAP_PATH).controller
    return Runtime(settings, transport or SmtpTransport(settings), lambda: controller)


class MovingClock:
    def __init__(self, start: datetime = START) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def delivering_worker(
    engine: Engine,
    run: Runtime,
    clock: MovingClock,
    on_park: Callable[..., None] | None = None,
) -> Worker:
    """A worker that runs only deliveries, retrying a minute after a failure."""
    return Worker(
        engine,
        "mail-test",
        handlers={DELIVER_JOB: make_handler(lambda: run)},
        now=clock,
        schedule=[],
        backoff=lambda attempts: timedelta(minutes=1),
        on_park=on_park or (lambda db, job, now: None),
    )


def run_due(worker: Worker) -> int:
    ran = 0
    while worker.run_once():
        ran += 1
    return ran


def add_person(
    engine: Engine, national_id: str = "01017012345", email: str | None = "kari@example.no"
) -> int:
    """A person, with an address they proved when `email` is given."""
    with session_scope(engine) as db:
        subject = Subject(national_id=national_id, country="NO", given_name="Kari")
        db.add(subject)
        db.flush()
        if email:
            db.add(
                SubjectIdentifier(
                    subject_id=subject.id,
                    kind=IdentifierKind.email,
                    value=email,
                    assurance=Assurance.low,
                )
            )
        assert subject.id is not None
        return subject.id
