"""Tone WAVs for softphones to send, and spectrum checks on what they recorded.

baresip's ``aufile`` source wants 16-bit mono PCM at the configured rate; its ``sndfile`` module
records each call's decoded audio to ``dump-...-dec.wav``. A call carried a phone's tone end to
end when the far side's recording is dominated by that frequency.
"""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import numpy.typing as npt

SAMPLE_RATE = 8000


def write_tone(
    path: Path, frequency: float, seconds: float, *, rate: int = SAMPLE_RATE, level: float = 0.5
) -> Path:
    """Write a sine tone as 16-bit mono PCM WAV."""
    t = np.arange(int(seconds * rate)) / rate
    samples = (level * 32767 * np.sin(2 * np.pi * frequency * t)).astype("<i2")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(samples.tobytes())
    return path


def read_wav(path: Path) -> tuple[npt.NDArray[np.float64], int]:
    """Samples of a 16-bit PCM WAV as floats in [-1, 1] (first channel) and the sample rate."""
    with wave.open(str(path), "rb") as src:
        if src.getsampwidth() != 2:
            raise ValueError(f"{path}: expected 16-bit PCM, got {8 * src.getsampwidth()}-bit")
        channels = src.getnchannels()
        rate = src.getframerate()
        raw = src.readframes(src.getnframes())
    samples = np.frombuffer(raw, dtype="<i2").astype(np.float64) / 32768.0
    return samples[::channels], rate


def dominant_frequency(samples: npt.NDArray[np.float64], rate: int) -> float:
    """Frequency (Hz) of the strongest spectral peak, DC excluded."""
    if samples.size < rate // 10:
        raise ValueError(f"too little audio to analyse: {samples.size} samples")
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(samples.size)))
    freqs = np.fft.rfftfreq(samples.size, d=1.0 / rate)
    spectrum[freqs < 50.0] = 0.0
    return float(freqs[int(np.argmax(spectrum))])


def band_energy_fraction(
    samples: npt.NDArray[np.float64], rate: int, frequency: float, *, width: float = 30.0
) -> float:
    """Share of the signal's (non-DC) spectral energy within ``width`` Hz of ``frequency``."""
    power = np.abs(np.fft.rfft(samples * np.hanning(samples.size))) ** 2
    freqs = np.fft.rfftfreq(samples.size, d=1.0 / rate)
    power[freqs < 50.0] = 0.0
    total = float(power.sum())
    if total == 0.0:
        return 0.0
    return float(power[np.abs(freqs - frequency) <= width].sum()) / total


def rms(samples: npt.NDArray[np.float64]) -> float:
    return float(np.sqrt(np.mean(samples**2))) if samples.size else 0.0


def hears_tone(
    path: Path, frequency: float, *, tolerance: float = 15.0, min_fraction: float = 0.5
) -> tuple[bool, str]:
    """Whether a recording is dominated by ``frequency``; the second item explains the verdict."""
    samples, rate = read_wav(path)
    found = dominant_frequency(samples, rate)
    fraction = band_energy_fraction(samples, rate, frequency)
    verdict = abs(found - frequency) <= tolerance and fraction >= min_fraction
    detail = (
        f"{path.name}: dominant {found:.1f} Hz (wanted {frequency:.1f} ± {tolerance:.1f}), "
        f"{fraction:.0%} of energy near it, rms {rms(samples):.3f}, {samples.size / rate:.2f} s"
    )
    return verdict, detail
