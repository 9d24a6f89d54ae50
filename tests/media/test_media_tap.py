"""The recording tap, sans-I/O: packets in with their arrival times, aligned frame pairs out."""

from __future__ import annotations

import numpy as np
import pytest

from centralita.media.codecs import G722, Codec, Pcma, Pcmu
from centralita.media.tap import RecordingTap, rtp_payload

PCMA = {8: "PCMA/8000"}
G722_FORMATS = {9: "G722/8000"}
TONE_A, TONE_B = 500.0, 1200.0


class Sink:
    """Collects what the tap writes, one (leg A, leg B) pair per tick."""

    def __init__(self) -> None:
        self.a: list[np.ndarray] = []
        self.b: list[np.ndarray] = []

    def write(self, leg_a: np.ndarray | None, leg_b: np.ndarray | None) -> None:
        assert leg_a is not None and leg_b is not None
        assert len(leg_a) == len(leg_b) == 160
        self.a.append(leg_a)
        self.b.append(leg_b)

    def leg(self, index: int) -> np.ndarray:
        return np.concatenate(self.a if index == 0 else self.b)


def rtp(pt: int, seq: int, timestamp: int, payload: bytes, ssrc: int = 0x1111) -> bytes:
    header = bytes([0x80, pt]) + seq.to_bytes(2, "big") + timestamp.to_bytes(4, "big")
    return header + ssrc.to_bytes(4, "big") + payload


def tone(freq: float, frames: int, start_frame: int = 0) -> list[np.ndarray]:
    t = (np.arange(frames * 160) + start_frame * 160) / 8000
    signal = (8000 * np.sin(2 * np.pi * freq * t)).astype(np.int16)
    return [signal[i * 160 : (i + 1) * 160] for i in range(frames)]


def dominant(pcm: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(pcm.astype(np.float64) * np.hanning(len(pcm))))
    return float(np.argmax(spectrum) * 8000 / len(pcm))


def rms(pcm: np.ndarray) -> float:
    return float(np.sqrt(np.mean(pcm.astype(np.float64) ** 2))) if len(pcm) else 0.0


def feed(tap: RecordingTap, leg: int, codec: Codec, pt: int, frames, at: float, **kw) -> None:
    """One packet per 20 ms from ``at``, each handed over as it 'arrives', clock advanced."""
    for index, frame in enumerate(frames):
        now = at + 0.02 * (index + 1)
        tap.packet(leg, rtp(pt, index, 160 * index + kw.get("ts0", 0), codec.encode(frame)), now)
        tap.advance(now)


def test_both_legs_decoded_with_their_own_codecs_and_aligned() -> None:
    sink = Sink()
    tap = RecordingTap(sink, 10.0, formats_a=PCMA, formats_b=G722_FORMATS)
    encoder_a, encoder_b = Pcma(), G722()
    for index, (frame_a, frame_b) in enumerate(
        zip(tone(TONE_A, 50), tone(TONE_B, 50), strict=True)
    ):
        now = 10.0 + 0.02 * (index + 1)
        tap.packet(0, rtp(8, index, 160 * index, encoder_a.encode(frame_a)), now)
        tap.packet(1, rtp(9, index, 160 * index, encoder_b.encode(frame_b), 0x2222), now)
        tap.advance(now)
    tap.finish(11.0)
    left, right = sink.leg(0), sink.leg(1)
    assert len(left) == len(right) == 8000  # one second: 50 frames, from start to finish
    assert dominant(left[800:7200]) == pytest.approx(TONE_A, abs=10)
    assert dominant(right[800:7200]) == pytest.approx(TONE_B, abs=10)
    # Each leg holds only its own tone: no crosstalk between the channels.
    assert rms(left[800:7200]) > 4000 and rms(right[800:7200]) > 4000
    spectrum = np.abs(np.fft.rfft(left[800:7200].astype(np.float64)))
    assert spectrum[int(TONE_B * 6400 / 8000)] < spectrum.max() / 100


def test_a_silent_leg_is_written_as_silence_and_the_length_is_the_elapsed_time() -> None:
    sink = Sink()
    tap = RecordingTap(sink, 0.0, formats_a={0: "PCMU/8000"}, formats_b=PCMA)
    feed(tap, 0, Pcmu(), 0, tone(TONE_A, 25), 0.0)
    tap.finish(2.0)  # the call went on a while after the caller stopped sending
    left, right = sink.leg(0), sink.leg(1)
    assert len(left) == len(right) == 16000
    assert rms(right) == 0.0
    assert rms(left[:4000]) > 4000
    assert rms(left[5000:]) == 0.0


def test_lost_packets_become_silence_of_their_length() -> None:
    sink = Sink()
    tap = RecordingTap(sink, 0.0, formats_a=PCMA)
    codec, frames = Pcma(), tone(TONE_A, 30)
    for index, frame in enumerate(frames):
        now = 0.02 * (index + 1)
        if not 10 <= index < 15:  # five packets lost on the way
            tap.packet(0, rtp(8, index, 160 * index, codec.encode(frame)), now)
        tap.advance(now)
    tap.finish(0.6)
    left = sink.leg(0)
    assert len(left) == 30 * 160
    # The first packet arrived when its 20 ms had just been spoken: it starts the file.
    start = 0
    assert np.array_equal(left[:160], Pcma().decode(Pcma().encode(frames[0])))
    assert rms(left[start + 10 * 160 : start + 15 * 160]) == 0.0
    assert rms(left[start + 15 * 160 : start + 20 * 160]) > 4000
    assert rms(left[start : start + 10 * 160]) > 4000


def test_reordered_packets_within_the_playout_delay_land_in_place() -> None:
    sink, reference = Sink(), Sink()
    codec = Pcma()
    frames = tone(TONE_A, 20)
    packets = [rtp(8, i, 160 * i, codec.encode(f)) for i, f in enumerate(frames)]
    order = list(range(20))
    order[5], order[6] = order[6], order[5]
    for target, sequence in ((sink, order), (reference, list(range(20)))):
        tap = RecordingTap(target, 0.0, formats_a=PCMA)
        for slot, index in enumerate(sequence):
            tap.packet(0, packets[index], 0.02 * (slot + 1))
            tap.advance(0.02 * (slot + 1))
        tap.finish(0.5)
    assert np.array_equal(sink.leg(0), reference.leg(0))


def test_timestamp_gap_from_silence_suppression_is_kept() -> None:
    """RFC 3551 §4.1: a sender that stops during silence resumes with the timestamp
    advanced by the pause; the recording keeps the pause."""
    sink = Sink()
    tap = RecordingTap(sink, 0.0, formats_b=PCMA)
    codec = Pcma()
    frames = tone(TONE_B, 20)
    for index in range(10):
        now = 0.02 * (index + 1)
        tap.packet(1, rtp(8, index, 160 * index, codec.encode(frames[index])), now)
        tap.advance(now)
    for step in range(10, 25):  # 15 ticks without packets
        tap.advance(0.02 * (step + 1))
    for index in range(10, 20):  # resumes 15 frames later, timestamp advanced by as much
        now = 0.02 * (index + 16)
        tap.packet(1, rtp(8, index, 160 * (index + 15), codec.encode(frames[index])), now)
        tap.advance(now)
    tap.finish(0.8)
    right = sink.leg(1)
    start = int(np.argmax(np.abs(right) > 100))
    assert rms(right[start + 10 * 160 + 40 : start + 25 * 160 - 40]) == 0.0
    assert rms(right[start + 25 * 160 : start + 35 * 160]) > 4000


def test_new_ssrc_and_timestamp_jump_reanchor_at_arrival() -> None:
    sink = Sink()
    tap = RecordingTap(sink, 0.0, formats_a=PCMA)
    codec = Pcma()
    feed(tap, 0, codec, 8, tone(TONE_A, 10), 0.0)
    # A new stream (new SSRC, unrelated timestamp) starting at 0.5 s on the timeline.
    for index, frame in enumerate(tone(TONE_B, 10)):
        now = 0.5 + 0.02 * (index + 1)
        tap.packet(0, rtp(8, 500 + index, 0x7FFF0000 + 160 * index, codec.encode(frame), 9), now)
        tap.advance(now)
    tap.finish(1.0)
    left = sink.leg(0)
    assert len(left) == 8000
    assert dominant(left[0:1600]) == pytest.approx(TONE_A, abs=10)
    assert dominant(left[4000:5600]) == pytest.approx(TONE_B, abs=10)
    assert rms(left[2400:3600]) == 0.0


def test_events_unknown_types_and_garbage_are_ignored() -> None:
    sink = Sink()
    tap = RecordingTap(sink, 0.0, formats_a={**PCMA, 101: "telephone-event/8000", 18: "G729/8000"})
    tap.packet(0, rtp(101, 1, 0, bytes([5, 0x8A, 0, 160])), 0.02)  # RFC 4733 digit 5
    tap.packet(0, rtp(18, 2, 160, b"\x01" * 20), 0.04)  # a codec we do not have
    tap.packet(0, rtp(96, 3, 320, b"\x55" * 160), 0.06)  # never negotiated
    tap.packet(0, b"\x80\x08\x00", 0.07)  # truncated header
    tap.packet(0, b"\x40" + rtp(8, 4, 480, b"\x55" * 160)[1:], 0.08)  # RTP version 1
    tap.finish(0.2)
    assert rms(sink.leg(0)) == 0.0
    assert len(sink.leg(0)) == 1600


def test_formats_learned_later_apply_to_later_packets() -> None:
    sink = Sink()
    tap = RecordingTap(sink, 0.0)
    codec = Pcma()
    frames = tone(TONE_A, 20)
    tap.packet(0, rtp(8, 0, 0, codec.encode(frames[0])), 0.02)  # before any SDP: ignored
    tap.set_formats(0, PCMA)
    for index in range(1, 20):
        tap.packet(0, rtp(8, index, 160 * index, codec.encode(frames[index])), 0.02 * (index + 1))
        tap.advance(0.02 * (index + 1))
    tap.finish(0.4)
    assert rms(sink.leg(0)[-1600:]) > 4000


def test_rtp_payload_skips_csrcs_extension_and_padding() -> None:
    base = bytes([0x80 | 0x20 | 0x10 | 0x01, 8]) + bytes(10)  # P, X, one CSRC
    csrc = b"\x00\x00\x00\x07"
    extension = b"\xbe\xde\x00\x01" + b"\x10\x20\x30\x40"  # RFC 8285 one-byte, one word
    packet = base + csrc + extension + b"payload" + b"\x00\x00\x03"
    assert rtp_payload(packet) == b"payload"
    assert rtp_payload(base + csrc + b"\xbe\xde\x00\x09") is None  # extension past the end
