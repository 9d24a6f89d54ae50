"""Whole-call recording on the relay, over real UDP sockets on loopback.

Two fake phones send tones through a relay session; the recording's left channel must hold
the caller's tone, the right the callee's, and the file must last as long as the recording
ran (a fake clock makes that exact). Every wait is on a relayed packet arriving.
"""

from __future__ import annotations

import wave

import numpy as np
import pytest

from centralita.media import MediaRelay, RtpPortPool
from centralita.media.codecs import G722, Codec, Pcma, Pcmu
from centralita.media.recording import RelayRecording
from centralita.media.srtp import SrtpContext, SrtpParams, generate_key
from centralita.media.transform import DirectionPlan, MediaPlan, PayloadRoute

LOCALHOST = "127.0.0.1"
CALLER_TONE, CALLEE_TONE = 700.0, 1300.0
FRAMES = 50  # one second of 20 ms packets each way


@pytest.fixture
async def relay(port_range, clock):
    low, high = port_range(4)
    media = MediaRelay(RtpPortPool(low, high, host=LOCALHOST), clock=clock)
    yield media
    media.close()


def rtp(pt: int, seq: int, timestamp: int, payload: bytes, ssrc: int) -> bytes:
    header = bytes([0x80, pt]) + seq.to_bytes(2, "big") + timestamp.to_bytes(4, "big")
    return header + ssrc.to_bytes(4, "big") + payload


def tone(freq: float) -> list[np.ndarray]:
    t = np.arange(FRAMES * 160) / 8000
    signal = (9000 * np.sin(2 * np.pi * freq * t)).astype(np.int16)
    return [signal[i * 160 : (i + 1) * 160] for i in range(FRAMES)]


def dominant(pcm: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(pcm.astype(np.float64) * np.hanning(len(pcm))))
    return float(np.argmax(spectrum) * 8000 / len(pcm))


def level_at(pcm: np.ndarray, freq: float) -> float:
    spectrum = np.abs(np.fft.rfft(pcm.astype(np.float64) * np.hanning(len(pcm))))
    return float(spectrum[round(freq * len(pcm) / 8000)])


async def talk(session, caller, callee, clock, send_a, send_b) -> None:
    """Both phones send a packet per 20 ms of (fake) time; each is awaited at the far end."""
    a_port, b_port = session.endpoint_a.local_port, session.endpoint_b.local_port
    for index in range(FRAMES):
        clock.now += 0.02
        caller.send(send_a(index), LOCALHOST, a_port)
        await callee.receive()
        callee.send(send_b(index), LOCALHOST, b_port)
        await caller.receive()


def read_stereo(path) -> np.ndarray:
    with wave.open(str(path), "rb") as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (2, 2, 8000)
        data = wav.readframes(wav.getnframes())
    return np.frombuffer(data, dtype="<i2").reshape(-1, 2)


def check_file(path, seconds: float) -> None:
    samples = read_stereo(path)
    assert len(samples) == round(seconds * 8000)
    left, right = samples[1600:7200, 0], samples[1600:7200, 1]
    assert dominant(left) == pytest.approx(CALLER_TONE, abs=10)
    assert dominant(right) == pytest.approx(CALLEE_TONE, abs=10)
    assert level_at(left, CALLEE_TONE) < level_at(left, CALLER_TONE) / 100
    assert level_at(right, CALLER_TONE) < level_at(right, CALLEE_TONE) / 100


async def test_pass_through_call_recorded_caller_left_callee_right(
    relay, open_phone, clock, tmp_path
) -> None:
    session = relay.create_session()
    caller, callee = await open_phone(), await open_phone()
    session.endpoint_a.set_remote(caller.address)
    session.endpoint_b.set_remote(callee.address)
    path = tmp_path / "acme" / "2026-11-29" / "call.wav"
    recording = RelayRecording(
        session, path, {"a": {0: "PCMU/8000"}, "b": {0: "PCMU/8000"}}, clock=clock
    )
    started = clock.now
    a_frames, b_frames = tone(CALLER_TONE), tone(CALLEE_TONE)
    pcmu = Pcmu()
    await talk(
        session,
        caller,
        callee,
        clock,
        lambda i: rtp(0, i, 160 * i, pcmu.encode(a_frames[i]), 0xA),
        lambda i: rtp(0, i, 5000 + 160 * i, pcmu.encode(b_frames[i]), 0xB),
    )
    clock.now += 0.1  # the call lasts a little after the last packet
    recording.close()
    check_file(path, clock.now - started)
    assert recording.duration == pytest.approx(clock.now - started)

    # The relay goes on untouched after the recording stopped.
    caller.send(rtp(0, 99, 99 * 160, b"\xff" * 160, 0xA), LOCALHOST, session.endpoint_a.local_port)
    data, _ = await callee.receive()
    assert data == rtp(0, 99, 99 * 160, b"\xff" * 160, 0xA)


async def test_srtp_and_transcoded_legs_are_recorded_from_the_plain_audio(
    relay, open_phone, clock, tmp_path
) -> None:
    """Caller: PCMA over SRTP; callee: G.722. The plan arrives after the recording started
    (the answer), and the owner re-taps as the server's session view does."""
    ours, theirs = generate_key(), generate_key()
    params = SrtpParams("AES_CM_128_HMAC_SHA1_80", ours, theirs)
    phone_srtp = SrtpContext(SrtpParams(params.suite, theirs, ours))
    plan = MediaPlan(
        srtp_a=params,
        a_to_b=DirectionPlan.of({8: PayloadRoute(9, transcode=("PCMA/8000", "G722/8000"))}),
        b_to_a=DirectionPlan.of({9: PayloadRoute(8, transcode=("G722/8000", "PCMA/8000"))}),
    )
    session = relay.create_session()
    caller, callee = await open_phone(), await open_phone()
    session.endpoint_a.set_remote(caller.address)
    session.endpoint_b.set_remote(callee.address)
    path = tmp_path / "call.wav"
    recording = RelayRecording(session, path, clock=clock)
    started = clock.now
    session.set_media_plan(plan)
    recording.retap()
    recording.set_formats("a", {8: "PCMA/8000", 101: "telephone-event/8000"})
    recording.set_formats("b", {9: "G722/8000"})
    a_frames, b_frames = tone(CALLER_TONE), tone(CALLEE_TONE)
    pcma: Codec = Pcma()
    g722: Codec = G722()
    await talk(
        session,
        caller,
        callee,
        clock,
        lambda i: phone_srtp.protect(rtp(8, i, 160 * i, pcma.encode(a_frames[i]), 0xA)),
        lambda i: rtp(9, i, 160 * i, g722.encode(b_frames[i]), 0xB),
    )
    recording.close()
    check_file(path, clock.now - started)
    a_to_b, b_to_a = session.transforms
    assert a_to_b is not None and a_to_b.dropped_srtp == 0 and a_to_b.dropped_payload == 0
    assert b_to_a is not None and b_to_a.dropped_payload == 0


async def test_recording_ends_when_the_session_closes_under_it(
    relay, open_phone, clock, tmp_path
) -> None:
    session = relay.create_session()
    recording = RelayRecording(session, tmp_path / "cut.wav", clock=clock)
    clock.now += 0.5
    session.close()
    recording.close()
    assert recording.closed
    samples = read_stereo(tmp_path / "cut.wav")
    assert len(samples) == 4000
    assert not np.any(samples)
