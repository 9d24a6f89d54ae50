"""A 400 for a request too broken to parse, when enough of it can still be read.

RFC 3261 §8.2 and RFC 4475 §3.1.2 expect a server to answer a malformed request with 400
when it can. A response needs the request's Via, From, To, Call-ID and CSeq (§8.2.6); this
module copies those header lines as they came, without trusting anything else in the message.
A response, an ACK, or a message whose needed headers cannot be found gets nothing.
"""

from __future__ import annotations

from centralita.sip.errors import SipParseError

_NEEDED = {
    b"via": b"Via",
    b"v": b"Via",
    b"from": b"From",
    b"f": b"From",
    b"to": b"To",
    b"t": b"To",
    b"call-id": b"Call-ID",
    b"i": b"Call-ID",
    b"cseq": b"CSeq",
}
_MAX_SCAN = 16384


def stateless_rejection(data: bytes, error: SipParseError) -> bytes | None:
    head = data[:_MAX_SCAN].split(b"\r\n\r\n", 1)[0]
    lines = head.split(b"\r\n")
    start = lines[0]
    if not start or start.startswith(b"SIP/") or start.split(b" ", 1)[0] == b"ACK":
        return None
    found: dict[bytes, list[bytes]] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(b":")
        canonical = _NEEDED.get(name.strip().lower())
        if sep and canonical is not None and _printable(value):
            found.setdefault(canonical, []).append(value.strip())
    if set(found) != set(_NEEDED.values()) or any(len(found[h]) != 1 for h in found if h != b"Via"):
        return None
    reason = error.detail.encode("ascii", "replace")[:120].replace(b"\r", b" ").replace(b"\n", b" ")
    out = [b"SIP/2.0 400 Bad Request"]
    out += [b"Via: " + via for via in found[b"Via"]]
    out += [
        canonical + b": " + found[canonical][0]
        for canonical in (b"From", b"To", b"Call-ID", b"CSeq")
    ]
    out += [b'Warning: 399 centralita "' + reason.replace(b'"', b"'") + b'"', b"Content-Length: 0"]
    return b"\r\n".join(out) + b"\r\n\r\n"


def _printable(value: bytes) -> bool:
    return all(32 <= b < 127 or b == 9 for b in value.strip())
