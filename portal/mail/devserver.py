"""An SMTP server for development (MAIL_DEV_SERVER=PORT): what it receives goes to the mailbox.

With it, development delivers over real SMTP (the sender connects to 127.0.0.1:PORT without
TLS) and /dev/mailbox shows what arrived, so the whole path can be watched, also from another
program pointed at the port. aiosmtpd is a development dependency: production never starts it
(the setting is refused there).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from portal.mail import mailbox


class MailboxHandler:
    """aiosmtpd's handler: file every message received in the development mailbox."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        name = mailbox.file_message(self.directory, envelope.original_content, via="smtp")
        return f"250 OK filed as {name}"


def start(port: int, directory: Path, host: str = "127.0.0.1") -> Any:
    """Start the server in a thread of its own; returns aiosmtpd's Controller (`.stop()`)."""
    from aiosmtpd.controller import Controller

    # aiosmtpd logs every command with the addresses in it: personal data stays out of logs.
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    controller = Controller(MailboxHandler(directory), hostname=host, port=port)
    controller.start()
    return controller
