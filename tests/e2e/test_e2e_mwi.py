"""A real baresip with its ``mwi`` module subscribes to its mailbox (RFC 3842) and receives
the PBX's NOTIFY with the message summary."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.e2e import flows
from tests.e2e.baresipctl import Account, Phone
from tests.e2e.pbx import Pbx

pytestmark = pytest.mark.e2e


@dataclass(frozen=True)
class MwiAccount(Account):
    def line(self) -> str:
        return super().line() + ";mwi=yes"


class MwiPhone(Phone):
    """The stock test phone plus baresip's mwi module, which SUBSCRIBEs to message-summary
    after each successful REGISTER and reports NOTIFY bodies as MWI_NOTIFY events."""

    def _config(self) -> str:
        return super()._config() + "module_app mwi.so\n"


def test_baresip_subscribes_and_receives_the_message_summary(pbx: Pbx, workdir: Path) -> None:
    domain = flows.domain_of(pbx)
    account = MwiAccount(
        "101", domain, password=flows.extension(pbx, "101").password, registrar=pbx.sip_address
    )
    with MwiPhone(workdir / "phone-101", account, tone_hz=440) as phone:
        phone.wait_registered()
        event = phone.wait_event("MWI_NOTIFY", timeout=15)
    body = str(event.get("param", ""))
    assert "Messages-Waiting: no" in body, event
    assert f"Message-Account: sip:101@{domain}" in body, event
    assert "Voice-Message: 0/0" in body, event
    log = pbx.log()
    assert "SUBSCRIBE sip:101@" in log and "Subscription-State: active;expires=" in log
    # On quit baresip unsubscribes (Expires: 0) and gets the final NOTIFY (RFC 6665 §4.1.2.3).
    assert "Subscription-State: terminated;reason=timeout" in log
