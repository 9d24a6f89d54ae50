"""REGISTER through the core (RFC 3261 §10.3), on a real SQLite store and a fake clock."""

from __future__ import annotations

from pathlib import Path

import pytest

from centralita.sip.message import Response
from tests.calls.pbxharness import Pbx, Phone, response_to


@pytest.fixture
def pbx(tmp_path: Path) -> Pbx:
    return Pbx(tmp_path)


def register(
    pbx: Pbx,
    phone: Phone,
    *extra: str,
    contact: str | None = None,
    call_id: str = "reg-1@test",
) -> Response:
    headers = list(extra)
    if contact is not None:
        headers.append(f"Contact: {contact}")
    data = phone.request(
        "REGISTER",
        "sip:acme.test",
        to=f"sip:{phone.number}@acme.test",
        call_id=call_id,
        extra=tuple(headers),
    )
    if contact is not None:  # the harness adds the phone's own Contact: keep only ours
        data = data.replace(
            f"Contact: <sip:{phone.number}@{phone.address.host}:{phone.address.port}>\r\n".encode(),
            b"",
            1,
        )
    out = pbx.send_authenticated(phone, data)
    responses = [r for r in out if isinstance(r[0], Response)]
    assert responses, "no response"
    return responses[-1][0]  # type: ignore[return-value]


def contacts(response: Response) -> dict[str, int]:
    found = {}
    for value in response.headers.get_all("Contact"):
        uri, _, params = value.partition(">;")
        found[uri.lstrip("<")] = int(params.split("expires=")[1])
    return found


def test_binding_is_stored_with_where_the_request_came_from(pbx: Pbx) -> None:
    phone = pbx.phone("101", 5001)
    ok = register(pbx, phone, "Expires: 300")
    assert ok.status == 200
    assert contacts(ok) == {"sip:101@192.0.2.10:5001": 300}
    (binding,) = pbx.store.registrations.get_bindings(pbx.tenant_id, "101", pbx.now)
    assert (binding.received.host, binding.received.port) == ("192.0.2.10", 5001)
    assert binding.expires_at == pytest.approx(pbx.now + 300)


def test_too_brief_an_interval_is_423_with_min_expires(pbx: Pbx) -> None:
    response = register(pbx, pbx.phone("101", 5001), "Expires: 30")
    assert response.status == 423
    assert response.headers.get("Min-Expires") == "60"
    assert pbx.store.registrations.get_bindings(pbx.tenant_id, "101", pbx.now) == []


def test_long_intervals_are_capped_and_contact_expires_wins(pbx: Pbx) -> None:
    phone = pbx.phone("101", 5001)
    ok = register(pbx, phone, "Expires: 100", contact="<sip:101@192.0.2.10:5001>;expires=99999")
    assert contacts(ok) == {"sip:101@192.0.2.10:5001": 7200}


def test_several_contacts_and_star_removes_them_all(pbx: Pbx) -> None:
    phone = pbx.phone("101", 5001)
    register(pbx, phone, "Expires: 300", contact="<sip:101@192.0.2.10:5001>", call_id="a")
    ok = register(pbx, phone, "Expires: 300", contact="<sip:101@192.0.2.11:5002>", call_id="b")
    assert set(contacts(ok)) == {"sip:101@192.0.2.10:5001", "sip:101@192.0.2.11:5002"}
    bad = register(pbx, phone, "Expires: 300", contact="*", call_id="c")
    assert bad.status == 400  # "*" needs Expires: 0 (RFC 3261 §10.2.2)
    gone = register(pbx, phone, "Expires: 0", contact="*", call_id="d")
    assert gone.status == 200 and gone.headers.get_all("Contact") == []
    assert pbx.store.registrations.get_bindings(pbx.tenant_id, "101", pbx.now) == []


def test_a_request_without_contact_lists_the_bindings(pbx: Pbx) -> None:
    phone = pbx.phone("101", 5001)
    register(pbx, phone, "Expires: 300")
    pbx.now += 100
    data = phone.request("REGISTER", "sip:acme.test", to="sip:101@acme.test", call_id="q")
    data = data.replace(b"Contact: <sip:101@192.0.2.10:5001>\r\n", b"")
    listed = response_to(pbx.send_authenticated(phone, data), phone, 200)
    assert contacts(listed) == {"sip:101@192.0.2.10:5001": 200}


def test_an_older_cseq_for_the_same_call_id_is_refused(pbx: Pbx) -> None:
    phone = pbx.phone("101", 5001)
    register(pbx, phone, "Expires: 300")  # CSeq 1, then 2 with credentials
    phone.cseq = 1
    stale = register(pbx, phone, "Expires: 600")
    assert stale.status == 500
    (binding,) = pbx.store.registrations.get_bindings(pbx.tenant_id, "101", pbx.now)
    assert binding.expires_at == pytest.approx(pbx.now + 300)  # unchanged


def test_an_extension_may_not_register_another(pbx: Pbx) -> None:
    alice = pbx.phone("101", 5001)
    data = alice.request("REGISTER", "sip:acme.test", to="sip:102@acme.test")
    assert response_to(pbx.send_authenticated(alice, data), alice, 403)


def test_bindings_expire(pbx: Pbx) -> None:
    register(pbx, pbx.phone("101", 5001), "Expires: 60")
    pbx.now += 61
    assert pbx.store.registrations.get_bindings(pbx.tenant_id, "101", pbx.now) == []


def test_unknown_domain_is_refused_and_ip_means_the_default_tenant(pbx: Pbx) -> None:
    phone = pbx.phone("101", 5001)
    phone.domain = "nowhere.test"
    data = phone.request("REGISTER", "sip:nowhere.test", to="sip:101@nowhere.test")
    assert response_to(pbx.send(phone, data), phone, 404)
    phone.domain = "127.0.0.1"
    data = phone.request("REGISTER", "sip:127.0.0.1", to="sip:101@127.0.0.1")
    challenge = response_to(pbx.send(phone, data), phone, 401)
    assert 'realm="acme.test"' in (challenge.headers.get("WWW-Authenticate") or "")
