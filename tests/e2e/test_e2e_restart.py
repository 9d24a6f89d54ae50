"""Registrations live in the store, so they survive a restart of ``centralita serve``."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e import flows, sippctl
from tests.e2e.pbx import Pbx
from tests.e2e.ports import free_port

pytestmark = pytest.mark.e2e


def test_registration_survives_restart(pbx: Pbx, workdir: Path) -> None:
    port = free_port()
    assert flows.register(pbx, "102", workdir, local_port=port).ok
    before = flows.bindings(pbx, "102")
    assert len(before) == 1

    pbx.restart()

    assert [b.contact for b in flows.bindings(pbx, "102")] == [b.contact for b in before]
    # The phone did not re-register, yet a call reaches it at its registered contact.
    callee = sippctl.start(
        "uas_answer",
        workdir,
        sippctl.SippOptions(
            local_port=port, service="102", keys={"domain": flows.domain_of(pbx)}, timeout_s=20
        ),
    )
    caller = flows.call(pbx, "101", "102", "uac_call", workdir, rtp_echo=True, duration_ms=500)
    assert caller.ok, caller.describe()
    assert caller.final_status("INVITE") == 200
    assert callee.wait(10).ok
