"""G.711 µ-law (PCMU) and A-law (PCMA), table-driven.

ITU-T G.711 companding maps a linear sample to 8 bits: a sign, a 3-bit segment (chord) and a
4-bit step within it, the step size doubling from one segment to the next. We compute the
whole mapping once, vectorised, as a 65536-entry encode table indexed by the 16-bit sample and
a 256-entry decode table, so encoding a frame is one numpy gather each way.

G.711 is defined on 14-bit (µ-law) and 13-bit (A-law) linear samples; 16-bit samples are
scaled by 4 and 8 respectively, so the decoded values below are the spec's values times 4
(µ-law, full scale 8031 -> 32124) and times 8 (A-law, full scale 4032 -> 32256).

RTP: RFC 3551 §4.5.14: PCMU is static payload type 0, PCMA 8, both 8000 Hz, one byte per
sample (160 bytes per 20 ms frame).
"""

from __future__ import annotations

from typing import Self

import numpy as np
import numpy.typing as npt

from centralita.media.audio import Pcm
from centralita.media.codecs_base import as_pcm

Table = npt.NDArray[np.uint8]

_ULAW_BIAS = 0x84  # 33 in 14-bit units, times 4: makes segment edges powers of two
_ULAW_CLIP = 32635  # 8159 (the largest 14-bit magnitude µ-law codes) times 4, less rounding
_ALAW_SEGMENT_ENDS = np.array([0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF])


def _all_samples() -> npt.NDArray[np.int64]:
    """Every int16 value, in the order of their uint16 bit patterns (the table index)."""
    return np.arange(65536, dtype=np.uint16).view(np.int16).astype(np.int64)


def _ulaw_encode_table() -> Table:
    # G.711 Table 2a: µ-law on the magnitude with the bias added, segment = position of the
    # leading one bit; all code bits are inverted on the line (0xFF is +0, 0x7F is -0).
    samples = _all_samples()
    negative = samples < 0
    magnitude = np.minimum(np.abs(samples), _ULAW_CLIP) + _ULAW_BIAS
    segment = np.floor(np.log2(magnitude)).astype(np.int64) - 7
    mantissa = (magnitude >> (segment + 3)) & 0x0F
    code = (negative.astype(np.int64) << 7) | (segment << 4) | mantissa
    return np.asarray(~code & 0xFF, dtype=np.uint8)


def _ulaw_decode_table() -> npt.NDArray[np.int16]:
    # Each code decodes to the middle of its quantisation interval (G.711 Table 2a, column 7).
    code = ~np.arange(256, dtype=np.int64) & 0xFF
    segment = (code >> 4) & 0x07
    mantissa = code & 0x0F
    magnitude = (((mantissa << 3) + _ULAW_BIAS) << segment) - _ULAW_BIAS
    return np.asarray(np.where(code & 0x80, -magnitude, magnitude), dtype=np.int16)


def _alaw_encode_table() -> Table:
    # G.711 Table 1a: A-law on the 13-bit value; a negative sample's magnitude is taken as
    # -x - 1 so that both signs have 4096 levels. Even bits are inverted on the line (XOR 0x55)
    # and the sign bit is set for positive samples (0xD5 is +0).
    linear = _all_samples() >> 3
    positive = linear >= 0
    magnitude = np.where(positive, linear, -linear - 1)
    segment = np.searchsorted(_ALAW_SEGMENT_ENDS, magnitude).astype(np.int64)
    shift = np.maximum(segment, 1)
    mantissa = (magnitude >> shift) & 0x0F
    code = (positive.astype(np.int64) << 7) | (segment << 4) | mantissa
    return np.asarray(code ^ 0x55, dtype=np.uint8)


def _alaw_decode_table() -> npt.NDArray[np.int16]:
    # Decoded value: the middle of the step, in 16-bit units (G.711 Table 1a, column 7).
    code = np.arange(256, dtype=np.int64) ^ 0x55
    segment = (code >> 4) & 0x07
    mantissa = code & 0x0F
    base = np.where(segment == 0, (mantissa << 4) + 8, (mantissa << 4) + 0x108)
    magnitude = base << np.maximum(segment - 1, 0)
    return np.asarray(np.where(code & 0x80, magnitude, -magnitude), dtype=np.int16)


ULAW_ENCODE: Table = _ulaw_encode_table()
ULAW_DECODE: npt.NDArray[np.int16] = _ulaw_decode_table()
ALAW_ENCODE: Table = _alaw_encode_table()
ALAW_DECODE: npt.NDArray[np.int16] = _alaw_decode_table()
for _table in (ULAW_ENCODE, ULAW_DECODE, ALAW_ENCODE, ALAW_DECODE):
    _table.flags.writeable = False


class _G711:
    """Stateless sample-by-sample companding through a pair of tables."""

    clock_rate = 8000
    sample_rate = 8000
    channels = 1
    name: str
    payload_type: int | None
    _encode_table: Table
    _decode_table: npt.NDArray[np.int16]

    def encode(self, pcm: Pcm) -> bytes:
        return self._encode_table[as_pcm(pcm).view(np.uint16)].tobytes()

    def decode(self, payload: bytes) -> Pcm:
        return self._decode_table[np.frombuffer(payload, dtype=np.uint8)]

    def timestamp_increment(self, payload: bytes) -> int:
        return len(payload)

    def fresh(self) -> Self:
        return type(self)()

    def reset(self) -> None:
        """G.711 keeps no state."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class Pcmu(_G711):
    """G.711 µ-law, RTP payload type 0 (RFC 3551 §4.5.14)."""

    name = "PCMU"
    payload_type = 0
    _encode_table = ULAW_ENCODE
    _decode_table = ULAW_DECODE


class Pcma(_G711):
    """G.711 A-law, RTP payload type 8 (RFC 3551 §4.5.14)."""

    name = "PCMA"
    payload_type = 8
    _encode_table = ALAW_ENCODE
    _decode_table = ALAW_DECODE


def ulaw_to_alaw_table() -> Table:
    """µ-law -> A-law byte map, through the linear value (one gather per frame)."""
    return ALAW_ENCODE[ULAW_DECODE.view(np.uint16)]


def alaw_to_ulaw_table() -> Table:
    """Direct A-law -> µ-law byte map."""
    return ULAW_ENCODE[ALAW_DECODE.view(np.uint16)]
