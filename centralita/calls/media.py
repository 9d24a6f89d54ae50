"""Media anchoring for a B2BUA call: both legs' SDP are rewritten so RTP flows through us.

The call never touches sockets: it asks a :class:`MediaFactory` for a :class:`MediaSession`
(the relay in ``centralita.media`` implements both) and rewrites SDP bodies through a
:class:`MediaAnchor`. Each side of the call sees one stable SDP origin of ours whose version
increases with every change we send on that side (RFC 3264 §8).
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import Protocol

from centralita.sip import sdp


class Side(enum.Enum):
    A = "a"  # faces the caller
    B = "b"  # faces the callee

    @property
    def other(self) -> Side:
        return Side.B if self is Side.A else Side.A


class MediaSession(Protocol):
    def local_port(self, side: Side) -> int: ...

    def set_remote(
        self, side: Side, rtp: tuple[str, int], rtcp: tuple[str, int] | None
    ) -> None: ...

    def set_hold(self, on_hold: bool) -> None: ...

    def close(self) -> None: ...


class MediaFactory(Protocol):
    media_ip: str

    def create(self, on_inactive: Callable[[], None]) -> MediaSession: ...


class MediaAnchor:
    """Rewrites each SDP crossing the call so that the far side sends RTP to us."""

    def __init__(self, session: MediaSession, media_ip: str) -> None:
        self.session = session
        self.media_ip = media_ip
        self._origins = {side: sdp.Origin.ours(media_ip) for side in Side}

    def relay(self, body: bytes, source: Side) -> bytes:
        """Learn where ``source`` wants RTP from its SDP; return the SDP for the other side."""
        description = sdp.SessionDescription.parse(body)
        self._learn(description, source)
        target = source.other
        origin = self._origins[target].next_version()
        self._origins[target] = origin
        ports = [self.session.local_port(target)] * len(description.media)
        rewritten = sdp.anchor(description, self.media_ip, ports, origin)
        return bytes(rewritten)

    def _learn(self, description: sdp.SessionDescription, source: Side) -> None:
        stream = description.first_audio()
        if stream is None:
            raise sdp.SdpError("no audio stream in the session description")
        if stream.port != 0 and not stream.is_hold_address:
            self.session.set_remote(source, stream.rtp_address, stream.rtcp_address)
        self.session.set_hold(stream.is_hold)

    def close(self) -> None:
        self.session.close()
