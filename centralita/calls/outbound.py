"""Calls the PBX places itself: the SIP side of the ``dial`` verb (the PBX as UAC).

Theory of operation. For such a call the PBX is the UAC of one INVITE dialog (RFC 3261
§13.2) towards a registered phone or a carrier, and the far end of its media. An
:class:`OutboundCall` is driven from two directions: the application (an asyncio task behind
``CallContext.dial``) commands :meth:`OutboundCalls.place` and :meth:`OutboundCalls.hang_up`;
the network delivers responses, transaction time-outs and in-dialog requests, which
:class:`OutboundCalls` turns into calls on the call's :class:`OutboundListener`. States, with
the inputs each admits (``_TRANSITIONS``):

    CALLING ──1xx──▶ EARLY ──2xx (ACKed at once, §13.2.2.4)──▶ CONFIRMED ──BYE / hang_up──▶ ENDED
      │  ▲ 401/407: one retry with credentials (§22.2)             │
      ├──┴──────────┴── 300-699 / time-out ─────────────────────────┼────────────────────▶ ENDED
      └── hang_up ──▶ CANCELLING ── final response / 2xx (ACK+BYE) / time-out ──────────▶ ENDED

A CANCEL may only follow a provisional response (§9.1); the transaction layer holds it back
until one arrives, and drops it when a final response comes first. A 2xx that crosses our
CANCEL is ACKed and ended with BYE, as is a 2xx from a second fork (§13.2.2.4). The listener
hears exactly one closing fact per call: ``failed`` before an answer, ``ended`` after one.

In-dialog requests (ours and the far end's) go to the address the INVITE went to
(``OutboundTarget.dest``: the binding's received address, or the carrier), as the B2BUA does
for its legs: behind NAT, the Contact a phone puts in its 2xx is often not reachable.

Nothing here does I/O; time comes in as ``now``.
"""

from __future__ import annotations

import enum
import heapq
import itertools
from collections import deque
from dataclasses import dataclass, field
from typing import Protocol

from centralita.calls.signalling import ALLOW, USER_AGENT, Signalling
from centralita.logs import CallLogger, call_logger
from centralita.sip.address import Address
from centralita.sip.auth import MalformedCredentials, canonical_algorithm
from centralita.sip.auth_client import DigestChallenge, build_authorization, parse_challenge
from centralita.sip.dialog import Dialog
from centralita.sip.errors import SipError
from centralita.sip.message import (
    Headers,
    Request,
    Response,
    Uri,
    new_call_id,
    new_tag,
    parse_message,
)
from centralita.sip.sdp import SdpError
from centralita.sip.transaction import TransactionKey


class OutState(enum.Enum):
    CALLING = "calling"
    EARLY = "early"
    CANCELLING = "cancelling"
    CONFIRMED = "confirmed"
    ENDED = "ended"


class OutInput(enum.Enum):
    PROVISIONAL = "provisional"
    CHALLENGE = "challenge"
    ANSWER = "answer"
    FAIL = "fail"
    HANG_UP = "hang_up"
    BYE = "bye"
    ACK_TIMEOUT = "ack_timeout"


St, In = OutState, OutInput
_TRANSITIONS: dict[tuple[OutState, OutInput], OutState] = {
    (St.CALLING, In.PROVISIONAL): St.EARLY,
    (St.CALLING, In.CHALLENGE): St.CALLING,
    (St.CALLING, In.ANSWER): St.CONFIRMED,
    (St.CALLING, In.FAIL): St.ENDED,
    (St.CALLING, In.HANG_UP): St.CANCELLING,
    (St.EARLY, In.PROVISIONAL): St.EARLY,
    (St.EARLY, In.CHALLENGE): St.CALLING,
    (St.EARLY, In.ANSWER): St.CONFIRMED,
    (St.EARLY, In.FAIL): St.ENDED,
    (St.EARLY, In.HANG_UP): St.CANCELLING,
    (St.CANCELLING, In.PROVISIONAL): St.CANCELLING,
    (St.CANCELLING, In.ANSWER): St.ENDED,  # the 2xx crossed our CANCEL: ACK + BYE
    (St.CANCELLING, In.FAIL): St.ENDED,
    (St.CONFIRMED, In.HANG_UP): St.ENDED,
    (St.CONFIRMED, In.BYE): St.ENDED,
    (St.CONFIRMED, In.ACK_TIMEOUT): St.ENDED,
}
del St, In

_LOGGER = "centralita.outbound"
_Key = TransactionKey
# The INFO bodies we take (SIP INFO DTMF), as for the calls the PBX answers.
INFO_ACCEPT = "application/dtmf-relay, application/dtmf"
# Methods we know but do not take inside this dialog: 405 with Allow (§21.4.6), else 501.
_KNOWN_METHODS = frozenset(
    {"REGISTER", "SUBSCRIBE", "NOTIFY", "REFER", "PRACK", "MESSAGE", "PUBLISH", "CANCEL"}
)


@dataclass(frozen=True, slots=True)
class OutboundTarget:
    tenant_id: int
    tenant_name: str
    request_uri: str  # a registered contact, or "sip:+34600111222@carrier.example"
    dest: Address  # where to send: the binding's received address, or the carrier
    from_uri: str
    from_name: str | None
    to_uri: str
    body: bytes  # our SDP offer (may be b"")
    credentials: tuple[str, str] | None = None  # (username, password) for a 401/407
    headers: tuple[tuple[str, str], ...] = ()  # extra headers, e.g. P-Asserted-Identity
    call_id: str | None = None  # default: a new one


class OutboundListener(Protocol):
    """What the application side is told, inside the sans-I/O driver; each fact once. A call
    closes with exactly one ``failed`` (never answered) or ``ended`` (after ``answered``)."""

    # A 18x; ``body`` is an early SDP answer (RFC 3960) or b"".
    def progressed(self, status: int, body: bytes) -> None:
        """A provisional response: 100 Trying (from the next hop) or an 18x (body: early
        SDP answer, or empty)."""
        ...

    # A 2xx, already ACKed; ``body`` is the SDP answer.
    def answered(self, body: bytes) -> None: ...

    # A final non-2xx, 408 for a time-out, 487 after our CANCEL, 503 for a transport failure.
    def failed(self, status: int, reason: str) -> None: ...

    # After ``answered``: BYE from the far end, no ACK for our 2xx, or our hang_up.
    def ended(self, cause: str) -> None: ...

    # A mid-call INFO (e.g. DTMF, RFC 6086); returns the response status.
    def info_received(self, request: Request) -> int: ...

    # A re-INVITE's (or UPDATE's) SDP offer; returns our answer (raise SdpError to refuse).
    def offer_received(self, body: bytes) -> bytes: ...


@dataclass(slots=True)
class OutboundCall:
    target: OutboundTarget
    listener: OutboundListener
    invite: Request  # the latest INVITE (the one with credentials after a challenge)
    key: TransactionKey  # its client transaction
    tag: str  # our From tag
    started_at: float
    log: CallLogger
    state: OutState = OutState.CALLING
    dialog: Dialog | None = None
    acks: dict[str, Request] = field(default_factory=dict)  # our ACK for each 2xx, by To tag
    local_sdp: bytes = b""  # what we last sent: the offer, or our answer to a re-offer
    auth_attempts: int = 0
    last_progress: tuple[int, bytes] | None = None
    answered_at: float | None = None
    linger_until: float = 0.0  # 2xx from other forks are ACKed and ended until then
    cancel_key: TransactionKey | None = None

    @property
    def call_id(self) -> str:
        return self.invite.call_id

    @property
    def peer(self) -> Address:
        return self.target.dest

    def advance(self, event: OutInput) -> bool:
        """Take ``event`` if the state admits it; False (and no change) otherwise."""
        next_state = _TRANSITIONS.get((self.state, event))
        if next_state is None:
            return False
        self.state = next_state
        return True


class OutboundCalls:
    """Every call the PBX places, by INVITE transaction, by dialog and by Call-ID."""

    def __init__(self, signalling: Signalling) -> None:
        self.sig = signalling
        # §13.2.2.4: the UAC core keeps taking 2xx for 64*T1 after the first one; §9.1: a
        # cancelled INVITE without a final response is given up after as long.
        self.linger = 64 * signalling.layer.timers.t1
        self.by_invite: dict[TransactionKey, OutboundCall] = {}
        self.by_dialog: dict[tuple[str, str], OutboundCall] = {}
        self.by_call_id: dict[str, OutboundCall] = {}
        self.requests: dict[TransactionKey, OutboundCall] = {}  # our BYEs and CANCELs
        self._lingering: list[tuple[float, int, OutboundCall]] = []  # heap
        self._order = itertools.count()
        self._cancel_deadlines: deque[tuple[float, OutboundCall]] = deque()

    def calls(self) -> int:
        """How many calls are live (not yet failed or ended)."""
        return sum(1 for call in self.by_call_id.values() if call.state is not OutState.ENDED)

    # ---- commands from the application ------------------------------------------------------

    def place(self, target: OutboundTarget, listener: OutboundListener, now: float) -> OutboundCall:
        self._prune(now)
        tag = new_tag()
        invite = self._invite(target, tag)
        key = self.sig.send_request(invite, target.dest, now)
        call = OutboundCall(
            target=target,
            listener=listener,
            invite=invite,
            key=key,
            tag=tag,
            started_at=now,
            log=call_logger(_LOGGER, tenant=target.tenant_name, call_id=invite.call_id),
            local_sdp=target.body,
        )
        self.by_invite[key] = call
        self.by_call_id[call.call_id] = call
        call.log.info("placing call", extra={"fields": {"to": target.to_uri, "dest": target.dest}})
        return call

    def hang_up(self, call: OutboundCall, now: float, reason: str | None = None) -> None:
        """Before a final response: CANCEL (§9.1); after the answer: BYE. Idempotent."""
        if call.state is OutState.CONFIRMED:
            call.advance(OutInput.HANG_UP)
            self._bye(call, call.dialog, reason or "hung up by the PBX", now)
            self._ended(call, "hung up by the PBX", now)
        elif call.advance(OutInput.HANG_UP):  # CALLING or EARLY: now CANCELLING
            # The layer holds the CANCEL until a provisional arrives, and drops it when a final
            # response comes first (§9.1); a 2xx that crosses it is ACKed and ended with BYE.
            call.cancel_key = self.sig.layer.cancel(call.key, now)
            if call.cancel_key is not None:
                self.requests[call.cancel_key] = call
            self._cancel_deadlines.append((now + self.linger, call))
            call.log.info("cancelling", extra={"fields": {"reason": reason or ""}})

    # ---- responses and time-outs -------------------------------------------------------------

    def on_response(self, key: TransactionKey, response: Response, now: float) -> bool:
        self._prune(now)
        call = self.by_invite.get(key)
        if call is None:
            if response.cseq.method == "INVITE" and 200 <= response.status < 300:
                return self.on_stray_2xx(response, now)  # an INVITE we gave up on (§9.1)
            return self._on_request_response(key, response)
        status = response.status
        if status < 200:
            self._provisional(call, response)
        elif status < 300:
            self._answered(call, response, now)
        elif status in (401, 407) and self._retry_with_credentials(call, response, now):
            pass
        else:
            self._failed(call, status, response.reason, now)
        return True

    def on_timeout(self, key: TransactionKey, now: float) -> bool:
        """Timer B of our INVITE (§17.1.1.2), or Timer F of our BYE or CANCEL."""
        return self._on_no_response(key, 408, "Request Timeout", now)

    def on_transport_failed(self, key: TransactionKey, now: float) -> bool:
        """The transport could not carry our INVITE, BYE or CANCEL (§17.1.4; §8.1.3.1: 503)."""
        return self._on_no_response(key, 503, "Service Unavailable", now)

    def on_stray_2xx(self, response: Response, now: float) -> bool:
        """A 2xx outside any transaction (§13.2.2.4): a retransmission of the one we took
        (ACKed again), or a 2xx of another fork or one that crossed our CANCEL (ACK + BYE)."""
        self._prune(now)
        call = self.by_call_id.get(response.call_id)
        if call is None or response.from_.tag != call.tag or response.cseq.method != "INVITE":
            return False
        if response.cseq.number != call.invite.cseq.number:
            return False
        ack = call.acks.get(response.to.tag or "")
        if ack is not None:
            self.sig.layer.send_stateless(ack, call.peer, now)  # the same ACK again
        else:
            self._refuse_2xx(call, response, "call completed elsewhere", now)
        return True

    def on_ack_timeout(self, call_id: str, now: float) -> None:
        """No ACK for the 2xx we sent to the far end's re-INVITE (§13.3.1.4): BYE."""
        call = self.by_call_id.get(call_id)
        if call is not None and call.advance(OutInput.ACK_TIMEOUT):
            self._bye(call, call.dialog, "no ACK", now)
            self._ended(call, "no ACK from far end", now)

    def get_timer(self) -> float | None:
        """When :meth:`handle_timer` has something to do: a cancelled INVITE to give up."""
        deadlines = [self._cancel_deadlines[0][0]] if self._cancel_deadlines else []
        deadlines += [self._lingering[0][0]] if self._lingering else []
        return min(deadlines, default=None)

    def handle_timer(self, now: float) -> None:
        self._prune(now)

    # ---- in-dialog requests ------------------------------------------------------------------

    def on_in_dialog_request(
        self, request: Request, key: TransactionKey | None, source: Address, now: float
    ) -> bool:
        call = self.by_dialog.get((request.call_id, request.to.tag or ""))
        if call is None or call.dialog is None or request.from_.tag != call.dialog.remote_tag:
            return False
        if request.method == "ACK":
            return True  # for our 2xx to a re-INVITE; the layer stopped re-sending it
        assert key is not None
        try:
            call.dialog.receive_request(request)  # §12.2.2: CSeq order
        except SipError as error:
            self.sig.reply(request, key, error.status_code, now=now)
            return True
        handlers = {
            "BYE": self._on_bye,
            "INFO": self._on_info,
            "INVITE": self._on_offer,
            "UPDATE": self._on_offer,
            "OPTIONS": self._on_options,
        }
        handlers.get(request.method, self._not_here)(call, request, key, now)
        return True

    def _on_bye(self, call: OutboundCall, request: Request, key: _Key, now: float) -> None:
        self.sig.reply(request, key, 200, now=now)
        if call.advance(OutInput.BYE):
            self._ended(call, "BYE from far end", now)

    def _on_info(self, call: OutboundCall, request: Request, key: _Key, now: float) -> None:
        status = call.listener.info_received(request)
        # RFC 3261 §21.4.13: a 415 says which bodies we do take.
        accept = [("Accept", INFO_ACCEPT)] if status == 415 else []
        self.sig.reply(request, key, status, now=now, headers=accept)

    def _on_offer(self, call: OutboundCall, request: Request, key: _Key, now: float) -> None:
        """A re-INVITE or UPDATE (RFC 3311). With an offer, the listener answers it (RFC 3264
        §8); without one (a session refresh, RFC 4028), the 2xx repeats our last description
        as the offer (§14.2, RFC 6337 §5.3) and the answer in the ACK changes nothing."""
        assert call.dialog is not None
        body = call.local_sdp
        if request.body:
            try:
                body = call.listener.offer_received(request.body)
            except SdpError as error:
                self.sig.reply(request, key, error.status_code, now=now, reason=error.reason)
                return
            call.local_sdp = body
        call.dialog.confirm_target_refresh(request)
        self.sig.reply(request, key, 200, now=now, body=body, dest=call.peer)

    def _on_options(self, call: OutboundCall, request: Request, key: _Key, now: float) -> None:
        headers = [("Allow", ALLOW), ("Accept", "application/sdp")]  # §11.2
        self.sig.reply(request, key, 200, now=now, headers=headers)

    def _not_here(self, call: OutboundCall, request: Request, key: _Key, now: float) -> None:
        if request.method in _KNOWN_METHODS:
            self.sig.reply(request, key, 405, now=now, headers=[("Allow", ALLOW)])
        else:
            self.sig.reply(request, key, 501, now=now)

    # ---- the INVITE's responses --------------------------------------------------------------

    def _provisional(self, call: OutboundCall, response: Response) -> None:
        if response.status == 100:
            # Hop by hop: says nothing of the far end (§21.1.1), only that the network
            # answered (the dial verb tells "unreachable" from "no answer" by it).
            if call.state is not OutState.CANCELLING:
                call.listener.progressed(100, b"")
            return
        if response.to.tag and call.dialog is None:
            call.dialog = Dialog.from_uac(call.invite, response)  # an early dialog (§12.1.2)
        progress = (response.status, response.body)
        if not call.advance(OutInput.PROVISIONAL) or call.state is OutState.CANCELLING:
            return
        if progress == call.last_progress:
            return  # the same 18x again (§13.3.1.1 lets a UAS repeat it)
        call.last_progress = progress
        call.listener.progressed(response.status, response.body)

    def _answered(self, call: OutboundCall, response: Response, now: float) -> None:
        self.by_invite.pop(call.key, None)
        call.linger_until = now + self.linger
        if not call.advance(OutInput.ANSWER):
            return
        if call.state is OutState.ENDED:  # it crossed our CANCEL
            self._refuse_2xx(call, response, "cancelled", now)
            self._close_failed(call, 487, "Request Terminated", now)
            return
        dialog = call.dialog
        if dialog is not None and dialog.remote_tag == (response.to.tag or ""):
            dialog.receive_response("INVITE", response)  # confirms the early dialog (§13.2.2.4)
        else:
            dialog = call.dialog = Dialog.from_uac(call.invite, response)
        self._ack(call, dialog, now)
        call.answered_at = now
        self.by_dialog[(dialog.call_id, dialog.local_tag)] = call
        call.log.info("call answered", extra={"fields": {"status": response.status}})
        call.listener.answered(response.body)

    def _failed(self, call: OutboundCall, status: int, reason: str, now: float) -> None:
        if call.advance(OutInput.FAIL):
            self._close_failed(call, status, reason, now)

    def _close_failed(self, call: OutboundCall, status: int, reason: str, now: float) -> None:
        self._finish(call, now)
        call.log.info("call failed", extra={"fields": {"status": status, "reason": reason}})
        call.listener.failed(status, reason)

    def _retry_with_credentials(self, call: OutboundCall, response: Response, now: float) -> bool:
        """RFC 3261 §22.2: the INVITE again with credentials, same Call-ID and From tag, CSeq
        one higher; once, or twice when the second challenge says stale=true (RFC 7616 §3.3)."""
        if call.target.credentials is None or call.state is OutState.CANCELLING:
            return False
        proxy = response.status == 407
        challenge = _usable_challenge(
            response.headers.get_all("Proxy-Authenticate" if proxy else "WWW-Authenticate")
        )
        if challenge is None or call.auth_attempts > (1 if challenge.stale else 0):
            return False
        if not call.advance(OutInput.CHALLENGE):
            return False
        username, password = call.target.credentials
        invite = _reissued(call.invite, self.sig.via(call.peer))
        authorization = build_authorization(
            challenge,
            username=username,
            password=password,
            method="INVITE",
            uri=str(invite.uri),
            body=invite.body,
        )
        # set, not add: after a stale nonce, the new credentials replace the old ones
        invite.headers.set("Proxy-Authorization" if proxy else "Authorization", authorization)
        self.by_invite.pop(call.key, None)
        call.key = self.sig.send_request(invite, call.peer, now)
        call.invite, call.dialog, call.auth_attempts = invite, None, call.auth_attempts + 1
        self.by_invite[call.key] = call
        call.log.info("answering a challenge", extra={"fields": {"status": response.status}})
        return True

    def _on_no_response(self, key: TransactionKey, status: int, reason: str, now: float) -> bool:
        self._prune(now)
        call = self.by_invite.pop(key, None)
        if call is None:
            return self.requests.pop(key, None) is not None  # our BYE or CANCEL: nothing to do
        if call.state is OutState.CANCELLING:
            status, reason = 487, "Request Terminated"
        self._failed(call, status, reason, now)
        return True

    def _on_request_response(self, key: TransactionKey, response: Response) -> bool:
        if key not in self.requests:
            return False
        if response.status >= 200:
            self.requests.pop(key)
        return True

    # ---- small pieces ------------------------------------------------------------------------

    def _invite(self, target: OutboundTarget, tag: str) -> Request:
        """A new INVITE (RFC 3261 §8.1.1, §13.2.1)."""
        headers = Headers()
        headers.add("Via", self.sig.via(target.dest))
        headers.add("Max-Forwards", "70")
        name = f'"{_quoted(target.from_name)}" ' if target.from_name else ""
        headers.add("From", f"{name}<{target.from_uri}>;tag={tag}")
        headers.add("To", f"<{target.to_uri}>")
        headers.add("Call-ID", target.call_id or new_call_id())
        headers.add("CSeq", "1 INVITE")
        headers.add("Contact", self.sig.contact(target.dest, Uri.parse(target.from_uri).user))
        headers.add("Allow", ALLOW)
        headers.add("User-Agent", USER_AGENT)
        for header, value in target.headers:
            headers.add(header, value)
        if target.body:
            headers.add("Content-Type", "application/sdp")
        return Request("INVITE", Uri.parse(target.request_uri), headers, target.body)

    def _refuse_2xx(self, call: OutboundCall, response: Response, reason: str, now: float) -> None:
        """ACK a 2xx we do not want, then end its dialog with BYE (§13.2.2.4, §15)."""
        dialog = Dialog.from_uac(call.invite, response)
        self._ack(call, dialog, now)
        self._bye(call, dialog, reason, now)
        call.log.info("ended an unwanted answer", extra={"fields": {"to_tag": dialog.remote_tag}})

    def _ack(self, call: OutboundCall, dialog: Dialog, now: float) -> None:
        # §13.2.2.4: the layer remembers it, to answer a retransmitted 2xx with it.
        ack = dialog.create_ack(call.invite, via=self.sig.via(call.peer))
        call.acks[dialog.remote_tag] = ack
        self.sig.layer.send_stateless(ack, call.peer, now)

    def _bye(self, call: OutboundCall, dialog: Dialog | None, reason: str, now: float) -> None:
        if dialog is None:
            return
        request = dialog.create_request("BYE", via=self.sig.via(call.peer))
        request.headers.add("User-Agent", USER_AGENT)
        # RFC 3326: why the PBX, not a user, ended the call.
        request.headers.add("Reason", f'SIP;cause=200;text="{_quoted(reason)}"')
        self.requests[self.sig.send_request(request, call.peer, now)] = call

    def _ended(self, call: OutboundCall, cause: str, now: float) -> None:
        self._finish(call, now)
        call.log.info("call ended", extra={"fields": {"cause": cause}})
        call.listener.ended(cause)

    def _finish(self, call: OutboundCall, now: float) -> None:
        """The call is over for the application; only its Call-ID lingers, for late 2xx."""
        call.state = OutState.ENDED
        self.by_invite.pop(call.key, None)
        if call.cancel_key is not None and self.sig.layer.state_of(call.cancel_key) is None:
            self.requests.pop(call.cancel_key, None)  # held back, then dropped by the layer
        if call.dialog is not None:
            self.by_dialog.pop((call.call_id, call.dialog.local_tag), None)
        if call.linger_until > now:
            heapq.heappush(self._lingering, (call.linger_until, next(self._order), call))
        else:
            self.by_call_id.pop(call.call_id, None)

    def _prune(self, now: float) -> None:
        while self._cancel_deadlines and self._cancel_deadlines[0][0] <= now:
            _, call = self._cancel_deadlines.popleft()
            if call.state is OutState.CANCELLING:  # §9.1: no final response in 64*T1
                call.linger_until = now + self.linger  # a 2xx may still come: ACK + BYE it
                self._failed(call, 487, "Request Terminated", now)
        while self._lingering and self._lingering[0][0] <= now:
            _, _, call = heapq.heappop(self._lingering)
            if self.by_call_id.get(call.call_id) is call:
                del self.by_call_id[call.call_id]


def _usable_challenge(values: list[str]) -> DigestChallenge | None:
    """The first challenge we can answer: RFC 8760 §2.4 lists them in the server's order."""
    for value in values:
        try:
            challenge = parse_challenge(value)
        except MalformedCredentials:
            continue
        if canonical_algorithm(challenge.algorithm) is not None:
            return challenge
    return None


def _reissued(invite: Request, via: str) -> Request:
    """A copy of ``invite`` as a new transaction: a fresh Via, the CSeq one higher (§22.2)."""
    copy = parse_message(bytes(invite))
    assert isinstance(copy, Request)
    copy.headers.set("Via", via)
    copy.headers.set("CSeq", f"{invite.cseq.number + 1} INVITE")
    return copy


def _quoted(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')
