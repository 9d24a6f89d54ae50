"""A real SMTP server for end-to-end tests: aiosmtpd in its own thread, keeping every message.

:class:`SmtpSink` listens on a free loopback port (plain SMTP, RFC 5321, no TLS, no AUTH, as
``serve --config``'s ``smtp: {security: none}`` talks to it) and parses what it accepts into
:class:`email.message.EmailMessage` objects (RFC 5322, MIME per RFC 2045/2046) with their
envelope. Tests wait for a message with :meth:`SmtpSink.wait_message` (a condition variable,
no polling) and read its attachments.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from typing import Any

from aiosmtpd.controller import Controller

from tests.e2e.ports import HOST, free_port


@dataclass(frozen=True)
class Received:
    """One accepted message: the envelope (RFC 5321 MAIL FROM / RCPT TO) and the message."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    message: EmailMessage

    def attachments(self) -> list[tuple[str, str, bytes]]:
        """(filename, content type, decoded bytes) of every attachment."""
        found = []
        for part in self.message.iter_attachments():
            if isinstance(part, EmailMessage):
                payload = part.get_payload(decode=True)
                data = payload if isinstance(payload, bytes) else b""
                found.append((part.get_filename() or "", part.get_content_type(), data))
        return found


class _Handler:
    """aiosmtpd's handler hook: DATA is where a whole message has arrived."""

    def __init__(self, sink: SmtpSink) -> None:
        self.sink = sink

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        raw = envelope.original_content or envelope.content
        parsed = message_from_bytes(bytes(raw), policy=default)
        assert isinstance(parsed, EmailMessage)
        self.sink.add(Received(str(envelope.mail_from), tuple(envelope.rcpt_tos), parsed))
        return "250 Message accepted for delivery"


class SmtpSink:
    """An SMTP server that accepts everything; use as a context manager."""

    def __init__(self, port: int | None = None) -> None:
        self.host = HOST
        self.port = port or free_port()
        self.messages: list[Received] = []
        self._cond = threading.Condition()
        self._controller = Controller(_Handler(self), hostname=self.host, port=self.port)

    def settings(self, from_address: str = "pbx@acme.test") -> dict[str, Any]:
        """The ``smtp`` section of ``serve --config`` that sends here."""
        return {
            "host": self.host,
            "port": self.port,
            "security": "none",
            "from_address": from_address,
            "retry_delay": 0.5,
        }

    def add(self, received: Received) -> None:
        with self._cond:
            self.messages.append(received)
            self._cond.notify_all()

    def wait_message(self, recipient: str, timeout: float = 15.0) -> Received:
        """The first message addressed (envelope RCPT TO) to ``recipient``."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for received in self.messages:
                    if recipient in received.rcpt_tos:
                        return received
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not self._cond.wait(remaining):
                    got = [r.rcpt_tos for r in self.messages]
                    raise AssertionError(f"no e-mail to {recipient} in {timeout}s; got {got}")

    def __enter__(self) -> SmtpSink:
        self._controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._controller.stop()
