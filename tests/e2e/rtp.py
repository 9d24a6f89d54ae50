"""An RTP probe standing in for a callee's media, to count packets in both directions.

The probe binds the port a scenario advertises in its SDP. Every RTP packet it receives is
counted by SSRC. Once it has heard the first packet, it sends its own stream (its own SSRC,
PCMA silence, 20 ms packets, RFC 3550 §5.1 header) back to the address that packet came from —
the symmetric-RTP convention (RFC 4961) a relay expects. When the far end echoes media back
(SIPp's ``-rtp_echo``), the probe's own SSRC returns to it: that proves the path in the
direction probe → far end, while the far end's packets prove the other direction.
"""

from __future__ import annotations

import secrets
import socket
import struct
import threading
from collections import Counter
from types import TracebackType

_RTP_VERSION_BITS = 0x80
_PCMA = 8
_PCMA_SILENCE = b"\xd5" * 160  # A-law "zero": 20 ms at 8 kHz
_PACKET_INTERVAL = 0.02


class RtpProbe:
    """Counts received RTP packets per SSRC and answers with a stream of its own."""

    def __init__(self, host: str, port: int) -> None:
        self.ssrc = secrets.randbits(32)
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.bind((host, port))
        self._sock.settimeout(0.1)
        self._counts: Counter[int] = Counter()
        self._lock = threading.Lock()
        self._peer: tuple[str, int] | None = None
        self._stopped = threading.Event()
        self._first_packet = threading.Event()
        self._receiver = threading.Thread(target=self._receive_loop, daemon=True)
        self._sender = threading.Thread(target=self._send_loop, daemon=True)

    @property
    def port(self) -> int:
        return int(self._sock.getsockname()[1])

    def __enter__(self) -> RtpProbe:
        self._receiver.start()
        self._sender.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._stopped.set()
        for thread in (self._receiver, self._sender):
            if thread.is_alive():
                thread.join(timeout=2)
        self._sock.close()

    def wait_first_packet(self, timeout: float) -> bool:
        return self._first_packet.wait(timeout)

    @property
    def own_returned(self) -> int:
        """Packets of the probe's own stream that came back (the far end heard it)."""
        with self._lock:
            return self._counts[self.ssrc]

    @property
    def foreign_received(self) -> int:
        """Packets from any other source stream (the far end's media reached the probe)."""
        with self._lock:
            return sum(n for ssrc, n in self._counts.items() if ssrc != self.ssrc)

    def _receive_loop(self) -> None:
        while not self._stopped.is_set():
            try:
                data, source = self._sock.recvfrom(2048)
            except TimeoutError:
                continue
            except OSError:
                return
            ssrc = _ssrc_of(data)
            if ssrc is None:
                continue
            with self._lock:
                self._counts[ssrc] += 1
                if self._peer is None:
                    self._peer = source
            self._first_packet.set()

    def _send_loop(self) -> None:
        if not self._wait_for_peer():
            return
        seq = secrets.randbits(16)
        timestamp = secrets.randbits(32)
        while not self._stopped.wait(_PACKET_INTERVAL):
            header = struct.pack(
                "!BBHII", _RTP_VERSION_BITS, _PCMA, seq & 0xFFFF, timestamp & 0xFFFFFFFF, self.ssrc
            )
            assert self._peer is not None
            try:
                self._sock.sendto(header + _PCMA_SILENCE, self._peer)
            except OSError:
                return
            seq += 1
            timestamp += len(_PCMA_SILENCE)

    def _wait_for_peer(self) -> bool:
        while not self._stopped.is_set():
            if self._first_packet.wait(0.1):
                return True
        return False


def _ssrc_of(data: bytes) -> int | None:
    """The SSRC of an RTP packet (RFC 3550 §5.1), or None when it is not RTP version 2."""
    if len(data) < 12 or data[0] >> 6 != 2:
        return None
    # RTCP shares the version bits; its packet types 200-204 sit where RTP keeps M+PT.
    if 200 <= data[1] <= 204:
        return None
    return int(struct.unpack_from("!I", data, 8)[0])
