"""A message's e-mail: its kind's templates in the recipient's language, as MIME.

Each kind has two templates in portal/templates/emails/: ``<kind>.txt``, whose first line is
the subject and whose body follows a blank line, and ``<kind>.html``, which extends
``emails/_layout.html``. Both say the same in the same translated sentences (one msgid each), so
translating a message once covers both. The HTML is deliberately plain: inline styles only, no
images, fonts, scripts or anything fetched from elsewhere, so it shows the same in every mail
program and leaks nothing when opened.

The MIME message is multipart/alternative (text first, HTML preferred), wrapped in
multipart/mixed when something is attached (the outcome letter for a person without BankID).
It carries ``Auto-Submitted: auto-generated`` (RFC 3834) so that auto-replies stay away, and
``Content-Language``.
"""

from __future__ import annotations

import contextvars
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape

from portal import i18n
from portal.templating import TEMPLATES_DIR


@dataclass(frozen=True)
class Attachment:
    filename: str
    content_type: str  # "application/pdf"
    data: bytes


@dataclass(frozen=True)
class Rendered:
    """A message in words: what the e-mail and the person's Messages page show."""

    subject: str
    text: str
    html: str
    attachments: tuple[Attachment, ...] = ()


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        # The HTML part is escaped (a reason the DPO typed may contain markup); text is not.
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.install_gettext_callables(i18n.raw_gettext, i18n.raw_ngettext, newstyle=True)  # type: ignore[attr-defined]
    return env


_ENV = _environment()


def render_templates(kind: str, values: Mapping[str, Any], language: str) -> Rendered:
    """The kind's text and HTML templates with `values`, in `language` (the caller's own
    language is left as it was)."""
    language = language if language in i18n.LANGUAGES else i18n.DEFAULT_LANGUAGE

    def run() -> Rendered:
        i18n.set_language(language)
        text = _ENV.get_template(f"emails/{kind}.txt").render(**values)
        subject, _blank, body = text.strip().partition("\n\n")
        subject = " ".join(subject.split())
        html = _ENV.get_template(f"emails/{kind}.html").render(
            **values, subject=subject, language=language
        )
        return Rendered(subject=subject, text=_tidy(body), html=html)

    return contextvars.copy_context().run(run)


def _tidy(body: str) -> str:
    """The text part without the blank lines templates leave: at most one between paragraphs."""
    lines = [line.rstrip() for line in body.strip().splitlines()]
    tidy: list[str] = []
    for line in lines:
        if line or (tidy and tidy[-1]):
            tidy.append(line)
    return "\n".join(tidy).strip() + "\n"


def mime_message(
    rendered: Rendered,
    *,
    sender: str,
    recipient: str,
    message_id: str,
    language: str,
    date: datetime,
) -> EmailMessage:
    """The e-mail as sent: headers, the text and HTML alternatives, and any attachment."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = recipient
    message["Subject"] = rendered.subject
    message["Date"] = format_datetime(date)
    message["Message-ID"] = message_id
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(rendered.text, cte="quoted-printable")
    message.add_alternative(rendered.html, subtype="html", cte="quoted-printable")
    for attachment in rendered.attachments:
        maintype, _slash, subtype = attachment.content_type.partition("/")
        message.add_attachment(
            attachment.data, maintype=maintype, subtype=subtype, filename=attachment.filename
        )
    # After the content: setting it clears every Content-* header.
    message["Content-Language"] = language
    return message
