"""Media: RTP port pool and the anchored pass-through relay of the B2BUA."""

from centralita.media.endpoint import RelayEndpoint
from centralita.media.errors import InvalidMediaAddress, MediaError, NoMediaPorts
from centralita.media.ports import PortPair, RtpPortPool, parse_port_range
from centralita.media.relay import MediaRelay
from centralita.media.session import RelaySession
from centralita.media.stats import StreamStats

__all__ = [
    "InvalidMediaAddress",
    "MediaError",
    "MediaRelay",
    "NoMediaPorts",
    "PortPair",
    "RelayEndpoint",
    "RelaySession",
    "RtpPortPool",
    "StreamStats",
    "parse_port_range",
]
