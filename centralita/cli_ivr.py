"""``centralita ivr record-greeting``: have Centralita call a phone to record an IVR greeting.

The command cannot reach the running server: it queues a call request in the store
(:mod:`centralita.store.call_requests`) and a server worker, polling the queue, calls every
registered phone of the extension and runs the recording on the call (issue 4, "IVR menus").
With ``--wait`` it polls the request until a worker has finished it and prints the result;
the exit status is then 0 only when the greeting was saved.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from centralita.store import DATABASE_URL_ENV, Store
from centralita.store.call_requests import EXPIRES_AFTER, CallRequest

SAVED = "saved"
POLL_SECONDS = 0.5
# How long --wait waits for a taken request to finish: the recording's own limits (two
# minutes of message, a few menus) fit well within it.
DEFAULT_WAIT = 600.0


def add_commands(commands: Any) -> None:
    ivr = commands.add_parser("ivr", help="IVR menus: record a greeting by phone")
    actions = ivr.add_subparsers(dest="action", required=True, metavar="ACTION")
    record = actions.add_parser(
        "record-greeting",
        help="call an extension's phones to record an IVR's greeting (# ends, 3 saves)",
    )
    record.add_argument("tenant", metavar="TENANT")
    record.add_argument("ivr", metavar="IVR_NAME")
    record.add_argument(
        "--call", required=True, metavar="EXTENSION", help="the extension whose phones ring"
    )
    record.add_argument(
        "--wait",
        nargs="?",
        const=DEFAULT_WAIT,
        type=_seconds,
        metavar="SECONDS",
        help=f"wait for the call to end and print the result (at most {DEFAULT_WAIT:g} s)",
    )
    record.add_argument(
        "--database",
        metavar="URL",
        help=f"database URL (default: ${DATABASE_URL_ENV}, else sqlite:///var/centralita.sqlite3)",
    )
    record.set_defaults(handler=_record_greeting)


def _seconds(value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if not 0 < seconds <= 3600:
        raise argparse.ArgumentTypeError(f"expected seconds, 0 < S <= 3600, got {value!r}")
    return seconds


def _record_greeting(args: argparse.Namespace) -> int:
    with Store.open(args.database) as store:
        problem = _check(store, args.tenant, args.ivr, args.call)
        if problem is not None:
            return _fail(problem)
        tenant = store.tenants.get_by_name(args.tenant)
        assert tenant is not None
        request = store.call_requests.add(tenant.id, args.call, "record_greeting", args.ivr)
        print(
            f"call request {request.id}: Centralita will call extension {args.call} of "
            f"{tenant.name} to record the greeting of IVR {args.ivr}"
        )
        if args.wait is None:
            return 0
        return _wait(store, request, args.wait)


def _check(store: Store, tenant_name: str, ivr: str, extension: str) -> str | None:
    """What is wrong with the request, naming the argument; None when it can be queued."""
    tenant = store.tenants.get_by_name(tenant_name)
    if tenant is None:
        return f"TENANT: unknown tenant {tenant_name!r}"
    plan = store.dialplans.get(tenant.id)
    if plan is None or all(menu.name != ivr for menu in plan.ivrs):
        return f"IVR_NAME: tenant {tenant.name!r} has no IVR {ivr!r}"
    if store.extensions.get(tenant.id, extension) is None:
        return f"--call: unknown extension {extension!r} in tenant {tenant.name!r}"
    return None


def _wait(store: Store, request: CallRequest, patience: float) -> int:
    """Poll until a worker finishes the request (the store is the only channel)."""
    started = time.monotonic()
    while True:
        current = store.call_requests.get(request.id)
        if current is None:
            return _fail(f"call request {request.id} is gone (was the tenant removed?)")
        if current.finished:
            print(f"result: {current.result}")
            return 0 if current.result == SAVED else 1
        waited = time.monotonic() - started
        if current.taken_at is None and waited > EXPIRES_AFTER.total_seconds():
            return _fail(
                f"no server took call request {request.id} in time (is centralita serve running?)"
            )
        if waited > patience:
            return _fail(f"call request {request.id} is still running after {patience:g} s")
        time.sleep(POLL_SECONDS)  # another process updates the row: nothing to await here


def _fail(message: str) -> int:
    print(f"centralita: error: {message}", file=sys.stderr)
    return 1
