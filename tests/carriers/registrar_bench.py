"""A carrier's registrar for the trunk-registration tests, and the bench that joins it to the
PBX's real transaction layer and Signalling with a fake clock (no sockets).

The registrar verifies digest answers with the PBX's own server-side verifier
(:class:`centralita.sip.auth.DigestAuthenticator`), so a wrong hash fails here as it would at
a real carrier.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from centralita.calls.signalling import Signalling
from centralita.carriers.trunks import Resolver, TrunkRegistrations, literal_resolver
from centralita.sip.address import Address
from centralita.sip.auth import DigestAuthenticator, ha1
from centralita.sip.message import Request, Response, make_response, new_tag, parse_message
from centralita.sip.transaction import (
    ResponseReceived,
    TransactionEvent,
    TransactionLayer,
    TransactionTimedOut,
    TransportFailed,
)

PBX = ("198.18.0.1", 5062)
REGISTRAR = Address("udp", "203.0.113.5", 5060)


class FakeNetwork:
    def local_address(self, transport: str, peer_host: str) -> tuple[str, int]:
        return PBX


@dataclass
class Registrar:
    realm: str = "carrier.example"
    users: dict[str, str] = field(default_factory=lambda: {"acme": "s3cret"})
    proxy_auth: bool = False  # challenge with 407 like a proxy (RFC 3261 §22.3)
    min_expires: int | None = None
    max_expires: int = 86400
    down: bool = False  # drop every request
    refuse: tuple[int, str, tuple[tuple[str, str], ...]] | None = None  # (status, reason, headers)
    stale_answers: int = 0  # how many correct answers to call stale first
    nonce_ttl: float = 300.0
    requests: list[Request] = field(default_factory=list)
    bindings: dict[str, float] = field(default_factory=dict)  # contact -> expiry
    authenticated: list[str] = field(default_factory=list)  # usernames verified OK

    def __post_init__(self) -> None:
        self.auth = DigestAuthenticator(
            b"registrar-secret-0123456789abcdef", nonce_ttl=self.nonce_ttl, algorithms=("MD5",)
        )

    def handle(self, request: Request, now: float) -> Response | None:
        self.requests.append(request)
        if self.down:
            return None
        if self.refuse is not None:
            status, reason, headers = self.refuse
            response = make_response(request, status, reason, to_tag=new_tag())
            for name, value in headers:
                response.headers.add(name, value)
            return response
        challenge = self._check_credentials(request, now)
        if challenge is not None:
            return challenge
        expires = request.expires if request.expires is not None else 3600
        if self.min_expires is not None and 0 < expires < self.min_expires:
            response = make_response(request, 423, to_tag=new_tag())  # §10.3 step 7
            response.headers.add("Min-Expires", str(self.min_expires))
            return response
        return self._bind(request, min(expires, self.max_expires), now)

    def _check_credentials(self, request: Request, now: float) -> Response | None:
        header = "Proxy-Authorization" if self.proxy_auth else "Authorization"
        value = request.headers.get(header)
        stale = False
        if value is not None:
            outcome = self.auth.verify(
                value,
                method="REGISTER",
                request_uri=str(request.uri),
                realm=self.realm,
                lookup_ha1=lambda user, realm, alg: (
                    ha1(user, realm, self.users[user], alg) if user in self.users else None
                ),
                now=now,
            )
            stale = outcome.stale
            if outcome.ok and self.stale_answers > 0:
                self.stale_answers -= 1
                stale = True
            elif outcome.ok:
                self.authenticated.append(outcome.username or "")
                return None
        status = 407 if self.proxy_auth else 401
        response = make_response(request, status, to_tag=new_tag())
        name = "Proxy-Authenticate" if self.proxy_auth else "WWW-Authenticate"
        for challenge in self.auth.challenge(self.realm, now, stale=stale):
            response.headers.add(name, challenge)
        return response

    def _bind(self, request: Request, expires: int, now: float) -> Response:
        contact = request.contacts[0]
        key = str(contact.uri)
        if expires == 0:
            self.bindings.pop(key, None)
        else:
            self.bindings[key] = now + expires
        response = make_response(request, 200, to_tag=new_tag())
        for uri, expiry in self.bindings.items():
            response.headers.add("Contact", f"<{uri}>;expires={round(expiry - now)}")
        return response


class Bench:
    def __init__(self, registrar: Registrar, *, resolve: Resolver = literal_resolver) -> None:
        self.registrar = registrar
        self.layer = TransactionLayer()
        self.signalling = Signalling(self.layer, FakeNetwork())
        self.trunks = TrunkRegistrations(self.signalling, resolve=resolve)
        self.now = 1000.0
        self.sent_to: list[Address] = []

    def pump(self) -> None:
        """Carry datagrams both ways until nothing moves."""
        while datagrams := self.layer.datagrams_to_send():
            for data, dest in datagrams:
                self.sent_to.append(dest)
                request = parse_message(data)
                assert isinstance(request, Request)
                response = self.registrar.handle(request, self.now)
                if response is not None:
                    message = parse_message(bytes(response))
                    self.dispatch(self.layer.receive(message, dest, self.now))

    def dispatch(self, events: list[TransactionEvent]) -> None:
        for event in events:
            if isinstance(event, ResponseReceived):
                assert event.key is not None
                assert self.trunks.on_response(event.key, event.response, self.now)
            elif isinstance(event, TransactionTimedOut | TransportFailed):
                assert self.trunks.on_timeout(event.key, self.now)

    def run_until(self, when: float) -> None:
        """Fire every timer (transactions' and registrations') due up to ``when``."""
        while True:
            timers = [t for t in (self.layer.get_timer(), self.trunks.get_timer()) if t]
            due = min(timers, default=None)
            if due is None or due > when:
                break
            self.now = max(self.now, due)
            self.dispatch(self.layer.handle_timer(self.now))
            self.trunks.handle_timer(self.now)
            self.pump()
        self.now = when

    def advance(self, seconds: float) -> None:
        self.run_until(self.now + seconds)
