"""SmtpMailer against a real SMTP server on loopback: plain, STARTTLS + AUTH, implicit TLS;
transient failures retried with doubling delays (recorded, not waited), permanent ones not."""

from __future__ import annotations

import logging
import socket
from email.message import EmailMessage
from typing import Any

import pytest

from centralita.config.mail import SmtpSettings
from centralita.notify.mail import DeliveryReport, MailDeliveryFailed, MailError, SmtpMailer
from tests.notify.smtpserver import PASSWORD, USER, SmtpServer, StartServer, free_port


class Delays:
    """Stands in for asyncio.sleep: records how long the mailer would have waited."""

    def __init__(self) -> None:
        self.waited: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waited.append(seconds)


def settings(server: SmtpServer | None = None, **changes: Any) -> SmtpSettings:
    values: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": server.port if server else free_port(),
        "security": "none",
        "from_address": "Centralita <pbx@provider.test>",
        "timeout": 5.0,
        "retry_delay": 1.0,
    }
    if server is not None and server.ca_file is not None:
        values["ca_file"] = str(server.ca_file)
    return SmtpSettings(**(values | changes))


def mail(to: str = "alice@acme.test", subject: str = "hello") -> EmailMessage:
    message = EmailMessage()
    message["From"] = "Centralita <pbx@provider.test>"
    message["To"] = to
    message["Subject"] = subject
    message.set_content("body\n")
    return message


async def test_plain_delivery(smtp_server: StartServer) -> None:
    server = smtp_server("plain")
    report = await SmtpMailer(settings(server)).send(mail("Alice <alice@acme.test>"))
    assert report == DeliveryReport(delivered=["alice@acme.test"], attempts=1)
    [got] = server.inbox.received
    assert got.mail_from == "pbx@provider.test"
    assert got.rcpt_tos == ["alice@acme.test"]
    assert got.message["Subject"] == "hello"
    assert (got.login, got.tls) == (None, False)


async def test_starttls_then_auth(smtp_server: StartServer) -> None:
    server = smtp_server("starttls")
    config = settings(server, security="starttls", username=USER, password=PASSWORD)
    report = await SmtpMailer(config).send(mail())
    assert report.delivered == ["alice@acme.test"]
    [got] = server.inbox.received
    assert (got.login, got.tls) == (USER, True)


async def test_implicit_tls_then_auth(smtp_server: StartServer) -> None:
    server = smtp_server("ssl")
    config = settings(server, security="ssl", username=USER, password=PASSWORD)
    await SmtpMailer(config).send(mail())
    [got] = server.inbox.received
    assert (got.login, got.tls) == (USER, True)


async def test_wrong_password_is_permanent(smtp_server: StartServer) -> None:
    server = smtp_server("starttls")
    delays = Delays()
    config = settings(server, security="starttls", username=USER, password="wrong-one")
    with pytest.raises(MailDeliveryFailed, match="535") as failure:
        await SmtpMailer(config, sleep=delays).send(mail())
    assert failure.value.permanent and failure.value.attempts == 1
    assert delays.waited == []
    assert set(server.inbox.logins) == {USER}  # smtplib tries PLAIN, then LOGIN
    assert server.inbox.received == []


async def test_no_clear_text_fallback_when_starttls_is_missing(smtp_server: StartServer) -> None:
    server = smtp_server("plain")
    delays = Delays()
    with pytest.raises(MailDeliveryFailed, match="STARTTLS") as failure:
        await SmtpMailer(settings(server, security="starttls"), sleep=delays).send(mail())
    assert failure.value.permanent
    assert delays.waited == [] and server.inbox.received == []


async def test_an_untrusted_certificate_is_refused(smtp_server: StartServer) -> None:
    server = smtp_server("ssl")
    config = settings(server, security="ssl", ca_file=None, username=USER, password=PASSWORD)
    with pytest.raises(MailDeliveryFailed, match="certificate not trusted") as failure:
        await SmtpMailer(config, sleep=Delays()).send(mail())
    assert failure.value.permanent
    assert server.inbox.logins == []  # the password never left


async def test_a_refused_connection_is_retried_then_reported(
    caplog: pytest.LogCaptureFixture,
) -> None:
    delays = Delays()
    config = settings(attempts=4, retry_delay=2.0)  # nobody listens on that port
    with (
        caplog.at_level(logging.WARNING, "centralita.mail"),
        pytest.raises(MailDeliveryFailed, match="gave up after 4 attempts") as failure,
    ):
        await SmtpMailer(config, sleep=delays).send(mail())
    assert delays.waited == [2.0, 4.0, 8.0]
    assert not failure.value.permanent and failure.value.recipients == ["alice@acme.test"]
    assert "refused" in failure.value.reason.lower()
    levels = [r.levelname for r in caplog.records]
    assert levels == ["WARNING", "WARNING", "WARNING", "ERROR"]
    assert "attempt 1/4" in caplog.records[0].getMessage()


async def test_temporary_refusals_are_retried_until_accepted(smtp_server: StartServer) -> None:
    server = smtp_server("plain")
    server.inbox.data_replies = ["451 4.3.0 try again later", "421 4.3.2 shutting down"]
    delays = Delays()
    report = await SmtpMailer(settings(server), sleep=delays).send(mail())
    assert report.attempts == 3
    assert delays.waited == [1.0, 2.0]
    assert len(server.inbox.received) == 1


async def test_a_permanent_refusal_is_not_retried(smtp_server: StartServer) -> None:
    server = smtp_server("plain")
    server.inbox.data_replies = ["554 5.7.1 message rejected"]
    delays = Delays()
    with pytest.raises(MailDeliveryFailed, match=r"554 5\.7\.1 message rejected") as failure:
        await SmtpMailer(settings(server), sleep=delays).send(mail())
    assert failure.value.permanent and delays.waited == []


async def test_one_unknown_recipient_does_not_stop_the_others(smtp_server: StartServer) -> None:
    server = smtp_server("plain")
    server.inbox.rcpt_replies["nobody@acme.test"] = ["550 5.1.1 no such user"]
    report = await SmtpMailer(settings(server), sleep=Delays()).send(
        mail("alice@acme.test, nobody@acme.test")
    )
    assert report.delivered == ["alice@acme.test"]
    assert report.refused == {"nobody@acme.test": "550 5.1.1 no such user"}
    assert [r.rcpt_tos for r in server.inbox.received] == [["alice@acme.test"]]


async def test_a_busy_mailbox_is_retried_alone(smtp_server: StartServer) -> None:
    server = smtp_server("plain")
    server.inbox.rcpt_replies["bob@acme.test"] = ["450 4.2.1 mailbox busy", "250 OK"]
    delays = Delays()
    report = await SmtpMailer(settings(server), sleep=delays).send(
        mail("alice@acme.test, bob@acme.test")
    )
    assert sorted(report.delivered) == ["alice@acme.test", "bob@acme.test"]
    assert report.attempts == 2 and delays.waited == [1.0]
    # each got exactly one copy
    assert [r.rcpt_tos for r in server.inbox.received] == [["alice@acme.test"], ["bob@acme.test"]]


async def test_every_recipient_refused_is_a_failure(smtp_server: StartServer) -> None:
    server = smtp_server("plain")
    server.inbox.rcpt_replies["nobody@acme.test"] = ["550 5.1.1 no such user"]
    with pytest.raises(MailDeliveryFailed, match=r"nobody@acme\.test") as failure:
        await SmtpMailer(settings(server), sleep=Delays()).send(mail("nobody@acme.test"))
    assert failure.value.permanent and failure.value.attempts == 1


async def test_a_silent_server_times_out() -> None:
    with socket.socket() as listener:  # accepts connections, never says a word
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        config = settings(port=listener.getsockname()[1], timeout=0.2, attempts=2)
        delays = Delays()
        with pytest.raises(MailDeliveryFailed, match="timed out"):
            await SmtpMailer(config, sleep=delays).send(mail())
        assert delays.waited == [1.0]


def test_backoff_doubles_up_to_the_cap() -> None:
    mailer = SmtpMailer(settings(retry_delay=5.0, max_retry_delay=30.0))
    assert [mailer.retry_delay(n) for n in range(1, 6)] == [5.0, 10.0, 20.0, 30.0, 30.0]


async def test_a_message_without_recipients_is_refused() -> None:
    message = mail()
    del message["To"]
    with pytest.raises(MailError, match="no recipients"):
        await SmtpMailer(settings()).send(message)
