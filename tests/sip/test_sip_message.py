"""Parsing, serialising and answering SIP messages (RFC 3261 §7, §8.2, §18.3)."""

from __future__ import annotations

import re

import pytest

from centralita.sip.errors import SipError, SipParseError
from centralita.sip.headers import Headers
from centralita.sip.message import (
    MAX_MESSAGE_SIZE,
    MessageTooLargeError,
    Request,
    Response,
    Uri,
    make_response,
    new_branch,
    new_call_id,
    new_tag,
    parse_message,
    validate_request,
)

INVITE = (
    b"INVITE sip:bob@biloxi.example.com SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds\r\n"
    b"Via: SIP/2.0/UDP [2001:db8::9]:5070;branch=z9hG4bKnashds8;received=192.0.2.1\r\n"
    b"Max-Forwards: 70\r\n"
    b'To: "Bob" <sip:bob@biloxi.example.com>\r\n'
    b"From: Alice <sip:alice@atlanta.example.com>;tag=1928301774\r\n"
    b"Call-ID: a84b4c76e66710@pc33.atlanta.example.com\r\n"
    b"CSeq: 314159 INVITE\r\n"
    b'Contact: <sip:alice@pc33.atlanta.example.com>, "A, B" <sip:ab@h.example.com>;q=0.1\r\n'
    b"Timestamp: 54\r\n"
    b'WWW-Authenticate: Digest realm="a,b", nonce="x"\r\n'
    b"Content-Type: Application/SDP; charset=utf-8\r\n"
    b"Content-Length: 4\r\n"
    b"\r\n"
    b"v=0\n"
)


def parse_request(data: bytes = INVITE) -> Request:
    msg = parse_message(data)
    assert isinstance(msg, Request)
    return msg


def test_request_fields() -> None:
    msg = parse_request()
    assert msg.method == "INVITE" and msg.version == "SIP/2.0"
    assert msg.uri == Uri.parse("sip:bob@biloxi.example.com")
    assert msg.call_id == "a84b4c76e66710@pc33.atlanta.example.com"
    assert msg.cseq == (314159, "INVITE")
    assert msg.max_forwards == 70
    assert msg.from_.display_name == "Alice" and msg.from_.tag == "1928301774"
    assert msg.to.display_name == "Bob" and msg.to.tag is None
    assert [v.host for v in msg.vias] == ["pc33.atlanta.example.com", "2001:db8::9"]
    assert msg.top_via.branch == "z9hG4bK776asdhds"
    assert [c.display_name for c in msg.contacts] == [None, "A, B"]
    assert msg.content_type == "application/sdp"
    assert msg.body == b"v=0\n" and msg.declared_length == 4
    assert msg.expires is None and not msg.contact_star


def test_list_headers_split_but_auth_headers_not() -> None:
    msg = parse_request()
    assert len(msg.headers.get_all("Contact")) == 2
    assert msg.headers.get_all("WWW-Authenticate") == ['Digest realm="a,b", nonce="x"']


def test_compact_forms_and_case_insensitive_names() -> None:
    data = INVITE.replace(b"Call-ID:", b"i:").replace(b"Contact:", b"m:").replace(b"To:", b"tO:")
    msg = parse_request(data)
    assert msg.headers.get("call-id") == msg.headers.get("I") == msg.call_id
    assert "CONTACT" in msg.headers and "m" in msg.headers
    assert [name for name, _ in msg.headers.items()][3:8] == [
        "To", "From", "Call-ID", "CSeq", "Contact",
    ]  # fmt: skip
    assert bytes(msg) == data


def test_unmodified_message_round_trips_byte_exactly() -> None:
    msg = parse_request()
    assert bytes(msg) == INVITE
    assert parse_message(bytes(msg)) == msg


def test_modified_message_keeps_untouched_lines_and_fixes_content_length() -> None:
    data = INVITE.replace(b"Max-Forwards: 70", b"Max-Forwards:   70")
    msg = parse_request(data)
    msg.headers.set("max-forwards", "69")
    msg.headers.add("Via", "SIP/2.0/UDP proxy.example.com;branch=z9hG4bKp1", first=True)
    msg.body = b"v=0\r\no=x\r\n"
    out = bytes(msg)
    lines = out.split(b"\r\n")
    assert lines[1] == b"Via: SIP/2.0/UDP proxy.example.com;branch=z9hG4bKp1"
    assert b"Max-Forwards: 69" in lines
    assert b'To: "Bob" <sip:bob@biloxi.example.com>' in lines
    assert b"Content-Length: 10" in lines and out.endswith(b"\r\n\r\nv=0\r\no=x\r\n")
    again = parse_request(out)
    assert again.max_forwards == 69 and len(again.vias) == 3 and again.body == msg.body


def test_changed_request_uri_rewrites_the_start_line_only() -> None:
    msg = parse_request()
    msg.uri = Uri.parse("sip:bob@192.0.2.4:5062")
    out = bytes(msg)
    assert out.startswith(b"INVITE sip:bob@192.0.2.4:5062 SIP/2.0\r\nVia: ")
    assert out[out.index(b"\r\n") :] == INVITE[INVITE.index(b"\r\n") :]


def test_new_message_serialises_canonically() -> None:
    headers = Headers([("v", "SIP/2.0/TCP h.example.com;branch=z9hG4bK1"), ("CSeq", "1 BYE")])
    req = Request("BYE", Uri.parse("sip:x@h.example.com"), headers, b"hi")
    assert bytes(req) == (
        b"BYE sip:x@h.example.com SIP/2.0\r\n"
        b"Via: SIP/2.0/TCP h.example.com;branch=z9hG4bK1\r\n"
        b"CSeq: 1 BYE\r\n"
        b"Content-Length: 2\r\n\r\nhi"
    )
    resp = Response(486, "Busy Here", Headers([("Content-Length", "99")]))
    assert bytes(resp) == b"SIP/2.0 486 Busy Here\r\nContent-Length: 0\r\n\r\n"


def test_line_folding_and_leading_crlfs() -> None:
    data = INVITE.replace(b"CSeq: 314159 INVITE", b"CSeq: 314159\r\n\t INVITE")
    msg = parse_request(b"\r\n\r\n" + data)
    assert msg.headers.get("CSeq") == "314159 INVITE" and msg.cseq.number == 314159
    assert bytes(msg) == data


def test_datagram_without_content_length_takes_the_rest() -> None:
    data = INVITE.replace(b"Content-Length: 4\r\n", b"") + b"more"
    msg = parse_request(data)
    assert msg.body == b"v=0\nmore" and msg.declared_length is None
    assert bytes(msg) == data


def test_octets_beyond_content_length_are_dropped() -> None:
    msg = parse_request(INVITE + b"garbage")
    assert msg.body == b"v=0\n" and bytes(msg) == INVITE


def test_short_body_is_kept_for_validate_request() -> None:
    msg = parse_request(INVITE.replace(b"Content-Length: 4", b"Content-Length: 40"))
    assert msg.body == b"v=0\n" and msg.declared_length == 40
    with pytest.raises(SipParseError, match="Content-Length larger"):
        validate_request(msg)


def test_response_fields() -> None:
    data = (
        b"SIP/2.0 180 Ringing\r\nVia: SIP/2.0/UDP a.example.com;branch=z9hG4bK1\r\n"
        b"To: <sip:b@b.example.com>;tag=2\r\nFrom: <sip:a@a.example.com>;tag=1\r\n"
        b"Call-ID: c\r\nCSeq: 1 INVITE\r\nContact: *\r\nExpires: 99999999999\r\n"
        b"Content-Length: 0\r\n\r\n"
    )
    msg = parse_message(data)
    assert isinstance(msg, Response)
    assert (msg.status, msg.reason, msg.to.tag) == (180, "Ringing", "2")
    assert msg.contact_star and msg.contacts == []
    assert msg.expires == 0xFFFFFFFF
    assert bytes(msg) == data
    msg.reason = "Ringing Loudly"
    assert bytes(msg).startswith(b"SIP/2.0 180 Ringing Loudly\r\nVia:")


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "no empty line"),
        (b"INVITE sip:a@b SIP/2.0\r\nVia: x", "no empty line"),
        (b"INVITE sip:a@b SIP/2.0\r\n\r\n", None),
        (b"INVITE sip:a@b\r\n\r\n", "Request-Line"),
        (b"INVITE sip:a@b SIP/2.0 \r\n\r\n", "Request-Line"),
        (b"INV\xc3\xa9TE sip:a@b SIP/2.0\r\n\r\n", "method"),
        (b"INVITE sip:a@b HTTP/1.1\r\n\r\n", "version"),
        (b"SIP/2.0 99 Odd\r\n\r\n", "status"),
        (b"SIP/2.0 1000 Odd\r\n\r\n", "status"),
        (b"SIP/2.0 200 OK\r\n continued: x\r\n\r\n", "continuation"),
        (b"SIP/2.0 200 OK\r\nNo colon here\r\n\r\n", "malformed header"),
        (b"SIP/2.0 200 OK\r\nBad Name: x\r\n\r\n", "malformed header"),
        (b"SIP/2.0 200 OK\r\nX: a\nY: b\r\n\r\n", "bare CR or LF"),
        (b"SIP/2.0 200 OK\r\nl: five\r\n\r\n", "Content-Length"),
        (b"SIP/2.0 200 OK\r\nl: 1\r\nContent-Length: 2\r\n\r\nab", "conflicting"),
    ],
)
def test_parse_errors_name_the_problem(data: bytes, reason: str | None) -> None:
    if reason is None:
        assert parse_message(data).headers.items() == []  # an empty header section parses
        return
    with pytest.raises(SipParseError, match=reason) as info:
        parse_message(data)
    assert info.value.status_code == 400


def test_size_limits_are_513() -> None:
    with pytest.raises(MessageTooLargeError) as info:
        parse_message(INVITE + b"x" * MAX_MESSAGE_SIZE)
    assert info.value.status_code == 513 and isinstance(info.value, SipParseError)
    many = b"".join(b"X-H: %d\r\n" % i for i in range(300))
    with pytest.raises(MessageTooLargeError, match="too many"):
        parse_message(b"SIP/2.0 200 OK\r\n" + many + b"\r\n")
    with pytest.raises(MessageTooLargeError, match="too long"):
        parse_message(b"SIP/2.0 200 OK\r\nX-H: " + b"a" * 9000 + b"\r\n\r\n")


def test_headers_api() -> None:
    headers = Headers([("Route", "<sip:a>"), ("X-Thing", "1"), ("route", "<sip:b>, <sip:c>")])
    assert headers.get("ROUTE") == "<sip:a>"
    assert headers.get_all("Route") == ["<sip:a>", "<sip:b>", "<sip:c>"]
    assert headers.get_all("x-thing") == ["1"] and headers.get("Nope") is None
    headers.add("Route", "<sip:z>", first=True)
    assert headers.get_all("Route")[0] == "<sip:z>"
    headers.set("route", "<sip:only>")
    assert headers.items() == [("Route", "<sip:only>"), ("X-Thing", "1")]
    headers.remove("ROUTE")
    assert "Route" not in headers and len(headers) == 1
    headers.set("Subject", "hello")
    assert headers.items()[-1] == ("Subject", "hello")
    assert headers == Headers([("X-Thing", "1"), ("s", "hello")])


def test_make_response_copies_per_8_2_6() -> None:
    req = parse_request()
    resp = make_response(req, 200, to_tag="as83kd9bs")
    assert (resp.status, resp.reason) == (200, "OK")
    assert resp.headers.get_all("Via") == req.headers.get_all("Via")
    assert resp.to.tag == "as83kd9bs" and resp.to.uri == req.to.uri
    assert (resp.from_, resp.call_id, resp.cseq) == (req.from_, req.call_id, req.cseq)
    assert "Timestamp" not in resp.headers and "Contact" not in resp.headers
    assert resp.headers.get("Content-Length") == "0"
    trying = make_response(req, 100)
    assert trying.reason == "Trying" and trying.headers.get("Timestamp") == "54"
    assert parse_message(bytes(resp)) == resp
    assert make_response(req, 299, "Custom").reason == "Custom"


def test_make_response_keeps_an_existing_to_tag() -> None:
    req = parse_request(INVITE.replace(b'"Bob" <sip:bob@biloxi.example.com>', b"<sip:b@h>;tag=x"))
    assert make_response(req, 486, to_tag="other").to.tag == "x"


def test_new_identifiers_are_unique_and_well_formed() -> None:
    branches = {new_branch() for _ in range(100)}
    assert len(branches) == 100 and all(b.startswith("z9hG4bK") for b in branches)
    assert all(re.fullmatch(r"[0-9a-f]{12,}", new_tag()) for _ in range(10))
    assert new_call_id() != new_call_id()


@pytest.mark.parametrize(
    ("edit", "status"),
    [
        ((b"SIP/2.0\r\nVia", b"SIP/3.0\r\nVia"), 505),
        ((b"Max-Forwards: 70", b"Max-Forwards: 0"), 483),
        ((b"Max-Forwards: 70", b"Max-Forwards: 256"), 400),
        ((b"Max-Forwards: 70\r\n", b""), 400),
        ((b"CSeq: 314159 INVITE", b"CSeq: 314159 BYE"), 400),
        ((b"sip:bob@biloxi.example.com SIP", b"mailto:bob@biloxi.example.com SIP"), 416),
        ((b"Call-ID: a84", b"Call-ID: x\r\nCall-ID: a84"), 400),
        ((b"branch=z9hG4bK776asdhds", b"branch=z9hG4bK"), 400),
        ((b"Contact: <sip:alice", b"Contact: *, <sip:alice"), 400),
        ((b"Timestamp: 54", b"Expires: soon"), 400),
    ],
)
def test_validate_request_statuses(edit: tuple[bytes, bytes], status: int) -> None:
    req = parse_request(INVITE.replace(*edit))
    with pytest.raises(SipError) as info:
        validate_request(req)
    assert info.value.status_code == status


def test_validate_request_accepts_a_good_request_and_checks_require() -> None:
    req = parse_request(INVITE.replace(b"Timestamp: 54", b"Require: timer, 100rel"))
    validate_request(req)
    validate_request(req, supported_extensions={"timer", "100rel", "replaces"})
    with pytest.raises(SipError) as info:
        validate_request(req, supported_extensions={"timer"})
    assert info.value.status_code == 420 and "100rel" in info.value.detail


def test_missing_headers_raise_parse_errors_on_access() -> None:
    msg = parse_message(b"OPTIONS sip:a@b.example.com SIP/2.0\r\n\r\n")
    for attribute in ("call_id", "cseq", "top_via", "from_", "to"):
        with pytest.raises(SipParseError, match="missing"):
            getattr(msg, attribute)
    assert msg.vias == [] and msg.contacts == [] and msg.max_forwards is None
    assert msg.content_type is None
