"""SIP transports: the only code that touches SIP sockets (UDP and TCP over IPv4 and IPv6)."""

from centralita.transport.framing import FramingError, StreamFramer
from centralita.transport.listen import ListenSpec
from centralita.transport.loop import event_loop_factory, install_event_loop_policy
from centralita.transport.options import TransportOptions, TransportStats
from centralita.transport.transports import SipTransports

__all__ = [
    "FramingError",
    "ListenSpec",
    "SipTransports",
    "StreamFramer",
    "TransportOptions",
    "TransportStats",
    "event_loop_factory",
    "install_event_loop_policy",
]
