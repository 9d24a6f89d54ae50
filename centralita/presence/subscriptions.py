"""The notifier of the message-summary event package (RFC 6665 + RFC 3842), sans-I/O.

Theory of operation. The UA core authenticates an out-of-dialog SUBSCRIBE and hands it here
(:meth:`SubscriptionManager.subscribe`) with the mailbox it may watch. The manager checks the
request (event package, Accept, Expires: RFC 6665 §4.2.1.1), creates the dialog with our To tag
(RFC 3261 §12.1.1), answers 200 with the granted Expires and sends the first NOTIFY with the
mailbox's current summary (RFC 6665 §4.2.2). In-dialog SUBSCRIBEs refresh or end the
subscription (§4.2.1.2, §4.1.2.3), :meth:`notify_changed` tells every subscription of a
mailbox about a change, and the expiry timer (:meth:`get_timer` / :meth:`handle_timer`) ends
subscriptions nobody refreshed. Each subscription's own life is the transition table of
:mod:`centralita.presence.subscription`.

Nothing here does I/O: requests and responses leave through the injected :class:`Outbound`
(the calls' :class:`~centralita.calls.signalling.Signalling` fits) and ``send_response``
(the transaction layer's), mailbox counts come from the injected :class:`MailboxCounts`, and
time is the ``now`` argument. No NOTIFY is ever sent without a subscription (RFC 6665 §3.2: a
NOTIFY to a node that did not subscribe is invalid).
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Protocol

from centralita.presence.message_summary import CONTENT_TYPE, MessageCounts, MessageSummary
from centralita.presence.subscription import Action, Input, Subscription
from centralita.sip.address import Address
from centralita.sip.dialog import Dialog, DialogId, uas_dialog_id
from centralita.sip.errors import (
    CallDoesNotExist,
    IntervalTooBrief,
    MethodNotAllowed,
    SipError,
)
from centralita.sip.message import Request, Response, Uri, make_response, new_tag
from centralita.sip.transaction import TransactionKey

EVENT_PACKAGE = "message-summary"  # RFC 3842 §4.1
ALLOW_EVENTS = EVENT_PACKAGE
# Media ranges that admit our body (RFC 3261 §20.1; RFC 3842 §4.5: the default when absent).
_ACCEPTABLE = frozenset({CONTENT_TYPE, "application/*", "*/*"})


class BadEvent(SipError):
    """489: the event package is not one we serve (RFC 6665 §8.3.2); the response carries
    Allow-Events (§4.2.1.1)."""

    status_code = 489
    reason = "Bad Event"
    allow_events = ALLOW_EVENTS


class NotAcceptable(SipError):
    """406: the subscriber accepts no body we can send (RFC 3261 §21.4.7, RFC 3842 §4.5)."""

    status_code = 406
    reason = "Not Acceptable"


class MailboxCounts(Protocol):
    """Where the message counts of a mailbox come from (the voicemail store implements it)."""

    def message_counts(self, tenant_id: int, box: str) -> MessageCounts: ...


class NoMessages:
    """The :class:`MailboxCounts` of a PBX without voicemail yet: every box is empty."""

    def message_counts(self, tenant_id: int, box: str) -> MessageCounts:
        return MessageCounts(0, 0)


class Outbound(Protocol):
    """How our Via and Contact look towards a peer, and the way out for requests."""

    def via(self, dest: Address) -> str: ...

    def contact(self, dest: Address, user: str | None = None) -> str: ...

    def send_request(self, request: Request, dest: Address, now: float) -> TransactionKey: ...


@dataclass(frozen=True, slots=True)
class SubscriptionPolicy:
    """Subscription durations in seconds (RFC 6665 §4.2.1.1: the notifier may shorten the
    requested duration, and answers 423 with Min-Expires to one too short to be worth it)."""

    min_expires: int = 60
    max_expires: int = 3600
    default_expires: int = 3600  # RFC 3842 §4.4 suggests one hour when Expires is absent


@dataclass(frozen=True, slots=True)
class EventHeader:
    """The Event header: package and id (RFC 6665 §8.2.1)."""

    package: str
    id: str | None
    value: str

    @classmethod
    def of(cls, request: Request) -> EventHeader:
        value = request.headers.get("Event")
        if not value:
            # §8.2.1: SUBSCRIBE MUST carry Event; we can only say what we do serve.
            raise BadEvent("SUBSCRIBE without Event header")
        package, *params = (part.strip() for part in value.split(";"))
        ids = [p.split("=", 1)[1].strip() for p in params if p.lower().startswith("id=")]
        return cls(package, ids[0] if ids else None, value.strip())


class SubscriptionManager:
    def __init__(
        self,
        outbound: Outbound,
        send_response: Callable[[Response, float], None],
        counts: MailboxCounts | None = None,
        policy: SubscriptionPolicy | None = None,
    ) -> None:
        self.outbound = outbound
        self.send_response = send_response
        self.counts = counts if counts is not None else NoMessages()
        self.policy = policy or SubscriptionPolicy()
        self._subscriptions: dict[DialogId, Subscription] = {}
        self._by_box: dict[tuple[int, str], dict[DialogId, None]] = {}
        self._in_flight: dict[TransactionKey, DialogId] = {}
        # The summaries notify_changed was given, per mailbox: what a deferred NOTIFY sends.
        self._given: dict[tuple[int, str], MessageSummary] = {}
        self._expiries: list[tuple[float, int, DialogId]] = []  # heap, stale entries skipped
        self._sequence = 0

    # ---- SUBSCRIBE ---------------------------------------------------------------------------

    def check(self, request: Request) -> int:
        """What can refuse a SUBSCRIBE before anyone authenticates it: the event package (489),
        Accept (406) and Expires (423). Returns the granted duration in seconds."""
        event = EventHeader.of(request)
        # Event packages compare case-sensitively (RFC 6665 §8.2.1, token match).
        if event.package != EVENT_PACKAGE:
            raise BadEvent(f"event package {event.package[:40]!r} is not served here")
        _check_accept(request)
        return self._granted_expires(request)

    def subscribe(
        self,
        request: Request,
        source: Address,
        *,
        tenant_id: int,
        box: str,
        account: str,
        now: float,
    ) -> Subscription:
        """Accept an authenticated, authorised out-of-dialog SUBSCRIBE for ``box``: 200 with
        Expires, then the first NOTIFY (RFC 6665 §4.2.1.1, §4.2.2)."""
        expires = self.check(request)
        event = EventHeader.of(request)
        contact = self.outbound.contact(source, box)
        dialog = Dialog.from_uas(request, new_tag(), Uri.parse(contact.strip("<>")))
        subscription = Subscription(
            tenant_id=tenant_id,
            box=box,
            account=account,
            dialog=dialog,
            event=event.value,
            event_id=event.id,
            peer=source,
            expires_at=None,
        )
        self._add(subscription)
        self._accept(request, subscription, expires, contact, now)
        return subscription

    def on_in_dialog_request(
        self, request: Request, key: TransactionKey | None, source: Address, now: float
    ) -> bool:
        """A request with a To tag: ours when it belongs to a subscription dialog."""
        subscription = self._subscriptions.get(uas_dialog_id(request))
        if subscription is None or key is None:
            return False
        if request.method != "SUBSCRIBE":
            raise MethodNotAllowed(f"{request.method} is not accepted in a subscription dialog")
        if EventHeader.of(request).id != subscription.event_id:
            raise CallDoesNotExist("no subscription with that Event id in this dialog")
        expires = self.check(request)
        subscription.dialog.receive_request(request)  # RFC 3261 §12.2.2: CSeq order
        contact = self.outbound.contact(source, subscription.box)
        self._accept(request, subscription, expires, contact, now)
        subscription.peer = source
        subscription.dialog.confirm_target_refresh(request)  # SUBSCRIBE refreshes the target
        return True

    def _accept(
        self, request: Request, subscription: Subscription, expires: int, contact: str, now: float
    ) -> None:
        action = subscription.step(Input.UNSUBSCRIBED if expires == 0 else Input.REFRESHED)
        if action is Action.REJECT:
            # RFC 6665 §4.2.1.2: a refresh of a subscription that is ending fails with 481.
            raise CallDoesNotExist("the subscription is ending")
        if expires:
            subscription.expires_at = now + expires
            self._arm(subscription)
        response = make_response(request, 200, to_tag=subscription.dialog.local_tag)
        response.headers.add("Contact", contact)  # RFC 6665 §4.2.1.1 / RFC 3261 §12.1.1
        response.headers.add("Expires", str(expires))  # RFC 6665 §4.2.1.1: MUST be present
        response.headers.add("Allow-Events", ALLOW_EVENTS)
        self.send_response(response, now)
        self._perform(subscription, action, now)

    def _granted_expires(self, request: Request) -> int:
        requested = request.expires
        if requested is None:
            return self.policy.default_expires
        if requested == 0:
            return 0
        if requested < self.policy.min_expires:
            raise IntervalTooBrief(self.policy.min_expires)  # RFC 6665 §4.2.1.1
        return min(requested, self.policy.max_expires)  # may shorten, never lengthen

    # ---- state changes -----------------------------------------------------------------------

    def notify_changed(
        self, tenant_id: int, box: str, summary: MessageSummary | None = None, *, now: float
    ) -> int:
        """The mailbox changed: every subscription to it learns its new state (RFC 6665
        §4.2.2). ``summary`` defaults to what :class:`MailboxCounts` reports. Returns how many
        subscriptions there were."""
        found = list(self._of_box(tenant_id, box))
        if summary is None or not found:
            self._given.pop((tenant_id, box), None)  # MailboxCounts is the truth again
        else:
            self._given[(tenant_id, box)] = summary
        for subscription in found:
            self._perform(subscription, subscription.step(Input.CHANGED), now)
        return len(found)

    def remove_mailbox(self, tenant_id: int, box: str, *, now: float) -> None:
        """The mailbox is gone: its subscriptions end with reason ``noresource`` (§4.4.1)."""
        for subscription in list(self._of_box(tenant_id, box)):
            self._perform(subscription, subscription.step(Input.REMOVED), now)

    def subscriptions(self, tenant_id: int, box: str) -> list[Subscription]:
        return list(self._of_box(tenant_id, box))

    # ---- NOTIFY outcomes ---------------------------------------------------------------------

    def on_response(self, key: TransactionKey, response: Response, now: float) -> bool:
        """A response to one of our NOTIFYs (False when ``key`` is not ours)."""
        if key not in self._in_flight:
            return False
        if response.status < 200:
            return True
        subscription = self._subscriptions.get(self._in_flight.pop(key))
        if subscription is None:
            return True
        subscription.in_flight = None
        subscription.dialog.receive_response("NOTIFY", response)
        outcome = Input.FAILED if _notify_failed(response) else Input.ANSWERED
        self._perform(subscription, subscription.step(outcome), now)
        return True

    def on_timeout(self, key: TransactionKey, now: float) -> bool:
        """Our NOTIFY timed out (Timer F) or could not be sent: the subscription is removed
        (RFC 6665 §4.2.2)."""
        dialog_id = self._in_flight.pop(key, None)
        if dialog_id is None:
            return False
        subscription = self._subscriptions.get(dialog_id)
        if subscription is not None:
            subscription.in_flight = None
            self._perform(subscription, subscription.step(Input.FAILED), now)
        return True

    # ---- timers ------------------------------------------------------------------------------

    def get_timer(self) -> float | None:
        while self._expiries and not self._is_current(self._expiries[0]):
            heapq.heappop(self._expiries)
        return self._expiries[0][0] if self._expiries else None

    def handle_timer(self, now: float) -> None:
        """End the subscriptions whose time is up (RFC 6665 §4.2.2, reason ``timeout``)."""
        while (deadline := self.get_timer()) is not None and deadline <= now:
            _, _, dialog_id = heapq.heappop(self._expiries)
            subscription = self._subscriptions[dialog_id]
            self._perform(subscription, subscription.step(Input.EXPIRED), now)

    def _arm(self, subscription: Subscription) -> None:
        assert subscription.expires_at is not None
        self._sequence += 1
        entry = (subscription.expires_at, self._sequence, subscription.dialog.id)
        heapq.heappush(self._expiries, entry)

    def _is_current(self, entry: tuple[float, int, DialogId]) -> bool:
        subscription = self._subscriptions.get(entry[2])
        return subscription is not None and subscription.expires_at == entry[0]

    # ---- actions -----------------------------------------------------------------------------

    def _perform(self, subscription: Subscription, action: Action, now: float) -> None:
        if action is Action.NOTIFY:
            state = f"active;expires={subscription.remaining(now)}"
            self._notify(subscription, state, self._body(subscription), now)
        elif action is Action.NOTIFY_FINAL:
            # §4.4.1: "noresource" means there is no state left to report.
            body = None if subscription.reason == "noresource" else self._body(subscription)
            state = f"terminated;reason={subscription.reason}"
            self._notify(subscription, state, body, now)
        elif action is Action.REMOVE:
            self._remove(subscription)

    def _body(self, subscription: Subscription) -> bytes:
        summary = self._given.get((subscription.tenant_id, subscription.box))
        if summary is None:
            counts = self.counts.message_counts(subscription.tenant_id, subscription.box)
            summary = MessageSummary.voice(counts)
        if summary.account is None:
            summary = summary.with_account(subscription.account)
        return bytes(summary)

    def _notify(
        self, subscription: Subscription, state: str, body: bytes | None, now: float
    ) -> None:
        # RFC 6665 §4.2.2 (+ §8.2.1): NOTIFY in the dialog, echoing Event (with its id) and
        # carrying Subscription-State; the body is the RFC 3842 §5 summary.
        request = subscription.dialog.create_request(
            "NOTIFY",
            via=self.outbound.via(subscription.peer),
            body=body or b"",
            content_type=CONTENT_TYPE if body else None,
        )
        request.headers.add("Event", subscription.event)
        request.headers.add("Subscription-State", state)
        key = self.outbound.send_request(request, subscription.peer, now)
        subscription.in_flight = key
        self._in_flight[key] = subscription.dialog.id

    # ---- bookkeeping -------------------------------------------------------------------------

    def _add(self, subscription: Subscription) -> None:
        dialog_id = subscription.dialog.id
        self._subscriptions[dialog_id] = subscription
        self._by_box.setdefault((subscription.tenant_id, subscription.box), {})[dialog_id] = None

    def _remove(self, subscription: Subscription) -> None:
        dialog_id = subscription.dialog.id
        self._subscriptions.pop(dialog_id, None)
        box_key = (subscription.tenant_id, subscription.box)
        members = self._by_box.get(box_key, {})
        members.pop(dialog_id, None)
        if not members:
            self._by_box.pop(box_key, None)
            self._given.pop(box_key, None)
        if subscription.in_flight is not None:
            self._in_flight.pop(subscription.in_flight, None)
        subscription.dialog.terminate()

    def _of_box(self, tenant_id: int, box: str) -> Iterator[Subscription]:
        for dialog_id in self._by_box.get((tenant_id, box), {}):
            yield self._subscriptions[dialog_id]


def _check_accept(request: Request) -> None:
    if "Accept" not in request.headers:
        return  # RFC 3842 §4.5: absent means application/simple-message-summary
    ranges = {value.split(";", 1)[0].strip().lower() for value in request.headers.get_all("Accept")}
    if not ranges & _ACCEPTABLE:
        raise NotAcceptable(f"Accept must allow {CONTENT_TYPE}")


def _notify_failed(response: Response) -> bool:
    """RFC 6665 §4.2.2: a NOTIFY failed when answered 481 or 408, or with any other error that
    has no Retry-After and nothing to retry (a 401/407 challenge is something to retry)."""
    status = response.status
    if status < 300:
        return False
    if status in (481, 408):
        return True
    return status not in (401, 407) and "Retry-After" not in response.headers
