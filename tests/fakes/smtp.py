"""A real SMTP server on loopback (aiosmtpd) that keeps what it receives, for e-mail tests."""

from __future__ import annotations

import email
from collections.abc import Iterator
from contextlib import contextmanager
from email import policy
from email.message import EmailMessage

from aiosmtpd.controller import Controller
from support.ports import free_port


class Inbox:
    """The aiosmtpd handler: every accepted message with its envelope recipients."""

    def __init__(self) -> None:
        self.messages: list[tuple[list[str], EmailMessage]] = []
        self.port = 0

    async def handle_DATA(self, server, session, envelope):
        parsed = email.message_from_bytes(envelope.content, policy=policy.default)
        self.messages.append((list(envelope.rcpt_tos), parsed))  # type: ignore[arg-type]
        return "250 Message accepted for delivery"


@contextmanager
def smtp_inbox(port: int | None = None) -> Iterator[Inbox]:
    inbox = Inbox()
    inbox.port = port or free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=inbox.port)
    controller.start()
    try:
        yield inbox
    finally:
        controller.stop()
