"""Media relay benchmark: how many relayed calls one worker carries on loopback.

For each step N the relay (this process) opens N sessions; a separate sender process (so it
does not share the relay's CPU) plays 2N synthetic G.711 streams, one per direction per call,
20 ms packets (50 pps), phases spread over the 20 ms. Each packet carries its send time
(CLOCK_MONOTONIC, shared by both processes) in the payload; the receiving phone computes the
delay. Figures per step: packets/s relayed, loss (and where: dropped by the relay, or by the
kernel because a receive buffer overflowed, machine-wide), delay p50/p99/max (relay plus both
phones' socket handling: an upper bound of what the relay adds), relay CPU %, CPU µs per
relayed packet, resident memory, and the sender's own lag and CPU (when the sender cannot keep
its schedule, the step measures the sender, not the relay). The last line names the highest N
with < 0.1 % loss and p99 < 5 ms.

    .venv/bin/python bench/relay.py [--steps 50,100,200,400] [--seconds 10] [--loop uvloop]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import resource
import select
import socket
import struct
import sys
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from centralita.media import MediaRelay, RtpPortPool

HOST = "127.0.0.1"
PTIME_MS = 20  # one G.711 packet every 20 ms: 160 samples at 8 kHz (RFC 3551 §4.5.14)
PAYLOAD = 160
GRACE = 0.5  # seconds to keep receiving after the last packet was sent
HEADER = struct.Struct("!BBHII")  # RTP fixed header (RFC 3550 §5.1)
STAMP = struct.Struct("!q")
MAX_LOSS = 0.001
MAX_P99_MS = 5.0


# ---------------------------------------------------------------- sender process (the phones)


@dataclass
class _Phone:
    sock: socket.socket
    target: tuple[str, int]
    ssrc: int
    seq: int = 0


def _open_phones(relay_ports: list[tuple[int, int]]) -> list[_Phone]:
    phones = []
    for index, (a_port, b_port) in enumerate(relay_ports):
        for leg, port in ((0, a_port), (1, b_port)):
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.setblocking(False)
            sock.bind((HOST, 0))
            phones.append(_Phone(sock, (HOST, port), ssrc=index * 2 + leg))
    return phones


def _send(phone: _Phone, packet: bytearray) -> bool:
    HEADER.pack_into(packet, 0, 0x80, 0, phone.seq & 0xFFFF, phone.seq * PAYLOAD, phone.ssrc)
    STAMP.pack_into(packet, HEADER.size, time.monotonic_ns())
    phone.seq += 1
    try:
        phone.sock.sendto(packet, phone.target)
    except BlockingIOError:
        return False
    return True


def _receive(sock: socket.socket, buffer: bytearray, delays: list[int]) -> None:
    # One datagram per readiness event: epoll is level-triggered, so a socket with more
    # queued comes back in the next poll, and no call ends in a BlockingIOError.
    try:
        length = sock.recv_into(buffer)
    except BlockingIOError:
        return
    now = time.monotonic_ns()
    if length >= HEADER.size + STAMP.size:
        delays.append(now - STAMP.unpack_from(buffer, HEADER.size)[0])


def _play(phones: list[_Phone], seconds: float, conn: Connection) -> dict[str, Any]:
    """Send 50 pps per phone for ``seconds``, receive everything; the figures."""
    poller = select.epoll()
    by_fd = {phone.sock.fileno(): phone.sock for phone in phones}
    for fd in by_fd:
        poller.register(fd, select.EPOLLIN)
    slots: list[list[_Phone]] = [[] for _ in range(PTIME_MS)]
    for index, phone in enumerate(phones):
        slots[(index * 7) % PTIME_MS].append(phone)  # spread the phases over the 20 ms
    packet = bytearray(HEADER.size + PAYLOAD)
    buffer = bytearray(2048)
    delays: list[int] = []
    sent = send_failures = 0
    worst_lag = 0.0
    cpu_start = _cpu_seconds()
    start = time.monotonic()
    end = start + seconds
    tick = 0
    sending = True
    while True:
        now = time.monotonic()
        due = start + tick / 1000
        if sending and due >= end:
            sending = False
            conn.send(("sent",))
        if sending and due <= now:
            # One tick's packets, then the sockets: a sender that has fallen behind must not
            # stop reading, or the loss it reports would be its own.
            worst_lag = max(worst_lag, now - due)
            for phone in slots[tick % PTIME_MS]:
                if _send(phone, packet):
                    sent += 1
                else:
                    send_failures += 1
            tick += 1
            timeout = 0.0
        elif not sending and now >= end + GRACE:
            break
        else:
            timeout = max(0.0, due - now) if sending else end + GRACE - now
        for fd, _ in poller.poll(timeout):
            _receive(by_fd[fd], buffer, delays)
    poller.close()
    delays.sort()
    return {
        "sent": sent,
        "send_failures": send_failures,
        "received": len(delays),
        "p50_ms": _percentile(delays, 0.50) / 1e6,
        "p99_ms": _percentile(delays, 0.99) / 1e6,
        "max_ms": (delays[-1] / 1e6) if delays else float("nan"),
        "sender_lag_ms": worst_lag * 1000,
        "sender_cpu_pct": 100 * (_cpu_seconds() - cpu_start) / (seconds + GRACE),
    }


def _percentile(sorted_values: list[int], fraction: float) -> float:
    if not sorted_values:
        return float("nan")
    return float(sorted_values[min(len(sorted_values) - 1, int(fraction * len(sorted_values)))])


def sender_main(conn: Connection) -> None:
    _raise_fd_limit()
    while True:
        message = conn.recv()
        if message[0] == "quit":
            return
        phones = _open_phones(message[1])
        conn.send([phone.sock.getsockname()[1] for phone in phones])
        _, seconds = conn.recv()
        result = _play(phones, seconds, conn)
        for phone in phones:
            phone.sock.close()
        conn.send(result)


# ---------------------------------------------------------------- relay process (this one)


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _rss_mib() -> float:
    with open("/proc/self/statm") as statm:
        pages = int(statm.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def _udp_receive_buffer_errors() -> int:
    """Datagrams the kernel dropped machine-wide because a socket's receive buffer was full."""
    with open("/proc/net/snmp") as snmp:
        rows = [line.split() for line in snmp if line.startswith("Udp:")]
    return int(rows[1][rows[0].index("RcvbufErrors")])


def _raise_fd_limit() -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


async def _step(relay: MediaRelay, conn: Connection, calls: int, seconds: float) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    rss_before = _rss_mib()
    sessions = [relay.create_session() for _ in range(calls)]
    endpoints = [e for s in sessions for e in (s.endpoint_a, s.endpoint_b)]
    conn.send(("setup", [(s.endpoint_a.local_port, s.endpoint_b.local_port) for s in sessions]))
    phone_ports = await loop.run_in_executor(None, conn.recv)
    for endpoint, port in zip(endpoints, phone_ports, strict=True):
        endpoint.set_remote((HOST, port))
    rss = _rss_mib()
    cpu0, wall0, rcvbuf0 = _cpu_seconds(), time.monotonic(), _udp_receive_buffer_errors()
    conn.send(("run", seconds))
    await loop.run_in_executor(None, conn.recv)  # "sent": the sending phase is over
    cpu1, wall1 = _cpu_seconds(), time.monotonic()
    result: dict[str, Any] = await loop.run_in_executor(None, conn.recv)
    relayed = sum(e.rtp_stats.forwarded for e in endpoints)
    result["relay_dropped"] = sum(e.rtp_stats.dropped for e in endpoints)
    result["kernel_dropped"] = _udp_receive_buffer_errors() - rcvbuf0
    for session in sessions:
        session.close()
    cpu = cpu1 - cpu0
    result.update(
        calls=calls,
        relayed=relayed,
        relayed_pps=relayed / seconds,
        loss=1 - result["received"] / result["sent"] if result["sent"] else 1.0,
        cpu_pct=100 * cpu / (wall1 - wall0),
        cpu_us_per_packet=1e6 * cpu / relayed if relayed else float("nan"),
        rss_mib=rss,
        kib_per_call=1024 * (rss - rss_before) / calls,
    )
    return result


COLUMNS = (
    ("calls", "{:>6}", "calls"),
    ("relayed_pps", "{:>10.0f}", "relayed/s"),
    ("loss", "{:>8.3%}", "loss"),
    ("p50_ms", "{:>8.2f}", "p50 ms"),
    ("p99_ms", "{:>8.2f}", "p99 ms"),
    ("max_ms", "{:>8.2f}", "max ms"),
    ("cpu_pct", "{:>7.1f}", "CPU %"),
    ("cpu_us_per_packet", "{:>8.1f}", "µs/pkt"),
    ("rss_mib", "{:>8.1f}", "RSS MiB"),
    ("kib_per_call", "{:>8.1f}", "KiB/call"),
    ("sender_lag_ms", "{:>10.1f}", "sndlag ms"),
    ("relay_dropped", "{:>8}", "rl drop"),
    ("kernel_dropped", "{:>8}", "kern drop"),
    ("sender_cpu_pct", "{:>8.1f}", "snd CPU%"),
)


def _header() -> str:
    return " ".join(
        f"{title:>{len(fmt.format(0)) if 'f' in fmt else 6}}" for _, fmt, title in COLUMNS
    )


def _row(result: dict[str, Any]) -> str:
    return " ".join(fmt.format(result[key]) for key, fmt, _ in COLUMNS)


async def _bench(args: argparse.Namespace, conn: Connection) -> None:
    low, high = (int(p) for p in args.ports.split("-"))
    relay = MediaRelay(RtpPortPool(low, high, host=HOST))
    print(
        f"loop={args.loop} seconds/step={args.seconds} G.711 20 ms, 2 streams per call, "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} (other load skews figures)"
    )
    print(_header(), flush=True)
    passing = None
    for calls in args.steps:
        result = await _step(relay, conn, calls, args.seconds)
        print(_row(result), flush=True)
        if args.verbose:
            print(result)
        if result["loss"] < MAX_LOSS and result["p99_ms"] < MAX_P99_MS:
            passing = calls
    relay.close()
    print(f"load average now {os.getloadavg()[0]:.2f}")
    print(f"highest N with loss < {MAX_LOSS:.1%} and p99 < {MAX_P99_MS:g} ms: {passing}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", default="50,100,200,400,800", help="calls per step")
    parser.add_argument("--seconds", type=float, default=10.0, help="sending time per step")
    parser.add_argument("--loop", choices=("uvloop", "asyncio"), default="uvloop")
    parser.add_argument("--ports", default="12000-24999", help="relay RTP port range")
    parser.add_argument("--verbose", action="store_true", help="print every step's raw figures")
    args = parser.parse_args()
    args.steps = [int(n) for n in args.steps.split(",")]
    _raise_fd_limit()
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    sender = ctx.Process(target=sender_main, args=(child,), daemon=True)
    sender.start()
    try:
        if args.loop == "uvloop":
            import uvloop

            uvloop.run(_bench(args, parent))
        else:
            asyncio.run(_bench(args, parent))
    finally:
        parent.send(("quit",))
        sender.join(timeout=5)


if __name__ == "__main__":
    main()
