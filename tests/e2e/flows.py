"""Building blocks of the PBX end-to-end tests: register an extension with SIPp, put a SIPp
callee behind an extension, place a call, and read what the PBX stored."""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

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
    scenario: str | Path,
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
    scenario: str | Path,
    workdir: Path,
    *,
    register_first: bool = True,
    **kw: object,
) -> sippctl.SippResult:
    """Register ``caller`` from a port, then run a UAC ``scenario`` from it to ``callee``."""
    options = _caller_options(pbx, caller, callee, workdir, register_first, 30, kw)
    return sippctl.run(scenario, workdir, options)


def _caller_options(
    pbx: Pbx,
    caller: str,
    callee: str,
    workdir: Path,
    register_first: bool,
    timeout_s: int,
    kw: dict[str, object],
) -> sippctl.SippOptions:
    """SIPp options for ``caller`` calling ``callee`` (registered first from the same port,
    unless told otherwise), with ``kw`` overriding any option."""
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
        timeout_s=timeout_s,
        recv_timeout_ms=(timeout_s - 10) * 1000,
    )
    for name, value in kw.items():
        setattr(options, name, value)
    return options


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


# ---- dial plan (issue 4): carriers, composed scenarios, timings -------------------------------

# The carrier's SIPp runs on its own loopback address: phones run on 127.0.0.1, and a carrier
# identified by source address 127.0.0.1 would take the phones' unauthenticated first INVITEs
# for its own calls.
CARRIER_IP = "127.0.0.2"
CARRIER_CALLER = "+34699000111"  # who calls in through the carrier
FRAGMENTS = sippctl.SCENARIOS / "fragments"
_DIALOGS = {
    # kind: (opening fragment, From URI of in-dialog requests, tag letter, last CSeq used)
    "carrier": ("dialog_carrier", "sip:[service]@[local_ip]", "K", 1),
    "phone": ("dialog_phone", "sip:[service]@[domain]", "C", 2),
}


def pause(ms: int) -> str:
    return f'  <pause milliseconds="{ms}"/>\n'


def key(digit: str) -> str:
    """A key press sent as SIP INFO."""
    return f"@INFO:{digit}@"


def stream(wav: Path) -> str:
    """Start streaming an 8-bit mu-law WAV as PCMU RTP (SIPp's rtp_stream; returns at once)."""
    return f'  <nop><action><exec rtp_stream="{wav},1,0"/></action></nop>\n'


BYE = "@BYE@"


def await_bye(timeout_ms: int = 30_000) -> str:
    return _fragment("step_await_bye").replace("@TIMEOUT@", str(timeout_ms))


def scenario(workdir: Path, name: str, kind: str, steps: list[str]) -> Path:
    """A SIPp scenario written to ``workdir``: a carrier's or an extension's call
    (``kind``), answered, then ``steps`` in order (pauses, keys, audio, hanging up)."""
    opening, from_uri, tag, cseq = _DIALOGS[kind]
    body = [_fragment(opening)]
    for step in steps:
        if step.startswith("@INFO:") or step == BYE:
            cseq += 1
            text = _fragment("step_info" if step != BYE else "step_bye")
            text = text.replace("@DIGIT@", step[len("@INFO:") : -1] if step != BYE else "")
            body.append(
                text.replace("@FROM@", from_uri).replace("@TAG@", tag).replace("@CSEQ@", str(cseq))
            )
        else:
            body.append(step)
    path = workdir / f"{name}.xml"
    path.write_text(
        '<?xml version="1.0" encoding="ISO-8859-1" ?>\n'
        f'<scenario name="{name}">\n' + "\n".join(body) + "\n</scenario>\n"
    )
    return path


def _fragment(name: str) -> str:
    return (FRAGMENTS / f"{name}.xml").read_text()


def carrier_options(
    pbx: Pbx, did: str, *, caller: str = CARRIER_CALLER, **kw: object
) -> sippctl.SippOptions:
    """A SIPp UAC as the carrier (on CARRIER_IP, no credentials) calling number ``did``."""
    options = sippctl.SippOptions(
        remote=pbx.sip_address,
        local_ip=CARRIER_IP,
        local_port=free_port(),
        service=caller,
        keys={"domain": pbx.host, "callee": did},
        timeout_s=40,
        recv_timeout_ms=30_000,
    )
    for name, value in kw.items():
        setattr(options, name, value)
    return options


def carrier_call(
    pbx: Pbx,
    did: str,
    scenario_file: str | Path,
    workdir: Path,
    *,
    caller: str = CARRIER_CALLER,
    **kw: object,
) -> sippctl.SippResult:
    """The carrier calls virtual number ``did`` and the call runs to its end."""
    return sippctl.run(scenario_file, workdir, carrier_options(pbx, did, caller=caller, **kw))


def start_carrier_call(
    pbx: Pbx,
    did: str,
    scenario_file: str | Path,
    workdir: Path,
    *,
    caller: str = CARRIER_CALLER,
    **kw: object,
) -> sippctl.SippProcess:
    """Like :func:`carrier_call`, in the background."""
    return sippctl.start(scenario_file, workdir, carrier_options(pbx, did, caller=caller, **kw))


def carrier_proxy(
    workdir: Path, scenario_name: str = "uas_answer", **kw: object
) -> sippctl.SippProcess:
    """The carrier's proxy: a SIPp UAS on CARRIER_IP that outbound calls are sent to (a
    carrier's ``proxy`` in the dial plan: ``proxy_address(proc)``)."""
    options = sippctl.SippOptions(
        local_ip=CARRIER_IP,
        local_port=free_port(),
        service="carrier",
        timeout_s=40,
        recv_timeout_ms=30_000,
    )
    for name, value in kw.items():
        setattr(options, name, value)
    return sippctl.start(scenario_name, workdir, options)


def proxy_address(proc: sippctl.SippProcess) -> str:
    return f"{proc.options.local_ip}:{proc.local_port}"


def start_call(
    pbx: Pbx, caller: str, callee: str, scenario_file: str | Path, workdir: Path, **kw: object
) -> sippctl.SippProcess:
    """Like :func:`call`, in the background: register ``caller``, then start its UAC."""
    options = _caller_options(pbx, caller, callee, workdir, True, 40, dict(kw))
    return sippctl.start(scenario_file, workdir, options)


@dataclass(frozen=True)
class Logged:
    """A message from a running SIPp's messages log, with the time SIPp logged it."""

    at: datetime
    message: sippctl.SipMessage


_STAMP = re.compile(r"^-{20,} (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+)", re.MULTILINE)


def logged(proc: sippctl.SippProcess) -> list[Logged]:
    """Every message a SIPp (running or not) has sent or received so far, with its time."""
    try:
        text = (proc.dir / "messages.log").read_text(errors="replace")
    except FileNotFoundError:
        return []
    stamps = [datetime.fromisoformat(m.group(1)) for m in _STAMP.finditer(text)]
    entries = _STAMP.split(text)[1:]  # [stamp, rest, stamp, rest, ...]
    out = []
    for at, rest in zip(stamps, entries[1::2], strict=True):
        for message in sippctl.parse_messages("-" * 30 + " x\n" + rest):
            out.append(Logged(at, message))
    return out


def first_request(proc: sippctl.SippProcess, method: str) -> Logged | None:
    for entry in logged(proc):
        if entry.message.direction == "received" and entry.message.method == method:
            return entry
    return None


def wait_request(proc: sippctl.SippProcess, method: str, timeout: float = 10.0) -> Logged:
    """The first ``method`` request SIPp received, once it has (its log is polled: SIPp tells
    nobody else)."""
    deadline = time.monotonic() + timeout
    while True:
        found = first_request(proc, method)
        if found is not None:
            return found
        if time.monotonic() > deadline or not proc.running():
            raise AssertionError(f"{proc.scenario.name}: no {method} received\n{proc.dir}")
        time.sleep(0.05)


def records_of(records: list[CallRecord], call_id: str) -> dict[str, CallRecord]:
    """A call's rows by owner."""
    return {r.owner: r for r in records if r.call_id == call_id}


def statuses(records: list[CallRecord]) -> dict[str, str]:
    """Each owner's status, for assertions and their messages."""
    return {r.owner: str(r.status) for r in records}


def trace_steps(record: CallRecord, node: str) -> list[dict[str, object]]:
    return [step for step in record.routing_trace if step.get("node") == node]


COMPANY_NUMBER = "+34910000000"  # the tenant's first virtual number: what outsiders see
MOBILE = "+34600111222"  # an employee's mobile, reached through the carrier


def carrier_plan(
    destination: dict[str, Any], *, proxy: str | None = None, **sections: Any
) -> dict[str, Any]:
    """Tenant-level dial-plan keys: Madrid, Spain, the SIPp carrier (known by CARRIER_IP;
    outbound calls to ``proxy``), COMPANY_NUMBER going to ``destination``, plus ``sections``."""
    carrier: dict[str, Any] = {"name": "carrier1", "source": CARRIER_IP}
    if proxy is not None:
        carrier["proxy"] = proxy
    return {
        "timezone": "Europe/Madrid",
        "country": "ES",
        "carriers": [carrier],
        "numbers": [{"number": COMPANY_NUMBER, "destination": destination}],
        **sections,
    }


def user_part(header: str | None) -> str:
    """The user of a From / To / P-Asserted-Identity value: ``"<sip:+3491@host>;tag=x"``."""
    match = re.search(r"sips?:([^@;>]+)@", header or "")
    return match.group(1) if match else ""


@contextlib.contextmanager
def serving(request: pytest.FixtureRequest, server: Pbx) -> Iterator[Pbx]:
    """Run ``server`` for one test, as the ``pbx`` fixture does: its log is attached to the
    report when the test fails, and a server that died fails the test."""
    try:
        with server:
            yield server
            if not server.alive():
                pytest.fail(f"centralita serve died during the test\n{server.log()[-8000:]}")
    finally:
        report = getattr(request.node, "report_call", None)
        if report is None or report.failed:
            request.node.add_report_section("teardown", "centralita serve log", server.log())


def wait_rows(
    pbx: Pbx, call_id: str, count: int = 1, *, timeout: float = 5.0
) -> dict[str, CallRecord]:
    """A call's rows by owner, once there are ``count`` of them (the PBX writes the call log
    after the call ends, from another process: the database is polled until the deadline)."""
    deadline = time.monotonic() + timeout
    while True:
        rows = records_of(call_records(pbx), call_id)
        if len(rows) >= count or time.monotonic() > deadline:
            return rows
        time.sleep(0.1)


def call_id_of(result: sippctl.SippResult) -> str:
    """The Call-ID of a UAC scenario's call (of its first message)."""
    return result.sent()[0].header("Call-ID") or ""
