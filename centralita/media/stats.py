"""Per-direction packet counters of the relay."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class StreamStats:
    """What one endpoint received from its remote on one socket (RTP or RTCP).

    ``packets``/``bytes`` count the packets admitted (valid, from the latched source);
    those minus ``dropped_unrouted`` and ``send_errors`` are what was forwarded to the other
    leg. ``last_packet_at`` is on the relay's clock.
    """

    packets: int = 0
    bytes: int = 0
    last_packet_at: float | None = None
    dropped_invalid: int = 0  # not RTP/RTCP version 2, too short, truncated, receive error
    dropped_source: int = 0  # from a source other than the latched one (RFC 7362 §4.2)
    dropped_unrouted: int = 0  # the other leg has nowhere to send to yet (or is muted)
    send_errors: int = 0  # the other leg's socket refused the packet (buffer full...)

    @property
    def dropped(self) -> int:
        return self.dropped_invalid + self.dropped_source + self.dropped_unrouted + self.send_errors

    @property
    def forwarded(self) -> int:
        return self.packets - self.dropped_unrouted - self.send_errors
