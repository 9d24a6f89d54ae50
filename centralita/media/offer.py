"""The SDP offer our own RTP endpoint makes, and reading the answer to it (RFC 3264 §5, §7).

Used when the PBX places a call itself (the ``dial`` verb ringing a phone or a carrier) and
terminates its media. The offer holds one audio stream: every codec this installation has, in
:data:`~centralita.media.negotiation.PREFERRED` order (static payload types for G.711 and
G.722, a dynamic one for Opus), RFC 4733 telephone-event at each clock rate offered (an event
stream must share its codec's clock, RFC 4733 §7.1.1), and, for SRTP, RTP/SAVP with SDES
keys (RFC 4568 §7.1.1). The answer then fixes what the stream runs: the answerer's first
codec among those we offered, its telephone-event payload type, where to send, and the SRTP
keys of the crypto line it chose. The result is the same :class:`NegotiatedMedia` the answer
side gives, so the endpoint is started the same way whichever side made the offer.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass

from centralita.media.codecs import available_codecs, codec_for
from centralita.media.negotiation import PREFERRED, NegotiatedMedia
from centralita.media.srtp import (
    CryptoAttribute,
    CryptoParseError,
    NoAcceptableCrypto,
    SrtpParams,
    crypto_offer,
    params_from_answer,
)
from centralita.sip import offer_answer, sdp
from centralita.sip.offer_answer import CODECS, LocalOrigin

# RFC 3551 §3: 96-127 are dynamic; these are the numbers most phones use for them.
_DYNAMIC_PAYLOAD_TYPES = {"opus": 111}
_TELEPHONE_EVENT_PAYLOAD_TYPES = {8000: 101, 48000: 110}
_EVENTS = "0-16"  # RFC 4733 §3.2: DTMF 0-15 and flash
_PTIME = 20


@dataclass(frozen=True)
class LocalOffer:
    body: bytes  # the SDP offer
    crypto: list[CryptoAttribute]  # what we offered (empty without SRTP)


def make_offer(
    address: str,
    port: int,
    origin: LocalOrigin,
    *,
    srtp: bool = False,
    codecs: Sequence[str] | None = None,
) -> LocalOffer:
    """Our offer for media at ``address``:``port``. ``codecs`` narrows (and orders) what is
    offered; names we cannot run are left out, and ``ValueError`` says when none is left."""
    names = _codecs_to_offer(codecs)
    payload_types = [_payload_type(name) for name in names]
    for rate in dict.fromkeys(pt.clock_rate for pt in payload_types):
        number = _TELEPHONE_EVENT_PAYLOAD_TYPES[rate]
        payload_types.append(sdp.PayloadType(number, "telephone-event", rate, 1, _EVENTS))
    attributes = [sdp.Attribute("rtpmap", pt.rtpmap()) for pt in payload_types]
    attributes += [
        sdp.Attribute("fmtp", f"{pt.number} {pt.fmtp}") for pt in payload_types if pt.fmtp
    ]
    attributes.append(sdp.Attribute("ptime", str(_PTIME)))
    crypto = crypto_offer() if srtp else []
    attributes += [sdp.Attribute("crypto", str(line)) for line in crypto]
    attributes.append(sdp.Attribute(sdp.Direction.SENDRECV.value))
    media = sdp.MediaDescription(
        "audio",
        port,
        "RTP/SAVP" if srtp else "RTP/AVP",
        [str(pt.number) for pt in payload_types],
        attributes=attributes,
    )
    description = sdp.SessionDescription(
        origin=copy.copy(origin.origin),
        connection=sdp.Connection.for_host(address),
        media=[media],
    )
    return LocalOffer(bytes(origin.stamp(description)), crypto)


def accept_answer(offer: LocalOffer, answer: bytes) -> NegotiatedMedia:
    """What the stream runs after the far end answered ``offer`` with ``answer``.

    ``SdpError`` (400) for an answer that is not SDP or does not mirror the offer's m-lines,
    ``SdpNotAcceptable`` (488) for one that rejects the stream, names no codec we offered, or
    lacks usable SRTP keys for an SRTP offer."""
    ours = _our_stream(offer)
    description = sdp.SessionDescription.parse(answer)
    # RFC 3264 §6: the answer has exactly as many m-lines as the offer, in the same order.
    if len(description.media) != 1:
        raise sdp.SdpError(f"the answer has {len(description.media)} m-lines for our one")
    theirs = description.streams()[0]
    if theirs.media != "audio" or theirs.port == 0:
        raise sdp.SdpNotAcceptable("the answer rejects our audio stream")  # RFC 3264 §6
    if theirs.proto != ours.proto:
        raise sdp.SdpNotAcceptable(f"the answer turned {ours.proto} into {theirs.proto}")
    chosen = _chosen_codec(ours, theirs)
    codec = codec_for(chosen.encoding)
    if codec is None:  # cannot happen for a codec we offered, unless the offer is stale
        raise sdp.SdpNotAcceptable(f"codec {chosen.encoding} is not available")
    return NegotiatedMedia(
        answer=answer,
        remote=theirs.rtp_address,
        # We offered no a=rtcp-mux, so RTCP goes where a=rtcp says or to port + 1 (RFC 3605).
        rtcp=theirs.rtcp_address,
        codec=codec.fresh(),
        payload_type=chosen.number,
        telephone_event=_telephone_event(ours, theirs, chosen.clock_rate),
        srtp=_srtp(offer, theirs),
        on_hold=theirs.is_hold or theirs.direction is not sdp.Direction.SENDRECV,
    )


def _codecs_to_offer(codecs: Sequence[str] | None) -> list[str]:
    available = {name.lower(): name for name in available_codecs()}
    wanted = PREFERRED if codecs is None else codecs
    names: list[str] = []
    for name in wanted:
        have = available.get(name.lower())
        if have is not None and have in CODECS and have not in names:
            names.append(have)
    if not names:
        raise ValueError(f"none of the codecs {list(wanted)} is available")
    return names


def _payload_type(name: str) -> sdp.PayloadType:
    codec = CODECS[name]
    number = codec.static_payload_type
    if number is None:
        number = _DYNAMIC_PAYLOAD_TYPES[name]
    return sdp.PayloadType(number, codec.name, codec.clock_rate, codec.channels)


def _our_stream(offer: LocalOffer) -> sdp.MediaStream:
    stream = sdp.SessionDescription.parse(offer.body).first_audio()
    if stream is None:
        raise ValueError("the offer has no audio stream")
    return stream


def _same_format(a: sdp.PayloadType, b: sdp.PayloadType) -> bool:
    # RFC 8866 §6.6: encoding names compare case-insensitively; rate and channels must agree.
    return offer_answer.Codec(a.encoding, a.clock_rate, None, a.channels).matches(b)


def _chosen_codec(ours: sdp.MediaStream, theirs: sdp.MediaStream) -> sdp.PayloadType:
    """RFC 3264 §7: the answerer lists what it will receive in its preference; the first of
    those that we offered is what we send, with the answer's payload type number."""
    for pt in theirs.codecs:
        if any(_same_format(pt, offered) for offered in ours.codecs):
            return pt
    raise sdp.SdpNotAcceptable("the answer names no codec we offered")


def _telephone_event(ours: sdp.MediaStream, theirs: sdp.MediaStream, rate: int) -> int | None:
    offered = {pt.clock_rate for pt in ours.payload_types if pt.is_telephone_event}
    for pt in theirs.payload_types:
        if pt.is_telephone_event and pt.clock_rate == rate and rate in offered:
            return pt.number  # RFC 4733 §7.1.1: events at the audio codec's clock rate
    return None


def _srtp(offer: LocalOffer, theirs: sdp.MediaStream) -> SrtpParams | None:
    if not offer.crypto:
        return None
    # RFC 4568 §7.1.3: the answer carries exactly one crypto line, with one of our tags.
    if len(theirs.crypto) != 1:
        raise sdp.SdpNotAcceptable(f"an SRTP answer needs one a=crypto, not {len(theirs.crypto)}")
    try:
        return params_from_answer(offer.crypto, theirs.crypto[0])
    except (CryptoParseError, NoAcceptableCrypto) as error:
        raise sdp.SdpNotAcceptable(f"unusable SRTP answer: {error}") from None
