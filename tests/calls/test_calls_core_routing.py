"""Which calls the core hands to the dial plan, and how it treats carriers: a recording
runner stands in for the server's, the rest is the production core over a real store."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from centralita.calls.appcall import AppCall
from centralita.config.tenants import TenantConfig
from centralita.directory import TenantEntry
from centralita.records.outcome import ExtensionRow, Status
from centralita.routing.services import Service
from centralita.runtime import FlowStart
from centralita.sip.address import Address
from tests.calls.pbxharness import Pbx, Phone, response_to, sdp

DID = "+34910000000"
CARRIER = Address("udp", "203.0.113.7", 5060)


@dataclass
class RecordingRunner:
    flows: list[tuple[AppCall, FlowStart]] = field(default_factory=list)
    services: list[Service] = field(default_factory=list)

    def start(self, call: AppCall, service: Service) -> None:
        self.services.append(service)

    def start_flow(self, call: AppCall, tenant: TenantEntry, start: FlowStart) -> None:
        self.flows.append((call, start))


def plan_for(pbx: Pbx, **sections: object) -> None:
    config = TenantConfig.model_validate(
        {
            "name": "acme",
            "domain": "acme.test",
            "country": "ES",
            "extensions": [
                {"number": n, "password": f"s3cret-{n}", **extra}
                for n, extra in (("101", {}), ("102", sections.pop("routing_102", {})))
            ],
            **sections,
        }
    )
    pbx.store.dialplans.put(pbx.tenant_id, config.dial_plan())


@pytest.fixture
def pbx(tmp_path: Path) -> Pbx:
    made = Pbx(tmp_path)
    made.core.runner = RecordingRunner()
    plan_for(
        made,
        carriers=[{"name": "trunk", "source": "203.0.113.0/24"}],
        numbers=[{"number": DID, "destination": {"extension": "101"}}],
        routing_102={"forwarding": {"busy": {"extension": "101"}}},
    )
    return made


def runner(pbx: Pbx) -> RecordingRunner:
    assert isinstance(pbx.core.runner, RecordingRunner)
    return pbx.core.runner


def carrier_invite(user: str, from_host: str = "carrier.example") -> bytes:
    trunk = Phone("+34600999888", "", CARRIER, domain=from_host)
    return trunk.request("INVITE", f"sip:{user}@192.0.2.1", body=sdp(40000))


@pytest.mark.parametrize("dialled", [DID, "34910000000", "0034910000000", "910000000"])
def test_a_carrier_reaches_its_tenants_number_without_credentials(pbx: Pbx, dialled: str) -> None:
    pbx.deliver(carrier_invite(dialled), CARRIER)
    [(call, start)] = runner(pbx).flows
    assert start.kind == "number" and start.number is not None
    assert start.number.number == DID
    assert call.target.caller.number == "+34600999888"
    assert not call.target.caller_is_extension  # no outgoing row for an outside caller


def test_a_carrier_calling_a_number_nobody_has_gets_404(pbx: Pbx) -> None:
    trunk = Phone("+34600999888", "", CARRIER, domain="carrier.example")
    out = pbx.deliver(carrier_invite("+34910999999"), CARRIER)
    response_to(out, trunk, 404)
    assert runner(pbx).flows == []


def test_an_unknown_source_offering_our_number_gets_403(pbx: Pbx) -> None:
    stranger = Address("udp", "198.51.100.9", 5060)
    caller = Phone("+34600999888", "", stranger, domain="evil.example")
    out = pbx.deliver(caller.request("INVITE", f"sip:{DID}@192.0.2.1", body=sdp(40000)), stranger)
    response_to(out, caller, 403)
    assert runner(pbx).flows == []


def test_a_phone_of_the_tenant_is_still_challenged(pbx: Pbx) -> None:
    alice = pbx.phone("101", 5071)
    out = pbx.send(alice, alice.request("INVITE", "sip:102@acme.test", body=sdp(40000)))
    response_to(out, alice, 401)


def test_an_extension_with_forwarding_is_routed_by_the_dial_plan(pbx: Pbx) -> None:
    alice = pbx.phone("101", 5071)
    pbx.send_authenticated(alice, alice.request("INVITE", "sip:102@acme.test", body=sdp(40000)))
    [(call, start)] = runner(pbx).flows
    assert (start.kind, start.dialled) == ("internal", "102")
    assert call.target.caller.number == "101" and call.target.routed


def test_an_extension_without_rules_is_bridged_by_the_b2bua(pbx: Pbx) -> None:
    bob = pbx.phone("102", 5072)
    out = pbx.send_authenticated(bob, bob.request("INVITE", "sip:101@acme.test", body=sdp(40000)))
    response_to(out, bob, 480)  # the B2BUA's answer: 101 has no phone registered
    assert runner(pbx).flows == []


def test_do_not_disturb_sends_a_plain_extension_through_the_dial_plan(pbx: Pbx) -> None:
    pbx.store.extensions.set_dnd(pbx.tenant_id, "101", True)
    bob = pbx.phone("102", 5072)
    pbx.send_authenticated(bob, bob.request("INVITE", "sip:101@acme.test", body=sdp(40000)))
    [(_, start)] = runner(pbx).flows
    assert start.dialled == "101"


@pytest.mark.parametrize(
    ("dialled", "kind"),
    [("*78", "dnd_on"), ("*72+34600111222", "forward_on"), ("*97", "voicemail")],
)
def test_feature_codes_are_routed_as_features(pbx: Pbx, dialled: str, kind: str) -> None:
    alice = pbx.phone("101", 5071)
    invite = alice.request("INVITE", f"sip:{dialled}@acme.test", body=sdp(40000))
    pbx.send_authenticated(alice, invite)
    [(_, start)] = runner(pbx).flows
    assert start.kind == "feature" and start.feature.kind == kind


def test_unknown_numbers_and_short_numbers_go_to_the_dial_plan_which_decides(pbx: Pbx) -> None:
    alice = pbx.phone("101", 5071)
    pbx.send_authenticated(alice, alice.request("INVITE", "sip:999@acme.test", body=sdp(40000)))
    [(_, start)] = runner(pbx).flows
    assert (start.kind, start.dialled) == ("internal", "999")


def test_a_phone_behind_the_carriers_address_dialling_a_short_number_is_challenged(
    pbx: Pbx,
) -> None:
    alice = Phone("101", "s3cret-101", Address("udp", CARRIER.host, 5071))
    out = pbx.deliver(alice.request("INVITE", "sip:102@acme.test", body=sdp(40000)), alice.address)
    response_to(out, alice, 401)


def test_a_routed_calls_rows_wait_for_the_end_of_its_flow(pbx: Pbx) -> None:
    """Statuses set after the caller hung up (a forward answered elsewhere, a message
    filed) still reach the call log: rows are written when the flow is done."""
    pbx.deliver(carrier_invite(DID), CARRIER)
    [(call, _)] = runner(pbx).flows
    pbx.core.apps.cancel(call.key, pbx.now)  # the caller gives up
    assert pbx.store.call_records.list(pbx.tenant_id) == []
    call.rows["101"] = ExtensionRow("101", Status.ANSWERED_IN, "+34600111222")
    pbx.core.apps.flow_finished(call)
    pbx.core.apps.flow_finished(call)  # once only
    [row] = pbx.store.call_records.list(pbx.tenant_id)
    assert (row.owner, row.status, row.answered_by) == ("101", "answered_in", "+34600111222")
