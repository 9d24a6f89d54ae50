"""The provider's carriers at the core: one trunk delivers the numbers of two tenants, and a
tenant without a carrier of its own calls out through it. A recording runner stands in for
the server's; the rest is the production core (and the production Planner) over a real store."""

from __future__ import annotations

from pathlib import Path

import pytest

from centralita.calls.call import Party
from centralita.carriers.inbound import PROVIDER
from centralita.config.dialplan import CarrierConfig, DialPlan
from centralita.routing.context import DialTarget
from centralita.runtime import Planner, Runtime, TenantEnv
from centralita.sip.address import Address
from tests.calls.pbxharness import Pbx, Phone, response_to, sdp
from tests.calls.test_calls_core_routing import RecordingRunner, carrier_invite

ACME_DID, GLOBEX_DID = "+34910000000", "+442079460000"
UPSTREAM = Address("udp", "203.0.113.7", 5060)  # carrier_invite() sends from here
PROVIDER_CARRIER = CarrierConfig.model_validate({"name": "upstream", "source": UPSTREAM.host})


def numbers(did: str) -> list[dict[str, object]]:
    return [{"number": did, "destination": {"hangup": True}}]


@pytest.fixture
def pbx(tmp_path: Path) -> Pbx:
    made = Pbx(tmp_path)
    made.core.runner = RecordingRunner()
    globex = made.store.tenants.add("globex", "globex.test")
    made.store.dialplans.put(
        made.tenant_id, DialPlan.model_validate({"numbers": numbers(ACME_DID)})
    )
    made.store.dialplans.put(
        globex.id, DialPlan.model_validate({"country": "GB", "numbers": numbers(GLOBEX_DID)})
    )
    made.store.tenants.add("initech", "initech.test")  # no dial plan
    made.core.directory.set_provider_carriers([PROVIDER_CARRIER])
    return made


def runner(pbx: Pbx) -> RecordingRunner:
    assert isinstance(pbx.core.runner, RecordingRunner)
    return pbx.core.runner


def test_one_provider_carrier_delivers_the_numbers_of_two_tenants(pbx: Pbx) -> None:
    pbx.deliver(carrier_invite(ACME_DID), UPSTREAM)
    pbx.deliver(carrier_invite("02079460000"), UPSTREAM)  # national in globex's country
    (acme, acme_start), (globex, globex_start) = runner(pbx).flows
    assert (acme.target.tenant_name, acme_start.kind, acme_start.dialled) == (
        "acme",
        "number",
        ACME_DID,
    )
    assert (globex.target.tenant_name, globex.target.domain) == ("globex", "globex.test")
    assert globex_start.number is not None and globex_start.number.number == GLOBEX_DID
    assert not globex.target.caller_is_extension


def test_the_provider_carrier_calling_a_number_nobody_has_gets_404(pbx: Pbx) -> None:
    trunk = Phone("+34600999888", "", UPSTREAM, domain="carrier.example")
    response_to(pbx.deliver(carrier_invite("+34910999999"), UPSTREAM), trunk, 404)
    assert runner(pbx).flows == []


def test_other_sources_offering_a_number_still_get_403(pbx: Pbx) -> None:
    stranger = Address("udp", "198.51.100.9", 5060)
    caller = Phone("+34600999888", "", stranger, domain="evil.example")
    invite = caller.request("INVITE", f"sip:{GLOBEX_DID}@192.0.2.1", body=sdp(40000))
    response_to(pbx.deliver(invite, stranger), caller, 403)
    assert runner(pbx).flows == []


def test_a_phone_behind_the_provider_carriers_address_is_challenged(pbx: Pbx) -> None:
    alice = Phone("101", "s3cret-101", Address("udp", UPSTREAM.host, 5071))
    out = pbx.deliver(alice.request("INVITE", "sip:102@acme.test", body=sdp(40000)), alice.address)
    response_to(out, alice, 401)


def planner(pbx: Pbx, tmp_path: Path, tenant_name: str) -> Planner:
    runtime = Runtime(
        directory=pbx.core.directory,
        is_busy=lambda tenant_id, number: False,
        occupy=lambda tenant_id, number, delta: None,
        media_ip=lambda dest: "192.0.2.1",
        data_dir=tmp_path,
    )
    tenant = pbx.store.tenants.get_by_name(tenant_name)
    assert tenant is not None
    return Planner(runtime, TenantEnv(runtime, tenant, pbx.core.directory.dial_plan(tenant.id)))


async def test_a_tenant_without_a_carrier_calls_out_through_the_providers(
    pbx: Pbx, tmp_path: Path
) -> None:
    alice = Party(number="101", name="Alice", uri="sip:101@globex.test")
    legs = await planner(pbx, tmp_path, "globex").legs(alice, DialTarget("+34600111222"), None)
    assert isinstance(legs, list)
    [leg] = legs
    invite = leg.target
    assert (invite.request_uri, invite.dest) == (f"sip:+34600111222@{UPSTREAM.host}", UPSTREAM)
    # The caller ID is globex's own company number, never another tenant's.
    assert invite.from_uri == f"sip:{GLOBEX_DID}@globex.test"
    assert dict(invite.headers)["P-Asserted-Identity"] == f"<sip:{GLOBEX_DID}@globex.test>"


async def test_a_tenant_with_no_number_to_present_does_not_call_out(
    pbx: Pbx, tmp_path: Path
) -> None:
    alice = Party(number="101", name="Alice", uri="sip:101@initech.test")
    legs = await planner(pbx, tmp_path, "initech").legs(alice, DialTarget("+34600111222"), None)
    assert not isinstance(legs, list)  # DialStatus.FAILED: no number of its own to show


def test_the_provider_carrier_is_one_registration_key(pbx: Pbx) -> None:
    owners = pbx.core.directory.carriers_by_owner()
    assert owners[PROVIDER] == [PROVIDER_CARRIER]
    assert all(not carriers for owner, carriers in owners.items() if owner != PROVIDER)
