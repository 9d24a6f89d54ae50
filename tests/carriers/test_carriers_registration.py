"""The PBX registering to carriers (RFC 3261 §10.2) through the real transaction layer,
against a registrar that checks digest answers with the server-side verifier."""

from __future__ import annotations

from typing import Any

import pytest

from centralita.carriers.registration import (
    Input,
    RegistrationProtocolError,
    State,
    TrunkRegistration,
    refresh_delay,
    retry_delay,
)
from centralita.carriers.trunks import TrunkStatus
from centralita.config.dialplan import CarrierConfig
from centralita.sip.address import Address
from centralita.sip.auth import parse_credentials
from centralita.sip.transaction import Role, TransactionKey
from tests.carriers.registrar_bench import PBX, REGISTRAR, Bench, Registrar

TENANT = 7
CONTACT = f"sip:acme@{PBX[0]}:{PBX[1]}"


def carrier(name: str = "trunk", **register: Any) -> CarrierConfig:
    account = {"server": REGISTRAR.host, "username": "acme", "password": "s3cret", **register}
    return CarrierConfig.model_validate({"name": name, "register": account})


def status(bench: Bench) -> TrunkStatus:
    (only,) = bench.trunks.status()
    return only


def started(registrar: Registrar | None = None, **register: Any) -> Bench:
    bench = Bench(registrar or Registrar())
    bench.trunks.start(TENANT, carrier(**register), bench.now)
    bench.pump()
    return bench


def test_registers_answering_the_challenge() -> None:
    bench = started()
    first, second = bench.registrar.requests
    assert "Authorization" not in first.headers
    assert str(first.uri) == f"sip:{REGISTRAR.host}"  # no user part (§10.2)
    assert str(first.to.uri) == str(first.from_.uri) == f"sip:acme@{REGISTRAR.host}"
    assert first.to.tag is None and first.from_.tag
    assert [str(c.uri) for c in first.contacts] == [CONTACT]
    assert first.expires == 3600
    # The answer: same Call-ID and From tag, next CSeq, credentials the verifier accepted.
    assert second.call_id == first.call_id and second.from_.tag == first.from_.tag
    assert (first.cseq.number + 1, "REGISTER") == tuple(second.cseq)
    assert bench.registrar.authenticated == ["acme"]
    assert set(bench.registrar.bindings) == {CONTACT}
    now = status(bench)
    assert (now.state, now.failures, now.last_status) == ("registered", 0, 200)
    assert now.expires_at == bench.now + 3600
    assert now.next_attempt == bench.now + 3600 - 32
    assert bench.sent_to == [REGISTRAR, REGISTRAR]


def test_refreshes_before_expiry_reusing_the_nonce() -> None:
    bench = started(Registrar(nonce_ttl=7200))
    start = bench.now
    bench.advance(3568 - 1)
    assert len(bench.registrar.requests) == 2
    bench.advance(1)
    refresh = bench.registrar.requests[2]
    assert refresh.cseq.number == 3 and refresh.call_id == bench.registrar.requests[0].call_id
    value = refresh.headers.get("Authorization")
    assert value is not None and parse_credentials(value).nc == "00000002"  # §22.3 reuse
    assert len(bench.registrar.requests) == 3  # accepted at once: no new challenge
    assert bench.registrar.authenticated == ["acme", "acme"]
    assert status(bench).expires_at == start + 3568 + 3600


def test_refresh_with_an_expired_nonce_is_challenged_again() -> None:
    bench = started(Registrar(nonce_ttl=60))
    bench.advance(3568)
    statuses = [r.headers.get("Authorization") is not None for r in bench.registrar.requests]
    assert statuses == [False, True, True, True]  # refresh, 401 stale, answer
    assert status(bench).state == "registered"


def test_stale_challenge_to_an_answer_is_answered_again() -> None:
    bench = started(Registrar(stale_answers=1))
    assert len(bench.registrar.requests) == 3
    assert status(bench).state == "registered"
    endless = started(Registrar(stale_answers=100))
    assert len(endless.registrar.requests) == 5  # the first, then 1 + 3 stale answers
    assert status(endless).state == "failed"


def test_wrong_password_fails_and_retries_with_exponential_backoff() -> None:
    bench = started(Registrar(users={"acme": "other"}))
    assert len(bench.registrar.requests) == 2  # one answer per challenge, no more
    now = status(bench)
    assert (now.state, now.failures, now.last_status) == ("failed", 1, 401)
    waits = []
    for _ in range(6):
        before = bench.now
        deadline = status(bench).next_attempt
        assert deadline is not None
        waits.append(deadline - before)
        bench.run_until(deadline)
    assert waits == [30, 60, 120, 240, 480, 600]
    assert status(bench).failures == 7
    bench.registrar.users["acme"] = "s3cret"
    bench.run_until(bench.now + 600)
    assert (status(bench).state, status(bench).failures) == ("registered", 0)


def test_proxy_challenge_gets_proxy_authorization() -> None:
    bench = started(Registrar(proxy_auth=True))
    assert "Proxy-Authorization" in bench.registrar.requests[1].headers
    assert "Authorization" not in bench.registrar.requests[1].headers
    assert status(bench).state == "registered"


def test_challenge_in_another_realm_is_not_answered() -> None:
    bench = started(realm="other.example")
    assert len(bench.registrar.requests) == 1
    assert (status(bench).state, status(bench).last_status) == ("failed", 401)


def test_interval_too_brief_retries_with_min_expires() -> None:
    bench = started(Registrar(min_expires=7200, max_expires=7200))
    expires = [r.expires for r in bench.registrar.requests]
    assert expires == [3600, 3600, 7200]  # 401, 423 (§10.2.8), 200
    assert status(bench).expires_at == bench.now + 7200
    bench.advance(7200 - 32)
    assert bench.registrar.requests[-1].expires == 7200  # refreshes keep the longer time


def test_the_registrar_may_shorten_the_binding() -> None:
    bench = started(Registrar(max_expires=100))
    now = status(bench)
    assert now.expires_at == bench.now + 100
    assert now.next_attempt == bench.now + 68


def test_no_response_fails_after_timer_f_and_retries() -> None:
    bench = started(Registrar(down=True))
    assert status(bench).state == "registering"
    bench.advance(31)
    assert status(bench).state == "registering"
    bench.advance(2)  # Timer F = 64*T1 = 32 s (RFC 3261 §17.1.2.2)
    now = status(bench)
    assert (now.state, now.last_reason, now.failures) == ("failed", "no response", 1)
    assert now.next_attempt == pytest.approx(1000 + 32 + 30)
    bench.registrar.down = False
    bench.advance(40)
    assert status(bench).state == "registered"


def test_service_unavailable_honours_retry_after() -> None:
    refuse = (503, "Service Unavailable", (("Retry-After", "300 (maintenance)"),))
    bench = started(Registrar(refuse=refuse))
    now = status(bench)
    assert (now.state, now.last_status, now.next_attempt) == ("failed", 503, bench.now + 300)
    forbidden = started(Registrar(refuse=(403, "Forbidden", ())))
    assert status(forbidden).next_attempt == forbidden.now + 30


def test_stop_all_unregisters() -> None:
    bench = started()
    bench.trunks.stop_all(bench.now)
    assert not bench.trunks.idle
    bench.pump()
    last = bench.registrar.requests[-1]
    assert last.expires == 0 and [str(c.uri) for c in last.contacts] == [CONTACT]  # §10.2.2
    assert "Authorization" in last.headers
    assert bench.registrar.bindings == {}
    assert bench.trunks.idle and bench.trunks.status() == []
    assert bench.trunks.get_timer() is None  # no refresh left behind


def test_stop_without_answer_ends_after_timeout() -> None:
    bench = started()
    bench.registrar.down = True
    bench.trunks.stop_all(bench.now)
    bench.pump()
    assert [s.state for s in bench.trunks.status()] == ["unregistering"]
    bench.advance(33)
    assert bench.trunks.idle


def test_stop_while_failed_sends_nothing() -> None:
    bench = started(Registrar(refuse=(403, "Forbidden", ())))
    bench.trunks.stop_all(bench.now)
    bench.pump()
    assert len(bench.registrar.requests) == 1 and bench.trunks.idle


def test_stop_while_registering_ignores_the_old_answer() -> None:
    registrar = Registrar(down=True)
    bench = started(registrar)
    registrar.down = False
    bench.trunks.stop_all(bench.now)
    bench.pump()
    assert bench.registrar.requests[-1].expires == 0
    bench.advance(10)  # the first REGISTER's retransmission is answered now
    assert bench.trunks.idle and bench.trunks.status() == []
    retransmitted = [r for r in registrar.requests if r.expires != 0]
    assert len(retransmitted) > 1 and {r.cseq.number for r in retransmitted} == {1}
    assert bench.trunks.get_timer() is None  # the late 401 started nothing


def test_host_names_need_a_resolver() -> None:
    named = carrier(server="sip.carrier.example")
    bench = Bench(Registrar())
    bench.trunks.start(TENANT, named, bench.now)
    bench.pump()
    assert bench.registrar.requests == []
    assert (status(bench).state, status(bench).last_reason) == ("failed", "cannot resolve")
    assert bench.trunks.sources() == []

    lookups: list[tuple[str, int, str]] = []

    def resolve(host: str, port: int, transport: str) -> Address | None:
        lookups.append((host, port, transport))
        return REGISTRAR

    resolved = Bench(Registrar(), resolve=resolve)
    resolved.trunks.start(TENANT, named, resolved.now)
    resolved.pump()
    assert lookups == [("sip.carrier.example", 5060, "udp")]
    assert str(resolved.registrar.requests[0].uri) == "sip:sip.carrier.example"
    assert status(resolved).state == "registered"
    (source,) = resolved.trunks.sources()
    assert (source.tenant_id, source.carrier, source.host) == (TENANT, "trunk", REGISTRAR.host)


def test_explicit_address_and_sync() -> None:
    bench = Bench(Registrar())
    other = Address("udp", "203.0.113.5", 5060)
    bench.trunks.start(TENANT, carrier(server="sip.carrier.example"), bench.now, address=other)
    bench.pump()
    assert status(bench).state == "registered"
    # Same settings again: nothing sent.
    sent = len(bench.registrar.requests)
    bench.trunks.sync({TENANT: [carrier(server="sip.carrier.example")]}, bench.now)
    bench.pump()
    assert len(bench.registrar.requests) == sent and status(bench).state == "registered"
    # A changed carrier: the old binding goes (Expires: 0), the new one comes.
    bench.trunks.sync({TENANT: [carrier(server="sip.carrier.example", expires=600)]}, bench.now)
    bench.pump()
    changed = bench.registrar.requests[sent:]
    assert [r.expires for r in changed] == [0, 600, 600]  # un-REGISTER; new: 401, answer
    assert changed[0].call_id != changed[1].call_id
    assert status(bench).expires_at == bench.now + 600
    bench.trunks.sync({}, bench.now)
    bench.pump()
    assert bench.trunks.status() == [] and bench.registrar.bindings == {}


def test_unrelated_transactions_are_not_claimed() -> None:
    bench = started()
    stranger = TransactionKey(Role.CLIENT, "z9hG4bKother", "INVITE")
    assert not bench.trunks.on_timeout(stranger, bench.now)


def test_transition_table() -> None:
    registration = TrunkRegistration(TENANT, carrier())
    with pytest.raises(RegistrationProtocolError):
        registration.step(Input.SUCCEEDED)
    registration.step(Input.START)
    assert registration.state is State.REGISTERING
    with pytest.raises(RegistrationProtocolError):
        registration.step(Input.TIMER)
    with pytest.raises(ValueError):
        TrunkRegistration(TENANT, CarrierConfig(name="t", source=["192.0.2.1"]))


def test_refresh_and_retry_delays() -> None:
    assert refresh_delay(3600) == 3568
    assert refresh_delay(60) == 30
    assert [retry_delay(n) for n in (1, 2, 3, 4, 5, 6, 10)] == [30, 60, 120, 240, 480, 600, 600]
