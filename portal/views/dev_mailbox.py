"""/dev/mailbox: the mail development sent, for a developer to read (development only).

The list shows the newest messages first; a message's page shows its headers and its text with
the links clickable, names its attachments, and links its HTML part, which is served on its
own under a sandboxing Content-Security-Policy (`HTML_POLICY`): it may use the inline styles
e-mail needs, and nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass
from email import message_from_bytes, policy
from pathlib import Path

from portal.mail import mailbox
from portal.views.messages import TextPart, text_parts

# The HTML part's own page: inline styles only, no scripts, nothing fetched, a sandbox.
HTML_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'; sandbox allow-top-navigation-by-user-activation"
)


@dataclass(frozen=True)
class MailboxPage:
    messages: tuple[mailbox.MailboxEntry, ...]
    directory: str


@dataclass(frozen=True)
class MailboxMessagePage:
    message: mailbox.MailboxMessage
    parts: tuple[TextPart, ...]  # the text part, its links marked


def load_mailbox(directory: Path) -> MailboxPage:
    return MailboxPage(tuple(mailbox.list_messages(directory)), str(directory))


def load_message(directory: Path, name: str) -> MailboxMessagePage | None:
    found = mailbox.read_message(directory, name)
    if found is None:
        return None
    return MailboxMessagePage(found, text_parts(found.text))


def load_html(directory: Path, name: str) -> str | None:
    found = mailbox.read_message(directory, name)
    return found.html if found is not None else None


def load_attachment(directory: Path, name: str, index: int) -> tuple[str, str, bytes] | None:
    """An attachment's file name, content type and bytes."""
    if not mailbox.NAME.match(name) or not (directory / name).is_file():
        return None
    parsed = message_from_bytes((directory / name).read_bytes(), policy=policy.default)
    parts = list(parsed.iter_attachments())  # type: ignore[attr-defined]
    if not 0 <= index < len(parts):
        return None
    part = parts[index]
    return part.get_filename() or "attachment", part.get_content_type(), part.get_content()
