"""Carriers as the core sees them: is this INVITE a carrier's call to one of our virtual
numbers, and whose?

Carriers deliver calls without digest credentials (RFC 3261 §22 is for phones here): a
carrier is known by the source address of its requests, or by the registration Centralita
keeps with it (:mod:`centralita.carriers`). An INVITE that no carrier sent is a phone's and is
challenged as usual, except one that names a virtual number and does not come from a tenant's
own domain: that is somebody posing as a carrier, and gets 403 Forbidden (the issue's
"unknown sources get 403"). A carrier's INVITE for a number no tenant of that carrier owns
gets 404 — unless it comes from a tenant's domain: a phone that shares the carrier's address
(both behind one NAT) dialling a short number is authenticated as any phone is. The
provider's carriers count as every tenant's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping

from centralita.carriers.inbound import InboundRouter, TrunkSource, normalise_dialled
from centralita.config.dialplan import DialPlan, VirtualNumberConfig
from centralita.directory import Directory, TenantEntry
from centralita.sip.address import Address
from centralita.sip.errors import Forbidden, NotFound, SipParseError
from centralita.sip.message import Request


class _Plans(Mapping[int, DialPlan]):
    """Every tenant's dial plan, read through the directory's cache: with the provider's
    carriers, so every tenant's when the provider has some."""

    def __init__(self, directory: Directory) -> None:
        self.directory = directory

    def __getitem__(self, tenant_id: int) -> DialPlan:
        plan = self.directory.dial_plan(tenant_id)
        if plan is None:
            raise KeyError(tenant_id)
        return plan

    def __iter__(self) -> Iterator[int]:
        return iter(self.directory.tenants_with_plans())

    def __len__(self) -> int:
        return len(self.directory.tenants_with_plans())


Inbound = tuple[TenantEntry, VirtualNumberConfig, str, str]  # tenant, number, caller, name


class InboundCarriers:
    def __init__(
        self, directory: Directory, trunks: Callable[[], Iterable[TrunkSource]] = tuple
    ) -> None:
        self.directory = directory
        self.router = InboundRouter(
            _Plans(directory), self._owner, trunks, lambda: directory.provider_carriers
        )

    def route(self, request: Request, source: Address) -> Inbound | None:
        """The tenant, virtual number and caller of a carrier's INVITE; None when the
        request is no carrier's (a phone's, to authenticate). Forbidden or NotFound as the
        module docstring says."""
        if not self.router.is_carrier(source.host, request.uri):
            self._refuse_impostor(request)
            return None
        try:
            routed = self.router.route(source.host, request.uri, request.to.uri)
        except NotFound:
            if self._from_a_tenant(request):
                return None  # a phone behind the carrier's address (one NAT): authenticate it
            raise
        tenant = self.directory.store.tenants.get(routed.tenant_id)
        if tenant is None:
            raise NotFound("no such number here")
        caller, name = _caller(request, self.directory.dial_plan(tenant.id))
        return tenant, routed.number, caller, name

    def _owner(self, number: str) -> int | None:
        return self.directory.store.dialplans.tenant_for_number(number)

    def _refuse_impostor(self, request: Request) -> None:
        user = request.uri.user or ""
        if not user.startswith("+"):
            return
        number = normalise_dialled(user, None)
        if number is None:
            return
        owner = self.directory.tenant_for_number(number)
        if owner is None:
            return
        if not self._from_a_tenant(request):
            raise Forbidden("not a carrier of this PBX")

    def _from_a_tenant(self, request: Request) -> bool:
        try:
            from_host = request.from_.uri.host
        except SipParseError:
            return False
        return self.directory.tenant_by_domain(from_host) is not None


def _caller(request: Request, plan: DialPlan | None) -> tuple[str, str]:
    """The calling number as the carrier presents it (From, RFC 3261 §8.1.1.3), in E.164
    when it reads as a number of the tenant's country, and the display name."""
    uri = request.from_.uri
    user = uri.user or "anonymous"
    number = normalise_dialled(user, plan.country if plan is not None else None)
    return number or user, request.from_.display_name or ""
