"""Call-progress tones: frequencies by FFT, cadences by on/off timing, per country."""

from __future__ import annotations

import itertools
import math

import numpy as np
import numpy.typing as npt
import pytest

from centralita.media.audio import SAMPLE_RATE
from centralita.media.tones import ToneGenerator, dbm0_amplitude, tone_for, tone_spec

# The E.180 supplement's values, written out again here so a typo in the module fails.
EXPECTED: dict[tuple[str, str], tuple[tuple[float, ...], tuple[float, ...]]] = {
    ("ringback", "ES"): ((425,), (1.5, 3.0)),
    ("busy", "ES"): ((425,), (0.2, 0.2)),
    ("congestion", "ES"): ((425,), (0.2, 0.2, 0.2, 0.2, 0.2, 0.6)),
    ("ringback", "MX"): ((425,), (1.0, 4.0)),
    ("busy", "MX"): ((425,), (0.25, 0.25)),
    ("congestion", "MX"): ((425,), (0.25, 0.25)),
    ("ringback", "US"): ((440, 480), (2.0, 4.0)),
    ("busy", "US"): ((480, 620), (0.5, 0.5)),
    ("congestion", "US"): ((480, 620), (0.25, 0.25)),
    ("ringback", "GB"): ((400, 450), (0.4, 0.2, 0.4, 2.0)),
    ("busy", "GB"): ((400,), (0.375, 0.375)),
    ("congestion", "GB"): ((400,), (0.4, 0.35, 0.225, 0.525)),
    ("ringback", "DE"): ((425,), (1.0, 4.0)),
    ("busy", "DE"): ((425,), (0.48, 0.48)),
    ("congestion", "DE"): ((425,), (0.24, 0.24)),
    ("ringback", "RU"): ((425,), (0.8, 3.2)),
    ("busy", "RU"): ((425,), (0.4, 0.4)),
    ("congestion", "RU"): ((425,), (0.2, 0.2)),
}


def _read_seconds(gen: ToneGenerator, seconds: float) -> npt.NDArray[np.float64]:
    frames = []
    for _ in range(round(seconds * SAMPLE_RATE / 160)):
        frame = gen.read(160)
        assert frame is not None and len(frame) == 160
        frames.append(frame)
    return np.concatenate(frames).astype(np.float64)


def _on_off_runs(signal: npt.NDArray[np.float64], amplitude: float) -> list[tuple[bool, int]]:
    """Run lengths (in samples) of tone present / absent.

    "Present" is a 2 ms RMS above 1/50 of the tone's amplitude (-34 dB): off periods are
    digital silence, and even the beat nulls of a dual tone (440+480 Hz beats at 40 Hz) never
    fall that low over 2 ms. Half a second of silence goes in front so the first burst has a
    leading edge.
    """
    padded = np.concatenate([np.zeros(SAMPLE_RATE // 2), signal])
    window = 16
    power = np.convolve(padded**2, np.ones(window) / window, mode="same")
    on = power > (amplitude / 50) ** 2 / 2
    edges = np.flatnonzero(np.diff(on.astype(np.int8))) + 1
    bounds = [0, *edges.tolist(), len(on)]
    runs = [(bool(on[a]), b - a) for a, b in itertools.pairwise(bounds)]
    return runs[1:]  # drop the padding


def _peaks(segment: npt.NDArray[np.float64], count: int) -> list[float]:
    """The ``count`` strongest spectral peaks (Hz), Hann window, zero-padded FFT."""
    size = 1 << 17
    spectrum = np.abs(np.fft.rfft(segment * np.hanning(len(segment)), size))
    freqs = np.fft.rfftfreq(size, 1.0 / SAMPLE_RATE)
    local = np.flatnonzero((spectrum[1:-1] > spectrum[:-2]) & (spectrum[1:-1] > spectrum[2:])) + 1
    strongest = local[np.argsort(spectrum[local])[::-1][:count]]
    return sorted(float(freqs[i]) for i in strongest)


@pytest.mark.parametrize(("kind", "country"), sorted(EXPECTED))
def test_national_tone_frequencies_and_cadence(kind: str, country: str) -> None:
    frequencies, cadence = EXPECTED[(kind, country)]
    period = sum(cadence)
    signal = _read_seconds(tone_for(kind, country), 2 * period)
    amplitude = dbm0_amplitude(tone_spec(kind, country).level_dbm0)

    runs = _on_off_runs(signal, amplitude)
    # The first period, run by run: on, off, on, off... each within 6 ms of the table.
    measured = [length / SAMPLE_RATE for _, length in runs[: len(cadence)]]
    assert [on for on, _ in runs[: len(cadence)]] == [i % 2 == 0 for i in range(len(cadence))]
    assert measured == pytest.approx(list(cadence), abs=0.006)

    first_on = signal[80 : round(cadence[0] * SAMPLE_RATE) - 80]
    peaks = _peaks(first_on, len(frequencies))
    assert peaks == pytest.approx([float(f) for f in frequencies], abs=1.5)
    # Nothing but those frequencies: 99% of the burst's energy within 15 Hz of them.
    spectrum = np.abs(np.fft.rfft(first_on * np.hanning(len(first_on)))) ** 2
    freqs = np.fft.rfftfreq(len(first_on), 1.0 / SAMPLE_RATE)
    near = np.zeros_like(freqs, dtype=bool)
    for f in frequencies:
        near |= np.abs(freqs - f) <= 15
    assert spectrum[near].sum() / spectrum.sum() > 0.99


@pytest.mark.parametrize(("kind", "country"), [("busy", "DE"), ("ringback", "US")])
def test_level_follows_e180(kind: str, country: str) -> None:
    spec = tone_spec(kind, country)
    on = _read_seconds(tone_for(kind, country), spec.cadence[0])[200:-200]
    rms = math.sqrt(float(np.mean(on**2)))
    per_component = dbm0_amplitude(spec.level_dbm0) / math.sqrt(2)
    expected = per_component * math.sqrt(len(spec.frequencies))
    assert rms == pytest.approx(expected, rel=0.02)
    # -10 dBm0 single tone: 0 dBm0 is 3.14 dB below a full-scale sine.
    assert dbm0_amplitude(-10.0) == pytest.approx(32767 * 10 ** (-13.14 / 20), rel=1e-6)


@pytest.mark.parametrize("chunk", [1, 7, 160, 333, 4000])
def test_generation_is_the_same_whatever_the_read_size(chunk: int) -> None:
    reference = tone_for("ringback", "GB").read(24000)
    assert reference is not None
    gen = tone_for("ringback", "GB")
    pieces = []
    total = 0
    while total < 24000:
        piece = gen.read(min(chunk, 24000 - total))
        assert piece is not None
        pieces.append(piece)
        total += len(piece)
    assert np.array_equal(np.concatenate(pieces), reference)


def test_phase_is_continuous_inside_a_burst() -> None:
    signal = _read_seconds(tone_for("ringback", "US"), 1.5)[400:]  # inside the 2 s burst
    # A continuous sum of sines has a bounded second difference; a phase jump at a frame
    # edge would show as a spike far above it.
    second = np.abs(np.diff(signal, 2))
    amplitude = dbm0_amplitude(-13.0)
    bound = 2 * amplitude * (2 * math.pi * 480 / SAMPLE_RATE) ** 2
    assert second.max() <= bound * 1.05


def test_bursts_start_and_end_softly() -> None:
    signal = _read_seconds(tone_for("busy", "ES"), 0.4)
    assert abs(signal[0]) < 50
    assert abs(signal[1599]) < 50  # last sample of the 0.2 s burst
    assert np.abs(signal[200:1400]).max() > 5000


def test_beep_is_one_shot_1khz_400ms() -> None:
    gen = tone_for("beep")
    frames = []
    while (frame := gen.read(160)) is not None:
        frames.append(frame)
    signal = np.concatenate(frames).astype(np.float64)
    assert len(signal) == round(0.4 * SAMPLE_RATE)
    assert _peaks(signal, 1) == pytest.approx([1000.0], abs=1.5)
    assert gen.read(160) is None
    assert gen.finished
    gen.rewind()
    assert gen.read(160) is not None


def test_one_shot_tone_gives_a_short_last_read() -> None:
    gen = tone_for("beep")
    first = gen.read(3000)
    last = gen.read(3000)
    assert first is not None and last is not None
    assert (len(first), len(last)) == (3000, 200)


@pytest.mark.parametrize(("kind", "rising"), [("join", True), ("leave", False)])
def test_conference_tones_rise_on_join_and_fall_on_leave(kind: str, rising: bool) -> None:
    gen = tone_for(kind)
    signal = gen.read(8000)
    assert signal is not None
    assert 0.25 < len(signal) / SAMPLE_RATE < 0.5
    first = _peaks(signal[:800].astype(np.float64), 1)[0]
    last = _peaks(signal[-1200:].astype(np.float64), 1)[0]
    assert (last > first) is rising
    assert gen.read(160) is None


def test_country_codes_are_case_insensitive_and_uk_means_gb() -> None:
    assert tone_spec("busy", "uk") == tone_spec("busy", "GB")
    assert tone_spec("ringback", "es") == tone_spec("ringback", "ES")


def test_unknown_tone_or_country_is_refused() -> None:
    with pytest.raises(ValueError, match="busy"):
        tone_for("busy", "ZZ")
    with pytest.raises(ValueError, match="howler"):
        tone_for("howler", "US")
