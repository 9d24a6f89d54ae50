"""Media anchoring for a B2BUA call: both legs' SDP are rewritten so RTP flows through us.

The call never touches sockets: it asks a :class:`MediaFactory` for a :class:`MediaSession`
(the relay in ``centralita.media`` implements both) and rewrites SDP bodies through a
:class:`MediaAnchor`. Each side of the call sees one stable SDP origin of ours whose version
increases with every change we send on that side (RFC 3264 §8).

Theory of operation (RFC 3264 offer/answer across two dialogs). Each body crossing the call is
an offer or an answer; the anchor keeps the pending offer so it can tell them apart, and the
last exchange so that an answer seen twice (an unreliable 18x then the 2xx, RFC 3261 §13.2.1)
gives the same result. When the session can transform media (:class:`TransformingSession`):

* an offer going to the other leg keeps the offerer's codecs first and gains, after them, the
  codecs we can transcode from (``available_codecs()``) that it lacks, so an answerer sharing
  a codec with the offerer still picks that one and media pass untouched;
* an answer that picks a codec the offerer did not list is answered to the offerer with one of
  the offerer's own codecs, and the relay transcodes both directions
  (:mod:`centralita.media.transform`);
* SRTP ends at the anchor on each leg (SDES, RFC 4568): a leg that offers RTP/SAVP (or a=crypto
  on RTP/AVP, :data:`SrtpPolicy`) gets our own a=crypto with a fresh key in the answer, and the
  offer towards a leg carries our own keys as that leg's extension policy says. Keys are never
  passed from one leg to the other.

A session without the transform hook gets the previous behaviour: codecs and a=crypto pass
through, the phones negotiate end to end.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

from centralita.media.codecs import available_codecs, codec_for
from centralita.media.srtp import (
    CryptoAttribute,
    NoAcceptableCrypto,
    SrtpParams,
    answer_crypto,
    crypto_offer,
    params_from_answer,
)
from centralita.media.transform import DirectionPlan, MediaPlan, PayloadRoute
from centralita.sip import offer_answer, sdp

SENDRECV = sdp.Direction.SENDRECV

# Per extension: "off" never uses SRTP towards the phone (a phone's own SRTP offer is still
# answered); "optional" offers RTP/AVP with a=crypto, the best-effort SDES that Asterisk,
# FreeSWITCH and most phones understand (a phone without SRTP ignores the unknown attribute,
# RFC 8866 §5.13, and answers plain RTP; a strict RFC 4568 §5.1.1 reading uses keys on
# RTP/SAVP only, so such a phone may also ignore them); "required" offers RTP/SAVP only and
# refuses (488) a plain offer from the phone.
SrtpPolicy = Literal["off", "optional", "required"]
OfferOrAnswer = Literal["offer", "answer"]


class Side(enum.Enum):
    A = "a"  # faces the caller
    B = "b"  # faces the callee

    @property
    def other(self) -> Side:
        return Side.B if self is Side.A else Side.A


class MediaSession(Protocol):
    def local_port(self, side: Side) -> int: ...

    def set_remote(
        self, side: Side, rtp: tuple[str, int], rtcp: tuple[str, int] | None
    ) -> None: ...

    def set_hold(self, on_hold: bool) -> None: ...

    def close(self) -> None: ...


@runtime_checkable
class TransformingSession(MediaSession, Protocol):
    """A session that can transcode and terminate SRTP (``RelaySession.set_media_plan``)."""

    def set_media_plan(self, plan: MediaPlan | None) -> None: ...


class MediaFactory(Protocol):
    media_ip: str  # where the relay listens; "0.0.0.0" or "::" when on every interface

    def create(self, on_inactive: Callable[[], None]) -> MediaSession: ...


@dataclass(slots=True)
class _Offer:
    """What we remember of an offer between relaying it and relaying its answer."""

    source: Side
    index: int  # the anchored audio m-line
    offered: tuple[sdp.PayloadType, ...]  # what the offerer can receive, its numbers
    proto: str  # the offerer's transport protocol, mirrored in our answer to it
    crypto_to_offerer: CryptoAttribute | None  # our a=crypto for the answer to the offerer
    offerer_srtp: SrtpParams | None
    crypto_to_answerer: tuple[CryptoAttribute, ...]  # the a=crypto lines we offered onwards
    transform: bool  # False: relayed as it was, phones negotiate end to end


@dataclass(slots=True)
class _Exchange:
    offer: _Offer
    answerer: Side
    origin: tuple[str, int]  # the answer's o= session id and version


class MediaAnchor:
    """Rewrites each SDP crossing the call so that the far side sends RTP to us.

    Only the first audio stream is relayed; any other m-line (video, a second audio stream)
    goes out with port 0, which RFC 3264 §5.1 and §6 define as "offered/accepted but not to
    be used", so no phone sends media we would not relay.

    ``srtp`` is the SRTP policy of the extension on each side (default "off": a phone's own
    SRTP offer is still answered); ``codecs`` what we offer to transcode from (default
    ``available_codecs()``).
    """

    def __init__(
        self,
        session: MediaSession,
        addresses: dict[Side, str],
        *,
        srtp: Mapping[Side, SrtpPolicy] | None = None,
        codecs: Sequence[str] | None = None,
    ) -> None:
        self.session = session
        self.addresses = addresses  # our media address as each side reaches it
        self.srtp: dict[Side, SrtpPolicy] = {Side.A: "off", Side.B: "off"}
        self.srtp.update(srtp or {})
        self.codecs = list(available_codecs() if codecs is None else codecs)
        self._origins = {side: offer_answer.LocalOrigin(addresses[side]) for side in Side}
        self._pending: _Offer | None = None
        self._last: _Exchange | None = None
        self._legs: dict[Side, SrtpParams | None] = {side: None for side in Side}
        self._ours: dict[Side, tuple[CryptoAttribute, ...]] = {side: () for side in Side}

    @property
    def transforms(self) -> bool:
        return isinstance(self.session, TransformingSession)

    def relay(self, body: bytes, source: Side, kind: OfferOrAnswer | None = None) -> bytes:
        """Learn where ``source`` wants RTP from its SDP; return the SDP for the other side.

        ``kind`` says whether ``body`` is an offer or an answer; without it the anchor infers
        it: an answer to the pending offer of the other side, an answer repeated (same o=
        version, same answerer), else an offer. ``SdpNotAcceptable`` (488) for an offer we
        cannot relay (no audio, SRTP the extension requires missing or unusable).
        """
        description = sdp.SessionDescription.parse(body)
        offer = self._offer_answered_by(description, source, kind)
        if offer is None:
            return bytes(self._relay_offer(description, source))
        return bytes(self._relay_answer(description, source, offer))

    def offer_rejected(self) -> None:
        """The pending offer got a failure response (RFC 3264 §8: the session stays as it
        was); forget it so the next body is taken for a new offer."""
        self._pending = None

    def close(self) -> None:
        self.session.close()

    # ---- offer or answer? ----------------------------------------------------------------

    def _offer_answered_by(
        self, description: sdp.SessionDescription, source: Side, kind: OfferOrAnswer | None
    ) -> _Offer | None:
        pending, last = self._pending, self._last
        if kind == "offer":
            return None
        if pending is not None and pending.source is source.other:
            return pending
        repeated = last is not None and last.answerer is source
        if kind == "answer" and repeated and last is not None:
            return last.offer
        if kind is None and repeated and last is not None and last.origin == _origin(description):
            return last.offer
        if kind == "answer":
            raise sdp.SdpError("an SDP answer without an offer")
        return None

    # ---- offers ------------------------------------------------------------------------

    def _relay_offer(
        self, description: sdp.SessionDescription, source: Side
    ) -> sdp.SessionDescription:
        audio = self._learn(description, source)
        media = description.media[audio]
        target = source.other
        transform = self.transforms and media.proto in ("RTP/AVP", "RTP/SAVP")
        offer = _Offer(
            source=source,
            index=audio,
            offered=tuple(media.payload_types()),
            proto=media.proto,
            crypto_to_offerer=None,
            offerer_srtp=None,
            crypto_to_answerer=(),
            transform=transform,
        )
        self._check_srtp_policy(media, source)
        out = self._anchored(description, target, audio)
        if transform:
            self._srtp_from_offerer(media, offer)
            self._offer_onwards(out.media[audio], offer)
        self._pending = offer
        return self._origins[target].stamp(out)

    def _check_srtp_policy(self, media: sdp.MediaDescription, source: Side) -> None:
        has_keys = "SAVP" in media.proto or bool(media.attribute_values("crypto"))
        if self.srtp[source] == "required" and not has_keys:
            # RFC 3261 §21.4.26 / RFC 4568 §7.1.2: the session as offered is not acceptable.
            raise sdp.SdpNotAcceptable("this extension requires SRTP (RTP/SAVP with a=crypto)")

    def _srtp_from_offerer(self, media: sdp.MediaDescription, offer: _Offer) -> None:
        offered = media.attribute_values("crypto")
        if "SAVP" not in media.proto and not offered:
            return
        previous = self._legs[offer.source]
        try:
            ours, params = answer_crypto(offered)
        except NoAcceptableCrypto:
            if "SAVP" in media.proto or self.srtp[offer.source] == "required":
                raise sdp.SdpNotAcceptable("no a=crypto line we support (RFC 4568)") from None
            return  # best-effort SDES on RTP/AVP: answer plain RTP
        if previous is not None and (previous.suite, previous.remote_key) == (
            params.suite,
            params.remote_key,
        ):
            # The same keys offered again (a re-INVITE): keep ours, so the running SRTP
            # contexts and their replay state stay valid (RFC 4568 §7.1.4).
            ours = CryptoAttribute(ours.tag, ours.suite, previous.local_key, ours.lifetime)
            params = previous
        offer.crypto_to_offerer, offer.offerer_srtp = ours, params

    def _offer_onwards(self, media: sdp.MediaDescription, offer: _Offer) -> None:
        target = offer.source.other
        media.remove_attributes("crypto")
        policy = self.srtp[target]
        media.proto = "RTP/SAVP" if policy == "required" else "RTP/AVP"
        if policy != "off":
            ours = self._ours[target] if self._legs[target] is not None else ()
            ours = ours or tuple(crypto_offer())
            offer.crypto_to_answerer = ours
            media.attributes += [sdp.Attribute("crypto", str(line)) for line in ours]
        if any(_decodable(pt) for pt in offer.offered):
            _append_codecs(media, _extra_codecs(offer.offered, self.codecs))

    # ---- answers -------------------------------------------------------------------------

    def _relay_answer(
        self, description: sdp.SessionDescription, source: Side, offer: _Offer
    ) -> sdp.SessionDescription:
        audio = self._learn(description, source)
        self._pending = None
        self._last = _Exchange(offer, source, _origin(description))
        out = self._anchored(description, offer.source, audio)
        if not offer.transform:
            return self._origins[offer.source].stamp(out)
        media = description.media[audio]
        answerer_srtp = self._srtp_from_answerer(media, offer)
        chosen = _answer_for_offerer(offer.offered, media.payload_types())
        _rewrite_answer(out.media[audio], chosen, offer)
        self._legs[offer.source], self._legs[source] = offer.offerer_srtp, answerer_srtp
        self._ours[source] = offer.crypto_to_answerer if answerer_srtp else ()
        self._install(offer, chosen, media.payload_types())
        return self._origins[offer.source].stamp(out)

    def _srtp_from_answerer(self, media: sdp.MediaDescription, offer: _Offer) -> SrtpParams | None:
        lines = media.attribute_values("crypto")
        if not offer.crypto_to_answerer or not lines:
            if self.srtp[offer.source.other] == "required" or "SAVP" in media.proto:
                raise sdp.SdpNotAcceptable("the answer lacks the SRTP keys the offer required")
            return None  # best-effort SDES declined: plain RTP on this leg
        try:
            return params_from_answer(offer.crypto_to_answerer, lines[0])
        except (NoAcceptableCrypto, ValueError):
            raise sdp.SdpNotAcceptable("the answer's a=crypto matches nothing we offered") from None

    def _install(
        self,
        offer: _Offer,
        chosen: list[sdp.PayloadType],
        answered: list[sdp.PayloadType],
    ) -> None:
        assert isinstance(self.session, TransformingSession)
        to_answerer = _direction(chosen, answered)
        to_offerer = _direction(answered, chosen)
        a_to_b, b_to_a = (
            (to_answerer, to_offerer) if offer.source is Side.A else (to_offerer, to_answerer)
        )
        plan = MediaPlan(self._legs[Side.A], self._legs[Side.B], a_to_b, b_to_a)
        self.session.set_media_plan(None if plan.is_passthrough else plan)

    # ---- both ----------------------------------------------------------------------------

    def _anchored(
        self, description: sdp.SessionDescription, target: Side, audio: int
    ) -> sdp.SessionDescription:
        port = self.session.local_port(target)
        ports = [port if index == audio else 0 for index in range(len(description.media))]
        # Stamped with our o= once the rewriting is done (the version follows the result).
        origin = self._origins[target].origin
        return offer_answer.anchor(description, self.addresses[target], ports, origin)

    def _learn(self, description: sdp.SessionDescription, source: Side) -> int:
        for index, media in enumerate(description.media):
            if media.media == "audio" and media.port != 0:
                stream = description.streams()[index]
                if not stream.is_hold_address:
                    self.session.set_remote(source, stream.rtp_address, stream.rtcp_address)
                # Any one-way or inactive stream may legitimately carry no RTP at all (a phone
                # on hold need not send music), so the inactivity watchdog pauses.
                self.session.set_hold(stream.is_hold or stream.direction is not SENDRECV)
                return index
        raise sdp.SdpNotAcceptable("no audio stream in the session description")


# ---- codec decisions (RFC 3264 §6.1) ----------------------------------------------------


def _origin(description: sdp.SessionDescription) -> tuple[str, int]:
    return description.origin.session_id, description.origin.version


def _spec(pt: sdp.PayloadType) -> str:
    channels = f"/{pt.channels}" if pt.channels != 1 else ""
    return f"{pt.encoding}/{pt.clock_rate}{channels}"


def _same(one: sdp.PayloadType, other: sdp.PayloadType) -> bool:
    # RFC 8866 §6.6: encoding names are case-insensitive; rate and channels must agree.
    return (one.encoding.lower(), one.clock_rate, one.channels) == (
        other.encoding.lower(),
        other.clock_rate,
        other.channels,
    )


def _decodable(pt: sdp.PayloadType) -> bool:
    return not pt.is_telephone_event and codec_for(_spec(pt)) is not None


def _extra_codecs(
    offered: Sequence[sdp.PayloadType], names: Sequence[str]
) -> list[sdp.PayloadType]:
    """The codecs of ``names`` the offer lacks, numbered as RFC 3551 §6 has them or with a
    dynamic number (96-127) the offer does not use."""
    used = {pt.number for pt in offered}
    extra: list[sdp.PayloadType] = []
    for name in names:
        codec = codec_for(name)
        if codec is None:
            continue
        pt = sdp.PayloadType(-1, codec.name, codec.clock_rate, codec.channels)
        if any(_same(pt, have) for have in [*offered, *extra]):
            continue
        number = codec.payload_type
        if number is None or number in used:
            number = next(n for n in range(96, 128) if n not in used)
        used.add(number)
        extra.append(sdp.PayloadType(number, codec.name, codec.clock_rate, codec.channels))
    return extra


def _append_codecs(media: sdp.MediaDescription, extra: Sequence[sdp.PayloadType]) -> None:
    """After the offerer's own formats, so it keeps its preference (RFC 3264 §5.1)."""
    media.formats += [str(pt.number) for pt in extra]
    maps = [i for i, a in enumerate(media.attributes) if a.name in ("rtpmap", "fmtp")]
    at = maps[-1] + 1 if maps else 0
    media.attributes[at:at] = [sdp.Attribute("rtpmap", pt.rtpmap()) for pt in extra]


def _answer_for_offerer(
    offered: Sequence[sdp.PayloadType], answered: Sequence[sdp.PayloadType]
) -> list[sdp.PayloadType]:
    """The formats of our answer to the offerer, in its numbering: the codecs the answerer
    picked that the offerer listed, else the offerer's first codec we can transcode to; its
    telephone-event when the answerer took one (RFC 4733 §7.1.1) at the codec's clock."""
    picked = [pt for pt in answered if not pt.is_telephone_event]
    chosen: list[sdp.PayloadType] = []
    for pt in picked:
        chosen += [o for o in offered if _same(o, pt) and o not in chosen][:1]
    if not chosen:
        fallback = [o for o in offered if _decodable(o)][:1]
        if not fallback or not any(_decodable(pt) for pt in picked):
            raise sdp.SdpNotAcceptable("the answer picked a codec we cannot transcode")
        chosen = fallback
    if any(pt.is_telephone_event for pt in answered):
        events = [o for o in offered if o.is_telephone_event]
        chosen += [o for o in events if o.clock_rate == chosen[0].clock_rate][:1]
    return chosen


def _rewrite_answer(
    media: sdp.MediaDescription, chosen: Sequence[sdp.PayloadType], offer: _Offer
) -> None:
    media.formats = [str(pt.number) for pt in chosen]
    media.proto = offer.proto  # RFC 3264 §6: the answer's transport is the offer's
    media.remove_attributes("rtpmap", "fmtp", "crypto")
    formats = [sdp.Attribute("rtpmap", pt.rtpmap()) for pt in chosen]
    formats += [sdp.Attribute("fmtp", f"{pt.number} {pt.fmtp}") for pt in chosen if pt.fmtp]
    media.attributes[0:0] = formats
    if offer.crypto_to_offerer is not None:
        media.attributes.append(sdp.Attribute("crypto", str(offer.crypto_to_offerer)))


def _direction(
    sent: Sequence[sdp.PayloadType], accepted: Sequence[sdp.PayloadType]
) -> DirectionPlan:
    """Routes for what one leg may send (``sent``, its numbers) to a leg that takes
    ``accepted`` (its numbers): same codec passes, another is transcoded to the first one
    accepted, telephone-event maps to telephone-event; the rest is dropped."""
    codecs = [pt for pt in accepted if not pt.is_telephone_event]
    event = next((pt for pt in accepted if pt.is_telephone_event), None)
    routes: dict[int, PayloadRoute] = {}
    for pt in sent:
        if pt.is_telephone_event:
            if event is not None:
                routes[pt.number] = PayloadRoute(
                    event.number, pt.clock_rate, event.clock_rate, event=True
                )
            continue
        same = next((c for c in codecs if _same(c, pt)), None)
        if same is not None:
            routes[pt.number] = PayloadRoute(same.number, pt.clock_rate, same.clock_rate)
        elif codecs and _decodable(pt) and _decodable(codecs[0]):
            target = codecs[0]
            transcode = (_spec(pt), _spec(target))
            routes[pt.number] = PayloadRoute(
                target.number, pt.clock_rate, target.clock_rate, transcode
            )
    return DirectionPlan.of(routes)
