"""A real SMTP server (aiosmtpd) on loopback for the mail tests, with scripted refusals, and
a self-signed certificate (made with the openssl command) for STARTTLS and implicit TLS."""

from __future__ import annotations

import socket
import ssl
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any, cast

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

USER, PASSWORD = "pbx@provider.test", "s3cret-smtp"


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage
    login: str | None  # who authenticated on that connection, if anyone
    tls: bool


@dataclass
class Inbox:
    """The server's handler: keeps what it accepted, refuses what the test scripted."""

    received: list[Received] = field(default_factory=list)
    # address -> replies to RCPT TO, used up one per try ("450 ..." then accepted, say)
    rcpt_replies: dict[str, list[str]] = field(default_factory=dict)
    data_replies: list[str] = field(default_factory=list)  # replies to DATA, one per try
    logins: list[str] = field(default_factory=list)

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        scripted = self.rcpt_replies.get(address)
        if scripted:
            reply = scripted.pop(0) if len(scripted) > 1 else scripted[0]
            if not reply.startswith("250"):
                return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.data_replies:
            return self.data_replies.pop(0)
        message = message_from_bytes(envelope.content, policy=policy.default)
        login = session.auth_data.login.decode() if session.authenticated else None
        self.received.append(
            Received(
                envelope.mail_from,
                list(envelope.rcpt_tos),
                cast(EmailMessage, message),
                login,
                server.transport.get_extra_info("ssl_object") is not None,
            )
        )
        return "250 OK: queued"

    def authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> AuthResult:
        assert isinstance(data, LoginPassword)
        self.logins.append(data.login.decode())
        ok = (data.login.decode(), data.password.decode()) == (USER, PASSWORD)
        # handled=False: aiosmtpd itself then answers a failure with 535 (RFC 4954 §6).
        return AuthResult(success=ok, handled=False, auth_data=data if ok else None)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class SmtpServer:
    inbox: Inbox
    port: int
    ca_file: Path | None = None


@pytest.fixture(scope="session")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


def _server_context(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*certificate)
    return context


StartServer = Callable[..., SmtpServer]


@pytest.fixture
def smtp_server(certificate: tuple[Path, Path]) -> Iterator[StartServer]:
    """``smtp_server(mode)``: "plain" (no TLS, no AUTH), "starttls" (STARTTLS required, then
    AUTH), "ssl" (implicit TLS, AUTH). Stopped at the end of the test."""
    started: list[Controller] = []

    def start(mode: str = "plain") -> SmtpServer:
        inbox, port = Inbox(), free_port()
        options: dict[str, Any] = {"server_hostname": "mail.test"}
        if mode == "starttls":
            options |= {
                "tls_context": _server_context(certificate),
                "require_starttls": True,
                "authenticator": inbox.authenticate,
            }
        elif mode == "ssl":
            options |= {
                "ssl_context": _server_context(certificate),
                "authenticator": inbox.authenticate,
                # aiosmtpd counts only STARTTLS as TLS for AUTH; this connection is TLS from
                # its first byte.
                "auth_require_tls": False,
            }
        controller = Controller(inbox, hostname="127.0.0.1", port=port, **options)
        controller.start()
        started.append(controller)
        return SmtpServer(inbox, port, None if mode == "plain" else certificate[0])

    yield start
    for controller in started:
        controller.stop()
