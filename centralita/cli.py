"""The ``centralita`` command: ``serve``, ``apply FILE.yaml``, ``demo`` and admin commands.

Exit status: 0 success, 1 the command failed (unknown tenant, invalid file...), 2 bad usage.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, TextIO

from pydantic import ValidationError
from pydantic_core import PydanticCustomError
from sqlalchemy.exc import SQLAlchemyError

from centralita.cli_ivr import add_commands as add_ivr_commands
from centralita.cli_media import add_commands as add_media_commands
from centralita.cli_route import add_commands as add_route_commands
from centralita.config import (
    ApplyError,
    ConfigError,
    ExtensionConfig,
    ServeOverrides,
    ServerSettings,
    apply,
    build_serve_options,
    load_model,
    load_tenants,
    parse_host_port,
    parse_port_range,
)
from centralita.config.demo import ensure_demo, generate_password, passwords_file_for
from centralita.config.serve import LOG_LEVELS, parse_digest_algorithms
from centralita.config.tenants import check_hostname, check_number, check_slug
from centralita.media.errors import MediaError
from centralita.routing.feature_codes import InvalidForwardTarget, forward_target
from centralita.store import DATABASE_URL_ENV, ExtensionNotFound, Store, StoreError, TenantInfo

PROG = "centralita"


class CommandError(Exception):
    """A failure to report on stderr with exit status 1."""


class UsageError(Exception):
    """A bad argument found after parsing; reported with exit status 2."""


# -- argument types: argparse names the option in its message and exits with status 2 --


def _checked(check: Callable[[str], str], what: str) -> Callable[[str], str]:
    def convert(value: str) -> str:
        try:
            return check(value)
        except PydanticCustomError as exc:
            raise argparse.ArgumentTypeError(f"invalid {what} {value!r}: {exc.message()}") from None

    return convert


def _listen_arg(value: str) -> str:
    try:
        parse_host_port(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return value


def _port_range_arg(value: str) -> tuple[int, int]:
    try:
        return parse_port_range(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _seconds_arg(value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if not 0 < seconds <= 3600:
        raise argparse.ArgumentTypeError(f"expected seconds, 0 < S <= 3600, got {value!r}")
    return seconds


def _algorithms_arg(value: str) -> tuple[str, ...]:
    try:
        return parse_digest_algorithms(value)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


# -- parser --


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description="Centralita, a multi-tenant PBX.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_serve(commands)
    _add_apply(commands)
    _add_tenant(commands)
    _add_extension(commands)
    add_ivr_commands(commands)
    add_media_commands(commands)
    add_route_commands(commands)
    demo = commands.add_parser("demo", help="create the demo tenant and print its passwords")
    _add_database(demo)
    demo.set_defaults(handler=_demo)
    return parser


def _add_database(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--database",
        metavar="URL",
        help=f"database URL (default: ${DATABASE_URL_ENV}, else sqlite:///var/centralita.sqlite3)",
    )


def _add_serve(commands: Any) -> None:
    serve = commands.add_parser("serve", help="run the PBX")
    serve.add_argument("--config", metavar="FILE", help="settings YAML file")
    _add_database(serve)
    serve.add_argument(
        "--sip-listen",
        metavar="HOST:PORT",
        nargs="+",
        action="extend",
        type=_listen_arg,
        help="SIP listening address(es) (default: 0.0.0.0:5060)",
    )
    serve.add_argument("--rtp-ports", metavar="LOW-HIGH", type=_port_range_arg)
    serve.add_argument("--sip-trace", action="store_true", default=None, help="log SIP messages")
    serve.add_argument("--log-level", type=str.lower, choices=LOG_LEVELS)
    serve.add_argument(
        "--ring-timeout",
        metavar="SECONDS",
        type=_seconds_arg,
        help="how long a call rings before it counts as unanswered (default: 60)",
    )
    serve.add_argument(
        "--data-dir",
        metavar="DIR",
        help="prompts cache, tenants' prompts and music, recordings (default: ./var)",
    )
    serve.add_argument(
        "--digest-algorithms",
        metavar="LIST",
        type=_algorithms_arg,
        help="digest challenges offered, in order: MD5, SHA-256 or both (default: MD5)",
    )
    serve.add_argument(
        "--pretend-time",
        metavar="WHEN",
        type=_when_arg,
        help='schedules read the clock from this instant on, e.g. "2026-12-25 22:00" (UTC '
        "unless an offset is given): to try business hours and holidays",
    )
    serve.set_defaults(handler=_serve)


def _when_arg(text: str) -> str:
    try:
        datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--pretend-time: expected a date and time like 2026-12-25 22:00, got {text!r}"
        ) from None
    return text


def _add_apply(commands: Any) -> None:
    parser = commands.add_parser("apply", help="apply a tenants YAML file")
    _add_database(parser)
    parser.add_argument("--prune", action="store_true", help="remove unlisted extensions")
    parser.add_argument("--dry-run", action="store_true", help="show the changes only")
    parser.add_argument("file", metavar="FILE.yaml")
    parser.set_defaults(handler=_apply)


def _add_tenant(commands: Any) -> None:
    tenant = commands.add_parser("tenant", help="list, add or remove tenants")
    actions = tenant.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = actions.add_parser("list", help="list tenants")
    listing.set_defaults(handler=_tenant_list)
    add = actions.add_parser("add", help="add a tenant")
    add.add_argument("name", metavar="NAME", type=_checked(check_slug, "tenant name"))
    add.add_argument("domain", metavar="DOMAIN", type=_checked(check_hostname, "domain"))
    add.add_argument("--default", action="store_true", help="answer requests to the server IP")
    add.set_defaults(handler=_tenant_add)
    remove = actions.add_parser("remove", help="remove a tenant and everything it owns")
    remove.add_argument("name", metavar="NAME")
    remove.set_defaults(handler=_tenant_remove)
    for parser in (listing, add, remove):
        _add_database(parser)


def _add_extension(commands: Any) -> None:
    extension = commands.add_parser(
        "extension", help="list, add or remove extensions; set do-not-disturb or a forward"
    )
    actions = extension.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = actions.add_parser("list", help="list a tenant's extensions")
    listing.add_argument("tenant", metavar="TENANT")
    listing.set_defaults(handler=_extension_list)
    add = actions.add_parser("add", help="add an extension")
    add.add_argument("tenant", metavar="TENANT")
    add.add_argument("number", metavar="NUMBER", type=_checked(check_number, "number"))
    add.add_argument("--name", help="display name")
    add.add_argument("--password", help="SIP password (default: generate and print one)")
    add.add_argument("--call-waiting", action="store_true")
    add.add_argument(
        "--record-calls", action="store_true", help="record every bridged call (stereo WAV)"
    )
    add.set_defaults(handler=_extension_add)
    remove = actions.add_parser("remove", help="remove an extension")
    remove.add_argument("tenant", metavar="TENANT")
    remove.add_argument("number", metavar="NUMBER")
    remove.set_defaults(handler=_extension_remove)
    for parser in (listing, add, remove, *_add_extension_settings(actions)):
        _add_database(parser)


def _add_extension_settings(actions: Any) -> tuple[argparse.ArgumentParser, ...]:
    """What a user can also set from the phone (feature codes); ``apply`` leaves these be."""
    dnd = actions.add_parser("dnd", help="turn an extension's do-not-disturb on or off")
    dnd.add_argument("tenant", metavar="TENANT")
    dnd.add_argument("number", metavar="NUMBER")
    dnd.add_argument("state", metavar="on|off", type=_on_off_arg)
    dnd.set_defaults(handler=_extension_dnd)
    forward = actions.add_parser("forward", help="forward every call of an extension, or stop")
    forward.add_argument("tenant", metavar="TENANT")
    forward.add_argument("number", metavar="NUMBER")
    forward.add_argument(
        "target",
        metavar="TARGET|off",
        help="another extension, a phone number (+E.164, or national in the tenant's "
        "country), or off",
    )
    forward.set_defaults(handler=_extension_forward)
    return dnd, forward


def _on_off_arg(value: str) -> bool:
    if value.lower() not in ("on", "off"):
        raise argparse.ArgumentTypeError(f"expected on or off, got {value!r}")
    return value.lower() == "on"


# -- commands --


def _serve(args: argparse.Namespace) -> int:
    settings = load_model(args.config, ServerSettings) if args.config else None
    overrides = ServeOverrides(
        database=args.database,
        sip_listen=args.sip_listen,
        rtp_ports=args.rtp_ports,
        sip_trace=args.sip_trace,
        log_level=args.log_level,
        ring_timeout=args.ring_timeout,
        digest_algorithms=args.digest_algorithms,
        data_dir=args.data_dir,
        pretend_time=args.pretend_time,
    )
    options = build_serve_options(overrides, settings)
    # Imported here: the admin commands must not pay for (or depend on) the server stack.
    server = importlib.import_module("centralita.server")
    result = server.run_server(options)
    return result if isinstance(result, int) else 0


def _apply(args: argparse.Namespace) -> int:
    config = load_tenants(args.file)
    with Store.open(args.database) as store:
        changes = apply(store, config, prune=args.prune, dry_run=args.dry_run)
    prefix = "(dry run) " if args.dry_run else ""
    for change in changes:
        print(f"{prefix}{change}")
    if not changes:
        print(f"{prefix}no changes")
    return 0


def _tenant_list(args: argparse.Namespace) -> int:
    with Store.open(args.database) as store:
        rows = [
            [t.name, t.domain, "yes" if t.is_default else "", str(len(store.extensions.list(t.id)))]
            for t in store.tenants.list()
        ]
    _print_table(["TENANT", "DOMAIN", "DEFAULT", "EXTENSIONS"], rows)
    return 0


def _tenant_add(args: argparse.Namespace) -> int:
    with Store.open(args.database) as store:
        tenant = store.tenants.add(args.name, args.domain, is_default=args.default)
    default = " (default tenant)" if tenant.is_default else ""
    print(f"added tenant {tenant.name} with domain {tenant.domain}{default}")
    return 0


def _tenant_remove(args: argparse.Namespace) -> int:
    with Store.open(args.database) as store:
        store.tenants.remove(args.name)
    print(f"removed tenant {args.name} and everything it owned")
    return 0


def _extension_list(args: argparse.Namespace) -> int:
    with Store.open(args.database) as store:
        tenant = _tenant(store, args.tenant)
        extensions = store.extensions.list(tenant.id)
    rows = [
        [e.number, e.name or "", "on" if e.call_waiting else "off", _yes(e.has_credentials)]
        for e in extensions
    ]
    _print_table(["NUMBER", "NAME", "CALL WAITING", "PASSWORD SET"], rows)
    return 0


def _extension_add(args: argparse.Namespace) -> int:
    password = args.password or generate_password()
    try:
        ExtensionConfig(number=args.number, name=args.name, password=password)
    except ValidationError as exc:
        raise UsageError(_first_error(exc)) from None
    with Store.open(args.database) as store:
        tenant = _tenant(store, args.tenant)
        store.extensions.add(
            tenant.id,
            args.number,
            password=password,
            name=args.name,
            call_waiting=args.call_waiting,
            record_calls=args.record_calls,
        )
    print(f"added extension {args.number} to {tenant.name}: sip:{args.number}@{tenant.domain}")
    if args.password is None:
        print(f"password: {password}")
    return 0


def _extension_remove(args: argparse.Namespace) -> int:
    with Store.open(args.database) as store:
        store.extensions.remove(_tenant(store, args.tenant).id, args.number)
    print(f"removed extension {args.number} from {args.tenant}")
    return 0


def _extension_dnd(args: argparse.Namespace) -> int:
    with Store.open(args.database) as store:
        tenant = _tenant(store, args.tenant)
        store.extensions.set_dnd(tenant.id, args.number, args.state)
    state = "on" if args.state else "off"
    print(f"do-not-disturb {state} for extension {args.number} of {tenant.name}")
    return 0


def _extension_forward(args: argparse.Namespace) -> int:
    with Store.open(args.database) as store:
        tenant = _tenant(store, args.tenant)
        if store.extensions.get(tenant.id, args.number) is None:
            raise ExtensionNotFound(tenant.name, args.number)
        target = None
        if args.target.lower() != "off":
            target = _forward_target(store, tenant, args.number, args.target)
        store.extensions.set_forward(tenant.id, args.number, target)
    if target is None:
        print(f"extension {args.number} of {tenant.name} is not forwarded")
    else:
        print(f"extension {args.number} of {tenant.name} is forwarded to {target}")
    return 0


def _forward_target(store: Store, tenant: TenantInfo, number: str, text: str) -> str:
    """The target normalised as a forward set from the phone is (national numbers in the
    tenant's country)."""
    try:
        return forward_target(
            text,
            extension=number,
            plan=store.dialplans.get(tenant.id),
            extension_exists=lambda n: store.extensions.get(tenant.id, n) is not None,
        )
    except InvalidForwardTarget as refused:
        raise UsageError(f"TARGET: {refused}") from None


def _demo(args: argparse.Namespace) -> int:
    with Store.open(args.database) as store:
        demo = ensure_demo(store, passwords_file_for(store.url))
    for change in demo.changes:
        print(change)
    print(f"tenant:  {demo.name} (default tenant)")
    print(f"domain:  {demo.domain} (also the digest realm)")
    print(f"passwords saved in {demo.passwords_file}")
    _print_table(
        ["EXTENSION", "NAME", "PASSWORD"],
        [[e.number, e.name, e.password] for e in demo.extensions],
    )
    print(f"register a phone as sip:NUMBER@{demo.domain}, or to this server's IP address")
    return 0


# -- output and errors --


def _tenant(store: Store, name: str) -> TenantInfo:
    tenant = store.tenants.get_by_name(name)
    if tenant is None:
        raise CommandError(f"unknown tenant {name!r}")
    return tenant


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def _first_error(exc: ValidationError) -> str:
    error = exc.errors()[0]
    where = ".".join(str(part) for part in error["loc"])
    option = f"--{where}" if where in ("name", "password") else where
    return f"{option}: {error['msg']}"


def _print_table(header: list[str], rows: list[list[str]], out: TextIO | None = None) -> None:
    table = [header, *rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for row in table:
        cells = (cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        print("  ".join(cells).rstrip(), file=out)


def _fail(message: str, status: int) -> int:
    print(f"{PROG}: error: {message}", file=sys.stderr)
    return status


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, or a usage error argparse already reported
        return exc.code if isinstance(exc.code, int) else 1
    try:
        status: int = args.handler(args)
    except ConfigError as exc:
        for issue in exc.issues:
            print(issue, file=sys.stderr)
        return 2 if args.command == "serve" else 1
    except UsageError as exc:
        return _fail(str(exc), 2)
    except (CommandError, StoreError, ApplyError, MediaError) as exc:
        return _fail(str(exc), 1)
    except SQLAlchemyError as exc:
        return _fail(f"database error: {exc}", 1)
    return status


if __name__ == "__main__":
    sys.exit(main())
