"""Audio as the media engine handles it: 16-bit signed mono PCM in 20 ms frames.

Every media component (codecs, players, tone generators, DTMF detectors, recorders, the
conference mixer) exchanges numpy ``int16`` arrays. The engine's own rate is 8 kHz; a
wideband codec converts at its boundary. One frame is 20 ms, the usual RTP packetisation
(RFC 3551 §4.2: a default packetisation interval of 20 ms for audio).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

Pcm = npt.NDArray[np.int16]

SAMPLE_RATE = 8000
FRAME_MS = 20
FRAME_SAMPLES = SAMPLE_RATE * FRAME_MS // 1000  # 160
INT16_MAX = 32767


def silence(samples: int = FRAME_SAMPLES) -> Pcm:
    return np.zeros(samples, dtype=np.int16)


def to_int16(signal: npt.NDArray[np.floating] | npt.NDArray[np.integer]) -> Pcm:
    """Round and clip a signal in int16 units into int16 samples."""
    clipped: Pcm = np.clip(np.rint(signal), -32768, INT16_MAX).astype(np.int16)
    return clipped


def resample(pcm: Pcm, src_rate: int, dst_rate: int) -> Pcm:
    """Resample by band-limited interpolation in the frequency domain (keeps a tone's pitch).

    For whole files and prompts, converted once and cached; streaming paths convert 8k<->16k
    frame by frame with :func:`upsample2` / :func:`downsample2`.
    """
    if src_rate == dst_rate or len(pcm) == 0:
        return pcm.copy()
    out_len = max(1, round(len(pcm) * dst_rate / src_rate))
    spectrum = np.fft.rfft(pcm.astype(np.float64))
    keep = min(len(spectrum), out_len // 2 + 1)
    resized = np.zeros(out_len // 2 + 1, dtype=np.complex128)
    resized[:keep] = spectrum[:keep]
    out = np.fft.irfft(resized, out_len) * (out_len / len(pcm))
    return to_int16(out)


_HALFBAND = (
    np.array(
        [
            -0.0106,
            0.0,
            0.0435,
            0.0,
            -0.1311,
            0.0,
            0.5982,
            1.0,
            0.5982,
            0.0,
            -0.1311,
            0.0,
            0.0435,
            0.0,
            -0.0106,
        ],
        dtype=np.float64,
    )
    / 2.0
)


def upsample2(pcm: Pcm) -> Pcm:
    """8 kHz to 16 kHz: zero-stuff and half-band low-pass (gain 2 restores the level)."""
    stuffed = np.zeros(len(pcm) * 2, dtype=np.float64)
    stuffed[::2] = pcm
    return to_int16(np.convolve(stuffed, _HALFBAND * 2.0, mode="same"))


def downsample2(pcm: Pcm) -> Pcm:
    """16 kHz to 8 kHz: half-band low-pass, then keep every other sample."""
    filtered = np.convolve(pcm.astype(np.float64), _HALFBAND, mode="same")
    return to_int16(filtered[::2])
