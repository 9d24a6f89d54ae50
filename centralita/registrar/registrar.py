"""The registrar: REGISTER requests update an extension's bindings (RFC 3261 §10.3).

Theory of operation. The core has already authenticated the request and resolved the tenant
and the extension (steps 1-5 of §10.3). :meth:`Registrar.register` performs steps 6-8: it
reads the Contact header fields, checks each expiration against the configured minimum and
maximum (423 Interval Too Brief carries Min-Expires, §10.3 step 7), enforces the Call-ID/CSeq
ordering of updates, applies the additions and removals to the location service in one
step, and builds the 200 OK that lists every current binding with its remaining lifetime.

Bindings keep the transport address the REGISTER really came from, so calls reach a phone
behind NAT at the address its requests come from (the "received" approach of RFC 3581 and
the flow idea of RFC 5626) and not at the private address written in its Contact.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from centralita.sip.address import Address
from centralita.sip.errors import IntervalTooBrief, SipError
from centralita.sip.message import Request, Response, make_response, new_tag
from centralita.store.entities import Binding

DEFAULT_EXPIRES = 3600
MIN_EXPIRES = 60
MAX_EXPIRES = 7200


class OutOfOrderRegister(SipError):
    """§10.3 step 7: an update with the same Call-ID and a CSeq not higher than the stored one
    "MUST be aborted and the request fails"; like most registrars we answer 500 (retryable)."""

    status_code = 500
    reason = "Server Internal Error"


class BadContact(SipError):
    status_code = 400
    reason = "Bad Request"


class LocationService(Protocol):
    """What the registrar needs of the store (``centralita.store`` implements it)."""

    def get_bindings(self, tenant_id: int, number: str, now: float) -> list[Binding]: ...

    def update_bindings(
        self,
        tenant_id: int,
        number: str,
        upserts: list[Binding],
        removals: list[str],
        now: float,
    ) -> list[Binding]: ...


@dataclass(frozen=True, slots=True)
class RegistrarPolicy:
    min_expires: int = MIN_EXPIRES
    max_expires: int = MAX_EXPIRES
    default_expires: int = DEFAULT_EXPIRES
    max_contacts: int = 10


class Registrar:
    def __init__(self, location: LocationService, policy: RegistrarPolicy | None = None) -> None:
        self.location = location
        self.policy = policy or RegistrarPolicy()

    def register(
        self, request: Request, source: Address, tenant_id: int, number: str, now: float
    ) -> Response:
        existing = {b.contact: b for b in self.location.get_bindings(tenant_id, number, now)}
        if request.contact_star:
            removals = self._remove_all(request, existing)
            upserts: list[Binding] = []
        elif request.contacts:
            upserts, removals = self._updates(request, source, tenant_id, number, existing, now)
        else:  # §10.3 step 6 does nothing: a query for the current bindings (§10.2.3)
            upserts, removals = [], []
        current = self.location.update_bindings(tenant_id, number, upserts, removals, now)
        if len(current) > self.policy.max_contacts:
            self.location.update_bindings(tenant_id, number, [], [b.contact for b in upserts], now)
            raise SipError("too many contacts for this extension")
        return self._ok(request, current, now)

    def _remove_all(self, request: Request, existing: dict[str, Binding]) -> list[str]:
        # §10.3 step 6: "*" only alone and only with Expires: 0 (§10.2.2).
        if request.expires != 0 or len(request.headers.get_all("Contact")) != 1:
            raise BadContact("Contact: * requires Expires: 0 and no other Contact")
        for binding in existing.values():
            self._check_order(request, binding)
        return list(existing)

    def _updates(
        self,
        request: Request,
        source: Address,
        tenant_id: int,
        number: str,
        existing: dict[str, Binding],
        now: float,
    ) -> tuple[list[Binding], list[str]]:
        upserts: list[Binding] = []
        removals: list[str] = []
        user_agent = request.headers.get("User-Agent") or ""
        for contact in request.contacts:
            if contact.uri.scheme not in ("sip", "sips"):
                raise BadContact(f"unsupported Contact URI scheme {contact.uri.scheme!r}")
            uri = str(contact.uri)
            expires = self._expires(request, contact.params.get("expires"))
            old = existing.get(uri)
            if old is not None:
                self._check_order(request, old)
            if expires == 0:
                removals.append(uri)
                continue
            upserts.append(
                Binding(
                    tenant_id=tenant_id,
                    number=number,
                    contact=uri,
                    expires_at=now + expires,
                    call_id=request.call_id,
                    cseq=request.cseq.number,
                    received=Address(source.transport, source.host, source.port),
                    user_agent=user_agent[:200],
                    q=_q_value(contact.params.get("q")),
                    instance_id=contact.params.get("+sip.instance"),
                )
            )
        return upserts, removals

    def _expires(self, request: Request, param: str | None) -> int:
        # §10.3 step 7: the Contact's expires parameter, else the Expires header, else our default.
        if param is not None:
            try:
                expires = int(param)
            except ValueError:
                raise BadContact(f"bad expires parameter {param!r}") from None
        elif request.expires is not None:
            expires = request.expires
        else:
            expires = self.policy.default_expires
        if expires < 0:
            raise BadContact("negative expiration")
        if 0 < expires < self.policy.min_expires:
            raise IntervalTooBrief(self.policy.min_expires)
        return min(expires, self.policy.max_expires)

    @staticmethod
    def _check_order(request: Request, binding: Binding) -> None:
        if binding.call_id == request.call_id and request.cseq.number <= binding.cseq:
            raise OutOfOrderRegister(
                f"CSeq {request.cseq.number} not above {binding.cseq} for this Call-ID"
            )

    @staticmethod
    def _ok(request: Request, current: list[Binding], now: float) -> Response:
        # §10.3 step 8: the 200 OK lists every current binding with its expires parameter.
        response = make_response(request, 200, to_tag=new_tag())
        for binding in current:
            response.headers.add(
                "Contact", f"<{binding.contact}>;expires={binding.expires_in(now)}"
            )
        return response


def _q_value(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        q = float(text)
    except ValueError:
        raise BadContact(f"bad q parameter {text!r}") from None
    if not 0.0 <= q <= 1.0:
        raise BadContact(f"q parameter out of range: {text}")
    return q
