"""STUN Binding on the SIP UDP port, the keep-alive of SIP Outbound over UDP (sans-I/O).

RFC 5626 §4.4.2 and §8: a UA keeps its UDP flow alive with STUN Binding requests sent to the
SIP port, and the server answers them from that port, so SIP and STUN share the socket. The
two are told apart by the first byte (STUN starts with two zero bits, RFC 5389 §6; SIP with a
letter) and the magic cookie. Only what keep-alives need is implemented: a Binding request
without comprehension-required attributes gets a success response carrying
XOR-MAPPED-ADDRESS (RFC 5389 §7.3.1, §15.2); anything else is not answered.
"""

from __future__ import annotations

import ipaddress
import struct

MAGIC_COOKIE = 0x2112A442
HEADER_SIZE = 20
BINDING_REQUEST = 0x0001
BINDING_SUCCESS = 0x0101
XOR_MAPPED_ADDRESS = 0x0020
_HEADER = struct.Struct("!HHI12s")
_ATTRIBUTE = struct.Struct("!HH")


def is_stun(data: bytes) -> bool:
    """Whether a datagram is a STUN message rather than SIP (RFC 5389 §6, §8)."""
    if len(data) < HEADER_SIZE or data[0] & 0xC0:
        return False
    length: int
    cookie: int
    _, length, cookie, _ = _HEADER.unpack_from(data)
    return cookie == MAGIC_COOKIE and length % 4 == 0 and HEADER_SIZE + length == len(data)


def binding_response(request: bytes, host: str, port: int) -> bytes | None:
    """The success response to a Binding request seen from ``host``:``port``, or None when
    the message is not a request we answer. ``request`` must satisfy ``is_stun``."""
    kind, _, _, transaction_id = _HEADER.unpack_from(request)
    if kind != BINDING_REQUEST or _has_required_attributes(request[HEADER_SIZE:]):
        return None
    attribute = _xor_mapped_address(host, port, transaction_id)
    header = _HEADER.pack(BINDING_SUCCESS, len(attribute), MAGIC_COOKIE, transaction_id)
    return header + attribute


def _has_required_attributes(body: bytes) -> bool:
    # RFC 5389 §15: types 0x0000-0x7FFF are comprehension-required; a request carrying any
    # (USERNAME, MESSAGE-INTEGRITY: ICE connectivity checks) is not a plain keep-alive.
    offset = 0
    while offset + _ATTRIBUTE.size <= len(body):
        kind, length = _ATTRIBUTE.unpack_from(body, offset)
        if kind < 0x8000:
            return True
        offset += _ATTRIBUTE.size + (length + 3) // 4 * 4
    return False


def _xor_mapped_address(host: str, port: int, transaction_id: bytes) -> bytes:
    address = ipaddress.ip_address(host.partition("%")[0])
    family = 0x01 if address.version == 4 else 0x02
    key = struct.pack("!I", MAGIC_COOKIE) + transaction_id
    packed = bytes(a ^ k for a, k in zip(address.packed, key, strict=False))
    value = struct.pack("!BBH", 0, family, port ^ (MAGIC_COOKIE >> 16)) + packed
    return _ATTRIBUTE.pack(XOR_MAPPED_ADDRESS, len(value)) + value
