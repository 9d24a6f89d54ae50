"""What the store hands out: plain frozen dataclasses, detached from any session."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from centralita.sip.address import Address

CallDirection = Literal["inbound", "outbound", "internal"]
CallStatus = Literal[
    "answered_out",
    "wrong_number",
    "restricted",
    "cancelled",
    "answered_in",
    "dnd",
    "missed",
    "rejected",
    "forwarded_unanswered",
    "transferred",
]
CALL_DIRECTIONS: tuple[str, ...] = ("inbound", "outbound", "internal")
# An extension's SRTP policy (SDES, RFC 4568): what the PBX offers towards its phones and
# accepts from them (see centralita.calls.media.SrtpPolicy).
SrtpPolicy = Literal["off", "optional", "required"]
SRTP_POLICIES: tuple[SrtpPolicy, ...] = ("off", "optional", "required")
# The statuses of DESIGN.md's call log table, and only those.
CALL_STATUSES: tuple[str, ...] = (
    "answered_out",
    "wrong_number",
    "restricted",
    "cancelled",
    "answered_in",
    "dnd",
    "missed",
    "rejected",
    "forwarded_unanswered",
    "transferred",
)


@dataclass(frozen=True, slots=True)
class TenantInfo:
    id: int
    name: str
    domain: str  # lower-case; the SIP domain and the digest realm of the tenant
    is_default: bool
    created_at: datetime


@dataclass(frozen=True, slots=True)
class ExtensionInfo:
    id: int
    tenant_id: int
    number: str
    name: str | None
    call_waiting: bool
    has_credentials: bool  # False until a password is set (or after the realm changed)
    srtp: SrtpPolicy = "off"
    record_calls: bool = False  # every bridged call of this extension is recorded
    dnd: bool = False  # do-not-disturb: calls take the busy path and are logged as "dnd"
    forward_to: str | None = None  # unconditional forward set by the user (extension or E.164)


@dataclass(frozen=True, slots=True)
class ExtensionCredentials:
    """An extension with the digest HA1 of one algorithm (RFC 7616 §3.4.2)."""

    ha1: str
    extension: ExtensionInfo


@dataclass(frozen=True, slots=True)
class Binding:
    """A registered contact of an extension (RFC 3261 §10.3).

    ``received`` is where the REGISTER came from, without a connection id: connection ids
    are local to one worker, while bindings are shared by all of them; the transport layer
    finds the open connection to that remote address when there is one (RFC 5626 §5).
    """

    tenant_id: int
    number: str
    contact: str
    received: Address
    expires_at: float  # wall clock, epoch seconds
    call_id: str
    cseq: int
    user_agent: str | None = None
    q: float | None = None
    instance_id: str | None = None
    reg_id: int | None = None

    def expires_in(self, now: float) -> int:
        """Seconds left, for the ``expires`` parameter of a 200 OK's Contact (§10.3 step 8)."""
        return max(0, int(self.expires_at - now))


@dataclass(frozen=True, slots=True)
class CallRecord:
    """One row of the call log: one call as one party (``owner``) saw it. An internal call
    gives two rows with the same ``call_id``: the caller's outbound one and the callee's
    inbound one. Datetimes are aware, in UTC."""

    tenant_id: int
    call_id: str
    owner: str  # the extension whose call log this row belongs to
    direction: CallDirection
    caller: str
    callee: str
    started_at: datetime
    status: CallStatus
    caller_name: str | None = None
    answered_at: datetime | None = None
    ended_at: datetime | None = None
    wait_seconds: float = 0.0
    talk_seconds: float = 0.0
    answered_by: str | None = None
    hangup_cause: str | None = None
    routing_trace: list[Any] = field(default_factory=list)
    recording: str | None = None  # the whole-call recording (WAV path), when one was made
