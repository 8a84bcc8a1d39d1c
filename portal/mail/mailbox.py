"""The development mailbox: the mail development "sends", kept as files and shown at /dev/mailbox.

In development without SMTP_HOST, the sender files each message here instead of handing it to
a server (`MailboxTransport`); with MAIL_DEV_SERVER, the development SMTP server files what it
receives here (portal/mail/devserver.py). Each message is one RFC 5322 file,
``<PORTAL_VAR_DIR>/mailbox/<time>-<random>-<via>.eml``, written to a temporary name and renamed,
so a reader never sees half a message. Production never writes or shows it (the page is not
mounted there).
"""

from __future__ import annotations

import re
import secrets
import time
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

# What a mailbox file name looks like; anything else (a path, "..") is never opened.
NAME = re.compile(r"^[0-9]{16}-[0-9a-f]{8}-(sender|smtp)\.eml$")
MAX_LISTED = 200


def file_message(directory: Path, raw: bytes, *, via: str) -> str:
    """Keep one message; returns its name. `via`: "sender" (filed directly) or "smtp"."""
    directory.mkdir(parents=True, exist_ok=True)
    name = f"{time.time_ns() // 1000:016d}-{secrets.token_hex(4)}-{via}.eml"
    partial = directory / f".{name}.tmp"
    partial.write_bytes(raw)
    partial.rename(directory / name)
    return name


@dataclass(frozen=True)
class MailboxEntry:
    name: str
    sender: str
    recipient: str
    subject: str
    date: str
    via: str  # "sender" or "smtp"


@dataclass(frozen=True)
class MailboxMessage:
    entry: MailboxEntry
    message_id: str
    language: str
    text: str
    html: str
    attachments: tuple[tuple[str, str, int], ...]  # file name, content type, size


def _parse(path: Path) -> EmailMessage:
    parsed = message_from_bytes(path.read_bytes(), policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def _entry(name: str, message: EmailMessage) -> MailboxEntry:
    return MailboxEntry(
        name=name,
        sender=str(message.get("From", "")),
        recipient=str(message.get("To", "")),
        subject=str(message.get("Subject", "")),
        date=str(message.get("Date", "")),
        via=name.rsplit("-", 1)[-1].removesuffix(".eml"),
    )


def list_messages(directory: Path) -> list[MailboxEntry]:
    """The newest messages first (at most MAX_LISTED)."""
    if not directory.is_dir():
        return []
    names = sorted((p.name for p in directory.iterdir() if NAME.match(p.name)), reverse=True)
    return [_entry(name, _parse(directory / name)) for name in names[:MAX_LISTED]]


def read_message(directory: Path, name: str) -> MailboxMessage | None:
    """One message by its name, or None (no such message, or not a mailbox name)."""
    if not NAME.match(name) or not (directory / name).is_file():
        return None
    message = _parse(directory / name)
    text = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    attachments = tuple(
        (
            part.get_filename() or "",
            part.get_content_type(),
            len(part.get_payload(decode=True) or b""),
        )
        for part in message.iter_attachments()
    )
    return MailboxMessage(
        entry=_entry(name, message),
        message_id=str(message.get("Message-ID", "")),
        language=str(message.get("Content-Language", "")),
        text=text.get_content() if text is not None else "",
        html=html.get_content() if html is not None else "",
        attachments=attachments,
    )
