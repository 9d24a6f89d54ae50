"""SDES crypto lines (RFC 4568) and SRTP/SRTCP protection through pylibsrtp."""

from __future__ import annotations

import base64

import pytest

from centralita.media.rtp import RtcpReport, RtpPacket, build_rtcp
from centralita.media.srtp import (
    AES_CM_128_HMAC_SHA1_32,
    AES_CM_128_HMAC_SHA1_80,
    KEY_SALT_LENGTH,
    CryptoAttribute,
    CryptoParseError,
    NoAcceptableCrypto,
    SrtpContext,
    SrtpError,
    SrtpParams,
    answer_crypto,
    crypto_offer,
    generate_key,
    params_from_answer,
)

# RFC 4568 §5.1's example key (40 base64 characters: 30 octets of key and salt).
EXAMPLE_KEY = "PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR"
EXAMPLE = f"1 AES_CM_128_HMAC_SHA1_80 inline:{EXAMPLE_KEY}|2^20|1:4"


def rtp_packet(seq: int, payload: bytes = b"\x55" * 160) -> bytes:
    return bytes(RtpPacket(0, seq, seq * 160, 0xCAFE, payload))


def test_parse_the_rfc_example_line() -> None:
    attribute = CryptoAttribute.parse("a=crypto:" + EXAMPLE)
    assert attribute.tag == 1
    assert attribute.suite == AES_CM_128_HMAC_SHA1_80
    assert attribute.key == base64.b64decode(EXAMPLE_KEY)
    assert len(attribute.key) == KEY_SALT_LENGTH
    assert attribute.lifetime == 2**20
    assert attribute.mki == (1, 4)
    assert str(attribute) == EXAMPLE
    assert attribute.line == "a=crypto:" + EXAMPLE
    assert not attribute.supported  # MKI: pylibsrtp has no MKI support


def test_plain_line_round_trips_and_is_supported() -> None:
    text = f"2 AES_CM_128_HMAC_SHA1_32 inline:{EXAMPLE_KEY}|2^31"
    attribute = CryptoAttribute.parse(text)
    assert (attribute.tag, attribute.suite, attribute.lifetime) == (
        2,
        "AES_CM_128_HMAC_SHA1_32",
        2**31,
    )
    assert attribute.supported
    assert str(attribute) == text
    assert CryptoAttribute.parse(f"3 AES_CM_128_HMAC_SHA1_80 inline:{EXAMPLE_KEY}").lifetime is None


@pytest.mark.parametrize(
    "params, supported",
    [("WSH=64", True), ("KDR=0", True), ("UNENCRYPTED_SRTP", False), ("KDR=3", False)],
)
def test_session_parameters(params: str, supported: bool) -> None:
    attribute = CryptoAttribute.parse(f"1 AES_CM_128_HMAC_SHA1_80 inline:{EXAMPLE_KEY} {params}")
    assert attribute.session_params == (params,)
    assert attribute.supported is supported


@pytest.mark.parametrize(
    "text",
    [
        "x AES_CM_128_HMAC_SHA1_80 inline:" + EXAMPLE_KEY,  # tag not a number
        "1 AES_CM_128_HMAC_SHA1_80",  # no key params
        "1 AES_CM_128_HMAC_SHA1_80 uri:http://example.com/key",  # not inline
        "1 AES_CM_128_HMAC_SHA1_80 inline:not*base64",
        "1 AES_CM_128_HMAC_SHA1_80 inline:" + base64.b64encode(b"short").decode(),
        "1 AES_CM_128_HMAC_SHA1_80 inline:" + EXAMPLE_KEY + "|2^x",
    ],
)
def test_malformed_lines_are_rejected(text: str) -> None:
    with pytest.raises(CryptoParseError):
        CryptoAttribute.parse(text)


def test_answer_picks_first_supported_line_with_same_tag_and_fresh_key() -> None:
    offered = [
        f"1 AEAD_AES_256_GCM inline:{base64.b64encode(bytes(44)).decode()}",  # not ours
        EXAMPLE.replace("1 ", "2 ", 1),  # MKI: skipped
        "3 AES_CM_128_HMAC_SHA1_80 inline:garbage!",  # malformed: skipped
        f"4 AES_CM_128_HMAC_SHA1_32 inline:{EXAMPLE_KEY}|2^31",
        f"5 AES_CM_128_HMAC_SHA1_80 inline:{EXAMPLE_KEY}|2^31",
    ]
    answer, params = answer_crypto(offered)
    assert (answer.tag, answer.suite) == (4, AES_CM_128_HMAC_SHA1_32)
    assert answer.key != base64.b64decode(EXAMPLE_KEY) and len(answer.key) == KEY_SALT_LENGTH
    assert answer.line.startswith("a=crypto:4 AES_CM_128_HMAC_SHA1_32 inline:")
    assert answer.line.endswith("|2^31")
    assert params == SrtpParams(AES_CM_128_HMAC_SHA1_32, answer.key, base64.b64decode(EXAMPLE_KEY))


def test_answer_honours_our_suite_list() -> None:
    offered = [f"1 AES_CM_128_HMAC_SHA1_32 inline:{EXAMPLE_KEY}"]
    with pytest.raises(NoAcceptableCrypto) as caught:
        answer_crypto(offered, suites=(AES_CM_128_HMAC_SHA1_80,))
    assert caught.value.status_code == 488


def test_offer_then_answer_gives_mirrored_params() -> None:
    offer = crypto_offer()
    assert [a.tag for a in offer] == [1, 2]
    assert [a.suite for a in offer] == [AES_CM_128_HMAC_SHA1_80, AES_CM_128_HMAC_SHA1_32]
    answer, theirs = answer_crypto([a.line for a in offer])
    ours = params_from_answer(offer, answer.line)
    assert ours.local_key == theirs.remote_key == offer[0].key
    assert ours.remote_key == theirs.local_key == answer.key
    with pytest.raises(NoAcceptableCrypto):
        params_from_answer(offer, str(CryptoAttribute(7, AES_CM_128_HMAC_SHA1_80, answer.key)))


def test_params_check_keys_and_hide_them() -> None:
    with pytest.raises(ValueError):
        SrtpParams(AES_CM_128_HMAC_SHA1_80, b"short", generate_key())
    with pytest.raises(ValueError):
        SrtpParams("NULL_HMAC_SHA1_80", generate_key(), generate_key())
    key = generate_key()
    assert key.hex() not in repr(SrtpParams(AES_CM_128_HMAC_SHA1_80, key, key))


@pytest.mark.parametrize(
    "suite, tag_length", [(AES_CM_128_HMAC_SHA1_80, 10), (AES_CM_128_HMAC_SHA1_32, 4)]
)
def test_protect_unprotect_between_two_sides(suite: str, tag_length: int) -> None:
    key_a, key_b = generate_key(), generate_key()
    side_a = SrtpContext(SrtpParams(suite, key_a, key_b))
    side_b = SrtpContext(SrtpParams(suite, key_b, key_a))
    plain = rtp_packet(1)
    protected = side_a.protect(plain)
    assert len(protected) == len(plain) + tag_length
    assert protected[12:-tag_length] != plain[12:]  # the payload is encrypted
    assert side_b.unprotect(protected) == plain
    back = side_b.protect(rtp_packet(9))
    assert side_a.unprotect(back) == rtp_packet(9)


def test_tampered_replayed_and_wrongly_keyed_packets_are_rejected() -> None:
    key_a, key_b = generate_key(), generate_key()
    sender = SrtpContext(SrtpParams(AES_CM_128_HMAC_SHA1_80, key_a, key_b))
    receiver = SrtpContext(SrtpParams(AES_CM_128_HMAC_SHA1_80, key_b, key_a))
    stranger = SrtpContext(SrtpParams(AES_CM_128_HMAC_SHA1_80, key_b, generate_key()))
    tampered = bytearray(sender.protect(rtp_packet(5)))
    tampered[30] ^= 0x01
    with pytest.raises(SrtpError):
        receiver.unprotect(bytes(tampered))
    good = sender.protect(rtp_packet(6))
    with pytest.raises(SrtpError):
        stranger.unprotect(good)
    assert receiver.unprotect(good) == rtp_packet(6)
    with pytest.raises(SrtpError):
        receiver.unprotect(good)  # replay (RFC 3711 §3.3.2)


def test_srtcp_round_trip_and_tamper() -> None:
    key_a, key_b = generate_key(), generate_key()
    side_a = SrtpContext(SrtpParams(AES_CM_128_HMAC_SHA1_80, key_a, key_b))
    side_b = SrtpContext(SrtpParams(AES_CM_128_HMAC_SHA1_80, key_b, key_a))
    report = build_rtcp(RtcpReport(0xCAFE), "cname")
    protected = side_a.protect_rtcp(report)
    # RFC 3711 §3.4: E flag + 31-bit index, then the 80-bit tag.
    assert len(protected) == len(report) + 4 + 10
    assert side_b.unprotect_rtcp(protected) == report
    tampered = bytearray(side_a.protect_rtcp(report))
    tampered[10] ^= 0xFF
    with pytest.raises(SrtpError):
        side_b.unprotect_rtcp(bytes(tampered))
