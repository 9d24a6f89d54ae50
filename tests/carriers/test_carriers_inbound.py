"""Calls from carriers reach the tenant that owns the number, and nobody else."""

from __future__ import annotations

from typing import Any

import pytest

from centralita.carriers.inbound import (
    InboundRouter,
    TrunkSource,
    identify,
    normalise_dialled,
)
from centralita.config.dialplan import DialPlan
from centralita.sip.errors import Forbidden, NotFound
from centralita.sip.message import Uri

ACME, GLOBEX, INITECH = 1, 2, 3


def plan(country: str | None, carriers: list[dict[str, Any]], numbers: list[str]) -> DialPlan:
    return DialPlan.model_validate(
        {
            "country": country,
            "carriers": carriers,
            "numbers": [{"number": n, "destination": {"hangup": True}} for n in numbers],
        }
    )


PLANS = {
    ACME: plan("ES", [{"name": "trunk", "source": "192.0.2.10"}], ["+34910000000"]),
    GLOBEX: plan(
        "GB",
        [{"name": "trunk", "source": ["198.51.100.0/24"]}],
        ["+442079460000"],
    ),
    INITECH: plan(
        "ES",
        [
            {
                "name": "voip",
                "register": {
                    "server": "sip.carrier.example",
                    "username": "initech1",
                    "password": "pw",
                },
            },
            {
                "name": "direct",
                "register": {"server": "203.0.113.5", "username": "ini2", "password": "pw"},
            },
        ],
        ["+34930000000", "+34930000001"],
    ),
}
OWNERS = {n.number: t for t, p in PLANS.items() for n in p.numbers}


def router(trunks: list[TrunkSource] | None = None) -> InboundRouter:
    return InboundRouter(PLANS, OWNERS.get, lambda: trunks or [])


@pytest.mark.parametrize(
    ("user", "country", "expected"),
    [
        ("+34910000000", "ES", "+34910000000"),
        ("+34910000000", None, "+34910000000"),
        ("34910000000", "ES", "+34910000000"),
        ("34910000000", None, "+34910000000"),
        ("0034910000000", "ES", "+34910000000"),
        ("0034910000000", None, "+34910000000"),
        ("910000000", "ES", "+34910000000"),
        ("+34-91-000-00-00", "ES", "+34910000000"),
        ("(91) 000.00.00", "ES", "+34910000000"),
        ("+34910000000;npdi;rn=+34123", "ES", "+34910000000"),
        ("910000000;phone-context=+34", None, "+34910000000"),
        ("02079460000", "GB", "+442079460000"),
        ("011442079460000", "US", "+442079460000"),
        ("442079460000", "ES", "+442079460000"),
        ("910000000", None, None),  # national, and no country to read it in
        ("101", "ES", None),
        ("alice", "ES", None),
        ("+3491", "ES", None),
        ("", "ES", None),
    ],
)
def test_normalise_dialled(user: str, country: str | None, expected: str | None) -> None:
    assert normalise_dialled(user, country) == expected


def test_tel_uri_phone_context() -> None:
    uri = Uri.parse("tel:910000000;phone-context=+34")
    routed = router().route("192.0.2.10", uri, Uri.parse("sip:x@pbx"))
    assert (routed.tenant_id, routed.number.number) == (ACME, "+34910000000")


def test_identify_by_source_networks_and_registrar() -> None:
    assert [(m.tenant_id, m.carrier.name, m.how) for m in identify(PLANS, "192.0.2.10")] == [
        (ACME, "trunk", "source")
    ]
    assert [m.tenant_id for m in identify(PLANS, "198.51.100.77")] == [GLOBEX]
    assert [m.carrier.name for m in identify(PLANS, "203.0.113.5")] == ["direct"]
    assert [m.how for m in identify(PLANS, "::ffff:203.0.113.5")] == ["registrar"]
    assert identify(PLANS, "192.0.2.11") == []
    assert identify(PLANS, "not-an-ip") == []
    # A registrar known by name matches the address the registration manager resolved.
    trunks = [TrunkSource(INITECH, "voip", "203.0.113.99")]
    assert [m.carrier.name for m in identify(PLANS, "203.0.113.99", None, trunks)] == ["voip"]
    # The carrier calls the Contact we registered: sip:USERNAME@us.
    by_user = identify(PLANS, "192.0.2.200", "initech1")
    assert [(m.carrier.name, m.how) for m in by_user] == [("voip", "registration user")]


def test_a_carrier_reaches_its_tenants_number() -> None:
    routed = router().route(
        "192.0.2.10", Uri.parse("sip:0034910000000@pbx.example"), Uri.parse("sip:x@pbx")
    )
    assert (routed.tenant_id, routed.number.number, routed.carrier.name) == (
        ACME,
        "+34910000000",
        "trunk",
    )
    national = router().route(
        "198.51.100.3", Uri.parse("sip:02079460000@pbx"), Uri.parse("sip:a@b")
    )
    assert national.tenant_id == GLOBEX


def test_the_did_in_to_when_the_request_uri_is_our_registered_contact() -> None:
    routed = router().route(
        "192.0.2.200",
        Uri.parse("sip:initech1@198.18.0.1:5060"),
        Uri.parse("sip:+34930000001@sip.carrier.example"),
    )
    assert (routed.tenant_id, routed.number.number, routed.carrier.name) == (
        INITECH,
        "+34930000001",
        "voip",
    )
    assert routed.dialled == "+34930000001"


def test_unknown_source_is_forbidden() -> None:
    with pytest.raises(Forbidden):
        router().route("192.0.2.99", Uri.parse("sip:+34910000000@pbx"), Uri.parse("sip:x@pbx"))
    assert not router().is_carrier("192.0.2.99", Uri.parse("sip:+34910000000@pbx"))
    assert router().is_carrier("192.0.2.10", Uri.parse("sip:+34910000000@pbx"))


def test_unknown_number_is_not_found() -> None:
    with pytest.raises(NotFound):
        router().route("192.0.2.10", Uri.parse("sip:+34910000009@pbx"), Uri.parse("sip:x@pbx"))
    with pytest.raises(NotFound):
        router().route("192.0.2.10", Uri.parse("sip:hello@pbx"), Uri.parse("sip:there@pbx"))


def test_a_carrier_of_one_tenant_cannot_reach_another_tenants_number() -> None:
    # ACME's carrier offers GLOBEX's number: the same 404 as for a number nobody has.
    with pytest.raises(NotFound) as caught:
        router().route("192.0.2.10", Uri.parse("sip:+442079460000@pbx"), Uri.parse("sip:x@pbx"))
    assert caught.type is NotFound
    with pytest.raises(NotFound):
        router().route("203.0.113.5", Uri.parse("sip:+34910000000@pbx"), Uri.parse("sip:x@pbx"))


def test_a_carrier_shared_by_two_tenants_reaches_both() -> None:
    shared = {"name": "shared", "source": "192.0.2.50"}
    plans = {
        ACME: plan("ES", [shared], ["+34910000000"]),
        GLOBEX: plan("GB", [shared], ["+442079460000"]),
    }
    owners = {"+34910000000": ACME, "+442079460000": GLOBEX}
    shared_router = InboundRouter(plans, owners.get)
    to = Uri.parse("sip:x@pbx")
    assert shared_router.route("192.0.2.50", Uri.parse("sip:910000000@pbx"), to).tenant_id == ACME
    # "02079460000" is national in GB only: read in each tenant's own country.
    assert shared_router.route("192.0.2.50", Uri.parse("sip:02079460000@p"), to).tenant_id == GLOBEX


def test_stale_number_index_is_not_found() -> None:
    owners = {"+34910000000": ACME, "+34910000001": ACME}  # the index knows a removed number
    stale = InboundRouter(PLANS, owners.get)
    with pytest.raises(NotFound):
        stale.route("192.0.2.10", Uri.parse("sip:+34910000001@pbx"), Uri.parse("sip:x@pbx"))
