"""G.722 (ITU-T, 64 kbit/s sub-band ADPCM, 16 kHz audio) on the ``G722`` C extension.

The ``G722`` package (PyPI ``g722``, public domain, Sippy Software's libg722: the Bellcore/CMU
code as kept by Steve Underwood in spandsp) is a bit-exact G.722 in C with its own state per
encoder and decoder object.

Conversion at the 8 kHz engine boundary: G.722 first splits 16 kHz audio with a 24-tap QMF into
a 0-4 kHz lower sub-band and a 4-8 kHz upper sub-band, each at 8 kHz, and codes the lower one
with 6 bits and the upper one with 2 bits a sample. Narrowband audio has nothing in the upper
band, so libg722's 8 kHz mode takes our 8 kHz frames *as* the lower sub-band (upper band coded
as silence) and, decoding, returns the lower sub-band. The QMF of the far end's codec thus does
the 8k<->16k conversion with G.722's own filters: flat to 3.4 kHz and several times cheaper
than resampling around a 16 kHz codec. The bit stream is ordinary 64 kbit/s G.722 that any
wideband peer decodes (the tests decode it with a full 16 kHz decoder).

RTP: RFC 3551 §4.5.2: static payload type 9, RTP clock 8000 Hz although the audio is sampled
at 16 kHz (an error in RFC 1890 kept for compatibility). One octet codes two 16 kHz samples,
i.e. one 8000 Hz clock tick: 160 octets per 20 ms.
"""

from __future__ import annotations

from typing import Self

import numpy as np

from centralita.media.audio import Pcm
from centralita.media.codecs_base import CodecError, as_pcm

try:
    from G722 import G722 as _LibG722  # type: ignore[import-not-found,unused-ignore]
except ImportError:  # pragma: no cover - exercised only where the wheel is missing
    _LibG722 = None

G722_BIT_RATE = 64000  # the only mode RFC 3551 §4.5.2 defines for payload type 9
_ENGINE_RATE = 8000


def g722_available() -> bool:
    return _LibG722 is not None


class G722:
    """G.722 with one encoder state (what we send) and one decoder state (what we receive)."""

    name = "G722"
    clock_rate = 8000  # RFC 3551 §4.5.2
    sample_rate = 16000
    channels = 1
    payload_type: int | None = 9

    def __init__(self) -> None:
        if _LibG722 is None:
            raise CodecError("G.722 needs the 'g722' package")
        self._encoder = _LibG722(_ENGINE_RATE, G722_BIT_RATE, use_numpy=False)
        self._decoder = _LibG722(_ENGINE_RATE, G722_BIT_RATE, use_numpy=False)

    def encode(self, pcm: Pcm) -> bytes:
        encoded = self._encoder.encode(as_pcm(pcm))
        assert isinstance(encoded, bytes)
        return encoded

    def decode(self, payload: bytes) -> Pcm:
        decoded = self._decoder.decode(bytes(payload))
        return np.frombuffer(decoded, dtype=np.int16).copy()

    def timestamp_increment(self, payload: bytes) -> int:
        # 64 kbit/s at an 8000 Hz clock: one octet per tick (RFC 3551 §4.5.2).
        return len(payload)

    def fresh(self) -> Self:
        return type(self)()

    def reset(self) -> None:
        assert _LibG722 is not None
        self._encoder = _LibG722(_ENGINE_RATE, G722_BIT_RATE, use_numpy=False)
        self._decoder = _LibG722(_ENGINE_RATE, G722_BIT_RATE, use_numpy=False)

    def __repr__(self) -> str:
        return "G722()"
