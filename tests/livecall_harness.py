"""A real :class:`~centralita.live.LiveCall` on loopback, with a fake SIP side and a phone.

- :class:`FakeApps` stands in for :class:`~centralita.calls.appcall.AppCalls`: it records the
  commands the call gives (the 200 OK's SDP answer, rejections, BYEs) and lets a test play the
  SIP side: ``ack`` (the ACK that confirms the dialog), ``bye`` and ``cancel`` (the caller
  hangs up) and ``info`` (a mid-call INFO, whose response status it returns). The call state
  moves through the real :class:`~centralita.calls.appcall.AppCall` transitions.
- The phone is a second real :class:`~centralita.media.rtp_endpoint.MediaEndpoint` on the
  same port pool. It sends what its ``source`` plays, RFC 4733 key presses with
  ``send_dtmf``, and :class:`Ear` collects what it hears.
- The media services are the production ones: espeak-ng prompts in a temporary folder, the
  generated music on hold, conference rooms. Everything runs on the real 20 ms clock, so tests
  await what the phone hears (``Ear.until``) with timeouts instead of sleeping.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

import numpy as np

from centralita.calls.appcall import AppCall, AppCalls, AppInput, AppState, AppTarget
from centralita.calls.call import Party
from centralita.live import LiveCall, MediaServices
from centralita.logs import call_logger
from centralita.media.audio import SAMPLE_RATE, Pcm
from centralita.media.codecs import codec_for
from centralita.media.conference import ConferenceRooms
from centralita.media.moh import MusicLibrary
from centralita.media.ports import RtpPortPool
from centralita.media.prompts import PromptLibrary
from centralita.media.rtp_endpoint import MediaEndpoint
from centralita.sip import sdp
from centralita.sip.address import Address
from centralita.sip.message import Request, new_branch, new_call_id, new_tag, parse_message
from centralita.sip.transaction_events import Role, TransactionKey

LOCALHOST = "127.0.0.1"
EVENT_PT = 101
WAIT = 5.0  # upper bound for anything that should happen within a fraction of that
AUDIBLE_RMS = 100.0  # int16 units (~ -50 dBFS): above the codec's idle noise, below any tone

_PHONE_SIP = 5062
_calls = itertools.count(1)


def offer(port: int, codecs: str = "0 8", *, telephone_event: bool = True) -> bytes:
    """A phone's SDP offer (RFC 4566) for audio at ``LOCALHOST``:``port``."""
    pts = codecs.split() + ([str(EVENT_PT)] if telephone_event else [])
    names = {"0": "PCMU/8000", "8": "PCMA/8000", "9": "G722/8000", "3": "GSM/8000"}
    lines = [
        "v=0",
        "o=phone 2890844526 2890844526 IN IP4 127.0.0.1",
        "s=-",
        "c=IN IP4 127.0.0.1",
        "t=0 0",
        f"m=audio {port} RTP/AVP {' '.join(pts)}",
        *(f"a=rtpmap:{pt} {names[pt]}" for pt in codecs.split()),
    ]
    if telephone_event:
        lines += [f"a=rtpmap:{EVENT_PT} telephone-event/8000", f"a=fmtp:{EVENT_PT} 0-16"]
    lines += ["a=ptime:20", "a=sendrecv"]
    return ("\r\n".join(lines) + "\r\n").encode()


def _request(method: str, call_id: str, cseq: int, body: bytes, headers: list[str]) -> Request:
    lines = [
        f"{method} sip:*43@acme.test SIP/2.0",
        f"Via: SIP/2.0/UDP 127.0.0.1:{_PHONE_SIP};branch={new_branch()}",
        "Max-Forwards: 70",
        "From: <sip:101@acme.test>;tag=phone-tag",
        "To: <sip:*43@acme.test>",
        f"Call-ID: {call_id}",
        f"CSeq: {cseq} {method}",
        f"Contact: <sip:101@127.0.0.1:{_PHONE_SIP}>",
        *headers,
        f"Content-Length: {len(body)}",
    ]
    message = parse_message(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
    assert isinstance(message, Request)
    return message


def app_call(sdp_offer: bytes, *, tenant: str = "acme") -> AppCall:
    """A real AppCall for an INVITE carrying ``sdp_offer`` from extension 101."""
    call_id = f"{new_call_id()}-{next(_calls)}"
    invite = _request("INVITE", call_id, 1, sdp_offer, ["Content-Type: application/sdp"])
    target = AppTarget(
        tenant_id=1,
        tenant_name=tenant,
        domain="acme.test",
        caller=Party("101", "Alice", "sip:101@acme.test"),
        service="*43",
    )
    return AppCall(
        target=target,
        invite=invite,
        key=TransactionKey(Role.SERVER, invite.top_via.branch or "", "INVITE"),
        peer=Address("udp", LOCALHOST, _PHONE_SIP),
        tag=new_tag(),
        started_at=0.0,
        log=call_logger("tests.live", tenant=tenant, call_id=call_id),
    )


@dataclass
class FakeApps:
    """The SIP side of application calls, as ``LiveCall`` drives it (``AppCalls``' shape)."""

    answers: list[bytes] = field(default_factory=list)
    rejected: list[int] = field(default_factory=list)
    hangups: list[str] = field(default_factory=list)  # call ids the PBX hung up (BYE sent)
    answered: asyncio.Event = field(default_factory=asyncio.Event)

    # ---- commands (what AppCalls does, minus the messages) ---------------------------------

    def answer(self, call: AppCall, body: bytes, now: float) -> bool:
        if not call.advance(AppInput.ANSWER):
            return False
        self.answers.append(body)
        self.answered.set()
        return True

    def reject(self, call: AppCall, status: int, now: float, reason: str | None = None) -> None:
        if call.advance(AppInput.REJECT):
            self.rejected.append(status)
            self._end(call, f"rejected with {status}")

    def hang_up(self, call: AppCall, now: float, reason: str | None = None) -> None:
        if call.state in (AppState.TRYING, AppState.RINGING):
            self.reject(call, 480, now)
        elif call.advance(AppInput.HANG_UP):
            self.hangups.append(call.call_id)
            self._end(call, "hung up by the PBX")

    # ---- the network ------------------------------------------------------------------------

    def ack(self, call: AppCall, body: bytes = b"") -> None:
        if call.advance(AppInput.ACK) and call.listener is not None:
            call.listener.confirmed(body)

    def bye(self, call: AppCall) -> None:
        if call.advance(AppInput.BYE):
            self._end(call, "BYE from caller")

    def cancel(self, call: AppCall) -> None:
        if call.advance(AppInput.CANCEL):
            self._end(call, "cancelled by caller")

    def info(self, call: AppCall, content_type: str | None, body: bytes) -> int:
        """An in-dialog INFO (RFC 6086); the status the listener answers it with."""
        headers = [] if content_type is None else [f"Content-Type: {content_type}"]
        request = _request("INFO", call.call_id, 2, body, headers)
        assert call.listener is not None
        return call.listener.info_received(request)

    def _end(self, call: AppCall, cause: str) -> None:
        call.state = AppState.ENDED
        if call.listener is not None:
            call.listener.ended(cause)


class Ear:
    """What an endpoint plays out (``on_audio``), with awaitable conditions on it."""

    def __init__(self, endpoint: MediaEndpoint) -> None:
        self.frames: list[Pcm] = []
        self._waiters: list[tuple[Callable[[], bool], asyncio.Future[None]]] = []
        endpoint.on_audio = self._heard

    def _heard(self, frame: Pcm) -> None:
        self.frames.append(frame.copy())
        for predicate, future in list(self._waiters):
            if not future.done() and predicate():
                future.set_result(None)

    async def until(self, predicate: Callable[[], bool], timeout: float = WAIT) -> None:
        """Return once ``predicate()`` holds, checked after each frame heard."""
        if predicate():
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        waiter = (predicate, future)
        self._waiters.append(waiter)
        try:
            await asyncio.wait_for(future, timeout)
        finally:
            self._waiters.remove(waiter)

    async def frames_pass(self, count: int) -> None:
        """Let ``count`` more 20 ms frames be heard (real time passes, bounded)."""
        target = len(self.frames) + count
        await self.until(lambda: len(self.frames) >= target, timeout=WAIT + count * 0.02)

    def audible_count(self, since: int = 0) -> int:
        return sum(1 for frame in self.frames[since:] if audible(frame))


def audible(frame: Pcm) -> bool:
    return rms(frame) > AUDIBLE_RMS


def rms(samples: Pcm) -> float:
    values = samples.astype(np.float64)
    return float(np.sqrt(np.mean(values * values))) if len(values) else 0.0


def tone(frequency: float, seconds: float, amplitude: float = 8000.0) -> Pcm:
    t = np.arange(int(SAMPLE_RATE * seconds)) / SAMPLE_RATE
    return np.rint(amplitude * np.sin(2 * np.pi * frequency * t)).astype(np.int16)


def dominant_frequency(samples: Pcm) -> float:
    signal = samples.astype(np.float64)
    spectrum = np.abs(np.fft.rfft(signal * np.hanning(len(signal))))
    return float(np.argmax(spectrum) * SAMPLE_RATE / len(signal))


def audible_span(frames: list[Pcm]) -> int:
    """Frames from the first audible frame to the last (inclusive); 0 if none."""
    marks = [i for i, frame in enumerate(frames) if audible(frame)]
    return marks[-1] - marks[0] + 1 if marks else 0


def frames_of(pcm: Pcm) -> list[Pcm]:
    return [pcm[i : i + 160] for i in range(0, len(pcm), 160)]


def free_port_range(pairs: int) -> tuple[int, int]:
    """An even-aligned range of ``pairs`` RTP/RTCP pairs nobody holds, below the ephemeral
    range (so no OS-chosen port lands in it)."""
    rng = random.Random()
    for _ in range(200):
        low = rng.randrange(10000, 24000, 2)
        held: list[socket.socket] = []
        try:
            for port in range(low, low + 2 * pairs):
                sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                held.append(sock)
                sock.bind((LOCALHOST, port))
        except OSError:
            continue
        finally:
            for sock in held:
                sock.close()
        return low, low + 2 * pairs - 1
    raise RuntimeError("no free RTP port range")


@dataclass
class Leg:
    """One call: the LiveCall under test, its AppCall, and the phone at the other end."""

    live: LiveCall
    call: AppCall
    phone: MediaEndpoint
    ear: Ear

    @property
    def answer_sdp(self) -> sdp.SessionDescription:
        return sdp.SessionDescription.parse(self.apps.answers[-1])

    @property
    def apps(self) -> FakeApps:
        return cast(FakeApps, self.live.apps)


class Rig:
    """Media services, a port pool and the fake SIP side shared by a test's calls."""

    def __init__(self, prompts: PromptLibrary, workdir: Path, music: MusicLibrary) -> None:
        low, high = free_port_range(8)
        self.pool = RtpPortPool(low, high, host=LOCALHOST)
        self.apps = FakeApps()
        self.rooms = ConferenceRooms()
        self.services = MediaServices(
            endpoints=lambda: MediaEndpoint(self.pool.allocate()),
            prompts=prompts,
            music=music,
            rooms=self.rooms,
            media_ip=lambda call: LOCALHOST,
            recordings=workdir / "recordings",
            clock=asyncio.get_running_loop().time,
        )
        self.driven = 0
        self._phones: list[MediaEndpoint] = []
        self._lives: list[LiveCall] = []

    def drive(self, step: Callable[[float], None]) -> None:
        """The server's driver: run one sans-I/O step now."""
        self.driven += 1
        step(asyncio.get_running_loop().time())

    def call(self, codecs: str = "0 8", *, telephone_event: bool = True) -> Leg:
        """A ringing call (not answered yet) from a new phone."""
        phone = MediaEndpoint(self.pool.allocate(), name="phone")
        self._phones.append(phone)
        call = app_call(offer(phone.local_port, codecs, telephone_event=telephone_event))
        live = LiveCall(call, cast(AppCalls, self.apps), self.drive, self.services)
        self._lives.append(live)
        return Leg(live, call, phone, Ear(phone))

    def start_phone(self, leg: Leg) -> None:
        """Start the phone's media towards the address of the PBX's SDP answer."""
        audio = leg.answer_sdp.first_audio()
        assert audio is not None
        chosen = audio.codecs[0]
        codec = codec_for(chosen.encoding)
        assert codec is not None
        event = audio.telephone_event
        leg.phone.start(
            audio.rtp_address,
            codec,
            event.number if event is not None else None,
            payload_type=chosen.number,
        )

    async def answered(self, codecs: str = "0 8") -> Leg:
        """A call answered by its LiveCall, ACKed, with the phone's media running."""
        leg = self.call(codecs)
        self.apps.answered.clear()
        task = asyncio.ensure_future(leg.live.answer())
        await asyncio.wait_for(self.apps.answered.wait(), WAIT)
        self.start_phone(leg)
        self.apps.ack(leg.call)
        await asyncio.wait_for(task, WAIT)
        return leg

    def close(self) -> None:
        for live in self._lives:
            if live.endpoint is not None:
                live.endpoint.close()
        for phone in self._phones:
            phone.close()
