"""Music on hold: one continuous stream per music class, shared by every listener.

A :class:`MusicClass` is a loop of PCM (its tracks back to back) laid on a global timeline of
20 ms ticks: the frame at tick *t* is the loop's samples from ``t * 160`` (modulo its length).
A caller put on hold joins the stream where it is now — like a radio, not a CD — and every
listener of the class hears the same samples at the same tick. The loop is decoded or
generated once per process; a frame is a read-only view into it, so N listeners cost N
slices and nothing else. A tick is ``floor(now / 0.02)`` on the engine's monotonic clock.

The default class plays a track made by code (nothing downloaded): a slow progression of
soft seventh chords in D major with a quiet bass and a sparse bell melody, about three
minutes long and seamless at the loop point, mixed to -18 dBFS RMS. Tenants upload their own
tracks: every WAV in ``<tenant_dir>/<tenant>/moh/<class>/`` (in name order) forms a class,
each track brought to the same loudness.
"""

from __future__ import annotations

import functools
import math
import os
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

from centralita.media.audio import FRAME_SAMPLES, SAMPLE_RATE, Pcm, to_int16
from centralita.media.wavfile import MediaFileError, load_wav

FRAME_SECONDS = FRAME_SAMPLES / SAMPLE_RATE
TARGET_RMS_DBFS = -18.0
_MAX_TRACK_GAIN_DB = 12.0  # never lift a quiet upload by more than this (noise)
_RESYNC_FRAMES = 3  # a listener further than this from the clock rejoins the stream

Clock = Callable[[], float]


def tick_at(now: float) -> int:
    """The global 20 ms tick at monotonic time ``now``."""
    return math.floor(now / FRAME_SECONDS)


class MusicClass:
    def __init__(self, name: str, tracks: Sequence[Pcm]) -> None:
        loop = np.concatenate([t for t in tracks if len(t)]) if tracks else np.zeros(0, np.int16)
        if len(loop) < FRAME_SAMPLES:
            raise ValueError(f"music class {name!r} has no audio")
        self.name = name
        self.length = len(loop)
        # One frame of wrap-around appended, so every frame is a plain slice (a view).
        self._loop = np.concatenate([loop, loop[:FRAME_SAMPLES]]).astype(np.int16)
        self._loop.flags.writeable = False

    @property
    def duration(self) -> float:
        return self.length / SAMPLE_RATE

    def samples_at(self, position: int, count: int = FRAME_SAMPLES) -> Pcm:
        """``count`` samples of the stream from absolute sample ``position`` (a view when
        ``count`` <= one frame)."""
        start = position % self.length
        if start + count <= len(self._loop):
            return self._loop[start : start + count]
        indices = (start + np.arange(count)) % self.length
        return self._loop[indices]

    def frame_at(self, tick: int, samples: int = FRAME_SAMPLES) -> Pcm:
        """What every listener hears during ``tick``."""
        return self.samples_at(tick * FRAME_SAMPLES, samples)

    def listener(self, clock: Clock) -> MohListener:
        return MohListener(self, clock)


class MohListener:
    """An :class:`~centralita.media.player.AudioSource` following a music class's stream.

    It joins at the clock's current tick and then advances by what it reads, so a listener
    clocked every 20 ms plays gap-free even when its wake-ups jitter around tick edges; if it
    falls more than a few frames off the shared stream (a stalled call), it rejoins.
    """

    def __init__(self, music: MusicClass, clock: Clock) -> None:
        self.music = music
        self._clock = clock
        self.position = tick_at(clock()) * FRAME_SAMPLES
        self.resyncs = 0

    def read(self, samples: int = FRAME_SAMPLES) -> Pcm:
        expected = tick_at(self._clock()) * FRAME_SAMPLES
        if abs(self.position - expected) > _RESYNC_FRAMES * FRAME_SAMPLES:
            self.position = expected
            self.resyncs += 1
        frame = self.music.samples_at(self.position, samples)
        self.position += samples
        return frame


class MusicLibrary:
    """Music classes by tenant and name; the default class is generated on first use."""

    def __init__(self, tenant_dir: str | os.PathLike[str] | None = None) -> None:
        self.tenant_dir = None if tenant_dir is None else Path(tenant_dir)
        self._default: MusicClass | None = None
        self._classes: dict[tuple[str, str], tuple[tuple[object, ...], MusicClass]] = {}
        self._lock = threading.Lock()

    def default(self) -> MusicClass:
        with self._lock:
            if self._default is None:
                self._default = MusicClass("default", [compose_default_track()])
            return self._default

    def get(self, name: str = "default", tenant: str | None = None) -> MusicClass:
        """The tenant's class ``name`` if it has tracks, else the default class."""
        directory = self._class_dir(name, tenant)
        files = sorted(directory.glob("*.wav")) if directory and directory.is_dir() else []
        if not files or tenant is None:
            return self.default()
        signature = tuple((f.name, f.stat().st_mtime_ns, f.stat().st_size) for f in files)
        with self._lock:
            cached = self._classes.get((tenant, name))
            if cached is not None and cached[0] == signature:
                return cached[1]
        music = MusicClass(name, [normalise_track(load_wav(f), f) for f in files])
        with self._lock:
            self._classes[(tenant, name)] = (signature, music)
        return music

    def _class_dir(self, name: str, tenant: str | None) -> Path | None:
        if tenant is None or self.tenant_dir is None:
            return None
        for part in (tenant, name):
            if not part or part.startswith(".") or "/" in part or "\\" in part:
                raise ValueError(f"invalid music class path component {part!r}")
        return self.tenant_dir / tenant / "moh" / name


def normalise_track(pcm: Pcm, path: str | os.PathLike[str] = "<track>") -> Pcm:
    """Bring an uploaded track to the on-hold loudness, without lifting noise too far."""
    signal = pcm.astype(np.float64)
    rms = float(np.sqrt(np.mean(signal**2))) if len(signal) else 0.0
    if rms < 1.0:
        raise MediaFileError(path, "the track is silent")
    gain = min(_dbfs_rms(TARGET_RMS_DBFS) / rms, 10.0 ** (_MAX_TRACK_GAIN_DB / 20.0))
    return _soft_limit(signal * gain)


# --- the default track -------------------------------------------------------------------

_BEAT = 1.0  # seconds: 60 beats per minute
_CHORD_BEATS = 4
# (bass, pad voicing) as MIDI note numbers: Dmaj9, Bm7, Gmaj7, A6, Dmaj9, F#m7, Gmaj7, Asus4.
_PROGRESSION: tuple[tuple[int, tuple[int, ...]], ...] = (
    (50, (54, 57, 61, 64)),
    (47, (54, 57, 62, 66)),
    (55, (54, 59, 62, 66)),
    (45, (52, 57, 61, 66)),
    (50, (54, 57, 61, 64)),
    (54, (57, 61, 64, 69)),
    (55, (54, 59, 62, 67)),
    (45, (52, 57, 62, 64)),
)
_MELODY_SCALE = (74, 76, 78, 81, 83, 86)  # D major pentatonic, D5 to D6
_CYCLES = 6  # 6 x 8 chords x 4 s = 192 s


def compose_default_track(cycles: int = _CYCLES, seed: int = 20240601) -> Pcm:
    """The default on-hold music: deterministic, seamless when looped."""
    total = round(cycles * len(_PROGRESSION) * _CHORD_BEATS * _BEAT * SAMPLE_RATE)
    mix = np.zeros(total, dtype=np.float64)
    rng = np.random.default_rng(seed)
    chord_seconds = _CHORD_BEATS * _BEAT
    for index in range(cycles * len(_PROGRESSION)):
        bass, pad = _PROGRESSION[index % len(_PROGRESSION)]
        start = index * chord_seconds
        for note in pad:
            _add(mix, start, _pad_note(note, chord_seconds + 1.6), 0.11)
        _add(mix, start, _bass_note(_hz(bass), chord_seconds + 0.8), 0.16)
        for beat, note in _melody(pad, rng):
            _add(mix, start + beat * _BEAT, _bell_note(_hz(note)), 0.07)
    scaled = mix * (_dbfs_rms(TARGET_RMS_DBFS) / float(np.sqrt(np.mean(mix**2))))
    return _soft_limit(scaled)


def _melody(pad: tuple[int, ...], rng: np.random.Generator) -> list[tuple[float, int]]:
    """A sparse line: on each beat a note (or a rest), near the chord's own tones."""
    chord_classes = {n % 12 for n in pad}
    preferred = [n for n in _MELODY_SCALE if n % 12 in chord_classes] or list(_MELODY_SCALE)
    notes = []
    for beat in range(_CHORD_BEATS):
        if rng.random() < 0.45:
            continue
        pool = preferred if rng.random() < 0.8 else list(_MELODY_SCALE)
        offset = 0.5 if rng.random() < 0.25 else 0.0
        notes.append((beat + offset, int(pool[rng.integers(len(pool))])))
    return notes


def _hz(midi: int) -> float:
    return 440.0 * math.pow(2.0, (midi - 69) / 12.0)


def _time(seconds: float) -> npt.NDArray[np.float64]:
    return np.arange(round(seconds * SAMPLE_RATE), dtype=np.float64) / SAMPLE_RATE


@functools.lru_cache(maxsize=64)
def _pad_note(midi: int, seconds: float) -> npt.NDArray[np.float64]:
    """Warm pad: three slightly detuned voices with soft harmonics, slow swell and fade.
    Cached per note: the progression reuses a dozen pitches (read-only use)."""
    t = _time(seconds)
    tone = np.zeros_like(t)
    for voice, detune in enumerate((-0.0018, 0.0, 0.0018)):
        f = _hz(midi) * (1.0 + detune)
        phase = 2.0 * math.pi * ((midi * 7 + voice * 3) % 11) / 11.0
        for harmonic, weight in ((1, 1.0), (2, 0.25), (3, 0.08)):
            tone += weight * np.sin(2.0 * math.pi * f * harmonic * t + phase * harmonic)
    return tone / 3.0 * _swell(t, attack=1.4, release=1.6)


def _bass_note(freq: float, seconds: float) -> npt.NDArray[np.float64]:
    """Round bass; the 2nd and 3rd harmonics carry its pitch through a telephone's band."""
    t = _time(seconds)
    tone = np.sin(2 * math.pi * freq * t)
    tone += 0.6 * np.sin(4 * math.pi * freq * t) + 0.3 * np.sin(6 * math.pi * freq * t)
    return tone * _swell(t, attack=0.25, release=0.8) * (0.75 + 0.25 * np.exp(-t / 1.5))


def _bell_note(freq: float) -> npt.NDArray[np.float64]:
    """A soft electric-piano-like tone: quick attack, long exponential decay."""
    t = _time(2.4)
    tone = np.sin(2 * math.pi * freq * t) + 0.2 * np.sin(4 * math.pi * freq * t)
    return tone * np.exp(-t / 0.7) * np.clip(t / 0.012, 0.0, 1.0)


def _swell(t: npt.NDArray[np.float64], attack: float, release: float) -> npt.NDArray[np.float64]:
    rise = 0.5 - 0.5 * np.cos(math.pi * np.clip(t / attack, 0.0, 1.0))
    fall = 0.5 - 0.5 * np.cos(math.pi * np.clip((t[-1] - t) / release, 0.0, 1.0))
    envelope: npt.NDArray[np.float64] = rise * fall
    return envelope


def _add(
    mix: npt.NDArray[np.float64], start: float, note: npt.NDArray[np.float64], gain: float
) -> None:
    """Add a note into the circular mix: tails past the end wrap to the start (seamless loop)."""
    begin = round(start * SAMPLE_RATE) % len(mix)
    first = min(len(note), len(mix) - begin)
    mix[begin : begin + first] += gain * note[:first]
    if first < len(note):
        mix[: len(note) - first] += gain * note[first:]


def _dbfs_rms(dbfs: float) -> float:
    return 32768.0 * math.pow(10.0, dbfs / 20.0)


def _soft_limit(signal: npt.NDArray[np.float64]) -> Pcm:
    """Linear below -3 dBFS, then a tanh knee up to full scale: no hard clipping."""
    knee = 32768.0 * 10.0 ** (-3.0 / 20.0)
    headroom = 32767.0 - knee
    magnitude = np.abs(signal)
    over = magnitude > knee
    limited = magnitude.copy()
    limited[over] = knee + headroom * np.tanh((magnitude[over] - knee) / headroom)
    return to_int16(np.sign(signal) * limited)
