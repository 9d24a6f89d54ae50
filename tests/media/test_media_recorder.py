"""Whole-call recording to WAV: valid files of the right length, legs aligned, mono without
clipping, stereo with one leg per channel, written incrementally."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import numpy.typing as npt

from centralita.media.audio import FRAME_SAMPLES, SAMPLE_RATE, Pcm, to_int16
from centralita.media.mixer import CEILING
from centralita.media.recorder import CallRecorder
from centralita.media.wavfile import read_wav


def sine(freq: float, amplitude: float, tick: int) -> Pcm:
    t = (tick * FRAME_SAMPLES + np.arange(FRAME_SAMPLES)) / SAMPLE_RATE
    return to_int16(amplitude * np.sin(2 * np.pi * freq * t))


def read(path: Path) -> tuple[wave._wave_params, npt.NDArray[np.int16]]:
    with wave.open(str(path), "rb") as wav:
        params = wav.getparams()
        data = np.frombuffer(wav.readframes(params.nframes), dtype="<i2")
    return params, data.reshape(-1, params.nchannels)


def test_stereo_puts_each_leg_on_its_own_channel_aligned_in_time(tmp_path: Path) -> None:
    path = tmp_path / "call.wav"
    with CallRecorder(path, stereo=True) as rec:
        for tick in range(50):
            a = sine(440.0, 8000.0, tick) if tick < 20 else None  # caller talks first
            b = sine(1000.0, 8000.0, tick) if tick >= 30 else None  # callee later
            rec.write(a, b)
        assert rec.duration == 1.0
    params, data = read(path)
    assert (params.nchannels, params.sampwidth, params.framerate) == (2, 2, 8000)
    assert params.nframes == 50 * FRAME_SAMPLES
    left, right = data[:, 0], data[:, 1]
    cut_a, cut_b = 20 * FRAME_SAMPLES, 30 * FRAME_SAMPLES
    expected_left = np.concatenate([sine(440.0, 8000.0, t) for t in range(20)])
    expected_right = np.concatenate([sine(1000.0, 8000.0, t) for t in range(30, 50)])
    assert np.array_equal(left[:cut_a], expected_left) and not left[cut_a:].any()
    assert np.array_equal(right[cut_b:], expected_right) and not right[:cut_b].any()


def test_mono_is_the_sum_of_both_legs(tmp_path: Path) -> None:
    path = tmp_path / "mono.wav"
    a = [sine(440.0, 5000.0, t) for t in range(25)]
    b = [sine(1000.0, 5000.0, t) for t in range(25)]
    with CallRecorder(path) as rec:
        for frame_a, frame_b in zip(a, b, strict=True):
            rec.write(frame_a, frame_b)
    params, data = read(path)
    assert (params.nchannels, params.framerate, params.nframes) == (1, 8000, 25 * FRAME_SAMPLES)
    expected = np.concatenate(a).astype(np.int32) + np.concatenate(b)
    assert np.array_equal(data[:, 0], expected)


def test_mono_double_talk_at_full_scale_does_not_clip(tmp_path: Path) -> None:
    path = tmp_path / "loud.wav"
    with CallRecorder(path) as rec:
        for tick in range(25):
            rec.write(sine(440.0, 32000.0, tick), sine(440.0, 32000.0, tick))
    _, data = read(path)
    peak = np.abs(data.astype(np.int32)).max()
    assert 30000 < peak <= CEILING


def test_silent_ticks_and_uneven_frames_keep_time(tmp_path: Path) -> None:
    path = tmp_path / "gaps.wav"
    rec = CallRecorder(path, stereo=True)
    rec.write(None, None)  # a tick with no audio from either leg
    rec.write(np.full(240, 7, dtype=np.int16), None)  # a 30 ms frame from leg A
    rec.write(None, np.full(FRAME_SAMPLES, 9, dtype=np.int16))
    rec.close()
    rec.close()  # idempotent
    _, data = read(path)
    assert len(data) == FRAME_SAMPLES + 240 + FRAME_SAMPLES
    assert not data[:FRAME_SAMPLES].any()
    assert np.all(data[FRAME_SAMPLES : FRAME_SAMPLES + 240, 0] == 7)
    assert np.all(data[-FRAME_SAMPLES:, 1] == 9) and not data[-FRAME_SAMPLES:, 0].any()


def test_audio_reaches_the_disk_while_the_call_goes_on(tmp_path: Path) -> None:
    path = tmp_path / "long.wav"
    rec = CallRecorder(path)
    for tick in range(150):  # 3 s
        rec.write(sine(440.0, 3000.0, tick), None)
    on_disk = path.stat().st_size - 44
    assert on_disk >= 2 * SAMPLE_RATE * 2  # at least two seconds already written
    rec.close()
    assert path.stat().st_size == 44 + 150 * FRAME_SAMPLES * 2
    audio = read_wav(path)  # the engine's own reader accepts the finished header
    assert audio.format.sample_rate == 8000 and audio.samples.shape == (150 * FRAME_SAMPLES, 1)
