"""Client transactions: RFC 3261 §17.1.1 (INVITE) and §17.1.2 (non-INVITE).

Theory of operation: the INVITE client transaction sends the INVITE, retransmits it on Timer
A (unreliable transports only, doubling from T1) and gives up on Timer B (64*T1) while in
Calling. A provisional moves it to Proceeding, where it waits for the final response without
a timer of its own (§17.1.1.2: the TU decides when to CANCEL). A 2xx terminates it at once
and goes to the TU, which ACKs it (§13.2.2.4); a 300-699 is ACKed by the transaction itself
(§17.1.1.3) and retransmissions of it are absorbed (and ACKed again) in Completed until Timer
D. The non-INVITE client transaction retransmits on Timer E (T1 doubling, capped at T2; every
T2 once Proceeding), gives up on Timer F (64*T1) and absorbs response retransmissions in
Completed until Timer K (T4; 0 on reliable transports).
"""

from __future__ import annotations

from centralita.sip.address import Address
from centralita.sip.message import Headers, Request, Response
from centralita.sip.transaction_events import ResponseReceived, TransactionKey
from centralita.sip.transaction_machine import (
    Input,
    Outbox,
    State,
    TimerValues,
    Transaction,
    Transitions,
    response_input,
)


class ClientTransaction(Transaction):
    """Common part of both client machines: the request, its bytes, passing responses up."""

    def __init__(
        self,
        key: TransactionKey,
        request: Request,
        dest: Address,
        out: Outbox,
        timers: TimerValues,
        now: float,
    ) -> None:
        super().__init__(key, dest, out, timers, now)
        self.request = request
        self.data = bytes(request)

    def receive_response(self, response: Response, now: float) -> None:
        self.handle(response_input(response.status, from_tu=False), response, now)

    def _transmit(self) -> None:
        self.out.send(self.data, self.peer)

    def _pass_to_tu(self, response: Response) -> None:
        self.out.emit(ResponseReceived(self.key, response))


class InviteClientTransaction(ClientTransaction):
    """RFC 3261 §17.1.1, figure 5."""

    def start(self) -> None:
        self.state = State.CALLING
        self._transmit()
        if not self.reliable:
            self.start_timer(Input.TIMER_A, self.interval)
        self.start_timer(Input.TIMER_B, self.values.timeout)

    def _retransmit(self, _: object) -> None:
        self._transmit()
        self.interval *= 2  # §17.1.1.2: Timer A doubles, without a cap
        self.start_timer(Input.TIMER_A, self.interval)

    def _provisional(self, response: Response) -> None:
        self.stop_timer(Input.TIMER_A, Input.TIMER_B)
        self._pass_to_tu(response)

    def _accepted(self, response: Response) -> None:
        self._pass_to_tu(response)

    def _rejected(self, response: Response) -> None:
        self.stop_timer(Input.TIMER_A, Input.TIMER_B)
        self._pass_to_tu(response)
        self.ack = bytes(build_ack_for_non2xx(self.request, response))
        self.out.send(self.ack, self.peer)
        self.start_timer(Input.TIMER_D, self.values.timer_d(self.reliable))

    def _reack(self, _: Response) -> None:
        # §17.1.1.2: a retransmitted final response is ACKed again but not passed up.
        self.out.send(self.ack, self.peer)


_ICT = InviteClientTransaction
_ICT_TRANSITIONS: Transitions = {
    (State.CALLING, Input.TIMER_A): (_ICT._retransmit, State.CALLING),
    (State.CALLING, Input.TIMER_B): (_ICT._time_out, State.TERMINATED),
    (State.CALLING, Input.TRANSPORT_ERROR): (_ICT._transport_failed, State.TERMINATED),
    (State.CALLING, Input.RESPONSE_1XX): (_ICT._provisional, State.PROCEEDING),
    (State.CALLING, Input.RESPONSE_2XX): (_ICT._accepted, State.TERMINATED),
    (State.CALLING, Input.RESPONSE_FINAL): (_ICT._rejected, State.COMPLETED),
    (State.PROCEEDING, Input.RESPONSE_1XX): (_ICT._provisional, State.PROCEEDING),
    (State.PROCEEDING, Input.RESPONSE_2XX): (_ICT._accepted, State.TERMINATED),
    (State.PROCEEDING, Input.RESPONSE_FINAL): (_ICT._rejected, State.COMPLETED),
    # Not in figure 5, but §17.1.4: a stream connection that dies while Proceeding takes the
    # final response with it, and nothing else would ever end the transaction.
    (State.PROCEEDING, Input.TRANSPORT_ERROR): (_ICT._transport_failed, State.TERMINATED),
    (State.COMPLETED, Input.RESPONSE_FINAL): (_ICT._reack, State.COMPLETED),
    (State.COMPLETED, Input.TRANSPORT_ERROR): (_ICT._transport_failed, State.TERMINATED),
    (State.COMPLETED, Input.TIMER_D): (_ICT._done, State.TERMINATED),
}
InviteClientTransaction._TRANSITIONS = _ICT_TRANSITIONS


class NonInviteClientTransaction(ClientTransaction):
    """RFC 3261 §17.1.2, figure 6."""

    def start(self) -> None:
        self.state = State.TRYING
        self._transmit()
        if not self.reliable:
            self.start_timer(Input.TIMER_E, self.interval)
        self.start_timer(Input.TIMER_F, self.values.timeout)

    def _retransmit(self, _: object) -> None:
        self._transmit()
        if self.state is State.TRYING:
            self.interval = min(2 * self.interval, self.values.t2)
        else:
            self.interval = self.values.t2  # §17.1.2.2: every T2 once Proceeding
        self.start_timer(Input.TIMER_E, self.interval)

    def _provisional(self, response: Response) -> None:
        self._pass_to_tu(response)

    def _final(self, response: Response) -> None:
        self.stop_timer(Input.TIMER_E, Input.TIMER_F)
        self._pass_to_tu(response)
        self.start_timer(Input.TIMER_K, self.values.timer_k(self.reliable))


_NICT = NonInviteClientTransaction
_NICT_TRANSITIONS: Transitions = {
    (State.TRYING, Input.TIMER_E): (_NICT._retransmit, State.TRYING),
    (State.TRYING, Input.TIMER_F): (_NICT._time_out, State.TERMINATED),
    (State.TRYING, Input.TRANSPORT_ERROR): (_NICT._transport_failed, State.TERMINATED),
    (State.TRYING, Input.RESPONSE_1XX): (_NICT._provisional, State.PROCEEDING),
    (State.TRYING, Input.RESPONSE_2XX): (_NICT._final, State.COMPLETED),
    (State.TRYING, Input.RESPONSE_FINAL): (_NICT._final, State.COMPLETED),
    (State.PROCEEDING, Input.TIMER_E): (_NICT._retransmit, State.PROCEEDING),
    (State.PROCEEDING, Input.TIMER_F): (_NICT._time_out, State.TERMINATED),
    (State.PROCEEDING, Input.TRANSPORT_ERROR): (_NICT._transport_failed, State.TERMINATED),
    (State.PROCEEDING, Input.RESPONSE_1XX): (_NICT._provisional, State.PROCEEDING),
    (State.PROCEEDING, Input.RESPONSE_2XX): (_NICT._final, State.COMPLETED),
    (State.PROCEEDING, Input.RESPONSE_FINAL): (_NICT._final, State.COMPLETED),
    (State.COMPLETED, Input.RESPONSE_1XX): (_NICT._absorb, State.COMPLETED),
    (State.COMPLETED, Input.RESPONSE_2XX): (_NICT._absorb, State.COMPLETED),
    (State.COMPLETED, Input.RESPONSE_FINAL): (_NICT._absorb, State.COMPLETED),
    (State.COMPLETED, Input.TIMER_K): (_NICT._done, State.TERMINATED),
}
NonInviteClientTransaction._TRANSITIONS = _NICT_TRANSITIONS


# -- requests the client side builds from the INVITE ------------------------------------------


def _copy(source: Request, target: Headers, *names: str) -> None:
    for name in names:
        for value in source.headers.get_all(name):
            target.add(name, value)


def _request_from_invite(invite: Request, method: str, to: str) -> Request:
    """The header set §9.1 and §17.1.1.3 share: one Via (the INVITE's top one, same branch),
    the INVITE's Route set, From, Call-ID, CSeq number, Max-Forwards."""
    headers = Headers()
    headers.add("Via", invite.headers.get_all("Via")[0])
    _copy(invite, headers, "Route")
    headers.add("Max-Forwards", invite.headers.get("Max-Forwards") or "70")
    headers.add("From", invite.headers.get("From") or "")
    headers.add("To", to)
    headers.add("Call-ID", invite.call_id)
    headers.add("CSeq", f"{invite.cseq.number} {method}")
    return Request(method=method, uri=invite.uri, headers=headers)


def build_ack_for_non2xx(invite: Request, response: Response) -> Request:
    """The ACK the INVITE client transaction sends for a 300-699 (RFC 3261 §17.1.1.3):
    same Request-URI, Call-ID, From, CSeq number and top Via as the INVITE, the To of the
    response (with its tag), and the INVITE's Route header fields."""
    return _request_from_invite(invite, "ACK", response.headers.get("To") or "")


def build_cancel(invite: Request) -> Request:
    """A CANCEL for ``invite`` (RFC 3261 §9.1): same Request-URI, Call-ID, To, From and CSeq
    number, a single Via equal to the INVITE's top Via (same branch, so it matches the same
    server transaction hop by hop) and the INVITE's Route set. No Require/Proxy-Require."""
    return _request_from_invite(invite, "CANCEL", invite.headers.get("To") or "")
