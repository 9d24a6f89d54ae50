"""The back-to-back user agent: places calls, relays what crosses them, ends them cleanly.

Theory of operation. :class:`B2bua` is the transaction user (RFC 3261 §17) for everything
about calls. The core hands it an authenticated, routed INVITE (:meth:`place_call`) and every
transaction event that belongs to a call; it answers with requests and responses through the
transaction layer. Responses of the callee are relayed to the caller (§16.7's choice of the
best final response when every fork failed), in-dialog requests (BYE, re-INVITE, UPDATE,
INFO) are re-issued on the other leg's dialog and their responses carried back, and every SDP
body is rewritten so that RTP flows through the PBX (:mod:`centralita.calls.media`).

Nothing here does I/O: time comes in as ``now``, media comes from an injected factory, the
call log from an injected sink.
"""

from __future__ import annotations

import heapq
import itertools
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from centralita.calls.call import Call, CallInput, CallState, Fork, Leg, Party
from centralita.calls.media import MediaAnchor, MediaFactory, OfferOrAnswer, Side
from centralita.calls.recording import CallRecording
from centralita.calls.relay import InDialogRelay
from centralita.calls.signalling import Signalling
from centralita.logs import call_logger
from centralita.records.outcome import CallSummary, Outcome
from centralita.sip import sdp
from centralita.sip.address import Address
from centralita.sip.dialog import Dialog
from centralita.sip.errors import BusyHere
from centralita.sip.message import Request, Response, new_tag
from centralita.sip.transaction import TransactionKey
from centralita.store.entities import SrtpPolicy

# RFC 3261 §16.7 step 6, as most UAs rank them: a callee that is busy is the most useful thing
# to tell the caller, then a decline, then "not available", then anything else.
_PREFERRED_FAILURES = (486, 600, 603, 480, 404, 408, 487)


class CallLogSink(Protocol):
    def call_ended(self, summary: CallSummary) -> None: ...


@dataclass(frozen=True, slots=True)
class CallTarget:
    """A routed call: who calls whom, and where the callee's phones are."""

    tenant_id: int
    tenant_name: str
    domain: str
    caller: Party
    callee: Party
    contacts: list[tuple[str, Address]]  # (Contact URI, where its REGISTER came from)
    call_waiting: bool = False


class B2bua:
    def __init__(
        self,
        signalling: Signalling,
        media: MediaFactory,
        call_log: CallLogSink,
        *,
        ring_timeout: float = 60.0,
        recordings: Path | None = None,
    ) -> None:
        self.sig = signalling
        self.recordings = recordings  # where call recordings go; None: calls are not recorded
        self.media = media
        self.call_log = call_log
        self.ring_timeout = ring_timeout
        self.calls_by_invite: dict[TransactionKey, Call] = {}
        self.forks_by_key: dict[TransactionKey, tuple[Call, Fork]] = {}
        self.legs_by_dialog: dict[tuple[str, str], tuple[Call, Side]] = {}
        self.busy: Counter[tuple[int, str]] = Counter()
        self.relay = InDialogRelay(signalling)
        self._inactive: list[Call] = []
        self._ring_timeouts: list[tuple[float, int, Call]] = []  # heap: deadline, order, call
        self._order = itertools.count()

    # ---- placing a call -------------------------------------------------------------------

    def place_call(
        self, invite: Request, key: TransactionKey, source: Address, target: CallTarget, now: float
    ) -> None:
        if not target.call_waiting and self.busy[(target.tenant_id, target.callee.number)] > 0:
            raise BusyHere(f"{target.callee.number} is in a call")
        call = self._new_call(invite, key, source, target, now)
        self.calls_by_invite[key] = call
        assert call.ring_deadline is not None
        heapq.heappush(self._ring_timeouts, (call.ring_deadline, next(self._order), call))
        self._count(call, +1)
        offer = self._offer_for_b(call, invite.body)
        for contact, dest in target.contacts:
            self._fork(call, contact, dest, offer, now)
        call.log.info(
            "call placed",
            extra={
                "fields": {
                    "caller": call.caller.number,
                    "callee": call.callee.number,
                    "forks": len(call.forks),
                }
            },
        )

    def _new_call(
        self, invite: Request, key: TransactionKey, source: Address, target: CallTarget, now: float
    ) -> Call:
        anchor = None
        if invite.body:
            session = self.media.create(lambda: self._inactive.append(call))
            anchor = MediaAnchor(session, self._media_addresses(source, target), srtp=_srtp(target))
        call = Call(
            call_id=invite.call_id,
            tenant_id=target.tenant_id,
            tenant_name=target.tenant_name,
            domain=target.domain,
            caller=target.caller,
            callee=target.callee,
            invite=invite,
            invite_key=key,
            caller_address=source,
            a_tag=new_tag(),
            anchor=anchor,
            started_at=now,
            ring_deadline=now + self.ring_timeout,
            log=call_logger("centralita.calls", tenant=target.tenant_name, call_id=invite.call_id),
        )
        call.trace.append(
            {"node": "extension", "number": target.callee.number, "contacts": len(target.contacts)}
        )
        recorded = target.caller.record_calls or target.callee.record_calls
        if recorded and self.recordings is not None:
            call.recording = CallRecording(self.recordings)
        return call

    def _offer_for_b(self, call: Call, body: bytes) -> bytes:
        if not body:
            return b""  # late offer: the callee's 2xx will carry the offer (RFC 3261 §13.2.1)
        assert call.anchor is not None
        try:
            return call.anchor.relay(body, Side.A, "offer")
        except sdp.SdpError:
            call.anchor.close()
            raise

    def _fork(self, call: Call, contact: str, dest: Address, offer: bytes, now: float) -> None:
        request = self.sig.outgoing_invite(call, contact, dest, offer)
        key = self.sig.send_request(request, dest, now)
        fork = Fork(contact=contact, dest=dest, request=request, key=key)
        call.forks.append(fork)
        self.forks_by_key[key] = (call, fork)

    # ---- responses from the callee's side --------------------------------------------------

    def on_fork_response(self, key: TransactionKey, response: Response, now: float) -> bool:
        found = self.forks_by_key.get(key)
        if found is None:
            return False
        call, fork = found
        if response.status < 200:
            self._on_provisional(call, fork, response, now)
        elif response.status < 300:
            self._on_fork_answer(call, fork, response, now)
        else:
            self._on_fork_failure(call, fork, response.status, now)
        return True

    def on_stray_2xx(self, response: Response, now: float) -> bool:
        """A 2xx outside any transaction (§13.2.2.4): a fork that answered after another had
        won, or after its INVITE transaction ended. It is ACKed and hung up at once."""
        for call in self.calls_by_invite.values():
            for fork in call.forks:
                if fork.request.call_id == response.call_id and fork is not call.winner:
                    self._hang_up_late_answer(fork, Dialog.from_uac(fork.request, response), now)
                    return True
        return False

    def _on_provisional(self, call: Call, fork: Fork, response: Response, now: float) -> None:
        if response.status == 100 or not call.admits(CallInput.PROVISIONAL):
            return
        if response.to.tag:
            fork.dialog = Dialog.from_uac(fork.request, response)
        body = b""
        if response.body and call.anchor is not None and not call.early_sdp_sent:
            body = self._relay_sdp(call, response.body, Side.B, "answer")  # RFC 3960
            call.early_sdp_sent = bool(body)
        if response.status == call.provisional_sent and not body:
            return
        call.advance(CallInput.PROVISIONAL)
        call.provisional_sent = response.status
        self.sig.respond(call, response.status, response.reason, body=body, now=now)

    def _on_fork_answer(self, call: Call, fork: Fork, response: Response, now: float) -> None:
        fork.final_status = response.status
        dialog = Dialog.from_uac(fork.request, response)
        fork.dialog = dialog
        if call.winner is not None or not call.admits(CallInput.ANSWER):
            self._hang_up_late_answer(fork, dialog, now)
            return
        call.winner = fork
        call.answered_at = now
        call.advance(CallInput.ANSWER)
        b_leg = Leg(side=Side.B, dialog=dialog, peer=fork.dest)
        call.legs[Side.B] = b_leg
        self.legs_by_dialog[(dialog.call_id, dialog.local_tag)] = (call, Side.B)
        try:
            body = self._answer_body(call, b_leg, response, now)
        except sdp.SdpError as error:
            self._refuse_answer(call, b_leg, fork, error, now)
            return
        a_dialog = self.sig.answer(call, body, now)
        call.legs[Side.A] = Leg(side=Side.A, dialog=a_dialog, peer=call.caller_address)
        self.legs_by_dialog[(a_dialog.call_id, a_dialog.local_tag)] = (call, Side.A)
        call.log.info("call answered", extra={"fields": {"by": fork.contact}})
        self._start_recording(call, now)
        self._cancel_forks(call, except_fork=fork, now=now)

    def _answer_body(self, call: Call, b_leg: Leg, response: Response, now: float) -> bytes:
        assert call.winner is not None
        invite = call.winner.request
        if not response.body:
            b_leg.ack_for_2xx = self.sig.ack(b_leg, invite, b"", now)
            return b""
        if call.invite.body:  # the 2xx carries the callee's answer: ACK it at once
            body = self._relay_sdp(call, response.body, Side.B, "answer")
            b_leg.ack_for_2xx = self.sig.ack(b_leg, invite, b"", now)
            return body
        # Late offer: the 2xx holds the callee's offer, the caller answers in its ACK; the ACK
        # towards the callee waits for that answer (RFC 3261 §13.2.1, RFC 3264 §4).
        session = self.media.create(lambda: self._inactive.append(call))
        addresses = {
            Side.A: self.media_ip(call.caller_address),
            Side.B: self.media_ip(b_leg.peer),
        }
        srtp: dict[Side, SrtpPolicy] = {Side.A: call.caller.srtp, Side.B: call.callee.srtp}
        call.anchor = MediaAnchor(session, addresses, srtp=srtp)
        b_leg.deferred_ack = self.sig.build_ack(b_leg, invite)
        return self._relay_sdp(call, response.body, Side.B, "offer")

    def _refuse_answer(
        self, call: Call, b_leg: Leg, fork: Fork, error: sdp.SdpError, now: float
    ) -> None:
        """The callee answered with SDP we cannot relay (e.g. no keys for the SRTP the caller
        requires): the callee's 2xx is ACKed and hung up, the caller gets the SDP error."""
        if b_leg.deferred_ack is not None:
            self.sig.send_ack(b_leg, b_leg.deferred_ack, b"", now)
        elif b_leg.ack_for_2xx is None:
            self.sig.ack(b_leg, fork.request, b"", now)
        call.answered_at = None
        self.sig.bye(b_leg, now, reason=f"unacceptable SDP: {error.detail}")
        self.legs_by_dialog.pop((b_leg.dialog.call_id, b_leg.dialog.local_tag), None)
        call.legs.pop(Side.B, None)
        self.sig.respond(call, error.status_code, error.reason, now=now)
        self._cancel_forks(call, except_fork=fork, now=now)
        self._end(call, Outcome.FAILED, f"{error.status_code} {error.detail}", now)

    def _hang_up_late_answer(self, fork: Fork, dialog: Dialog, now: float) -> None:
        leg = Leg(side=Side.B, dialog=dialog, peer=fork.dest)
        self.sig.ack(leg, fork.request, b"", now)
        self.sig.bye(leg, now, reason="call completed elsewhere")

    def _on_fork_failure(self, call: Call, fork: Fork, status: int, now: float) -> None:
        fork.final_status = status
        self.forks_by_key.pop(fork.key, None)
        if call.pending_forks or call.state not in (CallState.TRYING, CallState.RINGING):
            return
        statuses = [f.final_status or 500 for f in call.forks]
        best = _best_failure(statuses)
        outcome = _failure_outcome(best)
        call.advance(CallInput.ALL_FORKS_FAILED)
        self.sig.respond(call, best, None, now=now)
        self._end(call, outcome, f"{best} from callee", now)

    def on_fork_timeout(self, key: TransactionKey, now: float) -> bool:
        found = self.forks_by_key.get(key)
        if found is None:
            return False
        call, fork = found
        self._on_fork_failure(call, fork, 408, now)
        return True

    # ---- requests from the caller's side before answer ---------------------------------

    def cancel(self, invite_key: TransactionKey, now: float) -> bool:
        """The caller sent CANCEL for its INVITE (RFC 3261 §9.2): 487 and cancel the forks."""
        call = self.calls_by_invite.get(invite_key)
        if call is None or not call.admits(CallInput.CANCEL):
            return False
        call.advance(CallInput.CANCEL)
        self.sig.respond(call, 487, None, now=now)
        self._cancel_forks(call, except_fork=None, now=now)
        self._end(call, Outcome.CANCELLED, "cancelled by caller", now)
        return True

    def _cancel_forks(self, call: Call, except_fork: Fork | None, now: float) -> None:
        for fork in call.pending_forks:
            if fork is not except_fork and not fork.cancel_sent:
                fork.cancel_sent = True
                self.sig.cancel(fork.key, now)

    # ---- in-dialog requests --------------------------------------------------------------

    def on_in_dialog_request(
        self, request: Request, key: TransactionKey | None, source: Address, now: float
    ) -> bool:
        found = self._leg_for(request.call_id, request.to.tag)
        if found is None:
            return False
        call, side = found
        leg = call.legs.get(side)
        if leg is None:
            return False
        if request.method == "ACK":
            self._on_ack(call, leg, request, now)
            return True
        assert key is not None
        leg.dialog.receive_request(request)
        leg.peer = source if side is Side.A else leg.peer
        if request.method == "BYE":
            self._on_bye(call, side, request, key, now)
        else:
            self.relay.forward(call, side, request, key, now, self._relay_sdp)
        return True

    def _on_ack(self, call: Call, leg: Leg, request: Request, now: float) -> None:
        if self.relay.on_ack(call, leg, request, now, self._relay_sdp):
            return  # the ACK for a relayed re-INVITE's 2xx
        if leg.side is not Side.A or not call.admits(CallInput.ACK):
            return
        call.advance(CallInput.ACK)
        b_leg = call.legs[Side.B]
        if b_leg.deferred_ack is not None:
            body = self._relay_sdp(call, request.body, Side.A, "answer") if request.body else b""
            b_leg.ack_for_2xx = self.sig.send_ack(b_leg, b_leg.deferred_ack, body, now)
            b_leg.deferred_ack = None

    def _on_bye(
        self, call: Call, side: Side, request: Request, key: TransactionKey, now: float
    ) -> None:
        self.sig.reply(request, key, 200, now=now)
        if not call.admits(CallInput.BYE):
            return
        call.advance(CallInput.BYE)
        other = call.legs.get(side.other)
        if other is not None:
            self.sig.bye(other, now)
        who = "caller" if side is Side.A else "callee"
        self._end(call, Outcome.ANSWERED, f"BYE from {who}", now)

    def on_relayed_response(self, key: TransactionKey, response: Response, now: float) -> bool:
        return self.relay.on_response(key, response, now, self._relay_sdp)

    def on_relayed_timeout(self, key: TransactionKey, now: float) -> bool:
        return self.relay.on_timeout(key, now)

    # ---- ending ------------------------------------------------------------------------------

    def on_ack_timeout(self, call_id: str, now: float) -> None:
        """No ACK for our 2xx within 64*T1 (§13.3.1.4): the dialog ends with a BYE."""
        for call in list(self.calls_by_invite.values()):
            if call.call_id == call_id and call.admits(CallInput.ACK_TIMEOUT):
                call.advance(CallInput.ACK_TIMEOUT)
                self._bye_both(call, now)
                self._end(call, Outcome.ANSWERED, "no ACK from caller", now)

    def check_media(self, now: float) -> None:
        while self._inactive:
            call = self._inactive.pop()
            if call.admits(CallInput.MEDIA_INACTIVE):
                call.advance(CallInput.MEDIA_INACTIVE)
                self._bye_both(call, now, reason="RTP timeout")
                self._end(call, Outcome.ANSWERED, "RTP inactivity", now)

    def get_timer(self) -> float | None:
        """The earliest ring timeout. The driver asks after every message, so this is a heap
        look-up; entries of calls answered or ended meanwhile are dropped lazily."""
        while self._ring_timeouts:
            deadline, _, call = self._ring_timeouts[0]
            if call.admits(CallInput.RING_TIMEOUT):
                return deadline
            heapq.heappop(self._ring_timeouts)
        return None

    def handle_timer(self, now: float) -> None:
        while self._ring_timeouts and self._ring_timeouts[0][0] <= now:
            _, _, call = heapq.heappop(self._ring_timeouts)
            if call.admits(CallInput.RING_TIMEOUT):
                call.advance(CallInput.RING_TIMEOUT)
                # RFC 3261 §13.3.1.1: a UAS that gives up on an unanswered INVITE may say 480.
                self.sig.respond(call, 480, "No Answer", now=now)
                self._cancel_forks(call, except_fork=None, now=now)
                self._end(call, Outcome.NO_ANSWER, "ring timeout", now)

    def _bye_both(self, call: Call, now: float, reason: str | None = None) -> None:
        for leg in call.legs.values():
            self.sig.bye(leg, now, reason=reason)

    def _end(self, call: Call, outcome: Outcome, cause: str, now: float) -> None:
        call.finish(outcome, cause, now)
        if call.state is not CallState.ENDED:
            call.state = CallState.ENDED
        self._count(call, -1)
        if call.anchor is not None:
            call.anchor.close()
        self.calls_by_invite.pop(call.invite_key, None)
        for fork in call.forks:
            if not fork.pending:
                self.forks_by_key.pop(fork.key, None)
        self.forget_dialogs(call)
        self.relay.forget(call)
        self.call_log.call_ended(self._summary(call))
        call.log.info("call ended", extra={"fields": {"outcome": outcome.value, "cause": cause}})

    def forget_dialogs(self, call: Call) -> None:
        for leg in call.legs.values():
            self.legs_by_dialog.pop((leg.dialog.call_id, leg.dialog.local_tag), None)

    def _summary(self, call: Call) -> CallSummary:
        assert call.outcome is not None and call.ended_at is not None
        return CallSummary(
            tenant_id=call.tenant_id,
            call_id=call.call_id,
            caller=call.caller.number,
            caller_name=call.caller.name,
            callee=call.callee.number,
            callee_name=call.callee.name,
            callee_is_extension=True,
            started_at=call.started_at,
            answered_at=call.answered_at,
            ended_at=call.ended_at,
            outcome=call.outcome,
            hangup_cause=call.hangup_cause,
            answered_by=call.callee.number if call.answered_at is not None else None,
            routing_trace=call.trace,
            recording=None if call.recording is None else call.recording.link,
        )

    # ---- small pieces ------------------------------------------------------------------------

    def _media_addresses(self, caller: Address, target: CallTarget) -> dict[Side, str]:
        callee = target.contacts[0][1] if target.contacts else caller
        return {Side.A: self.media_ip(caller), Side.B: self.media_ip(callee)}

    def media_ip(self, peer: Address) -> str:
        """The address a peer reaches our relay at: the relay's own when it is bound to one,
        else the local address the system routes towards that peer from."""
        if self.media.media_ip not in ("0.0.0.0", "::"):
            return self.media.media_ip
        return self.sig.network.local_address(peer.transport, peer.host)[0]

    def _relay_sdp(
        self, call: Call, body: bytes, source: Side, kind: OfferOrAnswer | None = None
    ) -> bytes:
        if call.anchor is None:
            return body
        relayed = call.anchor.relay(body, source, kind)
        if call.recording is not None:
            call.recording.learn(source, body, relayed)
        return relayed

    def _start_recording(self, call: Call, now: float) -> None:
        recording = call.recording
        if recording is None or call.anchor is None:
            return
        if recording.start(call.anchor.session, call.tenant_name, call.call_id, now):
            call.log.info("recording", extra={"fields": {"path": recording.link}})
        else:
            call.log.warning("call not recorded: the media session cannot record")

    def _leg_for(self, call_id: str, local_tag: str | None) -> tuple[Call, Side] | None:
        if local_tag is None:
            return None
        return self.legs_by_dialog.get((call_id, local_tag))

    def _count(self, call: Call, delta: int) -> None:
        for number in (call.caller.number, call.callee.number):
            self.occupy(call.tenant_id, number, delta)

    def occupy(self, tenant_id: int, number: str, delta: int) -> None:
        """Count ``number`` in one more (+1) or one fewer (-1) call: the B2BUA's own calls,
        and those the dial plan routes, so that both see the same busy state."""
        self.busy[(tenant_id, number)] += delta
        if self.busy[(tenant_id, number)] <= 0:
            del self.busy[(tenant_id, number)]

    def is_busy(self, tenant_id: int, number: str) -> bool:
        return self.busy[(tenant_id, number)] > 0


def _best_failure(statuses: list[int]) -> int:
    for preferred in _PREFERRED_FAILURES:
        if preferred in statuses:
            return preferred
    six = [s for s in statuses if s >= 600]
    return min(six) if six else min(statuses)


def _failure_outcome(status: int) -> Outcome:
    if status in (486, 600, 603):
        return Outcome.REJECTED
    if status in (404, 484):
        return Outcome.NOT_REACHABLE
    if status in (408, 480, 503):
        return Outcome.NOT_REACHABLE
    return Outcome.FAILED


def _srtp(target: CallTarget) -> dict[Side, SrtpPolicy]:
    return {Side.A: target.caller.srtp, Side.B: target.callee.srtp}
