"""Server transactions: RFC 3261 §17.2.1 (INVITE) and §17.2.2 (non-INVITE).

Theory of operation: the INVITE server transaction starts in Proceeding, hands the INVITE to
the TU and, if the TU has not sent a provisional response within 200 ms, sends a 100 Trying
itself (§17.2.1; the delay keeps quick final answers such as a 401 challenge to one
message). A retransmitted INVITE is answered with the last provisional response. A 2xx from
the TU is sent once and terminates the transaction (its retransmission until ACK is the UAS
core's job, §13.3.1.4: see ``uas_retransmitter.py``). A 300-699 moves to Completed, where it
is retransmitted on Timer G (T1 doubling up to T2, unreliable transports only) and on every
retransmitted INVITE, until the ACK arrives (Confirmed, absorbing further ACKs until Timer I)
or Timer H (64*T1) gives up. The non-INVITE server transaction starts in Trying (request
retransmissions are absorbed), moves to Proceeding on a provisional and to Completed on a
final response, which it re-sends on each retransmitted request until Timer J.

Responses go where §18.2.2 (with RFC 3581 rport) says, computed once from the request's top
Via and the address it came from.
"""

from __future__ import annotations

import logging

from centralita.sip.address import Address
from centralita.sip.message import Request, Response, make_response
from centralita.sip.transaction_events import TransactionKey
from centralita.sip.transaction_machine import (
    TRYING_DELAY,
    Input,
    Outbox,
    State,
    TimerValues,
    Transaction,
    Transitions,
    response_input,
)

log = logging.getLogger(__name__)

DEFAULT_PORT = 5060
DEFAULT_TLS_PORT = 5061


def default_port(transport: str) -> int:
    """RFC 3261 §18.2.2 / §19.1.2: 5061 for TLS, 5060 otherwise."""
    return DEFAULT_TLS_PORT if transport.lower() in ("tls", "wss") else DEFAULT_PORT


def response_destination(request: Request, source: Address) -> Address:
    """Where responses to ``request`` go (RFC 3261 §18.2.2, RFC 3581 §4).

    Stream transports answer over the connection the request came on. Datagrams go to the
    source address, from the socket they arrived on; the port is the source port when the
    client asked for ``rport``, else the Via sent-by port (default 5060). ``maddr`` is
    ignored: honouring it would let anyone aim our responses at a third party (the
    reflection concern of RFC 3261 §26.1.5), and multicast responses have no use here.
    """
    if source.reliable or "rport" in request.top_via.params:
        return source
    via = request.top_via
    port = via.port or default_port(via.transport)
    return Address(source.transport, source.host, port, source.connection)


class ServerTransaction(Transaction):
    """Common part of both server machines: the request and the last response sent."""

    def __init__(
        self,
        key: TransactionKey,
        request: Request,
        source: Address,
        out: Outbox,
        timers: TimerValues,
        now: float,
    ) -> None:
        super().__init__(key, response_destination(request, source), out, timers, now)
        self.request = request
        self.source = source
        self.last_response: Response | None = None
        self.last_data = b""

    def receive_request(self, request: Request, now: float) -> None:
        self.handle(Input.ACK if request.method == "ACK" else Input.REQUEST, request, now)

    def send_response(self, response: Response, now: float) -> None:
        self.handle(response_input(response.status, from_tu=True), response, now)

    def _send(self, response: Response) -> None:
        self.last_response = response
        self.last_data = bytes(response)
        self.out.send(self.last_data, self.peer)

    def _resend(self, _: object) -> None:
        self.out.send(self.last_data, self.peer)

    def _discard(self, response: Response) -> None:
        # §17.2.2: further final responses from the TU in Completed MUST be discarded.
        log.warning("%s: discarding %d sent after the final response", self.key, response.status)


class InviteServerTransaction(ServerTransaction):
    """RFC 3261 §17.2.1, figure 7."""

    def start(self) -> None:
        self.state = State.PROCEEDING
        self.start_timer(Input.TIMER_TRYING, TRYING_DELAY)

    def _resend_provisional(self, _: object) -> None:
        if self.last_response is not None:
            self._resend(None)

    def _send_trying(self, _: object) -> None:
        # §8.2.6.1: no To tag; make_response echoes the Timestamp header into a 100.
        self._send(make_response(self.request, 100))

    def _send_provisional(self, response: Response) -> None:
        self.stop_timer(Input.TIMER_TRYING)
        self._send(response)

    def _send_2xx(self, response: Response) -> None:
        self._send(response)

    def _send_final(self, response: Response) -> None:
        self.stop_timer(Input.TIMER_TRYING)
        self._send(response)
        if not self.reliable:
            self.start_timer(Input.TIMER_G, self.interval)
        self.start_timer(Input.TIMER_H, self.values.timeout)

    def _retransmit_final(self, _: object) -> None:
        self._resend(None)
        self.interval = min(2 * self.interval, self.values.t2)
        self.start_timer(Input.TIMER_G, self.interval)

    def _confirmed(self, _: Request) -> None:
        self.stop_timer(Input.TIMER_G, Input.TIMER_H)
        self.start_timer(Input.TIMER_I, self.values.timer_i(self.reliable))


_IST = InviteServerTransaction
_IST_TRANSITIONS: Transitions = {
    (State.PROCEEDING, Input.REQUEST): (_IST._resend_provisional, State.PROCEEDING),
    (State.PROCEEDING, Input.TIMER_TRYING): (_IST._send_trying, State.PROCEEDING),
    (State.PROCEEDING, Input.TU_1XX): (_IST._send_provisional, State.PROCEEDING),
    (State.PROCEEDING, Input.TU_2XX): (_IST._send_2xx, State.TERMINATED),
    (State.PROCEEDING, Input.TU_FINAL): (_IST._send_final, State.COMPLETED),
    (State.PROCEEDING, Input.TRANSPORT_ERROR): (_IST._transport_failed, State.TERMINATED),
    (State.COMPLETED, Input.REQUEST): (_IST._resend, State.COMPLETED),
    (State.COMPLETED, Input.TIMER_G): (_IST._retransmit_final, State.COMPLETED),
    (State.COMPLETED, Input.TIMER_H): (_IST._time_out, State.TERMINATED),
    (State.COMPLETED, Input.ACK): (_IST._confirmed, State.CONFIRMED),
    (State.COMPLETED, Input.TRANSPORT_ERROR): (_IST._transport_failed, State.TERMINATED),
    (State.CONFIRMED, Input.ACK): (_IST._absorb, State.CONFIRMED),
    (State.CONFIRMED, Input.TIMER_I): (_IST._done, State.TERMINATED),
}
InviteServerTransaction._TRANSITIONS = _IST_TRANSITIONS


class NonInviteServerTransaction(ServerTransaction):
    """RFC 3261 §17.2.2, figure 8."""

    def start(self) -> None:
        self.state = State.TRYING

    def _send_provisional(self, response: Response) -> None:
        self._send(response)

    def _send_final(self, response: Response) -> None:
        self._send(response)
        self.start_timer(Input.TIMER_J, self.values.timer_j(self.reliable))


_NIST = NonInviteServerTransaction
_NIST_TRANSITIONS: Transitions = {
    (State.TRYING, Input.REQUEST): (_NIST._absorb, State.TRYING),
    (State.TRYING, Input.TU_1XX): (_NIST._send_provisional, State.PROCEEDING),
    (State.TRYING, Input.TU_2XX): (_NIST._send_final, State.COMPLETED),
    (State.TRYING, Input.TU_FINAL): (_NIST._send_final, State.COMPLETED),
    (State.PROCEEDING, Input.REQUEST): (_NIST._resend, State.PROCEEDING),
    (State.PROCEEDING, Input.TU_1XX): (_NIST._send_provisional, State.PROCEEDING),
    (State.PROCEEDING, Input.TU_2XX): (_NIST._send_final, State.COMPLETED),
    (State.PROCEEDING, Input.TU_FINAL): (_NIST._send_final, State.COMPLETED),
    (State.PROCEEDING, Input.TRANSPORT_ERROR): (_NIST._transport_failed, State.TERMINATED),
    (State.COMPLETED, Input.REQUEST): (_NIST._resend, State.COMPLETED),
    (State.COMPLETED, Input.TU_2XX): (_NIST._discard, State.COMPLETED),
    (State.COMPLETED, Input.TU_FINAL): (_NIST._discard, State.COMPLETED),
    (State.COMPLETED, Input.TIMER_J): (_NIST._done, State.TERMINATED),
    (State.COMPLETED, Input.TRANSPORT_ERROR): (_NIST._transport_failed, State.TERMINATED),
}
NonInviteServerTransaction._TRANSITIONS = _NIST_TRANSITIONS
