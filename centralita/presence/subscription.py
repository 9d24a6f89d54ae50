"""One message-summary subscription, as its notifier sees it (RFC 6665 §4.2, RFC 3842).

Theory of operation. A SUBSCRIBE the notifier accepts creates a dialog and a subscription
(RFC 6665 §4.2.1.1); the notifier then tells the subscriber the resource state at once and on
every change, in NOTIFY requests on that dialog (§4.2.2), until the subscription ends: the
subscriber unsubscribes (Expires: 0, §4.1.2.3; or fetches, §4.4.3), it is not refreshed in
time (reason ``timeout``, §4.4.1), or the mailbox goes away (``noresource``). The last NOTIFY
carries ``Subscription-State: terminated``; a NOTIFY the subscriber answers 481 or 408, or that
times out, ends the subscription at once (§4.2.2, RFC 5057 §5.1), without a final NOTIFY.

Only one NOTIFY per subscription is in flight: a change or refresh while one is outstanding
marks the subscription STALE and the newest state goes out when the answer comes, so a
subscriber never sees an older state after a newer one (CSeq order is not arrival order over
UDP). The states:

- ACTIVE: nothing in flight.
- NOTIFYING: a NOTIFY in flight, the subscriber will have the latest state once answered.
- STALE: a NOTIFY in flight and a newer state to send after it.
- FINAL_PENDING: the subscription ended while a NOTIFY was in flight; the final one follows.
- TERMINATING: the final NOTIFY is in flight.
- TERMINATED: gone (the manager forgets it).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from centralita.sip.address import Address
from centralita.sip.dialog import Dialog
from centralita.sip.transaction import TransactionKey


class SubscriptionState(enum.Enum):
    ACTIVE = "active"
    NOTIFYING = "notifying"
    STALE = "stale"
    FINAL_PENDING = "final-pending"
    TERMINATING = "terminating"
    TERMINATED = "terminated"


class Input(enum.Enum):
    REFRESHED = "refreshed"  # a SUBSCRIBE with Expires > 0 was accepted (initial or refresh)
    UNSUBSCRIBED = "unsubscribed"  # a SUBSCRIBE with Expires: 0 (unsubscribe or fetch)
    EXPIRED = "expired"  # not refreshed in time
    REMOVED = "removed"  # the mailbox no longer exists
    CHANGED = "changed"  # the mailbox state changed
    ANSWERED = "answered"  # our NOTIFY got a final response that keeps the subscription
    FAILED = "failed"  # our NOTIFY got 481/408/a fatal error, or timed out


class Action(enum.Enum):
    NOTIFY = "notify"  # send the current state, Subscription-State: active
    NOTIFY_FINAL = "notify-final"  # send Subscription-State: terminated
    NONE = "none"  # nothing now (a NOTIFY is in flight; its answer moves us on)
    REJECT = "reject"  # answer the SUBSCRIBE 481: the subscription is ending (§4.2.1.2)
    REMOVE = "remove"  # forget the subscription


S = SubscriptionState
_ENDINGS = (Input.UNSUBSCRIBED, Input.EXPIRED, Input.REMOVED)
_LIVE = (S.ACTIVE, S.NOTIFYING, S.STALE, S.FINAL_PENDING, S.TERMINATING)

_TRANSITIONS: dict[tuple[SubscriptionState, Input], tuple[Action, SubscriptionState]] = {
    (S.ACTIVE, Input.REFRESHED): (Action.NOTIFY, S.NOTIFYING),
    (S.ACTIVE, Input.CHANGED): (Action.NOTIFY, S.NOTIFYING),
    **{(S.ACTIVE, end): (Action.NOTIFY_FINAL, S.TERMINATING) for end in _ENDINGS},
    (S.NOTIFYING, Input.REFRESHED): (Action.NONE, S.STALE),
    (S.NOTIFYING, Input.CHANGED): (Action.NONE, S.STALE),
    (S.NOTIFYING, Input.ANSWERED): (Action.NONE, S.ACTIVE),
    **{(S.NOTIFYING, end): (Action.NONE, S.FINAL_PENDING) for end in _ENDINGS},
    (S.STALE, Input.REFRESHED): (Action.NONE, S.STALE),
    (S.STALE, Input.CHANGED): (Action.NONE, S.STALE),
    (S.STALE, Input.ANSWERED): (Action.NOTIFY, S.NOTIFYING),
    **{(S.STALE, end): (Action.NONE, S.FINAL_PENDING) for end in _ENDINGS},
    (S.FINAL_PENDING, Input.REFRESHED): (Action.REJECT, S.FINAL_PENDING),
    (S.FINAL_PENDING, Input.UNSUBSCRIBED): (Action.REJECT, S.FINAL_PENDING),
    (S.FINAL_PENDING, Input.REMOVED): (Action.NONE, S.FINAL_PENDING),
    (S.FINAL_PENDING, Input.CHANGED): (Action.NONE, S.FINAL_PENDING),
    (S.FINAL_PENDING, Input.ANSWERED): (Action.NOTIFY_FINAL, S.TERMINATING),
    (S.TERMINATING, Input.REFRESHED): (Action.REJECT, S.TERMINATING),
    (S.TERMINATING, Input.UNSUBSCRIBED): (Action.REJECT, S.TERMINATING),
    (S.TERMINATING, Input.REMOVED): (Action.NONE, S.TERMINATING),
    (S.TERMINATING, Input.CHANGED): (Action.NONE, S.TERMINATING),
    (S.TERMINATING, Input.ANSWERED): (Action.REMOVE, S.TERMINATED),
    **{(state, Input.FAILED): (Action.REMOVE, S.TERMINATED) for state in _LIVE},
}

# RFC 6665 §4.4.1 reason codes for the final Subscription-State.
REASONS = {
    Input.UNSUBSCRIBED: "timeout",  # also what §4.4.3 (fetch) prescribes
    Input.EXPIRED: "timeout",
    Input.REMOVED: "noresource",
}


class SubscriptionProtocolError(Exception):
    """An input the subscription's state does not accept: a bug in the manager."""


@dataclass(eq=False)
class Subscription:
    """A message-summary subscription: its dialog, whose mailbox, where NOTIFYs go."""

    tenant_id: int
    box: str
    account: str  # the Message-Account we report (RFC 3842 §5.2)
    dialog: Dialog
    event: str  # the Event header value we echo in NOTIFYs (with its id, RFC 6665 §8.2.1)
    event_id: str | None
    peer: Address  # where the subscriber's SUBSCRIBE came from; NOTIFYs go there
    expires_at: float | None
    state: SubscriptionState = SubscriptionState.ACTIVE
    reason: str | None = None  # set once the subscription ends
    in_flight: TransactionKey | None = None

    def step(self, event: Input) -> Action:
        """Apply ``event``; return what the manager must do (RFC 6665 §4.2)."""
        try:
            action, next_state = _TRANSITIONS[(self.state, event)]
        except KeyError:
            raise SubscriptionProtocolError(f"{event.name} in state {self.state.name}") from None
        if event in REASONS and self.reason is None and action is not Action.REJECT:
            self.reason = REASONS[event]
            self.expires_at = None  # no expiry timer once ending
        self.state = next_state
        return action

    def remaining(self, now: float) -> int:
        """Seconds left, for ``Subscription-State: active;expires=`` (RFC 6665 §4.2.2)."""
        if self.expires_at is None:
            return 0
        return max(0, int(self.expires_at - now + 0.999))
