"""The sender killed for real: `portal worker` as a child process, SIGKILLed while the mail
server holds the message's data and before it has answered, so the worker dies between sending
and recording. A second `portal worker` takes the job over once the claim's lease has run out and
sends the message again, with the same Message-ID, counted as a resend: the message reaches the
server twice at most, both copies one Message-ID, and on record.

Child processes, a timed wait for the lease and aiosmtpd's thread: real_clock.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlmodel import Session

from portal.db import session_scope, utcnow
from portal.jobs.outbox import DELIVER_JOB, OutboxMessage, queue_message
from portal.jobs.queue import Job, JobStatus
from tests.conftest import TEST_SECRET
from tests.mail.support import MAIL_FROM, SmtpServer

pytestmark = pytest.mark.real_clock

ROOT = Path(__file__).resolve().parents[2]
LEASE_SECONDS = 2


class KillsTheSender(SmtpServer):
    """Takes the first message's data, then kills the worker that is sending it before
    answering: the message is here, and the sender never learns it."""

    def __init__(self) -> None:
        super().__init__()
        self.sender: subprocess.Popen[bytes] | None = None

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.envelopes.append(envelope)
        if self.sender is not None and len(self.envelopes) == 1:
            self.sender.send_signal(signal.SIGKILL)
            self.sender.wait(timeout=30)
        return self.reply


def worker(database_url: str, port: int, log: Path, *args: str) -> subprocess.Popen[bytes]:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("DPO_EMAIL", "PORTAL_ENV", "MAIL_DEV_SERVER")
    }
    env |= {
        "DATABASE_URL": database_url,
        "SECRET_KEY": TEST_SECRET,
        "PORTAL_VAR_DIR": str(log.parent),
        "PORTAL_BASE_URL": "http://testserver",
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(port),
        "SMTP_SECURITY": "none",
        "MAIL_FROM": MAIL_FROM,
    }
    command = [sys.executable, "-m", "portal.cli", "worker", "--poll", "0.05"]
    command += ["--lease", str(LEASE_SECONDS), *args]
    with log.open("w") as out:
        return subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)


def wait_for(condition: Any, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.05)


def delivery(engine: Engine) -> tuple[OutboxMessage, Job]:
    with Session(engine) as db:
        message = db.execute(select(OutboxMessage)).scalars().one()
        job = db.execute(select(Job).where(Job.kind == DELIVER_JOB)).scalars().one()
        return message, job


def test_a_killed_sender_s_message_goes_again_once_with_the_same_message_id(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    with session_scope(engine) as db:
        queue_message(
            db,
            "request_received",
            language="nb",
            email="kari@example.no",
            context={"request_id": 7, "type": "access", "due_at": utcnow().isoformat()},
            now=utcnow(),
        )
    server = KillsTheSender()
    server.start()
    try:
        first = worker(database_url, server.port, tmp_path / "first.log")
        server.sender = first
        wait_for(lambda: first.poll() is not None)
        assert first.returncode == -signal.SIGKILL
        message, job = delivery(engine)
        # The server has it; our record says an attempt is in flight, its outcome unknown.
        assert len(server.envelopes) == 1
        assert message.sent_at is None and message.attempt_started_at is not None
        assert message.message_id and job.status == JobStatus.running

        time.sleep(LEASE_SECONDS + 0.5)  # until the dead worker's claim has run out
        second = worker(database_url, server.port, tmp_path / "second.log", "--burst")
        assert second.wait(timeout=60) == 0, (tmp_path / "second.log").read_text()
    finally:
        server.stop()
    first_copy, second_copy = server.messages()
    assert first_copy["Message-ID"] == second_copy["Message-ID"] == message.message_id
    sent, job = delivery(engine)
    assert (sent.attempts, sent.resends, sent.delivery) == (2, 1, "smtp")
    assert sent.sent_at is not None and sent.attempt_started_at is None
    assert job.status == JobStatus.done
    # The worker's log names the job, never the address or the message.
    log = (tmp_path / "second.log").read_text()
    assert "kari@example.no" not in log and "Message-ID" not in log
