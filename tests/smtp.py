"""A real SMTP server for tests: aiosmtpd on a free local port, keeping what it accepts."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller

from tests.helpers import free_port


@dataclass
class Received:
    """One message as the server accepted it."""

    envelope_from: str
    envelope_to: list[str]
    message: EmailMessage

    @property
    def subject(self) -> str:
        return str(self.message["Subject"])

    def part(self, content_type: str) -> str:
        body = self.message.get_body(preferencelist=(content_type.split("/")[1],))
        assert body is not None and body.get_content_type() == content_type, content_type
        return str(body.get_content()).replace("\r\n", "\n")

    @property
    def text(self) -> str:
        return self.part("text/plain")

    @property
    def html(self) -> str:
        return self.part("text/html")


@dataclass
class Mailbox:
    """The server's behaviour and what it received.

    `refuse` answers the next n messages with a temporary 451; `reject` with a permanent
    550. `sessions` holds the client address of each connection that delivered a message.
    `hold_rcpt`, when set, makes the server wait at RCPT TO until `release` is set.
    """

    port: int = 0
    messages: list[Received] = field(default_factory=list)
    sessions: set[object] = field(default_factory=set)
    refuse: int = 0
    reject: int = 0
    refused: int = 0
    hold_rcpt: threading.Event | None = None
    holding: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def wait_for(self, count: int, timeout: float = 60) -> list[Received]:
        from tests.worker import wait_until

        wait_until(lambda: len(self.messages) >= count, f"{count} email(s)")
        return list(self.messages)


class _Handler:
    def __init__(self, mailbox: Mailbox) -> None:
        self.mailbox = mailbox

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options) -> str:
        box = self.mailbox
        if box.hold_rcpt is not None and box.hold_rcpt.is_set():
            box.holding.set()
            import asyncio

            while not box.release.is_set():
                await asyncio.sleep(0.05)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope) -> str:
        box = self.mailbox
        with box.lock:
            if box.reject:
                box.reject -= 1
                box.refused += 1
                return "550 5.7.1 Message rejected"
            if box.refuse:
                box.refuse -= 1
                box.refused += 1
                return "451 4.3.0 Try again later"
            box.sessions.add(session.peer)
            message: Any = message_from_bytes(envelope.content, policy=policy.default)
            box.messages.append(Received(envelope.mail_from, list(envelope.rcpt_tos), message))
        return "250 Message accepted for delivery"


@contextmanager
def smtp_server() -> Iterator[tuple[Mailbox, int]]:
    """Run an SMTP server in this process; yield its mailbox and port."""
    port = free_port()
    mailbox = Mailbox(port=port)
    controller = Controller(_Handler(mailbox), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield mailbox, port
    finally:
        mailbox.release.set()
        controller.stop()
