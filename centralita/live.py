"""Live calls: the asyncio side of calls the PBX plays, records and routes itself.

:class:`MediaCall` is the :class:`~centralita.routing.context.CallContext` a routing feature
runs against. It joins three things: the signalling of the one party it serves (a
:class:`CallerSide`, driven through the server's sans-I/O driver), an RTP endpoint that sends
what the call plays and hands over what the party says, and the media services (prompts,
music on hold, conference rooms) shared by the whole server. Keys pressed reach the call by
RFC 4733, SIP INFO or in-band tones and come out once each
(:class:`~centralita.media.dtmf.DtmfDeduplicator`).

Two kinds of party: :class:`LiveCall` serves a caller whose INVITE the PBX answers (an
:class:`~centralita.calls.appcall.AppCall`, the PBX as UAS); ``centralita.originate`` serves
a phone the PBX called itself (the PBX as UAC), whose media is set up before any verb runs
(:meth:`MediaCall.adopt`). The signalling notifications (ACK, BYE, INFO, re-INVITE) reach
either through the same methods (``confirmed``, ``ended``, ``info_received``,
``offer_received``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from centralita.calls.appcall import AppCall, AppCalls
from centralita.live_side import CallerSide, InboundSide
from centralita.media.audio import FRAME_SAMPLES, Pcm, silence
from centralita.media.conference import ConferenceRooms, RoomSettings
from centralita.media.conference import RoomFull as MediaRoomFull
from centralita.media.dtmf import INFO_CONTENT_TYPES, DtmfDeduplicator, parse_info_body
from centralita.media.dtmf_inband import InbandDetector
from centralita.media.events import DtmfReceived
from centralita.media.moh import MusicLibrary
from centralita.media.negotiation import NegotiatedMedia, answer_offer, answer_reoffer
from centralita.media.offer import accept_answer, make_offer
from centralita.media.player import AudioSource, Player
from centralita.media.prompts import PromptLibrary
from centralita.media.recorder import MessageRecorder
from centralita.media.rtp_endpoint import MediaEndpoint
from centralita.media.tones import tone_for
from centralita.media.wavfile import WavFile
from centralita.records.outcome import ExtensionRow, Status
from centralita.routing.context import (
    CallerHungUp,
    DialResult,
    DialTarget,
    Playable,
    Recording,
    RoomFull,
)
from centralita.routing.services import Service, conference_room, echo_test, keypad_test
from centralita.sip.errors import SipParseError
from centralita.sip.message import Request
from centralita.sip.offer_answer import LocalOrigin
from centralita.sip.sdp import SdpError

if TYPE_CHECKING:
    from centralita.live_dial import Dialler

log = logging.getLogger("centralita.live")

ACK_WAIT = 32.0  # 64*T1: after that the transaction layer gives up on the ACK too


class MediaServices:
    """What every live call of the server shares."""

    def __init__(
        self,
        endpoints: Callable[[], MediaEndpoint],
        prompts: PromptLibrary,
        music: MusicLibrary,
        rooms: ConferenceRooms,
        media_ip: Callable[[AppCall], str],
        recordings: Path,
        clock: Callable[[], float],
    ) -> None:
        self.clock = clock
        self.endpoints = endpoints
        self.prompts = prompts
        self.music = music
        self.rooms = rooms
        self.media_ip = media_ip
        self.recordings = recordings


Driver = Callable[[Callable[[float], None]], None]


class MediaCall:
    """A CallContext for features over one party's signalling (a :class:`CallerSide`) and
    one RTP endpoint; the listener of that signalling's notifications."""

    def __init__(
        self,
        side: CallerSide,
        drive: Driver,
        media: MediaServices,
        *,
        caller: str,
        caller_name: str,
        tenant: str,
        service: str,
    ) -> None:
        self.side = side
        self.drive = drive
        self.media = media
        self.caller = caller
        self.caller_name = caller_name
        self.tenant = tenant
        self.service = service
        self.language = "en"
        self.country = "US"  # whose ringback and busy tones the caller hears
        self.endpoint: MediaEndpoint | None = None
        self.dialler: Dialler | None = None  # set by the runner for routed calls
        self.on_key: Callable[[DtmfReceived], None] | None = None  # keys go here, not queued
        # Listen for key tones in the audio. Off while bridged to a phone: the tones reach it
        # in the audio itself, and the detector is half of a bridged call's CPU.
        self.detect_inband = True
        self._confirmed = asyncio.Event()
        self._ack_body = b""  # the caller's SDP answer, when its INVITE had no offer
        self._ended = asyncio.Event()
        self._digits: asyncio.Queue[DtmfReceived] = asyncio.Queue()
        self._dedup = DtmfDeduplicator()
        self._inband = InbandDetector()
        self._audio_listeners: list[Callable[[Pcm], None]] = []
        self._origin: LocalOrigin | None = None
        self._media: NegotiatedMedia | None = None

    def adopt(self, endpoint: MediaEndpoint, media: NegotiatedMedia, origin: LocalOrigin) -> None:
        """Take over an endpoint already negotiated and started (the PBX made the offer, the
        party answered it, RFC 3264 §6): the call counts as answered and confirmed."""
        endpoint.on_audio = self._audio
        endpoint.on_dtmf = self._dtmf
        self.endpoint = endpoint
        self._media = media
        self._origin = origin
        self._confirmed.set()

    def key_pressed(self, event: DtmfReceived) -> None:
        """A key that reached the party's dialog rather than the endpoint (SIP INFO)."""
        self._dtmf(event)

    # ---- signalling notifications (called inside the sans-I/O driver) -----------------------

    def confirmed(self, body: bytes) -> None:
        self._ack_body = body
        self._confirmed.set()

    def ended(self, cause: str) -> None:
        self._ended.set()
        if self.endpoint is not None:
            self.endpoint.close()

    def info_received(self, request: Request) -> int:
        status, event = info_key(request)
        if event is not None:
            self._dtmf(event)
        return status

    def offer_received(self, body: bytes) -> bytes:
        endpoint = self._endpoint()
        if self._media is None or self._origin is None:
            media = self._negotiate(body, endpoint)
            endpoint.update_remote(media.remote, media.rtcp)
            endpoint.set_hold(media.on_hold)
            return media.answer
        return answer_reoffer(body, endpoint, self._origin, self._media)

    def _negotiate(self, offer: bytes, endpoint: MediaEndpoint) -> NegotiatedMedia:
        if self._origin is None:
            self._origin = LocalOrigin(self.side.media_ip())
        media = answer_offer(
            offer,
            self._origin.origin.address,
            endpoint.local_port,
            self._origin,
            current=self._media,
        )
        if self._media is None:
            self._media = media
        return media

    # ---- CallContext verbs --------------------------------------------------------------------

    @property
    def answered(self) -> bool:
        return self.side.answered

    @property
    def has_ended(self) -> bool:
        return self._ended.is_set()

    async def wait_ended(self) -> None:
        await self._ended.wait()

    async def ring(self) -> None:
        if self._ended.is_set():
            raise CallerHungUp()
        self.drive(self.side.ring)

    async def reject(self, status: int, reason: str | None = None) -> None:
        """Refuse an unanswered call with ``status`` (404, 480, 486, ...); an answered one is
        hung up instead."""
        if self.answered:
            await self.hangup()
            return
        self.drive(lambda now: self.side.reject(status, now, reason))
        self._ended.set()

    async def dial(
        self,
        targets: Sequence[DialTarget],
        timeout: float,
        *,
        caller_id: str | None = None,
        music: bool = False,
    ) -> DialResult:
        if self.dialler is None:
            raise RuntimeError("this call cannot dial")
        return await self.dialler.dial(targets, timeout, caller_id=caller_id, music=music)

    def status_for(self, extension: str, status: str, answered_by: str | None = None) -> None:
        self.side.rows[extension] = ExtensionRow(extension, Status(status), answered_by)

    def add_audio_listener(self, listener: Callable[[Pcm], None]) -> None:
        self._audio_listeners.append(listener)

    def remove_audio_listener(self, listener: Callable[[Pcm], None]) -> None:
        with contextlib.suppress(ValueError):
            self._audio_listeners.remove(listener)

    async def answer(self) -> None:
        if self.endpoint is not None:
            return
        if self._ended.is_set():
            raise CallerHungUp()  # cancelled (or hung up) before we answered
        endpoint = self.media.endpoints()
        if not self.side.offer:
            await self._answer_with_offer(endpoint)
            return
        try:
            media = self._negotiate(self.side.offer, endpoint)
        except SdpError as error:
            endpoint.close()
            # RFC 3261 §13.3.1.1: an offer we cannot take is refused (488, or 400 if
            # malformed) with the final response, not by answering and hanging up.
            status = error.status_code
            self.drive(lambda now: self.side.reject(status, now, None))
            raise
        except Exception:
            endpoint.close()
            raise
        self._start(endpoint, media)
        if not self._send_answer(media.answer):
            endpoint.close()  # the call ended under us: nothing will close it later
            raise CallerHungUp()
        await self._wait(self._confirmed, ACK_WAIT)

    async def _answer_with_offer(self, endpoint: MediaEndpoint) -> None:
        """A caller's INVITE without SDP (late offer): our 2xx carries the offer and the
        caller's ACK the answer (RFC 3261 §13.2.1, RFC 3264 §4-5)."""
        try:
            self._origin = LocalOrigin(self.side.media_ip())
            offer = make_offer(self._origin.origin.address, endpoint.local_port, self._origin)
            if not self._send_answer(offer.body):
                raise CallerHungUp()
            await self._wait(self._confirmed, ACK_WAIT)
            media = accept_answer(offer, self._ack_body)
        except SdpError as error:
            endpoint.close()
            # The dialog exists: an unusable answer in the ACK can only be hung up.
            self.note(node="media", error=f"answer in the ACK refused: {error.detail}")
            await self.hangup()
            raise CallerHungUp() from error
        except BaseException:
            endpoint.close()
            raise
        self._media = media
        self._start(endpoint, media)

    def _start(self, endpoint: MediaEndpoint, media: NegotiatedMedia) -> None:
        endpoint.on_audio = self._audio
        endpoint.on_dtmf = self._dtmf
        endpoint.start(
            media.remote,
            media.codec,
            media.telephone_event,
            media.srtp,
            payload_type=media.payload_type,
            rtcp=media.rtcp,
        )
        endpoint.set_hold(media.on_hold)
        self.endpoint = endpoint
        self.note(node="media", codec=media.codec.name, srtp=media.srtp is not None)

    def _send_answer(self, body: bytes) -> bool:
        """The final 2xx with ``body``; False when the call ended meanwhile."""
        answered: list[bool] = []
        self.drive(lambda now: answered.append(self.side.answer(body, now)))
        return bool(answered and answered[0])

    async def hangup(self) -> None:
        self.drive(self.side.hang_up)
        self._ended.set()

    async def play(self, what: Playable | list[Playable], *, interrupt_on: str = "") -> str:
        items = what if isinstance(what, list) else [what]
        # Prompts are synthesised (espeak-ng) or read from disk on first use: off the loop.
        clips = await asyncio.to_thread(lambda: [self._clip(item) for item in items])
        return await self._play_clips(list(clips), interrupt_on)

    async def say_number(self, number: int, language: str | None = None) -> str:
        lang = language or self.language
        clips = await asyncio.to_thread(self.media.prompts.say_number, number, lang, self.tenant)
        return await self._play_clips(list(clips), "")

    async def collect_digits(
        self,
        max_digits: int,
        timeout: float,
        *,
        terminator: str = "#",
        first_digit: str = "",
        inter_digit_timeout: float | None = None,
    ) -> str:
        if terminator and first_digit == terminator:
            return ""
        digits = first_digit
        wait = timeout if not digits else (inter_digit_timeout or timeout)
        while len(digits) < max_digits:
            event = await self._next_digit(wait)
            if event is None or event.digit == terminator:
                break
            digits += event.digit
            wait = inter_digit_timeout or timeout
        return digits

    async def record(
        self, path: Path, *, max_seconds: float, silence_seconds: float, beep: bool = True
    ) -> Recording:
        if beep:
            await self._play_clips([tone_for("beep")], "")
        recorder = MessageRecorder(path, max_seconds=max_seconds, silence_seconds=silence_seconds)
        done: asyncio.Future[str] = asyncio.get_running_loop().create_future()

        def hear(frame: Pcm) -> None:
            if not done.done() and recorder.feed(frame):
                done.set_result(recorder.reason.value if recorder.reason else "max_length")

        self._audio_listeners.append(hear)
        try:
            ended_by = await self._until(done, self._digit_for_recorder(recorder, done))
        finally:
            self._audio_listeners.remove(hear)
            recorder.close()
        return Recording(path, recorder.duration, ended_by)

    async def music_on_hold(self, music_class: str = "default") -> None:
        endpoint = self._endpoint()
        music = await asyncio.to_thread(self.media.music.get, music_class, self.tenant)
        listener = music.listener(self.media.clock)
        endpoint.source = listener
        try:
            await self._until_hung_up()
        finally:
            if endpoint.source is listener:  # cancelled: the call goes on without music
                endpoint.source = None

    async def join_conference(
        self,
        room: str,
        *,
        muted: bool = False,
        moderator: bool = False,
        max_members: int | None = None,
        join_tones: bool = True,
        muted_until_moderator: bool = False,
        record: Path | None = None,
    ) -> None:
        endpoint = self._endpoint()
        settings = RoomSettings(max_members, join_tones, muted_until_moderator)
        try:
            member = self.media.rooms.join(
                self.tenant,
                room,
                self.side.call_id,
                muted=muted,
                moderator=moderator,
                settings=settings,
                record=record,
            )
        except MediaRoomFull as full:
            raise RoomFull(str(full)) from full
        while not self._digits.empty():
            self._digits.get_nowait()  # keys typed before (a PIN's leftovers) are not the room's
        self._audio_listeners.append(member.hear)
        endpoint.source = member
        try:
            # Keys pressed in the room drive it (mute self, moderator mutes the others); like
            # every verb this ends with CallerHungUp when the call ends.
            while True:
                event = await self._next_digit(3600.0)
                action = member.key(event.digit) if event is not None else None
                if event is not None and action is not None:
                    self.note(node="conference", room=room, key=event.digit, action=action.value)
        finally:
            self._audio_listeners.remove(member.hear)
            if endpoint.source is member:
                endpoint.source = None
            self.media.rooms.leave(self.tenant, room, self.side.call_id)

    async def echo(self) -> None:
        endpoint = self._endpoint()
        echo = _Echo()
        self._audio_listeners.append(echo.hear)
        endpoint.source = echo
        try:
            await self._until_hung_up()
        finally:
            self._audio_listeners.remove(echo.hear)
            if endpoint.source is echo:
                endpoint.source = None

    def note(self, **fields: Any) -> None:
        self.side.trace.append(fields)

    # ---- internals ---------------------------------------------------------------------------

    def _endpoint(self) -> MediaEndpoint:
        if self.endpoint is None:
            raise RuntimeError("answer() the call before sending it media")
        return self.endpoint

    def _clip(self, item: Playable) -> Pcm:
        if isinstance(item, str):
            return self.media.prompts.get(item, self.language, tenant=self.tenant)
        if isinstance(item, Path):
            return WavFile.load(item)
        return item

    async def _play_clips(self, clips: list[Pcm | AudioSource], interrupt_on: str) -> str:
        """Play to the end, or until a key of ``interrupt_on`` (barge-in). Keys pressed during
        a prompt that cannot be interrupted stay queued for the next collect (type-ahead)."""
        endpoint = self._endpoint()
        player = Player(clips)
        finished: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        watched = _Watched(player, finished)
        endpoint.source = watched
        ended = asyncio.ensure_future(self._ended.wait())
        key: asyncio.Future[DtmfReceived] | None = None
        try:
            while True:
                waiters: set[asyncio.Future[Any]] = {finished, ended}
                key = asyncio.ensure_future(self._digits.get()) if interrupt_on else None
                if key is not None:
                    waiters.add(key)
                done, _ = await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
                if ended in done:
                    raise CallerHungUp()
                if key is not None and key in done:
                    if key.result().digit in interrupt_on:
                        return key.result().digit
                    if not finished.done():
                        continue  # a key that does not interrupt this prompt
                return ""
        finally:
            # A getter left pending would swallow the next key (e.g. when the feature's
            # task is cancelled): cancelling it leaves the key in the queue.
            if key is not None:
                key.cancel()
            ended.cancel()
            player.stop()
            if endpoint.source is watched:
                endpoint.source = None

    async def _next_digit(self, timeout: float) -> DtmfReceived | None:
        getter = asyncio.ensure_future(self._digits.get())
        ended = asyncio.ensure_future(self._ended.wait())
        try:
            done, _ = await asyncio.wait(
                {getter, ended}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            getter.cancel()  # no-op once done; else the key stays queued
            ended.cancel()
        if getter in done:
            return getter.result()
        if ended in done:
            raise CallerHungUp()
        return None

    def _digit_for_recorder(
        self, recorder: MessageRecorder, done: asyncio.Future[str]
    ) -> Coroutine[Any, Any, None]:
        async def watch() -> None:
            while not done.done():
                event = await self._digits.get()
                tone_ms = event.duration_ms if event.method == "inband" else 0
                if recorder.dtmf(event.digit, tone_ms=tone_ms) and not done.done():
                    done.set_result("dtmf")

        return watch()

    async def _until(self, done: asyncio.Future[str], helper: Coroutine[Any, Any, None]) -> str:
        task = asyncio.ensure_future(helper)
        ended = asyncio.ensure_future(self._ended.wait())
        waiters: set[asyncio.Future[Any]] = {done, ended}
        try:
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            task.cancel()
            ended.cancel()
        if done.done():
            return done.result()
        return "hangup"

    async def _wait(self, event: asyncio.Event, timeout: float | None) -> None:
        """Until ``event`` is set; CallerHungUp if the call ends first (or on timeout)."""
        ended = asyncio.ensure_future(self._ended.wait())
        waited = asyncio.ensure_future(event.wait())
        try:
            done, _ = await asyncio.wait(
                {ended, waited}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            ended.cancel()
            waited.cancel()
        if waited not in done or self._ended.is_set():
            raise CallerHungUp()

    async def _until_hung_up(self) -> None:
        """The verbs that last as long as the call: they end by the caller going away, and
        say so like every other verb (CallerHungUp), so features unwind the same way."""
        await self._ended.wait()
        raise CallerHungUp()

    def _audio(self, frame: Pcm) -> None:
        if self.detect_inband:
            for event in self._inband.feed(frame):
                self._dtmf(event)
        for listener in list(self._audio_listeners):
            listener(frame)

    def _dtmf(self, event: DtmfReceived) -> None:
        if self._dedup.accept(event, self.media.clock()):
            if self.on_key is not None:  # bridged: the key is passed on, not collected
                self.on_key(event)
                return
            self.note(node="dtmf", digit=event.digit, method=event.method)
            self._digits.put_nowait(event)


def info_key(request: Request) -> tuple[int, DtmfReceived | None]:
    """The key press a mid-call INFO carries (RFC 6086, application/dtmf-relay or
    application/dtmf), with the status to answer it with."""
    try:
        content_type = request.content_type or ""
    except SipParseError:
        return 400, None  # a malformed Content-Type (RFC 3261 §21.4.1)
    if not request.body:
        return 200, None  # an empty INFO is a keep-alive of sorts (RFC 6086 §4.2.1)
    if content_type not in INFO_CONTENT_TYPES:
        return 415, None
    event = parse_info_body(content_type, request.body)
    return (400, None) if event is None else (200, event)


class LiveCall(MediaCall):
    """A call the PBX answers itself: a CallContext for features, an AppCallListener for SIP."""

    def __init__(self, call: AppCall, apps: AppCalls, drive: Driver, media: MediaServices) -> None:
        target = call.target
        super().__init__(
            InboundSide(call, apps, media.media_ip),
            drive,
            media,
            caller=target.caller.number,
            caller_name=target.caller.name,
            tenant=target.tenant_name,
            service=target.service,
        )
        self.call = call
        self.apps = apps
        call.listener = self


class _Watched:
    """An audio source that resolves a future when it runs out."""

    def __init__(self, source: AudioSource, finished: asyncio.Future[None]) -> None:
        self.source = source
        self.finished = finished

    def read(self, samples: int = FRAME_SAMPLES) -> Pcm | None:
        frame = self.source.read(samples)
        if frame is None and not self.finished.done():
            self.finished.set_result(None)
        return frame


class _Echo:
    """The caller's own audio, one frame later."""

    def __init__(self) -> None:
        self.frames: list[Pcm] = []

    def hear(self, frame: Pcm) -> None:
        if len(self.frames) < 10:  # bounded: a stalled sender must not grow memory
            self.frames.append(frame)

    def read(self, samples: int = FRAME_SAMPLES) -> Pcm | None:
        # Never None: to the endpoint None means "finished" and it would drop the echo the
        # first time the caller's audio is late (or before it has started).
        return self.frames.pop(0) if self.frames else silence(samples)


async def run_service(live: LiveCall, service: Service) -> None:
    """Run a built-in service to its end; a caller hanging up is a normal end."""
    features: dict[str, Callable[[], Coroutine[Any, Any, None]]] = {
        "echo": lambda: echo_test(live),
        "keypad": lambda: keypad_test(live),
        "conference": lambda: conference_room(live, service.argument),
    }
    try:
        await features[service.kind]()
    except CallerHungUp:
        pass
    except Exception:
        log.exception("service failed", extra={"call_id": live.call.call_id})
        with contextlib.suppress(Exception):
            await live.hangup()
    finally:
        if not live._ended.is_set():
            await live.hangup()
