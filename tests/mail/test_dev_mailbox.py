"""Development without SMTP_HOST: the worker files mail in the development mailbox, and
/dev/mailbox shows it (text with clickable links, the HTML part under its own sandbox)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import select
from starlette.testclient import TestClient

from portal.app import create_app
from portal.db import session_scope
from portal.jobs import queue
from portal.jobs.outbox import OutboxMessage
from portal.jobs.worker import Worker
from portal.mail import mailbox
from portal.models import Assurance
from portal.settings import Settings
from portal.workflows.requests import Actor, RequestType, file_request
from tests.mail.support import START, MovingClock, add_person, run_due


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as c:
        yield c


def test_the_worker_files_mail_in_the_mailbox_and_the_page_shows_it(
    engine: Engine, settings: Settings, client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The worker reads the mail settings from its environment, as `portal worker` does.
    monkeypatch.setenv("PORTAL_VAR_DIR", str(settings.var_dir))
    monkeypatch.setenv("PORTAL_BASE_URL", "http://testserver")
    for name in ("SMTP_HOST", "MAIL_DEV_SERVER", "PORTAL_ENV", "DPO_EMAIL"):
        monkeypatch.delenv(name, raising=False)
    subject_id = add_person(engine)
    with session_scope(engine) as db:
        file_request(
            db,
            subject_id=subject_id,
            type=RequestType.erasure,
            assurance=Assurance.high,
            actor=Actor.person,
            language="en",
            now=START,
        )
    queue.load_handler_modules()
    assert run_due(Worker(engine, "dev", now=MovingClock(), schedule=[])) == 1
    with session_scope(engine) as db:
        [row] = db.exec(select(OutboxMessage)).all()
        assert (row.delivery, row.sent_at) == ("mailbox", START)
        assert row.smtp_reply and row.smtp_reply.startswith("filed in the development mailbox")

    listing = client.get("/dev/mailbox")
    assert listing.status_code == 200
    [entry] = listing.context["page"].messages
    assert entry.recipient == "kari@example.no" and entry.via == "sender"
    assert entry.subject == "We have received your request (reference 1)"

    page = client.get(f"/dev/mailbox/{entry.name}")
    assert page.status_code == 200
    link = '<a href="http://testserver/me/requests/1">http://testserver/me/requests/1</a>'
    assert link in page.text
    assert page.context["page"].message.message_id == row.message_id

    html = client.get(f"/dev/mailbox/{entry.name}/html")
    assert html.status_code == 200 and html.headers["content-type"].startswith("text/html")
    policy = html.headers["content-security-policy"]
    assert "sandbox" in policy and "script-src" not in policy and "default-src 'none'" in policy
    assert 'href="http://testserver/me/requests/1"' in html.text


def test_only_mailbox_names_are_opened(client: TestClient, settings: Settings) -> None:
    directory = settings.mail.mailbox_dir
    directory.mkdir(parents=True)
    (settings.var_dir / "secret_key.eml").write_text("not mail")
    for name in ("..%2Fsecret_key.eml", "secret_key.eml", "0000000000000000-00000000-smtp.eml"):
        assert client.get(f"/dev/mailbox/{name}").status_code == 404
    assert client.get("/dev/mailbox/0000000000000000-00000000-smtp.eml/html").status_code == 404


def test_the_mailbox_lists_the_newest_first(tmp_path: Path) -> None:
    raw = b"From: a@example.no\r\nTo: b@example.no\r\nSubject: %s\r\n\r\nbody\r\n"
    first = mailbox.file_message(tmp_path, raw % b"first", via="smtp")
    second = mailbox.file_message(tmp_path, raw % b"second", via="sender")
    assert [(e.name, e.subject, e.via) for e in mailbox.list_messages(tmp_path)] == [
        (second, "second", "sender"),
        (first, "first", "smtp"),
    ]
    assert not list(tmp_path.glob(".*"))  # no half-written file left
