"""RTP and RTCP packets, reception statistics and RTCP reporting for the terminating endpoint.

This module is our own small interface over the ``aiortp`` library's packet layer
(``aiortp.packet``, aiortp 0.8.0, pinned): its parsers handle the CSRC list, header extensions,
padding and compound RTCP (RFC 3550 §5.1, §5.3.1, §6.4) and are well exercised, so we use them
rather than write our own; the rest of Centralita sees only the frozen dataclasses below, so
aiortp can be replaced by touching this file alone.

Not taken from aiortp: its ``StreamStatistics`` reads ``time.monotonic()`` itself (no fake
clock) and its ``fraction_lost`` property changes state when read; ``ReceptionStats`` below
follows RFC 3550 Appendix A.1/A.3/A.8 with time passed in as ``now``.
"""

from __future__ import annotations

import random
import secrets
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from aiortp.packet import (
    RtcpByePacket,
    RtcpPacket,
    RtcpReceiverInfo,
    RtcpRrPacket,
    RtcpSdesPacket,
    RtcpSenderInfo,
    RtcpSourceInfo,
    RtcpSrPacket,
)
from aiortp.packet import RtpPacket as _AiortpRtpPacket

from centralita.media.audio import FRAME_MS
from centralita.media.dtmf import EventPacket

# RFC 3550 §6.5: SDES item type 1 is the canonical name (CNAME).
SDES_CNAME = 1
# RFC 3550 §4: NTP time counts seconds from 1900-01-01; Unix time from 1970-01-01.
_NTP_UNIX_OFFSET = 2_208_988_800
# RFC 3550 Appendix A.1 defaults.
MAX_DROPOUT = 3000
MAX_MISORDER = 100
_SEQ_MOD = 1 << 16


class RtpParseError(ValueError):
    """Not a well-formed RTP or RTCP packet."""


@dataclass(frozen=True, slots=True)
class RtpPacket:
    """The fields of an RTP packet the endpoint uses (RFC 3550 §5.1).

    Parsing accepts (and drops) CSRCs, header extensions and padding; ``bytes()`` writes the
    12-octet fixed header and the payload.
    """

    payload_type: int
    sequence: int
    timestamp: int
    ssrc: int
    payload: bytes
    marker: bool = False

    @classmethod
    def parse(cls, data: bytes) -> RtpPacket:
        try:
            packet = _AiortpRtpPacket.parse(data)
        except ValueError as exc:
            raise RtpParseError(str(exc)) from None
        return cls(
            payload_type=packet.payload_type,
            sequence=packet.sequence_number,
            timestamp=packet.timestamp,
            ssrc=packet.ssrc,
            payload=bytes(packet.payload),
            marker=bool(packet.marker),
        )

    def __bytes__(self) -> bytes:
        return _AiortpRtpPacket(
            payload_type=self.payload_type,
            marker=int(self.marker),
            sequence_number=self.sequence,
            timestamp=self.timestamp,
            ssrc=self.ssrc,
            payload=self.payload,
        ).serialize()


@dataclass(frozen=True, slots=True)
class SenderInfo:
    """The sender information of an SR (RFC 3550 §6.4.1)."""

    ntp_timestamp: int  # 64-bit NTP format
    rtp_timestamp: int
    packet_count: int
    octet_count: int  # payload octets only


@dataclass(frozen=True, slots=True)
class ReportBlock:
    """One reception report block (RFC 3550 §6.4.1), about the source ``ssrc``."""

    ssrc: int
    fraction_lost: int  # fixed point, lost / expected * 256 since the previous report
    cumulative_lost: int
    highest_sequence: int  # extended: cycles << 16 | highest sequence number
    jitter: int  # RTP timestamp units
    lsr: int = 0  # middle 32 bits of the last SR's NTP timestamp
    dlsr: int = 0  # delay since that SR, in 1/65536 s


@dataclass(frozen=True, slots=True)
class RtcpReport:
    """An SR (``sender`` set) or an RR from ``ssrc``, with its report blocks."""

    ssrc: int
    sender: SenderInfo | None = None
    blocks: tuple[ReportBlock, ...] = ()


@dataclass(frozen=True, slots=True)
class RtcpCompound:
    """What a compound RTCP packet said (RFC 3550 §6.1): reports, CNAMEs, BYEs."""

    reports: tuple[RtcpReport, ...] = ()
    cnames: dict[int, str] = field(default_factory=dict)
    bye: tuple[int, ...] = ()

    @classmethod
    def parse(cls, data: bytes) -> RtcpCompound:
        """Parse a compound packet; packet types other than SR/RR/SDES/BYE are skipped."""
        try:
            packets = RtcpPacket.parse(data)
        except (ValueError, IndexError) as exc:
            raise RtpParseError(f"malformed RTCP: {exc}") from None
        reports: list[RtcpReport] = []
        cnames: dict[int, str] = {}
        bye: list[int] = []
        for packet in packets:
            if isinstance(packet, RtcpSrPacket):
                info = packet.sender_info
                sender = SenderInfo(
                    info.ntp_timestamp, info.rtp_timestamp, info.packet_count, info.octet_count
                )
                reports.append(RtcpReport(packet.ssrc, sender, _blocks(packet.reports)))
            elif isinstance(packet, RtcpRrPacket):
                reports.append(RtcpReport(packet.ssrc, None, _blocks(packet.reports)))
            elif isinstance(packet, RtcpSdesPacket):
                cnames.update(_cnames(packet))
            elif isinstance(packet, RtcpByePacket):
                bye.extend(packet.sources)
        return cls(tuple(reports), cnames, tuple(bye))


def _blocks(infos: list[RtcpReceiverInfo]) -> tuple[ReportBlock, ...]:
    return tuple(
        ReportBlock(
            info.ssrc,
            info.fraction_lost,
            info.packets_lost,
            info.highest_sequence,
            info.jitter,
            info.lsr,
            info.dlsr,
        )
        for info in infos
    )


def _cnames(packet: RtcpSdesPacket) -> dict[int, str]:
    names: dict[int, str] = {}
    for chunk in packet.chunks:
        for item_type, value in chunk.items:
            if item_type == SDES_CNAME:
                names[chunk.ssrc] = value.decode("utf-8", "replace")
    return names


def build_rtcp(report: RtcpReport, cname: str, *, bye: bool = False) -> bytes:
    """A compound RTCP packet: SR or RR first, then SDES with the CNAME (RFC 3550 §6.1: both
    are mandatory in every compound packet), then BYE when leaving (§6.6)."""
    blocks = [
        RtcpReceiverInfo(
            ssrc=b.ssrc,
            fraction_lost=b.fraction_lost,
            packets_lost=b.cumulative_lost,
            highest_sequence=b.highest_sequence,
            jitter=b.jitter,
            lsr=b.lsr,
            dlsr=b.dlsr,
        )
        for b in report.blocks
    ]
    first: RtcpSrPacket | RtcpRrPacket
    if report.sender is not None:
        info = report.sender
        sender_info = RtcpSenderInfo(
            ntp_timestamp=info.ntp_timestamp,
            rtp_timestamp=info.rtp_timestamp,
            packet_count=info.packet_count,
            octet_count=info.octet_count,
        )
        first = RtcpSrPacket(ssrc=report.ssrc, sender_info=sender_info, reports=blocks)
    else:
        first = RtcpRrPacket(ssrc=report.ssrc, reports=blocks)
    sdes = RtcpSdesPacket(
        chunks=[RtcpSourceInfo(ssrc=report.ssrc, items=[(SDES_CNAME, cname.encode("utf-8"))])]
    )
    data = bytes(first) + bytes(sdes)
    if bye:
        data += bytes(RtcpByePacket(sources=[report.ssrc]))
    return data


def ntp_timestamp(unix_time: float) -> int:
    """Wallclock time in the 64-bit NTP format of SRs (RFC 3550 §4)."""
    seconds = unix_time + _NTP_UNIX_OFFSET
    whole = int(seconds)
    fraction = int((seconds - whole) * (1 << 32)) & 0xFFFFFFFF
    return (whole << 32) | fraction


def ntp_middle(ntp: int) -> int:
    """The middle 32 bits of an NTP timestamp, as LSR carries it (RFC 3550 §6.4.1)."""
    return (ntp >> 16) & 0xFFFFFFFF


class ReceptionStats:
    """Per-source reception statistics for RR blocks (RFC 3550 Appendix A.1, A.3, A.8).

    ``update(sequence, timestamp, now)`` for every RTP packet from the source;
    ``report_block(...)`` when a report is due (it starts the next fraction-lost interval).
    """

    __slots__ = (
        "_bad_seq",
        "_base_seq",
        "_clock_rate",
        "_cycles",
        "_expected_prior",
        "_jitter",
        "_max_seq",
        "_received_prior",
        "_transit",
        "received",
    )

    def __init__(self, clock_rate: int) -> None:
        self._clock_rate = clock_rate
        self._base_seq = 0
        self._max_seq: int | None = None
        self._cycles = 0
        self._bad_seq: int | None = None
        self._transit: float | None = None
        self._jitter = 0.0
        self._expected_prior = 0
        self._received_prior = 0
        self.received = 0

    def update(self, sequence: int, timestamp: int, now: float) -> None:
        if self._max_seq is None:
            self._restart(sequence)
        else:
            self._track_sequence(sequence)
        self.received += 1
        # RFC 3550 A.8: interarrival jitter from the relative transit time, in timestamp units.
        transit = now * self._clock_rate - timestamp
        if self._transit is not None:
            delta = abs(transit - self._transit)
            self._jitter += (delta - self._jitter) / 16.0
        self._transit = transit

    def _restart(self, sequence: int) -> None:
        self._base_seq = self._max_seq = sequence
        self._cycles = 0
        self._bad_seq = None
        self.received = 0
        self._expected_prior = self._received_prior = 0

    def _track_sequence(self, sequence: int) -> None:
        # RFC 3550 A.1, without the probation of new sources (the latch vets sources).
        assert self._max_seq is not None
        delta = (sequence - self._max_seq) % _SEQ_MOD
        if 0 < delta < MAX_DROPOUT:
            if sequence < self._max_seq:
                self._cycles += _SEQ_MOD  # wrapped around
            self._max_seq = sequence
        elif delta > _SEQ_MOD - MAX_MISORDER or delta == 0:
            pass  # reordered or duplicate: counted as received only
        elif sequence == self._bad_seq:
            self._restart(sequence)  # two in a row: the sender restarted its sequence
        else:
            self._bad_seq = (sequence + 1) % _SEQ_MOD

    @property
    def extended_max(self) -> int:
        return self._cycles + (self._max_seq or 0)

    @property
    def expected(self) -> int:
        if self._max_seq is None:
            return 0
        return self.extended_max - self._base_seq + 1

    @property
    def lost(self) -> int:
        # RFC 3550 A.3: may be negative with duplicates; the field is 24-bit signed.
        return max(-(1 << 23), min(self.expected - self.received, (1 << 23) - 1))

    @property
    def jitter(self) -> int:
        return int(self._jitter)

    def report_block(self, ssrc: int, lsr: int = 0, dlsr: int = 0) -> ReportBlock:
        # RFC 3550 A.3: fraction lost over the interval since the previous report.
        expected_interval = self.expected - self._expected_prior
        received_interval = self.received - self._received_prior
        self._expected_prior, self._received_prior = self.expected, self.received
        lost_interval = expected_interval - received_interval
        fraction = 0
        if expected_interval > 0 and lost_interval > 0:
            fraction = (lost_interval << 8) // expected_interval
        return ReportBlock(ssrc, fraction, self.lost, self.extended_max, self.jitter, lsr, dlsr)


class RtcpReporter:
    """The RTCP side of one RTP session (RFC 3550 §6), sans-I/O.

    The endpoint tells it what it sent (``sent``) and which source it hears (``listen``), asks
    ``due(now)`` every tick and sends what ``report(now)`` builds; received compounds go to
    ``received`` (SR arrival for LSR/DLSR, and round-trip time from reports about us).
    ``wallclock()`` is Unix time for the NTP fields; ``now`` is the session's own clock.
    """

    def __init__(
        self,
        ssrc: int,
        cname: str,
        clock_rate: int,
        *,
        interval: float,
        wallclock: Callable[[], float],
        now: float,
    ) -> None:
        self.ssrc, self.cname, self.interval = ssrc, cname, interval
        self.packets_sent = 0
        self.octets_sent = 0  # payload octets (RFC 3550 §6.4.1)
        self.round_trip_time: float | None = None
        self._clock_rate = clock_rate
        self._wallclock = wallclock
        self._sent_since_report = 0
        self._last_sent: tuple[float, int] | None = None  # (now, RTP timestamp)
        self._source: tuple[int, ReceptionStats] | None = None
        self._last_sr: tuple[int, float] | None = None  # (NTP middle 32 bits, arrival now)
        # RFC 3550 §6.2: the first report after half the (randomised) interval.
        self._next_report = now + self._delay() / 2

    def sent(self, payload_octets: int, timestamp: int, now: float) -> None:
        self.packets_sent += 1
        self.octets_sent += payload_octets
        self._sent_since_report += 1
        self._last_sent = (now, timestamp)

    def listen(self, ssrc: int, reception: ReceptionStats) -> None:
        """The peer's (new) source and its reception statistics."""
        self._source = (ssrc, reception)
        self._last_sr = None

    def due(self, now: float) -> bool:
        return now >= self._next_report

    def report(self, now: float, *, bye: bool = False) -> bytes:
        """The compound packet to send now; schedules the next one."""
        self._next_report = now + self._delay()
        report = RtcpReport(self.ssrc, self._sender_info(now), self._blocks(now))
        self._sent_since_report = 0
        return build_rtcp(report, self.cname, bye=bye)

    def received(self, compound: RtcpCompound, now: float) -> None:
        source_ssrc = self._source[0] if self._source is not None else None
        for report in compound.reports:
            if report.sender is not None and report.ssrc == source_ssrc:
                self._last_sr = (ntp_middle(report.sender.ntp_timestamp), now)
            for block in report.blocks:
                if block.ssrc == self.ssrc and block.lsr:
                    self._measure_rtt(block)

    def _measure_rtt(self, block: ReportBlock) -> None:
        # RFC 3550 §6.4.1: RTT = arrival - LSR - DLSR, in 1/65536 s (NTP middle 32 bits).
        arrival = ntp_middle(ntp_timestamp(self._wallclock()))
        rtt = (arrival - block.lsr - block.dlsr) & 0xFFFFFFFF
        if rtt < 0x80000000:
            self.round_trip_time = rtt / 65536

    def _sender_info(self, now: float) -> SenderInfo | None:
        # RFC 3550 §6.4: an SR when we sent since the previous report, else an RR.
        if self._sent_since_report == 0 or self._last_sent is None:
            return None
        # The RTP timestamp of this instant on our media clock, matching the NTP time.
        sent_at, timestamp = self._last_sent
        rtp_now = (timestamp + round((now - sent_at) * self._clock_rate)) & 0xFFFFFFFF
        ntp = ntp_timestamp(self._wallclock())
        return SenderInfo(ntp, rtp_now, self.packets_sent, self.octets_sent)

    def _blocks(self, now: float) -> tuple[ReportBlock, ...]:
        if self._source is None:
            return ()
        ssrc, reception = self._source
        lsr = dlsr = 0
        if self._last_sr is not None:
            lsr = self._last_sr[0]
            dlsr = int((now - self._last_sr[1]) * 65536) & 0xFFFFFFFF
        return (reception.report_block(ssrc, lsr, dlsr),)

    def _delay(self) -> float:
        # RFC 3550 §6.3.1: randomised over [0.5, 1.5] times the interval, to avoid bunching.
        return self.interval * random.uniform(0.5, 1.5)


_Planned = tuple[int, bytes, int, bool]  # payload type, payload, timestamp, marker


class OutgoingStream:
    """The stream we send, sans-I/O: header state (RFC 3550 §5.1: our SSRC, random initial
    sequence number and timestamp) and the RFC 4733 key presses queued on it.

    ``tick(audio)`` is one 20 ms step: the packets to send now. The timestamp advances one
    frame every tick whatever is sent, so the audio after a key press (or after a spell with
    nowhere to send) carries the time that passed; sequence numbers advance only for packets
    really sent, so the receiver sees no loss.
    """

    __slots__ = (
        "_events",
        "_talkspurt",
        "event_payload_type",
        "frame_units",
        "payload_type",
        "sequence",
        "ssrc",
        "timestamp",
    )

    def __init__(
        self, ssrc: int, payload_type: int, event_payload_type: int | None, clock_rate: int
    ) -> None:
        self.ssrc = ssrc
        self.payload_type = payload_type
        self.event_payload_type = event_payload_type
        self.frame_units = clock_rate * FRAME_MS // 1000
        self.sequence = secrets.randbits(16)
        self.timestamp = secrets.randbits(32)
        self._talkspurt = True
        self._events: deque[_KeyPress] = deque()

    def queue_event(self, packets: list[EventPacket]) -> None:
        """A key press (``dtmf.Rfc4733Sender(...).packets()``), sent after those queued."""
        self._events.append(_KeyPress(packets))

    def skip(self, ticks: int) -> None:
        """Time passed without ticks (a stalled event loop): move the timestamp on."""
        self.timestamp = (self.timestamp + ticks * self.frame_units) & 0xFFFFFFFF

    def tick(self, audio: Callable[[], bytes], *, sending: bool = True) -> list[RtpPacket]:
        """This tick's packets; ``audio()`` gives the frame's payload (called when no key
        press is under way, also when not ``sending``, so a playing source keeps time)."""
        timestamp = self.timestamp
        self.skip(1)
        if self._events and self.event_payload_type is not None:
            planned = self._event_packets(self._events[0], timestamp)
        else:
            planned = [(self.payload_type, audio(), timestamp, self._talkspurt)]
            # RFC 3551 §4.1: the marker starts a talkspurt; we send continuously.
            self._talkspurt = False
        return [self._number(*fields) for fields in planned] if sending else []

    def _event_packets(
        self, press: _KeyPress, timestamp: int
    ) -> list[tuple[int, bytes, int, bool]]:
        # RFC 4733 §2.5.1: the audio stops while the key is down; every packet of the press
        # carries the timestamp of the tick it began on (plus a segment offset, §2.5.1.3).
        assert self.event_payload_type is not None
        if press.start_timestamp is None:
            press.start_timestamp = timestamp
        planned = [
            (
                self.event_payload_type,
                packet.payload,
                (press.start_timestamp + packet.timestamp_offset) & 0xFFFFFFFF,
                packet.marker,
            )
            for packet in press.due(FRAME_MS)
        ]
        if not press.packets:
            self._events.popleft()
            self._talkspurt = True  # the audio resumes after the event: a new talkspurt
        return planned

    def _number(self, payload_type: int, payload: bytes, timestamp: int, marker: bool) -> RtpPacket:
        packet = RtpPacket(payload_type, self.sequence, timestamp, self.ssrc, payload, marker)
        self.sequence = (self.sequence + 1) & 0xFFFF
        return packet


class _KeyPress:
    """``Rfc4733Sender``'s schedule of one key press, played out from the tick the key went
    down (each packet leaves on the first tick at or after its ``send_at_ms``)."""

    __slots__ = ("elapsed_ms", "packets", "start_timestamp")

    def __init__(self, packets: list[EventPacket]) -> None:
        self.packets = deque(packets)
        self.elapsed_ms = 0
        self.start_timestamp: int | None = None

    def due(self, tick_ms: int) -> list[EventPacket]:
        self.elapsed_ms += tick_ms
        due: list[EventPacket] = []
        while self.packets and self.packets[0].send_at_ms <= self.elapsed_ms:
            due.append(self.packets.popleft())
        return due
