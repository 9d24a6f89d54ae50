"""Calls the PBX answers itself: the SIP side of IVRs, voicemail, conferences, echo tests.

Theory of operation. For such a call the PBX is the UAS of one dialog (RFC 3261 §13.3)
and the far end of its media. An :class:`AppCall` is driven from two directions: the
application (an asyncio task behind ``centralita.routing.context.CallContext``) commands
``ring``, ``answer``, ``reject`` and ``hang_up``; the network delivers ACK, BYE, CANCEL,
INFO and re-INVITE, which :class:`AppCalls` turns into calls on the call's
:class:`AppCallListener`. States, with the inputs each admits:

    TRYING ──ring──▶ RINGING ──answer──▶ ANSWERED ──ACK──▶ CONFIRMED ──BYE/hang_up──▶ ENDED
      └──reject / CANCEL─────┴──────────────────────────────────────────────────────▶ ENDED

Nothing here does I/O; the listener is how the asyncio side learns what happened.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any, Protocol

from centralita.calls.call import Party
from centralita.calls.signalling import ALLOW, Signalling
from centralita.logs import CallLogger, call_logger
from centralita.records.outcome import CallSummary, ExtensionRow, Outcome
from centralita.sip.address import Address
from centralita.sip.dialog import Dialog
from centralita.sip.message import Request, Uri, make_response, new_tag
from centralita.sip.sdp import SdpError
from centralita.sip.transaction import TransactionKey


class AppState(enum.Enum):
    TRYING = "trying"
    RINGING = "ringing"
    ANSWERED = "answered"
    CONFIRMED = "confirmed"
    ENDED = "ended"


class AppInput(enum.Enum):
    RING = "ring"
    ANSWER = "answer"
    REJECT = "reject"
    ACK = "ack"
    BYE = "bye"
    CANCEL = "cancel"
    HANG_UP = "hang_up"
    ACK_TIMEOUT = "ack_timeout"


St, In = AppState, AppInput
_TRANSITIONS: dict[tuple[AppState, AppInput], AppState] = {
    (St.TRYING, In.RING): St.RINGING,
    (St.TRYING, In.ANSWER): St.ANSWERED,
    (St.TRYING, In.REJECT): St.ENDED,
    (St.TRYING, In.CANCEL): St.ENDED,
    (St.RINGING, In.RING): St.RINGING,
    (St.RINGING, In.ANSWER): St.ANSWERED,
    (St.RINGING, In.REJECT): St.ENDED,
    (St.RINGING, In.CANCEL): St.ENDED,
    (St.ANSWERED, In.ACK): St.CONFIRMED,
    (St.ANSWERED, In.BYE): St.ENDED,
    (St.ANSWERED, In.HANG_UP): St.ENDED,
    (St.ANSWERED, In.ACK_TIMEOUT): St.ENDED,
    (St.CONFIRMED, In.ACK): St.CONFIRMED,
    (St.CONFIRMED, In.BYE): St.ENDED,
    (St.CONFIRMED, In.HANG_UP): St.ENDED,
}
del St, In


# The INFO bodies a call the PBX answers understands: key presses (SIP INFO DTMF).
INFO_ACCEPT = "application/dtmf-relay, application/dtmf"


class CallLogSink(Protocol):
    def call_ended(self, summary: CallSummary) -> None: ...


class AppCallListener(Protocol):
    """What the application side is told; each method is called once per fact."""

    def confirmed(self, body: bytes) -> None:
        """The caller's ACK arrived; ``body`` is its SDP answer when our 2xx carried the
        offer (the caller's INVITE had none: RFC 3261 §13.2.1, RFC 3264 §4)."""
        ...

    def ended(self, cause: str) -> None: ...

    def info_received(self, request: Request) -> int:
        """A mid-call INFO (e.g. DTMF, RFC 6086); returns the response status."""
        ...

    def offer_received(self, body: bytes) -> bytes:
        """A re-INVITE's SDP offer; returns our answer (raise SdpError to refuse)."""
        ...


@dataclass(frozen=True, slots=True)
class AppTarget:
    tenant_id: int
    tenant_name: str
    domain: str
    caller: Party
    service: str  # what was dialled, e.g. "*43" or "800"
    trace: list[dict[str, Any]] = field(default_factory=list)
    caller_is_extension: bool = True  # False: from outside, through a carrier
    routed: bool = False  # the dial plan routes it: its rows come from status_for


@dataclass(slots=True)
class AppCall:
    target: AppTarget
    invite: Request
    key: TransactionKey
    peer: Address
    tag: str
    started_at: float
    log: CallLogger
    listener: AppCallListener | None = None
    state: AppState = AppState.TRYING
    dialog: Dialog | None = None
    answered_at: float | None = None
    trace: list[dict[str, Any]] = field(default_factory=list)  # what the application did
    rows: dict[str, ExtensionRow] = field(default_factory=dict)  # routed extensions' statuses
    final_status: int | None = None  # the final response refusing it, if it was refused
    answered_by: str | None = None  # who the caller talked to (a dialled target), if not us
    ended: tuple[str, float] | None = None  # why and when the caller's side ended
    logged: bool = False  # a routed call's rows are written once its flow is done

    @property
    def call_id(self) -> str:
        return self.invite.call_id

    @property
    def offer(self) -> bytes:
        return self.invite.body

    def advance(self, event: AppInput) -> bool:
        """Take ``event`` if the state admits it; False (and no change) otherwise."""
        next_state = _TRANSITIONS.get((self.state, event))
        if next_state is None:
            return False
        self.state = next_state
        return True


class AppCalls:
    """Every call the PBX answers itself, by INVITE transaction and by dialog."""

    def __init__(self, signalling: Signalling, call_log: CallLogSink) -> None:
        self.sig = signalling
        self.call_log = call_log
        self.by_invite: dict[TransactionKey, AppCall] = {}
        self.by_dialog: dict[tuple[str, str], AppCall] = {}

    def start(
        self, invite: Request, key: TransactionKey, source: Address, target: AppTarget, now: float
    ) -> AppCall:
        call = AppCall(
            target=target,
            invite=invite,
            key=key,
            peer=source,
            tag=new_tag(),
            started_at=now,
            log=call_logger("centralita.apps", tenant=target.tenant_name, call_id=invite.call_id),
        )
        self.by_invite[key] = call
        return call

    # ---- commands from the application ------------------------------------------------------

    def ring(self, call: AppCall, now: float, *, early_media: bytes = b"") -> None:
        if call.advance(AppInput.RING):
            status = 183 if early_media else 180  # RFC 3261 §21.1.2, RFC 3960 early media
            self._provisional(call, status, early_media, now)

    def answer(self, call: AppCall, body: bytes, now: float) -> bool:
        if not call.advance(AppInput.ANSWER):
            return False
        response = make_response(call.invite, 200, None, to_tag=call.tag)
        contact = self.sig.contact(call.peer, call.target.service.lstrip("*") or None)
        response.headers.add("Contact", contact)
        response.headers.add("Allow", ALLOW)
        if body:
            response.body = body
            response.headers.set("Content-Type", "application/sdp")
        self.sig.layer.send_response(response, now)
        call.dialog = Dialog.from_uas(call.invite, call.tag, Uri.parse(contact.strip("<>")))
        call.answered_at = now
        self.by_dialog[(call.call_id, call.tag)] = call
        return True

    def reject(self, call: AppCall, status: int, now: float, reason: str | None = None) -> None:
        if call.advance(AppInput.REJECT):
            call.final_status = status
            response = make_response(call.invite, status, reason, to_tag=call.tag)
            self.sig.layer.send_response(response, now)
            self._end(call, f"rejected with {status}", now)

    def hang_up(self, call: AppCall, now: float, reason: str | None = None) -> None:
        """The application is done: BYE if answered, else a final response (480)."""
        if call.state in (AppState.TRYING, AppState.RINGING):
            self.reject(call, 480, now)
            return
        if call.advance(AppInput.HANG_UP) and call.dialog is not None:
            request = call.dialog.create_request("BYE", via=self.sig.via(call.peer))
            if reason:
                request.headers.add("Reason", f'SIP;cause=200;text="{reason}"')  # RFC 3326
            self.sig.send_request(request, call.peer, now)
            self._end(call, "hung up by the PBX", now)

    def flow_finished(self, call: AppCall) -> None:
        """The dial plan is done with a routed call: its rows are written now, with every
        status and trace step the features gave, also those after the caller hung up."""
        if call.ended is not None and not call.logged:
            call.logged = True
            cause, ended_at = call.ended
            self.call_log.call_ended(_summary(call, cause, ended_at))

    # ---- the network ------------------------------------------------------------------------

    def cancel(self, key: TransactionKey, now: float) -> bool:
        call = self.by_invite.get(key)
        if call is None or not call.advance(AppInput.CANCEL):
            return False
        response = make_response(call.invite, 487, None, to_tag=call.tag)
        self.sig.layer.send_response(response, now)
        self._end(call, "cancelled by caller", now)
        return True

    def on_in_dialog_request(
        self, request: Request, key: TransactionKey | None, source: Address, now: float
    ) -> bool:
        call = self.by_dialog.get((request.call_id, request.to.tag or ""))
        if call is None or call.dialog is None:
            return False
        if request.method == "ACK":
            if call.advance(AppInput.ACK) and call.listener is not None:
                call.listener.confirmed(request.body)
            return True
        assert key is not None
        call.dialog.receive_request(request)
        call.peer = source
        handler = {"BYE": self._bye, "INFO": self._info, "INVITE": self._reinvite}.get(
            request.method, self._not_here
        )
        handler(call, request, key, now)
        return True

    def on_ack_timeout(self, call_id: str, now: float) -> None:
        for call in list(self.by_dialog.values()):
            if call.call_id == call_id and call.advance(AppInput.ACK_TIMEOUT):
                self.hang_up_after_timeout(call, now)

    def hang_up_after_timeout(self, call: AppCall, now: float) -> None:
        if call.dialog is not None:
            request = call.dialog.create_request("BYE", via=self.sig.via(call.peer))
            self.sig.send_request(request, call.peer, now)
        self._end(call, "no ACK from caller", now)

    def _bye(self, call: AppCall, request: Request, key: TransactionKey, now: float) -> None:
        self.sig.reply(request, key, 200, now=now)
        if call.advance(AppInput.BYE):
            self._end(call, "BYE from caller", now)

    def _info(self, call: AppCall, request: Request, key: TransactionKey, now: float) -> None:
        status = call.listener.info_received(request) if call.listener is not None else 481
        # RFC 3261 §21.4.13: a 415 says which bodies we do take.
        accept = [("Accept", INFO_ACCEPT)] if status == 415 else []
        self.sig.reply(request, key, status, now=now, headers=accept)

    def _reinvite(self, call: AppCall, request: Request, key: TransactionKey, now: float) -> None:
        assert call.dialog is not None
        if call.listener is None or not request.body:
            self.sig.reply(request, key, 488 if request.body else 200, now=now)
            return
        try:
            body = call.listener.offer_received(request.body)
        except SdpError as error:
            self.sig.reply(request, key, error.status_code, now=now)
            return
        call.dialog.confirm_target_refresh(request)
        self.sig.reply(request, key, 200, now=now, body=body, dest=call.peer)

    def _not_here(self, call: AppCall, request: Request, key: TransactionKey, now: float) -> None:
        self.sig.reply(request, key, 501 if request.method == "REFER" else 405, now=now)

    def _provisional(self, call: AppCall, status: int, body: bytes, now: float) -> None:
        response = make_response(call.invite, status, None, to_tag=call.tag)
        response.headers.add("Contact", self.sig.contact(call.peer))
        if body:
            response.body = body
            response.headers.set("Content-Type", "application/sdp")
        self.sig.layer.send_response(response, now)

    def _end(self, call: AppCall, cause: str, now: float) -> None:
        call.state = AppState.ENDED
        call.ended = (cause, now)
        if not call.target.routed:
            self.call_log.call_ended(_summary(call, cause, now))
        self.by_invite.pop(call.key, None)
        self.by_dialog.pop((call.call_id, call.tag), None)
        call.log.info("application call ended", extra={"fields": {"cause": cause}})
        if call.listener is not None:
            call.listener.ended(cause)


def _summary(call: AppCall, cause: str, now: float) -> CallSummary:
    answered = call.answered_at is not None
    outcome = Outcome.ANSWERED if answered else Outcome.CANCELLED
    if call.final_status in (404, 484):
        outcome = Outcome.WRONG_NUMBER
    rows = tuple(call.rows.values()) if call.target.routed else None
    return CallSummary(
        tenant_id=call.target.tenant_id,
        call_id=call.call_id,
        caller=call.target.caller.number,
        caller_name=call.target.caller.name,
        callee=call.target.service,
        callee_name="",
        callee_is_extension=False,
        started_at=call.started_at,
        answered_at=call.answered_at,
        ended_at=now,
        outcome=outcome,
        hangup_cause=cause,
        answered_by=(call.answered_by or "pbx") if answered else None,
        routing_trace=[*call.target.trace, *call.trace],
        caller_is_extension=call.target.caller_is_extension,
        extension_rows=rows,
    )
