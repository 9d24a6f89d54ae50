"""A bridged call between two baresip phones recorded whole: 102 has ``record_calls`` on."""

from __future__ import annotations

import dataclasses
import time
import wave
from pathlib import Path

import numpy as np
import pytest

from tests.e2e import audio, flows
from tests.e2e.baresipctl import Account, Phone
from tests.e2e.pbx import Pbx, Tenant, acme

pytestmark = pytest.mark.e2e

TALK_SECONDS = 3.0
CALLER_TONE, CALLEE_TONE = 440.0, 1000.0


def _phone(pbx: Pbx, workdir: Path, number: str, tone_hz: float, **account: str) -> Phone:
    base = Account(
        number,
        flows.domain_of(pbx),
        password=flows.extension(pbx, number).password,
        registrar=pbx.sip_address,
    )
    return Phone(workdir / f"phone-{number}", dataclasses.replace(base, **account), tone_hz=tone_hz)


def _channels(path: Path) -> tuple[np.ndarray, np.ndarray, float]:
    with wave.open(str(path), "rb") as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (2, 2, 8000)
        frames = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2").reshape(-1, 2)
    seconds = len(frames) / 8000
    return frames[:, 0].astype(np.float64) / 32768, frames[:, 1].astype(np.float64) / 32768, seconds


def test_call_recorded_in_stereo_with_each_phone_on_its_channel(
    tmp_path: Path, workdir: Path
) -> None:
    base = acme()
    people = tuple(
        dataclasses.replace(e, record_calls=True) if e.number == "102" else e
        for e in base.extensions
    )
    data_dir = tmp_path / "data"
    server = Pbx(
        tmp_path / "pbx-rec",
        tenants=(Tenant(base.name, base.domain, people, default=True),),
        ring_timeout=3.0,
        extra_args=("--data-dir", str(data_dir)),
    )
    with server:
        alice = _phone(server, workdir, "101", CALLER_TONE, codecs="PCMU")
        bob = _phone(server, workdir, "102", CALLEE_TONE, codecs="G722")
        with alice, bob:
            alice.wait_registered()
            bob.wait_registered()
            alice.dial(f"sip:102@{flows.domain_of(server)}")
            bob.wait_event("CALL_ESTABLISHED")
            alice.wait_event("CALL_ESTABLISHED")
            time.sleep(TALK_SECONDS)  # the conversation being recorded
            alice.hangup()
            alice.wait_event("CALL_CLOSED")
            bob.wait_event("CALL_CLOSED")
        records = flows.wait_call_records(server, 2)

    assert {r.status for r in records} == {"answered_out", "answered_in"}, records
    paths = {r.recording for r in records}
    assert len(paths) == 1, records  # both rows link the same file
    (link,) = paths
    assert link is not None
    path = Path(link)
    assert path.is_file() and path.suffix == ".wav"
    answered = records[0].answered_at
    assert answered is not None
    assert path.parent == data_dir / "recordings" / "acme" / answered.strftime("%Y-%m-%d")

    left, right, seconds = _channels(path)
    talk = records[0].talk_seconds
    assert abs(seconds - talk) < 0.2, (seconds, talk)
    middle = slice(8000, len(left) - 4000)  # past the start-up, before the hang-up
    assert audio.dominant_frequency(left[middle], 8000) == pytest.approx(CALLER_TONE, abs=15)
    assert audio.dominant_frequency(right[middle], 8000) == pytest.approx(CALLEE_TONE, abs=15)
    # Each phone's tone is on its own channel only.
    assert audio.band_energy_fraction(left[middle], 8000, CALLEE_TONE) < 0.05
    assert audio.band_energy_fraction(right[middle], 8000, CALLER_TONE) < 0.05
