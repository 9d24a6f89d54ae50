"""Calls to external numbers: which carrier takes them and how the INVITE is addressed.

:func:`route_external` picks the first carrier of the tenant that can place calls (see
:class:`~centralita.config.dialplan_nodes.CarrierConfig`: ``outbound`` and an address: its
``proxy``, else its registration's server, else its one ``source`` address on port 5060) and
writes the number the way that carrier wants it (``number_format``, ``prefix``). The plan
lists the tenant's own carriers first and the provider's after them
(:meth:`centralita.directory.Directory.dial_plan`), so a tenant's own carrier wins and the
provider's first able one serves a tenant without one. ``national`` is national to the
calling tenant's country; a tenant without a country sends E.164.

The From user is the company's number (ITU-T E.164, written like the dialled number):
the carrier's ``caller_id`` when set, else the number the call presents (the virtual number it
came in on, or the tenant's), else the tenant's first virtual number. Never a user's mobile:
a forwarded call shows the company, as the issue asks. A registered trunk's URIs name its
registration server as their domain and the INVITE carries its credentials for the digest
challenge carriers send (RFC 3261 §22.2).

Nothing here resolves host names: ``dest_host`` may be a name the caller resolves.
"""

from __future__ import annotations

from dataclasses import dataclass

import phonenumbers

from centralita.carriers.inbound import normalise_dialled
from centralita.config.dialplan import CarrierConfig, DialPlan
from centralita.sip.errors import NotFound

DEFAULT_PORT = 5060


class NoCarrier(NotFound):
    """The tenant has no carrier that can place calls (404: the number fits no route; the
    call log calls it ``wrong_number``)."""

    reason = "No Route To Destination"


class InvalidNumber(NotFound):
    """The dialled number is no valid public number."""


@dataclass(frozen=True, slots=True)
class ExternalRoute:
    carrier: str
    request_uri: str  # "sip:+34600111222@sip.carrier.example"
    to_uri: str  # the same, for the To header
    from_user: str  # the caller id the callee sees, formatted for the carrier
    from_uri: str  # "sip:+34910000000@sip.carrier.example"
    number: str  # the dialled number, E.164
    dest_host: str  # IP address or host name to send the INVITE to
    dest_port: int
    transport: str  # "udp" | "tcp" | "tls"
    credentials: tuple[str, str] | None  # (username, password) for a digest challenge
    realm: str | None = None  # the realm those credentials are for, when configured


@dataclass(frozen=True, slots=True)
class _Target:
    host: str
    port: int
    transport: str
    domain: str


def outbound_carrier(plan: DialPlan) -> CarrierConfig | None:
    """The carrier that places the tenant's external calls: the first that can."""
    return next((c for c in plan.carriers if _target(c) is not None), None)


def route_external(plan: DialPlan, number: str, company_number: str | None) -> ExternalRoute:
    """How to call ``number`` (E.164, or national in the tenant's country) through the
    tenant's carrier. :class:`NoCarrier` / :class:`InvalidNumber` otherwise."""
    dialled = normalise_dialled(number, plan.country)
    if dialled is None:
        raise InvalidNumber(f"{number!r} is not a valid public number")
    carrier = outbound_carrier(plan)
    target = _target(carrier) if carrier is not None else None
    if carrier is None or target is None:
        raise NoCarrier("the tenant has no carrier for calls to external numbers")
    caller = carrier.caller_id or company_number or _first_number(plan)
    if caller is None:
        raise NoCarrier("no number to present: give the carrier a caller_id or add a number")
    user = (carrier.prefix or "") + format_number(dialled, carrier.number_format, plan.country)
    from_user = format_number(caller, carrier.number_format, plan.country)
    registration = carrier.registration
    return ExternalRoute(
        carrier=carrier.name,
        request_uri=_uri(user, target, with_port=True),
        to_uri=_uri(user, target, with_port=False),
        from_user=from_user,
        from_uri=_uri(from_user, target, with_port=False),
        number=dialled,
        dest_host=target.host,
        dest_port=target.port,
        transport=target.transport,
        credentials=(
            (registration.username, registration.password.get_secret_value())
            if registration is not None
            else None
        ),
        realm=registration.realm if registration is not None else None,
    )


def format_number(number: str, style: str, country: str | None) -> str:
    """E.164 ``number`` as a carrier wants it: ``e164`` (+34910000000),
    ``e164_without_plus`` (34910000000) or ``national`` (910000000 when in ``country``,
    else with that country's international prefix: 0044...)."""
    if style == "e164":
        return number
    if style == "e164_without_plus":
        return number.removeprefix("+")
    parsed = phonenumbers.parse(number, None)
    if country is None:
        return number  # the dial-plan checks refuse national formats without a country
    if phonenumbers.region_code_for_number(parsed) == country:
        text = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.NATIONAL)
    else:
        text = phonenumbers.format_out_of_country_calling_number(parsed, country)
    return "".join(ch for ch in text if ch.isdigit() or ch == "+")


def _target(carrier: CarrierConfig) -> _Target | None:
    if not carrier.outbound:
        return None
    if carrier.proxy is not None:
        proxy = carrier.proxy
        registration = carrier.registration
        domain = registration.server.strip("[]") if registration is not None else proxy.host
        return _Target(proxy.host, proxy.port, proxy.transport, domain)
    if carrier.registration is not None:
        reg = carrier.registration
        server = reg.server.strip("[]")
        return _Target(server, reg.port, reg.transport, server)
    source = carrier.single_source
    if source is not None:
        return _Target(source, DEFAULT_PORT, "udp", source)
    return None


def _first_number(plan: DialPlan) -> str | None:
    return plan.numbers[0].number if plan.numbers else None


def _uri(user: str, target: _Target, *, with_port: bool) -> str:
    host = f"[{target.domain}]" if ":" in target.domain else target.domain
    uri = f"sip:{user.replace('#', '%23')}@{host}"  # '#' is no user character (§25.1)
    if with_port and target.domain == target.host:
        if target.port != DEFAULT_PORT:
            uri += f":{target.port}"
        if target.transport != "udp":
            uri += f";transport={target.transport}"  # RFC 3261 §19.1.1
    return uri
