"""Run SIPp (3.6.x) scenarios as test peers and read back what they saw.

Every run gets its own control port (``-cp``; the default 8888 collides between instances), its
own trace files (``-trace_msg``, ``-trace_err``, ``-trace_stat``) in a working folder, and a
``pcap`` link there to the captures SIPp ships (``uac_pcap`` style media). The messages log is
parsed back into :class:`SipMessage` objects so tests assert on real wire content.
"""

from __future__ import annotations

import csv
import os
import re
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tests.e2e.ports import HOST, free_port, free_range

SCENARIOS = Path(__file__).parent / "scenarios"
SIPP_SHARE = Path("/usr/share/sip-tester")
DEFAULT_DOMAIN = "acme.test"

_ENTRY_SEPARATOR = re.compile(r"^-{20,} .*$", re.MULTILINE)
_HEADER_NAME = re.compile(r"^([A-Za-z0-9!%*_+`'~.-]+)\s*:\s*(.*)$")


@dataclass(frozen=True)
class SipMessage:
    """One message from SIPp's messages log."""

    direction: str  # "sent" or "received"
    text: str

    @property
    def first_line(self) -> str:
        return self.text.split("\n", 1)[0].strip()

    @property
    def status(self) -> int | None:
        parts = self.first_line.split(" ", 2)
        if parts[0].startswith("SIP/") and len(parts) > 1 and parts[1].isdigit():
            return int(parts[1])
        return None

    @property
    def method(self) -> str | None:
        return None if self.status is not None else self.first_line.split(" ", 1)[0]

    @property
    def cseq_method(self) -> str | None:
        value = self.header("CSeq")
        return value.split()[-1] if value else None

    def headers(self, name: str) -> list[str]:
        head = self.text.split("\n\n", 1)[0]
        wanted = name.lower()
        found = []
        for line in head.splitlines()[1:]:
            m = _HEADER_NAME.match(line.strip())
            if m and m.group(1).lower() == wanted:
                found.append(m.group(2).strip())
        return found

    def header(self, name: str) -> str | None:
        values = self.headers(name)
        return values[0] if values else None


@dataclass
class SippResult:
    command: list[str]
    returncode: int
    messages: list[SipMessage]
    errors: str
    stats: list[dict[str, str]] = field(default_factory=list)
    rtt_ms: list[float] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def received(self, *, method: str | None = None) -> list[SipMessage]:
        got = [m for m in self.messages if m.direction == "received"]
        return [m for m in got if method is None or m.cseq_method == method]

    def sent(self) -> list[SipMessage]:
        return [m for m in self.messages if m.direction == "sent"]

    def statuses(self, method: str | None = None) -> list[int]:
        """Status codes of received responses (optionally for one CSeq method), in order."""
        return [m.status for m in self.received(method=method) if m.status is not None]

    def final_status(self, method: str) -> int:
        finals = [s for s in self.statuses(method) if s >= 200]
        if not finals:
            raise AssertionError(f"no final response to {method}\n{self.describe()}")
        return finals[-1]

    def counter(self, column: str) -> int:
        """A cumulative counter from the last ``-trace_stat`` row, e.g. ``SuccessfulCall(C)``."""
        if not self.stats:
            raise AssertionError(f"no statistics rows\n{self.describe()}")
        return int(self.stats[-1][column])

    def describe(self) -> str:
        flow = "\n".join(f"  {m.direction:8} {m.first_line}" for m in self.messages)
        return (
            f"sipp exit {self.returncode}: {' '.join(self.command)}\n"
            f"flow:\n{flow}\nerrors:\n{self.errors[-3000:]}"
        )


@dataclass
class SippOptions:
    """Everything one SIPp run needs besides the scenario."""

    remote: str | None = None  # "host:port"; None for a pure answering (UAS) scenario
    local_ip: str = HOST  # -i: "::1" for IPv6
    local_port: int | None = None
    service: str | None = None  # -s: the user part SIPp calls/registers as ([service])
    keys: Mapping[str, str] = field(default_factory=dict)
    auth: tuple[str, str] | None = None  # -au/-ap
    auth_uri: str | None = None
    calls: int = 1  # -m
    rate: float | None = None  # -r (calls per second)
    limit: int | None = None  # -l
    duration_ms: int | None = None  # -d (used by <pause/>)
    timeout_s: float = 30.0  # global -timeout, with -timeout_error
    recv_timeout_ms: int = 10_000
    media_port: int | None = None
    rtp_echo: bool = False
    transport: str = "u1"  # -t: u1 (UDP, one socket), t1 (TCP, one connection)
    stat_period_s: int | None = None  # -trace_stat -fd
    rtt: bool = False
    extra: Sequence[str] = ()


def scenario_path(scenario: str | Path) -> Path:
    path = Path(scenario)
    return path if path.suffix == ".xml" else SCENARIOS / f"{scenario}.xml"


class SippProcess:
    """A running SIPp. ``wait()`` collects its :class:`SippResult`."""

    def __init__(self, scenario: str | Path, workdir: Path, options: SippOptions) -> None:
        self.scenario = scenario_path(scenario)
        self.options = options
        self.local_port = options.local_port or free_port()
        self.control_port = free_port()
        # SIPp binds -mp and -mp + 2 (audio, video), hence a block of four.
        self.media_port = options.media_port or free_range(4)[0]
        self.dir = workdir / f"sipp-{self.scenario.stem}-{self.local_port}-{time.monotonic_ns()}"
        self.dir.mkdir(parents=True)
        (self.dir / "pcap").symlink_to(SIPP_SHARE)
        self.command = self._command()
        self._screen = (self.dir / "screen.log").open("wb")
        self._proc = subprocess.Popen(
            self.command,
            cwd=self.dir,
            stdin=subprocess.DEVNULL,
            stdout=self._screen,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    @property
    def pid(self) -> int:
        return self._proc.pid

    def running(self) -> bool:
        return self._proc.poll() is None

    def wait(self, timeout: float | None = None) -> SippResult:
        limit = timeout if timeout is not None else self.options.timeout_s + 10
        try:
            returncode = self._proc.wait(timeout=limit)
        except subprocess.TimeoutExpired:
            self.stop()
            returncode = self._proc.returncode
        return self._result(returncode)

    def stop(self) -> SippResult:
        """Ask SIPp to quit (SIGUSR1 is its graceful stop), then kill it."""
        if self._proc.poll() is None:
            os.killpg(self._proc.pid, signal.SIGUSR1)
            try:
                self._proc.wait(timeout=3)
            except subprocess.TimeoutExpired:
                os.killpg(self._proc.pid, signal.SIGKILL)
                self._proc.wait(timeout=3)
        return self._result(self._proc.returncode)

    def _command(self) -> list[str]:
        o = self.options
        cmd = ["sipp"]
        if o.remote is not None:
            cmd.append(o.remote)
        cmd += ["-sf", str(self.scenario), "-i", o.local_ip, "-p", str(self.local_port)]
        cmd += ["-cp", str(self.control_port), "-mp", str(self.media_port), "-t", o.transport]
        cmd += ["-m", str(o.calls), "-nostdin", "-timeout", f"{o.timeout_s}s", "-timeout_error"]
        cmd += ["-recv_timeout", str(o.recv_timeout_ms), "-max_recv_loops", "10000"]
        cmd += ["-trace_msg", "-message_file", "messages.log"]
        cmd += ["-trace_err", "-error_file", "errors.log"]
        cmd += ["-trace_stat", "-stf", "stats.csv", "-fd", str(o.stat_period_s or 1)]
        keys = {
            "domain": DEFAULT_DOMAIN,
            "expires": "300",
            "callee": "102",
            "rtp_port": str(self.media_port),
            **o.keys,
        }
        for name, value in keys.items():
            cmd += ["-key", name, value]
        cmd += _optional(o)
        return cmd

    def _result(self, returncode: int | None) -> SippResult:
        self._screen.close()
        return SippResult(
            command=self.command,
            returncode=-1 if returncode is None else returncode,
            messages=parse_messages(_read(self.dir / "messages.log")),
            errors=_read(self.dir / "errors.log") + _read(self.dir / "screen.log")[-2000:],
            stats=parse_stats(self.dir / "stats.csv"),
            rtt_ms=parse_rtt(self.dir),
        )


def _optional(o: SippOptions) -> list[str]:
    cmd: list[str] = []
    if o.service is not None:
        cmd += ["-s", o.service]
    if o.auth is not None:
        cmd += ["-au", o.auth[0], "-ap", o.auth[1]]
    if o.auth_uri is not None:
        cmd += ["-auth_uri", o.auth_uri]
    if o.rate is not None:
        cmd += ["-r", f"{o.rate:g}"]
    if o.limit is not None:
        cmd += ["-l", str(o.limit)]
    if o.duration_ms is not None:
        cmd += ["-d", str(o.duration_ms)]
    if o.rtp_echo:
        cmd.append("-rtp_echo")
    if o.rtt:
        cmd += ["-trace_rtt", "-rtt_freq", "1"]
    return cmd + list(o.extra)


def run(scenario: str | Path, workdir: Path, options: SippOptions) -> SippResult:
    """Run a scenario to completion."""
    return SippProcess(scenario, workdir, options).wait()


def start(scenario: str | Path, workdir: Path, options: SippOptions) -> SippProcess:
    """Start a scenario in the background (an answering peer, typically)."""
    return SippProcess(scenario, workdir, options)


def with_challenge(uas_scenario: str | Path, workdir: Path) -> Path:
    """A copy of an answering scenario that first challenges the INVITE with a 407, as the PBX
    does: a stand-in peer for validating the UAC scenarios without the PBX."""
    source = scenario_path(uas_scenario)
    text = source.read_text()
    prelude = (SCENARIOS / "fragments" / "challenge_invite.xml").read_text()
    opening = re.search(r"<scenario[^>]*>", text)
    if opening is None:
        raise ValueError(f"{source}: no <scenario> element")
    spliced = text[: opening.end()] + "\n" + prelude + text[opening.end() :]
    target = workdir / f"challenging_{source.name}"
    target.write_text(spliced)
    return target


def parse_messages(log: str) -> list[SipMessage]:
    """Messages from a ``-trace_msg`` log: entries start with a dashed timestamp line, then
    ``UDP message sent (N bytes):`` / ``... message received [N] bytes :`` and the message."""
    out = []
    for chunk in _ENTRY_SEPARATOR.split(log):
        lines = chunk.strip("\n").split("\n", 1)
        if len(lines) < 2:
            continue
        tag, body = lines
        if " message sent" in tag:
            direction = "sent"
        elif " message received" in tag:
            direction = "received"
        else:
            continue
        text = body.replace("\r\n", "\n").strip("\n")
        if text:
            out.append(SipMessage(direction, text + "\n"))
    return out


def parse_stats(path: Path) -> list[dict[str, str]]:
    text = _read(path)
    if not text:
        return []
    return list(csv.DictReader(text.splitlines(), delimiter=";"))


def parse_rtt(folder: Path) -> list[float]:
    """Response times (ms) from ``-trace_rtt`` files, read by column name: SIPp 3.6 writes
    ``Date_ms;response_time_ms;rtd_no`` (the last column is the timer's number)."""
    values: list[float] = []
    for path in folder.glob("*_rtt.csv"):
        for row in csv.DictReader(_read(path).splitlines(), delimiter=";"):
            try:
                values.append(float(row["response_time_ms"]))
            except (KeyError, TypeError, ValueError):
                continue
    return values


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except FileNotFoundError:
        return ""
