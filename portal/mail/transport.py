"""Where a message goes: an SMTP server, or the development mailbox.

`SmtpTransport.send` speaks the SMTP commands one at a time so that it can tell the two ways an
attempt fails apart (portal/jobs/outbox.py says why it matters):

- `NotSent`: the server was not reached, refused the login, the sender or the recipient, or
  answered the message's data with an error code. It did not accept the message; retrying is
  safe.
- `MaybeSent`: the connection broke while the message's data was being sent or its reply
  awaited. The server may have accepted it; the next attempt is recorded as a resend.

Only the server's reply (e.g. "250 2.0.0 Ok: queued as 4F2B") is returned and kept; error texts
are reduced to their class and first line, without addresses.
"""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from email.policy import SMTP
from pathlib import Path
from typing import Protocol

from portal.mail import mailbox
from portal.settings import MailSettings


class DeliveryFailed(Exception):
    """An attempt failed; `maybe_sent` says whether the server may have accepted it."""

    maybe_sent = False


class NotSent(DeliveryFailed):
    pass


class MaybeSent(DeliveryFailed):
    maybe_sent = True


class Transport(Protocol):
    def send(self, message: EmailMessage, *, sender: str, recipient: str) -> str:
        """Hand the message over; returns the acceptance reply, or raises DeliveryFailed."""
        ...


class SmtpTransport:
    """SMTP with STARTTLS, implicit TLS or neither (SMTP_SECURITY), and a login if configured.

    TLS certificates are checked against the system's trust store (ssl.create_default_context).
    """

    def __init__(self, settings: MailSettings, *, context: ssl.SSLContext | None = None) -> None:
        self.settings = settings
        self.context = context

    def _tls(self) -> ssl.SSLContext:
        return self.context or ssl.create_default_context()

    def _connect(self) -> smtplib.SMTP:
        s = self.settings
        try:
            if s.security == "tls":
                smtp: smtplib.SMTP = smtplib.SMTP_SSL(
                    s.host, s.port, timeout=s.timeout, context=self._tls()
                )
            else:
                smtp = smtplib.SMTP(s.host, s.port, timeout=s.timeout)
            smtp.ehlo()
            if s.security == "starttls":
                smtp.starttls(context=self._tls())
                smtp.ehlo()
            if s.smtp_user:
                smtp.login(s.smtp_user, s.smtp_password)
        except (OSError, smtplib.SMTPException) as exc:
            raise NotSent(_describe(exc)) from None
        return smtp

    def send(self, message: EmailMessage, *, sender: str, recipient: str) -> str:
        data = message.as_bytes(policy=SMTP)
        smtp = self._connect()
        try:
            try:
                _expect(smtp.mail(_address(sender)), (250,), "MAIL FROM")
                _expect(smtp.rcpt(recipient), (250, 251), "RCPT TO")
            except (OSError, smtplib.SMTPException) as exc:
                raise NotSent(_describe(exc)) from None
            try:
                code, reply = smtp.data(data)
            except smtplib.SMTPDataError as exc:
                # The server answered, with an error: it did not take the message.
                raise NotSent(_describe(exc)) from None
            except (OSError, smtplib.SMTPException) as exc:
                raise MaybeSent(_describe(exc)) from None
            if code != 250:
                # smtplib returns the final reply as it is: an error code is a refusal.
                raise NotSent(f"SMTPDataError: {code}")
            return f"{code} {reply.decode('utf-8', 'replace')}".strip()
        finally:
            _close(smtp)


class MailboxTransport:
    """Development without SMTP_HOST: the message is filed in the development mailbox."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def send(self, message: EmailMessage, *, sender: str, recipient: str) -> str:
        name = mailbox.file_message(self.directory, message.as_bytes(policy=SMTP), via="sender")
        return f"filed in the development mailbox as {name}"


def transport_for(settings: MailSettings) -> Transport:
    if settings.host:
        return SmtpTransport(settings)
    if settings.production:
        # Settings refuse this at start-up; a worker started otherwise must not drop mail.
        raise NotSent("SMTP_HOST is not set")
    return MailboxTransport(settings.mailbox_dir)


def _address(sender: str) -> str:
    """The envelope sender of MAIL_FROM, which may carry a display name."""
    return sender.rpartition("<")[2].rstrip(">").strip()


def _expect(answer: tuple[int, bytes], codes: tuple[int, ...], step: str) -> None:
    code, _reply = answer
    if code not in codes:
        raise NotSent(f"SMTPResponse: {step} answered {code}")


def _describe(exc: BaseException) -> str:
    if isinstance(exc, smtplib.SMTPResponseException):
        return f"{type(exc).__name__}: {exc.smtp_code}"
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0]}"[:300] if lines else type(exc).__name__


def _close(smtp: smtplib.SMTP) -> None:
    # After the reply, a failing QUIT changes nothing: the message was accepted or not.
    try:
        smtp.quit()
    except (OSError, smtplib.SMTPException):
        smtp.close()
