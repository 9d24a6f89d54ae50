"""Calls from carriers: which tenant an INVITE from a SIP trunk is for.

Theory of operation. An INVITE that does not come from one of the tenant's phones may come
from a carrier. :func:`identify` finds the carriers the request can be from, across every
tenant: a ``source`` network holding the sender's address, or a ``register`` carrier whose
registrar sent it (its server written as an IP address, or the address the registration
manager resolved it to) or whose registration the Request-URI names (the carrier calls the
Contact we registered, ``sip:USERNAME@our-address``, RFC 3261 §10.2.1). Several tenants may
share a carrier, so this is a list.

Provider carriers (the ``carriers:`` of ``centralita serve --config``) serve every tenant:
:class:`~centralita.directory.Directory` appends them to each tenant's plan, so they match
for every tenant and their calls reach whichever tenant owns the number. The provider keeps
one registration with such a carrier, not one per tenant: its :class:`TrunkSource` carries
the tenant id :data:`PROVIDER` and stands for the carrier in every plan that holds it.

:func:`normalise_dialled` turns the number a carrier sends into E.164: carriers write it
``+34910000000``, ``34910000000``, ``0034910000000`` or nationally ``910000000``, in sip: or
tel: URIs (RFC 3966), with visual separators (§5.1.1) and parameters such as
``;npdi`` or ``;phone-context=+34`` (§5.1.5) in the user part (RFC 3261 §19.1.6).
libphonenumber reads it in the tenant's country.

:class:`InboundRouter` puts both together for an INVITE: the Request-URI user is the dialled
number, or else the To user (carriers that send the INVITE to our registered Contact put the
DID in To). The number must belong to a tenant of one of the carriers that sent it:

- no carrier of any tenant sent it: :class:`~centralita.sip.errors.Forbidden` (403, no
  credentials asked: carriers do not answer challenges);
- a carrier sent it, but no tenant of that carrier owns the number:
  :class:`~centralita.sip.errors.NotFound` (404). That includes a number owned by another
  tenant: a carrier of tenant A never reaches tenant B, and the answer is the same 404 as
  for a number nobody owns, so that it does not tell A's carrier that B has the number.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

import phonenumbers

from centralita.config.dialplan import CarrierConfig, DialPlan, VirtualNumberConfig
from centralita.sip.errors import Forbidden, NotFound
from centralita.sip.message import Uri

# RFC 3966 §5.1.1 visual separators, plus the blanks people type.
_SEPARATORS = re.compile(r"[\s\-.()/]")
_DIALLABLE = re.compile(r"^\+?[0-9]{3,20}$")
# The owner key of the provider's carriers (their registrations, their TrunkSources): no
# tenant has id 0 (the store numbers tenants from 1).
PROVIDER = 0


@dataclass(frozen=True, slots=True)
class TrunkSource:
    """Where a registered trunk's requests come from: the address its registrar's host name
    resolved to (given by the registration manager, which resolves it). ``tenant_id`` is
    :data:`PROVIDER` for a provider carrier's registration."""

    tenant_id: int
    carrier: str
    host: str


@dataclass(frozen=True, slots=True)
class CarrierMatch:
    tenant_id: int
    carrier: CarrierConfig
    how: str  # "source" | "registrar" | "registration user"


@dataclass(frozen=True, slots=True)
class Routed:
    """An INVITE from a carrier that reaches ``number`` of tenant ``tenant_id``."""

    tenant_id: int
    number: VirtualNumberConfig
    carrier: CarrierConfig
    dialled: str  # the user part the number was read from


# ---------------------------------------------------------------- identification


def identify(
    plans: Mapping[int, DialPlan],
    source_host: str,
    request_user: str | None = None,
    trunks: Iterable[TrunkSource] = (),
    provider: Sequence[CarrierConfig] = (),
) -> list[CarrierMatch]:
    """The carriers (of any tenant) an INVITE from ``source_host`` to ``request_user`` can
    be from, tenants in ascending order. ``provider``: the provider's carriers, whose
    registrations are the ``trunks`` of tenant :data:`PROVIDER`."""
    resolved = {(t.tenant_id, t.carrier): _canonical_ip(t.host) for t in trunks}
    source = _canonical_ip(source_host)
    matches: list[CarrierMatch] = []
    for tenant_id in sorted(plans):
        for carrier in plans[tenant_id].carriers:
            # The very instance the directory appended: a tenant's own carrier of the same
            # settings keeps its own registration.
            owner = PROVIDER if any(carrier is p for p in provider) else tenant_id
            how = _how(carrier, source, request_user, resolved.get((owner, carrier.name)))
            if how is not None:
                matches.append(CarrierMatch(tenant_id, carrier, how))
    return matches


def _how(
    carrier: CarrierConfig, source: str | None, user: str | None, resolved: str | None
) -> str | None:
    if source is not None and _in_networks(source, carrier.source or ()):
        return "source"
    registration = carrier.registration
    if registration is None:
        return None
    if source is not None and source in (_canonical_ip(registration.server), resolved):
        return "registrar"
    if user is not None and user == registration.username:
        return "registration user"
    return None


def _in_networks(address: str, networks: Iterable[str]) -> bool:
    ip = ipaddress.ip_address(address)
    return any(ip in ipaddress.ip_network(net) for net in networks)


def _canonical_ip(host: str) -> str | None:
    try:
        ip = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # a dual-stack socket reports IPv4 peers as ::ffff:a.b.c.d
    return str(ip)


# ---------------------------------------------------------------- numbers


def normalise_dialled(
    user: str, country: str | None, *, phone_context: str | None = None
) -> str | None:
    """``user`` (a URI user part or a tel: number) in E.164, or None when it is no valid
    public number. National numbers are read in ``country`` (ISO 3166-1 alpha-2);
    ``phone_context`` is an RFC 3966 §5.1.5 global number prefix (``+34``)."""
    number, _, params = user.partition(";")
    context = phone_context or _param(params, "phone-context")
    text = _SEPARATORS.sub("", number)
    if not _DIALLABLE.match(text):
        return None
    if not text.startswith("+") and context and context.startswith("+"):
        text = _SEPARATORS.sub("", context) + text
    for candidate, region in _readings(text, country):
        try:
            parsed = phonenumbers.parse(candidate, region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(parsed):
            return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    return None


def _readings(text: str, country: str | None) -> list[tuple[str, str | None]]:
    """The ways to read ``text``, most likely first: as written (international with '+',
    or in the tenant's country, which knows its own international prefix), then the ITU
    international prefix 00 (ITU-T E.164 §A), then an international number without '+'."""
    if text.startswith("+"):
        return [(text, None)]
    readings: list[tuple[str, str | None]] = []
    if country is not None:
        readings.append((text, country))
    if text.startswith("00"):
        readings.append(("+" + text[2:], None))
    readings.append(("+" + text, None))
    return readings


def _param(params: str, name: str) -> str | None:
    for param in params.split(";"):
        key, _, value = param.partition("=")
        if key.strip().lower() == name:
            return value.strip()
    return None


def dialled_from_uri(uri: Uri) -> tuple[str, str | None] | None:
    """The user part and phone-context of a sip:/sips:/tel: URI (RFC 3966 §3: a tel: URI's
    number is all it has; its parameters follow it)."""
    if uri.scheme == "tel":
        number = uri.user or uri.host
        context = uri.params.get("phone-context")
        return (number, context) if number else None
    if uri.user is None:
        return None
    return uri.user, None


# ---------------------------------------------------------------- routing


class InboundRouter:
    """Routes INVITEs from carriers to a tenant's virtual number (see the module docstring).

    ``plans`` is a live mapping of tenant id to dial plan (every tenant with carriers);
    ``tenant_for_number`` answers which tenant owns an E.164 number (the store's index);
    ``trunks`` gives the resolved registrar addresses of the registered trunks;
    ``provider`` the provider's carriers (those the plans hold for every tenant).
    """

    def __init__(
        self,
        plans: Mapping[int, DialPlan],
        tenant_for_number: Callable[[str], int | None],
        trunks: Callable[[], Iterable[TrunkSource]] = tuple,
        provider: Callable[[], Sequence[CarrierConfig]] = tuple,
    ) -> None:
        self.plans = plans
        self.tenant_for_number = tenant_for_number
        self.trunks = trunks
        self.provider = provider

    def is_carrier(self, source_host: str, request_uri: Uri) -> bool:
        """Whether the request may come from a carrier (so the core routes it here rather
        than challenging it as a phone's)."""
        return bool(self._identify(source_host, request_uri))

    def route(self, source_host: str, request_uri: Uri, to_uri: Uri) -> Routed:
        matches = self._identify(source_host, request_uri)
        if not matches:
            raise Forbidden(f"{source_host} is not a carrier")
        carriers = {m.tenant_id: m.carrier for m in reversed(matches)}  # first one wins
        for uri in (request_uri, to_uri):
            routed = self._routed(uri, carriers)
            if routed is not None:
                return routed
        raise NotFound("no such number here")

    def _identify(self, source_host: str, request_uri: Uri) -> list[CarrierMatch]:
        user = request_uri.user if request_uri.scheme != "tel" else None
        return identify(self.plans, source_host, user, self.trunks(), self.provider())

    def _routed(self, uri: Uri, carriers: Mapping[int, CarrierConfig]) -> Routed | None:
        dialled = dialled_from_uri(uri)
        if dialled is None:
            return None
        user, context = dialled
        countries: set[str | None] = set()
        tried: set[str] = set()
        for tenant_id in carriers:
            plan = self.plans.get(tenant_id)
            country = plan.country if plan is not None else None
            if country in countries:
                continue  # read already: a provider carrier is every tenant's
            countries.add(country)
            number = normalise_dialled(user, country, phone_context=context)
            if number is None or number in tried:
                continue
            tried.add(number)
            owner = self.tenant_for_number(number)
            if owner is None or owner not in carriers:
                continue  # nobody's, or another tenant's: both 404 (see the docstring)
            owner_plan = self.plans.get(owner)
            config = owner_plan.virtual_number(number) if owner_plan is not None else None
            if config is not None:
                return Routed(owner, config, carriers[owner], user)
        return None
