"""Requests inside an established call, re-issued on the other leg (re-INVITE, UPDATE, INFO).

Theory of operation. A B2BUA cannot forward a mid-call request as a proxy would: each leg is
its own dialog (RFC 3261 §12), so the request is re-created on the other leg's dialog and its
final response carried back as the response to the original (RFC 7092 §3.1 calls this
"signaling-only B2BUA" behaviour for re-INVITE and UPDATE). SDP bodies are rewritten on the
way so media stays anchored. One INVITE may be pending per call; a second gets 491 Request
Pending (RFC 3261 §14.2). For a relayed re-INVITE the 2xx towards the far side is ACKed by us,
and the originator's ACK for our 2xx is absorbed here (or carries the answer of a late offer).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from centralita.calls.media import OfferOrAnswer, Side
from centralita.calls.signalling import Signalling
from centralita.sip.message import Request, Response
from centralita.sip.transaction import TransactionKey

if TYPE_CHECKING:
    from centralita.calls.call import Call, Leg

RelaySdp = Callable[["Call", bytes, Side, OfferOrAnswer], bytes]

# Header fields that carry meaning end to end for the relayed methods.
_COPIED_HEADERS = ("Content-Type", "Event", "Info-Package", "Subject", "Reason")


@dataclass(slots=True)
class PendingRelay:
    call: Call
    origin: Side
    request: Request
    key: TransactionKey
    outgoing: Request


@dataclass(slots=True)
class AwaitedAck:
    """Our 2xx to a relayed re-INVITE: its ACK is absorbed, or carries a late answer on."""

    cseq: int
    deferred: Request | None  # the ACK for the far side, waiting for the answer in this ACK


class InDialogRelay:
    def __init__(self, signalling: Signalling) -> None:
        self.sig = signalling
        self.pending: dict[TransactionKey, PendingRelay] = {}
        self.awaited: dict[tuple[str, Side], AwaitedAck] = {}

    def forward(
        self,
        call: Call,
        side: Side,
        request: Request,
        key: TransactionKey,
        now: float,
        relay_sdp: RelaySdp,
    ) -> None:
        other = call.legs.get(side.other)
        if other is None:
            self.sig.reply(request, key, 481, now=now)
            return
        if request.method == "INVITE" and self._invite_pending(call):
            self.sig.reply(request, key, 491, now=now)  # RFC 3261 §14.2
            return
        if request.method not in ("INVITE", "UPDATE", "INFO", "OPTIONS", "MESSAGE", "NOTIFY"):
            self.sig.reply(request, key, 501, now=now)
            return
        outgoing = self._recreate(call, other, side, request, relay_sdp)
        out_key = self.sig.send_request(outgoing, other.peer, now)
        self.pending[out_key] = PendingRelay(call, side, request, key, outgoing)

    def _invite_pending(self, call: Call) -> bool:
        return any(p.call is call and p.request.method == "INVITE" for p in self.pending.values())

    def _recreate(
        self, call: Call, other: Leg, side: Side, request: Request, relay_sdp: RelaySdp
    ) -> Request:
        # §12.2.1.1: the dialog adds our Contact to target refresh requests.
        outgoing = other.dialog.create_request(request.method, via=self.sig.via(other.peer))
        for name in _COPIED_HEADERS:
            value = request.headers.get(name)
            if value is not None:
                outgoing.headers.set(name, value)
        if request.body:
            outgoing.body = (
                relay_sdp(call, request.body, side, "offer") if _is_sdp(request) else request.body
            )
        return outgoing

    def on_response(
        self, key: TransactionKey, response: Response, now: float, relay_sdp: RelaySdp
    ) -> bool:
        relay = self.pending.get(key)
        if relay is None:
            return False
        if response.status == 100:
            return True
        if response.status >= 200:
            del self.pending[key]
        body = response.body
        if body and _is_sdp(response):
            kind: OfferOrAnswer = "answer" if relay.request.body else "offer"
            body = relay_sdp(relay.call, body, relay.origin.other, kind)
        elif response.status >= 300 and relay.request.body and relay.call.anchor is not None:
            relay.call.anchor.offer_rejected()  # RFC 3264 §8: the session stays as it was
        origin_leg = relay.call.legs[relay.origin]
        self.sig.reply(
            relay.request,
            relay.key,
            response.status,
            now=now,
            reason=response.reason,
            body=body,
            content_type=response.headers.get("Content-Type"),
            dest=origin_leg.peer,
        )
        if relay.request.method == "INVITE" and 200 <= response.status < 300:
            self._ack_far_side(relay, response, now)
        return True

    def _ack_far_side(self, relay: PendingRelay, response: Response, now: float) -> None:
        far = relay.call.legs[relay.origin.other]
        far.dialog.receive_response("INVITE", response)
        origin = relay.call.legs[relay.origin]
        origin.dialog.confirm_target_refresh(relay.request)
        ack = self.sig.build_ack(far, relay.outgoing)
        deferred: Request | None = None
        if not relay.request.body and response.body:
            deferred = ack  # late offer: the answer comes in the originator's ACK
        else:
            far.ack_for_2xx = self.sig.send_ack(far, ack, b"", now)
        origin_key = (relay.request.call_id, relay.origin)
        self.awaited[origin_key] = AwaitedAck(relay.request.cseq.number, deferred)

    def on_ack(
        self, call: Call, leg: Leg, request: Request, now: float, relay_sdp: RelaySdp
    ) -> bool:
        awaited = self.awaited.get((request.call_id, leg.side))
        if awaited is None or awaited.cseq != request.cseq.number:
            return False
        del self.awaited[(request.call_id, leg.side)]
        if awaited.deferred is not None:
            far = call.legs[leg.side.other]
            body = relay_sdp(call, request.body, leg.side, "answer") if request.body else b""
            far.ack_for_2xx = self.sig.send_ack(far, awaited.deferred, body, now)
        return True

    def on_timeout(self, key: TransactionKey, now: float) -> bool:
        relay = self.pending.pop(key, None)
        if relay is None:
            return False
        self.sig.reply(relay.request, relay.key, 408, now=now)
        return True

    def forget(self, call: Call) -> None:
        for key in [k for k, p in self.pending.items() if p.call is call]:
            del self.pending[key]
        for leg in call.legs.values():
            self.awaited.pop((leg.dialog.call_id, leg.side), None)


def _is_sdp(message: Request | Response) -> bool:
    return (message.content_type or "") == "application/sdp"
