"""A call through the B2BUA: the caller's leg (A), the forks towards the callee's contacts (B).

Theory of operation. The B2BUA is a UAS towards the caller and a UAC towards each registered
contact of the callee (RFC 3261 §6, "back-to-back user agent"; the flows of RFC 3665 §3).
A call moves through the states below; each input that can arrive in a state is in the
transition table and any other pair is a protocol error the B2BUA answers or ignores, never a
silent state change:

    TRYING ──1xx──▶ RINGING ──2xx──▶ ANSWERED ──ACK──▶ CONFIRMED ──BYE──▶ ENDED
      │  └────────────2xx──────────────▲                   │
      └─ CANCEL / all forks failed / ring timeout ──▶ ENDED ◀┘ (ACK timeout, RTP inactivity)

The first fork to answer wins; the others are cancelled (RFC 3261 §16.7 step 10's behaviour,
applied by a UAC that forked). When every fork fails the best final response is relayed
(§16.7 step 6).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from centralita.calls.media import MediaAnchor, Side
from centralita.calls.recording import CallRecording
from centralita.logs import CallLogger
from centralita.records.outcome import Outcome
from centralita.sip.address import Address
from centralita.sip.dialog import Dialog
from centralita.sip.message import Request
from centralita.sip.transaction import TransactionKey
from centralita.store.entities import SrtpPolicy


class CallState(enum.Enum):
    TRYING = "trying"
    RINGING = "ringing"
    ANSWERED = "answered"  # 2xx sent to the caller, its ACK awaited
    CONFIRMED = "confirmed"
    ENDED = "ended"


class CallInput(enum.Enum):
    PROVISIONAL = "provisional"
    ANSWER = "answer"
    ACK = "ack"
    BYE = "bye"
    CANCEL = "cancel"
    ALL_FORKS_FAILED = "all_forks_failed"
    RING_TIMEOUT = "ring_timeout"
    ACK_TIMEOUT = "ack_timeout"
    MEDIA_INACTIVE = "media_inactive"


St, In = CallState, CallInput
_TRANSITIONS: dict[tuple[CallState, CallInput], CallState] = {
    (St.TRYING, In.PROVISIONAL): St.RINGING,
    (St.TRYING, In.ANSWER): St.ANSWERED,
    (St.TRYING, In.CANCEL): St.ENDED,
    (St.TRYING, In.ALL_FORKS_FAILED): St.ENDED,
    (St.TRYING, In.RING_TIMEOUT): St.ENDED,
    (St.RINGING, In.PROVISIONAL): St.RINGING,
    (St.RINGING, In.ANSWER): St.ANSWERED,
    (St.RINGING, In.CANCEL): St.ENDED,
    (St.RINGING, In.ALL_FORKS_FAILED): St.ENDED,
    (St.RINGING, In.RING_TIMEOUT): St.ENDED,
    (St.ANSWERED, In.ACK): St.CONFIRMED,
    (St.ANSWERED, In.BYE): St.ENDED,  # a BYE may precede the ACK (§15)
    (St.ANSWERED, In.ACK_TIMEOUT): St.ENDED,
    (St.ANSWERED, In.MEDIA_INACTIVE): St.ENDED,
    (St.CONFIRMED, In.ACK): St.CONFIRMED,  # a retransmitted ACK
    (St.CONFIRMED, In.BYE): St.ENDED,
    (St.CONFIRMED, In.MEDIA_INACTIVE): St.ENDED,
}
del St, In


class CallStateError(Exception):
    """An input that the call's state does not admit."""


@dataclass(frozen=True, slots=True)
class Party:
    number: str
    name: str
    uri: str
    srtp: SrtpPolicy = "off"  # the extension's SRTP policy
    record_calls: bool = False  # the extension's calls are recorded


@dataclass(slots=True)
class Fork:
    """One INVITE client transaction towards one registered contact of the callee."""

    contact: str
    dest: Address
    request: Request
    key: TransactionKey
    dialog: Dialog | None = None
    final_status: int | None = None
    cancel_sent: bool = False

    @property
    def pending(self) -> bool:
        return self.final_status is None


@dataclass(slots=True)
class Leg:
    """One confirmed side of the call: its dialog and where its peer really is."""

    side: Side
    dialog: Dialog
    peer: Address
    deferred_ack: Request | None = None  # ACK waiting for the caller's answer SDP (late offer)
    ack_for_2xx: Request | None = None  # re-sent when the callee retransmits its 2xx


@dataclass(slots=True)
class Call:
    call_id: str
    tenant_id: int
    tenant_name: str
    domain: str
    caller: Party
    callee: Party
    invite: Request
    invite_key: TransactionKey
    caller_address: Address
    a_tag: str
    anchor: MediaAnchor | None
    started_at: float
    ring_deadline: float | None
    log: CallLogger
    state: CallState = CallState.TRYING
    forks: list[Fork] = field(default_factory=list)
    winner: Fork | None = None
    legs: dict[Side, Leg] = field(default_factory=dict)
    answered_at: float | None = None
    ended_at: float | None = None
    outcome: Outcome | None = None
    hangup_cause: str = ""
    provisional_sent: int = 0
    early_sdp_sent: bool = False
    trace: list[dict[str, Any]] = field(default_factory=list)
    recording: CallRecording | None = None  # when the caller's or callee's calls are recorded

    def advance(self, event: CallInput) -> CallState:
        try:
            self.state = _TRANSITIONS[(self.state, event)]
        except KeyError:
            raise CallStateError(f"{event.value} in state {self.state.value}") from None
        return self.state

    def admits(self, event: CallInput) -> bool:
        return (self.state, event) in _TRANSITIONS

    def finish(self, outcome: Outcome, cause: str, now: float) -> None:
        if self.outcome is None:
            self.outcome = outcome
            self.hangup_cause = cause
        self.ended_at = now

    @property
    def pending_forks(self) -> list[Fork]:
        return [fork for fork in self.forks if fork.pending]
