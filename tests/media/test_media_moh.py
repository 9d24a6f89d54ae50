"""Music on hold: one shared stream per class, the generated default track, tenant tracks."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from centralita.media.audio import SAMPLE_RATE, Pcm
from centralita.media.moh import (
    MusicClass,
    MusicLibrary,
    compose_default_track,
    tick_at,
)
from centralita.media.wavfile import MediaFileError, write_wav


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def default_track() -> Pcm:
    return compose_default_track()


def rms_dbfs(pcm: Pcm) -> float:
    return 20 * math.log10(math.sqrt(float(np.mean(pcm.astype(np.float64) ** 2))) / 32768)


def test_two_listeners_joining_at_different_times_hear_the_same_stream() -> None:
    music = MusicClass("c", [np.arange(-16000, 16000, 7, dtype=np.int16)])
    clock = Clock(1000.01)  # mid-tick: float steps of 0.02 never land on a tick edge
    early = music.listener(clock)
    early_frames = {}
    for _ in range(50):
        early_frames[tick_at(clock.now)] = early.read()
        clock.now += 0.02
    late = music.listener(clock)  # joins 1 s later: hears the stream where it is now
    for _ in range(200):
        tick = tick_at(clock.now)
        a, b = early.read(), late.read()
        assert np.array_equal(a, b)
        assert np.array_equal(a, music.frame_at(tick))
        clock.now += 0.02
    # The early listener's first second was the stream at those ticks too.
    assert all(np.array_equal(f, music.frame_at(t)) for t, f in early_frames.items())


def test_frames_are_views_of_one_shared_loop() -> None:
    music = MusicClass("c", [np.arange(1000, dtype=np.int16)])
    a = music.listener(Clock(5.0)).read()
    b = music.listener(Clock(5.0)).read()
    assert np.shares_memory(a, b)  # N listeners: no per-listener decoding or copying
    assert not a.flags.writeable


def test_stream_is_continuous_across_ticks_and_the_loop_point() -> None:
    loop = np.arange(1000, dtype=np.int16)  # 6.25 frames: frames straddle the loop point
    music = MusicClass("c", [loop])
    stream = np.concatenate([music.frame_at(t) for t in range(25)])
    assert np.array_equal(stream, np.tile(loop, 4))
    wrapped = np.concatenate([loop[990:], loop, loop[:390]])
    assert np.array_equal(music.samples_at(990, 1400), wrapped)
    assert np.array_equal(music.samples_at(4990, 160), wrapped[:160])


def test_tracks_play_back_to_back() -> None:
    music = MusicClass("c", [np.full(160, 1, np.int16), np.full(320, 2, np.int16)])
    assert music.frame_at(0).tolist() == [1] * 160
    assert music.frame_at(2).tolist() == [2] * 160
    assert music.frame_at(3).tolist() == [1] * 160  # looped
    assert music.duration == pytest.approx(0.06)


def test_listener_gap_free_under_jitter_and_rejoins_after_a_stall() -> None:
    music = MusicClass("c", [np.arange(-20000, 20000, 3, dtype=np.int16)])
    clock = Clock(10.0 + 0.0199)  # wakes just before tick edges, sometimes just after
    listener = music.listener(clock)
    start = listener.position
    got = []
    for i in range(100):
        got.append(listener.read())
        clock.now += 0.02 + (0.0002 if i % 2 else -0.0002)
    assert np.array_equal(np.concatenate(got), music.samples_at(start, 16000))
    assert listener.resyncs == 0
    clock.now += 1.0  # the call stalled for a second
    frame = listener.read()
    assert listener.resyncs == 1
    assert np.array_equal(frame, music.frame_at(tick_at(clock.now)))


def test_default_track_is_minutes_of_music_at_minus_18_dbfs(default_track: Pcm) -> None:
    assert len(default_track) / SAMPLE_RATE >= 120
    assert rms_dbfs(default_track) == pytest.approx(-18.0, abs=0.5)
    assert int(np.abs(default_track.astype(np.int32)).max()) < 32767  # no clipping
    # Music, not noise or a test tone: most energy in 100-1500 Hz, several strong pitches.
    spectrum = np.abs(np.fft.rfft(default_track[: 32 * SAMPLE_RATE].astype(np.float64))) ** 2
    freqs = np.fft.rfftfreq(32 * SAMPLE_RATE, 1 / SAMPLE_RATE)
    band = (freqs > 100) & (freqs < 1500)
    assert spectrum[band].sum() / spectrum.sum() > 0.9
    assert spectrum[freqs > 3400].sum() / spectrum.sum() < 0.001
    # Soft dynamics: one-second loudness varies, but never drops out or jumps.
    seconds = default_track[: 120 * SAMPLE_RATE].reshape(120, SAMPLE_RATE)
    levels = [rms_dbfs(s) for s in seconds]
    assert max(levels) - min(levels) < 12.0


def test_default_track_loops_without_a_click(default_track: Pcm) -> None:
    steps = np.abs(np.diff(default_track.astype(np.int32)))
    seam = abs(int(default_track[0]) - int(default_track[-1]))
    assert seam <= np.percentile(steps, 99.9)


def test_default_track_is_deterministic(default_track: Pcm) -> None:
    assert np.array_equal(compose_default_track(), default_track)


def test_library_default_class_is_generated_once() -> None:
    library = MusicLibrary()
    assert library.get() is library.get("default") is library.default()


def _track(tmp_path: Path, name: str, freq: float, level: float, rate: int = 16000) -> None:
    t = np.arange(rate * 2) / rate
    pcm = (level * 32767 * np.sin(2 * math.pi * freq * t)).astype(np.int16)
    write_wav(tmp_path / "acme" / "moh" / "jazz" / name, pcm, rate)


def test_tenant_tracks_form_a_class_at_the_same_loudness(tmp_path: Path) -> None:
    _track(tmp_path, "b.wav", 300.0, 0.05)
    _track(tmp_path, "a.wav", 500.0, 0.9)
    library = MusicLibrary(tmp_path)
    music = library.get("jazz", tenant="acme")
    assert music.duration == pytest.approx(4.0)
    first, second = music.samples_at(0, 16000), music.samples_at(16000, 16000)
    for clip, freq in ((first, 500), (second, 300)):  # name order: a.wav then b.wav
        assert int(np.argmax(np.abs(np.fft.rfft(clip.astype(np.float64))))) == freq * 2
        assert rms_dbfs(clip) == pytest.approx(-18.0, abs=0.3)
    assert library.get("jazz", tenant="acme") is music  # cached
    _track(tmp_path, "c.wav", 700.0, 0.2)
    assert library.get("jazz", tenant="acme").duration == pytest.approx(6.0)  # new upload


def test_unknown_tenant_class_falls_back_to_the_default(tmp_path: Path) -> None:
    library = MusicLibrary(tmp_path)
    assert library.get("jazz", tenant="nobody") is library.default()
    with pytest.raises(ValueError, match="invalid"):
        library.get("../../etc", tenant="acme")


def test_silent_upload_is_refused(tmp_path: Path) -> None:
    write_wav(tmp_path / "acme" / "moh" / "quiet" / "x.wav", np.zeros(8000, np.int16))
    with pytest.raises(MediaFileError, match="silent"):
        MusicLibrary(tmp_path).get("quiet", tenant="acme")


def test_empty_class_is_refused() -> None:
    with pytest.raises(ValueError, match="no audio"):
        MusicClass("empty", [])
