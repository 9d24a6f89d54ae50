"""One registration of the PBX with a carrier, as a client (RFC 3261 §10.2), sans-I/O.

Theory of operation. A ``register`` carrier expects the PBX to keep a binding of its
account at the carrier's registrar. :class:`TrunkRegistration` is that binding's life as a
transition table, ``_TRANSITIONS[(State, Input)] -> (Action, State)``:

- UNREGISTERED --START--> REGISTERING: a REGISTER goes out (Expires: the configured time).
- REGISTERING / REFRESHING --SUCCEEDED--> REGISTERED: a 2xx; the binding lives as long as
  the registrar granted (the ``expires`` of our Contact in the 2xx, else its Expires header:
  §10.2.4) and a refresh is due at :func:`refresh_delay` of it.
- --CHALLENGED--> the same state: a 401/407 we can answer; the REGISTER goes again with
  Authorization / Proxy-Authorization (§22.2, §22.3). One answer per challenge: a challenge
  to an answered request means the credentials are wrong, unless it says ``stale=true`` (the
  nonce was old, the password right: RFC 7616 §3.3), which is answered again (3 times at most).
  Refreshes reuse the last challenge with the next nonce-count (§22.3, RFC 7616 §3.4), which
  saves the registrar a round trip; a challenge to such a request is answered as a new one.
- --TOO_BRIEF--> the same state: a 423; the REGISTER goes again with the registrar's
  Min-Expires, which later refreshes keep (§10.2.8).
- --FAILED--> FAILED: any other final response, a challenge we cannot answer, a transaction
  timeout or transport failure, a host name that does not resolve; a retry is due after
  :func:`retry_delay` (exponential, after RFC 5626 §4.5), or after Retry-After when the
  registrar asked for longer (§20.33).
- REGISTERED --TIMER--> REFRESHING; FAILED --TIMER--> REGISTERING.
- any --STOP--> UNREGISTERING: a REGISTER with Expires: 0 removes the binding (§10.2.2);
  its answer (any answer) --> UNREGISTERED. A stop while FAILED sends nothing: the binding,
  if the registrar still keeps one, lapses by itself.

A missing pair is a bug in the manager (:class:`RegistrationProtocolError`). The manager
(:mod:`centralita.carriers.trunks`) sends what :meth:`TrunkRegistration.build_register`
builds and feeds responses and timer expiries in.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field

from centralita.config.dialplan import CarrierConfig, CarrierRegistration
from centralita.sip.address import Address
from centralita.sip.auth import MalformedCredentials, canonical_algorithm
from centralita.sip.auth_client import DigestChallenge, build_authorization, parse_challenge
from centralita.sip.errors import SipParseError
from centralita.sip.message import Headers, Request, Response, Uri, new_call_id, new_tag

USER_AGENT = "Centralita"
RETRY_BASE = 30.0  # seconds before the first retry (RFC 5626 §4.5 base-time, all flows down)
RETRY_MAX = 600.0  # the longest wait between retries (RFC 5626 §4.5 max-time is 1800)
REFRESH_MARGIN = 32.0  # 64*T1, Timer F: a refresh over UDP may take that long to fail
MAX_STALE_ANSWERS = 3


class State(enum.Enum):
    UNREGISTERED = "unregistered"
    REGISTERING = "registering"
    REGISTERED = "registered"
    REFRESHING = "refreshing"  # registered, a refresh in flight
    FAILED = "failed"  # waiting to retry
    UNREGISTERING = "unregistering"


class Input(enum.Enum):
    START = "start"
    SUCCEEDED = "succeeded"  # a 2xx
    CHALLENGED = "challenged"  # a 401/407 we answer
    TOO_BRIEF = "too-brief"  # a 423 with a Min-Expires we accept
    FAILED = "failed"  # anything else, timeouts included
    TIMER = "timer"  # the refresh or retry time came
    STOP = "stop"


class Action(enum.Enum):
    SEND_REGISTER = "send-register"
    SEND_UNREGISTER = "send-unregister"
    ARM_REFRESH = "arm-refresh"
    ARM_RETRY = "arm-retry"
    NONE = "none"


S, In, A = State, Input, Action
_SENDING = (S.REGISTERING, S.REFRESHING)

_TRANSITIONS: dict[tuple[State, Input], tuple[Action, State]] = {
    (S.UNREGISTERED, In.START): (A.SEND_REGISTER, S.REGISTERING),
    (S.UNREGISTERED, In.STOP): (A.NONE, S.UNREGISTERED),
    **{(s, In.SUCCEEDED): (A.ARM_REFRESH, S.REGISTERED) for s in _SENDING},
    **{(s, In.CHALLENGED): (A.SEND_REGISTER, s) for s in _SENDING},
    **{(s, In.TOO_BRIEF): (A.SEND_REGISTER, s) for s in _SENDING},
    **{(s, In.FAILED): (A.ARM_RETRY, S.FAILED) for s in _SENDING},
    **{(s, In.STOP): (A.SEND_UNREGISTER, S.UNREGISTERING) for s in _SENDING},
    (S.REGISTERED, In.TIMER): (A.SEND_REGISTER, S.REFRESHING),
    (S.REGISTERED, In.STOP): (A.SEND_UNREGISTER, S.UNREGISTERING),
    (S.FAILED, In.TIMER): (A.SEND_REGISTER, S.REGISTERING),
    (S.FAILED, In.STOP): (A.NONE, S.UNREGISTERED),
    (S.UNREGISTERING, In.SUCCEEDED): (A.NONE, S.UNREGISTERED),
    (S.UNREGISTERING, In.CHALLENGED): (A.SEND_UNREGISTER, S.UNREGISTERING),
    (S.UNREGISTERING, In.TOO_BRIEF): (A.NONE, S.UNREGISTERED),
    (S.UNREGISTERING, In.FAILED): (A.NONE, S.UNREGISTERED),
    (S.UNREGISTERING, In.STOP): (A.NONE, S.UNREGISTERING),
    (S.UNREGISTERING, In.START): (A.SEND_REGISTER, S.REGISTERING),
}


class RegistrationProtocolError(Exception):
    """An input the registration's state does not accept: a bug in the manager."""


def refresh_delay(granted: int) -> float:
    """When to refresh a binding granted for ``granted`` seconds: :data:`REFRESH_MARGIN`
    before it lapses, so that a refresh that needs all of Timer F still lands in time, but
    never before half of it (short bindings; RFC 3261 §10.2.4 leaves the choice to the UA)."""
    return max(granted / 2, granted - REFRESH_MARGIN)


def retry_delay(failures: int) -> float:
    """The wait after ``failures`` consecutive failures: RFC 5626 §4.5's
    ``min(max-time, base-time * 2 ** (failures - 1))``, 30 s doubling up to 600 s."""
    return min(RETRY_MAX, RETRY_BASE * 2.0 ** max(0, failures - 1))


@dataclass
class _Credentials:
    """The challenge we answer and how often we have under its nonce."""

    header: str  # "Authorization" | "Proxy-Authorization"
    challenge: DigestChallenge
    nonce_count: int = 0


@dataclass(eq=False)
class TrunkRegistration:
    """A carrier account the PBX keeps registered (see the module docstring)."""

    tenant_id: int
    carrier: CarrierConfig
    state: State = State.UNREGISTERED
    dest: Address | None = None  # where REGISTERs go, once resolved
    expires: int = 0  # what we ask for; a 423 raises it
    call_id: str = field(default_factory=new_call_id)  # one per boot cycle (§10.2.4)
    from_tag: str = field(default_factory=new_tag)
    cseq: int = 0
    deadline: float | None = None  # the refresh or retry time
    expires_at: float | None = None  # when the granted binding lapses
    failures: int = 0
    last_status: int | None = None
    last_reason: str = ""
    answered: bool = False  # the request in flight answers a challenge
    stale_answers: int = 0
    credentials: _Credentials | None = None

    def __post_init__(self) -> None:
        self.expires = self.account.expires

    @property
    def account(self) -> CarrierRegistration:
        registration = self.carrier.registration
        if registration is None:
            raise ValueError(f"carrier {self.carrier.name} does not register")
        return registration

    @property
    def key(self) -> tuple[int, str]:
        return (self.tenant_id, self.carrier.name)

    def step(self, event: Input) -> Action:
        """Apply ``event``; return what the manager must do."""
        try:
            action, self.state = _TRANSITIONS[(self.state, event)]
        except KeyError:
            raise RegistrationProtocolError(f"{event.value} while {self.state.value}") from None
        if event in (In.START, In.TIMER, In.STOP):
            self.answered, self.stale_answers = False, 0  # a new attempt
        return action

    # ---- responses ---------------------------------------------------------------------

    def classify(self, response: Response) -> Input:
        """What a final response to our REGISTER means (RFC 3261 §10.2.4, §10.2.8, §22)."""
        self.last_status, self.last_reason = response.status, response.reason
        if 200 <= response.status < 300:
            return In.SUCCEEDED
        if response.status in (401, 407) and self._take_challenge(response):
            return In.CHALLENGED
        if response.status == 423 and self._take_min_expires(response):
            return In.TOO_BRIEF
        return In.FAILED

    def granted(self, response: Response, contact: Uri) -> int:
        """The binding time the registrar granted: our Contact's ``expires`` in the 2xx,
        else the Expires header, else what we asked (RFC 3261 §10.2.4)."""
        try:
            contacts = response.contacts
            header = response.expires
        except SipParseError:
            return self.expires
        ours = [c for c in contacts if _same_binding(c.uri, contact)]
        if not ours and len(contacts) == 1:
            ours = contacts  # a registrar behind NAT rewrote it; it is the only one
        for found in ours:
            value = found.params.get("expires")
            if value is not None and value.strip().isdigit():
                return int(value)
        return header if header is not None else self.expires

    def _take_challenge(self, response: Response) -> bool:
        name = "WWW-Authenticate" if response.status == 401 else "Proxy-Authenticate"
        challenge = _choose(response.headers.get_all(name), self.account.realm)
        if challenge is None:
            return False
        if self.answered and not challenge.stale:
            return False  # we answered and were refused: wrong credentials (§22.2)
        if challenge.stale:
            self.stale_answers += 1
            if self.stale_answers > MAX_STALE_ANSWERS:
                return False
        header = "Authorization" if response.status == 401 else "Proxy-Authorization"
        self.credentials = _Credentials(header, challenge)
        self.answered = True
        return True

    def _take_min_expires(self, response: Response) -> bool:
        value = (response.headers.get("Min-Expires") or "").strip()
        if not value.isdigit() or int(value) <= self.expires or self.state is S.UNREGISTERING:
            return False  # §10.2.8: only a longer interval can help
        self.expires = int(value)
        return True

    def arm_refresh(self, granted: int, now: float) -> None:
        self.failures = 0
        self.expires_at = now + granted
        self.deadline = now + refresh_delay(granted)

    def arm_retry(self, now: float, retry_after: float | None = None) -> None:
        self.failures += 1
        self.expires_at = None
        delay = retry_delay(self.failures)
        if retry_after is not None:
            delay = max(delay, min(retry_after, 4 * RETRY_MAX))
        self.deadline = now + delay

    # ---- requests ----------------------------------------------------------------------

    def request_uri(self) -> Uri:
        """The registrar's domain, without user part (RFC 3261 §10.2 "Request-URI")."""
        account = self.account
        port = f":{account.port}" if account.port != 5060 else ""
        transport = f";transport={account.transport}" if account.transport != "udp" else ""
        return Uri.parse(f"sip:{_host(account.server)}{port}{transport}")

    def build_register(self, via: str, contact: str, *, expires: int | None = None) -> Request:
        """The next REGISTER: same Call-ID, CSeq one up (§10.2), credentials when we hold
        a challenge (§22.2), Expires: ``expires`` (0 to remove the binding, §10.2.2)."""
        account = self.account
        self.cseq += 1
        aor = f"sip:{account.username}@{_host(account.server)}"  # To = From = the AOR (§10.2)
        uri = self.request_uri()
        headers = Headers()
        headers.add("Via", via)
        headers.add("Max-Forwards", "70")
        headers.add("From", f"<{aor}>;tag={self.from_tag}")
        headers.add("To", f"<{aor}>")
        headers.add("Call-ID", self.call_id)
        headers.add("CSeq", f"{self.cseq} REGISTER")
        headers.add("Contact", contact)
        headers.add("Expires", str(self.expires if expires is None else expires))
        headers.add("User-Agent", USER_AGENT)
        if self.credentials is not None:
            headers.add(self.credentials.header, self._authorization(str(uri)))
        return Request("REGISTER", uri, headers)

    def _authorization(self, uri: str) -> str:
        assert self.credentials is not None
        self.credentials.nonce_count += 1
        return build_authorization(
            self.credentials.challenge,
            username=self.account.username,
            password=self.account.password.get_secret_value(),
            method="REGISTER",
            uri=uri,
            nc=self.credentials.nonce_count,
        )


def _choose(values: list[str], realm: str | None) -> DigestChallenge | None:
    """The topmost Digest challenge we can answer (RFC 8760 §2.4), in ``realm`` if set."""
    for value in values:
        try:
            challenge = parse_challenge(value)
        except MalformedCredentials:
            continue
        if canonical_algorithm(challenge.algorithm) is None:
            continue
        if realm is None or challenge.realm == realm:
            return challenge
    return None


def _same_binding(uri: Uri, contact: Uri) -> bool:
    """RFC 3261 §10.3 step 6 / §19.1.4 in short: same user, host and port."""
    return (uri.user, uri.host.lower(), uri.port or 5060) == (
        contact.user,
        contact.host.lower(),
        contact.port or 5060,
    )


def _host(server: str) -> str:
    host = server.strip("[]")
    return f"[{host}]" if ":" in host else host


_DELTA = re.compile(r"^\s*([0-9]+)")


def retry_after(response: Response) -> float | None:
    """The Retry-After delta-seconds of a response (RFC 3261 §20.33), if any."""
    match = _DELTA.match(response.headers.get("Retry-After") or "")
    return float(match[1]) if match else None
