"""RFC 4475 "SIP Torture Test Messages": every message of §3, table driven.

The vectors in tests/vectors/rfc4475/ are the RFC's messages with its notation decoded
(<allOneLine>, <repeat>, <hex>): CRLF line ends, the NUL/BEL/DEL octets of intmeth, the
binary S/MIME part of mpart01. Each row says what must happen: the message parses (and
round-trips byte for byte), or parse_message raises SipParseError, or validate_request
raises the status the RFC asks for.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from centralita.sip.errors import SipError, SipParseError
from centralita.sip.message import Message, Request, Response, parse_message, validate_request

VECTORS = Path(__file__).resolve().parent.parent / "vectors" / "rfc4475"

PARSE_ERROR = "parse error"
VALID = "valid"

# name: (RFC section, expected outcome: VALID, PARSE_ERROR or the validate_request status)
EXPECTED: dict[str, tuple[str, str | int]] = {
    # §3.1.1 valid messages
    "wsinv": ("3.1.1.1", VALID),
    "intmeth": ("3.1.1.2", VALID),
    "esc01": ("3.1.1.3", VALID),
    "escnull": ("3.1.1.4", VALID),
    "esc02": ("3.1.1.5", VALID),
    "lwsdisp": ("3.1.1.6", VALID),
    "longreq": ("3.1.1.7", VALID),
    "dblreq": ("3.1.1.8", VALID),
    "semiuri": ("3.1.1.9", VALID),
    "transports": ("3.1.1.10", VALID),
    "mpart01": ("3.1.1.11", VALID),
    "unreason": ("3.1.1.12", VALID),
    "noreason": ("3.1.1.13", VALID),
    # §3.1.2 invalid messages
    "badinv01": ("3.1.2.1", 400),
    "clerr": ("3.1.2.2", 400),
    "ncl": ("3.1.2.3", PARSE_ERROR),
    "scalar02": ("3.1.2.4", 400),
    "scalarlg": ("3.1.2.5", VALID),  # parses; its CSeq is refused when read (test below)
    "quotbal": ("3.1.2.6", 400),
    "ltgtruri": ("3.1.2.7", PARSE_ERROR),
    "lwsruri": ("3.1.2.8", PARSE_ERROR),
    "lwsstart": ("3.1.2.9", PARSE_ERROR),
    "trws": ("3.1.2.10", PARSE_ERROR),
    "escruri": ("3.1.2.11", 400),
    "baddate": ("3.1.2.12", VALID),  # rejecting is allowed, not required; Date is unused
    "regbadct": ("3.1.2.13", 400),
    "badaspec": ("3.1.2.14", 400),
    "baddn": ("3.1.2.15", 400),
    "badvers": ("3.1.2.16", 505),
    "mismatch01": ("3.1.2.17", 400),
    "mismatch02": ("3.1.2.18", 400),  # 501 preferred, 400 acceptable per the RFC
    "bigcode": ("3.1.2.19", PARSE_ERROR),
    # §3.2 transaction layer
    "badbranch": ("3.2.1", 400),
    # §3.3 application layer
    "insuf": ("3.3.1", 400),
    "unkscm": ("3.3.2", 416),
    "novelsc": ("3.3.3", 416),
    "unksm2": ("3.3.4", VALID),  # fine for a proxy; a registrar refuses the To itself
    "bext01": ("3.3.5", VALID),  # 420 only when the supported extensions are given
    "invut": ("3.3.6", VALID),  # 415 is the application's decision
    "regaut01": ("3.3.7", VALID),  # 401 is the registrar's decision
    "multi01": ("3.3.8", 400),
    "mcl01": ("3.3.9", PARSE_ERROR),
    "bcast": ("3.3.10", VALID),
    "zeromf": ("3.3.11", VALID),  # OPTIONS with Max-Forwards 0 may be answered
    # §3.4 backward compatibility
    "cparam01": ("3.4.1", VALID),
    "cparam02": ("3.4.2", VALID),
    "regescrt": ("3.4.3", VALID),
    "sdp01": ("3.4.4", VALID),
    "inv2543": ("3.4.5", VALID),  # validated with require_max_forwards=False
}


def load(name: str) -> bytes:
    return (VECTORS / f"{name}.sip").read_bytes()


def test_every_vector_of_the_rfc_is_present_and_classified() -> None:
    on_disk = {path.stem for path in VECTORS.glob("*.sip")}
    assert on_disk == set(EXPECTED)
    assert len(on_disk) == 49


def _validate(msg: Message, name: str) -> None:
    if isinstance(msg, Request):
        validate_request(msg, require_max_forwards=name != "inv2543")


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_vector_outcome(name: str) -> None:
    _, outcome = EXPECTED[name]
    data = load(name)
    if outcome == PARSE_ERROR:
        with pytest.raises(SipParseError):
            parse_message(data)
        return
    msg = parse_message(data)
    if outcome == VALID:
        _validate(msg, name)
        return
    with pytest.raises(SipError) as info:
        _validate(msg, name)
    assert info.value.status_code == outcome


@pytest.mark.parametrize("name", sorted(n for n, (_, o) in EXPECTED.items() if o != PARSE_ERROR))
def test_parsed_vectors_round_trip_byte_exactly(name: str) -> None:
    data = load(name)
    msg = parse_message(data)
    if name == "dblreq":
        # §3.1.1.8: the octets after Content-Length (a spurious INVITE) are not the message.
        data = data[: data.index(b"\r\n\r\n") + 4]
    assert bytes(msg) == data
    assert parse_message(bytes(msg)) == msg


def _req(name: str) -> Request:
    msg = parse_message(load(name))
    assert isinstance(msg, Request)
    return msg


def _resp(name: str) -> Response:
    msg = parse_message(load(name))
    assert isinstance(msg, Response)
    return msg


def check_wsinv() -> None:
    msg = _req("wsinv")
    assert msg.method == "INVITE"
    assert msg.uri.user == "vivekg" and msg.uri.params == {"unknownparam": None}
    assert msg.to.tag == "1918181833n"
    assert msg.from_.display_name == 'J Rosenberg \\"' and msg.from_.tag == "98asjd8"
    assert msg.max_forwards == 68
    assert msg.cseq == (9, "INVITE")
    assert [(v.transport, v.host, v.branch) for v in msg.vias] == [
        ("UDP", "192.0.2.2", "390skdjuw"),
        ("TCP", "spindle.example.com", "z9hG4bK9ikj8"),
        ("UDP", "192.168.255.111", "z9hG4bK30239"),
    ]
    assert msg.headers.get("Subject") == ""
    assert msg.headers.get("newfangledheader") == "newfangled value continued newfangled value"
    assert msg.headers.get_all("UnknownHeaderWithUnusualValue") == [";;,,;;,;"]
    (contact,) = msg.contacts
    assert contact.display_name == 'Quoted string ""'
    assert contact.params == {"newparam": "newvalue", "secondparam": None, "q": "0.33"}
    assert msg.content_type == "application/sdp" and len(msg.body) == 150


def check_intmeth() -> None:
    msg = _req("intmeth")
    assert msg.method == "!interesting-Method0123456789_*+`.%indeed'~"
    assert msg.uri.user == "1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*"
    assert msg.uri.password == "&it+has=1,weird!*pas$wo~d_too.(doesn't-it)"
    assert msg.to.display_name == "BEL:\x07 NUL:\x00 DEL:\x7f"
    assert msg.from_.display_name == "token1~` token2'+_ token3*%!.-"
    assert msg.from_.tag == "_token~1'+`*%!-."
    assert msg.from_.params["fromparam''~+*_!.-%"] == '"работающий"'
    assert msg.call_id == "intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{"
    assert msg.top_via.branch == "z9hG4bK-.!%66*_+`'~"
    assert msg.headers.get("extensionHeader-!.%*+_`'~") == "\ufeff大停電"


def check_esc01() -> None:
    msg = _req("esc01")
    assert msg.uri.user == "sips:user@example.com" and msg.uri.host == "example.net"
    assert msg.to.uri.user == "user"
    assert msg.from_.uri.user == "I have spaces"
    (contact,) = msg.contacts
    assert contact.uri.user == "caller"
    assert contact.uri.params == {"lr": None, "name": "value%41"}  # decoded once only


def check_escnull() -> None:
    msg = _req("escnull")
    assert msg.to.uri.user == "null-\x00-null"
    assert [c.uri.user for c in msg.contacts] == ["\x00", "\x00\x00"]


def check_esc02() -> None:
    msg = _req("esc02")
    assert msg.method == "RE%47IST%45R" and msg.cseq.method == "RE%47IST%45R"
    assert msg.to.display_name == "%Z%45"
    assert [c.uri.user for c in msg.contacts] == ["alias1", "alias3"]
    assert msg.headers.get("C%6Fntact") == "<sip:alias2@host2.example.com>"


def check_lwsdisp() -> None:
    assert _req("lwsdisp").from_.display_name == "caller"


def check_longreq() -> None:
    msg = _req("longreq")
    assert len(msg.vias) == 34
    assert [v.host for v in msg.vias[:33]] == [f"sip{n}.example.com" for n in range(33, 0, -1)]
    assert msg.vias[-1].received == "192.0.2.5"
    assert msg.to.uri.port == 6000 and len(msg.to.uri.params) == 3
    assert msg.from_.tag == "12" + "982" * 50 + "424"


def check_dblreq() -> None:
    msg = _req("dblreq")
    assert msg.method == "REGISTER" and msg.body == b""


def check_semiuri() -> None:
    msg = _req("semiuri")
    assert msg.uri.user == "user;par=u@example.net" and msg.uri.host == "example.com"
    assert msg.headers.get_all("Accept") == [
        "application/sdp",
        "application/pkcs7-mime",
        "multipart/mixed",
        "multipart/signed",
        "message/sip",
        "message/sipfrag",
    ]


def check_transports() -> None:
    vias = _req("transports").vias
    assert [v.transport for v in vias] == ["UDP", "SCTP", "TLS", "UNKNOWN", "TCP"]


def check_mpart01() -> None:
    msg = _req("mpart01")
    assert msg.content_type == "multipart/mixed"
    assert len(msg.body) == 553 and b"\x00" in msg.body and b"\n\x68" in msg.body
    assert msg.top_via.has_rport and msg.top_via.rport is None and msg.top_via.port == 5070


def check_unreason() -> None:
    msg = _resp("unreason")
    assert msg.status == 200
    assert msg.reason == "= 2**3 * 5**2 но сто девяносто девять - простое"


def check_noreason() -> None:
    msg = _resp("noreason")
    assert (msg.status, msg.reason) == (100, "")


def check_scalarlg() -> None:
    with pytest.raises(SipParseError):
        _resp("scalarlg").cseq  # noqa: B018


def check_cparam() -> None:
    (c1,) = _req("cparam01").contacts
    assert c1.params == {"unknownparam": None} and c1.uri.params == {}
    (c2,) = _req("cparam02").contacts
    assert c2.params == {} and c2.uri.params == {"unknownparam": None}


def check_regescrt() -> None:
    (contact,) = _req("regescrt").contacts
    assert contact.uri.headers == {"Route": "<sip:sip.example.com>"}


def check_unknown_schemes() -> None:
    msg = _req("unksm2")
    assert (msg.to.uri.scheme, msg.to.uri.opaque) == ("isbn", "2983792873")
    assert msg.from_.uri.scheme == "http"
    assert _req("novelsc").uri.opaque == "//192.0.2.103:3002"


def check_bext01() -> None:
    with pytest.raises(SipError) as info:
        validate_request(_req("bext01"), supported_extensions={"timer"})
    assert info.value.status_code == 420


def check_zeromf() -> None:
    assert _req("zeromf").max_forwards == 0


def check_inv2543() -> None:
    msg = _req("inv2543")
    assert msg.declared_length is None and msg.body.endswith(b"m=audio 49217 RTP/AVP 0\r\n")
    assert msg.top_via.branch is None
    with pytest.raises(SipError) as info:
        validate_request(msg)
    assert info.value.status_code == 400


def check_bcast() -> None:
    assert _resp("bcast").vias[1].host == "255.255.255.255"


FIELD_CHECKS: list[Callable[[], None]] = [
    check_wsinv, check_intmeth, check_esc01, check_escnull, check_esc02, check_lwsdisp,
    check_longreq, check_dblreq, check_semiuri, check_transports, check_mpart01,
    check_unreason, check_noreason, check_scalarlg, check_cparam, check_regescrt,
    check_unknown_schemes, check_bext01, check_zeromf, check_inv2543, check_bcast,
]  # fmt: skip


@pytest.mark.parametrize("check", FIELD_CHECKS, ids=lambda f: f.__name__)
def test_vector_fields(check: Callable[[], None]) -> None:
    check()
