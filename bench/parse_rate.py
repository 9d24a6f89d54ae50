"""Messages per second through the SIP parser and serialiser.

Run: .venv/bin/python bench/parse_rate.py [seconds-per-case]
Measures a typical INVITE with SDP and a REGISTER: parse only, parse plus reading the fields
a proxy needs (Via, From/To tags, Call-ID, CSeq), serialising an unmodified message and
serialising after a change (a new top Via, Max-Forwards decremented).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

from centralita.sip.message import Message, parse_message

SDP = (
    b"v=0\r\n"
    b"o=alice 2890844526 2890844526 IN IP4 pc33.atlanta.example.com\r\n"
    b"s=-\r\n"
    b"c=IN IP4 192.0.2.101\r\n"
    b"t=0 0\r\n"
    b"m=audio 49172 RTP/AVP 0 8 101\r\n"
    b"a=rtpmap:0 PCMU/8000\r\n"
    b"a=rtpmap:8 PCMA/8000\r\n"
    b"a=rtpmap:101 telephone-event/8000\r\n"
    b"a=sendrecv\r\n"
)
INVITE = (
    b"INVITE sip:bob@biloxi.example.com SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP pc33.atlanta.example.com:5060;branch=z9hG4bK776asdhds;rport\r\n"
    b"Max-Forwards: 70\r\n"
    b"To: Bob <sip:bob@biloxi.example.com>\r\n"
    b"From: Alice <sip:alice@atlanta.example.com>;tag=1928301774\r\n"
    b"Call-ID: a84b4c76e66710@pc33.atlanta.example.com\r\n"
    b"CSeq: 314159 INVITE\r\n"
    b"Contact: <sip:alice@pc33.atlanta.example.com;transport=udp>\r\n"
    b"Allow: INVITE, ACK, CANCEL, OPTIONS, BYE, REFER, NOTIFY, INFO, UPDATE\r\n"
    b"Supported: replaces, timer\r\n"
    b"User-Agent: Centralita-bench/1.0\r\n"
    b"Content-Type: application/sdp\r\n"
    b"Content-Length: %d\r\n"
    b"\r\n" % len(SDP)
) + SDP

REGISTER = (
    b"REGISTER sip:acme.pbx.example SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bKnashds7;rport\r\n"
    b"Max-Forwards: 70\r\n"
    b"To: <sip:101@acme.pbx.example>\r\n"
    b"From: <sip:101@acme.pbx.example>;tag=456248\r\n"
    b"Call-ID: 843817637684230@998sdasdh09\r\n"
    b"CSeq: 1826 REGISTER\r\n"
    b"Contact: <sip:101@192.0.2.10:5062;transport=udp>;expires=3600\r\n"
    b'Authorization: Digest username="101", realm="acme.pbx.example", nonce="dcd98b7102dd2f0e'
    b'8b11d0f600bfb0c093", uri="sip:acme.pbx.example", response="6629fae49393a05397450978507c'
    b'4ef1", algorithm=MD5\r\n'
    b"Expires: 3600\r\n"
    b"Content-Length: 0\r\n"
    b"\r\n"
)


def parse_only(data: bytes) -> object:
    return parse_message(data)


def parse_and_read(data: bytes) -> object:
    msg = parse_message(data)
    return (msg.top_via.branch, msg.from_.tag, msg.to.tag, msg.call_id, msg.cseq)


def serialise_unmodified(msg: Message) -> object:
    return bytes(msg)


def serialise_modified(data: bytes) -> object:
    msg = parse_message(data)
    msg.headers.add("Via", "SIP/2.0/UDP 198.51.100.1:5060;branch=z9hG4bKproxy1", first=True)
    msg.headers.set("Max-Forwards", str((msg.max_forwards or 70) - 1))
    return bytes(msg)


def rate(func: Callable[[object], object], arg: object, seconds: float) -> float:
    count = 0
    batch = 1000
    started = time.perf_counter()
    deadline = started + seconds
    while True:
        for _ in range(batch):
            func(arg)
        count += batch
        now = time.perf_counter()
        if now >= deadline:
            return count / (now - started)


def main() -> None:
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
    for name, data in (("INVITE+SDP", INVITE), ("REGISTER", REGISTER)):
        parsed = parse_message(data)
        assert bytes(parsed) == data
        cases: list[tuple[str, Callable[[object], object], object]] = [
            ("parse", parse_only, data),  # type: ignore[list-item]
            ("parse + read Via/From/To/Call-ID/CSeq", parse_and_read, data),  # type: ignore[list-item]
            ("serialise unmodified", serialise_unmodified, parsed),  # type: ignore[list-item]
            ("parse + modify + serialise", serialise_modified, data),  # type: ignore[list-item]
        ]
        for label, func, arg in cases:
            print(f"{name:10} {label:40} {rate(func, arg, seconds):>12,.0f} msg/s")


if __name__ == "__main__":
    main()
