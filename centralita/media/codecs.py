"""Audio codecs of the media engine: the registry and the transcoder between two call legs.

``codec_for("PCMU")`` (or an rtpmap value such as ``"opus/48000/2"``) gives a new codec instance
with its own state; :func:`available_codecs` names what this installation can do (Opus only when
libopus loads). A :class:`Transcoder` converts RTP payloads of one direction of a call from the
codec of one leg to that of the other; legs that agreed on a codec pass payloads through
untouched, and PCMU<->PCMA is one byte-map gather without a linear step in Python.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

import numpy as np
import numpy.typing as npt

from centralita.media.codecs_base import Codec, CodecError
from centralita.media.codecs_g711 import Pcma, Pcmu, alaw_to_ulaw_table, ulaw_to_alaw_table
from centralita.media.codecs_g722 import G722, g722_available
from centralita.media.codecs_opus import Opus, opus_available

__all__ = [
    "G722",
    "Codec",
    "CodecError",
    "Opus",
    "Pcma",
    "Pcmu",
    "Transcoder",
    "available_codecs",
    "codec_for",
]

_FACTORIES: dict[str, Callable[[], Codec]] = {
    "pcmu": Pcmu,
    "pcma": Pcma,
    "g722": G722,
    "opus": Opus,
}


@cache
def available_codecs() -> list[str]:
    """SDP encoding names this installation encodes and decodes, in the contract's order."""
    names = ["PCMU", "PCMA"]
    if g722_available():
        names.append("G722")
    if opus_available():
        names.append("opus")
    return names


def codec_for(sdp_name: str) -> Codec | None:
    """A new codec instance for an rtpmap encoding name, or None when we do not have it.

    Accepts the bare name or the whole rtpmap value ("PCMU/8000", "opus/48000/2"); names are
    case-insensitive (RFC 4855 §3: media subtype names are). A clock rate that is not the
    codec's RTP clock (say "G722/16000") is another format, so it gets None.
    """
    name, _, rest = sdp_name.strip().partition("/")
    key = name.lower()
    available = {codec_name.lower() for codec_name in available_codecs()}
    if key not in available:
        return None
    codec = _FACTORIES[key]()
    rate = rest.partition("/")[0].strip()
    if rate and (not rate.isdigit() or int(rate) != codec.clock_rate):
        return None
    return codec


def _same_format(src: Codec, dst: Codec) -> bool:
    return src.name.lower() == dst.name.lower() and src.clock_rate == dst.clock_rate


def _byte_map(src: Codec, dst: Codec) -> npt.NDArray[np.uint8] | None:
    if isinstance(src, Pcmu) and isinstance(dst, Pcma):
        return ulaw_to_alaw_table()
    if isinstance(src, Pcma) and isinstance(dst, Pcmu):
        return alaw_to_ulaw_table()
    return None


class Transcoder:
    """One direction of a call: payloads of ``src``'s codec in, payloads of ``dst``'s out.

    The transcoder takes fresh instances of both codecs, so its decoder and encoder states
    belong to this direction alone (the other direction gets a ``Transcoder(dst, src)``).
    A payload keeps its duration: 30 ms of PCMU become 30 ms of G.722 (Opus accepts 2.5 to
    60 ms frames, RFC 6716 §2.1.4, so a leg with another packetisation raises CodecError).
    """

    def __init__(self, src: Codec, dst: Codec) -> None:
        self.src = src.fresh()
        self.dst = dst.fresh()
        self.passthrough = _same_format(src, dst)
        self._byte_map = _byte_map(src, dst)

    def convert(self, payload: bytes) -> bytes:
        """Transcode one RTP payload; raises CodecError on a payload ``src`` cannot decode."""
        if self.passthrough:
            return payload
        if self._byte_map is not None:
            return self._byte_map[np.frombuffer(payload, dtype=np.uint8)].tobytes()
        return self.dst.encode(self.src.decode(payload))

    def timestamp_increment(self, payload: bytes) -> int:
        """RTP timestamp advance on the ``dst`` leg for an incoming ``src`` payload."""
        samples = self.src.timestamp_increment(payload)
        return samples * self.dst.clock_rate // self.src.clock_rate

    def __repr__(self) -> str:
        return f"Transcoder({self.src!r}, {self.dst!r})"
