"""Call-rate benchmark of ``centralita serve`` with SIPp.

Starts the PBX (the end-to-end harness in tests/e2e), registers a SIPp UAS as extension 102
(with call waiting, so one UAS can take every concurrent call), then runs a SIPp UAC
authenticating as 101 at increasing call rates, one step of ``--step`` seconds each, and
reports the highest rate at which every call succeeded (from the ``-trace_stat`` CSV). Per
step: call set-up time percentiles (``-trace_rtt``: first INVITE to 200 OK, digest challenge
included), the PBX process's CPU (100% = one core) and CPU milliseconds per call, its resident
memory (from /proc), and how busy the whole machine was (other processes skew the figures).
A failed step also prints the failure causes from SIPp's error log. Total time is bounded by
``--budget``.

    .venv/bin/python bench/call_rate.py [--rates 10,20,40,60] [--step 20] [--call-ms 500]

A single SIPp pair saturates near 190 calls/s on these machines (TESTING.md): rates above
that measure SIPp, not the PBX.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.e2e import flows, sippctl
from tests.e2e.pbx import Pbx, PbxError, Tenant, acme

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


@dataclass(frozen=True)
class Step:
    rate: float
    attempted: int
    succeeded: int
    failed: int
    rtt_ms: list[float]
    cpu_seconds: float
    wall_seconds: float
    rss_mib: float
    host_busy: float  # fraction of all cores busy during the step, every process counted
    failures: str  # what SIPp's errors.log says went wrong, most frequent first
    runqueue_seconds: float  # time the PBX was ready to run but waited for a core

    @property
    def clean(self) -> bool:
        return self.failed == 0 and self.succeeded == self.attempted and self.attempted > 0


def process_cpu_seconds(pid: int) -> float:
    """utime + stime of a process (proc(5), /proc/PID/stat fields 14 and 15)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def host_cpu_times() -> tuple[int, int]:
    """(busy, total) jiffies over all cores, from the first line of /proc/stat (proc(5))."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    total = sum(values[:8])  # guest time is already counted in user
    return total - idle, total


def process_runqueue_seconds(pid: int) -> float:
    """Time the process's threads spent runnable but waiting for a CPU: the second field of
    /proc/PID/schedstat (nanoseconds; the kernel's sched-stats). High values mean other
    processes, not the PBX's own work, were holding it back."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(FileNotFoundError):
            total += int((task / "schedstat").read_text().split()[1])
    return total / 1e9


def load_average() -> str:
    """1, 5 and 15 minute load averages: other processes on the machine skew the figures."""
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def process_rss_mib(pid: int) -> float:
    pages = int(Path(f"/proc/{pid}/statm").read_text().split()[1])
    return pages * PAGE_SIZE / 2**20


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def bench_tenant() -> Tenant:
    """acme.test with call waiting on every extension: one SIPp UAS answers every call to 102,
    so without it every call after the first concurrent one is rejected 486 Busy Here
    ("102 is in a call") and the benchmark measures the busy check, not the call rate."""
    base = acme()
    return replace(base, extensions=tuple(replace(e, call_waiting=True) for e in base.extensions))


# RTP ports for the relay: each call anchors two sides of an RTP/RTCP pair, so 1000 ports hold
# 250 concurrent calls, some four times what 100 calls/s of 500 ms need. Other test runs on the
# machine take ports from the same range, hence the smaller fallback.
RTP_BLOCKS = (1000, 600)


def make_pbx(folder: Path) -> Pbx:
    for size in RTP_BLOCKS:
        try:
            return Pbx(folder, tenants=(bench_tenant(),), sip_trace=False, rtp_block=size)
        except RuntimeError as error:  # no block of that many free ports just now
            print(f"{error}; trying a smaller block", flush=True)
    raise SystemExit("no block of free RTP ports for the PBX")


def signalling_only(workdir: Path) -> Path:
    """uac_call.xml without its pcap playback: each played pcap is an 8-second thread in SIPp,
    which would make SIPp, not the PBX, the bottleneck of a call-rate test."""
    text = sippctl.scenario_path("uac_call").read_text()
    start = text.index("<nop>")
    end = text.index("</nop>", start) + len("</nop>")
    target = workdir / "uac_call_signalling.xml"
    target.write_text(text[:start] + text[end:])
    return target


def run_step(
    pbx: Pbx, workdir: Path, scenario: Path, rate: float, step_s: float, call_ms: int
) -> Step:
    calls = max(1, int(rate * step_s))
    domain = flows.domain_of(pbx)
    options = sippctl.SippOptions(
        remote=pbx.sip_address,
        service="101",
        auth=("101", flows.extension(pbx, "101").password),
        auth_uri=f"102@{domain}",
        keys={"domain": domain, "callee": "102"},
        calls=calls,
        rate=rate,
        limit=max(10, int(rate * (call_ms / 1000 + 2) * 2)),
        duration_ms=call_ms,
        timeout_s=step_s + call_ms / 1000 + 15,
        recv_timeout_ms=5000,
        rtt=True,
    )
    cpu_before, wall_before = process_cpu_seconds(pbx.pid), time.monotonic()
    host_before = host_cpu_times()
    waited_before = process_runqueue_seconds(pbx.pid)
    uac = sippctl.start(scenario, workdir, options)
    result = uac.wait()
    if not pbx.alive():
        raise PbxError(f"centralita serve exited during the {rate:g}/s step\n{pbx.log()[-1500:]}")
    wall = time.monotonic() - wall_before
    host_after = host_cpu_times()
    return Step(
        rate=rate,
        attempted=calls,
        succeeded=_counter(result, "SuccessfulCall(C)"),
        failed=_counter(result, "FailedCall(C)"),
        rtt_ms=sippctl.parse_rtt(uac.dir),  # first INVITE to 200 OK, challenge included
        cpu_seconds=process_cpu_seconds(pbx.pid) - cpu_before,
        wall_seconds=wall,
        rss_mib=process_rss_mib(pbx.pid),
        host_busy=(host_after[0] - host_before[0]) / max(1, host_after[1] - host_before[1]),
        failures=failure_summary(uac.dir / "errors.log"),
        runqueue_seconds=process_runqueue_seconds(pbx.pid) - waited_before,
    )


_UNEXPECTED = re.compile(r"while expecting '([^']+)'.*?received 'SIP/2\.0 (\d{3})")
_TIMED_OUT = re.compile(r"timeout on message \S+:(\d+)")


def failure_summary(errors_log: Path) -> str:
    """Failed calls by cause, from SIPp's ``-trace_err`` log: which response arrived while
    another was expected (e.g. a retransmitted 401 from an overloaded PBX), or which scenario
    message timed out. Counts are log entries (a call can leave more than one)."""
    try:
        text = errors_log.read_text(errors="replace")
    except FileNotFoundError:
        return ""
    causes = Counter(f"got {got} expecting {want}" for want, got in _UNEXPECTED.findall(text))
    causes.update(f"timeout at message {index}" for index in _TIMED_OUT.findall(text))
    return ", ".join(f"{cause} x{n}" for cause, n in causes.most_common(4))


def _counter(result: sippctl.SippResult, column: str) -> int:
    try:
        return result.counter(column)
    except (AssertionError, KeyError, ValueError):
        return 0


def report(step: Step) -> str:
    p50, p95, p99 = (percentile(step.rtt_ms, q) for q in (50, 95, 99))
    return (
        f"rate {step.rate:6.1f}/s  ok {step.succeeded:5d}/{step.attempted:<5d} "
        f"failed {step.failed:4d}  rtt p50 {p50:5.1f} p95 {p95:5.1f} p99 {p99:5.1f} ms  "
        f"pbx cpu {100 * step.cpu_seconds / step.wall_seconds:5.1f}% "
        f"({1000 * step.cpu_seconds / max(1, step.succeeded + step.failed):4.1f} ms/call)  "
        f"rss {step.rss_mib:6.1f} MiB  "
        f"host {100 * step.host_busy:5.1f}% of {os.cpu_count()} cores  "
        f"pbx waited for a core {100 * step.runqueue_seconds / step.wall_seconds:4.1f}%"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rates", default="10,20,40,60,80,100,120,160", help="calls/s, ascending")
    parser.add_argument("--step", type=float, default=20.0, help="seconds per rate step")
    parser.add_argument("--call-ms", type=int, default=500, help="duration of each call")
    parser.add_argument("--budget", type=float, default=240.0, help="max total seconds")
    parser.add_argument("--media", action="store_true", help="play RTP (pcap) in every call")
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args(argv)

    rates = [float(r) for r in args.rates.split(",")]
    with tempfile.TemporaryDirectory(prefix="centralita-bench-") as tmp:
        workdir = args.workdir or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        scenario = sippctl.scenario_path("uac_call") if args.media else signalling_only(workdir)
        return _bench(workdir, scenario, rates, args.step, args.call_ms, args.budget)


def _bench(
    workdir: Path, scenario: Path, rates: list[float], step_s: float, call_ms: int, budget: float
) -> int:
    deadline = time.monotonic() + budget
    with make_pbx(workdir / "pbx") as pbx:
        callee = flows.start_callee(
            pbx, "102", "uas_answer", workdir, calls=10**6, timeout_s=budget + 30
        )
        assert flows.register(pbx, "101", workdir).ok, "caller 101 could not register"
        print(f"centralita serve pid {pbx.pid} on {pbx.sip_address}", flush=True)
        print(f"load average at start: {load_average()}", flush=True)
        best: Step | None = None
        try:
            for rate in rates:
                if time.monotonic() + step_s + 20 > deadline:
                    print(f"budget reached before rate {rate:g}/s")
                    break
                try:
                    step = run_step(pbx, workdir, scenario, rate, step_s, call_ms)
                except PbxError as error:  # e.g. a signal from outside the benchmark
                    print(error, flush=True)
                    break
                print(report(step), flush=True)
                if not step.clean:
                    print(f"  failures: {step.failures}", flush=True)
                    break
                best = step
        finally:
            callee.stop()
    print(f"load average at end: {load_average()}")
    if best is None:
        print("no rate completed without failures")
        return 1
    print(f"highest clean rate: {best.rate:g} calls/s")
    print("at that rate: " + report(best))
    return 0


if __name__ == "__main__":
    sys.exit(main())
