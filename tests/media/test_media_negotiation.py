"""Answering offers for calls the PBX terminates: codec choice, re-offers, SRTP keys."""

from __future__ import annotations

import pytest

from centralita.media.codecs import available_codecs
from centralita.media.negotiation import answer_offer, answer_reoffer
from centralita.media.srtp import CryptoAttribute, generate_key
from centralita.sip.offer_answer import LocalOrigin
from centralita.sip.sdp import SdpNotAcceptable, SessionDescription


def offer(formats: str, rtpmaps: str, proto: str = "RTP/AVP", extra: str = "") -> bytes:
    lines = [
        "v=0", "o=- 1 1 IN IP4 192.0.2.7", "s=-", "c=IN IP4 192.0.2.7", "t=0 0",
        f"m=audio 4000 {proto} {formats}", *rtpmaps.split("|"), *([extra] if extra else []),
    ]  # fmt: skip
    return ("\r\n".join(line for line in lines if line) + "\r\n").encode()


G711_G722 = "a=rtpmap:0 PCMU/8000|a=rtpmap:9 G722/8000|a=rtpmap:101 telephone-event/8000"


def test_wideband_is_preferred_and_telephone_event_kept() -> None:
    media = answer_offer(offer("0 9 101", G711_G722), "127.0.0.1", 30000, LocalOrigin("127.0.0.1"))
    assert media.codec.name == "G722" and media.payload_type == 9
    assert media.telephone_event == 101
    assert media.remote == ("192.0.2.7", 4000)
    answer = SessionDescription.parse(media.answer).first_audio()
    assert answer is not None and answer.port == 30000


def test_a_re_offer_keeps_the_running_codec() -> None:
    origin = LocalOrigin("127.0.0.1")
    first = answer_offer(offer("0 101", G711_G722), "127.0.0.1", 30000, origin)
    assert first.codec.name == "PCMU"
    again = answer_offer(offer("9 0 101", G711_G722), "127.0.0.1", 30000, origin, current=first)
    assert again.codec.name == "PCMU"  # G.722 is preferred, but the call is running on PCMU


def test_a_re_offer_with_srtp_keeps_our_key() -> None:
    origin = LocalOrigin("127.0.0.1")
    theirs = CryptoAttribute(1, "AES_CM_128_HMAC_SHA1_80", generate_key())
    sdes = offer("0 101", G711_G722, "RTP/SAVP", f"a=crypto:{theirs}")
    first = answer_offer(sdes, "127.0.0.1", 30000, origin)
    assert first.srtp is not None and first.srtp.remote_key == theirs.key
    again = answer_offer(sdes, "127.0.0.1", 30000, origin, current=first)
    assert again.srtp is not None and again.srtp.local_key == first.srtp.local_key
    assert b"a=crypto:1 AES_CM_128_HMAC_SHA1_80" in again.answer


def test_nothing_in_common_is_488() -> None:
    with pytest.raises(SdpNotAcceptable):
        answer_offer(offer("18", "a=rtpmap:18 G729/8000"), "127.0.0.1", 30000, LocalOrigin("x"))


def test_opus_is_answered_when_it_is_all_the_phone_offers() -> None:
    assert "opus" in available_codecs()  # make test installs libopus0 and opuslib
    media = answer_offer(
        offer("111", "a=rtpmap:111 opus/48000/2"), "127.0.0.1", 30000, LocalOrigin("127.0.0.1")
    )
    assert media.codec.name == "opus" and media.payload_type == 111


class _Endpoint:
    """What answer_reoffer touches of a MediaEndpoint."""

    local_port = 30000

    def __init__(self) -> None:
        self.remote: tuple[str, int] | None = None
        self.held: bool | None = None

    def update_remote(self, remote: tuple[str, int], rtcp: tuple[str, int] | None = None) -> None:
        self.remote = remote

    def set_hold(self, on_hold: bool) -> None:
        self.held = on_hold


def test_a_hold_re_offer_is_answered_on_the_running_codec_and_applied() -> None:
    origin = LocalOrigin("127.0.0.1")
    running = answer_offer(offer("0 101", G711_G722), "127.0.0.1", 30000, origin)
    endpoint = _Endpoint()
    hold = offer("9 0 101", G711_G722, extra="a=sendonly")
    answer = answer_reoffer(hold, endpoint, origin, running)  # type: ignore[arg-type]
    chosen = SessionDescription.parse(answer).first_audio()
    assert chosen is not None and chosen.codecs[0].encoding.upper() == "PCMU"
    assert endpoint.held is True and endpoint.remote == ("192.0.2.7", 4000)


def test_a_re_offer_without_the_running_codec_is_refused_and_changes_nothing() -> None:
    origin = LocalOrigin("127.0.0.1")
    running = answer_offer(offer("0 101", G711_G722), "127.0.0.1", 30000, origin)
    endpoint = _Endpoint()
    with pytest.raises(SdpNotAcceptable, match="continues with PCMU"):
        answer_reoffer(offer("9 101", G711_G722), endpoint, origin, running)  # type: ignore[arg-type]
    assert endpoint.remote is None and endpoint.held is None
