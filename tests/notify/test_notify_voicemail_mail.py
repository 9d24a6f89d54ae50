"""Voicemail to e-mail: a filed message reaches a real SMTP server with its WAV attached and a
subject in the box owner's language; a failed delivery leaves the message in its box."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import cast
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from centralita.config.mail import SmtpSettings
from centralita.media.wavfile import write_wav
from centralita.notify.mail import MailDeliveryFailed, SmtpMailer
from centralita.notify.voicemail_mail import (
    build_voicemail_email,
    email_voicemail,
    format_duration,
    voicemail_subject,
)
from centralita.records.voicemail import VoicemailStore
from centralita.store import Store, TenantInfo
from centralita.store.voicemail import VoicemailCounts, VoicemailMessage
from tests.notify.smtpserver import PASSWORD, USER, StartServer, free_port

T0 = datetime(2026, 11, 22, 21, 5, 9, tzinfo=UTC)
MESSAGE = VoicemailMessage(
    id="0" * 32,
    tenant_id=1,
    box="101",
    caller="102",
    caller_name="Alice",
    received_at=T0,
    duration=23.4,
    path="/nowhere.wav",
)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store.open(f"sqlite:///{tmp_path / 'vm.sqlite3'}") as opened:
        yield opened


@pytest.fixture
def acme(store: Store) -> TenantInfo:
    return store.tenants.add("acme", "acme.test")


def left_message(store: Store, tenant: TenantInfo, tmp_path: Path) -> VoicemailMessage:
    recording = tmp_path / "rec.wav"
    t = np.arange(23 * 8000) / 8000
    write_wav(recording, (np.sin(2 * np.pi * 440 * t) * 8000).astype(np.int16))
    return VoicemailStore(store, tmp_path / "data").file(
        tenant, "101", recording, caller="102", caller_name="Alice", received_at=T0
    )


def sent_to(port: int, **changes: object) -> SmtpSettings:
    values: dict[str, object] = {
        "host": "127.0.0.1",
        "port": port,
        "security": "none",
        "from_address": "Centralita <pbx@provider.test>",
        "timeout": 5.0,
    }
    return SmtpSettings.model_validate(values | changes)


async def test_voicemail_is_emailed_with_the_wav(
    smtp_server: StartServer, store: Store, acme: TenantInfo, tmp_path: Path
) -> None:
    server = smtp_server("starttls")
    message = left_message(store, acme, tmp_path)
    config = sent_to(
        server.port,
        security="starttls",
        ca_file=str(server.ca_file),
        username=USER,
        password=PASSWORD,
    )
    report = await email_voicemail(
        SmtpMailer(config), message, ["Alice <alice@acme.test>", "office@acme.test"]
    )
    assert report.delivered == ["alice@acme.test", "office@acme.test"]
    [got] = server.inbox.received
    assert got.rcpt_tos == ["alice@acme.test", "office@acme.test"]
    assert got.mail_from == "pbx@provider.test"
    assert got.login == USER and got.tls
    email = got.message
    assert email["Subject"] == "New voicemail from 102 (Alice), 0:23"
    assert email["To"] == "Alice <alice@acme.test>, office@acme.test"
    assert email["Auto-Submitted"] == "auto-generated"
    assert email.get_content_type() == "multipart/mixed"
    [attachment] = list(email.iter_attachments())
    assert attachment.get_content_type() == "audio/wav"
    assert attachment.get_filename() == "voicemail-101-20261122-210509.wav"
    assert attachment.get_content() == Path(message.path).read_bytes()
    body = email.get_body(("plain",))
    assert body is not None
    assert "box 101" in body.get_content() and "2026-11-22 21:05 UTC" in body.get_content()


async def test_russian_subject_survives_the_trip(smtp_server: StartServer, tmp_path: Path) -> None:
    server = smtp_server("plain")
    wav = tmp_path / "m.wav"
    write_wav(wav, np.zeros(800, dtype=np.int16))
    message = replace(MESSAGE, caller_name="Алиса", path=str(wav), duration=83)
    await email_voicemail(SmtpMailer(sent_to(server.port)), message, ["a@acme.test"], language="ru")
    [got] = server.inbox.received
    assert got.message["Subject"] == "Новое голосовое сообщение от 102 (Алиса), 1:23"
    raw_subject = got.message.as_bytes().split(b"Subject:")[1].split(b"\n")[0]
    assert raw_subject.strip().startswith(b"=?utf-8?")  # RFC 2047 encoded-word on the wire


async def test_a_failed_delivery_leaves_the_message_in_its_box(
    store: Store, acme: TenantInfo, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    message = left_message(store, acme, tmp_path)
    waited: list[float] = []

    async def no_wait(seconds: float) -> None:
        waited.append(seconds)

    mailer = SmtpMailer(sent_to(free_port(), attempts=3, retry_delay=1.0), sleep=no_wait)
    with pytest.raises(MailDeliveryFailed, match="gave up after 3 attempts"):
        await email_voicemail(mailer, message, ["alice@acme.test"])
    assert waited == [1.0, 2.0]
    assert message.id in caplog.text and "not e-mailed" in caplog.text
    assert store.voicemail.get(acme.id, message.id) == message
    assert store.voicemail.counts(acme.id, "101") == VoicemailCounts(new=1)
    assert Path(message.path).is_file()
    assert any(r.levelno == logging.ERROR for r in caplog.records)


@pytest.mark.parametrize(
    ("language", "subject"),
    [
        ("en", "New voicemail from 102 (Alice), 0:23"),
        ("es", "Nuevo mensaje de voz de 102 (Alice), 0:23"),
        ("ru", "Новое голосовое сообщение от 102 (Alice), 0:23"),
        ("fr", "New voicemail from 102 (Alice), 0:23"),  # unknown language: English
    ],
)
def test_subjects_by_language(language: str, subject: str) -> None:
    assert voicemail_subject(MESSAGE, language) == subject


@pytest.mark.parametrize("language", ["en", "es", "ru"])
def test_body_is_localised_and_in_the_tenants_time_zone(language: str) -> None:
    email = build_voicemail_email(
        MESSAGE,
        b"RIFF....WAVE",
        sender="pbx@provider.test",
        recipients=["alice@acme.test"],
        language=language,
        timezone=ZoneInfo("Europe/Madrid"),
    )
    body = email.get_body(("plain",))
    assert body is not None
    text = body.get_content()
    assert "2026-11-22 22:05 CET" in text
    label = {"en": "Length: 0:23", "es": "Duración: 0:23", "ru": "Длительность: 0:23"}
    assert label[language] in text
    [attachment] = list(email.iter_attachments())
    assert attachment.get_filename() == "voicemail-101-20261122-220509.wav"


def test_unknown_and_hostile_callers() -> None:
    anonymous = replace(MESSAGE, caller="anonymous", caller_name=None)
    assert voicemail_subject(anonymous) == "New voicemail from an unknown caller, 0:23"
    assert voicemail_subject(anonymous, "es").startswith("Nuevo mensaje de voz de un número")
    hostile = replace(MESSAGE, caller_name="Eve\r\nBcc: victim@example.com")
    email = build_voicemail_email(
        hostile, b"", sender="pbx@provider.test", recipients=["alice@acme.test"]
    )
    reparsed = cast(EmailMessage, message_from_bytes(email.as_bytes(), policy=policy.default))
    assert reparsed["Bcc"] is None
    assert reparsed["Subject"] == "New voicemail from 102 (Eve Bcc: victim@example.com), 0:23"


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0:00"), (0.4, "0:00"), (23.4, "0:23"), (59.6, "1:00"), (725, "12:05"), (3723, "1:02:03")],
)
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text
