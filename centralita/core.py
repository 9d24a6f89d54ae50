"""The UA core: what the PBX does with each request and response the transactions deliver.

Theory of operation. The server feeds datagrams and stream messages in (:meth:`receive`),
the transaction layer (RFC 3261 §17) turns them into transaction events, and
:meth:`handle` dispatches those: REGISTER to the registrar, out-of-dialog INVITE to the
B2BUA after digest authentication (RFC 3261 §22) and routing, CANCEL to the INVITE it
cancels (§9.2), in-dialog requests to their call, OPTIONS answered here (§11.2). Any
:class:`SipError` raised while handling a request becomes its response, here and nowhere else.

Tenancy: the tenant of a request is the domain it is addressed in — the To domain of a
REGISTER, the From domain of a phone's INVITE — and a request addressed to an IP literal
belongs to the tenant marked default (DESIGN.md, "Tenancy and identity").
"""

from __future__ import annotations

import ipaddress
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from centralita.calls.appcall import AppCall, AppCalls, AppTarget
from centralita.calls.b2bua import B2bua, CallTarget
from centralita.calls.call import Party
from centralita.calls.media import MediaFactory
from centralita.calls.outbound import OutboundCalls
from centralita.calls.signalling import ALLOW, Network, Signalling
from centralita.carrier_calls import InboundCarriers
from centralita.carriers.trunks import Resolver, TrunkRegistrations, literal_resolver
from centralita.directory import Credentials, Directory, ExtensionEntry, TenantEntry
from centralita.logs import call_logger
from centralita.presence.subscriptions import BadEvent, SubscriptionManager
from centralita.records.outcome import CallSummary, Outcome
from centralita.registrar.guard import AuthGuard
from centralita.registrar.registrar import Registrar, RegistrarPolicy
from centralita.routing.feature_codes import feature_for
from centralita.routing.services import Service, service_for
from centralita.runtime import FlowStart, feature_codes_of
from centralita.sip import auth
from centralita.sip.address import Address
from centralita.sip.errors import (
    CallDoesNotExist,
    Forbidden,
    IntervalTooBrief,
    MethodNotAllowed,
    NotFound,
    ServerInternalError,
    SipError,
    TemporarilyUnavailable,
    Unauthorized,
)
from centralita.sip.message import (
    Message,
    Request,
    Response,
    make_response,
    new_tag,
    validate_request,
)
from centralita.sip.transaction import (
    AckTimedOut,
    CancelReceived,
    RequestReceived,
    ResponseReceived,
    TransactionEvent,
    TransactionKey,
    TransactionLayer,
    TransactionTimedOut,
    TransportFailed,
)
from centralita.sip.transaction_server import response_destination

ACCEPT = "application/sdp"
KNOWN_METHODS = frozenset(
    {
        "INVITE",
        "ACK",
        "CANCEL",
        "BYE",
        "OPTIONS",
        "REGISTER",
        "UPDATE",
        "INFO",
        "PRACK",
        "SUBSCRIBE",
        "NOTIFY",
        "REFER",
        "MESSAGE",
        "PUBLISH",
    }
)


class ChallengeRequired(Unauthorized):
    """401 with fresh digest challenges (RFC 3261 §22.2); the same for any failure reason, so a
    scanner cannot tell an unknown extension from a wrong password."""

    def __init__(self, challenges: list[str]) -> None:
        super().__init__("authentication required")
        self.challenges = challenges


class ApplicationRunner(Protocol):
    """Starts the asyncio side of a call the PBX answers itself (the server implements it)."""

    def start(self, call: AppCall, service: Service) -> None: ...

    def start_flow(self, call: AppCall, tenant: TenantEntry, start: FlowStart) -> None:
        """Route ``call`` through the tenant's dial plan."""
        ...


class NotImplementedMethod(SipError):
    status_code = 501
    reason = "Not Implemented"


@dataclass(frozen=True, slots=True)
class CoreSettings:
    ring_timeout: float = 60.0
    auth_secret: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    # RFC 8760 §2.4 lists challenges by preference. MD5 comes first by default because many
    # deployed phones (and SIPp) answer only the topmost challenge and know only MD5; a
    # provider whose phones all speak SHA-256 puts it first.
    digest_algorithms: tuple[str, ...] = ("MD5",)
    guard: AuthGuard = field(default_factory=AuthGuard)
    registrar: RegistrarPolicy = field(default_factory=RegistrarPolicy)
    recordings: Path | None = None  # where recorded calls go (None: no call is recorded)
    resolve: Resolver = literal_resolver  # carriers' registrar host names to addresses


class UserAgentCore:
    def __init__(
        self,
        directory: Directory,
        layer: TransactionLayer,
        network: Network,
        media: MediaFactory,
        settings: CoreSettings,
        runner: ApplicationRunner | None = None,
    ) -> None:
        self.directory = directory
        self.layer = layer
        self.sig = Signalling(layer, network)
        self.b2bua = B2bua(
            self.sig,
            media,
            directory,
            ring_timeout=settings.ring_timeout,
            recordings=settings.recordings,
        )
        self.apps = AppCalls(self.sig, directory)
        self.outbound = OutboundCalls(self.sig)
        self.trunks = TrunkRegistrations(self.sig, resolve=settings.resolve)
        self.carriers = InboundCarriers(directory, self.trunks.sources)
        self.presence = SubscriptionManager(self.sig, layer.send_response)
        self.runner = runner
        self.guard = settings.guard
        self.registrar = Registrar(directory, settings.registrar)
        self.authenticator = auth.DigestAuthenticator(
            settings.auth_secret, algorithms=settings.digest_algorithms
        )
        self.log = call_logger("centralita.core")

    # ---- input ---------------------------------------------------------------------------

    def handle(self, events: list[TransactionEvent], now: float) -> None:
        for event in events:
            if isinstance(event, RequestReceived):
                self._on_request(event, now)
            elif isinstance(event, ResponseReceived):
                self._on_response(event, now)
            elif isinstance(event, CancelReceived):
                # The layer answered the CANCEL itself (RFC 3261 §9.2); the INVITE gets 487.
                self.b2bua.cancel(event.key, now) or self.apps.cancel(event.key, now)
            elif isinstance(event, TransactionTimedOut):
                if not self.outbound.on_timeout(event.key, now):
                    self._on_timeout(event.key, now)
            elif isinstance(event, TransportFailed):
                if not self.outbound.on_transport_failed(event.key, now):
                    self._on_timeout(event.key, now)
            elif isinstance(event, AckTimedOut):
                self.b2bua.on_ack_timeout(event.call_id, now)
                self.apps.on_ack_timeout(event.call_id, now)
                self.outbound.on_ack_timeout(event.call_id, now)

    def receive(self, message: Message, source: Address, now: float) -> None:
        """A parsed message from the network. A request that fails the checks of RFC 3261
        §8.2 is answered statelessly, before any transaction or dialog is touched."""
        if self.guard.banned(source.host, now):
            return  # a banned address learns nothing, not even that we are here
        if isinstance(message, Request):
            try:
                validate_request(message)
            except SipError as error:
                self._reject(message, source, error)
                return
        self.handle(self.layer.receive(message, source, now), now)

    def _reject(self, request: Request, source: Address, error: SipError) -> None:
        if request.method == "ACK":
            return
        try:
            response = self._error_response(request, error)
            dest = response_destination(request, source)
        except SipError:
            return  # too broken to answer; the server's raw 400 path covers unparsable ones
        self.layer.send_stateless(response, dest)

    def _on_request(self, event: RequestReceived, now: float) -> None:
        request = event.request
        if event.key is None:  # an ACK for a 2xx: no transaction (RFC 3261 §17.2.3)
            if not (
                self.b2bua.on_in_dialog_request(request, None, event.source, now)
                or self.apps.on_in_dialog_request(request, None, event.source, now)
            ):
                self.outbound.on_in_dialog_request(request, None, event.source, now)
            return
        try:
            self._dispatch(event, now)
        except SipError as error:
            self._reply_error(event, error, now)
        except Exception:
            # A bug must not leave the phone waiting: answer 500 and keep serving.
            self.log.exception("internal error", extra={"call_id": request.call_id})
            self._reply_error(event, ServerInternalError("internal error"), now)

    def _dispatch(self, event: RequestReceived, now: float) -> None:
        request, key, source = event.request, event.key, event.source
        assert key is not None
        if request.to.tag is not None:
            if not (
                self.b2bua.on_in_dialog_request(request, key, source, now)
                or self.apps.on_in_dialog_request(request, key, source, now)
                or self.outbound.on_in_dialog_request(request, key, source, now)
                or self.presence.on_in_dialog_request(request, key, source, now)
            ):
                raise _no_dialog()
        elif request.method == "REGISTER":
            self._on_register(request, source, now, key)
        elif request.method == "INVITE":
            self._on_invite(event, now)
        elif request.method == "OPTIONS":
            self._reply(event, self._options_response(request), now)
        elif request.method == "SUBSCRIBE":
            self._on_subscribe(event, now)
        elif request.method in KNOWN_METHODS:
            raise MethodNotAllowed(f"{request.method} is not accepted outside a dialog")
        else:
            raise NotImplementedMethod(f"unknown method {request.method}")

    def _on_response(self, event: ResponseReceived, now: float) -> None:
        key, response = event.key, event.response
        if key is None:
            if 200 <= response.status < 300 and response.cseq.method == "INVITE":
                # a late fork's answer, or a retransmitted one (RFC 3261 §13.2.2.4)
                self.b2bua.on_stray_2xx(response, now) or self.outbound.on_stray_2xx(response, now)
            return
        if self.presence.on_response(key, response, now):
            return
        if self.outbound.on_response(key, response, now):
            return
        if self.trunks.on_response(key, response, now):
            return
        if self.b2bua.on_fork_response(key, response, now):
            return
        self.b2bua.on_relayed_response(key, response, now)

    def _on_timeout(self, key: TransactionKey, now: float) -> None:
        if self.presence.on_timeout(key, now) or self.trunks.on_timeout(key, now):
            return
        if not self.b2bua.on_fork_timeout(key, now):
            self.b2bua.on_relayed_timeout(key, now)

    # ---- methods -------------------------------------------------------------------------

    def _on_register(self, request: Request, source: Address, now: float, key: object) -> None:
        tenant = self._tenant_for(request.to.uri.host)
        extension = self._authenticate(request, source, tenant, now)
        aor_user = request.to.uri.user or ""
        if aor_user != extension.number:
            # §10.3 step 3: an extension may only change its own bindings.
            raise Forbidden(f"{extension.number} may not register {aor_user or 'this AOR'}")
        response = self.registrar.register(request, source, tenant.id, extension.number, now)
        self.layer.send_response(response, now)
        self.log.info(
            "registered",
            extra={
                "tenant": tenant.name,
                "call_id": request.call_id,
                "fields": {"extension": extension.number, "source": str(source)},
            },
        )

    def _on_subscribe(self, event: RequestReceived, now: float) -> None:
        request = event.request
        self.presence.check(request)  # 489/406/423 need no credentials (RFC 6665 §4.2.1.1)
        tenant = self._tenant_for(request.from_.uri.host)
        subscriber = self._authenticate(request, event.source, tenant, now)
        box = request.uri.user or ""
        if box != subscriber.number or self._tenant_for(request.uri.host, tenant).id != tenant.id:
            raise Forbidden(f"{subscriber.number} may not watch mailbox {box or '?'}")
        account = f"sip:{box}@{tenant.domain}"
        self.presence.subscribe(
            request, event.source, tenant_id=tenant.id, box=box, account=account, now=now
        )

    def _on_invite(self, event: RequestReceived, now: float) -> None:
        request = event.request
        if self.runner is not None and self._from_carrier(event, now):
            return
        tenant = self._tenant_for(request.from_.uri.host)
        caller = self._authenticate(request, event.source, tenant, now)
        callee_number = request.uri.user or ""
        target_tenant = self._tenant_for(request.uri.host, fallback=tenant)
        if target_tenant.id != tenant.id:
            raise Forbidden("calls between tenants are not allowed")
        service = service_for(callee_number)
        if service is not None and self.runner is not None:
            self._start_service(event, tenant, caller, callee_number, service, now)
            return
        callee = self.directory.extension(tenant.id, callee_number)
        if self.runner is not None:
            start = self._routed(tenant, callee_number, callee)
            if start is not None:
                self._start_flow(event, tenant, _party(caller, tenant), start, now)
                return
        if callee is None:
            self.b2bua.call_log.call_ended(
                _wrong_number(request, tenant, caller, callee_number, now)
            )
            raise NotFound(f"no extension {callee_number} here")
        bindings = self.directory.get_bindings(tenant.id, callee.number, now)
        if not bindings:
            self.b2bua.call_log.call_ended(_unreachable(request, tenant, caller, callee, now))
            raise TemporarilyUnavailable(f"{callee.number} is not registered")
        assert event.key is not None
        target = CallTarget(
            tenant_id=tenant.id,
            tenant_name=tenant.name,
            domain=tenant.domain,
            caller=_party(caller, tenant),
            callee=_party(callee, tenant),
            contacts=[(b.contact, b.received) for b in bindings],
            call_waiting=callee.call_waiting,
        )
        self.b2bua.place_call(request, event.key, event.source, target, now)

    def _from_carrier(self, event: RequestReceived, now: float) -> bool:
        """An INVITE from a carrier to a virtual number (no digest: carriers are known by
        address or by our registration with them). False when the source is no carrier and
        the request is a phone's, to be authenticated as usual."""
        request = event.request
        if request.headers.get("Authorization") or request.headers.get("Proxy-Authorization"):
            return False
        routed = self.carriers.route(request, event.source)
        if routed is None:
            return False
        tenant, number, caller_number, caller_name = routed
        caller = Party(
            number=caller_number,
            name=caller_name,
            uri=f"sip:{caller_number}@{tenant.domain}",
            srtp="off",
            record_calls=False,
        )
        start = FlowStart("number", number.number, number=number)
        self._start_flow(event, tenant, caller, start, now, from_carrier=True)
        return True

    def _routed(
        self, tenant: TenantEntry, dialled: str, callee: ExtensionEntry | None
    ) -> FlowStart | None:
        """The dial plan's part: None when the call goes straight to an extension's phones
        (the B2BUA relays it), a FlowStart when the dial plan routes it."""
        plan = self.directory.dial_plan(tenant.id)
        feature = feature_for(dialled, feature_codes_of(plan))
        if feature is not None:
            return FlowStart("feature", dialled, feature=feature)
        if callee is None:
            return FlowStart("internal", dialled)  # IVR, group, room, outside number, or 404
        routing = plan.extension(callee.number) if plan is not None else None
        rules = routing is not None and bool(routing.forwarding or routing.simultaneous_ring)
        if callee.dnd or callee.forward_to or rules:
            return FlowStart("internal", dialled)
        return None  # no rules of its own: bridged by the B2BUA, packets relayed untouched

    def _start_flow(
        self,
        event: RequestReceived,
        tenant: TenantEntry,
        caller: Party,
        start: FlowStart,
        now: float,
        *,
        from_carrier: bool = False,
    ) -> None:
        assert event.key is not None and self.runner is not None
        target = AppTarget(
            tenant_id=tenant.id,
            tenant_name=tenant.name,
            domain=tenant.domain,
            caller=caller,
            service=start.dialled,
            trace=[{"node": start.kind, "dialled": start.dialled}],
            caller_is_extension=not from_carrier,
            routed=True,
        )
        call = self.apps.start(event.request, event.key, event.source, target, now)
        self.runner.start_flow(call, tenant, start)

    def _start_service(
        self,
        event: RequestReceived,
        tenant: TenantEntry,
        caller: ExtensionEntry,
        dialled: str,
        service: Service,
        now: float,
    ) -> None:
        assert event.key is not None and self.runner is not None
        target = AppTarget(
            tenant_id=tenant.id,
            tenant_name=tenant.name,
            domain=tenant.domain,
            caller=_party(caller, tenant),
            service=dialled,
            trace=[{"node": "service", "kind": service.kind, "dialled": dialled}],
        )
        call = self.apps.start(event.request, event.key, event.source, target, now)
        self.runner.start(call, service)

    def _options_response(self, request: Request) -> Response:
        # RFC 3261 §11.2: what we are able to do.
        response = make_response(request, 200, to_tag=new_tag())
        response.headers.add("Allow", ALLOW)
        response.headers.add("Accept", ACCEPT)
        response.headers.add("Accept-Language", "en")
        response.headers.add("Allow-Events", "message-summary")  # RFC 6665 §8.2.2
        return response

    # ---- timers ---------------------------------------------------------------------------

    def get_timer(self) -> float | None:
        timers = [
            t
            for t in (
                self.b2bua.get_timer(),
                self.presence.get_timer(),
                self.outbound.get_timer(),
                self.trunks.get_timer(),
            )
            if t is not None
        ]
        return min(timers, default=None)

    def handle_timer(self, now: float) -> None:
        self.b2bua.handle_timer(now)
        self.presence.handle_timer(now)
        self.outbound.handle_timer(now)
        self.trunks.handle_timer(now)

    # ---- identity ------------------------------------------------------------------------

    def _tenant_for(self, host: str, fallback: TenantEntry | None = None) -> TenantEntry:
        tenant = self.directory.tenant_by_domain(host)
        if tenant is not None:
            return tenant
        if _is_ip_literal(host):
            default = fallback or self.directory.default_tenant()
            if default is not None:
                return default
        raise NotFound(f"unknown domain {host}")

    def _authenticate(
        self, request: Request, source: Address, tenant: TenantEntry, now: float
    ) -> ExtensionEntry:
        header = request.headers.get("Authorization") or request.headers.get("Proxy-Authorization")
        if header is None:
            raise ChallengeRequired(self.authenticator.challenge(tenant.domain, now))
        # The HA1 and the extension come from one query; the extension waits here for a
        # successful check.
        found: list[Credentials] = []

        def lookup_ha1(user: str, _realm: str, algorithm: str) -> str | None:
            credentials = self.directory.credentials(tenant.id, user, algorithm)
            if credentials is None:
                return None
            found.append(credentials)
            return credentials.ha1

        outcome = self.authenticator.verify(
            header,
            method=request.method,
            request_uri=str(request.uri),
            realm=tenant.domain,
            lookup_ha1=lookup_ha1,
            now=now,
            body=request.body,
        )
        if outcome.stale:
            raise ChallengeRequired(self.authenticator.challenge(tenant.domain, now, stale=True))
        if not outcome.ok or outcome.username is None:
            if self.guard.failed(source.host, now):
                self.log.warning(
                    "address banned after repeated authentication failures",
                    extra={"tenant": tenant.name, "fields": {"source": source.host}},
                )
            self.log.warning(
                "authentication failed",
                extra={
                    "tenant": tenant.name,
                    "call_id": request.call_id,
                    "fields": {"user": outcome.username or "?", "method": request.method},
                },
            )
            raise ChallengeRequired(self.authenticator.challenge(tenant.domain, now))
        if not found:
            raise ChallengeRequired(self.authenticator.challenge(tenant.domain, now))
        return found[-1].extension

    # ---- output ------------------------------------------------------------------------

    def _reply(self, event: RequestReceived, response: Response, now: float) -> None:
        self.layer.send_response(response, now)

    def _reply_error(self, event: RequestReceived, error: SipError, now: float) -> None:
        if event.request.method == "ACK":
            return  # never answered (RFC 3261 §17.2.3)
        self.layer.send_response(self._error_response(event.request, error), now)

    def _error_response(self, request: Request, error: SipError) -> Response:
        # §8.2.6.2: a final response carries a To tag when the request had none.
        to_tag = None if request.headers.get("To") is None or request.to.tag else new_tag()
        response = make_response(request, error.status_code, error.reason, to_tag=to_tag)
        if isinstance(error, ChallengeRequired):
            for challenge in error.challenges:
                response.headers.add("WWW-Authenticate", challenge)
        elif isinstance(error, IntervalTooBrief):
            response.headers.add("Min-Expires", str(error.min_expires))  # RFC 3261 §10.3 step 7
        elif isinstance(error, MethodNotAllowed | NotImplementedMethod):
            response.headers.add("Allow", ALLOW)  # RFC 3261 §21.4.6
        elif isinstance(error, BadEvent):
            response.headers.add("Allow-Events", error.allow_events)  # RFC 6665 §4.2.1.1
        if error.status_code >= 400 and not isinstance(error, ChallengeRequired):
            response.headers.add("Warning", f'399 centralita "{_warning_text(error.detail)}"')
        return response


def _no_dialog() -> SipError:
    return CallDoesNotExist("no such call or transaction")


def _is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return host == "localhost"
    return True


def _party(extension: ExtensionEntry, tenant: TenantEntry) -> Party:
    return Party(
        number=extension.number,
        name=extension.name,
        uri=f"sip:{extension.number}@{tenant.domain}",
        srtp=extension.srtp,
        record_calls=extension.record_calls,
    )


def _warning_text(text: str) -> str:
    return text.replace('"', "'").replace("\r", " ").replace("\n", " ")[:200]


def _wrong_number(
    request: Request, tenant: TenantEntry, caller: ExtensionEntry, number: str, now: float
) -> CallSummary:
    return _unrouted(
        request, tenant, caller, number, "", False, Outcome.WRONG_NUMBER, "404 unknown number", now
    )


def _unreachable(
    request: Request,
    tenant: TenantEntry,
    caller: ExtensionEntry,
    callee: ExtensionEntry,
    now: float,
) -> CallSummary:
    return _unrouted(
        request,
        tenant,
        caller,
        callee.number,
        callee.name,
        True,
        Outcome.NOT_REACHABLE,
        "480 not registered",
        now,
    )


def _unrouted(
    request: Request,
    tenant: TenantEntry,
    caller: ExtensionEntry,
    number: str,
    name: str,
    is_extension: bool,
    outcome: Outcome,
    cause: str,
    now: float,
) -> CallSummary:
    return CallSummary(
        tenant_id=tenant.id,
        call_id=request.call_id,
        caller=caller.number,
        caller_name=caller.name,
        callee=number,
        callee_name=name,
        callee_is_extension=is_extension,
        started_at=now,
        answered_at=None,
        ended_at=now,
        outcome=outcome,
        hangup_cause=cause,
        routing_trace=[{"node": "extension", "number": number, "result": cause}],
    )
