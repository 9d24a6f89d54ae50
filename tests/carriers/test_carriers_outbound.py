"""Calls to external numbers: the carrier, the Request-URI and the caller id presented."""

from __future__ import annotations

from typing import Any

import pytest

from centralita.carriers.outbound import (
    InvalidNumber,
    NoCarrier,
    format_number,
    outbound_carrier,
    route_external,
)
from centralita.config.dialplan import DialPlan
from centralita.sip.errors import NotFound
from centralita.sip.message import Uri

REGISTER = {"server": "sip.carrier.example", "username": "acme", "password": "pw", "realm": "c"}


def plan(*carriers: dict[str, Any], numbers: tuple[str, ...] = ("+34910000000",)) -> DialPlan:
    return DialPlan.model_validate(
        {
            "country": "ES",
            "carriers": list(carriers),
            "numbers": [{"number": n, "destination": {"hangup": True}} for n in numbers],
        }
    )


def test_single_source_carrier_default_address() -> None:
    route = route_external(plan({"name": "t", "source": "192.0.2.10"}), "+34600111222", None)
    assert (route.dest_host, route.dest_port, route.transport) == ("192.0.2.10", 5060, "udp")
    assert route.request_uri == "sip:+34600111222@192.0.2.10"
    assert route.to_uri == "sip:+34600111222@192.0.2.10"
    assert route.from_user == "+34910000000"  # the tenant's first virtual number
    assert route.from_uri == "sip:+34910000000@192.0.2.10"
    assert route.credentials is None and route.carrier == "t" and route.number == "+34600111222"
    Uri.parse(route.request_uri)  # well-formed


def test_proxy_port_transport_and_national_input() -> None:
    carrier = {"name": "t", "source": ["192.0.2.0/24"], "proxy": "sip.carrier.example:5070"}
    route = route_external(plan(carrier), "600 11 12 22", "+34910000000")
    assert (route.dest_host, route.dest_port) == ("sip.carrier.example", 5070)
    assert route.request_uri == "sip:+34600111222@sip.carrier.example:5070"
    tcp = {**carrier, "proxy": {"host": "2001:db8::1", "transport": "tcp"}}
    route = route_external(plan(tcp), "+34600111222", None)
    assert route.request_uri == "sip:+34600111222@[2001:db8::1];transport=tcp"
    assert (route.dest_host, route.transport) == ("2001:db8::1", "tcp")
    Uri.parse(route.request_uri)


def test_register_carrier_uses_its_server_and_credentials() -> None:
    route = route_external(plan({"name": "reg", "register": REGISTER}), "+442079460000", None)
    assert (route.dest_host, route.dest_port, route.transport) == (
        "sip.carrier.example",
        5060,
        "udp",
    )
    assert route.credentials == ("acme", "pw") and route.realm == "c"
    assert route.request_uri == "sip:+442079460000@sip.carrier.example"
    # An outbound proxy: sent there, addressed to the carrier's domain.
    proxied = {"name": "reg", "register": REGISTER, "proxy": "192.0.2.7"}
    route = route_external(plan(proxied), "+442079460000", None)
    assert (route.dest_host, route.request_uri) == (
        "192.0.2.7",
        "sip:+442079460000@sip.carrier.example",
    )


@pytest.mark.parametrize(
    ("style", "number", "expected"),
    [
        ("e164", "+34600111222", "+34600111222"),
        ("e164_without_plus", "+34600111222", "34600111222"),
        ("national", "+34600111222", "600111222"),
        ("national", "+442079460000", "00442079460000"),
    ],
)
def test_number_formats(style: str, number: str, expected: str) -> None:
    assert format_number(number, style, "ES") == expected
    carrier = {"name": "t", "source": "192.0.2.10", "number_format": style}
    route = route_external(plan(carrier), number, None)
    assert route.request_uri == f"sip:{expected}@192.0.2.10"


def test_prefix_caller_id_and_company_number() -> None:
    carrier = {"name": "t", "source": "192.0.2.10", "prefix": "1234#", "number_format": "national"}
    route = route_external(plan(carrier), "+34600111222", "+34910000001")
    assert route.request_uri == "sip:1234%23600111222@192.0.2.10"
    assert Uri.parse(route.request_uri).user == "1234#600111222"
    assert route.from_user == "910000001"  # the company's number, not the first one
    fixed = {"name": "t", "source": "192.0.2.10", "caller_id": "+34 930 000 000"}
    assert route_external(plan(fixed), "+34600111222", "+34910000001").from_user == "+34930000000"


def test_first_carrier_that_can_place_calls() -> None:
    inbound_only = {"name": "in", "source": ["192.0.2.0/24"]}  # a network: nowhere to send to
    switched_off = {"name": "off", "source": "192.0.2.20", "outbound": False}
    usable = {"name": "out", "source": "192.0.2.30"}
    tenant = plan(inbound_only, switched_off, usable)
    carrier = outbound_carrier(tenant)
    assert carrier is not None and carrier.name == "out"
    assert route_external(tenant, "+34600111222", None).dest_host == "192.0.2.30"


def test_no_carrier_no_caller_id_and_bad_numbers() -> None:
    with pytest.raises(NoCarrier) as caught:
        route_external(plan({"name": "in", "source": ["192.0.2.0/24"]}), "+34600111222", None)
    assert caught.value.status_code == 404
    with pytest.raises(NoCarrier):
        route_external(plan(), "+34600111222", None)
    with pytest.raises(NoCarrier, match="caller_id"):
        route_external(
            plan({"name": "t", "source": "192.0.2.10"}, numbers=()), "+34600111222", None
        )
    with pytest.raises(InvalidNumber):
        route_external(plan({"name": "t", "source": "192.0.2.10"}), "+3460", None)
    assert issubclass(InvalidNumber, NotFound)
