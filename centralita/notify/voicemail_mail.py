"""Voicemail to e-mail: the message with the WAV attached, in the box owner's language.

The subject says who called and for how long ("New voicemail from 101 (Alice), 0:23"), so a
phone's notification is useful without opening the mail. The text is UTF-8 (RFC 6532 is not
needed: only header *values* carry non-ASCII, as RFC 2047 encoded-words written by the email
package's SMTP policy). The message is marked ``Auto-Submitted: auto-generated`` (RFC 3834 §5)
so vacation responders do not answer the PBX.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Literal

from centralita.config.mail import parse_mailbox
from centralita.notify.mail import DeliveryReport, MailDeliveryFailed, SmtpMailer
from centralita.store.voicemail import VoicemailMessage

log = logging.getLogger("centralita.voicemail")

Language = Literal["en", "es", "ru"]
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


@dataclass(frozen=True, slots=True)
class _Texts:
    subject: str
    body: tuple[str, ...]  # lines
    unknown_caller: str


_TEXTS: dict[str, _Texts] = {
    "en": _Texts(
        subject="New voicemail from {caller}, {duration}",
        body=(
            "You have a new voicemail message in box {box}.",
            "",
            "From: {caller}",
            "Received: {received}",
            "Length: {duration}",
            "",
            "The recording is attached.",
        ),
        unknown_caller="an unknown caller",
    ),
    "es": _Texts(
        subject="Nuevo mensaje de voz de {caller}, {duration}",
        body=(
            "Tiene un nuevo mensaje de voz en el buzón {box}.",
            "",
            "De: {caller}",
            "Recibido: {received}",
            "Duración: {duration}",
            "",
            "La grabación va adjunta.",
        ),
        unknown_caller="un número desconocido",
    ),
    "ru": _Texts(
        subject="Новое голосовое сообщение от {caller}, {duration}",
        body=(
            "Новое голосовое сообщение в ящике {box}.",
            "",
            "От: {caller}",
            "Получено: {received}",
            "Длительность: {duration}",
            "",
            "Запись во вложении.",
        ),
        unknown_caller="неизвестного абонента",
    ),
}
LANGUAGES: tuple[str, ...] = tuple(_TEXTS)


def format_duration(seconds: float) -> str:
    """``0:23``, ``12:05``, ``1:02:03`` (rounded to the second)."""
    total = max(0, round(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def describe_caller(message: VoicemailMessage, language: str = "en") -> str:
    """``101 (Alice)``, ``101``, or the language's "unknown caller"."""
    number = _clean(message.caller)
    name = _clean(message.caller_name or "")
    if not number or number.lower() in ("anonymous", "unknown"):
        return (
            f"{_texts(language).unknown_caller} ({name})"
            if name
            else _texts(language).unknown_caller
        )
    return f"{number} ({name})" if name and name != number else number


def voicemail_subject(message: VoicemailMessage, language: str = "en") -> str:
    return _texts(language).subject.format(
        caller=describe_caller(message, language), duration=format_duration(message.duration)
    )


def build_voicemail_email(
    message: VoicemailMessage,
    wav: bytes,
    *,
    sender: str,
    recipients: Sequence[str],
    language: str = "en",
    timezone: tzinfo = UTC,
    now: datetime | None = None,
) -> EmailMessage:
    """The e-mail for ``message``: a text part, then the WAV (``audio/wav``, RFC 2361 names
    the format; that subtype is the one mail clients play inline)."""
    texts = _texts(language)
    received = message.received_at.astimezone(timezone)
    email = EmailMessage()
    email["From"] = sender
    email["To"] = ", ".join(recipients)
    email["Subject"] = voicemail_subject(message, language)
    email["Date"] = format_datetime(now or datetime.now(UTC))
    email["Message-ID"] = make_msgid("voicemail", domain=_domain(sender))
    email["Auto-Submitted"] = "auto-generated"
    email.set_content(
        "\n".join(texts.body).format(
            box=message.box,
            caller=describe_caller(message, language),
            received=received.strftime("%Y-%m-%d %H:%M %Z").strip(),
            duration=format_duration(message.duration),
        )
        + "\n"
    )
    email.add_attachment(
        wav, maintype="audio", subtype="wav", filename=_attachment_name(message, received)
    )
    return email


async def email_voicemail(
    mailer: SmtpMailer,
    message: VoicemailMessage,
    recipients: Sequence[str],
    *,
    language: str = "en",
    timezone: tzinfo = UTC,
) -> DeliveryReport:
    """Read the message's WAV and mail it to ``recipients`` through ``mailer`` (with its
    retries). A failure is logged with the message id and raised; the message itself stays
    in its box whatever happens here."""
    wav = await asyncio.to_thread(Path(message.path).read_bytes)
    email = build_voicemail_email(
        message,
        wav,
        sender=mailer.settings.from_address,
        recipients=recipients,
        language=language,
        timezone=timezone,
    )
    try:
        return await mailer.send(email, recipients)
    except MailDeliveryFailed as exc:
        log.error(
            "voicemail %s (tenant %d, box %s) not e-mailed: %s",
            message.id,
            message.tenant_id,
            message.box,
            exc,
        )
        raise


def _texts(language: str) -> _Texts:
    return _TEXTS.get(language, _TEXTS["en"])


def _clean(text: str) -> str:
    # A caller name comes from the caller's From header: no line breaks into our headers.
    return _CONTROL.sub(" ", text).strip()


def _domain(sender: str) -> str:
    return parse_mailbox(sender).domain


def _attachment_name(message: VoicemailMessage, received: datetime) -> str:
    return f"voicemail-{message.box}-{received:%Y%m%d-%H%M%S}.wav"
