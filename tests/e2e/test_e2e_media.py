"""Calls the PBX answers itself, with real phones: prompts, keys pressed three ways, rooms."""

from __future__ import annotations

import struct
import time
from pathlib import Path

import numpy as np
import pytest

from centralita.media.codecs_g711 import Pcmu
from centralita.store.entities import CallRecord
from tests.e2e import audio, flows
from tests.e2e.baresipctl import Account, Phone
from tests.e2e.pbx import Pbx, acme

pytestmark = pytest.mark.e2e

KEYPAD_TEST = "*41"
DTMF = {
    "1": (697, 1209), "2": (697, 1336), "3": (697, 1477), "4": (770, 1209), "5": (770, 1336),
    "6": (770, 1477), "7": (852, 1209), "8": (852, 1336), "9": (852, 1477), "*": (941, 1209),
    "0": (941, 1336), "#": (941, 1477),
}  # fmt: skip


def _phone(pbx: Pbx, workdir: Path, number: str, tone_hz: float) -> Phone:
    account = Account(
        number,
        flows.domain_of(pbx),
        password=flows.extension(pbx, number).password,
        registrar=pbx.sip_address,
    )
    return Phone(workdir / f"phone-{number}", account, tone_hz=tone_hz)


def _keypad_record(pbx: Pbx) -> CallRecord:
    records = flows.wait_call_records(pbx, 1)
    (record,) = [r for r in records if r.callee == KEYPAD_TEST]
    return record


def _pressed(record: CallRecord) -> tuple[list[str], set[str]]:
    digits = [step["digits"] for step in record.routing_trace if step.get("node") == "keypad_test"]
    methods = {step["method"] for step in record.routing_trace if step.get("node") == "dtmf"}
    return digits, methods


def _loud_span(samples: np.ndarray, rate: int, threshold: float = 0.01) -> float:
    """Seconds from the first to the last 20 ms frame louder than ``threshold`` (RMS)."""
    frame = rate // 50
    frames = samples[: len(samples) // frame * frame].reshape(-1, frame)
    loud = np.flatnonzero(np.sqrt((frames**2).mean(axis=1)) > threshold)
    return 0.0 if loud.size == 0 else (loud[-1] - loud[0] + 1) / 50


def test_keypad_test_hears_rfc4733_keys_and_the_caller_hears_the_prompt(
    pbx: Pbx, workdir: Path
) -> None:
    prompt = pbx.workdir / "var" / "prompts" / "en" / "enter_digits.wav"
    with _phone(pbx, workdir, "101", 440) as alice:
        alice.wait_registered()
        alice.dial(f"sip:{KEYPAD_TEST}@{flows.domain_of(pbx)}")
        alice.wait_event("CALL_ESTABLISHED")
        deadline = time.monotonic() + 10
        while not prompt.exists() and time.monotonic() < deadline:
            time.sleep(0.05)  # the PBX synthesises the prompt on first use
        clip, rate = audio.read_wav(prompt)
        time.sleep(len(clip) / rate + 1.0)  # the whole prompt plays before any key is pressed
        alice.send_dtmf("123#")
        alice.send_dtmf("#")  # a second "#": an empty round ends the test and the call
        alice.wait_event("CALL_CLOSED", timeout=30)
    record = _keypad_record(pbx)
    digits, methods = _pressed(record)
    assert digits[0] == "123", record.routing_trace
    assert methods == {"rfc4733"}
    assert record.status == "answered_out"
    heard, heard_rate = audio.read_wav(alice.dec_recording())
    opening = heard[: int((len(clip) / rate + 0.9) * heard_rate)]
    # What the phone heard first is the prompt, whole: as long as the clip's speech.
    assert _loud_span(opening, heard_rate) == pytest.approx(_loud_span(clip, rate), abs=0.3)


def test_keypad_test_hears_keys_sent_by_sip_info(pbx: Pbx, workdir: Path) -> None:
    result = flows.call(pbx, "101", KEYPAD_TEST, "uac_dtmf_info", workdir, timeout_s=40)
    assert result.ok, result.describe()
    assert result.statuses("INFO") == [200, 200, 200, 200]
    digits, methods = _pressed(_keypad_record(pbx))
    assert digits[0] == "45"
    assert methods == {"info"}


def _tone_wav(path: Path, keys: list[str | float]) -> Path:
    """An 8-bit mu-law WAV (what SIPp's rtp_stream plays): keys as DTMF, floats as pauses."""
    rate, chunks = 8000, []
    for item in keys:
        if isinstance(item, float):
            chunks.append(np.zeros(int(item * rate)))
            continue
        low, high = DTMF[item]
        t = np.arange(int(0.12 * rate)) / rate
        chunks.append(6000 * (np.sin(2 * np.pi * low * t) + np.sin(2 * np.pi * high * t)))
        chunks.append(np.zeros(int(0.1 * rate)))
    pcm = np.clip(np.concatenate(chunks), -32768, 32767).astype(np.int16)
    data = Pcmu().encode(pcm)
    fmt = struct.pack("<HHIIHHH", 7, 1, rate, rate, 1, 8, 0)  # WAVE_FORMAT_MULAW
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt
    body += b"fact" + struct.pack("<II", 4, len(data)) + b"data" + struct.pack("<I", len(data))
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body) + len(data)) + body + data)
    return path


def test_keypad_test_hears_keys_as_tones_in_the_audio(pbx: Pbx, workdir: Path) -> None:
    wav = _tone_wav(workdir / "dtmf.wav", [1.0, "7", "8", "#", 2.5, "#", 6.0])
    scenario = (Path(__file__).parent / "scenarios" / "uac_dtmf_inband.xml").read_text()
    local = workdir / "uac_dtmf_inband.xml"
    local.write_text(scenario.replace('"dtmf.wav,', f'"{wav},'))
    result = flows.call(pbx, "101", KEYPAD_TEST, local, workdir, timeout_s=40)
    assert result.ok, result.describe()
    digits, methods = _pressed(_keypad_record(pbx))
    assert digits[0] == "78"
    assert methods == {"inband"}


def test_three_phones_in_a_room_hear_the_others_and_not_themselves(
    tmp_path: Path, workdir: Path
) -> None:
    tones = {"101": 440.0, "102": 1000.0, "103": 1700.0}
    server = Pbx(tmp_path / "pbx-room", tenants=(acme(),), ring_timeout=3.0)
    with server:
        phones = [_phone(server, workdir, number, hz) for number, hz in tones.items()]
        joined: list[float] = []
        for phone in phones:
            phone.start()
        try:
            for phone in phones:
                phone.wait_registered()
                phone.dial(f"sip:*8800@{flows.domain_of(server)}")
                phone.wait_event("CALL_ESTABLISHED")
                joined.append(time.monotonic())
            time.sleep(3.0)  # everybody talking at once
            all_in = (joined[-1], time.monotonic())
            for phone in phones:
                phone.hangup()
                phone.wait_event("CALL_CLOSED")
        finally:
            for phone in phones:
                phone.stop()
    for phone, start, (number, own) in zip(phones, joined, tones.items(), strict=True):
        samples, rate = audio.read_wav(phone.dec_recording())
        # The stretch when all three were in the room, on this phone's recording's time line
        # (it starts when its call was established), less a margin at each end.
        begin, end = (int((t - start) * rate) for t in (all_in[0] + 0.7, all_in[1] - 0.3))
        window = samples[begin:end]
        assert len(window) > rate, f"{number}: only {len(window) / rate:.2f} s to analyse"
        for hz in (hz for n, hz in tones.items() if n != number):
            share = audio.band_energy_fraction(window, rate, hz)
            assert share > 0.1, f"{number} did not hear {hz} Hz ({share:.1%})"
        own_share = audio.band_energy_fraction(window, rate, own)
        assert own_share < 0.02, f"{number} heard itself ({own_share:.1%})"
