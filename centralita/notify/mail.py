"""Sending e-mail through the provider's SMTP server, with retries.

:class:`SmtpMailer` sends one :class:`~email.message.EmailMessage` with :mod:`smtplib` in a
worker thread (``asyncio.to_thread``: smtplib blocks), every network operation bounded by the
configured timeout. A try that fails for a reason that may pass (the server unreachable or
dropping the connection, a 4xx reply: RFC 5321 §4.2.1 "transient negative completion") is
retried after a delay that doubles each time; a 5xx reply (RFC 5321 §4.2.1 "permanent
negative completion"), a TLS certificate the server cannot prove, or a server lacking what
the settings require (STARTTLS, AUTH) ends it at once. Recipients refused with 4xx while others
were accepted are retried alone, so nobody gets the message twice.

Every failed try is logged, and a message that could not be delivered raises
:class:`MailDeliveryFailed` naming the recipients and why: nothing fails silently.
"""

from __future__ import annotations

import asyncio
import logging
import smtplib
import ssl
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP

from centralita.config.mail import SmtpSettings, parse_mailbox

log = logging.getLogger("centralita.mail")

Sleep = Callable[[float], Awaitable[None]]


class MailError(Exception):
    """Base class of the errors of this module."""


class MailDeliveryFailed(MailError):
    """The message did not reach ``recipients``; ``reason`` is the last error seen."""

    def __init__(
        self, recipients: Sequence[str], reason: str, *, attempts: int, permanent: bool
    ) -> None:
        kind = "permanent failure" if permanent else f"gave up after {attempts} attempts"
        super().__init__(f"e-mail to {', '.join(recipients)} not delivered ({kind}): {reason}")
        self.recipients = list(recipients)
        self.reason = reason
        self.attempts = attempts
        self.permanent = permanent


@dataclass(frozen=True, slots=True)
class DeliveryReport:
    """A message accepted by the server for ``delivered``, after ``attempts`` tries."""

    delivered: list[str]
    attempts: int
    refused: dict[str, str] = field(default_factory=dict)  # recipient -> permanent reply


class _Failure(Exception):
    """One try failed. ``pending`` are the recipients still to try (all of them unless the
    server took some); ``refused`` those it refused for good."""

    def __init__(
        self,
        reason: str,
        *,
        transient: bool,
        pending: Sequence[str],
        refused: dict[str, str] | None = None,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.transient = transient
        self.pending = list(pending)
        self.refused = refused or {}


class SmtpMailer:
    """Sends mail with :class:`SmtpSettings`. ``sleep`` waits between tries (tests pass one
    that records the delays instead of waiting)."""

    def __init__(
        self,
        settings: SmtpSettings,
        *,
        sleep: Sleep = asyncio.sleep,
        local_hostname: str | None = None,
    ) -> None:
        self.settings = settings
        self._sleep = sleep
        self._local_hostname = local_hostname
        self.sender = parse_mailbox(settings.from_address)

    def retry_delay(self, failed_attempts: int) -> float:
        """Seconds to wait after the ``failed_attempts``-th failure (1, 2, ...)."""
        s = self.settings
        return float(min(s.retry_delay * 2 ** (failed_attempts - 1), s.max_retry_delay))

    async def send(
        self, message: EmailMessage, recipients: Sequence[str] | None = None
    ) -> DeliveryReport:
        """Deliver ``message`` to ``recipients`` (default: its To, Cc and Bcc addresses).

        Returns once the server has accepted it for at least one recipient and none is left
        to retry; raises :class:`MailDeliveryFailed` when nobody could be reached."""
        pending = _envelope_recipients(message, recipients)
        delivered: list[str] = []
        refused: dict[str, str] = {}
        attempts = self.settings.attempts
        for attempt in range(1, attempts + 1):
            try:
                taken = await asyncio.to_thread(self._deliver_once, message, pending)
            except _Failure as failure:
                refused.update(failure.refused)
                delivered += [r for r in pending if r not in failure.pending and r not in refused]
                pending = failure.pending
                last = failure
            else:
                return self._report(message, delivered + taken, attempt, refused)
            if not last.transient or not pending:
                break
            if attempt < attempts:
                delay = self.retry_delay(attempt)
                log.warning(
                    "mail %s: attempt %d/%d to %s failed: %s; retrying in %g s",
                    _subject(message),
                    attempt,
                    attempts,
                    ", ".join(pending),
                    last.reason,
                    delay,
                )
                await self._sleep(delay)
        return self._give_up(message, delivered, refused, pending, last, attempt)

    def _report(
        self, message: EmailMessage, delivered: list[str], attempt: int, refused: dict[str, str]
    ) -> DeliveryReport:
        for recipient, reason in refused.items():
            log.error("mail %s: %s refused: %s", _subject(message), recipient, reason)
        log.info("mail %s: sent to %s", _subject(message), ", ".join(delivered))
        return DeliveryReport(delivered=delivered, attempts=attempt, refused=refused)

    def _give_up(
        self,
        message: EmailMessage,
        delivered: list[str],
        refused: dict[str, str],
        pending: list[str],
        last: _Failure,
        attempt: int,
    ) -> DeliveryReport:
        undelivered = pending + [r for r in refused if r not in pending]
        log.error(
            "mail %s: not delivered to %s after %d attempt(s): %s",
            _subject(message),
            ", ".join(undelivered),
            attempt,
            last.reason,
        )
        if delivered:  # some got it: that is a delivery, with refusals to report
            return DeliveryReport(
                delivered=delivered,
                attempts=attempt,
                refused={**refused, **dict.fromkeys(pending, last.reason)},
            )
        raise MailDeliveryFailed(
            undelivered, last.reason, attempts=attempt, permanent=not last.transient
        )

    # -- one try, in a worker thread ---------------------------------------------------------

    def _deliver_once(self, message: EmailMessage, recipients: list[str]) -> list[str]:
        """Send once; the recipients the server took, or :class:`_Failure`."""
        try:
            with self._connect() as client:
                self._secure_and_login(client)
                refused = client.send_message(
                    message, from_addr=self.sender.addr_spec, to_addrs=recipients
                )
        except smtplib.SMTPRecipientsRefused as exc:
            raise _refusals(exc.recipients, recipients, accepted=False) from exc
        except (smtplib.SMTPException, OSError) as exc:
            raise _classify(exc, recipients, self._where) from exc
        if refused:
            raise _refusals(refused, recipients, accepted=True)
        return recipients

    @property
    def _where(self) -> str:
        return f"{self.settings.host}:{self.settings.effective_port}"

    def _connect(self) -> smtplib.SMTP:
        s = self.settings
        if s.security == "ssl":  # implicit TLS from the first byte (RFC 8314 §3.3)
            return smtplib.SMTP_SSL(
                s.host,
                s.effective_port,
                local_hostname=self._local_hostname,
                timeout=s.timeout,
                context=self._tls_context(),
            )
        return smtplib.SMTP(
            s.host, s.effective_port, local_hostname=self._local_hostname, timeout=s.timeout
        )

    def _secure_and_login(self, client: smtplib.SMTP) -> None:
        s = self.settings
        client.ehlo()
        if s.security == "starttls":
            # RFC 3207 §4: raises SMTPNotSupportedError when the server does not offer it;
            # we never fall back to clear text. §4.2: forget the first EHLO, ask again.
            client.starttls(context=self._tls_context())
            client.ehlo()
        if s.username is not None and s.password is not None:
            client.login(s.username, s.password.get_secret_value())

    def _tls_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.settings.ca_file)


def _envelope_recipients(message: EmailMessage, given: Sequence[str] | None) -> list[str]:
    if given is None:
        given = [str(a) for name in ("To", "Cc", "Bcc") for a in message.get_all(name, [])]
        given = [a.addr_spec for text in given for a in _addresses(text)]
    recipients = [parse_mailbox(r).addr_spec for r in given]
    if not recipients:
        raise MailError(f"mail {_subject(message)}: no recipients")
    return list(dict.fromkeys(recipients))


def _addresses(text: str) -> list[Address]:
    return list(getattr(SMTP.header_factory("To", text), "addresses", ()))


def _subject(message: EmailMessage) -> str:
    return repr(str(message.get("Subject", "")))


def _reply(code: int, text: bytes | str) -> str:
    body = text.decode("utf-8", "replace") if isinstance(text, bytes) else text
    return f"{code} {body}".strip()


def _refusals(
    refused: dict[str, tuple[int, bytes]], recipients: list[str], *, accepted: bool
) -> _Failure:
    """Sort refused recipients into those to retry (4xx) and those refused for good."""
    retry = [r for r in recipients if r in refused and 400 <= refused[r][0] < 500]
    final = {r: _reply(*reply) for r, reply in refused.items() if r not in retry}
    reasons = "; ".join(f"{r}: {_reply(*reply)}" for r, reply in refused.items())
    what = "refused some recipients" if accepted else "refused every recipient"
    return _Failure(
        f"server {what}: {reasons}", transient=bool(retry), pending=retry, refused=final
    )


def _classify(exc: BaseException, recipients: list[str], where: str) -> _Failure:
    if isinstance(exc, smtplib.SMTPResponseException):
        # 4yz: try again later; 5yz: do not repeat the same request (RFC 5321 §4.2.1).
        transient = 400 <= exc.smtp_code < 500
        reason = f"{where} replied {_reply(exc.smtp_code, exc.smtp_error)}"
        return _Failure(reason, transient=transient, pending=recipients)
    if isinstance(exc, ssl.SSLCertVerificationError):
        return _Failure(
            f"{where}: TLS certificate not trusted: {exc.verify_message}",
            transient=False,
            pending=recipients,
        )
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return _Failure(f"{where}: {exc}", transient=False, pending=recipients)
    if isinstance(exc, smtplib.SMTPServerDisconnected | OSError):
        return _Failure(f"{where}: {_describe(exc)}", transient=True, pending=recipients)
    return _Failure(f"{where}: {exc}", transient=False, pending=recipients)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__
