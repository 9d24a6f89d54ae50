"""How a finished call becomes call-log records with DESIGN.md's statuses.

A call between two extensions appears in both users' call logs: once as the caller's outgoing
call and once as the callee's incoming call, each with its own status. The mapping from what
happened on the wire to a status lives here and nowhere else.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any


class Outcome(enum.Enum):
    ANSWERED = "answered"
    CANCELLED = "cancelled"  # the caller hung up before an answer
    WRONG_NUMBER = "wrong_number"  # nothing in the dial plan matches
    NOT_REACHABLE = "not_reachable"  # callee not registered, or no contact answered the network
    BUSY = "busy"  # the PBX found the callee busy
    REJECTED = "rejected"  # the callee's phone declined
    NO_ANSWER = "no_answer"  # ring timeout
    FAILED = "failed"  # any other failure (5xx, 6xx, media or network trouble)


class Status(enum.StrEnum):
    """DESIGN.md's call statuses, exactly."""

    ANSWERED_OUT = "answered_out"
    WRONG_NUMBER = "wrong_number"
    RESTRICTED = "restricted"
    CANCELLED = "cancelled"
    ANSWERED_IN = "answered_in"
    DND = "dnd"
    MISSED = "missed"
    REJECTED = "rejected"
    FORWARDED_UNANSWERED = "forwarded_unanswered"
    TRANSFERRED = "transferred"


@dataclass(frozen=True, slots=True)
class CallSummary:
    """What the B2BUA knows when a call ends."""

    tenant_id: int
    call_id: str
    caller: str
    caller_name: str
    callee: str
    callee_name: str
    callee_is_extension: bool
    started_at: float
    answered_at: float | None
    ended_at: float
    outcome: Outcome
    hangup_cause: str
    answered_by: str | None = None
    routing_trace: list[dict[str, Any]] = field(default_factory=list)
    recording: str | None = None  # the whole-call recording's path, when the call was recorded
    # A call from outside (a carrier) has no caller row: nobody of the tenant placed it.
    caller_is_extension: bool = True
    # Calls routed by the dial plan say each involved extension's status themselves
    # (the routing features know a forwarded call from a missed one); when given, these
    # rows replace the single callee row.
    extension_rows: tuple[ExtensionRow, ...] | None = None


@dataclass(frozen=True, slots=True)
class ExtensionRow:
    """One extension's incoming row of a routed call."""

    extension: str
    status: Status
    answered_by: str | None = None


@dataclass(frozen=True, slots=True)
class RecordDraft:
    """One row of the call log, as the store writes it."""

    tenant_id: int
    call_id: str
    owner: str  # the extension whose call log this row belongs to
    direction: str  # "outbound" | "inbound"
    caller: str
    caller_name: str
    callee: str
    started_at: float
    answered_at: float | None
    ended_at: float
    wait_seconds: float
    talk_seconds: float
    status: Status
    answered_by: str | None
    hangup_cause: str
    routing_trace: list[dict[str, Any]]
    recording: str | None = None  # the same file in both rows of the call


def outbound_status(outcome: Outcome) -> Status:
    if outcome is Outcome.ANSWERED:
        return Status.ANSWERED_OUT
    if outcome is Outcome.WRONG_NUMBER:
        return Status.WRONG_NUMBER
    # DESIGN.md has no separate outgoing "busy" or "no answer" status: an outgoing call that
    # was not delivered to an answer ended on the caller's side; hangup_cause keeps the reason.
    return Status.CANCELLED


def inbound_status(outcome: Outcome) -> Status:
    if outcome is Outcome.ANSWERED:
        return Status.ANSWERED_IN
    if outcome is Outcome.REJECTED:
        return Status.REJECTED
    return Status.MISSED


def drafts(summary: CallSummary) -> list[RecordDraft]:
    """The caller's outgoing row (when the caller is an extension) and the incoming rows:
    the callee's when it is an extension, or each routed extension's."""
    answered = summary.answered_at
    wait = (answered if answered is not None else summary.ended_at) - summary.started_at
    talk = summary.ended_at - answered if answered is not None else 0.0
    common = {
        "tenant_id": summary.tenant_id,
        "call_id": summary.call_id,
        "caller": summary.caller,
        "caller_name": summary.caller_name,
        "callee": summary.callee,
        "started_at": summary.started_at,
        "answered_at": answered,
        "ended_at": summary.ended_at,
        "wait_seconds": round(max(wait, 0.0), 3),
        "talk_seconds": round(max(talk, 0.0), 3),
        "answered_by": summary.answered_by,
        "hangup_cause": summary.hangup_cause,
        "routing_trace": summary.routing_trace,
        "recording": summary.recording,
    }
    rows = []
    if summary.caller_is_extension:
        rows.append(
            RecordDraft(
                owner=summary.caller,
                direction="outbound",
                status=outbound_status(summary.outcome),
                **common,  # type: ignore[arg-type]
            )
        )
    if summary.extension_rows is not None:
        for row in summary.extension_rows:
            fields = {**common, "answered_by": row.answered_by}
            rows.append(
                RecordDraft(
                    owner=row.extension,
                    direction="inbound",
                    status=row.status,
                    **fields,  # type: ignore[arg-type]
                )
            )
        return rows
    if summary.callee_is_extension and summary.outcome is not Outcome.WRONG_NUMBER:
        rows.append(
            RecordDraft(
                owner=summary.callee,
                direction="inbound",
                status=inbound_status(summary.outcome),
                **common,  # type: ignore[arg-type]
            )
        )
    return rows
