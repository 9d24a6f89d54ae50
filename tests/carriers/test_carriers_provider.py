"""The provider's carriers: one trunk that serves every tenant, in and out, registered once."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from centralita.carrier_calls import InboundCarriers
from centralita.carriers.inbound import PROVIDER, TrunkSource
from centralita.carriers.outbound import NoCarrier, route_external
from centralita.config.dialplan import CarrierConfig, DialPlan
from centralita.directory import Directory
from centralita.sip.errors import Forbidden, NotFound
from centralita.sip.message import Uri
from centralita.store import Store
from tests.carriers.registrar_bench import REGISTRAR, Bench, Registrar

ACME_DID, GLOBEX_DID = "+34910000000", "+442079460000"
UPSTREAM_IP, ACME_TRUNK_IP = "203.0.113.7", "198.51.100.1"


def provider(name: str, **fields: Any) -> CarrierConfig:
    return CarrierConfig.model_validate({"name": name, **fields})


UPSTREAM = provider("upstream", source=UPSTREAM_IP)
REGISTERED = provider(
    "registered",
    register={"server": REGISTRAR.host, "username": "acme", "password": "s3cret"},
    outbound=False,
)


def plan(**sections: Any) -> DialPlan:
    return DialPlan.model_validate(sections)


def numbers(*dids: str) -> list[dict[str, Any]]:
    return [{"number": n, "destination": {"hangup": True}} for n in dids]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store.open(f"sqlite:///{tmp_path / 'provider.sqlite3'}") as opened:
        acme = opened.tenants.add("acme", "acme.test")
        globex = opened.tenants.add("globex", "globex.test")
        opened.tenants.add("initech", "initech.test")  # no dial plan at all
        own = [{"name": "own", "source": ACME_TRUNK_IP, "outbound": False}]
        opened.dialplans.put(acme.id, plan(country="ES", carriers=own, numbers=numbers(ACME_DID)))
        opened.dialplans.put(globex.id, plan(country="GB", numbers=numbers(GLOBEX_DID)))
        yield opened


def tenant_id(store: Store, name: str) -> int:
    tenant = store.tenants.get_by_name(name)
    assert tenant is not None
    return tenant.id


def inbound(
    store: Store, carriers: list[CarrierConfig], trunks: list[TrunkSource] | None = None
) -> InboundCarriers:
    return InboundCarriers(Directory(store, carriers=carriers), lambda: trunks or [])


def route(carriers: InboundCarriers, source: str, user: str, to_user: str | None = None) -> Any:
    to = Uri.parse(f"sip:{to_user or user}@pbx.example")
    return carriers.router.route(source, Uri.parse(f"sip:{user}@192.0.2.1"), to)


# ---------------------------------------------------------------- inbound


@pytest.mark.parametrize(
    ("dialled", "owner", "number"),
    [
        (ACME_DID, "acme", ACME_DID),
        ("910000000", "acme", ACME_DID),  # national in Spain, acme's country
        (GLOBEX_DID, "globex", GLOBEX_DID),
        ("02079460000", "globex", GLOBEX_DID),  # national in the UK, globex's country
    ],
)
def test_a_provider_carrier_delivers_the_numbers_of_every_tenant(
    store: Store, dialled: str, owner: str, number: str
) -> None:
    routed = route(inbound(store, [UPSTREAM]), UPSTREAM_IP, dialled)
    assert (routed.tenant_id, routed.number.number) == (tenant_id(store, owner), number)
    assert routed.carrier is UPSTREAM


def test_a_tenants_own_carrier_still_reaches_only_its_tenant(store: Store) -> None:
    carriers = inbound(store, [UPSTREAM])
    routed = route(carriers, ACME_TRUNK_IP, ACME_DID)
    assert routed.tenant_id == tenant_id(store, "acme") and routed.carrier.name == "own"
    with pytest.raises(NotFound):
        route(carriers, ACME_TRUNK_IP, GLOBEX_DID)


def test_numbers_nobody_owns_and_strangers_are_still_refused(store: Store) -> None:
    carriers = inbound(store, [UPSTREAM])
    with pytest.raises(NotFound):
        route(carriers, UPSTREAM_IP, "+34910999999")
    with pytest.raises(Forbidden):
        route(carriers, "192.0.2.200", ACME_DID)


def test_without_provider_carriers_its_address_is_nobodys(store: Store) -> None:
    with pytest.raises(Forbidden):
        route(inbound(store, []), UPSTREAM_IP, GLOBEX_DID)


def test_a_registered_provider_trunk_is_known_by_its_registrar_for_every_tenant(
    store: Store,
) -> None:
    named = provider(
        "named", register={"server": "sip.carrier.example", "username": "pbx", "password": "pw"}
    )
    resolved = [TrunkSource(PROVIDER, "named", "192.0.2.60")]
    carriers = inbound(store, [named], resolved)
    assert route(carriers, "192.0.2.60", ACME_DID).tenant_id == tenant_id(store, "acme")
    routed = route(carriers, "192.0.2.60", GLOBEX_DID)
    assert (routed.tenant_id, routed.carrier.name) == (tenant_id(store, "globex"), "named")
    # Calling our registered Contact (sip:pbx@...) with the number in To (RFC 3261 §10.2.1).
    by_user = route(carriers, "192.0.2.61", "pbx", to_user=GLOBEX_DID)
    assert by_user.tenant_id == tenant_id(store, "globex")
    # A tenant's registration of that name is not the provider's.
    with pytest.raises(Forbidden):
        route(inbound(store, [named], [TrunkSource(2, "named", "192.0.2.60")]), "192.0.2.60", "x")


def test_a_tenant_carrier_named_like_a_provider_one_replaces_it_for_that_tenant(
    store: Store,
) -> None:
    globex = tenant_id(store, "globex")
    shadow = plan(
        country="GB",
        carriers=[{"name": "upstream", "source": "192.0.2.99"}],
        numbers=numbers(GLOBEX_DID),
    )
    store.dialplans.put(globex, shadow)
    carriers = inbound(store, [UPSTREAM])
    with pytest.raises(NotFound):
        route(carriers, UPSTREAM_IP, GLOBEX_DID)  # not globex's "upstream" any more
    assert route(carriers, "192.0.2.99", GLOBEX_DID).tenant_id == globex
    assert route(carriers, UPSTREAM_IP, ACME_DID).tenant_id == tenant_id(store, "acme")


# ---------------------------------------------------------------- outbound


def outbound_plan(store: Store, name: str, carriers: list[CarrierConfig]) -> DialPlan:
    found = Directory(store, carriers=carriers).dial_plan(tenant_id(store, name))
    assert found is not None
    return found


def test_a_tenants_own_carrier_places_its_calls_first(store: Store) -> None:
    acme = tenant_id(store, "acme")
    own = plan(country="ES", carriers=[{"name": "own", "source": ACME_TRUNK_IP}])
    store.dialplans.put(acme, own.model_copy(update={"numbers": []}))
    route_ = route_external(outbound_plan(store, "acme", [UPSTREAM]), "+34600111222", ACME_DID)
    assert (route_.carrier, route_.dest_host) == ("own", ACME_TRUNK_IP)


def test_without_a_carrier_of_its_own_a_tenant_calls_out_through_the_provider(
    store: Store,
) -> None:
    # acme's own carrier only delivers (outbound: false); the registered provider trunk
    # does not place calls either: the first provider carrier that can is taken.
    plan_ = outbound_plan(store, "acme", [REGISTERED, UPSTREAM])
    out = route_external(plan_, "600111222", None)
    assert (out.carrier, out.dest_host, out.dest_port) == ("upstream", UPSTREAM_IP, 5060)
    assert out.request_uri == f"sip:+34600111222@{UPSTREAM_IP}"
    assert (out.from_user, out.from_uri) == (ACME_DID, f"sip:{ACME_DID}@{UPSTREAM_IP}")
    globex = route_external(outbound_plan(store, "globex", [UPSTREAM]), "+34600111222", None)
    assert (globex.carrier, globex.from_user) == ("upstream", GLOBEX_DID)  # its own number


def test_a_national_provider_carrier_writes_numbers_in_the_callers_country(
    store: Store,
) -> None:
    national = provider("national", source=UPSTREAM_IP, number_format="national")
    acme = route_external(outbound_plan(store, "acme", [national]), "+34600111222", None)
    assert (acme.request_uri, acme.from_user) == (f"sip:600111222@{UPSTREAM_IP}", "910000000")
    globex = route_external(outbound_plan(store, "globex", [national]), "+34600111222", None)
    assert (globex.request_uri, globex.from_user) == (
        f"sip:0034600111222@{UPSTREAM_IP}",
        "02079460000",
    )


def test_a_tenant_with_no_number_to_present_cannot_call_out(store: Store) -> None:
    initech = outbound_plan(store, "initech", [UPSTREAM])
    with pytest.raises(NoCarrier, match="no number to present"):
        route_external(initech, "+34600111222", None)
    assert route_external(initech, "+34600111222", "+34930000000").from_user == "+34930000000"


def test_no_provider_carrier_able_to_call_out_means_no_route(store: Store) -> None:
    with pytest.raises(NoCarrier):
        route_external(outbound_plan(store, "globex", [REGISTERED]), "+34600111222", None)


# ---------------------------------------------------------------- registration


def test_a_provider_trunk_is_registered_once_and_identifies_calls_for_every_tenant(
    store: Store,
) -> None:
    directory = Directory(store, carriers=[REGISTERED])
    bench = Bench(Registrar())
    bench.trunks.sync(directory.carriers_by_owner(), bench.now)
    bench.pump()
    [register] = [r for r in bench.registrar.requests if "Authorization" in r.headers]
    assert register.method == "REGISTER"
    [status] = bench.trunks.status()
    assert (status.tenant_id, status.carrier, status.state) == (
        PROVIDER,
        "registered",
        "registered",
    )
    assert bench.trunks.sources() == [TrunkSource(PROVIDER, "registered", REGISTRAR.host)]

    carriers = InboundCarriers(directory, bench.trunks.sources)
    for name, did in (("acme", ACME_DID), ("globex", GLOBEX_DID)):
        assert route(carriers, REGISTRAR.host, did).tenant_id == tenant_id(store, name)

    assert bench.registrar.bindings  # bound once, for all tenants
    bench.trunks.sync({**directory.carriers_by_owner(), PROVIDER: []}, bench.now)
    bench.pump()
    assert bench.registrar.requests[-1].expires == 0  # un-REGISTERed (RFC 3261 §10.2.2)
    assert (bench.registrar.bindings, bench.trunks.status()) == ({}, [])
