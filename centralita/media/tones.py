"""Call-progress tones (ringback, busy, congestion) per country, and the PBX's own signals.

A tone is a :class:`ToneSpec`: a sequence of segments, each a set of frequencies sounded
together (empty = silence) for a duration, repeated or played once. This is the shape in
which ITU-T Recommendation E.180 and its supplement (the ITU Operational Bulletin annex
"Various tones used in national networks") describe every national tone: a frequency or a
pair of frequencies, and a cadence of on/off periods in seconds.

Levels: E.180 §2 recommends about -10 dBm0 for a single-frequency tone; dual-frequency tones
(North America) are sent at -13 dBm0 per component, so that the pair stays near -10 dBm0.
In G.711 terms 0 dBm0 is a sine 3.14 dB below a full-scale sine (ITU-T G.711 Table 5/6, the
"digital milliwatt"), which fixes the int16 amplitudes below.

Generation is phase-continuous across frames: the sample at offset *n* of a segment is
computed from *n*, never from the frame boundary, so reading 160 samples at a time or 7 at
a time gives the same signal. Each burst opens and closes with a short raised-cosine ramp so
that keying a tone on and off does not click.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from centralita.media.audio import FRAME_SAMPLES, SAMPLE_RATE, Pcm, to_int16

# Peak amplitude of a 0 dBm0 sine in int16 units: full scale is +3.14 dBm0 (G.711).
_DBM0_PEAK = 32767.0 * 10.0 ** (-3.14 / 20.0)
_RAMP_SECONDS = 0.004


def dbm0_amplitude(level_dbm0: float) -> float:
    """The int16 peak amplitude of a sine at ``level_dbm0``."""
    return _DBM0_PEAK * math.pow(10.0, level_dbm0 / 20.0)


@dataclass(frozen=True, slots=True)
class Segment:
    """Frequencies (Hz) sounded together for ``seconds``; no frequencies means silence;
    ``seconds`` None means "forever" (a continuous tone)."""

    frequencies: tuple[float, ...]
    seconds: float | None


@dataclass(frozen=True, slots=True)
class ToneSpec:
    segments: tuple[Segment, ...]
    level_dbm0: float = -10.0  # per frequency component
    repeat: bool = True

    @property
    def frequencies(self) -> tuple[float, ...]:
        found: list[float] = []
        for segment in self.segments:
            found.extend(f for f in segment.frequencies if f not in found)
        return tuple(found)

    @property
    def cadence(self) -> tuple[float, ...]:
        """On/off durations in seconds, as the E.180 tables write them."""
        return tuple(s.seconds for s in self.segments if s.seconds is not None)


def cadenced(frequencies: tuple[float, ...], *on_off: float, level_dbm0: float = -10.0) -> ToneSpec:
    """A repeating tone from an E.180-style cadence: on, off, on, off... (seconds)."""
    segments = tuple(
        Segment(frequencies if i % 2 == 0 else (), seconds) for i, seconds in enumerate(on_off)
    )
    return ToneSpec(segments, level_dbm0=level_dbm0)


def sequence(*notes: tuple[float, float], level_dbm0: float = -10.0) -> ToneSpec:
    """A one-shot tune: (frequency or 0 for a rest, seconds) pairs."""
    segments = tuple(Segment((f,) if f else (), seconds) for f, seconds in notes)
    return ToneSpec(segments, level_dbm0=level_dbm0, repeat=False)


# ITU-T E.180 supplement ("Various tones used in national networks"), per country:
# frequency in Hz, cadence in seconds on/off. Dual-tone North American tones at -13 dBm0
# per frequency (see module docstring).
_DUAL_DBM0 = -13.0
NATIONAL_TONES: dict[tuple[str, str], ToneSpec] = {
    # Spain: 425 Hz.
    ("ringback", "ES"): cadenced((425.0,), 1.5, 3.0),
    ("busy", "ES"): cadenced((425.0,), 0.2, 0.2),
    ("congestion", "ES"): cadenced((425.0,), 0.2, 0.2, 0.2, 0.2, 0.2, 0.6),
    # Mexico: 425 Hz.
    ("ringback", "MX"): cadenced((425.0,), 1.0, 4.0),
    ("busy", "MX"): cadenced((425.0,), 0.25, 0.25),
    ("congestion", "MX"): cadenced((425.0,), 0.25, 0.25),
    # United States: precise tone plan 440+480 (ringback), 480+620 (busy, reorder).
    ("ringback", "US"): cadenced((440.0, 480.0), 2.0, 4.0, level_dbm0=_DUAL_DBM0),
    ("busy", "US"): cadenced((480.0, 620.0), 0.5, 0.5, level_dbm0=_DUAL_DBM0),
    ("congestion", "US"): cadenced((480.0, 620.0), 0.25, 0.25, level_dbm0=_DUAL_DBM0),
    # United Kingdom: 400+450 Hz double-burst ringing, 400 Hz busy and congestion.
    ("ringback", "GB"): cadenced((400.0, 450.0), 0.4, 0.2, 0.4, 2.0, level_dbm0=_DUAL_DBM0),
    ("busy", "GB"): cadenced((400.0,), 0.375, 0.375),
    ("congestion", "GB"): cadenced((400.0,), 0.4, 0.35, 0.225, 0.525),
    # Germany: 425 Hz.
    ("ringback", "DE"): cadenced((425.0,), 1.0, 4.0),
    ("busy", "DE"): cadenced((425.0,), 0.48, 0.48),
    ("congestion", "DE"): cadenced((425.0,), 0.24, 0.24),
    # Russian Federation: 425 Hz, as listed in the E.180 supplement (GOST R 45-223-2001
    # later moved ringing to 1.0/4.0 and busy to 0.35/0.35; the ITU table is followed here).
    ("ringback", "RU"): cadenced((425.0,), 0.8, 3.2),
    ("busy", "RU"): cadenced((425.0,), 0.4, 0.4),
    ("congestion", "RU"): cadenced((425.0,), 0.2, 0.2),
}

# The PBX's own signals, the same everywhere.
SIGNAL_TONES: dict[str, ToneSpec] = {
    # "Please leave a message after the tone": one 1 kHz burst of 400 ms.
    "beep": sequence((1000.0, 0.4)),
    # Conference join: a rising fourth then fifth; leave: the same falling. Short and soft.
    "join": sequence((523.25, 0.12), (0.0, 0.03), (783.99, 0.18), level_dbm0=-16.0),
    "leave": sequence((783.99, 0.12), (0.0, 0.03), (523.25, 0.18), level_dbm0=-16.0),
}

COUNTRY_ALIASES = {"UK": "GB"}
COUNTRIES = ("ES", "MX", "US", "GB", "DE", "RU")
NATIONAL_KINDS = ("ringback", "busy", "congestion")


def tone_spec(kind: str, country: str = "US") -> ToneSpec:
    """The spec of ``kind`` ("ringback", "busy", "congestion", "beep", "join", "leave")."""
    if kind in SIGNAL_TONES:
        return SIGNAL_TONES[kind]
    code = country.upper()
    code = COUNTRY_ALIASES.get(code, code)
    try:
        return NATIONAL_TONES[(kind, code)]
    except KeyError:
        raise ValueError(f"no {kind!r} tone for country {country!r}") from None


def tone_for(kind: str, country: str = "US") -> ToneGenerator:
    """A fresh generator (an :class:`~centralita.media.player.AudioSource`) of that tone."""
    return ToneGenerator(tone_spec(kind, country))


class ToneGenerator:
    """An audio source playing a :class:`ToneSpec` at 8 kHz.

    ``read`` gives at most ``samples`` samples: fewer only where a one-shot tone ends, then
    ``None``. A repeating tone never ends.
    """

    def __init__(self, spec: ToneSpec, sample_rate: int = SAMPLE_RATE) -> None:
        if not spec.segments:
            raise ValueError("a tone needs at least one segment")
        self.spec = spec
        self.sample_rate = sample_rate
        self._amplitude = dbm0_amplitude(spec.level_dbm0)
        self._lengths = [
            None if s.seconds is None else round(s.seconds * sample_rate) for s in spec.segments
        ]
        self._ramp = max(1, round(_RAMP_SECONDS * sample_rate))
        self._index = 0
        self._offset = 0
        self._finished = False

    @property
    def finished(self) -> bool:
        return self._finished

    def rewind(self) -> None:
        self._index = 0
        self._offset = 0
        self._finished = False

    def read(self, samples: int = FRAME_SAMPLES) -> Pcm | None:
        if self._finished:
            return None
        out = np.zeros(samples, dtype=np.float64)
        filled = 0
        while filled < samples and not self._finished:
            filled += self._render_into(out[filled:])
        return to_int16(out[:filled])

    def _render_into(self, out: npt.NDArray[np.float64]) -> int:
        """Render the current segment into ``out`` up to its end; advance; return the count."""
        segment = self.spec.segments[self._index]
        length = self._lengths[self._index]
        take = len(out) if length is None else min(len(out), length - self._offset)
        if segment.frequencies and take > 0:
            out[:take] = self._burst(segment.frequencies, self._offset, take, length)
        self._offset += take
        if length is not None and self._offset >= length:
            self._next_segment()
        return take

    def _next_segment(self) -> None:
        self._offset = 0
        self._index += 1
        if self._index == len(self.spec.segments):
            self._index = 0
            self._finished = not self.spec.repeat

    def _burst(
        self, frequencies: tuple[float, ...], start: int, count: int, length: int | None
    ) -> npt.NDArray[np.float64]:
        n = np.arange(start, start + count, dtype=np.float64)
        signal = np.zeros(count, dtype=np.float64)
        for frequency in frequencies:
            # Phase from the sample index within the burst: continuous across reads.
            cycles = np.mod(n * frequency, self.sample_rate) / self.sample_rate
            signal += np.sin(2.0 * math.pi * cycles)
        return signal * self._amplitude * self._envelope(n, length)

    def _envelope(self, n: npt.NDArray[np.float64], length: int | None) -> npt.NDArray[np.float64]:
        ramp = float(self._ramp)
        rise = np.clip(n / ramp, 0.0, 1.0)
        gain = 0.5 - 0.5 * np.cos(math.pi * rise)
        if length is not None:
            fall = np.clip((length - 1 - n) / ramp, 0.0, 1.0)
            gain = gain * (0.5 - 0.5 * np.cos(math.pi * fall))
        return gain
