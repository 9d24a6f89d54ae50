"""Voicemail end to end: a caller from outside (SIPp as the carrier) rings Alice, who does not
answer her baresip phone; her no-answer forwarding takes the call to her box; the caller skips
the greeting with ``#`` and leaves a 1 kHz tone. The message is e-mailed to Alice over SMTP
(a real aiosmtpd server in the test receives the WAV and its audio is checked), her phone
gets the RFC 3842 message-summary NOTIFY, and her row in the call log says
``forwarded_unanswered``."""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from centralita.media.codecs_g711 import Pcmu
from tests.e2e import audio, flows
from tests.e2e.baresipctl import Account, Phone
from tests.e2e.pbx import Pbx
from tests.e2e.smtp import SmtpSink

pytestmark = pytest.mark.e2e

TONE_HZ = 1000.0
RING_SECONDS = 2
ALICE = {
    "email": "alice@acme.test",
    "voicemail": {"pin": "1234"},
    "forwarding": {"no_answer": {"after": RING_SECONDS, "to": {"voicemail": "101"}}},
}


@dataclass(frozen=True)
class MwiAccount(Account):
    """Subscribes to its mailbox (baresip's mwi module) and lets calls ring unanswered."""

    def line(self) -> str:
        return super().line().replace("answermode=auto", "answermode=manual") + ";mwi=yes"


class MwiPhone(Phone):
    def _config(self) -> str:
        return super()._config() + "module_app mwi.so\n"


@pytest.fixture
def sink() -> Iterator[SmtpSink]:
    with SmtpSink() as server:
        yield server


@pytest.fixture
def pbx(request: pytest.FixtureRequest, tmp_path: Path, sink: SmtpSink) -> Iterator[Pbx]:
    server = Pbx(
        tmp_path / "pbx",
        ring_timeout=10.0,
        dial_plan=flows.carrier_plan({"extension": "101"}),
        routing={"101": ALICE},
        settings={"smtp": sink.settings()},
    )
    with flows.serving(request, server) as running:
        yield running


def _mulaw_tone(path: Path, frequency: float, seconds: float) -> Path:
    """An 8-bit mu-law WAV (WAVE_FORMAT_MULAW, what SIPp's rtp_stream plays)."""
    t = np.arange(int(seconds * audio.SAMPLE_RATE)) / audio.SAMPLE_RATE
    pcm = (0.5 * 32767 * np.sin(2 * np.pi * frequency * t)).astype(np.int16)
    data = Pcmu().encode(pcm)
    rate = audio.SAMPLE_RATE
    fmt = struct.pack("<HHIIHHH", 7, 1, rate, rate, 1, 8, 0)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt
    body += b"fact" + struct.pack("<II", 4, len(data)) + b"data" + struct.pack("<I", len(data))
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body) + len(data)) + body + data)
    return path


def test_voicemail_is_left_emailed_and_signalled(pbx: Pbx, sink: SmtpSink, workdir: Path) -> None:
    account = MwiAccount(
        "101", flows.domain_of(pbx), password="s3cret-101", registrar=pbx.sip_address
    )
    tone = _mulaw_tone(workdir / "tone.wav", TONE_HZ, 3.0)
    steps = [
        flows.pause(500),
        flows.key("#"),  # skip the greeting
        flows.pause(1000),  # the beep
        flows.stream(tone),
        flows.pause(3500),
        flows.BYE,
    ]
    scenario = flows.scenario(workdir, "leaves_a_message", "carrier", steps)
    with MwiPhone(workdir / "phone-101", account, tone_hz=440) as phone:
        phone.wait_registered()
        first = phone.wait_event("MWI_NOTIFY", timeout=15)
        assert "Messages-Waiting: no" in str(first.get("param")), first
        result = flows.carrier_call(pbx, flows.COMPANY_NUMBER, scenario, workdir)
        assert result.ok, result.describe()
        phone.wait_event("CALL_INCOMING")  # the desk phone rang before voicemail took it
        notify = phone.wait_event(
            "MWI_NOTIFY", timeout=15, match=lambda e: "Messages-Waiting: yes" in str(e["param"])
        )
    body = str(notify.get("param"))
    assert "Voice-Message: 1/0" in body, body

    mail = sink.wait_message("alice@acme.test")
    assert mail.mail_from == "pbx@acme.test"
    (attachment,) = [a for a in mail.attachments() if a[1] == "audio/wav"]
    wav = workdir / "mailed.wav"
    wav.write_bytes(attachment[2])
    heard, detail = audio.hears_tone(wav, TONE_HZ)
    assert heard, detail
    samples, rate = audio.read_wav(wav)
    assert 1.5 <= len(samples) / rate <= 5.0, detail

    rows = flows.wait_rows(pbx, flows.call_id_of(result))
    assert flows.statuses(list(rows.values())) == {"101": "forwarded_unanswered"}
    deposited = [s.get("step") for s in rows["101"].routing_trace if s.get("node") == "voicemail"]
    assert deposited[:3] == ["answered", "greeting", "greeting skipped"], rows["101"].routing_trace
