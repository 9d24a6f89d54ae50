"""URIs (RFC 3261 §19.1, RFC 3966), name-addr values and Via values."""

from __future__ import annotations

import pytest

from centralita.sip.errors import SipParseError
from centralita.sip.headers import CSeq, NameAddr, Via
from centralita.sip.uri import Uri, escape, unescape


def test_full_sip_uri() -> None:
    uri = Uri.parse("sips:alice:secret@Atlanta.COM:5061;transport=tcp;lr?subject=project%20x&p=1")
    assert uri == Uri(
        scheme="sips",
        user="alice",
        password="secret",
        host="atlanta.com",
        port=5061,
        params={"transport": "tcp", "lr": None},
        headers={"subject": "project x", "p": "1"},
    )
    assert str(uri) == "sips:alice:secret@atlanta.com:5061;transport=tcp;lr?subject=project%20x&p=1"


def test_host_only_and_ipv4() -> None:
    uri = Uri.parse("sip:192.0.2.4")
    assert (uri.user, uri.host, uri.port) == (None, "192.0.2.4", None)
    assert str(uri) == "sip:192.0.2.4"


def test_ipv6_reference_is_stored_without_brackets() -> None:
    uri = Uri.parse("sip:bob@[2001:DB8::10]:5070;maddr=[2001:db8::9]")
    assert (uri.host, uri.port) == ("2001:db8::10", 5070)
    assert uri.params == {"maddr": "[2001:db8::9]"}
    assert str(uri) == "sip:bob@[2001:db8::10]:5070;maddr=[2001:db8::9]"


def test_user_escapes_decoded_and_reencoded() -> None:
    uri = Uri.parse("sip:I%20have%20%25spaces@example.net")
    assert uri.user == "I have %spaces"
    assert str(uri) == "sip:I%20have%20%25spaces@example.net"
    assert Uri.parse(str(uri)) == uri


def test_unescape_is_not_recursive_and_keeps_stray_percent() -> None:
    assert unescape("v%61lue%25%34%31") == "value%41"
    assert unescape("100%") == "100%"
    assert unescape("%zz") == "%zz"
    assert unescape("%00") == "\x00"
    assert escape("a b\x00", frozenset("ab")) == "a%20b%00"


def test_tel_uri() -> None:
    uri = Uri.parse("tel:+1-201-555-0123;phone-context=example.com")
    assert (uri.scheme, uri.user, uri.host) == ("tel", "+1-201-555-0123", "")
    assert uri.params == {"phone-context": "example.com"}
    assert str(uri) == "tel:+1-201-555-0123;phone-context=example.com"


def test_unknown_scheme_is_opaque() -> None:
    uri = Uri.parse("urn:service:sos")
    assert (uri.scheme, uri.opaque, uri.is_sip) == ("urn", "service:sos", False)
    assert str(uri) == "urn:service:sos"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "sip",
        "sip:",
        "<sip:a@b>",
        "sip:a@b c",
        "sip:user@",
        "sip:@host",
        "sip:host:99999",
        "sip:host:5x",
        "sip:[::1",
        "sip:[zz::1]",
        "sip:ho_st",
        "sip:host;;lr",
        "1sip:host",
        "tel:",
        "tel:12 34",
    ],
)
def test_bad_uris(text: str) -> None:
    with pytest.raises(SipParseError):
        Uri.parse(text)


def test_name_addr_with_quoted_display_name_and_escapes() -> None:
    addr = NameAddr.parse('"Bob \\"B\\" \\\\ Smith" <sip:bob@biloxi.com>;tag=a6c85cf;x="q;v"')
    assert addr.display_name == 'Bob "B" \\ Smith'
    assert addr.tag == "a6c85cf"
    assert addr.params == {"tag": "a6c85cf", "x": '"q;v"'}
    again = NameAddr.parse(str(addr))
    assert again == addr


def test_addr_spec_params_belong_to_the_header() -> None:
    addr = NameAddr.parse("sip:alice@atlanta.com;tag=1928301774")
    assert addr.uri.params == {} and addr.tag == "1928301774"
    assert str(addr) == "<sip:alice@atlanta.com>;tag=1928301774"


def test_token_display_name() -> None:
    addr = NameAddr.parse("Alice Liddell <sip:alice@atlanta.com>")
    assert addr.display_name == "Alice Liddell"
    assert NameAddr.parse("<sip:a@b>").display_name is None


@pytest.mark.parametrize(
    "text",
    [
        '"unterminated <sip:a@b>',
        '"x" sip:a@b',
        "<sip:a@b",
        "Bell, Alexander <sip:a@b>",
        "< sip:a@b >",
        "sip:a@b?subject=x",
        "<sip:a@b>;;tag=1",
        "<sip:a@b> junk",
        "",
    ],
)
def test_bad_name_addrs(text: str) -> None:
    with pytest.raises(SipParseError):
        NameAddr.parse(text)


def test_via_with_rport_and_received() -> None:
    via = Via.parse("SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK776asdhds;rport;received=10.1.1.1")
    assert (via.transport, via.host, via.port) == ("UDP", "192.0.2.1", 5060)
    assert via.branch == "z9hG4bK776asdhds"
    assert via.has_rport and via.rport is None
    assert via.received == "10.1.1.1"
    assert str(via) == "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK776asdhds;rport;received=10.1.1.1"


def test_via_rport_value_and_ipv6_sent_by() -> None:
    via = Via.parse("SIP/2.0/tcp [2001:db8::1] : 5062 ;rport=5063;branch=z9hG4bKx")
    assert (via.transport, via.host, via.port, via.rport) == ("TCP", "2001:db8::1", 5062, "5063")
    assert str(via) == "SIP/2.0/TCP [2001:db8::1]:5062;rport=5063;branch=z9hG4bKx"


@pytest.mark.parametrize(
    "text",
    ["SIP/2.0 UDP host", "SIP/2.0/UDP", "SIP/2.0/UDP host name", "SIP/2.0/UDP host;;", "SIP/2.0/"],
)
def test_bad_vias(text: str) -> None:
    with pytest.raises(SipParseError):
        Via.parse(text)


def test_cseq() -> None:
    assert CSeq.parse("  0009   INVITE ") == CSeq(9, "INVITE")
    assert str(CSeq(4294967295, "BYE")) == "4294967295 BYE"
    for bad in ("1", "x INVITE", "4294967296 INVITE", "1 IN<VITE", "-1 ACK"):
        with pytest.raises(SipParseError):
            CSeq.parse(bad)
