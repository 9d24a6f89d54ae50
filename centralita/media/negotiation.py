"""Answering a caller's SDP offer for a call the PBX terminates itself (RFC 3264 §6).

The PBX picks one audio codec of the offer (in our preference: wideband G.722 first, then
G.711), keeps telephone-event when offered (RFC 4733), and answers RTP/SAVP offers with SDES
keys of its own (RFC 4568 §5.1.2). The result says everything the RTP endpoint needs.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING

from centralita.media.codecs import available_codecs, codec_for
from centralita.media.codecs_base import Codec
from centralita.media.srtp import NoAcceptableCrypto, SrtpParams, answer_crypto
from centralita.sip import offer_answer, sdp

if TYPE_CHECKING:
    from centralita.media.rtp_endpoint import MediaEndpoint

# Wideband first; Opus last because encoding it costs ten times G.722's CPU.
PREFERRED = ("G722", "PCMU", "PCMA", "opus")


@dataclass(frozen=True, slots=True)
class NegotiatedMedia:
    answer: bytes
    remote: tuple[str, int]
    rtcp: tuple[str, int] | None
    codec: Codec
    payload_type: int
    telephone_event: int | None
    srtp: SrtpParams | None
    on_hold: bool


def answer_offer(
    offer: bytes,
    address: str,
    port: int,
    origin: offer_answer.LocalOrigin,
    *,
    current: NegotiatedMedia | None = None,
) -> NegotiatedMedia:
    """Our answer to ``offer`` for media at ``address``:``port``; ``SdpError`` (400/488) when
    the offer is malformed or shares nothing with us. For a re-offer (``current`` given) the
    running codec stays first choice and our SRTP key is kept (RFC 4568 §7.1.4 allows it),
    so the stream carries on unchanged through hold and resume."""
    description = sdp.SessionDescription.parse(offer)
    keys: list[SrtpParams] = []

    def crypto(media: sdp.MediaDescription) -> str | None:
        try:
            attribute, params = answer_crypto(media.attribute_values("crypto"))
        except NoAcceptableCrypto:
            return None
        if current is not None and current.srtp is not None:
            attribute = dataclasses.replace(attribute, key=current.srtp.local_key)
            params = dataclasses.replace(params, local_key=current.srtp.local_key)
        keys.append(params)
        return str(attribute)

    available = set(available_codecs())
    preferred = [name for name in PREFERRED if name in available]
    if current is not None and current.codec.name in preferred:
        preferred.remove(current.codec.name)
        preferred.insert(0, current.codec.name)
    answered = offer_answer.answer(
        description,
        preferred,
        address=address,
        port=port,
        origin=origin.origin,
        protocols=("RTP/AVP", "RTP/SAVP"),
        srtp_crypto=crypto,
    )
    answered = origin.stamp(answered)
    mine = answered.first_audio()
    theirs = description.first_audio()
    if mine is None or theirs is None or not mine.codecs:
        raise sdp.SdpNotAcceptable("no audio stream we can take")
    chosen = mine.codecs[0]
    codec = codec_for(chosen.encoding)
    if codec is None:
        raise sdp.SdpNotAcceptable(f"codec {chosen.encoding} is not available")
    event = mine.telephone_event
    srtp = keys[-1] if mine.proto.upper() == "RTP/SAVP" and keys else None
    return NegotiatedMedia(
        answer=bytes(answered),
        remote=theirs.rtp_address,
        rtcp=None if theirs.rtcp_mux else theirs.rtcp_address,
        codec=codec.fresh(),
        payload_type=chosen.number,
        telephone_event=event.number if event is not None else None,
        srtp=srtp,
        on_hold=theirs.is_hold or theirs.direction is not sdp.Direction.SENDRECV,
    )


def answer_reoffer(
    offer: bytes,
    endpoint: MediaEndpoint,
    origin: offer_answer.LocalOrigin,
    current: NegotiatedMedia,
) -> bytes:
    """Our answer to a new offer in a running call (hold, resume, a session refresh; RFC 3264
    §8), applied to ``endpoint``: the running codec is kept, and so is our SRTP key. An offer
    without that codec is refused (SdpNotAcceptable) and the session stays as it was (RFC
    3261 §14.2): the endpoint keeps its codec for the whole call."""
    media = answer_offer(offer, origin.origin.address, endpoint.local_port, origin, current=current)
    if media.codec.name != current.codec.name:
        raise sdp.SdpNotAcceptable(f"the call continues with {current.codec.name}")
    endpoint.update_remote(media.remote, media.rtcp)
    endpoint.set_hold(media.on_hold)
    return media.answer
