"""Run ``centralita serve`` as a subprocess for end-to-end tests and benchmarks.

:class:`Pbx` writes the tenant YAML, applies it to a fresh SQLite database with
``centralita apply``, starts ``centralita serve`` on free loopback ports and waits for it to be
ready: the ``centralita ready`` log line, then an answered SIP OPTIONS (RFC 3261 §11). Stopping
is SIGTERM, then SIGKILL. ``restart()`` keeps the database, so state that must survive a restart
(registrations) can be checked.

A dial plan (issue 4) is given as the tenant-level keys of the first tenant (``dial_plan``:
``carriers``, ``numbers``, ``schedules``, ...) and per-extension routing keys (``routing``:
``{"101": {"forwarding": ...}}``), both merged into the tenants YAML as written; ``settings``
are keys of the ``serve --config`` YAML (e.g. ``smtp``), written next to the database.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tests.e2e import sipwire
from tests.e2e.ports import HOST, free_port, free_range

PROJECT = Path(__file__).resolve().parents[2]
CENTRALITA = PROJECT / ".venv" / "bin" / "centralita"
READY_MARKER = "centralita ready"


@dataclass(frozen=True)
class Extension:
    number: str
    name: str
    password: str
    call_waiting: bool = False
    srtp: str = "off"
    record_calls: bool = False


@dataclass(frozen=True)
class Tenant:
    name: str
    domain: str
    extensions: tuple[Extension, ...]
    default: bool = False


def acme() -> Tenant:
    """The tenant most tests use: acme.test, default tenant, extensions 101-104."""
    people = ("Alice", "Bob", "Carol", "Dave")
    return Tenant(
        name="acme",
        domain="acme.test",
        default=True,
        extensions=tuple(
            Extension(str(101 + i), person, f"s3cret-{101 + i}") for i, person in enumerate(people)
        ),
    )


class PbxError(AssertionError):
    """The server did not start, or died; the message carries its log."""


@dataclass
class Pbx:
    """One ``centralita serve`` with its own database, ports and log under ``workdir``."""

    workdir: Path
    tenants: tuple[Tenant, ...] = field(default_factory=lambda: (acme(),))
    ring_timeout: float | None = 4.0
    sip_trace: bool = True
    rtp_block: int = 100
    extra_args: tuple[str, ...] = ()
    host: str = HOST
    dial_plan: dict[str, Any] = field(default_factory=dict)  # the first tenant's plan keys
    routing: dict[str, dict[str, Any]] = field(default_factory=dict)  # extension -> keys
    settings: dict[str, Any] = field(default_factory=dict)  # serve --config keys

    def __post_init__(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.sip_port = free_port()
        self.rtp_ports = free_range(self.rtp_block)
        self.database_url = f"sqlite:///{self.workdir / 'centralita.sqlite3'}"
        self.log_path = self.workdir / "serve.log"
        self._proc: subprocess.Popen[bytes] | None = None
        self._ready = threading.Event()
        self._pump: threading.Thread | None = None
        self.starts = 0

    # ---- configuration ---------------------------------------------------------------------

    def config_yaml(self) -> str:
        tenants = [_tenant_doc(t) for t in self.tenants]
        if tenants:
            _merge_dial_plan(tenants[0], self.dial_plan, self.routing)
        return yaml.safe_dump({"tenants": tenants}, sort_keys=False)

    @property
    def data_dir(self) -> Path:
        """Where the server keeps prompts, tenants' media and recordings (its default ``var``,
        relative to its working folder)."""
        return self.workdir / "var"

    def apply(self) -> None:
        path = self.workdir / "tenants.yaml"
        path.write_text(self.config_yaml())
        done = subprocess.run(
            [str(CENTRALITA), "apply", "--database", self.database_url, str(path)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        if done.returncode != 0:
            raise PbxError(f"centralita apply failed ({done.returncode}):\n{done.stderr}")

    # ---- lifecycle -------------------------------------------------------------------------

    @property
    def sip_address(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.sip_port}"

    @property
    def pid(self) -> int:
        if self._proc is None:
            raise PbxError("not started")
        return self._proc.pid

    def command(self) -> list[str]:
        low, high = self.rtp_ports
        cmd = [str(CENTRALITA), "serve", "--database", self.database_url]
        cmd += ["--sip-listen", self.sip_address, "--rtp-ports", f"{low}-{high}"]
        if self.ring_timeout is not None:
            cmd += ["--ring-timeout", f"{self.ring_timeout:g}"]
        if self.sip_trace:
            cmd.append("--sip-trace")
        if self.settings:
            cmd += ["--config", str(self.settings_path)]
        return cmd + list(self.extra_args)

    @property
    def settings_path(self) -> Path:
        return self.workdir / "serve.yaml"

    def start(self, timeout: float = 20.0) -> None:
        self._ready.clear()
        self.starts += 1
        if self.settings:
            self.settings_path.write_text(yaml.safe_dump(self.settings, sort_keys=False))
        with self.log_path.open("ab") as log:
            log.write(f"===== start #{self.starts}: {' '.join(self.command())}\n".encode())
        self._proc = subprocess.Popen(
            self.command(),
            cwd=self.workdir,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self._pump = threading.Thread(target=self._pump_log, args=(self._proc,), daemon=True)
        self._pump.start()
        self._await_ready(timeout)

    def stop(self, timeout: float = 10.0) -> int | None:
        proc = self._proc
        if proc is None:
            return None
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)
        if self._pump is not None:
            self._pump.join(timeout=5)
        if proc.stdout is not None:
            proc.stdout.close()
        self._proc = None
        return proc.returncode

    def restart(self, timeout: float = 20.0) -> None:
        """Stop and start again on the same database and SIP port."""
        self.stop()
        self.start(timeout)

    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def __enter__(self) -> Pbx:
        self.apply()
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- internals -------------------------------------------------------------------------

    def _pump_log(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stdout is not None
        with self.log_path.open("ab") as log:
            for line in proc.stdout:
                log.write(line)
                log.flush()
                if READY_MARKER.encode() in line:
                    self._ready.set()

    def _wake_on_exit(self, proc: subprocess.Popen[bytes]) -> None:
        proc.wait()
        self._ready.set()

    def _await_ready(self, timeout: float) -> None:
        proc = self._proc
        assert proc is not None
        # Wake up early if the process dies instead of logging readiness.
        waiter = threading.Thread(target=self._wake_on_exit, args=(proc,), daemon=True)
        waiter.start()
        if not self._ready.wait(timeout) or proc.poll() is not None:
            code = proc.poll()
            self.stop()
            why = f"exited with {code}" if code is not None else f"not ready within {timeout}s"
            raise PbxError(f"centralita serve {why}\n{self.log()[-8000:]}")
        reply = sipwire.options(self.host, self.sip_port, timeout=5.0)
        if reply is None:
            self.stop()
            raise PbxError(f"logged ready but no answer to OPTIONS\n{self.log()[-8000:]}")


def _tenant_doc(tenant: Tenant) -> dict[str, Any]:
    return {
        "name": tenant.name,
        "domain": tenant.domain,
        "default": tenant.default,
        "extensions": [
            {
                "number": e.number,
                "name": e.name,
                "password": e.password,
                **({"call_waiting": True} if e.call_waiting else {}),
                **({"srtp": e.srtp} if e.srtp != "off" else {}),
                **({"record_calls": True} if e.record_calls else {}),
            }
            for e in tenant.extensions
        ],
    }


def _merge_dial_plan(
    doc: dict[str, Any], dial_plan: dict[str, Any], routing: dict[str, dict[str, Any]]
) -> None:
    """Write the dial plan's keys into a tenant's document: tenant-level keys as they are,
    each extension's routing keys into that extension's entry."""
    doc.update(dial_plan)
    known = {ext["number"] for ext in doc["extensions"]}
    unknown = set(routing) - known
    if unknown:
        raise KeyError(f"routing for extensions the tenant does not have: {sorted(unknown)}")
    for ext in doc["extensions"]:
        ext.update(routing.get(ext["number"], {}))
