"""The recording tap: both legs of a relayed call, decoded and aligned on one 20 ms timeline.

Theory of operation. The relay hands the tap every RTP packet it relays, per leg, as it arrives
(after SRTP unprotect, before any transcoding), with the arrival time. The tap decodes the
payload with that leg's negotiated codec (payload type -> rtpmap value, from the SDP; RFC 4733
telephone-event and unknown types are ignored) to 8 kHz PCM and writes it into the leg's ring
buffer at the sample position its RTP timestamp gives (RFC 3550 §5.1: the timestamp is the
sampling instant of the first octet, so consecutive packets abut and a lost packet or a pause
in transmission, RFC 3551 §4.1 silence suppression, leaves a gap of the right length). A
stream's timestamps are tied to the recording's timeline when its first packet arrives (the
arrival time fixes where it starts), and again when the SSRC changes (a new stream, RFC 3550
§8.2), when the newest packet would land in the past (the sender's clock runs slow, or it
paused without advancing its timestamp) or too far in the future (a timestamp jump).

The clock (:meth:`RecordingTap.advance`, every 20 ms) writes one frame of each leg per 20 ms
of elapsed time, a playout delay behind the present, so a packet that arrives that much late
or out of order still lands in place; what never arrived is silence. The file's length is
therefore the time the recording ran, whatever the legs sent.

Sans-I/O: time comes in as ``now`` (seconds), frames go out to a :class:`FrameSink` (the
:class:`~centralita.media.recorder.CallRecorder`); :mod:`centralita.media.recording` drives it.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from typing import Protocol

import numpy as np

from centralita.media.audio import FRAME_SAMPLES, SAMPLE_RATE, Pcm
from centralita.media.codecs import Codec, codec_for

FRAME_SECONDS = FRAME_SAMPLES / SAMPLE_RATE
PLAYOUT_DELAY = 0.08  # how late (jitter, reordering) a packet may arrive and still be placed
BUFFER_FRAMES = 100  # 2 s of ring per leg; a packet further ahead re-anchors its stream
MAX_LEAD = SAMPLE_RATE // 2  # a timestamp more than 0.5 s ahead of its arrival is a jump

_HEADER = struct.Struct("!BBHII")  # RFC 3550 §5.1: V/P/X/CC, M/PT, sequence, timestamp, SSRC
_PADDING, _EXTENSION = 0x20, 0x10
LEGS = 2  # leg 0 = A (the caller), leg 1 = B (the callee)


class FrameSink(Protocol):
    def write(self, leg_a: Pcm | None, leg_b: Pcm | None) -> None: ...


def rtp_payload(packet: bytes) -> bytes | None:
    """The payload of an RTP packet (CSRCs, header extension and padding skipped,
    RFC 3550 §5.1 and §5.3.1), or None when the packet is not RTP version 2 or is malformed."""
    length = len(packet)
    if length < 12:
        return None
    first = packet[0]
    if first >> 6 != 2:
        return None
    header = 12 + 4 * (first & 0x0F)
    if first & _EXTENSION:
        if length < header + 4:
            return None
        header += 4 + 4 * int.from_bytes(packet[header + 2 : header + 4], "big")
    end = length - (packet[-1] if first & _PADDING else 0)
    if header > end:
        return None
    return packet[header:end]


class LegTimeline:
    """One leg: its decoders per payload type and a ring of samples not yet written."""

    __slots__ = (
        "clock", "decoders", "formats", "newest", "origin_pos", "origin_ts", "ring", "ssrc"
    )  # fmt: skip

    def __init__(self, formats: Mapping[int, str] | None = None) -> None:
        self.formats: dict[int, str] = {}
        self.decoders: dict[int, Codec] = {}
        self.ring = np.zeros(BUFFER_FRAMES * FRAME_SAMPLES, dtype=np.int16)
        self.ssrc = -1
        self.clock = SAMPLE_RATE
        self.origin_ts = 0
        self.origin_pos = -1  # no origin yet: the next packet sets it
        self.newest = 0  # the latest timestamp offset placed since the origin, in samples
        self.set_formats(formats or {})

    def set_formats(self, formats: Mapping[int, str]) -> None:
        """Payload type -> rtpmap value ("PCMA/8000", "G722/8000"); decoders of unchanged
        types keep their state."""
        wanted = {pt: spec for pt, spec in formats.items() if not _is_event(spec)}
        for pt in list(self.decoders):
            if wanted.get(pt) != self.formats.get(pt):
                del self.decoders[pt]
        for pt, spec in wanted.items():
            if pt not in self.decoders:
                codec = codec_for(spec)
                if codec is not None:
                    self.decoders[pt] = codec
        self.formats = wanted

    def place(self, packet: bytes, arrival: int, read_pos: int) -> None:
        """Decode ``packet`` into the ring. ``arrival``: the timeline position (samples) now;
        ``read_pos``: the first position not yet written out."""
        if len(packet) < 12:
            return
        _first, second, _seq, timestamp, ssrc = _HEADER.unpack_from(packet)
        codec = self.decoders.get(second & 0x7F)
        payload = None if codec is None else rtp_payload(packet)
        if codec is None or payload is None or not payload:
            return
        if ssrc != self.ssrc or codec.clock_rate != self.clock:
            self._restart(ssrc, codec.clock_rate)
        try:
            pcm = codec.decode(payload)
        except ValueError:  # CodecError, or a payload too odd for the codec's arithmetic
            return
        start = max(arrival - len(pcm), read_pos)  # where it goes if it just arrived
        if self.origin_pos < 0:
            self._anchor(timestamp, start)
        offset = self._offset(timestamp)
        pos = self.origin_pos + offset
        # Only the newest packet moves the origin: an old one arriving late (reordered,
        # duplicated) past the playout delay is dropped instead.
        if (pos < read_pos and offset > self.newest) or pos > arrival + MAX_LEAD:
            self._anchor(timestamp, start)
            offset, pos = 0, start
        self.newest = max(self.newest, offset)
        self._write(pcm, pos, read_pos)

    def take(self, read_pos: int) -> Pcm:
        """The frame at ``read_pos`` (a multiple of the frame size), leaving silence behind."""
        at = read_pos % len(self.ring)
        frame = self.ring[at : at + FRAME_SAMPLES].copy()
        self.ring[at : at + FRAME_SAMPLES] = 0
        return frame

    def _restart(self, ssrc: int, clock: int) -> None:
        # A new SSRC is a new stream (RFC 3550 §8.2): fresh decoder state, new origin.
        for codec in self.decoders.values():
            codec.reset()
        self.clock = clock
        self.ssrc = ssrc
        self.origin_pos = -1

    def _anchor(self, timestamp: int, pos: int) -> None:
        self.origin_ts, self.origin_pos, self.newest = timestamp, pos, 0

    def _offset(self, timestamp: int) -> int:
        delta = (timestamp - self.origin_ts) & 0xFFFFFFFF
        if delta >= 0x80000000:  # before the origin (reordered): modular, RFC 3550 §5.1
            delta -= 0x100000000
        return delta if self.clock == SAMPLE_RATE else delta * SAMPLE_RATE // self.clock

    def _write(self, pcm: Pcm, pos: int, read_pos: int) -> None:
        if pos < read_pos:  # the part already written out is lost
            pcm = pcm[read_pos - pos :]
            pos = read_pos
        size = len(self.ring)
        limit = read_pos + size
        if pos + len(pcm) > limit:
            pcm = pcm[: max(0, limit - pos)]
        if not len(pcm):
            return
        at = pos % size
        first = min(len(pcm), size - at)
        self.ring[at : at + first] = pcm[:first]
        if first < len(pcm):
            self.ring[: len(pcm) - first] = pcm[first:]


class RecordingTap:
    """Both legs of a call to a :class:`FrameSink`, one frame pair per 20 ms since ``start``."""

    def __init__(
        self,
        sink: FrameSink,
        start: float,
        *,
        formats_a: Mapping[int, str] | None = None,
        formats_b: Mapping[int, str] | None = None,
        playout_delay: float = PLAYOUT_DELAY,
    ) -> None:
        self.sink = sink
        self.start = start
        self.playout_delay = playout_delay
        self.legs = (LegTimeline(formats_a), LegTimeline(formats_b))
        self.frames_written = 0
        self.packets = 0

    @property
    def duration(self) -> float:
        return self.frames_written * FRAME_SECONDS

    def set_formats(self, leg: int, formats: Mapping[int, str]) -> None:
        self.legs[leg].set_formats(formats)

    def packet(self, leg: int, packet: bytes, now: float) -> None:
        """An RTP packet (plain, not SRTP) that arrived from ``leg`` at ``now``."""
        self.packets += 1
        arrival = int((now - self.start) * SAMPLE_RATE)
        self.legs[leg].place(packet, arrival, self.frames_written * FRAME_SAMPLES)

    def advance(self, now: float) -> int:
        """Write every frame due by ``now`` (the playout delay behind it); how many."""
        return self._write_until(int((now - self.start - self.playout_delay) / FRAME_SECONDS))

    def finish(self, now: float) -> int:
        """Write everything up to ``now``, the delayed tail included: the recording then
        lasts exactly from ``start`` to ``now`` (to the frame)."""
        return self._write_until(round((now - self.start) / FRAME_SECONDS))

    def _write_until(self, due: int) -> int:
        written = 0
        leg_a, leg_b = self.legs
        while self.frames_written < due:
            read_pos = self.frames_written * FRAME_SAMPLES
            self.sink.write(leg_a.take(read_pos), leg_b.take(read_pos))
            self.frames_written += 1
            written += 1
        return written


def _is_event(spec: str) -> bool:
    # RFC 4733 events are not audio: recorded as the silence (or in-band tone) around them.
    return spec.partition("/")[0].strip().lower() == "telephone-event"
