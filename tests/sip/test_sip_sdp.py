"""SDP parsing/serialising, RFC 3264 answers and media anchoring (centralita.sip.sdp)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from centralita.sip.errors import NotAcceptableHere
from centralita.sip.offer_answer import LocalOrigin, anchor, answer
from centralita.sip.sdp import (
    Connection,
    Direction,
    MediaDescription,
    Origin,
    SdpError,
    SdpNotAcceptable,
    SessionDescription,
)


def sdp(*lines: str, eol: str = "\r\n") -> bytes:
    return "".join(line + eol for line in lines).encode()


BARESIP = sdp(
    "v=0",
    "o=- 1930441838 2432187466 IN IP4 127.0.0.1",
    "s=-",
    "c=IN IP4 127.0.0.1",
    "t=0 0",
    "a=tool:baresip 1.0.0",
    "m=audio 26440 RTP/AVP 0 8 101",
    "b=AS:80",
    "a=rtpmap:0 PCMU/8000",
    "a=rtpmap:8 PCMA/8000",
    "a=rtpmap:101 telephone-event/8000",
    "a=fmtp:101 0-15",
    "a=sendrecv",
    "a=label:1",
    "a=rtcp-rsize",
    "a=ssrc:1289137233 cname:2f2a6c1c-8f3b-4c6e-9a51-3b1f0e9d4c21",
    "a=ptime:20",
)
LINPHONE = sdp(
    "v=0",
    "o=101 3020 1720 IN IP4 192.168.1.10",
    "s=Talk",
    "c=IN IP4 192.168.1.10",
    "t=0 0",
    "a=rtcp-xr:rcvr-rtt=all:10000 stat-summary=loss,dup,jitt,TTL voip-metrics",
    "m=audio 7078 RTP/AVP 96 97 98 0 8 18 101 99 100",
    "a=rtpmap:96 opus/48000/2",
    "a=fmtp:96 useinbandfec=1",
    "a=rtpmap:97 SILK/16000",
    "a=rtpmap:98 speex/16000",
    "a=fmtp:98 vbr=on",
    "a=rtpmap:18 G729/8000",
    "a=fmtp:18 annexb=yes",
    "a=rtpmap:101 telephone-event/48000",
    "a=rtpmap:99 telephone-event/16000",
    "a=rtpmap:100 telephone-event/8000",
    "a=rtcp:7079",
    "a=rtcp-fb:* trr-int 1000",
    "a=rtcp-fb:* ccm tmmbr",
    "m=video 9078 RTP/AVP 96",
    "a=rtpmap:96 VP8/90000",
    "a=rtcp-fb:* trr-int 1000",
    "a=rtcp-fb:96 nack pli",
)
SIPP = sdp(
    "v=0",
    "o=user1 53655765 2353687637 IN IP4 127.0.0.1",
    "s=-",
    "c=IN IP4 127.0.0.1",
    "t=0 0",
    "m=audio 6000 RTP/AVP 0",
    "a=rtpmap:0 PCMU/8000",
)
POLYCOM = sdp(
    "v=0",
    "o=- 1637848384 1637848384 IN IP4 10.0.0.50",
    "s=Polycom IP Phone",
    "c=IN IP4 10.0.0.50",
    "t=0 0",
    "a=sendrecv",
    "m=audio 2228 RTP/SAVP 9 102 0 8 18 127",
    "a=rtpmap:9 G722/8000",
    "a=rtpmap:102 G7221/16000",
    "a=fmtp:102 bitrate=32000",
    "a=rtpmap:0 PCMU/8000",
    "a=rtpmap:8 PCMA/8000",
    "a=rtpmap:18 G729/8000",
    "a=fmtp:18 annexb=no",
    "a=rtpmap:127 telephone-event/8000",
    "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz|2^31|1:1",
    "a=crypto:2 AES_CM_128_HMAC_SHA1_32 inline:NzB4d1BINUAvLEw6UzF3WSJ+PSdFcGdUJShpX1Zj|2^31|1:1",
)
YEALINK = sdp(
    "v=0",
    "o=- 20048 20048 IN IP4 192.168.1.60",
    "s=SDP data",
    "c=IN IP4 192.168.1.60",
    "t=0 0",
    "m=audio 11780 RTP/AVP 9 0 8 18 101",
    "a=rtpmap:9 G722/8000",
    "a=rtpmap:0 PCMU/8000",
    "a=rtpmap:8 PCMA/8000",
    "a=rtpmap:18 G729/8000",
    "a=fmtp:18 annexb=no",
    "a=ptime:20",
    "a=sendrecv",
    "a=rtpmap:101 telephone-event/8000",
    "a=fmtp:101 0-15",
)
IPV6 = sdp(
    "v=0",
    "o=alice 2890844526 2890842807 IN IP6 2001:db8::10",
    "s=-",
    "c=IN IP6 2001:db8::10",
    "t=0 0",
    "m=audio 49170 RTP/AVP 8 0 101",
    "a=rtpmap:101 telephone-event/8000",
    "a=fmtp:101 0-16",
    "a=rtcp:49171 IN IP6 2001:db8::11",
)
WEBRTC_ICE = sdp(
    "v=0",
    "o=- 4611731400430051336 2 IN IP4 127.0.0.1",
    "s=-",
    "t=0 0",
    "a=ice-options:trickle",
    "m=audio 9 RTP/AVP 0 8",
    "c=IN IP4 203.0.113.7",
    "a=rtcp:9 IN IP4 0.0.0.0",
    "a=candidate:1 1 udp 2122260223 192.168.1.2 54321 typ host",
    "a=ice-ufrag:EsAw",
    "a=ice-pwd:P2uYro0UCOQ4zxjKXaWCBui1",
    "a=rtcp-mux",
    "a=sendrecv",
)
VECTORS = {
    "baresip": BARESIP,
    "linphone": LINPHONE,
    "sipp": SIPP,
    "polycom": POLYCOM,
    "yealink": YEALINK,
    "ipv6": IPV6,
    "webrtc-ice": WEBRTC_ICE,
}
ORIGIN = Origin("-", "42", 1, "198.51.100.1")
H = ("v=0", "o=- 1 1 IN IP4 1.2.3.4", "s=-")
HC = (*H, "c=IN IP4 1.2.3.4")


def offer_with(*media_lines: str, session: tuple[str, ...] = ()) -> SessionDescription:
    head = ("v=0", "o=- 1 1 IN IP4 192.0.2.1", "s=-", "c=IN IP4 192.0.2.1", "t=0 0")
    return SessionDescription.parse(sdp(*head, *session, *media_lines))


def reply(offer: SessionDescription, supported: list[str], **kw: object) -> SessionDescription:
    return answer(offer, supported, address="198.51.100.1", port=30000, origin=ORIGIN, **kw)  # type: ignore[arg-type]


# --- parsing and round trip --------------------------------------------------------------


@pytest.mark.parametrize("name", VECTORS)
def test_real_world_sdps_round_trip_byte_exactly(name: str) -> None:
    data = VECTORS[name]
    assert bytes(SessionDescription.parse(data)) == data


def test_lf_only_sdp_round_trips_byte_exactly() -> None:
    data = SIPP.replace(b"\r\n", b"\n")
    parsed = SessionDescription.parse(data)
    assert bytes(parsed) == data
    assert parsed == SessionDescription.parse(SIPP)  # line ending is not part of the value


def test_out_of_order_sdp_round_trips_semantically() -> None:
    data = sdp("v=0", "s=-", "t=0 0", "o=- 1 2 IN IP4 192.0.2.1", "c=IN IP4 192.0.2.1")
    data += b"m=audio 5004 RTP/AVP 0\n"  # and a mixed line ending
    parsed = SessionDescription.parse(data)
    assert bytes(parsed) != data
    again = SessionDescription.parse(bytes(parsed))
    assert again == parsed and bytes(again) == bytes(parsed)
    assert bytes(parsed).startswith(b"v=0\r\no=- 1 2 IN IP4 192.0.2.1\r\ns=-\r\nc=")


def test_baresip_fields() -> None:
    sd = SessionDescription.parse(BARESIP)
    assert sd.origin == Origin("-", "1930441838", 2432187466, "127.0.0.1")
    assert sd.connection == Connection("127.0.0.1")
    assert sd.attribute("tool") == "baresip 1.0.0"
    (media,) = sd.media
    assert (media.media, media.port, media.proto) == ("audio", 26440, "RTP/AVP")
    assert media.formats == ["0", "8", "101"] and media.bandwidths == ["AS:80"]
    assert media.attribute("rtcp-rsize") == "" and media.attribute("nope") is None
    (stream,) = sd.audio_streams()
    assert (stream.address, stream.port, stream.rtcp_port) == ("127.0.0.1", 26440, 26441)
    assert [pt.encoding for pt in stream.codecs] == ["PCMU", "PCMA"]
    te = stream.telephone_event
    assert te is not None and te.number == 101 and te.fmtp == "0-15"
    assert stream.direction is Direction.SENDRECV and not stream.is_hold
    assert stream.ptime == 20 and stream.crypto == () and not stream.rtcp_mux
    assert stream.rtp_address == ("127.0.0.1", 26440) and not stream.is_hold_address
    assert stream.rtcp_address == ("127.0.0.1", 26441)
    assert sd.first_audio() == stream


def test_linphone_fields() -> None:
    sd = SessionDescription.parse(LINPHONE)
    audio, video = sd.streams()
    assert audio.rtcp_port == 7079 and video.media == "video"
    pts = {pt.number: pt for pt in audio.payload_types}
    assert (
        pts[96].channels == 2 and pts[96].clock_rate == 48000 and pts[96].fmtp == "useinbandfec=1"
    )
    assert pts[18].encoding == "G729" and pts[18].fmtp == "annexb=yes"
    assert [p.clock_rate for p in audio.payload_types if p.is_telephone_event] == [
        48000,
        16000,
        8000,
    ]
    assert [s.index for s in sd.audio_streams()] == [0]


def test_static_payload_types_without_rtpmap_and_ipv6() -> None:
    sd = SessionDescription.parse(IPV6)
    assert sd.connection == Connection("2001:db8::10", "IP6")
    assert sd.origin.addrtype == "IP6"
    (stream,) = sd.audio_streams()
    assert [(p.number, p.encoding, p.clock_rate) for p in stream.codecs] == [
        (8, "PCMA", 8000),
        (0, "PCMU", 8000),
    ]
    assert stream.rtcp_address == ("2001:db8::11", 49171)


def test_polycom_srtp_fields() -> None:
    (stream,) = SessionDescription.parse(POLYCOM).audio_streams()
    assert stream.proto == "RTP/SAVP"
    assert len(stream.crypto) == 2 and stream.crypto[0].startswith("1 AES_CM_128_HMAC_SHA1_80")
    assert stream.payload_types[0].encoding == "G722" and stream.payload_types[0].clock_rate == 8000


def test_media_level_connection_wins() -> None:
    sd = SessionDescription.parse(WEBRTC_ICE)
    assert sd.connection is None
    (stream,) = sd.audio_streams()
    assert stream.address == "203.0.113.7" and stream.rtcp_mux
    assert stream.rtcp_address == ("0.0.0.0", 9)  # explicit a=rtcp wins over port + 1


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "v=0"),
        (b"o=- 1 1 IN IP4 1.2.3.4\r\n", "v=0"),
        (sdp("v=1", "o=- 1 1 IN IP4 1.2.3.4", "s=-", "t=0 0"), "v=0"),
        (sdp("v=0", "s=-", "t=0 0"), "o="),
        (sdp("v=0", "o=- 1 1 IN IP4 1.2.3.4", "t=0 0"), "s="),
        (sdp("v=0", "o=- 1 IN IP4 1.2.3.4", "s=-"), "6 fields"),
        (sdp("v=0", "o=- 1 x IN IP4 1.2.3.4", "s=-"), "sess-version"),
        (sdp(*H, "c=IN IP4 300.1.2.3"), "address"),
        (sdp(*H, "c=IN IP6 1.2.3.4"), "IP6"),
        (sdp(*H, "c=IN IP4"), "3 fields"),
        (sdp(*H, "s=again"), "more than one"),
        (sdp(*H, "t=0"), "t="),
        (sdp(*H, "b=AS"), "b="),
        (sdp(*H, "x=unknown"), "x="),
        (sdp(*H, "no equals"), "bad SDP line"),
        (sdp(*H, "", "t=0 0"), "bad SDP line"),
        (sdp(*H, "m=audio 5004 RTP/AVP 0"), "connection"),
        (sdp(*HC, "m=audio 70000 RTP/AVP 0"), "port"),
        (sdp(*HC, "m=audio 5004 RTP/AVP 128"), "payload"),
        (sdp(*HC, "m=audio 5004 RTP/AVP"), "m="),
        (sdp(*HC, "m=audio 5004 RTP/AVP 0", "t=0 0"), "not allowed"),
        (sdp(*HC, "m=audio 5004 RTP/AVP 96", "a=rtpmap:96 opus"), "rtpmap"),
        (sdp(*HC, "m=audio 5004 RTP/AVP 0", "a=rtcp:x"), "rtcp"),
        (sdp(*H, "a=:x"), "attribute"),
        (b"v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=\xff\r\n", "UTF-8"),
        (b"v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=a\x00b\r\n", "control"),
        (b"v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=a\rb\r\n", "control"),
    ],
)
def test_bad_sdp_is_400(data: bytes, message: str) -> None:
    with pytest.raises(SdpError) as info:
        SessionDescription.parse(data)
    assert info.value.status_code == 400 and not isinstance(info.value, SdpNotAcceptable)
    assert message in str(info.value)


@pytest.mark.parametrize("conn", ["c=ATM NSAP 47.0091", "c=IN IPX 1.2.3.4"])
def test_unsupported_network_type_is_488(conn: str) -> None:
    with pytest.raises(SdpNotAcceptable) as info:
        SessionDescription.parse(sdp(*H, conn))
    assert info.value.status_code == 488 and isinstance(info.value, NotAcceptableHere)


def test_fqdn_connection_and_trailing_blank_lines_accepted() -> None:
    data = sdp("v=0", "o=- 1 1 IN IP4 h", "s=-", "c=IN IP4 media.example.com", "t=0 0")
    parsed = SessionDescription.parse(data + b"\r\n\r\n")
    assert parsed.connection is not None and parsed.connection.host == "media.example.com"
    assert bytes(parsed) == data


# --- answers (RFC 3264 §6) ---------------------------------------------------------------


def test_answer_baresip_in_our_preference() -> None:
    offer = SessionDescription.parse(BARESIP)
    sd = reply(offer, ["PCMA", "PCMU"])
    assert bytes(sd) == sdp(
        "v=0",
        "o=- 42 1 IN IP4 198.51.100.1",
        "s=-",
        "c=IN IP4 198.51.100.1",
        "t=0 0",
        "m=audio 30000 RTP/AVP 8 101",
        "a=rtpmap:8 PCMA/8000",
        "a=rtpmap:101 telephone-event/8000",
        "a=fmtp:101 0-15",
        "a=ptime:20",
        "a=sendrecv",
    )


def test_answer_linphone_picks_8khz_telephone_event_and_rejects_video() -> None:
    sd = reply(SessionDescription.parse(LINPHONE), ["PCMU"])
    audio, video = sd.media
    assert audio.formats == ["0", "100"]
    assert audio.attribute_values("fmtp") == ["100 0-15"]  # absent fmtp means 0-15
    assert (video.media, video.port, video.proto, video.formats) == ("video", 0, "RTP/AVP", ["96"])
    assert video.attributes == []


def test_answer_sipp_without_telephone_event() -> None:
    sd = reply(SessionDescription.parse(SIPP), ["G722", "PCMU"])
    (media,) = sd.media
    assert media.formats == ["0"] and media.attribute_values("rtpmap") == ["0 PCMU/8000"]
    assert SessionDescription.parse(bytes(sd)) == sd


def test_answer_yealink_prefers_g722_with_offered_payload_numbers() -> None:
    sd = reply(SessionDescription.parse(YEALINK), ["G722", "PCMA"], multiple_codecs=True)
    (stream,) = sd.audio_streams()
    assert [(p.number, p.encoding) for p in stream.payload_types] == [
        (9, "G722"),
        (8, "PCMA"),
        (101, "telephone-event"),
    ]


def test_answer_ipv6_keeps_events_0_to_16() -> None:
    offer = SessionDescription.parse(IPV6)
    sd = answer(offer, ["PCMU"], address="2001:db8::1", port=40000, origin=ORIGIN)
    assert sd.connection == Connection("2001:db8::1", "IP6")
    (stream,) = sd.audio_streams()
    assert stream.port == 40000 and [p.number for p in stream.payload_types] == [0, 101]
    assert stream.telephone_event is not None and stream.telephone_event.fmtp == "0-16"


def test_answer_intersects_telephone_events() -> None:
    offer = offer_with(
        "m=audio 5004 RTP/AVP 0 96", "a=rtpmap:96 telephone-event/8000", "a=fmtp:96 0-11,16,32-36"
    )
    (stream,) = reply(offer, ["PCMU"]).audio_streams()
    assert stream.telephone_event is not None and stream.telephone_event.fmtp == "0-11,16"
    only_foreign = offer_with(
        "m=audio 5004 RTP/AVP 0 96", "a=rtpmap:96 telephone-event/8000", "a=fmtp:96 32-36"
    )
    assert reply(only_foreign, ["PCMU"]).media[0].formats == ["0"]


def test_answer_srtp_needs_crypto_callback() -> None:
    offer = SessionDescription.parse(POLYCOM)
    with pytest.raises(SdpNotAcceptable):
        reply(offer, ["PCMU"])  # RTP/SAVP not in our protocols
    with pytest.raises(SdpNotAcceptable):
        reply(offer, ["PCMU"], protocols=("RTP/AVP", "RTP/SAVP"))  # no key material
    seen: list[list[str]] = []

    def crypto(media: MediaDescription) -> str:
        seen.append(media.attribute_values("crypto"))
        return "1 AES_CM_128_HMAC_SHA1_80 inline:ourKeyOurKeyOurKeyOurKeyOurKeyOurKeyOur"

    sd = reply(offer, ["PCMU"], protocols=("RTP/AVP", "RTP/SAVP"), srtp_crypto=crypto)
    (media,) = sd.media
    assert media.proto == "RTP/SAVP" and media.formats == ["0", "127"]
    assert media.attribute("crypto") == crypto(media)
    assert len(seen[0]) == 2


def test_answer_no_common_codec_is_488() -> None:
    offer = offer_with("m=audio 5004 RTP/AVP 18", "a=rtpmap:18 G729/8000")
    with pytest.raises(NotAcceptableHere) as info:
        reply(offer, ["PCMU", "PCMA"])
    assert info.value.status_code == 488 and isinstance(info.value, SdpError)
    with pytest.raises(ValueError):
        reply(offer, ["G729"])  # not in our codec table


def test_answer_same_mline_count_and_extra_audio_rejected() -> None:
    offer = offer_with(
        "m=audio 5004 RTP/AVP 0",
        "m=audio 0 RTP/AVP 0",
        "m=application 5006 UDP/BFCP *",
        "m=audio 5008 RTP/AVP 8",
    )
    sd = reply(offer, ["PCMU", "PCMA"])
    assert [(m.media, m.port) for m in sd.media] == [
        ("audio", 30000),
        ("audio", 0),
        ("application", 0),
        ("audio", 0),
    ]
    assert sd.media[2].formats == ["*"]
    assert offer.streams()[2].payload_types == () and offer.media[2].payload_types() == []
    two = reply(offer, ["PCMU", "PCMA"], max_audio_streams=2)
    assert [m.port for m in two.media] == [30000, 0, 0, 30002]


def test_answer_copies_offer_timing_and_rtcp_mux_on_request() -> None:
    offer = SessionDescription.parse(WEBRTC_ICE.replace(b"t=0 0", b"t=3034423619 3042462419"))
    sd = reply(offer, ["PCMU"], rtcp_mux=True, ptime=None)
    assert (sd.times[0].start, sd.times[0].stop) == (3034423619, 3042462419)
    assert sd.media[0].attribute("rtcp-mux") == ""
    assert sd.media[0].attribute("ptime") is None
    assert reply(offer, ["PCMU"]).media[0].attribute("rtcp-mux") is None


@pytest.mark.parametrize(
    ("offered", "ours", "expected"),
    [
        ("a=sendrecv", Direction.SENDRECV, Direction.SENDRECV),
        ("a=sendonly", Direction.SENDRECV, Direction.RECVONLY),
        ("a=recvonly", Direction.SENDRECV, Direction.SENDONLY),
        ("a=inactive", Direction.SENDRECV, Direction.INACTIVE),
        ("a=sendrecv", Direction.SENDONLY, Direction.SENDONLY),
        ("a=sendonly", Direction.SENDONLY, Direction.INACTIVE),
        ("a=recvonly", Direction.RECVONLY, Direction.INACTIVE),
    ],
)
def test_answer_direction(offered: str, ours: Direction, expected: Direction) -> None:
    sd = reply(offer_with("m=audio 5004 RTP/AVP 0", offered), ["PCMU"], direction=ours)
    assert sd.media[0].direction is expected
    assert sd.direction_for(sd.media[0]) is expected


def test_session_level_direction_and_hold_recognition() -> None:
    held = offer_with("m=audio 5004 RTP/AVP 0", session=("a=sendonly",))
    assert held.audio_streams()[0].is_hold
    assert reply(held, ["PCMU"]).media[0].direction is Direction.RECVONLY
    overridden = offer_with("m=audio 5004 RTP/AVP 0", "a=sendrecv", session=("a=sendonly",))
    assert not overridden.audio_streams()[0].is_hold
    inactive = offer_with("m=audio 5004 RTP/AVP 0", "a=inactive")
    assert inactive.audio_streams()[0].is_hold
    remote_recvonly = offer_with("m=audio 5004 RTP/AVP 0", "a=recvonly")
    assert not remote_recvonly.audio_streams()[0].is_hold


def test_rfc2543_hold_with_null_address() -> None:
    offer = offer_with("m=audio 5004 RTP/AVP 0", "c=IN IP4 0.0.0.0")
    (stream,) = offer.audio_streams()
    assert stream.is_hold and stream.is_hold_address and stream.address == "0.0.0.0"
    assert stream.direction is Direction.SENDRECV
    assert reply(offer, ["PCMU"]).media[0].direction is Direction.RECVONLY


# --- anchoring ---------------------------------------------------------------------------


def test_anchor_rewrites_addresses_ports_and_origin() -> None:
    local = LocalOrigin("198.51.100.1", session_id="777")
    out = anchor(SessionDescription.parse(LINPHONE), "198.51.100.1", [40000, 40002], origin=local)
    assert out.origin == Origin("-", "777", 1, "198.51.100.1")
    assert out.connection == Connection("198.51.100.1")
    audio, video = out.streams()
    assert (audio.address, audio.port, audio.rtcp_port) == ("198.51.100.1", 40000, 40001)
    assert video.port == 40002
    assert out.media[0].attribute("rtcp") is None  # removed: RTCP on port + 1
    assert out.media[0].formats == SessionDescription.parse(LINPHONE).media[0].formats
    assert out.session_name == "Talk" and out.attribute("rtcp-xr") is not None


def test_anchor_rtcp_ice_crypto_and_rejected_streams() -> None:
    local = LocalOrigin("2001:db8::1")
    offer = SessionDescription.parse(WEBRTC_ICE)
    offer.media.append(MediaDescription("video", 0, "RTP/AVP", ["96"]))
    out = anchor(offer, "2001:db8::1", [40000, 40002], origin=local, rtcp_ports=[40001, None])
    assert out.media[0].attribute("rtcp") == "40001 IN IP6 2001:db8::1"
    assert out.media[1].port == 0
    names = {a.name for a in out.attributes} | {a.name for m in out.media for a in m.attributes}
    assert not names & {"candidate", "ice-ufrag", "ice-pwd", "ice-options"}
    assert out.media[0].connections == [] and out.origin.addrtype == "IP6"
    polycom = anchor(SessionDescription.parse(POLYCOM), "2001:db8::1", [40004], origin=local)
    assert len(polycom.audio_streams()[0].crypto) == 2
    with pytest.raises(ValueError):
        anchor(offer, "2001:db8::1", [40000], origin=local)


def test_anchor_turns_null_address_hold_into_sendonly() -> None:
    offer = offer_with("m=audio 5004 RTP/AVP 0", "c=IN IP4 0.0.0.0")
    out = anchor(offer, "198.51.100.1", [40000], origin=LocalOrigin("198.51.100.1"))
    (stream,) = out.audio_streams()
    assert stream.address == "198.51.100.1" and stream.direction is Direction.SENDONLY
    assert stream.is_hold


def test_session_version_increments_only_on_change() -> None:
    local = LocalOrigin("198.51.100.1")
    first = anchor(SessionDescription.parse(BARESIP), "198.51.100.1", [40000], origin=local)
    again = anchor(SessionDescription.parse(BARESIP), "198.51.100.1", [40000], origin=local)
    assert first.origin.version == again.origin.version == 1
    assert first.origin.session_id == again.origin.session_id
    held = SessionDescription.parse(BARESIP)
    held.media[0].direction = Direction.SENDONLY
    third = anchor(held, "198.51.100.1", [40000], origin=local)
    assert third.origin.version == 2 and third.media[0].direction is Direction.SENDONLY
    resumed = anchor(SessionDescription.parse(BARESIP), "198.51.100.1", [40000], origin=local)
    assert resumed.origin.version == 3
    assert bytes(resumed).replace(b" 3 IN", b" 1 IN") == bytes(first)
    # stamping a locally built answer uses the same counter
    assert local.stamp(reply(SessionDescription.parse(SIPP), ["PCMU"])).origin.version == 4


def test_anchor_with_caller_managed_origin() -> None:
    origin = Origin.ours("198.51.100.1")
    bumped = origin.next_version()
    assert (bumped.session_id, bumped.version, origin.version) == (origin.session_id, 2, 1)
    out = anchor(SessionDescription.parse(SIPP), "198.51.100.1", [40000], bumped)
    assert out.origin == bumped and out.audio_streams()[0].port == 40000


def test_first_audio_includes_rejected_and_skips_other_media() -> None:
    offer = offer_with("m=video 5006 RTP/AVP 96", "m=audio 0 RTP/AVP 0")
    first = offer.first_audio()
    assert first is not None and first.index == 1 and first.port == 0
    assert offer.audio_streams() == []
    assert offer_with("m=video 5006 RTP/AVP 96").first_audio() is None


def test_local_origin_fits_rfc3264_limits() -> None:
    origin = LocalOrigin("192.0.2.9").origin
    assert 0 < int(origin.session_id) < 2**62 - 1 and origin.version == 1
    assert Direction.SENDONLY.mirrored() is Direction.RECVONLY


# --- fuzzing -----------------------------------------------------------------------------


def _parse_or_sdp_error(data: bytes) -> None:
    try:
        parsed = SessionDescription.parse(data)
    except SdpError as exc:
        assert exc.status_code in (400, 488)
    else:
        assert SessionDescription.parse(bytes(parsed)) == parsed
        for stream in parsed.streams():
            assert 0 <= stream.port <= 65535


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_fuzz_arbitrary_bytes(data: bytes) -> None:
    _parse_or_sdp_error(data)


@settings(max_examples=500, deadline=None)
@given(
    st.sampled_from(sorted(VECTORS)),
    st.integers(0, 600),
    st.integers(0, 10),
    st.binary(max_size=10),
)
def test_fuzz_mutated_real_sdps(name: str, position: int, cut: int, insert: bytes) -> None:
    data = VECTORS[name]
    _parse_or_sdp_error(data[:position] + insert + data[position + cut :])
