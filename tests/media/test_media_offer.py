"""Our own SDP offer and the answer to it, with the project's answering side as the far end."""

from __future__ import annotations

import pytest

from centralita.media.negotiation import answer_offer
from centralita.media.offer import LocalOffer, accept_answer, make_offer
from centralita.media.srtp import CryptoAttribute, generate_key
from centralita.sip.offer_answer import LocalOrigin
from centralita.sip.sdp import SdpError, SdpNotAcceptable, SessionDescription

US = "198.51.100.1"
FAR = "192.0.2.7"


def offer(*, srtp: bool = False, codecs: list[str] | None = None) -> LocalOffer:
    return make_offer(US, 30000, LocalOrigin(US), srtp=srtp, codecs=codecs)


def far_answer(body: bytes, port: int = 4000) -> bytes:
    """What the far end answers, built by the project's own answering code."""
    return answer_offer(body, FAR, port, LocalOrigin(FAR)).answer


def hand_answer(media: str, *attributes: str, c: str = FAR) -> bytes:
    lines = ["v=0", f"o=- 7 7 IN IP4 {FAR}", "s=-", f"c=IN IP4 {c}", "t=0 0", media, *attributes]
    return ("\r\n".join(lines) + "\r\n").encode()


def test_the_offer_lists_our_codecs_in_preference_order_with_telephone_events() -> None:
    made = offer()
    (audio,) = SessionDescription.parse(made.body).media
    assert (audio.media, audio.port, audio.proto) == ("audio", 30000, "RTP/AVP")
    assert audio.formats == ["9", "0", "8", "111", "101", "110"]
    assert audio.attribute_values("rtpmap") == [
        "9 G722/8000",
        "0 PCMU/8000",
        "8 PCMA/8000",
        "111 opus/48000/2",
        "101 telephone-event/8000",  # RFC 4733: one per clock rate offered
        "110 telephone-event/48000",
    ]
    assert audio.attribute_values("fmtp") == ["101 0-16", "110 0-16"]
    assert audio.direction is not None and audio.direction.value == "sendrecv"
    assert audio.attribute("crypto") is None and made.crypto == []
    assert f"c=IN IP4 {US}".encode() in made.body


def test_the_far_end_picks_wideband_and_we_follow_its_answer() -> None:
    made = offer()
    answer = far_answer(made.body)
    media = accept_answer(made, answer)
    assert media.answer == answer
    assert media.codec.name == "G722" and media.payload_type == 9
    assert media.telephone_event == 101
    assert media.remote == (FAR, 4000) and media.rtcp == (FAR, 4001)
    assert media.srtp is None and not media.on_hold


def test_a_narrowed_offer_gets_pcmu() -> None:
    made = offer(codecs=["PCMU"])
    assert SessionDescription.parse(made.body).media[0].formats == ["0", "101"]
    media = accept_answer(made, far_answer(made.body))
    assert (media.codec.name, media.payload_type, media.telephone_event) == ("PCMU", 0, 101)


def test_opus_runs_with_telephone_events_at_its_own_clock() -> None:
    made = offer(codecs=["opus", "PCMU"])
    answer = hand_answer(
        "m=audio 4100 RTP/AVP 111 110",
        "a=rtpmap:111 opus/48000/2",
        "a=rtpmap:110 telephone-event/48000",
        "a=sendrecv",
    )
    media = accept_answer(made, answer)
    assert (media.codec.name, media.payload_type, media.telephone_event) == ("opus", 111, 110)


def test_the_answers_payload_type_number_is_the_one_we_send_with() -> None:
    # RFC 3264 §6.1 only says SHOULD keep the offer's numbers: the answer's rtpmap decides.
    answer = hand_answer("m=audio 4000 RTP/AVP 96", "a=rtpmap:96 OPUS/48000/2")
    media = accept_answer(offer(), answer)
    assert media.codec.name == "opus" and media.payload_type == 96
    assert media.telephone_event is None  # none answered


def test_telephone_event_at_another_clock_than_the_codec_is_ignored() -> None:
    answer = hand_answer(
        "m=audio 4000 RTP/AVP 0 110", "a=rtpmap:110 telephone-event/48000", "a=sendrecv"
    )
    assert accept_answer(offer(), answer).telephone_event is None


def test_srtp_round_trip_crosses_the_keys() -> None:
    made = offer(srtp=True)
    assert [c.tag for c in made.crypto] == [1, 2]
    assert b"RTP/SAVP" in made.body and b"a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:" in made.body
    far = answer_offer(made.body, FAR, 4000, LocalOrigin(FAR))
    media = accept_answer(made, far.answer)
    assert media.srtp is not None and far.srtp is not None
    assert media.srtp.local_key == made.crypto[0].key == far.srtp.remote_key
    assert media.srtp.remote_key == far.srtp.local_key


def test_an_srtp_answer_without_usable_keys_is_488() -> None:
    made = offer(srtp=True, codecs=["PCMU"])
    media_line = "m=audio 4000 RTP/SAVP 0"
    with pytest.raises(SdpNotAcceptable):
        accept_answer(made, hand_answer(media_line, "a=sendrecv"))  # no a=crypto
    stranger = CryptoAttribute(7, "AES_CM_128_HMAC_SHA1_80", generate_key())
    with pytest.raises(SdpNotAcceptable):
        accept_answer(made, hand_answer(media_line, f"a=crypto:{stranger}"))  # not our tag
    with pytest.raises(SdpNotAcceptable):
        accept_answer(made, hand_answer("m=audio 4000 RTP/AVP 0"))  # dropped the SRTP


def test_hold_in_the_answer() -> None:
    made = offer(codecs=["PCMU"])
    assert accept_answer(made, hand_answer("m=audio 4000 RTP/AVP 0", "a=recvonly")).on_hold
    held = accept_answer(made, hand_answer("m=audio 4000 RTP/AVP 0", c="0.0.0.0"))
    assert held.on_hold  # RFC 3264 §8.4: the RFC 2543 way


def test_rtcp_attribute_is_honoured() -> None:
    answer = hand_answer("m=audio 4000 RTP/AVP 0", "a=rtcp:4999 IN IP4 192.0.2.99")
    assert accept_answer(offer(), answer).rtcp == ("192.0.2.99", 4999)


def test_no_common_codec_or_a_rejected_stream_is_488() -> None:
    made = offer(codecs=["PCMU", "PCMA"])
    with pytest.raises(SdpNotAcceptable) as g729:
        accept_answer(made, hand_answer("m=audio 4000 RTP/AVP 18"))
    assert g729.value.status_code == 488
    with pytest.raises(SdpNotAcceptable):
        accept_answer(made, hand_answer("m=audio 4000 RTP/AVP 9"))  # G.722: not offered
    with pytest.raises(SdpNotAcceptable):
        accept_answer(made, hand_answer("m=audio 0 RTP/AVP 0"))
    with pytest.raises(SdpNotAcceptable):
        # the project's own answerer refuses an offer it shares nothing with
        answer_offer(hand_answer("m=audio 4000 RTP/AVP 18"), US, 30000, LocalOrigin(US))


def test_malformed_answers_are_400() -> None:
    made = offer()
    for bad in (b"not sdp", hand_answer("m=audio 4000 RTP/AVP 0", "m=audio 4002 RTP/AVP 0")):
        with pytest.raises(SdpError) as error:
            accept_answer(made, bad)
        assert error.value.status_code == 400


def test_the_origin_version_moves_only_when_the_offer_changes() -> None:
    origin = LocalOrigin(US)
    first = SessionDescription.parse(make_offer(US, 30000, origin, codecs=["PCMU"]).body)
    same = SessionDescription.parse(make_offer(US, 30000, origin, codecs=["PCMU"]).body)
    moved = SessionDescription.parse(make_offer(US, 30002, origin, codecs=["PCMU"]).body)
    assert first.origin.session_id == same.origin.session_id == moved.origin.session_id
    assert (first.origin.version, same.origin.version, moved.origin.version) == (1, 1, 2)


def test_an_offer_needs_a_codec_we_have() -> None:
    with pytest.raises(ValueError):
        offer(codecs=["G729"])
