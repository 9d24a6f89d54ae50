"""What the four RFC 3261 §17 transaction machines share: states, inputs, timers, dispatch.

Theory of operation: every transaction is a table-driven state machine
(``_TRANSITIONS[(State, Input)] -> (action, next_state)``, one table per machine, in
``transaction_client.py`` and ``transaction_server.py``). Inputs come from three places: the
network (a retransmitted request, an ACK, a response), the TU (a response to send) and the
clock (timers A-K of RFC 3261 §17 and Table 4, plus the 200 ms "100 Trying" timer of
§17.2.1). A pair missing from a table is a protocol error: for network and clock inputs it is
logged and ignored (a peer must never be able to crash us), for TU inputs it raises
:class:`InvalidTransition` (the TU misused the transaction).

A transaction writes what it sends and what it tells the TU into a shared :class:`Outbox`;
its pending timers are absolute deadlines (``now`` based) that the layer polls.
"""

from __future__ import annotations

import enum
import logging
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from centralita.sip.address import Address
from centralita.sip.transaction_events import (
    InvalidTransition,
    TransactionEvent,
    TransactionKey,
    TransactionTimedOut,
    TransportFailed,
)

log = logging.getLogger(__name__)

# RFC 3261 §17.1.1.1 and Table 4 (Appendix A).
T1 = 0.5  # RTT estimate
T2 = 4.0  # maximum retransmit interval for non-INVITE requests and INVITE responses
T4 = 5.0  # maximum duration a message remains in the network
TRYING_DELAY = 0.2  # §17.2.1: send 100 Trying if the TU has not answered within 200 ms
TIMER_D_UNRELIABLE = 32.0  # §17.1.1.2: "at least 32 seconds" for unreliable transports


class State(enum.Enum):
    """RFC 3261 §17 state names (each machine uses a subset)."""

    CALLING = "Calling"
    TRYING = "Trying"
    PROCEEDING = "Proceeding"
    COMPLETED = "Completed"
    CONFIRMED = "Confirmed"
    TERMINATED = "Terminated"


class Input(enum.Enum):
    """Everything that can drive a transaction machine."""

    REQUEST = "request retransmission"  # server side: the request again
    ACK = "ACK"  # INVITE server side: ACK for a non-2xx final response
    RESPONSE_1XX = "1xx received"
    RESPONSE_2XX = "2xx received"
    RESPONSE_FINAL = "300-699 received"
    TU_1XX = "TU sends 1xx"
    TU_2XX = "TU sends 2xx"
    TU_FINAL = "TU sends 300-699"
    TIMER_A = "Timer A"
    TIMER_B = "Timer B"
    TIMER_D = "Timer D"
    TIMER_E = "Timer E"
    TIMER_F = "Timer F"
    TIMER_G = "Timer G"
    TIMER_H = "Timer H"
    TIMER_I = "Timer I"
    TIMER_J = "Timer J"
    TIMER_K = "Timer K"
    TIMER_TRYING = "100 Trying timer"
    TRANSPORT_ERROR = "transport error"


TU_INPUTS = frozenset({Input.TU_1XX, Input.TU_2XX, Input.TU_FINAL})


def response_input(status: int, *, from_tu: bool) -> Input:
    """Classify a status code into the machine input it drives."""
    if status < 200:
        return Input.TU_1XX if from_tu else Input.RESPONSE_1XX
    if status < 300:
        return Input.TU_2XX if from_tu else Input.RESPONSE_2XX
    return Input.TU_FINAL if from_tu else Input.RESPONSE_FINAL


@dataclass(frozen=True, slots=True)
class TimerValues:
    """RFC 3261 Table 4, computed from T1/T2/T4; reliable transports zero D, I, J, K."""

    t1: float = T1
    t2: float = T2
    t4: float = T4

    @property
    def timeout(self) -> float:
        """Timers B, F, H and J (unreliable): 64*T1."""
        return 64 * self.t1

    def timer_d(self, reliable: bool) -> float:
        return 0.0 if reliable else max(TIMER_D_UNRELIABLE, 64 * self.t1)

    def timer_i(self, reliable: bool) -> float:
        return 0.0 if reliable else self.t4

    def timer_j(self, reliable: bool) -> float:
        return 0.0 if reliable else self.timeout

    def timer_k(self, reliable: bool) -> float:
        return 0.0 if reliable else self.t4


@dataclass
class Outbox:
    """Bytes to send and events for the TU, drained by the owner of the transactions."""

    datagrams: list[tuple[bytes, Address]] = field(default_factory=list)
    events: list[TransactionEvent] = field(default_factory=list)

    def send(self, data: bytes, dest: Address) -> None:
        self.datagrams.append((data, dest))

    def emit(self, event: TransactionEvent) -> None:
        self.events.append(event)


Action = Callable[[Any, Any], None]
Transitions = Mapping[tuple[State, Input], tuple[Action, State]]


class Transaction(ABC):
    """Table-driven machine with named timers held as absolute deadlines."""

    _TRANSITIONS: ClassVar[Transitions] = {}

    def __init__(
        self, key: TransactionKey, peer: Address, out: Outbox, timers: TimerValues, now: float
    ) -> None:
        self.key = key
        self.peer = peer
        self.out = out
        self.values = timers
        self.now = now
        self.state = State.TERMINATED
        self.deadlines: dict[Input, float] = {}
        self.interval = timers.t1  # the next wait of Timer A, E or G (doubling from T1)

    @abstractmethod
    def start(self) -> None:
        """Enter the initial state (sending the request, for a client transaction)."""

    @property
    def reliable(self) -> bool:
        return self.peer.reliable

    @property
    def terminated(self) -> bool:
        return self.state is State.TERMINATED

    def handle(self, inp: Input, payload: object, now: float) -> None:
        """Run the transition for ``inp`` in the current state."""
        entry = self._TRANSITIONS.get((self.state, inp))
        if entry is None:
            if inp in TU_INPUTS:
                raise InvalidTransition(self.key, self.state.value, inp.value)
            log.debug("%s: ignoring %s in state %s", self.key, inp.value, self.state.value)
            return
        action, next_state = entry
        self.now = now
        self.state = next_state
        action(self, payload)
        if next_state is State.TERMINATED:
            self.deadlines.clear()

    # -- timers ---------------------------------------------------------------------------
    def start_timer(self, timer: Input, duration: float) -> None:
        self.deadlines[timer] = self.now + duration

    def stop_timer(self, *timers: Input) -> None:
        for timer in timers:
            self.deadlines.pop(timer, None)

    def next_deadline(self) -> float | None:
        return min(self.deadlines.values(), default=None)

    def fire_due(self, now: float) -> None:
        """Fire every timer whose deadline has passed, earliest first."""
        while self.deadlines:
            timer, deadline = min(self.deadlines.items(), key=lambda item: item[1])
            if deadline > now:
                return
            del self.deadlines[timer]
            # A retransmission timer restarts from its own deadline, not from a late wake-up,
            # so the RFC's schedule (T1, 2*T1, 4*T1 ...) holds however the driver is woken.
            self.handle(timer, None, deadline)
        self.now = max(self.now, now)

    def transport_error(self, now: float) -> None:
        self.handle(Input.TRANSPORT_ERROR, None, now)

    # -- actions every machine's table uses ----------------------------------------------
    def _time_out(self, _: object) -> None:
        self.out.emit(TransactionTimedOut(self.key))

    def _transport_failed(self, _: object) -> None:
        self.out.emit(TransportFailed(self.key))

    def _absorb(self, _: object) -> None:
        """A retransmission already answered, or with nothing to answer yet (a response the
        TU has seen, §17.1.1.2, §17.1.2.2; a request or an ACK, §17.2.1, §17.2.2)."""
        return  # a deliberate no-op action of the transition tables

    def _done(self, _: object) -> None:
        """Timer D, I, J or K fired: the transaction ends quietly."""
        return  # the table's next state (TERMINATED) is all there is to it
