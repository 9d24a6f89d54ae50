"""A headless baresip softphone driven over its ``ctrl_tcp`` socket.

Each :class:`Phone` gets its own config folder (the lines /work/shared/TESTING.md verified on
these machines), a sine-tone WAV as microphone, and ``sndfile`` recording of what it hears.
``ctrl_tcp`` speaks netstring-framed JSON (https://cr.yp.to/proto/netstrings.txt): commands
``{"command", "params", "token"}`` get a ``{"response": true, "token"}`` answer, and the phone
streams ``{"event": true, "type": ...}`` objects (REGISTER_OK, CALL_INCOMING, CALL_RINGING,
CALL_ESTABLISHED, CALL_CLOSED, ...). Events are kept in order and awaited with timeouts.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.e2e import audio
from tests.e2e.ports import HOST, free_port, free_range

MODULE_PATH = "/usr/lib/baresip/modules"
Event = dict[str, Any]


class PhoneError(AssertionError):
    """The phone did not do what the test awaited; carries its recent log."""


@dataclass(frozen=True)
class Account:
    """A SIP account line. With ``registrar`` None the phone does not register (direct calls)."""

    user: str
    domain: str
    password: str | None = None
    registrar: str | None = None  # "host:port" of the PBX, used as outbound proxy
    regint: int = 300
    codecs: str = "PCMU"  # baresip's audio_codecs, e.g. "G722" or "PCMU,PCMA"
    mediaenc: str | None = None  # e.g. "srtp-mand": SDES-SRTP required (RFC 4568)
    transport: str = "udp"  # "tcp": registers and keeps a TCP connection to the PBX

    def line(self) -> str:
        params = [f"<sip:{self.user}@{self.domain}>"]
        if self.password is not None:
            params.append(f"auth_pass={self.password}")
        if self.registrar is not None:
            suffix = "" if self.transport == "udp" else f";transport={self.transport}"
            params.append(f'outbound="sip:{self.registrar}{suffix}"')
            params.append(f"regint={self.regint}")
        else:
            params.append("regint=0")
        params += [f"audio_codecs={self.codecs}", "answermode=auto"]
        if self.mediaenc is not None:
            params.append(f"mediaenc={self.mediaenc}")
        return ";".join(params)


class Phone:
    """One baresip process. Use as a context manager; ``start()`` returns once ctrl_tcp is up."""

    def __init__(
        self, workdir: Path, account: Account, *, tone_hz: float, tone_seconds: float = 30.0
    ) -> None:
        self.dir = workdir
        self.account = account
        self.tone_hz = tone_hz
        self.tone_seconds = tone_seconds
        self.sip_port = free_port()
        self.ctrl_port = free_port()
        self.rtp_ports = free_range(20)
        self._proc: subprocess.Popen[bytes] | None = None
        self._sock: socket.socket | None = None
        self._events: list[Event] = []
        self._responses: dict[str, Event] = {}
        self._cond = threading.Condition()
        self._tokens = itertools.count(1)
        self._reader: threading.Thread | None = None
        self._log_path = self.dir / "baresip.log"

    @property
    def contact_uri(self) -> str:
        return f"sip:{self.account.user}@{HOST}:{self.sip_port}"

    @property
    def recordings(self) -> Path:
        return self.dir / "rec"

    def __enter__(self) -> Phone:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- lifecycle -------------------------------------------------------------------------

    def start(self, timeout: float = 10.0) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        self.recordings.mkdir(exist_ok=True)
        audio.write_tone(self.dir / "in.wav", self.tone_hz, self.tone_seconds)
        (self.dir / "config").write_text(self._config())
        # The account is created over ctrl_tcp once we listen (``uanew`` below), so its
        # REGISTER_OK cannot happen before we are there to see it.
        (self.dir / "accounts").write_text("")
        (self.dir / "contacts").write_text("")
        log = self._log_path.open("wb")
        self._proc = subprocess.Popen(
            ["baresip", "-f", str(self.dir)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        self._sock = self._connect(timeout)
        self._reader = threading.Thread(target=self._read_loop, daemon=True)
        self._reader.start()
        self.command("uanew", self.account.line())

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            with contextlib.suppress(PhoneError, OSError):
                self.command("quit", timeout=2.0)
            try:
                self._proc.wait(timeout=3)
            except subprocess.TimeoutExpired:
                os.killpg(self._proc.pid, signal.SIGKILL)
                self._proc.wait(timeout=3)
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def log(self) -> str:
        try:
            return self._log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    # ---- commands --------------------------------------------------------------------------

    def command(self, name: str, params: str = "", *, timeout: float = 5.0) -> Event:
        token = str(next(self._tokens))
        payload = json.dumps({"command": name, "params": params, "token": token}).encode()
        if self._sock is None:
            raise PhoneError(f"{self.account.user}: phone not started")
        self._sock.sendall(b"%d:%s," % (len(payload), payload))
        deadline = time.monotonic() + timeout
        with self._cond:
            while token not in self._responses:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not self._cond.wait(remaining):
                    raise PhoneError(f"{self.account.user}: no response to {name!r}\n{self.log()}")
            return self._responses.pop(token)

    def dial(self, uri: str) -> Event:
        return self.command("dial", uri)

    def hangup(self) -> Event:
        return self.command("hangup")

    def send_dtmf(self, digits: str) -> None:
        for digit in digits:
            self.command("sndcode", digit)

    # ---- events ----------------------------------------------------------------------------

    def wait_event(
        self,
        kind: str,
        timeout: float = 10.0,
        *,
        match: Callable[[Event], bool] | None = None,
    ) -> Event:
        """Consume and return the first unconsumed event of type ``kind`` (in arrival order)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for i, event in enumerate(self._events):
                    if event.get("type") == kind and (match is None or match(event)):
                        return self._events.pop(i)
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not self._cond.wait(remaining):
                    seen = [e.get("type") for e in self._events]
                    raise PhoneError(
                        f"{self.account.user}: no {kind} within {timeout}s; pending {seen}\n"
                        f"{self.log()[-4000:]}"
                    )

    def wait_registered(self, timeout: float = 10.0) -> Event:
        return self.wait_event("REGISTER_OK", timeout)

    def dec_recording(self) -> Path:
        """The recording of what this phone heard in its (single) call."""
        found = sorted(self.recordings.glob("*-dec.wav"))
        if len(found) != 1:
            raise PhoneError(f"{self.account.user}: expected one -dec.wav, found {found}")
        return found[0]

    # ---- internals -------------------------------------------------------------------------

    def _config(self) -> str:
        low, high = self.rtp_ports
        return "\n".join(
            [
                f"net_interface {HOST}",
                f"sip_listen {HOST}:{self.sip_port}",
                "audio_player alsa,null",
                "audio_alert alsa,null",
                f"audio_source aufile,{self.dir / 'in.wav'}",
                f"ausrc_srate {audio.SAMPLE_RATE}",
                "ausrc_channels 1",
                f"rtp_ports {low}-{high}",
                f"module_path {MODULE_PATH}",
                "module g711.so",
                "module g722.so",
                "module srtp.so",
                "module aufile.so",
                "module alsa.so",
                "module sndfile.so",
                "module_app account.so",
                "module_app menu.so",
                "module_app ctrl_tcp.so",
                f"ctrl_tcp_listen {HOST}:{self.ctrl_port}",
                f"snd_path {self.recordings}",
                "",
            ]
        )

    def _connect(self, timeout: float) -> socket.socket:
        # baresip gives no readiness signal on stdout we could rely on across versions; the
        # control socket accepting a connection is the readiness event.
        deadline = time.monotonic() + timeout
        while True:
            assert self._proc is not None
            if self._proc.poll() is not None:
                raise PhoneError(f"baresip exited with {self._proc.returncode}\n{self.log()}")
            try:
                return socket.create_connection((HOST, self.ctrl_port), timeout=0.2)
            except OSError:
                if time.monotonic() > deadline:
                    raise PhoneError(f"ctrl_tcp never came up\n{self.log()}") from None
                time.sleep(0.05)

    def _read_loop(self) -> None:
        assert self._sock is not None
        self._sock.settimeout(None)
        buffer = b""
        while True:
            try:
                chunk = self._sock.recv(65536)
            except OSError:
                chunk = b""
            if not chunk:
                with self._cond:
                    self._cond.notify_all()
                return
            buffer += chunk
            messages, buffer = _split_netstrings(buffer)
            self._dispatch(messages)

    def _dispatch(self, messages: list[Event]) -> None:
        with self._cond:
            for message in messages:
                if message.get("response"):
                    self._responses[str(message.get("token"))] = message
                elif message.get("event"):
                    self._events.append(message)
            self._cond.notify_all()


def _split_netstrings(buffer: bytes) -> tuple[list[Event], bytes]:
    """Complete netstrings ("LEN:DATA,") decoded as JSON, and the unconsumed rest."""
    out: list[Event] = []
    while True:
        colon = buffer.find(b":")
        if colon < 0:
            return out, buffer
        length = int(buffer[:colon])
        end = colon + 1 + length
        if len(buffer) < end + 1:
            return out, buffer
        if buffer[end : end + 1] != b",":
            raise ValueError(f"bad netstring framing: {buffer[: end + 1]!r}")
        out.append(json.loads(buffer[colon + 1 : end]))
        buffer = buffer[end + 1 :]
