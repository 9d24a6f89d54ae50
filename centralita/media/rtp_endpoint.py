"""The terminating RTP endpoint: the PBX itself as one end of a call's audio.

Theory of operation. When Centralita answers a call (IVR, voicemail, conference, music on
hold) its audio starts and ends here. Every 20 ms ``tick(now)``:

- send: one frame from ``source`` (silence when there is none or it has finished), encoded with
  the negotiated codec, in an RTP packet with our SSRC, the next sequence number and a
  timestamp that advances by one frame's worth of the codec's clock (RFC 3550 §5.1; random
  initial values). The marker bit starts each talkspurt: the first packet, and the first audio
  after a DTMF event (RFC 3551 §4.1). While an RFC 4733 key press is being sent it replaces
  the audio (§2.5.1), on ``dtmf.Rfc4733Sender``'s schedule: a first packet with the marker,
  updates every 50 ms, three end packets, all with the timestamp of the tick the key went
  down; the audio timeline keeps running meanwhile, so the audio resumes with a timestamp
  that covers the key press (``rtp.OutgoingStream``).
- receive: packets that arrived since the last tick have been verified (SRTP), admitted by the
  symmetric-RTP latch (``latching.Latch``: RFC 4961, RFC 7362), counted for reception reports
  (RFC 3550 A.1/A.3/A.8), decoded and queued in the jitter buffer (``jitter.JitterBuffer``);
  the tick plays one 20 ms frame out of it to ``on_audio`` (silence when nothing is due).
  RFC 4733 events go through ``dtmf.Rfc4733Receiver`` to ``on_dtmf``.
- RTCP (RFC 3550 §6) on the port above: an SR while we send (we always do), with a report
  block about the peer, plus SDES CNAME, at a randomised interval around 5 s (§6.2, §6.3.1),
  and a BYE when closed (§6.6). The peer's reports give the round-trip time (§6.4.1).
- inactivity: no RTP for ``inactivity_timeout`` seconds calls ``on_inactive`` once, except on
  hold, as the relay's ``RelaySession`` does.

The per-tick work, ``datagram_received`` and ``rtcp_received`` take ``now`` and are what tests
drive with a fake clock; the asyncio part is only the socket readers and a drift-free timer.

Use of aiortp (0.8.0, pinned). We use its packet layer (RTP parse/serialise, compound RTCP
SR/RR/SDES/BYE) through ``centralita.media.rtp``. We do not use ``aiortp.RTPSession``, for
concrete reasons: it binds its own sockets from a local address (our ports come bound from
``RtpPortPool``, shared with the relay); its transport sends straight to the socket, so there
is no place for SRTP protect/unprotect; its latching follows any source at once (the RTP-bleed
hijack our ``Latch`` prevents); its ``DtmfSender`` sends a whole digit in one burst instead of
paced updates and sets the marker on the first *end* packet instead of the first packet
(RFC 4733 §2.5.1.2); its jitter buffer emits frames when packets arrive, not on a clock; its
statistics and RTCP timing read ``time.monotonic()`` themselves (no fake clock); and its
``MediaClock.stop()`` is a coroutine while ``close()`` here must be synchronous. So the
session logic is ours, on plain asyncio UDP, with the jitter buffer, codecs and DTMF receiver
of this package.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Callable
from typing import TypeVar

import numpy as np

from centralita.media.audio import FRAME_MS, FRAME_SAMPLES, Pcm, silence
from centralita.media.codecs_base import Codec, CodecError
from centralita.media.dtmf import Rfc4733Receiver, Rfc4733Sender
from centralita.media.endpoint import Clock
from centralita.media.events import DtmfReceived
from centralita.media.jitter import JitterBuffer
from centralita.media.latching import (
    RELATCH_AFTER,
    RTCP_MIN_LENGTH,
    RTCP_RELATCH_AFTER,
    RTP_MIN_LENGTH,
    Latch,
    SockAddr,
    looks_like_rtp,
)
from centralita.media.player import AudioSource
from centralita.media.ports import PortPair
from centralita.media.rtp import (
    OutgoingStream,
    ReceptionStats,
    RtcpCompound,
    RtcpReporter,
    RtpPacket,
    RtpParseError,
)
from centralita.media.session import DEFAULT_INACTIVITY_TIMEOUT
from centralita.media.socket_pair import SocketPairEndpoint, receive_datagram, send_datagram
from centralita.media.srtp import SrtpContext, SrtpError, SrtpParams
from centralita.media.stats import StreamStats

logger = logging.getLogger(__name__)

TICK = FRAME_MS / 1000
# RFC 3550 §6.2: 5 s minimum report interval; the first report comes after half of it.
RTCP_INTERVAL = 5.0
# The timer runs missed ticks (a stalled loop) up to this many, then skips ahead.
MAX_CATCH_UP = 5
# RFC 3389 comfort noise (static payload type 13): accepted, played as silence.
COMFORT_NOISE_PT = 13

AudioCallback = Callable[[Pcm], None]
DtmfCallback = Callable[[DtmfReceived], None]
_Parsed = TypeVar("_Parsed", RtpPacket, RtcpCompound)


class DtmfUnavailable(RuntimeError):
    """``send_dtmf`` on a stream without a negotiated telephone-event payload type."""


class MediaEndpoint(SocketPairEndpoint):
    """One call's terminating audio stream on a ``PortPair`` (RTP, and RTCP one port up).

    Set ``source``, ``on_audio``, ``on_dtmf`` (and ``on_inactive``) at any time; ``start``
    begins sending and receiving; ``close`` ends it and gives the ports back.
    """

    def __init__(
        self,
        ports: PortPair,
        *,
        clock: Clock = time.monotonic,
        wallclock: Clock = time.time,
        run_clock: bool = True,
        inactivity_timeout: float = DEFAULT_INACTIVITY_TIMEOUT,
        rtcp_interval: float = RTCP_INTERVAL,
        relatch_after: float = RELATCH_AFTER,
        jitter_factory: Callable[[int], JitterBuffer] | None = None,
        name: str = "",
    ) -> None:
        super().__init__(ports, Latch(relatch_after), Latch(RTCP_RELATCH_AFTER), name)
        self.source: AudioSource | None = None
        self.on_audio: AudioCallback | None = None
        self.on_dtmf: DtmfCallback | None = None
        self.on_inactive: Callable[[MediaEndpoint], None] | None = None
        self.on_source_finished: Callable[[AudioSource], None] | None = None
        self.on_rtcp: Callable[[RtcpCompound], None] | None = None
        self.on_rtp: Callable[[RtpPacket], None] | None = None  # every admitted packet
        self.inactivity_timeout = inactivity_timeout
        self.rtp_stats = StreamStats()  # received from the peer, as the relay counts
        self.rtcp_stats = StreamStats()
        self.srtp_rejected = 0
        self.last_rtcp: RtcpCompound | None = None
        self.ssrc = secrets.randbits(32)
        self.cname = secrets.token_urlsafe(12)  # RFC 7022 §4.2: random, per session
        self._clock = clock
        self._rtcp = RtcpReporter(
            self.ssrc, self.cname, 8000, interval=rtcp_interval, wallclock=wallclock, now=clock()
        )
        self._rtcp_interval, self._wallclock = rtcp_interval, wallclock
        self._run_clock = run_clock
        self._jitter_factory = jitter_factory or _default_jitter
        self._dtmf_receiver = Rfc4733Receiver()
        self._codec: Codec | None = None
        self._payload_type = 0
        self._event_pt: int | None = None
        self._srtp: SrtpContext | None = None
        self._out = OutgoingStream(self.ssrc, 0, None, 8000)
        # Receiving state.
        self._remote_ssrc: int | None = None
        self._reception: ReceptionStats | None = None
        self._jitter: JitterBuffer | None = None
        self._playout = np.zeros(0, dtype=np.int16)
        # Lifecycle.
        self._since = clock()
        self._on_hold = False
        self._inactive_reported = False
        self._timer: asyncio.TimerHandle | None = None
        self._deadline = 0.0
        self._started = False

    # ------------------------------------------------------------------ properties

    @property
    def remote_ssrc(self) -> int | None:
        return self._remote_ssrc

    @property
    def reception(self) -> ReceptionStats | None:
        return self._reception

    @property
    def packets_sent(self) -> int:
        return self._rtcp.packets_sent

    @property
    def octets_sent(self) -> int:
        """Payload octets sent (RFC 3550 §6.4.1 counts no headers)."""
        return self._rtcp.octets_sent

    @property
    def round_trip_time(self) -> float | None:
        """Seconds, from the peer's last report about us (RFC 3550 §6.4.1); None before."""
        return self._rtcp.round_trip_time

    @property
    def codec(self) -> Codec | None:
        return self._codec

    @property
    def started(self) -> bool:
        return self._started

    @property
    def on_hold(self) -> bool:
        return self._on_hold

    # ------------------------------------------------------------------ commands

    def start(
        self,
        remote: tuple[str, int],
        codec: Codec,
        telephone_event_pt: int | None = None,
        srtp: SrtpParams | None = None,
        *,
        payload_type: int | None = None,
        rtcp: tuple[str, int] | None = None,
    ) -> None:
        """Begin the stream towards ``remote`` (the SDP's RTP address) with ``codec``.

        ``payload_type`` is the negotiated one (defaults to the codec's static type);
        ``rtcp`` is the ``a=rtcp`` address (RFC 3605), else the RTP port + 1. Call it from
        the running event loop: it registers the socket readers and (``run_clock``) the
        20 ms timer.
        """
        if self._started:
            raise RuntimeError(f"{self!r} already started")
        pt = codec.payload_type if payload_type is None else payload_type
        if pt is None:
            raise ValueError(f"codec {codec.name} has a dynamic payload type: pass payload_type")
        self._codec, self._payload_type, self._event_pt = codec, pt, telephone_event_pt
        self._out = OutgoingStream(self.ssrc, pt, telephone_event_pt, codec.clock_rate)
        self._srtp = SrtpContext(srtp) if srtp is not None else None
        # RFC 4733 §2.1: telephone-event uses the audio codec's RTP clock rate.
        self._dtmf_receiver = Rfc4733Receiver(clock_rate=codec.clock_rate)
        self.update_remote(remote, rtcp)
        now = self._clock()
        self._since = now
        self._rtcp = RtcpReporter(
            self.ssrc,
            self.cname,
            codec.clock_rate,
            interval=self._rtcp_interval,
            wallclock=self._wallclock,
            now=now,
        )
        self._started = True
        self._attach()

    def update_remote(self, remote: tuple[str, int], rtcp: tuple[str, int] | None = None) -> None:
        """The peer's address from a new SDP (re-INVITE); port 0 / ``0.0.0.0`` stops sending."""
        self._announce_remote(remote, rtcp)

    def send_dtmf(self, digit: str, duration_ms: int = 100) -> None:
        """Queue an RFC 4733 key press; it starts on the next tick, after any queued ones.
        Raises ``DtmfUnavailable`` without a negotiated telephone-event, ``ValueError`` for
        a bad digit or a duration under 20 ms."""
        if self._event_pt is None:
            raise DtmfUnavailable("no telephone-event payload type negotiated")
        clock_rate = self._codec.clock_rate if self._codec is not None else 8000
        # Rfc4733Sender validates the digit and the duration (ValueError).
        packets = Rfc4733Sender(digit, duration_ms, clock_rate).packets()
        self._out.queue_event(packets)

    def set_hold(self, on_hold: bool) -> None:
        """Suspend (``True``) or resume the inactivity check, as ``RelaySession.set_hold``."""
        if self._on_hold and not on_hold:
            self._since = self._clock()
            self._inactive_reported = False
        self._on_hold = on_hold

    def close(self) -> None:
        """Send an RTCP BYE (RFC 3550 §6.6), stop, and give the ports back; idempotent."""
        if self._ports.closed:
            return
        if self._started:
            self._send_report(self._clock(), bye=True)
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._release()

    # ------------------------------------------------------------------ the clock

    def tick(self, now: float) -> None:
        """One 20 ms step: send a packet, play a frame, report and watch when due."""
        if not self._started or self._ports.closed:
            return
        self._send_tick(now)
        self._play_tick(now)
        # A key press whose end packets were all lost is reported after a timeout.
        self._deliver_dtmf(self._dtmf_receiver.handle_timer(now))
        if self._rtcp.due(now):
            self._send_report(now)
        self.check_inactivity(now)

    def check_inactivity(self, now: float) -> bool:
        """Report through ``on_inactive`` if RTP has stopped; True when it reported now."""
        if self._on_hold or not self._started:
            return False
        last = self._since
        if self.rtp_stats.last_packet_at is not None:
            last = max(last, self.rtp_stats.last_packet_at)
        if now - last < self.inactivity_timeout:
            self._inactive_reported = False
            return False
        if self._inactive_reported:
            return False
        self._inactive_reported = True
        if self.on_inactive is not None:
            self.on_inactive(self)
        return True

    # ------------------------------------------------------------------ sending

    def _send_tick(self, now: float) -> None:
        codec = self._codec
        assert codec is not None
        destination = self._rtp_latch.destination
        packets = self._out.tick(
            lambda: codec.encode(self._next_frame()), sending=destination is not None
        )
        for packet in packets:
            assert destination is not None
            data = bytes(packet)
            if self._srtp is not None:
                data = self._srtp.protect(data)
            if send_datagram(self._ports.rtp, data, destination):
                self._rtcp.sent(len(packet.payload), packet.timestamp, now)

    def _next_frame(self) -> Pcm:
        source = self.source
        frame = source.read(FRAME_SAMPLES) if source is not None else None
        if frame is None:
            if source is not None:
                self.source = None
                if self.on_source_finished is not None:
                    self.on_source_finished(source)
            return silence(FRAME_SAMPLES)
        if len(frame) < FRAME_SAMPLES:
            frame = np.concatenate([frame, silence(FRAME_SAMPLES - len(frame))])
        return frame[:FRAME_SAMPLES]

    # ------------------------------------------------------------------ receiving

    def datagram_received(self, data: bytes, source: SockAddr, now: float) -> None:
        """An RTP-port datagram from ``source`` (sans-I/O entry point of the reader)."""
        packet = self._admit(data, source, now, RtpPacket.parse, rtcp=False)
        if packet is not None:
            self._receive_packet(packet, now)

    def _admit(
        self,
        data: bytes,
        source: SockAddr,
        now: float,
        parse: Callable[[bytes], _Parsed],
        *,
        rtcp: bool,
    ) -> _Parsed | None:
        """Check, verify (SRTP/SRTCP, RFC 3711 §3.3, §3.4), parse and latch one datagram,
        counting it in the port's statistics; None when it is dropped."""
        if rtcp:
            stats, latch, min_length = self.rtcp_stats, self._rtcp_latch, RTCP_MIN_LENGTH
        else:
            stats, latch, min_length = self.rtp_stats, self._rtp_latch, RTP_MIN_LENGTH
        if not (self._started and data and looks_like_rtp(data[0], len(data), min_length)):
            stats.dropped_invalid += 1
            return None
        try:
            if self._srtp is not None:
                data = self._srtp.unprotect_rtcp(data) if rtcp else self._srtp.unprotect(data)
            parsed = parse(data)
        except SrtpError:
            self.srtp_rejected += 1
            stats.dropped_invalid += 1
            return None
        except RtpParseError:
            stats.dropped_invalid += 1
            return None
        if not latch.admit(source, now):
            stats.dropped_source += 1
            return None
        stats.packets += 1
        stats.bytes += len(data)
        stats.last_packet_at = now
        return parsed

    def _receive_packet(self, packet: RtpPacket, now: float) -> None:
        assert self._codec is not None
        if packet.ssrc != self._remote_ssrc:
            self._new_remote_source(packet.ssrc)
        assert self._reception is not None and self._jitter is not None
        self._reception.update(packet.sequence, packet.timestamp, now)
        if self.on_rtp is not None:
            self.on_rtp(packet)
        if packet.payload_type == self._event_pt:
            events = self._dtmf_receiver.receive(
                packet.payload, packet.timestamp, packet.marker, now
            )
            self._deliver_dtmf(events)
        elif packet.payload_type == self._payload_type:
            try:
                frame = self._codec.decode(packet.payload)
            except CodecError:
                self.rtp_stats.dropped_invalid += 1
                return
            self._jitter.push(packet.sequence, packet.timestamp, frame, now)
        elif packet.payload_type != COMFORT_NOISE_PT:
            self.rtp_stats.dropped_invalid += 1  # a payload type the SDP did not agree

    def _deliver_dtmf(self, events: list[DtmfReceived]) -> None:
        if self.on_dtmf is not None:
            for event in events:
                self.on_dtmf(event)

    def _new_remote_source(self, ssrc: int) -> None:
        # A new SSRC is a new stream (a re-INVITE to another device, RFC 3550 §8.2): fresh
        # statistics, jitter buffer and decoder state.
        assert self._codec is not None
        if self._remote_ssrc is not None:
            logger.debug("%s: remote SSRC %08x -> %08x", self.name, self._remote_ssrc, ssrc)
            self._codec.reset()
        self._remote_ssrc = ssrc
        self._reception = ReceptionStats(self._codec.clock_rate)
        self._jitter = self._jitter_factory(self._codec.clock_rate)
        self._playout = np.zeros(0, dtype=np.int16)
        self._rtcp.listen(ssrc, self._reception)

    def _play_tick(self, now: float) -> None:
        frame = self._pull_frame(now)  # also without a listener, so the buffer stays current
        if self.on_audio is not None:
            self.on_audio(frame)

    def _pull_frame(self, now: float) -> Pcm:
        # The jitter buffer yields one packet's audio per pop; packets of 10 or 30 ms are
        # re-cut into 20 ms frames here.
        jitter = self._jitter
        pops = 0
        while jitter is not None and len(self._playout) < FRAME_SAMPLES and pops < 4:
            pops += 1
            piece = jitter.pop(now)
            if piece is None:
                break
            self._playout = np.concatenate([self._playout, piece])
        if len(self._playout) < FRAME_SAMPLES:
            self._playout = np.zeros(0, dtype=np.int16)
            return silence(FRAME_SAMPLES)
        frame, self._playout = self._playout[:FRAME_SAMPLES], self._playout[FRAME_SAMPLES:]
        return frame

    # ------------------------------------------------------------------ RTCP

    def rtcp_received(self, data: bytes, source: SockAddr, now: float) -> None:
        """An RTCP-port datagram from ``source`` (sans-I/O entry point of the reader)."""
        compound = self._admit(data, source, now, RtcpCompound.parse, rtcp=True)
        if compound is None:
            return
        self._rtcp.received(compound, now)
        self.last_rtcp = compound
        if self.on_rtcp is not None:
            self.on_rtcp(compound)

    def _send_report(self, now: float, *, bye: bool = False) -> None:
        data = self._rtcp.report(now, bye=bye)
        destination = self._rtcp_latch.destination
        if destination is None:
            return
        if self._srtp is not None:
            data = self._srtp.protect_rtcp(data)
        send_datagram(self._ports.rtcp, data, destination)

    # ------------------------------------------------------------------ asyncio driver

    def _attach(self) -> None:
        loop = asyncio.get_running_loop()
        self._add_readers(loop, self._on_rtp_readable, self._on_rtcp_readable)
        if not self._run_clock:
            return  # the owner calls tick(now) itself (tests with a fake clock)
        self._deadline = loop.time() + TICK
        self._timer = loop.call_at(self._deadline, self._on_timer)

    def _on_timer(self) -> None:
        loop = self._loop
        if loop is None:
            return
        behind = int((loop.time() - self._deadline) / TICK)
        if behind > MAX_CATCH_UP:
            # The loop stalled: skip the lost time instead of bursting it out.
            skipped = behind - MAX_CATCH_UP
            self._out.skip(skipped)
            self._deadline += skipped * TICK
            behind = MAX_CATCH_UP
        for _ in range(behind + 1):
            try:
                self.tick(self._clock())
            except Exception:  # a failing source or callback must not stop the clock
                logger.exception("%s: media tick failed", self.name)
            self._deadline += TICK
        if self._loop is not None:
            self._timer = loop.call_at(self._deadline, self._on_timer)

    def _on_rtp_readable(self) -> None:
        received = receive_datagram(self._ports.rtp)
        if received is not None:
            self.datagram_received(*received, self._clock())

    def _on_rtcp_readable(self) -> None:
        received = receive_datagram(self._ports.rtcp)
        if received is not None:
            self.rtcp_received(*received, self._clock())


def _default_jitter(clock_rate: int) -> JitterBuffer:
    return JitterBuffer(clock_rate=clock_rate, ptime=TICK)
