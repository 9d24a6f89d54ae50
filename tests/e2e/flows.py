"""Building blocks of the PBX end-to-end tests: register an extension with SIPp, put a SIPp
callee behind an extension, place a call, and read what the PBX stored."""

from __future__ import annotations

import time
from pathlib import Path

from centralita.store import Store
from centralita.store.entities import Binding, CallRecord
from tests.e2e import sippctl
from tests.e2e.pbx import Extension, Pbx
from tests.e2e.ports import HOST, free_port


def extension(pbx: Pbx, number: str) -> Extension:
    for tenant in pbx.tenants:
        for ext in tenant.extensions:
            if ext.number == number:
                return ext
    raise KeyError(number)


def domain_of(pbx: Pbx) -> str:
    return pbx.tenants[0].domain


def register(
    pbx: Pbx,
    number: str,
    workdir: Path,
    *,
    local_port: int | None = None,
    password: str | None = None,
    scenario: str = "register",
    user: str | None = None,
    expires: int = 300,
    transport: str = "u1",
    local_ip: str = HOST,
) -> sippctl.SippResult:
    """REGISTER ``number`` from ``local_port`` (its Contact), answering the digest challenge."""
    ext_password = password if password is not None else extension(pbx, number).password
    name = user or number
    return sippctl.run(
        scenario,
        workdir,
        sippctl.SippOptions(
            remote=pbx.sip_address,
            local_port=local_port or free_port(),
            service=name,
            auth=(name, ext_password),
            auth_uri=domain_of(pbx),
            keys={"domain": domain_of(pbx), "expires": str(expires)},
            timeout_s=10,
            transport=transport,
            local_ip=local_ip,
        ),
    )


def start_callee(
    pbx: Pbx,
    number: str,
    scenario: str,
    workdir: Path,
    *,
    rtp_port: int | None = None,
    **kw: object,
) -> sippctl.SippProcess:
    """Register ``number`` from a port, then answer calls there with a UAS ``scenario``."""
    port = free_port()
    reg = register(pbx, number, workdir, local_port=port, local_ip=str(kw.get("local_ip", HOST)))
    if not reg.ok:
        raise AssertionError(f"callee {number} could not register\n{reg.describe()}")
    keys = {"domain": domain_of(pbx)}
    if rtp_port is not None:
        keys["rtp_port"] = str(rtp_port)
    options = sippctl.SippOptions(
        local_port=port, service=number, keys=keys, timeout_s=30, recv_timeout_ms=20_000
    )
    for name, value in kw.items():
        setattr(options, name, value)
    return sippctl.start(scenario, workdir, options)


def call(
    pbx: Pbx,
    caller: str,
    callee: str,
    scenario: str,
    workdir: Path,
    *,
    register_first: bool = True,
    **kw: object,
) -> sippctl.SippResult:
    """Register ``caller`` from a port, then run a UAC ``scenario`` from it to ``callee``."""
    port = free_port()
    if register_first:
        local_ip = str(kw.get("local_ip", HOST))
        reg = register(pbx, caller, workdir, local_port=port, local_ip=local_ip)
        if not reg.ok:
            raise AssertionError(f"caller {caller} could not register\n{reg.describe()}")
    options = sippctl.SippOptions(
        remote=pbx.sip_address,
        local_port=port,
        service=caller,
        auth=(caller, extension(pbx, caller).password),
        auth_uri=f"{callee}@{domain_of(pbx)}",
        keys={"domain": domain_of(pbx), "callee": callee},
        timeout_s=30,
        recv_timeout_ms=20_000,
    )
    for name, value in kw.items():
        setattr(options, name, value)
    return sippctl.run(scenario, workdir, options)


def tenant_id(pbx: Pbx, name: str = "acme") -> int:
    with Store.open(pbx.database_url) as store:
        tenant = store.tenants.get_by_name(name)
        if tenant is None:
            raise AssertionError(f"tenant {name} not in the database")
        return tenant.id


def call_records(pbx: Pbx, tenant: str = "acme") -> list[CallRecord]:
    tid = tenant_id(pbx, tenant)
    with Store.open(pbx.database_url) as store:
        return store.call_records.list(tid)


def bindings(pbx: Pbx, number: str, tenant: str = "acme") -> list[Binding]:
    tid = tenant_id(pbx, tenant)
    with Store.open(pbx.database_url) as store:
        return store.registrations.get_bindings(tid, number, time.time())


def wait_call_records(
    pbx: Pbx, count: int, *, timeout: float = 5.0, tenant: str = "acme"
) -> list[CallRecord]:
    """The call log once it holds ``count`` records: the PBX writes them after the call ends,
    from another process, so the database is polled until the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        records = call_records(pbx, tenant)
        if len(records) >= count or time.monotonic() > deadline:
            return records
        time.sleep(0.1)
