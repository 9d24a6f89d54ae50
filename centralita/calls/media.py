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

from centralita.sip import offer_answer, sdp

SENDRECV = sdp.Direction.SENDRECV


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
    media_ip: str  # where the relay listens; "0.0.0.0" or "::" when on every interface

    def create(self, on_inactive: Callable[[], None]) -> MediaSession: ...


class MediaAnchor:
    """Rewrites each SDP crossing the call so that the far side sends RTP to us.

    Only the first audio stream is relayed; any other m-line (video, a second audio stream)
    goes out with port 0, which RFC 3264 §5.1 and §6 define as "offered/accepted but not to
    be used", so no phone sends media we would not relay.
    """

    def __init__(self, session: MediaSession, addresses: dict[Side, str]) -> None:
        self.session = session
        self.addresses = addresses  # our media address as each side reaches it
        self._origins = {side: offer_answer.LocalOrigin(addresses[side]) for side in Side}

    def relay(self, body: bytes, source: Side) -> bytes:
        """Learn where ``source`` wants RTP from its SDP; return the SDP for the other side."""
        description = sdp.SessionDescription.parse(body)
        audio = self._learn(description, source)
        target = source.other
        port = self.session.local_port(target)
        ports = [port if index == audio else 0 for index in range(len(description.media))]
        address = self.addresses[target]
        rewritten = offer_answer.anchor(description, address, ports, self._origins[target])
        return bytes(rewritten)

    def _learn(self, description: sdp.SessionDescription, source: Side) -> int:
        for index, media in enumerate(description.media):
            if media.media == "audio" and media.port != 0:
                stream = description.streams()[index]
                if not stream.is_hold_address:
                    self.session.set_remote(source, stream.rtp_address, stream.rtcp_address)
                # Any one-way or inactive stream may legitimately carry no RTP at all (a phone
                # on hold need not send music), so the inactivity watchdog pauses.
                self.session.set_hold(stream.is_hold or stream.direction is not SENDRECV)
                return index
        raise sdp.SdpNotAcceptable("no audio stream in the session description")

    def close(self) -> None:
        self.session.close()
