"""Digest registration against the PBX (RFC 3261 §10, §22; RFC 3665 §2.1)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.e2e import flows
from tests.e2e.pbx import Pbx
from tests.e2e.sippctl import SippResult

pytestmark = pytest.mark.e2e


def _challenge_shape(result: SippResult) -> list[tuple[int, str, list[str], str | None]]:
    """What a scanner could compare: status, reason, the digest parameter names and realm."""
    shape = []
    for message in result.received(method="REGISTER"):
        assert message.status is not None
        header = message.header("WWW-Authenticate") or ""
        names = sorted(re.findall(r"(\w+)=", header))
        realm = re.search(r'realm="([^"]*)"', header)
        reason = message.first_line.split(" ", 2)[2]
        shape.append((message.status, reason, names, realm.group(1) if realm else None))
    return shape


@pytest.mark.parametrize("transport", ["u1", "t1"])
def test_register_with_right_password_is_accepted(pbx: Pbx, workdir: Path, transport: str) -> None:
    result = flows.register(pbx, "101", workdir, transport=transport)
    assert result.ok, result.describe()
    assert result.statuses("REGISTER")[-2:] == [401, 200]
    challenge = result.received(method="REGISTER")[0].header("WWW-Authenticate") or ""
    assert challenge.startswith("Digest ")
    assert 'realm="acme.test"' in challenge  # realm = tenant domain
    ok = result.received(method="REGISTER")[-1]
    # RFC 3261 §10.3 step 8: the 200 lists the current bindings with their expiry.
    contacts = " ".join(ok.headers("Contact"))
    assert "101@127.0.0.1" in contacts
    assert "expires=" in contacts.lower()
    assert flows.bindings(pbx, "101"), "binding not stored"


def test_register_with_wrong_password_is_challenged_again(pbx: Pbx, workdir: Path) -> None:
    result = flows.register(pbx, "101", workdir, password="wrong", scenario="register_rejected")
    assert result.ok, result.describe()
    assert result.statuses("REGISTER") == [401, 401]
    assert flows.bindings(pbx, "101") == []


def test_unknown_user_is_indistinguishable_from_wrong_password(pbx: Pbx, workdir: Path) -> None:
    wrong = flows.register(pbx, "101", workdir, password="wrong", scenario="register_rejected")
    unknown = flows.register(
        pbx, "101", workdir, user="999", password="wrong", scenario="register_rejected"
    )
    assert wrong.ok, wrong.describe()
    assert unknown.ok, unknown.describe()
    assert _challenge_shape(unknown) == _challenge_shape(wrong)
    assert _challenge_shape(unknown)[0][0] == 401


def test_register_and_call_over_ipv6(tmp_path: Path, workdir: Path) -> None:
    """The PBX on [::1] only: a phone registers over UDP and TCP, and a call crosses it with
    IPv6 SDP on the callee's leg (c=IN IP6), here answered busy."""
    server = Pbx(tmp_path / "pbx-v6", host="::1", ring_timeout=3.0)
    with server:
        for transport in ("u1", "t1"):
            result = flows.register(server, "101", workdir, transport=transport, local_ip="::1")
            assert result.ok, result.describe()
        callee = flows.start_callee(server, "102", "uas_busy", workdir, local_ip="::1")
        caller = flows.call(server, "101", "102", "uac_rejected", workdir, local_ip="::1")
        callee_result = callee.wait(15)
    assert caller.final_status("INVITE") == 486, caller.describe()
    invite = callee_result.received()[0]
    assert invite.method == "INVITE" and "c=IN IP6 ::1" in invite.text, invite.text
