"""The SIP transaction layer, sans-I/O (RFC 3261 §17).

Theory of operation: :class:`TransactionLayer` sits between the transport (which parses
bytes into messages and sends what ``datagrams_to_send()`` returns) and the TU (registrar,
B2BUA). It owns the four machines of §17 (``transaction_client.py``,
``transaction_server.py``), matches every message to one of them (§17.1.3, §17.2.3, with the
RFC 2543 fallback), absorbs retransmissions, runs timers A-K on deadlines the driver polls
with ``get_timer()`` and fires with ``handle_timer(now)``, and turns what reaches the TU into
events (``transaction_events.py``):

- ``RequestReceived(key, request, source)``: a new request; answer it with
  ``send_response``. ACKs that match no INVITE server transaction (the ACK for a 2xx) come
  with ``key=None``; every one of them is delivered, retransmissions included.
- ``ResponseReceived(key, response)``: a response for a client transaction. ``key=None``
  marks a 2xx to an INVITE outside any transaction (another fork, or a retransmission the
  layer had no ACK for); the TU ACKs it (§13.2.2.4). Retransmitted 2xx whose ACK the TU sent
  through ``send_stateless`` are answered with that same ACK by the layer and not reported.
- ``CancelReceived(key, cancel, source)``: a CANCEL hit INVITE server transaction ``key``
  before its final response; the layer answered the CANCEL with 200, the TU answers the
  INVITE with 487 (§9.2). A CANCEL matching nothing gets 481 from the layer; one matching a
  transaction already answered gets 200 and no event.
- ``TransactionTimedOut(key)`` (Timer B, F, H), ``TransportFailed(key)`` (after
  ``transport_failed(dest, now)``), ``AckTimedOut(key, call_id, cseq)`` (§13.3.1.4).

The layer sends a 100 Trying for an INVITE the TU has not answered within 200 ms (§17.2.1),
keeps re-sending a 2xx to an INVITE until its ACK (:class:`Uas2xxRetransmitter`), and holds
back a CANCEL until the INVITE has had a provisional response (§9.1). TU misuse raises
:class:`TransactionError`; malformed or unexpected network input is logged and dropped.
"""

from __future__ import annotations

import heapq
import itertools
import logging
from collections import deque
from typing import Protocol

from centralita.sip.address import Address
from centralita.sip.errors import SipParseError
from centralita.sip.message import Message, Request, Response, make_response, new_tag
from centralita.sip.transaction_client import (
    ClientTransaction,
    InviteClientTransaction,
    NonInviteClientTransaction,
    build_ack_for_non2xx,
    build_cancel,
)
from centralita.sip.transaction_events import (
    AckTimedOut,
    CancelReceived,
    InvalidTransition,
    RequestReceived,
    ResponseReceived,
    Role,
    TransactionError,
    TransactionEvent,
    TransactionKey,
    TransactionNotFound,
    TransactionTimedOut,
    TransportFailed,
)
from centralita.sip.transaction_machine import T1, T2, T4, Outbox, State, TimerValues
from centralita.sip.transaction_matching import (
    client_key,
    fallback_to_tag_matches,
    is_rfc3261_branch,
    request_client_key,
    sent_by,
    server_key,
    stamp_via,
)
from centralita.sip.transaction_server import (
    InviteServerTransaction,
    NonInviteServerTransaction,
    ServerTransaction,
)
from centralita.sip.uas_retransmitter import Uas2xxRetransmitter

__all__ = [
    "AckTimedOut",
    "CancelReceived",
    "InvalidTransition",
    "RequestReceived",
    "ResponseReceived",
    "Role",
    "State",
    "TransactionError",
    "TransactionEvent",
    "TransactionKey",
    "TransactionLayer",
    "TransactionNotFound",
    "TransactionTimedOut",
    "TransportFailed",
    "Uas2xxRetransmitter",
    "build_ack_for_non2xx",
    "build_cancel",
]

log = logging.getLogger(__name__)

_LIVE_INVITE_STATES = (State.CALLING, State.PROCEEDING)


class _Timed(Protocol):
    @property
    def terminated(self) -> bool: ...
    def next_deadline(self) -> float | None: ...
    def fire_due(self, now: float) -> None: ...


class _AckMemory:
    """ACKs the TU sent for 2xx responses, to answer 2xx retransmissions (§13.2.2.4) for
    64*T1, the time the UAC core considers the INVITE transaction alive."""

    def __init__(self, lifetime: float) -> None:
        self._lifetime = lifetime
        self._acks: dict[tuple[str, int, str], tuple[bytes, Address, float]] = {}
        self._expiry: deque[tuple[float, tuple[str, int, str]]] = deque()

    def remember(self, ack: Request, data: bytes, dest: Address, now: float) -> None:
        self.prune(now)
        key = (ack.call_id, ack.cseq.number, ack.to.tag or "")
        expires = now + self._lifetime
        self._acks[key] = (data, dest, expires)
        self._expiry.append((expires, key))

    def lookup(self, response: Response, now: float) -> tuple[bytes, Address] | None:
        self.prune(now)
        entry = self._acks.get((response.call_id, response.cseq.number, response.to.tag or ""))
        return (entry[0], entry[1]) if entry is not None else None

    def prune(self, now: float) -> None:
        while self._expiry and self._expiry[0][0] <= now:
            expires, key = self._expiry.popleft()
            entry = self._acks.get(key)
            if entry is not None and entry[2] == expires:  # not re-sent since
                del self._acks[key]


class TransactionLayer:
    """Sans-I/O RFC 3261 §17 transaction layer (see the module docstring)."""

    def __init__(self, *, t1: float = T1, t2: float = T2, t4: float = T4) -> None:
        self.timers = TimerValues(t1, t2, t4)
        self._out = Outbox()
        self._clients: dict[TransactionKey, ClientTransaction] = {}
        self._servers: dict[TransactionKey, ServerTransaction] = {}
        self._accepted: dict[TransactionKey, Uas2xxRetransmitter] = {}
        self._accepted_by_id: dict[tuple[str, int], TransactionKey] = {}
        self._pending_cancels: dict[TransactionKey, tuple[Request, Address]] = {}
        # (branch, sent-by) -> the non-CANCEL server transaction, for §9.2 CANCEL matching
        self._by_branch: dict[tuple[str, str], TransactionKey] = {}
        self._acks = _AckMemory(self.timers.timeout)
        self._heap: list[tuple[float, int, _Timed]] = []
        self._seq = itertools.count()
        self._now = 0.0

    # -- driver surface ----------------------------------------------------------------------
    def receive(self, msg: Message, source: Address, now: float) -> list[TransactionEvent]:
        """A message from the network. Never raises for anything the peer sent."""
        self._now = max(self._now, now)
        try:
            _check_fields(msg)
            if isinstance(msg, Request):
                self._receive_request(msg, source, now)
            else:
                self._receive_response(msg, now)
        except SipParseError as exc:
            log.info("dropping unusable message from %s: %s", source, exc)
        return self._drain_events()

    def datagrams_to_send(self) -> list[tuple[bytes, Address]]:
        datagrams, self._out.datagrams = self._out.datagrams, []
        return datagrams

    def get_timer(self) -> float | None:
        """The earliest deadline at which ``handle_timer`` has something to do."""
        while self._heap:
            deadline, _, owner = self._heap[0]
            if not owner.terminated and owner.next_deadline() == deadline:
                return deadline
            heapq.heappop(self._heap)
        return None

    def handle_timer(self, now: float) -> list[TransactionEvent]:
        self._now = max(self._now, now)
        while self._heap and self._heap[0][0] <= now:
            deadline, _, owner = heapq.heappop(self._heap)
            if owner.terminated or owner.next_deadline() != deadline:
                continue
            owner.fire_due(now)
            self._settle(owner)
        return self._drain_events()

    def transport_failed(self, dest: Address, now: float) -> list[TransactionEvent]:
        """The transport could not reach ``dest`` (ICMP error, connection refused or
        closed): every transaction using it fails (§17.1.4, §17.2.4)."""
        self._now = max(self._now, now)
        for tx in [*self._clients.values(), *self._servers.values()]:
            if _same_peer(tx.peer, dest) or (
                isinstance(tx, ServerTransaction) and _same_peer(tx.source, dest)
            ):
                tx.transport_error(now)
                self._settle(tx)
        return self._drain_events()

    # -- TU surface --------------------------------------------------------------------------
    def send_request(self, request: Request, dest: Address, now: float) -> TransactionKey:
        """Start a client transaction for ``request`` (whose top Via the TU built, with an
        RFC 3261 branch). A CANCEL is held until its INVITE has a provisional (§9.1)."""
        self._now = max(self._now, now)
        if request.method == "ACK":
            raise TransactionError("an ACK has no transaction: use send_stateless (§17.1.1.3)")
        if not is_rfc3261_branch(request.top_via.branch):
            raise TransactionError("requests need a z9hG4bK branch (RFC 3261 §8.1.1.7)")
        key = request_client_key(request)
        if key in self._clients or self._cancel_pending(key):
            raise TransactionError(f"{key} is already in use")
        if request.method == "CANCEL":
            return self._send_cancel(key, request, dest, now)
        self._start_client(key, request, dest, now)
        return key

    def cancel(self, invite_key: TransactionKey, now: float) -> TransactionKey | None:
        """CANCEL the INVITE of ``invite_key`` (§9.1). None when there is nothing to cancel:
        the INVITE already has its final response, or never existed."""
        tx = self._clients.get(invite_key)
        if not isinstance(tx, InviteClientTransaction) or tx.state not in _LIVE_INVITE_STATES:
            return None
        cancel_key = TransactionKey(Role.CLIENT, invite_key.branch, "CANCEL")
        if cancel_key in self._clients or self._cancel_pending(cancel_key):
            return cancel_key
        return self.send_request(build_cancel(tx.request), tx.peer, now)

    def send_response(self, response: Response, now: float) -> None:
        """Send ``response`` through the server transaction of its request."""
        self._now = max(self._now, now)
        tx = self._server_for(response)
        if tx is None:
            raise TransactionNotFound(f"no server transaction for {response.status} response")
        tx.send_response(response, now)
        if tx.key.method == "INVITE" and 200 <= response.status < 300:
            self._start_2xx_retransmission(tx, response, now)
        self._settle(tx)

    def send_stateless(self, msg: Message, dest: Address, now: float | None = None) -> None:
        """Send outside any transaction: the ACK for a 2xx (remembered, to re-send on a 2xx
        retransmission, §13.2.2.4), or a stateless response."""
        when = self._now if now is None else max(self._now, now)
        self._now = when
        data = bytes(msg)
        self._out.send(data, dest)
        if isinstance(msg, Request) and msg.method == "ACK":
            self._acks.remember(msg, data, dest, when)

    def cancelled_transaction(self, cancel: Request) -> TransactionKey | None:
        """The live server transaction a CANCEL refers to (§9.2): §17.2.3 matching with the
        method taken as anything but CANCEL or ACK; the INVITE one if there is one."""
        invite = server_key(cancel, method="INVITE")
        if self._live_server(invite, cancel) is not None:
            return invite
        key = self._by_branch.get((invite.branch, invite.sent_by))
        if key is not None and self._live_server(key, cancel) is not None:
            return key
        return None

    def state_of(self, key: TransactionKey) -> State | None:
        """The state of a live transaction; None once it has terminated."""
        tx = self._clients.get(key) or self._servers.get(key)
        return tx.state if tx is not None else None

    # -- network input -----------------------------------------------------------------------
    def _receive_request(self, request: Request, source: Address, now: float) -> None:
        key = server_key(request)  # before stamp_via: RFC 2543 keys include the raw Via
        stamp_via(request, source)
        tx = self._live_server(key, request)
        if tx is not None:
            tx.receive_request(request, now)
            self._settle(tx)
        elif request.method == "ACK":
            self._receive_2xx_ack(request, source)
        elif key in self._accepted:
            self._accepted[key].resend()  # the INVITE again, after our 2xx (§13.3.1.4)
        elif key in self._servers:
            log.info("%s: request clashes with a transaction of another To tag", key)
        elif request.method == "CANCEL":
            self._receive_cancel(key, request, source, now)
        else:
            self._start_server(key, request, source, now)
            self._out.emit(RequestReceived(key, request, source))

    def _receive_2xx_ack(self, ack: Request, source: Address) -> None:
        key = self._accepted_by_id.get((ack.call_id, ack.cseq.number))
        if key is not None and self._accepted[key].receive_ack(ack):
            self._forget_accepted(key)
        self._out.emit(RequestReceived(None, ack, source))

    def _receive_cancel(
        self, key: TransactionKey, cancel: Request, source: Address, now: float
    ) -> None:
        tx = self._start_server(key, cancel, source, now)
        target_key = self.cancelled_transaction(cancel)
        target = self._servers.get(target_key) if target_key is not None else None
        invite_key = server_key(cancel, method="INVITE")
        if target is None and invite_key not in self._accepted:
            tx.send_response(make_response(cancel, 481, to_tag=new_tag()), now)  # §9.2
        else:
            tag = _to_tag(target.last_response) if target is not None else None
            tx.send_response(make_response(cancel, 200, to_tag=tag or new_tag()), now)
            if isinstance(target, InviteServerTransaction) and target.state is State.PROCEEDING:
                self._out.emit(CancelReceived(target.key, cancel, source))
        self._settle(tx)

    def _receive_response(self, response: Response, now: float) -> None:
        key = client_key(response)
        tx = self._clients.get(key) if key is not None else None
        if tx is None:
            self._receive_stray(response, now)
            return
        tx.receive_response(response, now)
        self._release_cancel(tx, now)
        self._settle(tx)

    def _receive_stray(self, response: Response, now: float) -> None:
        if response.cseq.method != "INVITE" or not 200 <= response.status < 300:
            log.debug("dropping %d response matching no transaction", response.status)
            return
        ack = self._acks.lookup(response, now)
        if ack is not None:
            self._out.send(*ack)  # §13.2.2.4: a retransmitted 2xx gets the same ACK
        else:
            self._out.emit(ResponseReceived(None, response))

    # -- bookkeeping -------------------------------------------------------------------------
    def _start_client(
        self, key: TransactionKey, request: Request, dest: Address, now: float
    ) -> ClientTransaction:
        cls = InviteClientTransaction if request.method == "INVITE" else NonInviteClientTransaction
        tx = cls(key, request, dest, self._out, self.timers, now)
        self._clients[key] = tx
        tx.start()
        self._settle(tx)
        return tx

    def _start_server(
        self, key: TransactionKey, request: Request, source: Address, now: float
    ) -> ServerTransaction:
        cls = InviteServerTransaction if request.method == "INVITE" else NonInviteServerTransaction
        tx = cls(key, request, source, self._out, self.timers, now)
        self._servers[key] = tx
        if key.method != "CANCEL":
            self._by_branch[(key.branch, key.sent_by)] = key
        tx.start()
        self._settle(tx)
        return tx

    def _send_cancel(
        self, key: TransactionKey, cancel: Request, dest: Address, now: float
    ) -> TransactionKey:
        invite_key = TransactionKey(Role.CLIENT, key.branch, "INVITE")
        invite = self._clients.get(invite_key)
        if invite is None or invite.state not in _LIVE_INVITE_STATES:
            raise TransactionNotFound(f"no INVITE awaiting a final response for {key}")
        if invite.state is State.CALLING:
            self._pending_cancels[invite_key] = (cancel, dest)  # §9.1: wait for a 1xx
        else:
            self._start_client(key, cancel, dest, now)
        return key

    def _release_cancel(self, tx: ClientTransaction, now: float) -> None:
        pending = self._pending_cancels.get(tx.key)
        if pending is None or tx.state is State.CALLING:
            return
        del self._pending_cancels[tx.key]
        if tx.state is State.PROCEEDING:
            cancel, dest = pending
            self._start_client(request_client_key(cancel), cancel, dest, now)

    def _start_2xx_retransmission(
        self, tx: ServerTransaction, response: Response, now: float
    ) -> None:
        t = self.timers
        retransmitter = Uas2xxRetransmitter(
            tx.key, response, tx.peer, now, t1=t.t1, t2=t.t2, out=self._out
        )
        self._accepted[tx.key] = retransmitter
        self._accepted_by_id[(retransmitter.call_id, retransmitter.cseq)] = tx.key
        self._settle(retransmitter)

    def _forget_accepted(self, key: TransactionKey) -> None:
        retransmitter = self._accepted.pop(key)
        if self._accepted_by_id.get((retransmitter.call_id, retransmitter.cseq)) == key:
            del self._accepted_by_id[(retransmitter.call_id, retransmitter.cseq)]

    def _settle(self, owner: _Timed) -> None:
        """Re-arm ``owner``'s next deadline, or forget it once terminated."""
        if owner.terminated:
            self._forget(owner)
            return
        deadline = owner.next_deadline()
        if deadline is not None:
            heapq.heappush(self._heap, (deadline, next(self._seq), owner))

    def _forget(self, owner: _Timed) -> None:
        if isinstance(owner, Uas2xxRetransmitter):
            if self._accepted.get(owner.key) is owner:
                self._forget_accepted(owner.key)
        elif isinstance(owner, ClientTransaction):
            if self._clients.get(owner.key) is owner:
                del self._clients[owner.key]
            self._pending_cancels.pop(owner.key, None)
        elif isinstance(owner, ServerTransaction) and self._servers.get(owner.key) is owner:
            del self._servers[owner.key]
            where = (owner.key.branch, owner.key.sent_by)
            if self._by_branch.get(where) == owner.key:
                del self._by_branch[where]

    def _live_server(self, key: TransactionKey, request: Request) -> ServerTransaction | None:
        tx = self._servers.get(key)
        if tx is None or is_rfc3261_branch(key.branch):
            return tx
        return tx if fallback_to_tag_matches(request, tx.request, tx.last_response) else None

    def _server_for(self, response: Response) -> ServerTransaction | None:
        via = response.top_via
        method = response.cseq.method
        if is_rfc3261_branch(via.branch):
            key = TransactionKey(Role.SERVER, via.branch or "", method, sent_by(via))
            return self._servers.get(key)
        for tx in self._servers.values():  # RFC 2543 peer: find the request it answers
            if not is_rfc3261_branch(tx.key.branch) and _answers(response, tx.request):
                return tx
        return None

    def _cancel_pending(self, key: TransactionKey) -> bool:
        invite_key = TransactionKey(Role.CLIENT, key.branch, "INVITE")
        return key.method == "CANCEL" and invite_key in self._pending_cancels

    def _drain_events(self) -> list[TransactionEvent]:
        events, self._out.events = self._out.events, []
        return events


def _check_fields(msg: Message) -> None:
    """Parse up front every header matching needs, so a malformed one fails here."""
    _ = (msg.top_via, msg.call_id, msg.cseq, msg.from_, msg.to)


def _to_tag(response: Response | None) -> str | None:
    return response.to.tag if response is not None else None


def _answers(response: Response, request: Request) -> bool:
    return (
        response.call_id == request.call_id
        and response.cseq == request.cseq
        and response.from_.tag == request.from_.tag
        and str(response.top_via) == str(request.top_via)
    )


def _same_peer(a: Address, b: Address) -> bool:
    if (a.transport, a.host, a.port) != (b.transport, b.host, b.port):
        return False
    return b.connection is None or a.connection == b.connection
