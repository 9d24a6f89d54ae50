"""The server's voicemail service: messages filed on disk and in a real SQLite store, message-
waiting updates after every change of a box's counts, and e-mail through a real SMTP server
(aiosmtpd on loopback) receiving the WAV."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from centralita.config.mail import SmtpSettings
from centralita.media.wavfile import MediaFileError, write_wav
from centralita.notify.mail import SmtpMailer
from centralita.presence.message_summary import MessageCounts
from centralita.runtime_voicemail import VoicemailService
from centralita.store import Store, TenantInfo
from centralita.store.voicemail import VoicemailCounts
from tests.notify.smtpserver import StartServer, certificate, free_port, smtp_server

__all__ = ["certificate", "smtp_server"]  # the SMTP server fixtures, used here

T0 = datetime(2026, 11, 22, 21, 5, 9, tzinfo=UTC)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store.open(f"sqlite:///{tmp_path / 'vm.sqlite3'}") as opened:
        yield opened


@pytest.fixture
def acme(store: Store) -> TenantInfo:
    return store.tenants.add("acme", "acme.test")


class Mwi:
    """The message-waiting callback: what it was told, and the counts it saw then."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.calls: list[tuple[int, str, VoicemailCounts]] = []

    def __call__(self, tenant_id: int, box: str) -> None:
        self.calls.append((tenant_id, box, self.store.voicemail.counts(tenant_id, box)))


@pytest.fixture
def mwi(store: Store) -> Mwi:
    return Mwi(store)


def service(
    store: Store, tmp_path: Path, mwi: Mwi, mailer: SmtpMailer | None = None
) -> VoicemailService:
    return VoicemailService(store, tmp_path / "data", mailer, mwi)


def recording(tmp_path: Path, seconds: float = 3.0, name: str = "rec.wav") -> Path:
    path = tmp_path / name
    t = np.arange(round(seconds * 8000)) / 8000
    write_wav(path, (np.sin(2 * np.pi * 440 * t) * 8000).astype(np.int16))
    return path


def plain_smtp(port: int, **changes: object) -> SmtpSettings:
    values: dict[str, object] = {
        "host": "127.0.0.1",
        "port": port,
        "security": "none",
        "from_address": "Centralita <pbx@provider.test>",
        "timeout": 5.0,
    }
    return SmtpSettings.model_validate(values | changes)


async def test_a_filed_message_is_on_disk_in_the_store_and_lights_the_lamp(
    store: Store, acme: TenantInfo, tmp_path: Path, mwi: Mwi
) -> None:
    wav = recording(tmp_path)
    audio = wav.read_bytes()
    message = await service(store, tmp_path, mwi).filed(
        acme, "101", wav, "102", "Bob", 2.9, received_at=T0
    )
    assert not wav.exists()
    assert Path(message.path).read_bytes() == audio
    assert Path(message.path).parent == tmp_path / "data" / "voicemail" / "acme" / "101"
    assert store.voicemail.get(acme.id, message.id) == message
    assert (message.caller, message.caller_name, message.duration) == ("102", "Bob", 2.9)
    assert message.received_at == T0 and not message.heard
    # MWI learns after the row exists: the NOTIFY it sends reads 1 new message.
    assert mwi.calls == [(acme.id, "101", VoicemailCounts(new=1, old=0))]


async def test_an_anonymous_callers_empty_name_is_stored_as_none(
    store: Store, acme: TenantInfo, tmp_path: Path, mwi: Mwi
) -> None:
    message = await service(store, tmp_path, mwi).filed(
        acme, "general", recording(tmp_path), "anonymous", "", 3.0
    )
    assert message.caller_name is None
    assert store.voicemail.get(acme.id, message.id) == message


async def test_a_recording_that_is_not_a_wav_is_refused_and_mwi_is_not_told(
    store: Store, acme: TenantInfo, tmp_path: Path, mwi: Mwi
) -> None:
    junk = tmp_path / "junk.wav"
    junk.write_bytes(b"not a wav at all")
    with pytest.raises(MediaFileError):
        await service(store, tmp_path, mwi).filed(acme, "101", junk, "102", "", 1.0)
    assert junk.exists()
    assert mwi.calls == []
    assert store.voicemail.counts(acme.id, "101") == VoicemailCounts()


async def test_hearing_a_new_message_updates_mwi_once(
    store: Store, acme: TenantInfo, tmp_path: Path, mwi: Mwi
) -> None:
    vm = service(store, tmp_path, mwi)
    first = await vm.filed(acme, "101", recording(tmp_path, name="a.wav"), "102", "", 3.0)
    second = await vm.filed(acme, "101", recording(tmp_path, name="b.wav"), "103", "", 3.0)
    assert [m.id for m in await vm.messages(acme, "101")] == [first.id, second.id]
    mwi.calls.clear()
    heard = await vm.mark_heard(acme, first.id)
    assert heard.heard and heard.id == first.id
    assert mwi.calls == [(acme.id, "101", VoicemailCounts(new=1, old=1))]
    await vm.mark_heard(acme, first.id)  # heard again: the counts did not change
    assert len(mwi.calls) == 1
    assert [m.heard for m in await vm.messages(acme, "101")] == [True, False]


async def test_deleting_hides_the_message_and_updates_mwi(
    store: Store, acme: TenantInfo, tmp_path: Path, mwi: Mwi
) -> None:
    vm = service(store, tmp_path, mwi)
    message = await vm.filed(acme, "101", recording(tmp_path), "102", "", 3.0)
    mwi.calls.clear()
    deleted = await vm.delete(acme, message.id)
    assert deleted.deleted
    assert await vm.messages(acme, "101") == []
    assert mwi.calls == [(acme.id, "101", VoicemailCounts(new=0, old=0))]
    assert vm.message_counts(acme.id, "101") == MessageCounts(new=0, old=0)


async def test_message_counts_feed_the_message_summary(
    store: Store, acme: TenantInfo, tmp_path: Path, mwi: Mwi
) -> None:
    vm = service(store, tmp_path, mwi)
    for name in ("a.wav", "b.wav", "c.wav"):
        await vm.filed(acme, "101", recording(tmp_path, name=name), "102", "", 3.0)
    [first, *_] = await vm.messages(acme, "101")
    await vm.mark_heard(acme, first.id)
    assert vm.message_counts(acme.id, "101") == MessageCounts(new=2, old=1)
    assert vm.message_counts(acme.id, "general") == MessageCounts(new=0, old=0)


async def test_a_failing_mwi_callback_is_logged_and_the_message_kept(
    store: Store, acme: TenantInfo, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(tenant_id: int, box: str) -> None:
        raise RuntimeError("presence layer down")

    vm = VoicemailService(store, tmp_path / "data", None, broken)
    message = await vm.filed(acme, "101", recording(tmp_path), "102", "", 3.0)
    assert store.voicemail.get(acme.id, message.id) == message
    assert "message-waiting update of box 101" in caplog.text
    assert "presence layer down" in caplog.text


async def test_the_message_reaches_a_real_smtp_server_with_its_wav(
    smtp_server: StartServer, store: Store, acme: TenantInfo, tmp_path: Path, mwi: Mwi
) -> None:
    server = smtp_server("plain")
    vm = service(store, tmp_path, mwi, SmtpMailer(plain_smtp(server.port)))
    message = await vm.filed(
        acme, "101", recording(tmp_path, 2.0), "+34600111222", "Bob", 2.0, received_at=T0
    )
    report = await vm.email(message, ["alice@acme.test"], ZoneInfo("Europe/Madrid"))
    assert report is not None and report.delivered == ["alice@acme.test"]
    [got] = server.inbox.received
    assert got.rcpt_tos == ["alice@acme.test"]
    assert got.message["Subject"] == "New voicemail from +34600111222 (Bob), 0:02"
    [attachment] = list(got.message.iter_attachments())
    assert attachment.get_content_type() == "audio/wav"
    assert attachment.get_content() == Path(message.path).read_bytes()
    body = got.message.get_body(("plain",))
    assert body is not None and "2026-11-22 22:05 CET" in body.get_content()


async def test_the_owners_language_is_used(
    smtp_server: StartServer, store: Store, acme: TenantInfo, tmp_path: Path, mwi: Mwi
) -> None:
    server = smtp_server("plain")
    vm = service(store, tmp_path, mwi, SmtpMailer(plain_smtp(server.port)))
    message = await vm.filed(acme, "101", recording(tmp_path, 2.0), "102", "Ana", 2.0)
    await vm.email(message, ["alice@acme.test"], language="es")
    [got] = server.inbox.received
    assert got.message["Subject"] == "Nuevo mensaje de voz de 102 (Ana), 0:02"


async def test_a_refused_delivery_is_logged_and_the_message_stays(
    smtp_server: StartServer,
    store: Store,
    acme: TenantInfo,
    tmp_path: Path,
    mwi: Mwi,
    caplog: pytest.LogCaptureFixture,
) -> None:
    server = smtp_server("plain")
    server.inbox.data_replies = ["554 5.6.0 message refused"]
    vm = service(store, tmp_path, mwi, SmtpMailer(plain_smtp(server.port)))
    message = await vm.filed(acme, "101", recording(tmp_path), "102", "", 3.0)
    assert await vm.email(message, ["alice@acme.test"]) is None
    assert server.inbox.received == []
    assert f"voicemail {message.id}" in caplog.text and "554" in caplog.text
    assert any(r.levelno == logging.ERROR for r in caplog.records)
    assert [m.id for m in await vm.messages(acme, "101")] == [message.id]
    assert Path(message.path).is_file()


async def test_an_unreachable_server_gives_up_after_its_retries(
    store: Store, acme: TenantInfo, tmp_path: Path, mwi: Mwi, caplog: pytest.LogCaptureFixture
) -> None:
    waited: list[float] = []

    async def no_wait(seconds: float) -> None:
        waited.append(seconds)

    mailer = SmtpMailer(plain_smtp(free_port(), attempts=2, retry_delay=1.0), sleep=no_wait)
    vm = service(store, tmp_path, mwi, mailer)
    message = await vm.filed(acme, "101", recording(tmp_path), "102", "", 3.0)
    assert await vm.email(message, ["alice@acme.test"]) is None
    assert waited == [1.0]
    assert "not e-mailed" in caplog.text


async def test_without_an_smtp_server_nothing_is_sent_and_it_says_so(
    store: Store, acme: TenantInfo, tmp_path: Path, mwi: Mwi, caplog: pytest.LogCaptureFixture
) -> None:
    vm = service(store, tmp_path, mwi)
    message = await vm.filed(acme, "101", recording(tmp_path), "102", "", 3.0)
    with caplog.at_level(logging.WARNING, logger="centralita.voicemail"):
        assert await vm.email(message, ["alice@acme.test"]) is None
    assert "no SMTP server configured" in caplog.text


async def test_a_lost_wav_is_logged_not_raised(
    store: Store,
    acme: TenantInfo,
    tmp_path: Path,
    mwi: Mwi,
    smtp_server: StartServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    server = smtp_server("plain")
    vm = service(store, tmp_path, mwi, SmtpMailer(plain_smtp(server.port)))
    message = await vm.filed(acme, "101", recording(tmp_path), "102", "", 3.0)
    Path(message.path).unlink()
    assert await vm.email(message, ["alice@acme.test"]) is None
    assert server.inbox.received == []
    assert f"voicemail {message.id} (box 101) not e-mailed" in caplog.text
