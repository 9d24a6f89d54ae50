"""Transaction keys, the events the transaction layer gives the TU, and its usage errors."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from centralita.sip.address import Address
from centralita.sip.message import Request, Response


class Role(enum.Enum):
    CLIENT = "client"
    SERVER = "server"


@dataclass(frozen=True, slots=True)
class TransactionKey:
    """Identifies one transaction (RFC 3261 §17.1.3 client side, §17.2.3 server side).

    ``branch`` is the top Via branch (or, for an RFC 2543 peer without the magic cookie, a
    string made of the fields §17.2.3 compares); ``method`` is the CSeq method with ACK folded
    into INVITE; ``sent_by`` is the top Via sent-by, compared on the server side only.
    """

    role: Role
    branch: str
    method: str
    sent_by: str = ""

    def __str__(self) -> str:
        at = f"@{self.sent_by}" if self.sent_by else ""
        return f"{self.role.value}:{self.method}:{self.branch}{at}"


# -- events (facts, past tense) ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RequestReceived:
    """A new request for the TU. ``key`` is its server transaction, to answer through
    ``TransactionLayer.send_response``; it is None for an ACK that matched no INVITE server
    transaction, i.e. the ACK for a 2xx (RFC 3261 §17.2.3, §13.3.1.4), which is the TU's."""

    key: TransactionKey | None
    request: Request
    source: Address


@dataclass(frozen=True, slots=True)
class ResponseReceived:
    """A response for the TU. ``key`` is the client transaction it belongs to; None for a 2xx
    to an INVITE that matched no transaction (a 2xx from another fork, or a retransmitted 2xx
    the layer has no ACK for: RFC 3261 §13.2.2.4, the TU must ACK it)."""

    key: TransactionKey | None
    response: Response


@dataclass(frozen=True, slots=True)
class CancelReceived:
    """A CANCEL matched the INVITE server transaction ``key`` while it had no final response
    (RFC 3261 §9.2). The layer has already answered the CANCEL with 200; the TU SHOULD now
    answer the INVITE with 487 (``make_response(invite, 487)``)."""

    key: TransactionKey
    request: Request
    source: Address


@dataclass(frozen=True, slots=True)
class TransactionTimedOut:
    """Timer B, F or H fired (RFC 3261 §17.1.1.2, §17.1.2.2, §17.2.1)."""

    key: TransactionKey


@dataclass(frozen=True, slots=True)
class TransportFailed:
    """The transport reported a failure while the transaction used it (RFC 3261 §17.1.4,
    §17.2.4)."""

    key: TransactionKey


@dataclass(frozen=True, slots=True)
class AckTimedOut:
    """No ACK came for a 2xx within 64*T1 (RFC 3261 §13.3.1.4): the UAS core SHOULD confirm
    and then terminate the dialog with BYE. ``key`` was the INVITE's server transaction."""

    key: TransactionKey
    call_id: str
    cseq: int


TransactionEvent = (
    RequestReceived
    | ResponseReceived
    | CancelReceived
    | TransactionTimedOut
    | TransportFailed
    | AckTimedOut
)


# -- errors: TU misuse (network input never raises) ------------------------------------------


class TransactionError(Exception):
    """The TU asked the transaction layer for something the protocol does not allow."""


class InvalidTransition(TransactionError):
    """The (state, input) pair is not in the machine's transition table."""

    def __init__(self, key: TransactionKey, state: str, inp: str) -> None:
        super().__init__(f"{key}: {inp} is not allowed in state {state}")
        self.key = key
        self.state = state
        self.input = inp


class TransactionNotFound(TransactionError):
    """No live transaction matches (it terminated, or never existed)."""
