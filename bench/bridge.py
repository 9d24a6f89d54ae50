"""Bridged-call benchmark: what a call the ``dial`` verb bridges costs the PBX.

A call that ``dial`` bridges is not relayed packet by packet: the PBX terminates both legs.
Each leg is a ``MediaEndpoint`` (jitter buffer, G.711 decode, its own 20 ms clock, encode,
RTCP), and ``Dialler._bridge`` joins them in PCM through two ``_Pipe``s: the caller's decoded
frames are pushed into the pipe the called endpoint reads as its ``source``, and the other way
round. This bench builds N such calls in this process exactly that way (``_Pipe`` is the one
of ``centralita.live_dial``); a bridged ``LiveCall`` stops listening for in-band key tones
(they reach the other phone in the audio), and ``--inband`` puts that detector back on the
caller's audio to show what it costs; a separate sender process (so it does
not share the PBX's CPU) plays both phones of every call: G.711 µ-law, 20 ms packets (50 pps,
RFC 3551 §4.5.14), phases spread over the 20 ms, a speech-like signal. The first bytes of
each payload carry a mark (sequence number and send time, CLOCK_MONOTONIC shared by both
processes) written in bytes that µ-law decodes and re-encodes unchanged, so the other phone
recognises its peer's frame after the bridge has decoded and re-encoded it.

Figures per step: RTP packets/s into and out of the PBX, ticks (the share of the endpoints'
20 ms ticks that sent a packet: below 100 % the PBX is saturated and skips ticks, and its CPU
per call understates the work a call needs), loss (frames sent that never came out of the
other leg: kernel drops, jitter-buffer and pipe drops), delay p50/p99 from one phone to the
other (jitter buffer and pipe included), PBX CPU % and CPU µs per bridged call per 20 ms,
event-loop lag p99 (how late a 10 ms sleep wakes: a loaded loop delays every endpoint's
clock), resident memory, kernel receive-buffer drops (machine-wide), and the sender's own lag
and CPU (a sender that cannot keep its schedule measures itself). Then the highest N that kept
up, and bench/relay.py's pass-through relay step at one N for comparison.

    .venv/bin/python bench/bridge.py [--steps 25,50,100,200] [--seconds 10] [--loop uvloop]
                                     [--inband] [--relay-calls N (0: no comparison)]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import select
import socket
import struct
import sys
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import relay as relay_bench  # bench/relay.py: its sender, step and process figures
from relay import (
    GRACE,
    HEADER,
    HOST,
    PTIME_MS,
    _cpu_seconds,
    _percentile,
    _raise_fd_limit,
    _rss_mib,
    _udp_receive_buffer_errors,
)
from transcode import speech_like

from centralita.live_dial import _Pipe
from centralita.media import MediaRelay, RtpPortPool
from centralita.media.audio import FRAME_SAMPLES, Pcm
from centralita.media.codecs import Pcmu
from centralita.media.dtmf_inband import InbandDetector
from centralita.media.rtp_endpoint import MediaEndpoint

TELEPHONE_EVENT_PT = 101  # negotiated as phones usually offer it (RFC 4733 §7.1.1)
MAGIC = b"BRDG"
# Sequence number, send time and a CRC-32 of both, written as ASCII hex: µ-law decode/encode
# maps every byte but 0x7F (negative zero, re-encoded as 0xFF: G.711 has two codes for zero)
# to itself. The CRC rejects a mark the jitter buffer's concealment (a faded repeat) altered.
MARK = struct.Struct("!IqI")
STAMP = struct.Struct("!Iq")
MARK_SIZE = len(MAGIC) + 2 * MARK.size
LAG_PROBE = 0.010
MAX_LOSS = 0.001
MIN_TICKS = 0.995  # an overloaded endpoint skips 20 ms ticks (rtp_endpoint.MAX_CATCH_UP)
MAX_LAG_MS = 20.0  # one ptime: each endpoint's clock can be that late


# ---------------------------------------------------------------- sender process (the phones)


@dataclass
class _Phone:
    sock: socket.socket
    target: tuple[str, int]
    ssrc: int
    seq: int = 0
    heard: set[int] = field(default_factory=set)  # the peer's marked frames that came out


def _open_phones(pbx_ports: list[tuple[int, int]]) -> list[_Phone]:
    phones = []
    for index, pair in enumerate(pbx_ports):
        for leg, port in enumerate(pair):  # 0: the caller's phone, 1: the called phone
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.setblocking(False)
            sock.bind((HOST, 0))
            phones.append(_Phone(sock, (HOST, port), ssrc=index * 2 + leg))
    return phones


def _speech_frames() -> list[bytes]:
    codec = Pcmu()
    signal = speech_like(1.0)
    return [
        codec.encode(signal[i : i + FRAME_SAMPLES]) for i in range(0, len(signal), FRAME_SAMPLES)
    ]


def _send(phone: _Phone, packet: bytearray, frames: list[bytes]) -> bool:
    seq = phone.seq
    phone.seq += 1
    HEADER.pack_into(packet, 0, 0x80, 0, seq & 0xFFFF, seq * 160 & 0xFFFFFFFF, phone.ssrc)
    start = HEADER.size
    packet[start:] = frames[seq % len(frames)]
    packet[start : start + len(MAGIC)] = MAGIC
    stamp = time.monotonic_ns()
    mark = MARK.pack(seq, stamp, _crc(seq, stamp)).hex().encode("ascii")
    packet[start + len(MAGIC) : start + MARK_SIZE] = mark
    try:
        phone.sock.sendto(packet, phone.target)
    except BlockingIOError:
        return False
    return True


def _crc(seq: int, stamp: int) -> int:
    return zlib.crc32(STAMP.pack(seq, stamp))


def _payload_offset(packet: bytearray) -> int:
    offset = HEADER.size + 4 * (packet[0] & 0x0F)  # CSRC list (RFC 3550 §5.1)
    if packet[0] & 0x10:  # header extension (RFC 3550 §5.3.1)
        offset += 4 + 4 * int.from_bytes(packet[offset + 2 : offset + 4], "big")
    return offset


def _receive(phone: _Phone, buffer: bytearray, delays: list[int]) -> None:
    try:
        length = phone.sock.recv_into(buffer)
    except BlockingIOError:
        return
    now = time.monotonic_ns()
    start = _payload_offset(buffer)
    if length < start + MARK_SIZE or buffer[start : start + len(MAGIC)] != MAGIC:
        return  # silence or concealment the PBX played instead of a frame
    try:
        text = buffer[start + len(MAGIC) : start + MARK_SIZE].decode("ascii")
        seq, stamp, crc = MARK.unpack(bytes.fromhex(text))
    except ValueError:
        return
    if crc != _crc(seq, stamp):
        return
    if seq not in phone.heard:
        phone.heard.add(seq)
        delays.append(now - stamp)


def _drain(sock: socket.socket, buffer: bytearray) -> int:
    count = 0
    while True:
        try:
            sock.recv_into(buffer)
        except BlockingIOError:
            return count
        count += 1


def _play(
    phones: list[_Phone], sink: socket.socket, seconds: float, conn: Connection
) -> dict[str, Any]:
    """Send 50 pps per phone for ``seconds``, receive everything; the figures."""
    buffer = bytearray(2048)
    for phone in phones:  # what the PBX sent before the run started
        _drain(phone.sock, buffer)
    poller = select.epoll()
    by_fd = {phone.sock.fileno(): phone for phone in phones}
    for fd in (*by_fd, sink.fileno()):
        poller.register(fd, select.EPOLLIN)
    slots: list[list[_Phone]] = [[] for _ in range(PTIME_MS)]
    for index, phone in enumerate(phones):
        slots[(index * 7) % PTIME_MS].append(phone)
    frames = _speech_frames()
    packet = bytearray(HEADER.size + 160)
    delays: list[int] = []
    sent = send_failures = rtcp = 0
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
            worst_lag = max(worst_lag, now - due)
            for phone in slots[tick % PTIME_MS]:
                if _send(phone, packet, frames):
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
            phone_or_none = by_fd.get(fd)
            if phone_or_none is None:
                rtcp += _drain(sink, buffer)
            else:
                _receive(phone_or_none, buffer, delays)
    poller.close()
    delays.sort()
    return {
        "sent": sent,
        "send_failures": send_failures,
        "heard": sum(len(phone.heard) for phone in phones),
        "rtcp_received": rtcp,
        "p50_ms": _percentile(delays, 0.50) / 1e6,
        "p99_ms": _percentile(delays, 0.99) / 1e6,
        "max_ms": (delays[-1] / 1e6) if delays else float("nan"),
        "sender_lag_ms": worst_lag * 1000,
        "sender_cpu_pct": 100 * (_cpu_seconds() - cpu_start) / (seconds + GRACE),
    }


def sender_main(conn: Connection) -> None:
    _raise_fd_limit()
    while True:
        message = conn.recv()
        if message[0] == "quit":
            return
        phones = _open_phones(message[1])
        sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # every phone's RTCP port
        sink.setblocking(False)
        sink.bind((HOST, 0))
        conn.send(([phone.sock.getsockname()[1] for phone in phones], sink.getsockname()[1]))
        _, seconds = conn.recv()
        result = _play(phones, sink, seconds, conn)
        for phone in phones:
            phone.sock.close()
        sink.close()
        conn.send(result)


# ---------------------------------------------------------------- PBX process (this one)


def _through_detector(
    detector: InbandDetector, listener: Callable[[Pcm], None]
) -> Callable[[Pcm], None]:
    """The caller's audio as ``LiveCall`` hears it: in-band DTMF detection, then the bridge."""

    def hear(frame: Pcm) -> None:
        detector.feed(frame)
        listener(frame)

    return hear


class _Bridge:
    """One bridged call: the caller's and the called phone's endpoints, wired as
    ``Dialler._bridge`` wires them."""

    def __init__(self, pool: RtpPortPool, inband: bool) -> None:
        self.caller = MediaEndpoint(pool.allocate(), name="caller")
        self.called = MediaEndpoint(pool.allocate(), name="called")
        to_called, to_caller = _Pipe(), _Pipe()
        self.called.source, self.caller.source = to_called, to_caller
        self.called.on_audio = to_caller.push
        self.caller.on_audio = (
            _through_detector(InbandDetector(), to_called.push) if inband else to_called.push
        )

    @property
    def endpoints(self) -> tuple[MediaEndpoint, MediaEndpoint]:
        return self.caller, self.called

    def start(self, phones: tuple[int, int], rtcp_sink: tuple[str, int]) -> None:
        for endpoint, port in zip(self.endpoints, phones, strict=True):
            endpoint.start((HOST, port), Pcmu(), TELEPHONE_EVENT_PT, rtcp=rtcp_sink)

    def close(self) -> None:
        for endpoint in self.endpoints:
            endpoint.close()


async def _watch_lag(lags: list[float]) -> None:
    # time.monotonic, not loop.time(): uvloop's clock has a resolution of one millisecond.
    while True:
        due = time.monotonic() + LAG_PROBE
        await asyncio.sleep(LAG_PROBE)
        lags.append(time.monotonic() - due)


def _counters(bridges: list[_Bridge]) -> tuple[int, int]:
    endpoints = [e for bridge in bridges for e in bridge.endpoints]
    return sum(e.rtp_stats.packets for e in endpoints), sum(e.packets_sent for e in endpoints)


async def _step(
    pool: RtpPortPool, conn: Connection, calls: int, seconds: float, inband: bool
) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    rss_before = _rss_mib()
    bridges = [_Bridge(pool, inband) for _ in range(calls)]
    conn.send(("setup", [(b.caller.local_port, b.called.local_port) for b in bridges]))
    phone_ports, rtcp_port = await loop.run_in_executor(None, conn.recv)
    for index, bridge in enumerate(bridges):
        bridge.start((phone_ports[2 * index], phone_ports[2 * index + 1]), (HOST, rtcp_port))
    rss = _rss_mib()
    lags: list[float] = []
    watcher = asyncio.ensure_future(_watch_lag(lags))
    in0, out0 = _counters(bridges)
    cpu0, wall0, rcvbuf0 = _cpu_seconds(), time.monotonic(), _udp_receive_buffer_errors()
    conn.send(("run", seconds))
    await loop.run_in_executor(None, conn.recv)  # "sent": the sending phase is over
    cpu1, wall1 = _cpu_seconds(), time.monotonic()
    in1, out1 = _counters(bridges)
    watcher.cancel()
    result: dict[str, Any] = await loop.run_in_executor(None, conn.recv)
    result["kernel_dropped"] = _udp_receive_buffer_errors() - rcvbuf0
    for bridge in bridges:
        bridge.close()
    wall, cpu = wall1 - wall0, cpu1 - cpu0
    lags.sort()
    result.update(
        calls=calls,
        in_pps=(in1 - in0) / wall,
        out_pps=(out1 - out0) / wall,
        ticks=(out1 - out0) / wall / (2 * calls * 1000 / PTIME_MS),
        loss=1 - result["heard"] / result["sent"] if result["sent"] else 1.0,
        cpu_pct=100 * cpu / wall,
        cpu_us_per_call=1e6 * cpu / (calls * wall / (PTIME_MS / 1000)),
        lag_p99_ms=1000 * _percentile_float(lags, 0.99),
        rss_mib=rss,
        kib_per_call=1024 * (rss - rss_before) / calls,
    )
    return result


def _percentile_float(sorted_values: list[float], fraction: float) -> float:
    if not sorted_values:
        return float("nan")
    return sorted_values[min(len(sorted_values) - 1, int(fraction * len(sorted_values)))]


COLUMNS = (
    ("calls", "{:>6}", "calls"),
    ("in_pps", "{:>8.0f}", "in/s"),
    ("out_pps", "{:>8.0f}", "out/s"),
    ("ticks", "{:>7.1%}", "ticks"),
    ("loss", "{:>8.3%}", "loss"),
    ("p50_ms", "{:>8.1f}", "p50 ms"),
    ("p99_ms", "{:>8.1f}", "p99 ms"),
    ("cpu_pct", "{:>7.1f}", "CPU %"),
    ("cpu_us_per_call", "{:>12.1f}", "µs/call/20ms"),
    ("lag_p99_ms", "{:>9.2f}", "lag p99"),
    ("rss_mib", "{:>8.1f}", "RSS MiB"),
    ("kib_per_call", "{:>8.1f}", "KiB/call"),
    ("kernel_dropped", "{:>9}", "kern drop"),
    ("sender_lag_ms", "{:>9.1f}", "sndlag ms"),
    ("sender_cpu_pct", "{:>8.1f}", "snd CPU%"),
)


def _header() -> str:
    return " ".join(f"{title:>{len(fmt.format(0))}}" for _, fmt, title in COLUMNS)


def _row(result: dict[str, Any]) -> str:
    return " ".join(fmt.format(result[key]) for key, fmt, _ in COLUMNS)


async def _compare_with_relay(
    args: argparse.Namespace, conn: Connection, bridged: dict[int, dict[str, Any]]
) -> None:
    """bench/relay.py's pass-through step at ``--relay-calls``, beside the bridge's figure."""
    calls = args.relay_calls
    relay = MediaRelay(RtpPortPool(*args.port_range, host=HOST))
    try:
        result = await relay_bench._step(relay, conn, calls, args.seconds)
    finally:
        relay.close()
    per_call = result["cpu_pct"] / 100 * PTIME_MS * 1000 / calls
    print(
        f"pass-through relay (bench/relay.py), {calls} calls: {per_call:.1f} µs/call/20ms, "
        f"CPU {result['cpu_pct']:.1f} %, loss {result['loss']:.3%}, p99 {result['p99_ms']:.2f} ms"
    )
    if calls in bridged:
        ratio = bridged[calls]["cpu_us_per_call"] / per_call
        print(f"a bridged call costs {ratio:.1f}x a relayed one at {calls} calls")


async def _bench(args: argparse.Namespace, conn: Connection, relay_conn: Connection | None) -> None:
    pool = RtpPortPool(*args.port_range, host=HOST)
    print(
        f"loop={args.loop} seconds/step={args.seconds} PCMU 20 ms, 2 legs per call, "
        f"in-band DTMF detector on the caller's leg: {'yes' if args.inband else 'no'}, "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} (other load skews figures)"
    )
    print(_header(), flush=True)
    bridged: dict[int, dict[str, Any]] = {}
    passing = None
    for calls in args.steps:
        result = await _step(pool, conn, calls, args.seconds, args.inband)
        bridged[calls] = result
        print(_row(result), flush=True)
        if args.verbose:
            print(result)
        if _keeps_up(result):
            passing = calls
    print(f"load average now {os.getloadavg()[0]:.2f}")
    print(
        f"highest N with loss < {MAX_LOSS:.1%}, ticks >= {MIN_TICKS:.1%} and loop lag p99 < "
        f"{MAX_LAG_MS:g} ms: {passing}"
    )
    if relay_conn is not None:
        if args.relay_calls is None:  # where the bridge figure is a call's whole cost
            args.relay_calls = passing or args.steps[0]
        await _compare_with_relay(args, relay_conn, bridged)


def _keeps_up(result: dict[str, Any]) -> bool:
    return bool(
        result["loss"] < MAX_LOSS
        and result["ticks"] >= MIN_TICKS
        and result["lag_p99_ms"] < MAX_LAG_MS
    )


def _start_sender(target: Callable[[Connection], None]) -> tuple[Connection, Any]:
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    process = ctx.Process(target=target, args=(child,), daemon=True)
    process.start()
    return parent, process


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", default="25,50,100,200", help="bridged calls per step")
    parser.add_argument("--seconds", type=float, default=10.0, help="sending time per step")
    parser.add_argument("--loop", choices=("uvloop", "asyncio"), default="uvloop")
    parser.add_argument(
        "--inband", action="store_true", help="run the in-band key detector on the caller's leg"
    )
    parser.add_argument(
        "--relay-calls", type=int, help="relay comparison size (default: highest N that kept up)"
    )
    parser.add_argument("--ports", default="12000-24999", help="PBX RTP port range")
    parser.add_argument("--verbose", action="store_true", help="print every step's raw figures")
    args = parser.parse_args()
    args.steps = [int(n) for n in args.steps.split(",")]
    args.port_range = tuple(int(p) for p in args.ports.split("-"))
    _raise_fd_limit()
    senders = [_start_sender(sender_main)]
    if args.relay_calls != 0:
        senders.append(_start_sender(relay_bench.sender_main))
    relay_conn = senders[1][0] if len(senders) > 1 else None
    try:
        if args.loop == "uvloop":
            import uvloop

            uvloop.run(_bench(args, senders[0][0], relay_conn))
        else:
            asyncio.run(_bench(args, senders[0][0], relay_conn))
    finally:
        for conn, process in senders:
            conn.send(("quit",))
            process.join(timeout=5)


if __name__ == "__main__":
    main()
