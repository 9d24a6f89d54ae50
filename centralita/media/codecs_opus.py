"""Opus (RFC 6716) over ``opuslib``, a ctypes binding of the system libopus; optional.

When ``opuslib`` is not installed or libopus cannot be loaded, :func:`opus_available` is false
and the codec registry leaves Opus out, so nothing offers it in SDP.

RTP (RFC 7587): a dynamic payload type, ``a=rtpmap:<pt> opus/48000/2`` whatever the audio
bandwidth or channel count actually sent (§7), and an RTP clock of 48000 Hz in every mode
(§4.1). We send mono and decode any stream, stereo ones included, to mono.

Rate conversion: libopus works at 48 kHz internally and converts at its API boundary from and
to 8, 12, 16, 24 or 48 kHz with its own filters; we open encoder and decoder at the engine's
8 kHz, so the encoder codes narrowband audio (what an 8 kHz frame holds) and the decoder hands
back any received bandwidth band-limited to 8 kHz sampling without a resampler of ours.
"""

from __future__ import annotations

import importlib
from typing import Any, Self

import numpy as np

from centralita.media.audio import Pcm
from centralita.media.codecs_base import CodecError, as_pcm


def _load_opuslib() -> Any:
    try:
        return importlib.import_module("opuslib")
    except Exception:  # opuslib raises a bare Exception when it cannot find libopus
        return None


_opuslib: Any = _load_opuslib()

_API_RATE = 8000  # the rate we hand PCM to libopus at (the engine rate)
_RTP_CLOCK = 48000  # RFC 7587 §4.1
DEFAULT_COMPLEXITY = 10  # libopus's own default: best quality, ~130 µs a 20 ms frame here
_MAX_PACKET_MS = 120  # RFC 6716 §3.2.5: a packet carries at most 120 ms of audio
# RFC 6716 §2.1.4: the frame durations an encoder call may produce, in samples at 8 kHz.
_FRAME_SAMPLES = frozenset({20, 40, 80, 160, 320, 480})
# RFC 6716 §3.1, Table 2: frame duration per TOC configuration number, in 48 kHz samples.
_SILK_SIZES = (480, 960, 1920, 2880)
_HYBRID_SIZES = (480, 960)
_CELT_SIZES = (120, 240, 480, 960)


def opus_available() -> bool:
    """Whether opuslib is installed and libopus loads and creates an encoder."""
    if _opuslib is None:
        return False
    try:
        _opuslib.Encoder(_API_RATE, 1, _opuslib.APPLICATION_VOIP)
    except Exception:
        return False
    return True


def packet_samples(payload: bytes) -> int:
    """Audio duration of an Opus packet in 48 kHz samples, from its TOC (RFC 6716 §3.1-3.2)."""
    if not payload:
        raise CodecError("empty Opus packet (RFC 6716 §3.4 [R1])")
    toc = payload[0]
    config = toc >> 3
    if config < 12:
        frame = _SILK_SIZES[config % 4]
    elif config < 16:
        frame = _HYBRID_SIZES[config % 2]
    else:
        frame = _CELT_SIZES[config % 4]
    code = toc & 0x03
    if code == 0:
        count = 1
    elif code in (1, 2):
        count = 2
    elif len(payload) < 2:
        raise CodecError("Opus code 3 packet without a frame count octet (RFC 6716 §3.4 [R6])")
    else:
        count = payload[1] & 0x3F
    total = frame * count
    if count == 0 or total > _RTP_CLOCK * _MAX_PACKET_MS // 1000:
        raise CodecError(f"invalid Opus frame count {count} (RFC 6716 §3.2.5)")
    return total


class Opus:
    """Opus, mono, 20 ms frames by default; one encoder state and one decoder state."""

    name = "opus"
    clock_rate = _RTP_CLOCK
    sample_rate = 48000
    channels = 2  # as written in the rtpmap (RFC 7587 §7), not what we send
    payload_type: int | None = None  # dynamic (RFC 7587 §7)

    def __init__(self, complexity: int = DEFAULT_COMPLEXITY) -> None:
        """``complexity`` 0-10 trades encoder CPU for quality (bench/transcode.py has figures)."""
        if _opuslib is None:
            raise CodecError("Opus needs opuslib and libopus")
        if not 0 <= complexity <= 10:
            raise ValueError(f"Opus complexity is 0-10, not {complexity}")
        self.complexity = complexity
        self._encoder = _opuslib.Encoder(_API_RATE, 1, _opuslib.APPLICATION_VOIP)
        self._encoder.complexity = complexity
        self._decoder = _opuslib.Decoder(_API_RATE, 1)

    def encode(self, pcm: Pcm) -> bytes:
        samples = as_pcm(pcm)
        if len(samples) not in _FRAME_SAMPLES:
            raise CodecError(
                f"Opus frames last 2.5, 5, 10, 20, 40 or 60 ms, not {len(samples) / 8:g} ms"
            )
        try:
            encoded = self._encoder.encode(samples.tobytes(), len(samples))
        except _opuslib.OpusError as exc:
            raise CodecError(f"Opus encoder failed: {exc}") from exc
        return bytes(encoded)

    def decode(self, payload: bytes) -> Pcm:
        packet_samples(payload)  # validates the TOC before libopus sees the packet
        max_samples = _API_RATE * _MAX_PACKET_MS // 1000
        try:
            decoded = self._decoder.decode(bytes(payload), max_samples)
        except _opuslib.OpusError as exc:
            raise CodecError(f"invalid Opus packet: {exc}") from exc
        return np.frombuffer(decoded, dtype=np.int16).copy()

    def timestamp_increment(self, payload: bytes) -> int:
        return packet_samples(payload)

    def fresh(self) -> Self:
        return type(self)(self.complexity)

    def reset(self) -> None:
        self._encoder.reset_state()
        self._decoder.reset_state()

    def __repr__(self) -> str:
        return f"Opus(complexity={self.complexity})"
