from __future__ import annotations

import ipaddress
import struct

import pytest

from centralita.transport import stun

TRANSACTION_ID = bytes(range(1, 13))


def binding_request(attributes: bytes = b"", kind: int = 0x0001) -> bytes:
    return struct.pack("!HHI12s", kind, len(attributes), stun.MAGIC_COOKIE, TRANSACTION_ID) + (
        attributes
    )


def mapped_address(response: bytes) -> tuple[str, int]:
    """Decode XOR-MAPPED-ADDRESS the way a client does (RFC 5389 §15.2)."""
    kind, length, cookie, transaction_id = struct.unpack_from("!HHI12s", response)
    assert (kind, cookie, transaction_id) == (0x0101, stun.MAGIC_COOKIE, TRANSACTION_ID)
    assert len(response) == 20 + length
    attr_type, attr_len = struct.unpack_from("!HH", response, 20)
    assert attr_type == 0x0020
    _, family, xport = struct.unpack_from("!BBH", response, 24)
    raw = response[28 : 24 + attr_len]
    key = struct.pack("!I", stun.MAGIC_COOKIE) + transaction_id
    packed = bytes(a ^ k for a, k in zip(raw, key, strict=False))
    assert family == (1 if len(packed) == 4 else 2)
    return str(ipaddress.ip_address(packed)), xport ^ 0x2112


def test_detects_stun_and_not_sip() -> None:
    assert stun.is_stun(binding_request())
    assert not stun.is_stun(b"OPTIONS sip:a@b SIP/2.0\r\nContent-Length: 0\r\n\r\n")
    assert not stun.is_stun(binding_request()[:-1])
    assert not stun.is_stun(binding_request().replace(b"\x21\x12\xa4\x42", b"\x00" * 4))


@pytest.mark.parametrize(("host", "port"), [("192.0.2.7", 40000), ("2001:db8::7", 5060)])
def test_binding_response_maps_the_source(host: str, port: int) -> None:
    response = stun.binding_response(binding_request(), host, port)
    assert response is not None
    assert mapped_address(response) == (host, port)


def test_fingerprint_is_optional_and_ignored() -> None:
    fingerprint = struct.pack("!HHI", 0x8028, 4, 0xDEADBEEF)
    response = stun.binding_response(binding_request(fingerprint), "127.0.0.1", 5)
    assert response is not None
    assert mapped_address(response) == ("127.0.0.1", 5)


def test_requests_we_cannot_answer_get_nothing() -> None:
    username = struct.pack("!HH", 0x0006, 4) + b"user"
    assert stun.binding_response(binding_request(username), "127.0.0.1", 5) is None
    indication = binding_request(kind=0x0011)
    assert stun.binding_response(indication, "127.0.0.1", 5) is None
