"""What every audio codec of the media engine looks like to the rest of the engine.

A codec turns 8 kHz engine frames (:data:`centralita.media.audio.Pcm`) into RTP payloads and
back; a wideband or fullband codec converts to its own rate internally. An instance holds one
encoder state and one decoder state: the encoder serves the direction we send, the decoder the
direction we receive, so one instance per call leg keeps each direction's state apart. A
stateless codec (G.711) simply has nothing to keep.
"""

from __future__ import annotations

from typing import Protocol, Self, runtime_checkable

import numpy as np

from centralita.media.audio import Pcm


class CodecError(ValueError):
    """A payload cannot be decoded, or a frame cannot be encoded, by this codec."""


@runtime_checkable
class Codec(Protocol):
    """An RTP audio codec seen through 8 kHz engine frames."""

    @property
    def name(self) -> str:
        """The rtpmap encoding name as we write it in SDP: "PCMU", "PCMA", "G722", "opus"."""
        ...

    @property
    def clock_rate(self) -> int:
        """RTP timestamp clock: 8000 for G.722 (RFC 3551 §4.5.2), 48000 for Opus (RFC 7587)."""
        ...

    @property
    def sample_rate(self) -> int:
        """The audio rate the codec itself works at (8000, 16000, 48000)."""
        ...

    @property
    def channels(self) -> int:
        """The rtpmap channel count ("opus/48000/2", RFC 7587 §7)."""
        ...

    @property
    def payload_type(self) -> int | None:
        """Static payload type (RFC 3551 §6, Table 4), None for a dynamic one."""
        ...

    def encode(self, pcm: Pcm) -> bytes:
        """One frame of 8 kHz samples (any duration the codec can packetise) to a payload."""
        ...

    def decode(self, payload: bytes) -> Pcm:
        """A payload to 8 kHz samples (as many as the payload carries)."""
        ...

    def timestamp_increment(self, payload: bytes) -> int:
        """How far the RTP timestamp advances for this payload, in ``clock_rate`` units."""
        ...

    def fresh(self) -> Self:
        """A new instance of the same codec with fresh encoder and decoder state."""
        ...

    def reset(self) -> None:
        """Forget the encoder and decoder state (e.g. after a stream restarts)."""
        ...


def as_pcm(pcm: Pcm) -> Pcm:
    """The frame as a contiguous 1-D int16 array (the C codecs read the raw buffer).

    Anything but int16 is refused rather than cast: a float signal in [-1, 1] would silently
    become zeros.
    """
    if pcm.dtype != np.int16 or pcm.ndim != 1:
        raise CodecError(f"expected mono int16 PCM, got {pcm.dtype} of shape {pcm.shape}")
    return np.ascontiguousarray(pcm)
