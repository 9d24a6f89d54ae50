"""In-band DTMF detection: Goertzel bins on the 8 kHz audio, ITU-T Q.24 acceptance.

Theory of operation.  A DTMF key is the sum of one low-group (row) and one high-group (column)
sine (ITU-T Q.23).  The detector slides a 20 ms analysis block over the audio in 10 ms hops,
carrying the unused samples from one 20 ms frame to the next, and asks of every block:

1. Is there enough energy for two tones at the minimum level?  (Most silence stops here.)
2. Which row and which column frequency are strongest?  Goertzel bins at the eight nominal
   frequencies, each evaluated on two Hann-windowed sub-blocks 4 ms apart (one matrix product
   in numpy, the same single-bin DFT the Goertzel recursion computes).
3. What are the tones' true frequencies?  The phase the bin advances between the two sub-blocks
   gives the offset from nominal to a fraction of a hertz, so the Q.24 frequency tolerance is
   applied exactly: within ±1.5 % accepted, beyond ±3.5 % rejected (the decision is at 2 %).
4. Twist: the high group may be up to 8 dB below the low group (normal twist) or up to 4 dB
   above it (reverse twist).
5. Is it *only* two tones?  The two sines are fitted (amplitude and phase at the measured
   frequency) and removed; what remains must carry at most a fifth of the block's energy, hold
   no single component within 12 dB of the weaker tone, and nothing notable at either tone's
   second harmonic.  Voiced speech and music are made of
   harmonic series and several notes, so they fail here even when two partials happen to land
   on DTMF frequencies.

A block that passes is a *hit* of one key.  Two consecutive hits (30 ms of tone) start a key;
four consecutive misses (a pause of about 20 ms or more) end it, so a dropout of a few
milliseconds does not split one key into two while the 40 ms inter-digit pause of Q.24 is
always seen.  One :class:`DtmfReceived` is reported per key, at its end, with its duration.
The timing is a transition table ``_TRANSITIONS[(State, Input)] -> (action, next_state)``.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from enum import Enum, auto
from typing import Final

import numpy as np
import numpy.typing as npt

from centralita.media.audio import SAMPLE_RATE, Pcm
from centralita.media.events import DtmfReceived

ROW_FREQUENCIES: Final = (697.0, 770.0, 852.0, 941.0)
COLUMN_FREQUENCIES: Final = (1209.0, 1336.0, 1477.0, 1633.0)
KEYPAD: Final = ("123A", "456B", "789C", "*0#D")

BLOCK: Final = 160  # 20 ms analysis block
HOP: Final = 80  # 10 ms between blocks
SUB_BLOCK: Final = 128  # the two phase-measuring sub-blocks ...
SUB_SHIFT: Final = BLOCK - SUB_BLOCK  # ... 4 ms apart: offsets up to ±125 Hz unambiguous

FREQUENCY_TOLERANCE: Final = 0.02  # Q.24: accept ±1.5 %, reject ±3.5 %
NORMAL_TWIST_DB: Final = 8.0  # high group weaker than low group
REVERSE_TWIST_DB: Final = 4.0  # high group stronger than low group
MIN_LEVEL_DBM0: Final = -30.0  # per tone
MAX_OTHER_ENERGY: Final = 0.2  # residual energy / block energy (signal-to-other ≥ 6 dB)
MAX_HARMONIC_DB: Final = -15.0  # second harmonic relative to its fundamental
MAX_OTHER_PEAK_DB: Final = -12.0  # strongest other component relative to the weaker tone
_DBM0_FULL_SCALE: Final = 3.14  # a full-scale sine is +3.14 dBm0 (ITU-T G.711)

FloatArray = npt.NDArray[np.float64]
ComplexArray = npt.NDArray[np.complex128]


def level_amplitude(dbm0: float) -> float:
    """Peak amplitude, in int16 units, of a sine at ``dbm0``."""
    return 32767.0 * 10 ** ((dbm0 - _DBM0_FULL_SCALE) / 20)


_MIN_AMPLITUDE: Final = level_amplitude(MIN_LEVEL_DBM0)
_NOMINAL: Final = np.array(ROW_FREQUENCIES + COLUMN_FREQUENCIES)
_SUB_WINDOW: Final = np.hanning(SUB_BLOCK + 2)[1:-1]
_SUB_BINS: Final[ComplexArray] = (
    _SUB_WINDOW[:, None]
    * np.exp(-2j * np.pi * np.outer(np.arange(SUB_BLOCK), _NOMINAL) / SAMPLE_RATE)
).astype(np.complex128)
_BLOCK_WINDOW: Final = np.hanning(BLOCK + 2)[1:-1]
_BLOCK_WINDOW_SUM: Final = float(_BLOCK_WINDOW.sum())
_SAMPLE_INDEX: Final = np.arange(BLOCK)
_HARMONIC_RATIO: Final = 10 ** (MAX_HARMONIC_DB / 20)
_OTHER_PEAK_RATIO: Final = 10 ** (MAX_OTHER_PEAK_DB / 20)


class _Tone:
    """One sine fitted to the block at a measured frequency."""

    __slots__ = ("amplitude", "samples", "second_harmonic")

    def __init__(self, block: FloatArray, frequency: float) -> None:
        phasor = np.exp(-2j * np.pi * frequency * _SAMPLE_INDEX / SAMPLE_RATE)
        coefficient = 2 * complex(np.dot(_BLOCK_WINDOW * block, phasor)) / _BLOCK_WINDOW_SUM
        self.amplitude = abs(coefficient)
        self.samples: FloatArray = np.real(coefficient * np.conj(phasor))
        self.second_harmonic: ComplexArray = phasor * phasor

    def harmonic_amplitude(self, residual: FloatArray) -> float:
        return (
            2
            * abs(complex(np.dot(_BLOCK_WINDOW * residual, self.second_harmonic)))
            / (_BLOCK_WINDOW_SUM)
        )


def _measure_offset(sub_bins: ComplexArray, index: int) -> float:
    """The tone's offset from the nominal frequency of bin ``index``, in hertz, from the
    phase the bin advances between the two sub-blocks ``SUB_SHIFT`` samples apart."""
    nominal = float(_NOMINAL[index])
    advance = np.angle(sub_bins[1, index] * np.conj(sub_bins[0, index]))
    expected = 2 * np.pi * nominal * SUB_SHIFT / SAMPLE_RATE
    excess = (advance - expected + np.pi) % (2 * np.pi) - np.pi
    return float(excess * SAMPLE_RATE / (2 * np.pi * SUB_SHIFT))


def classify_block(block: FloatArray) -> str | None:
    """The key whose tones this one 20 ms block holds by every Q.24 test, if any."""
    x = block - block.mean()
    energy = float(np.dot(x, x))
    if energy < BLOCK * _MIN_AMPLITUDE**2:  # two tones at the minimum level
        return None
    sub_bins = np.stack((x[:SUB_BLOCK], x[SUB_SHIFT:])) @ _SUB_BINS
    strength = np.abs(sub_bins).sum(axis=0)
    row = int(np.argmax(strength[:4]))
    column = int(np.argmax(strength[4:]))
    frequencies = []
    for index in (row, 4 + column):
        offset = _measure_offset(sub_bins, index)
        if abs(offset) > FREQUENCY_TOLERANCE * _NOMINAL[index]:
            return None
        frequencies.append(float(_NOMINAL[index]) + offset)
    low, high = _Tone(x, frequencies[0]), _Tone(x, frequencies[1])
    if not _levels_acceptable(low.amplitude, high.amplitude):
        return None
    residual = x - low.samples - high.samples
    if float(np.dot(residual, residual)) > MAX_OTHER_ENERGY * energy:
        return None
    if _other_peak(residual) > _OTHER_PEAK_RATIO * min(low.amplitude, high.amplitude):
        return None
    for tone in (low, high):
        if tone.harmonic_amplitude(residual) > _HARMONIC_RATIO * tone.amplitude:
            return None
    return KEYPAD[row][column]


def _other_peak(residual: FloatArray) -> float:
    """Amplitude of the strongest sine left once the two tones are removed.  Noise spreads
    thin over the band; speech and music leave partials (a third harmonic of a voice, a
    third note of a chord) that stand out."""
    spectrum = np.abs(np.fft.rfft(_BLOCK_WINDOW * residual))
    return 2 * float(spectrum[1:].max()) / _BLOCK_WINDOW_SUM


def _levels_acceptable(low: float, high: float) -> bool:
    if min(low, high) < _MIN_AMPLITUDE:
        return False
    twist_db = 20 * math.log10(high / low)
    return -NORMAL_TWIST_DB <= twist_db <= REVERSE_TWIST_DB


class State(Enum):
    IDLE = auto()
    CANDIDATE = auto()  # one hit: not yet long enough
    TONE = auto()
    GAP_1 = auto()  # misses since the last hit of the key
    GAP_2 = auto()
    GAP_3 = auto()


class Input(Enum):
    SAME = auto()  # a hit of the key being tracked
    OTHER = auto()  # a hit of another key (or of any key when none is tracked)
    MISS = auto()


_Action = Callable[["InbandDetector", str | None, int], DtmfReceived | None]


def _nothing(detector: InbandDetector, key: str | None, start: int) -> None:
    return None


def _begin(detector: InbandDetector, key: str | None, start: int) -> None:
    detector._key, detector._first_hit, detector._last_hit = key, start, start


def _extend(detector: InbandDetector, key: str | None, start: int) -> None:
    detector._last_hit = start


def _report(detector: InbandDetector, key: str | None, start: int) -> DtmfReceived | None:
    return detector._report()


_GAP_STATES: Final = (State.TONE, State.GAP_1, State.GAP_2, State.GAP_3)
_TRANSITIONS: Final[dict[tuple[State, Input], tuple[_Action, State]]] = {
    (State.IDLE, Input.OTHER): (_begin, State.CANDIDATE),
    (State.IDLE, Input.MISS): (_nothing, State.IDLE),
    (State.CANDIDATE, Input.SAME): (_extend, State.TONE),
    (State.CANDIDATE, Input.OTHER): (_begin, State.CANDIDATE),
    (State.CANDIDATE, Input.MISS): (_nothing, State.IDLE),
    **{(state, Input.SAME): (_extend, State.TONE) for state in _GAP_STATES},
    **{
        (state, signal): (_nothing, after)
        for state, after in itertools.pairwise(_GAP_STATES)
        for signal in (Input.OTHER, Input.MISS)
    },
    (State.GAP_3, Input.OTHER): (_report, State.IDLE),
    (State.GAP_3, Input.MISS): (_report, State.IDLE),
}


class InbandDetector:
    """Finds DTMF keys in 8 kHz audio fed frame by frame (any frame length)."""

    def __init__(self) -> None:
        self.state = State.IDLE
        self._pending: FloatArray = np.zeros(0)
        self._position = 0  # sample index of the first pending sample
        self._key: str | None = None
        self._first_hit = 0
        self._last_hit = 0

    def feed(self, frame: Pcm) -> list[DtmfReceived]:
        """Take the next frame of audio; returns the key presses that ended in it."""
        self._pending = np.concatenate((self._pending, frame.astype(np.float64)))
        events = []
        while len(self._pending) >= BLOCK:
            event = self._step(classify_block(self._pending[:BLOCK]), self._position)
            if event is not None:
                events.append(event)
            self._pending = self._pending[HOP:]
            self._position += HOP
        return events

    def finish(self) -> list[DtmfReceived]:
        """End of the audio (the call ends, the stream stops): report a key still held."""
        held = self.state not in (State.IDLE, State.CANDIDATE)
        event = self._report() if held else None
        self.state = State.IDLE
        return [] if event is None else [event]

    def _step(self, hit: str | None, start: int) -> DtmfReceived | None:
        if hit is None:
            signal = Input.MISS
        elif hit == self._key and self.state is not State.IDLE:
            signal = Input.SAME
        else:
            signal = Input.OTHER
        action, self.state = _TRANSITIONS[(self.state, signal)]
        return action(self, hit, start)

    def _report(self) -> DtmfReceived | None:
        key, self._key = self._key, None
        if key is None:
            return None
        duration_ms = (self._last_hit + BLOCK - self._first_hit) * 1000 // SAMPLE_RATE
        return DtmfReceived(key, duration_ms, "inband")
