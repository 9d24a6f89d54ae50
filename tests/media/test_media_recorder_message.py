"""Voicemail recording: maximum length, silence timeout, '#' to finish, trailing silence
trimmed, duration reported."""

from __future__ import annotations

import wave
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import numpy.typing as npt

from centralita.media.audio import FRAME_SAMPLES, SAMPLE_RATE, Pcm, to_int16
from centralita.media.recorder import MessageRecorder, StopReason

FRAMES_PER_SECOND = SAMPLE_RATE // FRAME_SAMPLES


def speech(seconds: float, start: int = 0) -> Iterator[Pcm]:
    """A vowel-like signal (two formants, about -18 dBFS RMS), frame by frame."""
    for tick in range(start, start + round(seconds * FRAMES_PER_SECOND)):
        t = (tick * FRAME_SAMPLES + np.arange(FRAME_SAMPLES)) / SAMPLE_RATE
        yield to_int16(3000 * np.sin(2 * np.pi * 500 * t) + 2000 * np.sin(2 * np.pi * 1500 * t))


def silence(seconds: float, noise_rms: float = 0.0, seed: int = 1) -> Iterator[Pcm]:
    rng = np.random.default_rng(seed)
    for _ in range(round(seconds * FRAMES_PER_SECOND)):
        yield to_int16(rng.normal(0.0, noise_rms, FRAME_SAMPLES))


def dtmf_pound(seconds: float) -> Iterator[Pcm]:
    """The '#' key in band: 941 Hz + 1477 Hz."""
    for tick in range(round(seconds * FRAMES_PER_SECOND)):
        t = (tick * FRAME_SAMPLES + np.arange(FRAME_SAMPLES)) / SAMPLE_RATE
        yield to_int16(6000 * (np.sin(2 * np.pi * 941 * t) + np.sin(2 * np.pi * 1477 * t)))


def feed_all(rec: MessageRecorder, frames: Iterator[Pcm]) -> list[bool]:
    return [rec.feed(frame) for frame in frames]


def samples_of(path: Path) -> npt.NDArray[np.int16]:
    with wave.open(str(path), "rb") as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (1, 2, 8000)
        return np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")


def test_stops_at_the_maximum_length(tmp_path: Path) -> None:
    rec = MessageRecorder(tmp_path / "vm.wav", max_seconds=2.0, silence_seconds=3.0)
    results = feed_all(rec, speech(3.0))
    assert results.index(True) == 2 * FRAMES_PER_SECOND - 1  # the frame reaching 2 s
    assert rec.reason is StopReason.MAX_LENGTH and rec.duration == 2.0
    recorded = samples_of(rec.path)
    assert np.array_equal(recorded, np.concatenate(list(speech(2.0))))


def test_a_maximum_inside_a_frame_cuts_that_frame(tmp_path: Path) -> None:
    rec = MessageRecorder(tmp_path / "vm.wav", max_seconds=1.01, silence_seconds=3.0)
    feed_all(rec, speech(2.0))
    assert rec.reason is StopReason.MAX_LENGTH
    assert len(samples_of(rec.path)) == 8080 and rec.duration == 1.01


def test_stops_after_silence_following_speech_and_trims_it(tmp_path: Path) -> None:
    rec = MessageRecorder(tmp_path / "vm.wav", max_seconds=60, silence_seconds=2.0)
    assert not any(feed_all(rec, speech(1.0)))
    results = feed_all(rec, silence(3.0, noise_rms=60.0))  # line noise well under threshold
    assert results.index(True) == 2 * FRAMES_PER_SECOND - 1
    assert rec.reason is StopReason.SILENCE and rec.heard_speech
    recorded = samples_of(rec.path)
    assert len(recorded) == round(1.2 * SAMPLE_RATE)  # speech + the 0.2 s tail
    assert rec.duration == 1.2
    assert np.array_equal(recorded[:SAMPLE_RATE], np.concatenate(list(speech(1.0))))


def test_nothing_said_stops_after_the_silence_timeout_with_an_empty_file(tmp_path: Path) -> None:
    rec = MessageRecorder(tmp_path / "vm.wav", max_seconds=60, silence_seconds=1.5)
    results = feed_all(rec, silence(2.0))
    assert results.index(True) == round(1.5 * FRAMES_PER_SECOND) - 1
    assert rec.reason is StopReason.SILENCE and not rec.heard_speech
    assert rec.duration == 0.0 and len(samples_of(rec.path)) == 0


def test_pauses_shorter_than_the_timeout_are_kept(tmp_path: Path) -> None:
    rec = MessageRecorder(tmp_path / "vm.wav", max_seconds=60, silence_seconds=2.0)
    feed_all(rec, silence(0.5))  # leading silence stays (only trailing is trimmed)
    feed_all(rec, speech(1.0))
    feed_all(rec, silence(1.5))
    feed_all(rec, speech(1.0, start=50))
    assert not rec.done
    feed_all(rec, silence(2.0))
    assert rec.reason is StopReason.SILENCE
    recorded = samples_of(rec.path)
    assert len(recorded) == round((0.5 + 1.0 + 1.5 + 1.0 + 0.2) * SAMPLE_RATE)
    assert not recorded[: SAMPLE_RATE // 2].any()


def test_pound_finishes_and_trims_the_silence_before_it(tmp_path: Path) -> None:
    rec = MessageRecorder(tmp_path / "vm.wav", max_seconds=60, silence_seconds=5.0)
    feed_all(rec, speech(1.0))
    feed_all(rec, silence(0.8))
    assert not rec.dtmf("5")  # not a finishing key
    assert rec.dtmf("#")
    assert rec.reason is StopReason.DIGIT and rec.feed(next(speech(0.02)))
    assert len(samples_of(rec.path)) == round(1.2 * SAMPLE_RATE) and rec.duration == 1.2


def test_an_in_band_pound_tone_is_cut_from_the_end(tmp_path: Path) -> None:
    rec = MessageRecorder(tmp_path / "vm.wav", max_seconds=60, silence_seconds=5.0)
    feed_all(rec, speech(1.0))
    feed_all(rec, silence(0.6))
    feed_all(rec, dtmf_pound(0.12))
    assert rec.dtmf("#", tone_ms=120)
    recorded = samples_of(rec.path)
    assert len(recorded) == round(1.2 * SAMPLE_RATE)
    assert np.array_equal(recorded[:SAMPLE_RATE], np.concatenate(list(speech(1.0))))


def test_hang_up_finishes_the_file(tmp_path: Path) -> None:
    rec = MessageRecorder(tmp_path / "vm.wav", max_seconds=60, silence_seconds=5.0)
    feed_all(rec, speech(0.5))
    feed_all(rec, silence(0.1))
    rec.close()
    rec.close()
    assert rec.reason is StopReason.CLOSED
    assert len(samples_of(rec.path)) == round(0.6 * SAMPLE_RATE)  # the 0.1 s is within the tail


def test_a_long_message_is_written_while_recording(tmp_path: Path) -> None:
    path = tmp_path / "vm.wav"
    rec = MessageRecorder(path, max_seconds=60, silence_seconds=5.0)
    feed_all(rec, speech(10.0))
    assert not rec.done and rec.duration == 10.0
    assert path.stat().st_size - 44 >= 8 * SAMPLE_RATE * 2  # most of it already on disk
    rec.close()
    assert len(samples_of(path)) == 10 * SAMPLE_RATE


def test_the_threshold_separates_noise_from_speech(tmp_path: Path) -> None:
    rec = MessageRecorder(tmp_path / "vm.wav", 60, 1.0, silence_threshold=1000.0)
    feed_all(rec, silence(2.0, noise_rms=800.0))  # loud hiss, but under this threshold
    assert rec.reason is StopReason.SILENCE and not rec.heard_speech
