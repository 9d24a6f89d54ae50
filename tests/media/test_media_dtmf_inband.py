"""In-band DTMF detection on generated signals: every key under realistic impairments,
Q.24 rejections, and no false detections on speech-like noise and on music."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from centralita.media.audio import FRAME_SAMPLES, SAMPLE_RATE, Pcm, to_int16
from centralita.media.dtmf_inband import (
    COLUMN_FREQUENCIES,
    KEYPAD,
    ROW_FREQUENCIES,
    InbandDetector,
    level_amplitude,
)
from centralita.media.events import DtmfReceived

Signal = npt.NDArray[np.float64]
KEYS = "123A456B789C*0#D"


def _frequencies(key: str) -> tuple[float, float]:
    row = next(i for i, keys in enumerate(KEYPAD) if key in keys)
    return ROW_FREQUENCIES[row], COLUMN_FREQUENCIES[KEYPAD[row].index(key)]


def dtmf(
    key: str,
    ms: float,
    *,
    low_dbm0: float = -8.0,
    twist_db: float = 2.0,
    deviation: tuple[float, float] = (0.0, 0.0),
    rng: np.random.Generator | None = None,
) -> Signal:
    """A key's two tones; ``twist_db`` is high group level minus low group level."""
    rng = rng or np.random.default_rng(0)
    low, high = _frequencies(key)
    t = np.arange(round(ms * SAMPLE_RATE / 1000)) / SAMPLE_RATE
    phases = rng.uniform(0, 2 * np.pi, 2)
    low_tone = level_amplitude(low_dbm0) * np.sin(2 * np.pi * low * (1 + deviation[0]) * t)
    high_tone = level_amplitude(low_dbm0 + twist_db) * np.sin(
        2 * np.pi * high * (1 + deviation[1]) * t + phases[1] - phases[0]
    )
    return np.asarray(low_tone + high_tone, dtype=np.float64)


def silence_ms(ms: float) -> Signal:
    return np.zeros(round(ms * SAMPLE_RATE / 1000))


def detect(signal: Signal, frame: int = FRAME_SAMPLES) -> list[DtmfReceived]:
    pcm: Pcm = to_int16(signal)
    detector = InbandDetector()
    events: list[DtmfReceived] = []
    for start in range(0, len(pcm), frame):
        events += detector.feed(pcm[start : start + frame])
    return events + detector.finish()


def with_noise(signal: Signal, snr_db: float, rng: np.random.Generator) -> Signal:
    active = signal[signal != 0]
    noise_power = float(np.mean(active**2)) / 10 ** (snr_db / 10)
    return signal + rng.normal(0.0, np.sqrt(noise_power), len(signal))


def keys_of(events: list[DtmfReceived]) -> str:
    return "".join(e.digit for e in events)


# --- acceptance ----------------------------------------------------------------------------


def test_all_sixteen_keys_clean() -> None:
    signal = np.concatenate([np.concatenate((silence_ms(50), dtmf(k, 80))) for k in KEYS])
    events = detect(np.concatenate((signal, silence_ms(100))))
    assert keys_of(events) == KEYS
    assert all(e.method == "inband" and 60 <= e.duration_ms <= 90 for e in events)


@pytest.mark.parametrize("key", KEYS)
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_every_key_with_level_twist_offset_and_noise(key: str, seed: int) -> None:
    rng = np.random.default_rng(seed * 100 + KEYS.index(key))
    presses = []
    for _ in range(3):
        tone = dtmf(
            key,
            rng.uniform(45, 150),
            low_dbm0=rng.uniform(-22, -3),
            twist_db=rng.uniform(-7, 3.5),
            deviation=(rng.uniform(-0.015, 0.015), rng.uniform(-0.015, 0.015)),
            rng=rng,
        )
        press = np.concatenate((silence_ms(rng.uniform(45, 120)), tone, silence_ms(50)))
        # Noise at a 15-20 dB signal-to-noise ratio for this press, pauses included.
        presses.append(with_noise(press, rng.uniform(15, 20), rng))
    events = detect(np.concatenate(presses))
    assert keys_of(events) == key * 3


@pytest.mark.parametrize("deviation", [0.015, -0.015])
def test_frequency_tolerance_edge_accepted(deviation: float) -> None:
    signal = np.concatenate(
        [
            np.concatenate((silence_ms(50), dtmf(k, 60, deviation=(deviation, -deviation))))
            for k in KEYS
        ]
    )
    assert keys_of(detect(np.concatenate((signal, silence_ms(60))))) == KEYS


def test_duration_is_measured() -> None:
    events = detect(np.concatenate((silence_ms(30), dtmf("8", 300), silence_ms(100))))
    assert len(events) == 1 and 290 <= events[0].duration_ms <= 310


@pytest.mark.parametrize("offset", range(0, 80, 7))
def test_forty_ms_tone_accepted_at_any_alignment(offset: int) -> None:
    signal = np.concatenate((np.zeros(offset), dtmf("0", 40), silence_ms(80)))
    events = detect(signal)
    assert keys_of(events) == "0" and 30 <= events[0].duration_ms <= 50


def test_pause_of_forty_ms_separates_repeated_keys() -> None:
    signal = np.concatenate((dtmf("3", 60), silence_ms(40), dtmf("3", 60), silence_ms(80)))
    assert keys_of(detect(signal)) == "33"


def test_short_dropout_does_not_split_a_key() -> None:
    signal = np.concatenate((dtmf("3", 80), silence_ms(5), dtmf("3", 80), silence_ms(80)))
    events = detect(signal)
    assert keys_of(events) == "3" and events[0].duration_ms >= 150


def test_frame_size_does_not_matter() -> None:
    signal = np.concatenate((silence_ms(25), dtmf("#", 90), silence_ms(50), dtmf("D", 70)))
    signal = np.concatenate((signal, silence_ms(80)))
    assert detect(signal, frame=160) == detect(signal, frame=37) == detect(signal, frame=400)


def test_key_held_at_the_end_of_the_audio_is_reported_by_finish() -> None:
    detector = InbandDetector()
    assert detector.feed(to_int16(dtmf("6", 200))) == []
    assert keys_of(detector.finish()) == "6"
    assert detector.finish() == []


# --- rejection -----------------------------------------------------------------------------


@pytest.mark.parametrize("deviation", [0.035, -0.035, 0.05])
@pytest.mark.parametrize("group", [0, 1])
def test_frequency_out_of_tolerance_rejected(deviation: float, group: int) -> None:
    offsets = (deviation, 0.0) if group == 0 else (0.0, deviation)
    signal = np.concatenate(
        [np.concatenate((silence_ms(50), dtmf(k, 100, deviation=offsets))) for k in KEYS]
    )
    assert detect(np.concatenate((signal, silence_ms(60)))) == []


@pytest.mark.parametrize("twist_db", [-10.0, 6.0])
def test_twist_beyond_limits_rejected(twist_db: float) -> None:
    signal = np.concatenate(
        [np.concatenate((silence_ms(50), dtmf(k, 100, twist_db=twist_db))) for k in KEYS]
    )
    assert detect(np.concatenate((signal, silence_ms(60)))) == []


@pytest.mark.parametrize("twist_db", [-7.5, 3.5])
def test_twist_within_limits_accepted(twist_db: float) -> None:
    signal = np.concatenate(
        [np.concatenate((silence_ms(50), dtmf(k, 100, twist_db=twist_db))) for k in KEYS]
    )
    assert keys_of(detect(np.concatenate((signal, silence_ms(60))))) == KEYS


@pytest.mark.parametrize("offset", range(0, 80, 9))
def test_tone_of_twenty_ms_rejected(offset: int) -> None:
    signal = np.concatenate((np.zeros(offset), dtmf("5", 20), silence_ms(80)))
    assert detect(signal) == []


def test_too_quiet_rejected() -> None:
    signal = np.concatenate((dtmf("5", 200, low_dbm0=-40.0), silence_ms(80)))
    assert detect(signal) == []


def test_single_frequency_rejected() -> None:
    t = np.arange(SAMPLE_RATE) / SAMPLE_RATE
    for frequency in ROW_FREQUENCIES + COLUMN_FREQUENCIES:
        assert detect(level_amplitude(-5) * np.sin(2 * np.pi * frequency * t)) == []


def test_tone_with_strong_second_harmonics_rejected() -> None:
    low, high = _frequencies("5")
    t = np.arange(SAMPLE_RATE // 4) / SAMPLE_RATE
    amplitude = level_amplitude(-6)
    signal = sum(
        amplitude * gain * np.sin(2 * np.pi * f * k * t)
        for f in (low, high)
        for k, gain in ((1, 1.0), (2, 0.3))
    )
    assert detect(np.concatenate((np.asarray(signal), silence_ms(60)))) == []
    assert keys_of(detect(np.concatenate((dtmf("5", 250), silence_ms(60))))) == "5"


# --- no false detections -------------------------------------------------------------------


def _stft_filter(signal: Signal, gains: Signal, hop: int) -> Signal:
    """Time-varying filtering by overlap-add: frame ``i`` (length 2*hop) is shaped by
    ``gains[i]`` (one gain per rfft bin)."""
    size = 2 * hop
    window = np.sqrt(np.hanning(size + 1)[:-1])
    frames = len(gains)
    padded = np.concatenate((signal, np.zeros(size)))[: (frames + 1) * hop]
    index = np.arange(size)[None, :] + hop * np.arange(frames)[:, None]
    spectra = np.fft.rfft(padded[index] * window, axis=1) * gains
    shaped = np.fft.irfft(spectra, size, axis=1) * window
    out = np.zeros((frames + 1) * hop)
    np.add.at(out, index, shaped)
    return out[: len(signal)]


def speech_like(seconds: float, rng: np.random.Generator) -> Signal:
    """Voiced and unvoiced sounds through moving formant resonances, in syllables.

    The voiced source is a glottal-like harmonic series whose pitch glides (male to child
    range, 90-320 Hz) with jitter; three formants move between vowel targets every syllable;
    a noise source stands for fricatives; a syllabic envelope (~4 Hz) and pauses between
    phrases give speech its rhythm.  Active level around -18 dBm0.
    """
    n = round(seconds * SAMPLE_RATE)
    hop = 64
    frames = n // hop + 1
    syllables = np.cumsum(rng.uniform(0.12, 0.35, int(seconds * 8) + 2))
    t_frame = np.arange(frames) * hop / SAMPLE_RATE
    syllable_of_frame = np.searchsorted(syllables, t_frame)
    vowels = np.array(
        [
            [730, 1090, 2440],
            [270, 2290, 3010],
            [530, 1840, 2480],
            [570, 840, 2410],
            [300, 870, 2240],
            [660, 1720, 2410],
            [490, 1350, 1690],
            [440, 1020, 2240],
        ]
    )
    targets = vowels[rng.integers(0, len(vowels), len(syllables) + 1)] * rng.uniform(
        0.85, 1.25, (len(syllables) + 1, 1)
    )
    formants = targets[syllable_of_frame]
    smooth = np.ones(6) / 6
    formants = np.stack([np.convolve(formants[:, k], smooth, mode="same") for k in range(3)], 1)
    freqs = np.fft.rfftfreq(2 * hop, 1 / SAMPLE_RATE)
    bandwidths = np.array([80.0, 120.0, 160.0])
    gains = sum(
        1.0
        / (1.0 + ((freqs[None, :] - formants[:, k : k + 1]) / (bandwidths[k] / 2)) ** 2)
        * (0.5**k)
        for k in range(3)
    )
    # voiced source: glottal harmonic series with gliding, jittered pitch
    pitch_targets = rng.uniform(90, 320, len(syllables) + 1)
    pitch = np.interp(np.arange(n) / SAMPLE_RATE, np.concatenate(([0], syllables)), pitch_targets)
    pitch *= 1 + 0.01 * rng.standard_normal(n).cumsum() / np.sqrt(np.arange(1, n + 1))
    phase = 2 * np.pi * np.cumsum(pitch) / SAMPLE_RATE
    voiced = np.zeros(n)
    for k in range(1, 40):
        voiced += np.where(k * pitch < SAMPLE_RATE / 2, np.sin(k * phase) / k, 0.0)
    unvoiced = rng.standard_normal(n)
    voicing = (rng.random(len(syllables) + 1) < 0.8)[
        np.searchsorted(syllables, np.arange(n) / SAMPLE_RATE)
    ]
    source = np.where(voicing, voiced + 0.05 * unvoiced, 0.6 * unvoiced)
    shaped = _stft_filter(source, np.asarray(gains), hop)
    # syllabic envelope and phrase pauses
    position = np.arange(n) / SAMPLE_RATE
    starts = np.concatenate(([0], syllables))[np.searchsorted(syllables, position)]
    ends = syllables[np.minimum(np.searchsorted(syllables, position), len(syllables) - 1)]
    envelope = np.sin(np.pi * np.clip((position - starts) / (ends - starts), 0, 1)) ** 0.7
    phrase = (np.sin(2 * np.pi * position / rng.uniform(2.5, 4.0)) > -0.6).astype(float)
    speech = shaped * envelope * np.convolve(phrase, np.ones(400) / 400, mode="same")
    active = speech[np.abs(speech) > 1e-9]
    level = level_amplitude(-18) / np.sqrt(2) / np.sqrt(np.mean(active**2))
    return np.asarray(speech * level * rng.uniform(0.5, 2.0), dtype=np.float64)


def music(seconds: float, rng: np.random.Generator) -> Signal:
    """A chord progression with harmonic-rich notes, a bass line and an arpeggiated melody.

    Voicings sit in the DTMF band on purpose (notes such as F5 = 698 Hz, A#5 = 932 Hz,
    E6 = 1319 Hz, F#6 = 1480 Hz and G#6 = 1661 Hz are within a few per cent of DTMF
    frequencies).  Around -15 dBm0.
    """
    n = round(seconds * SAMPLE_RATE)
    t = np.arange(n) / SAMPLE_RATE
    out = np.zeros(n)
    progression = [  # MIDI notes
        [62, 66, 69, 77, 90],
        [57, 64, 73, 76, 88],
        [59, 66, 74, 78, 86],
        [55, 67, 71, 74, 83],
        [53, 65, 69, 72, 89],
        [58, 70, 74, 77, 92],
        [56, 68, 72, 75, 80],
        [61, 68, 73, 77, 90],
    ]
    beat = 0.5
    chord_length = 4 * beat

    def note(midi: int, start: float, length: float, gain: float, partials: int) -> None:
        first, last = int(start * SAMPLE_RATE), min(n, int((start + length) * SAMPLE_RATE))
        if first >= n:
            return
        local = t[first:last] - start
        frequency = 440.0 * 2 ** ((midi - 69) / 12) * (1 + rng.uniform(-0.002, 0.002))
        vibrato = 1 + 0.004 * np.sin(2 * np.pi * 5.5 * local)
        phase = 2 * np.pi * frequency * np.cumsum(vibrato) / SAMPLE_RATE
        tone = sum(
            np.sin(k * phase) / k**1.1
            for k in range(1, partials + 1)
            if k * frequency < SAMPLE_RATE / 2
        )
        envelope = np.minimum(local / 0.02, 1) * np.exp(-local / (length * 0.8))
        out[first:last] += gain * np.asarray(tone) * envelope

    start = 0.0
    while start < seconds:
        chord = progression[rng.integers(0, len(progression))]
        note(chord[0] - 12, start, chord_length, 1.0, 6)  # bass
        for midi in chord[1:4]:
            note(midi, start, chord_length, 0.5, 5)  # pad
        for i in range(8):  # arpeggio over the two top notes and the pad
            pick = chord[[4, 3, 2, 3, 4, 3, 1, 3][i]]
            note(pick, start + i * beat / 2, beat, 0.6, 4)
        start += chord_length
    gain = level_amplitude(-15) / np.sqrt(2) / np.sqrt(np.mean(out**2))
    return np.asarray(out * gain, dtype=np.float64)


@pytest.mark.parametrize("seed", [11, 12, 13])
def test_no_false_detections_on_speech_like_signal(seed: int) -> None:
    rng = np.random.default_rng(seed)
    assert detect(speech_like(40.0, rng)) == []


@pytest.mark.parametrize("seed", [21, 22, 23])
def test_no_false_detections_on_music(seed: int) -> None:
    rng = np.random.default_rng(seed)
    assert detect(music(40.0, rng)) == []


def test_keys_detected_over_music_pauses_and_generators_are_not_silent() -> None:
    rng = np.random.default_rng(5)
    speech, tune = speech_like(2.0, rng), music(2.0, rng)
    assert np.sqrt(np.mean(speech**2)) > 300 and np.sqrt(np.mean(tune**2)) > 1000
    signal = np.concatenate((tune, silence_ms(60), dtmf("7", 120), silence_ms(60), speech))
    assert keys_of(detect(signal)) == "7"
