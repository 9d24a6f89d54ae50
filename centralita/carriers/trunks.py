"""The PBX's registrations with its carriers, all of them, sans-I/O.

Theory of operation. :class:`TrunkRegistrations` keeps one
:class:`~centralita.carriers.registration.TrunkRegistration` per ``register`` carrier of
every tenant (keyed by tenant id and carrier name) and does what their transition tables
ask: it builds and sends REGISTERs through the injected :class:`Outbound` (the calls'
:class:`~centralita.calls.signalling.Signalling` fits; its transaction layer retransmits),
takes the responses and timeouts the UA core routes here (:meth:`on_response`,
:meth:`on_timeout`: True when the transaction was a trunk REGISTER), and keeps the refresh
and retry deadlines for the driver (:meth:`get_timer`, :meth:`handle_timer`). Only the
newest REGISTER of a registration counts; answers to older ones are absorbed.

Host names: nothing here does DNS. The registrar's address comes from ``start(...,
address=)`` or from the injected ``resolve(host, port, transport)`` (a cache the asyncio side
fills, say), which may answer None: the attempt then fails like a timeout and is retried with
backoff, resolving again (RFC 3263 §4.3 lookups are the caller's business).

Shutdown: :meth:`stop_all` sends un-REGISTERs (Expires: 0, RFC 3261 §10.2.2);
:attr:`idle` turns True once each has been answered or has timed out.
"""

from __future__ import annotations

import heapq
import ipaddress
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from centralita.carriers.inbound import TrunkSource
from centralita.carriers.registration import (
    Action,
    Input,
    State,
    TrunkRegistration,
    retry_after,
)
from centralita.config.dialplan import CarrierConfig
from centralita.sip.address import Address
from centralita.sip.message import Request, Response, Uri
from centralita.sip.transaction import TransactionKey

Resolver = Callable[[str, int, str], Address | None]
Key = tuple[int, str]  # (tenant id, carrier name)


class Outbound(Protocol):
    """How our Via and Contact look towards a peer, and the way out for requests."""

    def via(self, dest: Address) -> str: ...

    def contact(self, dest: Address, user: str | None = None) -> str: ...

    def send_request(self, request: Request, dest: Address, now: float) -> TransactionKey: ...


def literal_resolver(host: str, port: int, transport: str) -> Address | None:
    """Resolves IP literals only (the default: a host name needs a real resolver)."""
    try:
        ip = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None
    return Address(transport, str(ip), port)


@dataclass(frozen=True, slots=True)
class TrunkStatus:
    """One registration as ``centralita`` status commands show it."""

    tenant_id: int
    carrier: str
    registrar: str  # "udp:sip.carrier.example:5060"
    username: str
    state: str  # a State value
    expires_at: float | None  # when the binding lapses (registered only)
    next_attempt: float | None  # the refresh or retry time
    failures: int  # consecutive failed attempts
    last_status: int | None
    last_reason: str


class TrunkRegistrations:
    def __init__(self, outbound: Outbound, *, resolve: Resolver = literal_resolver) -> None:
        self.outbound = outbound
        self.resolve = resolve
        self._active: dict[Key, TrunkRegistration] = {}
        self._leaving: dict[TrunkRegistration, None] = {}  # un-REGISTERing, insertion order
        self._addresses: dict[Key, Address] = {}  # given to start(); never re-resolved
        self._in_flight: dict[TransactionKey, TrunkRegistration] = {}
        self._current: dict[TrunkRegistration, TransactionKey] = {}
        self._timers: list[tuple[float, int, TrunkRegistration]] = []
        self._sequence = 0

    # ---- commands ------------------------------------------------------------------------

    def start(
        self, tenant_id: int, carrier: CarrierConfig, now: float, *, address: Address | None = None
    ) -> None:
        """Register ``carrier`` of ``tenant_id`` (again, if its settings changed)."""
        if carrier.registration is None:
            raise ValueError(f"carrier {carrier.name} does not register")
        key = (tenant_id, carrier.name)
        old = self._active.get(key)
        if old is not None and old.carrier == carrier and self._addresses.get(key) == address:
            return
        if old is not None:
            self.stop(tenant_id, carrier.name, now)
        if address is not None:
            self._addresses[key] = address
        registration = TrunkRegistration(tenant_id, carrier)
        self._active[key] = registration
        self._perform(registration, registration.step(Input.START), now)

    def stop(self, tenant_id: int, carrier_name: str, now: float) -> None:
        registration = self._active.pop((tenant_id, carrier_name), None)
        self._addresses.pop((tenant_id, carrier_name), None)
        if registration is None:
            return
        registration.deadline = None
        self._leaving[registration] = None
        self._perform(registration, registration.step(Input.STOP), now)

    def stop_all(self, now: float) -> None:
        for tenant_id, name in list(self._active):
            self.stop(tenant_id, name, now)

    def sync(self, carriers: Mapping[int, Sequence[CarrierConfig]], now: float) -> None:
        """Make the registrations those of ``carriers`` (tenant id -> its carriers): start
        new and changed ones, stop the ones no longer configured."""
        wanted = {
            (tenant_id, c.name): c
            for tenant_id, items in carriers.items()
            for c in items
            if c.registration is not None
        }
        for tenant_id, name in [key for key in self._active if key not in wanted]:
            self.stop(tenant_id, name, now)
        for key, carrier in wanted.items():
            self.start(key[0], carrier, now, address=self._addresses.get(key))

    @property
    def idle(self) -> bool:
        """No un-REGISTER is waiting for its answer."""
        return not self._leaving

    # ---- input ---------------------------------------------------------------------------

    def on_response(self, key: TransactionKey, response: Response, now: float) -> bool:
        registration = self._in_flight.get(key)
        if registration is None:
            return False
        if response.status < 200:
            return True
        del self._in_flight[key]
        if self._current.get(registration) != key:
            return True  # an answer to a REGISTER superseded by a newer one
        del self._current[registration]
        event = registration.classify(response)
        if event is Input.SUCCEEDED and registration.state is not State.UNREGISTERING:
            granted = registration.granted(response, self._contact_uri(registration))
            if granted <= 0:
                registration.last_reason = "binding not kept"
                event = Input.FAILED
            else:
                registration.arm_refresh(granted, now)
        self._perform(registration, registration.step(event), now, response)
        return True

    def on_timeout(self, key: TransactionKey, now: float) -> bool:
        """Timer F fired or the transport failed for ``key`` (RFC 3261 §17.1.2.2, §17.1.4)."""
        registration = self._in_flight.pop(key, None)
        if registration is None:
            return False
        if self._current.get(registration) == key:
            del self._current[registration]
            registration.last_status, registration.last_reason = None, "no response"
            self._perform(registration, registration.step(Input.FAILED), now)
        return True

    def get_timer(self) -> float | None:
        while self._timers:
            deadline, _, registration = self._timers[0]
            if self._due(registration, deadline):
                return deadline
            heapq.heappop(self._timers)
        return None

    def handle_timer(self, now: float) -> None:
        while self._timers and self._timers[0][0] <= now:
            deadline, _, registration = heapq.heappop(self._timers)
            if self._due(registration, deadline):
                registration.deadline = None
                self._perform(registration, registration.step(Input.TIMER), now)

    # ---- queries -------------------------------------------------------------------------

    def status(self) -> list[TrunkStatus]:
        every = [*self._active.values(), *self._leaving]
        return [self._status(r) for r in sorted(every, key=lambda r: r.key)]

    def sources(self) -> list[TrunkSource]:
        """The registrars' resolved addresses, for identifying their INVITEs."""
        return [
            TrunkSource(r.tenant_id, r.carrier.name, r.dest.host)
            for r in self._active.values()
            if r.dest is not None
        ]

    def registration(self, tenant_id: int, carrier_name: str) -> TrunkRegistration | None:
        return self._active.get((tenant_id, carrier_name))

    # ---- actions -------------------------------------------------------------------------

    def _perform(
        self,
        registration: TrunkRegistration,
        action: Action,
        now: float,
        response: Response | None = None,
    ) -> None:
        if action is Action.SEND_REGISTER:
            self._send(registration, now, expires=None)
        elif action is Action.SEND_UNREGISTER:
            self._send(registration, now, expires=0)
        elif action is Action.ARM_REFRESH:
            self._arm(registration)
        elif action is Action.ARM_RETRY:
            registration.arm_retry(now, retry_after(response) if response is not None else None)
            if registration.key not in self._addresses:
                registration.dest = None  # resolve again next time
            self._arm(registration)
        if registration.state is State.UNREGISTERED:
            self._leaving.pop(registration, None)

    def _send(self, registration: TrunkRegistration, now: float, *, expires: int | None) -> None:
        dest = registration.dest or self._resolve(registration)
        if dest is None:
            registration.last_status, registration.last_reason = None, "cannot resolve"
            self._perform(registration, registration.step(Input.FAILED), now)
            return
        registration.dest = dest
        contact = self.outbound.contact(dest, registration.account.username)
        request = registration.build_register(self.outbound.via(dest), contact, expires=expires)
        key = self.outbound.send_request(request, dest, now)
        self._in_flight[key] = registration
        self._current[registration] = key

    def _resolve(self, registration: TrunkRegistration) -> Address | None:
        given = self._addresses.get(registration.key)
        if given is not None:
            return given
        account = registration.account
        return self.resolve(account.server.strip("[]"), account.port, account.transport)

    def _arm(self, registration: TrunkRegistration) -> None:
        if registration.deadline is None:
            return
        self._sequence += 1
        heapq.heappush(self._timers, (registration.deadline, self._sequence, registration))

    def _due(self, registration: TrunkRegistration, deadline: float) -> bool:
        live = self._active.get(registration.key) is registration
        return live and registration.deadline == deadline and registration not in self._current

    def _contact_uri(self, registration: TrunkRegistration) -> Uri:
        assert registration.dest is not None
        contact = self.outbound.contact(registration.dest, registration.account.username)
        return Uri.parse(contact.strip("<>"))

    @staticmethod
    def _status(registration: TrunkRegistration) -> TrunkStatus:
        account = registration.account
        registered = registration.state in (State.REGISTERED, State.REFRESHING)
        return TrunkStatus(
            tenant_id=registration.tenant_id,
            carrier=registration.carrier.name,
            registrar=f"{account.transport}:{account.server}:{account.port}",
            username=account.username,
            state=registration.state.value,
            expires_at=registration.expires_at if registered else None,
            next_attempt=registration.deadline,
            failures=registration.failures,
            last_status=registration.last_status,
            last_reason=registration.last_reason,
        )
