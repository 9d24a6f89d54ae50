"""Free loopback ports for test peers, in the 25000-29999 range the test machines keep clear.

Several engineers' test runs share the machine, so a port is only handed out after binding it
over both UDP and TCP succeeded. A port handed out is not handed out again by this process until
_MEMORY more ports have been (its user may not have bound it yet); after that, the bind check
alone decides, so a long test session does not exhaust the range.
"""

from __future__ import annotations

import random
import socket
import threading

LOW = 25000
HIGH = 29999
HOST = "127.0.0.1"

_lock = threading.Lock()
_MEMORY = 400
_handed_out: dict[int, None] = {}  # insertion-ordered: oldest first
_random = random.Random()


def _bindable(port: int) -> bool:
    for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
        with socket.socket(socket.AF_INET, kind) as sock:
            try:
                sock.bind((HOST, port))
            except OSError:
                return False
    return True


def free_ports(count: int) -> list[int]:
    """``count`` distinct free ports (not necessarily adjacent)."""
    return [free_range(1)[0] for _ in range(count)]


def free_port() -> int:
    return free_ports(1)[0]


def free_range(size: int) -> tuple[int, int]:
    """A block of ``size`` consecutive free ports starting at an even port (RTP takes the even
    port of an RTP/RTCP pair, RFC 3550 §11); returns (low, high), inclusive."""
    with _lock:
        for _ in range(2000):
            start = _random.randrange(LOW, HIGH - size, 2)
            block = range(start, start + size)
            if any(p in _handed_out for p in block):
                continue
            if all(_bindable(p) for p in block):
                _remember(block)
                return start, start + size - 1
    raise RuntimeError(f"no block of {size} free ports in {LOW}-{HIGH}")


def _remember(block: range) -> None:
    for port in block:
        _handed_out.pop(port, None)
        _handed_out[port] = None
    while len(_handed_out) > _MEMORY:
        del _handed_out[next(iter(_handed_out))]
