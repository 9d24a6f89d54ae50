"""Garbage on the SIP port never stops the server (RFC 3261 §16.3, §18.3; RFC 4475 spirit).

After each barrage the server must still answer OPTIONS over UDP and TCP. Requests that are
framed (parseable start line, Via, Content-Length) but malformed get 400 (RFC 3261 §8.2, §21.4.1).
"""

from __future__ import annotations

import random

import pytest

from tests.e2e import sipwire
from tests.e2e.pbx import Pbx

pytestmark = pytest.mark.e2e

_rng = random.Random(4475)


def _assert_still_serving(pbx: Pbx) -> None:
    assert pbx.alive(), pbx.log()[-4000:]
    for transport in ("UDP", "TCP"):
        reply = sipwire.options(pbx.host, pbx.sip_port, timeout=3.0, transport=transport)
        assert reply is not None, f"no answer to OPTIONS over {transport} after garbage"
        assert 200 <= reply.status < 600


def _well_formed(local_port: int, transport: str = "UDP") -> bytes:
    return sipwire.request("OPTIONS", "sip:acme.test", local_port=local_port, transport=transport)


def _garbage() -> list[bytes]:
    register = sipwire.request("REGISTER", "sip:acme.test", local_port=5060)
    return (
        [bytes(_rng.getrandbits(8) for _ in range(n)) for n in (1, 17, 512, 1400, 8000)]
        + [
            b"\x00" * 1000,
            b"\r\n\r\n",  # keep-alives (RFC 5626 §4.4.1) must be harmless too
            register[: len(register) // 2],
            register[:25],
            b"INVITE sip:102@acme.test SIP/2.0\r\nVia: SIP/2.0/UDP",
            b"SIP/2.0 200 OK\r\n\r\n",  # a stray response with no transaction
            b"OPTIONS sip:acme.test SIP/2.0\r\n" + b"X-Filler: " + b"a" * 60000 + b"\r\n\r\n",
            b"OPTIONS sip:acme.test SIP/2.0\r\n" + b"X-Many: b\r\n" * 3000 + b"\r\n",
        ]
    )


def test_udp_garbage_does_not_stop_the_server(pbx: Pbx) -> None:
    for data in _garbage():
        sipwire.send_udp(pbx.host, pbx.sip_port, data[:65000])
    _assert_still_serving(pbx)


def test_tcp_garbage_does_not_stop_the_server(pbx: Pbx) -> None:
    for data in _garbage():
        sipwire.send_tcp(pbx.host, pbx.sip_port, data)
    # A Content-Length far beyond what follows, then the connection just sits there.
    sipwire.send_tcp(
        pbx.host, pbx.sip_port, _well_formed(9, "TCP").replace(b"Length: 0", b"Length: 99999")
    )
    # An endless header line in one connection.
    sipwire.send_tcp(pbx.host, pbx.sip_port, b"OPTIONS sip:a SIP/2.0\r\nX: " + b"z" * 500_000)
    _assert_still_serving(pbx)


@pytest.mark.parametrize(
    ("broken", "replacement"),
    [
        (b"CSeq: 1 OPTIONS", b"CSeq: one OPTIONS"),
        (b"CSeq: 1 OPTIONS", b"CSeq: 1 INVITE"),  # CSeq method differs from the request's
        (b"Max-Forwards: 70", b"Max-Forwards: many"),
        (b"From: ", b"X-Not-From: "),  # a mandatory header missing (RFC 3261 §8.1.1)
    ],
)
@pytest.mark.parametrize("transport", ["UDP", "TCP"])
def test_malformed_but_framed_request_gets_400(
    pbx: Pbx, transport: str, broken: bytes, replacement: bytes
) -> None:
    if transport == "UDP":
        with sipwire.UdpClient(pbx.host, pbx.sip_port) as client:
            data = _well_formed(client.local_port).replace(broken, replacement)
            reply = client.exchange(data, timeout=3.0)
    else:
        data = _well_formed(9, "TCP").replace(broken, replacement)
        reply = sipwire.exchange_tcp(pbx.host, pbx.sip_port, data, timeout=3.0)
    assert reply is not None, f"no answer to {data[:300]!r}"
    assert reply.status == 400
    _assert_still_serving(pbx)
