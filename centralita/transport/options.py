"""Limits and counters of the SIP transports."""

from __future__ import annotations

from dataclasses import dataclass

from centralita.transport.framing import DEFAULT_MAX_BODY_SIZE, DEFAULT_MAX_HEADER_SIZE


@dataclass(frozen=True, slots=True)
class TransportOptions:
    """Tunables; the defaults suit a PBX serving phones directly."""

    # Largest SIP datagram accepted; 65507 is the most an IPv4 UDP datagram can carry.
    max_datagram_size: int = 65507
    max_header_size: int = DEFAULT_MAX_HEADER_SIZE
    max_body_size: int = DEFAULT_MAX_BODY_SIZE
    # A stream connection with no traffic either way for this long is closed. Phones behind
    # NAT keep theirs alive with CRLF pings every 95-120 s (RFC 5626 §4.4.1).
    idle_timeout: float = 600.0
    connect_timeout: float = 10.0
    max_connections: int = 4096
    max_connections_per_ip: int = 64
    # Reading from a connection pauses while its write buffer is above the high mark, and the
    # connection is dropped if the buffer ever exceeds max_write_buffer.
    write_buffer_high: int = 256 * 1024
    write_buffer_low: int = 64 * 1024
    max_write_buffer: int = 4 * 1024 * 1024


@dataclass(slots=True)
class TransportStats:
    """Counters of events that are not worth a log line each."""

    datagrams_received: int = 0
    datagrams_dropped_empty: int = 0
    datagrams_dropped_oversize: int = 0
    udp_keepalives: int = 0
    stun_requests: int = 0
    stream_messages_received: int = 0
    stream_pings: int = 0
    framing_errors: int = 0
    connections_accepted: int = 0
    connections_rejected: int = 0
    connections_idle_closed: int = 0
    connect_failures: int = 0
    reads_paused: int = 0
    handler_errors: int = 0
