"""``centralita route``: print the path a call would take through a tenant's dial plan,
without placing it ("why did my call go there?")."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from centralita.routing.resolve import resolve
from centralita.store import DATABASE_URL_ENV, Store

_AT_FORMAT = "%Y-%m-%d %H:%M"


def add_commands(commands: Any) -> None:
    route = commands.add_parser(
        "route", help="show where a call would go, without placing it (dial plan trace)"
    )
    route.add_argument("--tenant", required=True, metavar="TENANT")
    route.add_argument("--to", required=True, metavar="NUMBER", help="virtual or short number")
    route.add_argument(
        "--from", dest="caller", default="unknown", metavar="NUMBER", help="the caller (shown)"
    )
    route.add_argument(
        "--at",
        type=_at_arg,
        metavar='"YYYY-MM-DD HH:MM"',
        help="when, in the tenant's time zone (default: now)",
    )
    route.add_argument(
        "--database",
        metavar="URL",
        help=f"database URL (default: ${DATABASE_URL_ENV}, else sqlite:///var/centralita.sqlite3)",
    )
    route.set_defaults(handler=_route)


def _at_arg(value: str) -> datetime:
    """A wall-clock time without a zone: the tenant's zone is known only later."""
    try:
        return datetime.strptime(value.strip(), _AT_FORMAT)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f'expected "YYYY-MM-DD HH:MM" (e.g. "2026-12-25 22:00"), got {value!r}'
        ) from None


def _route(args: argparse.Namespace) -> int:
    with Store.open(args.database) as store:
        tenant = store.tenants.get_by_name(args.tenant)
        if tenant is None:
            return _fail(f"--tenant: unknown tenant {args.tenant!r}")
        plan = store.dialplans.get(tenant.id)
        if plan is None:
            return _fail(
                f"--tenant: tenant {tenant.name!r} has no dial plan (centralita apply FILE.yaml)"
            )
        numbers = {e.number for e in store.extensions.list(tenant.id)}
    zone = ZoneInfo(plan.timezone)
    at = datetime.now(UTC).astimezone(zone) if args.at is None else args.at.replace(tzinfo=zone)
    steps = resolve(
        plan, dialled=args.to, caller=args.caller, at=at, extension_exists=numbers.__contains__
    )
    print(f"call from {args.caller} to {args.to} at {at:%Y-%m-%d %H:%M %Z} ({plan.timezone})")
    for index, step in enumerate(steps, start=1):
        print(f"{index}. {step}")
    return 0


def _fail(message: str) -> int:
    print(f"centralita: error: {message}", file=sys.stderr)
    return 1
