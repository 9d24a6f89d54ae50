"""DTMF out of band: RFC 4733 telephone-events, SIP INFO bodies, and merging the ways.

Theory of operation (RFC 4733 §2.5).  A key press travels as a burst of telephone-event
packets that all carry the RTP timestamp of the moment the key went down: the first with the
marker bit set (§2.5.1.2), updates every 50 ms whose duration field grows, and a final packet
with the E bit set that is sent three times (§2.5.1.4).  Packets get lost, duplicated and
reordered, so :class:`Rfc4733Receiver` keys everything on the timestamp:

* the first packet seen with a new timestamp opens a key press, marker or not (a lost start
  packet must not lose the digit, §2.5.2.2 lets updates and the end stand in for it);
* packets with the open timestamp only stretch its duration; the first E-bit packet closes it
  and reports one :class:`DtmfReceived`; the two retransmissions and any late update that
  follow find the timestamp among the closed ones and are dropped;
* a press whose end packets are all lost is reported when nothing was heard of it for
  ``end_timeout`` seconds (driven by ``now``: ``get_timer()`` / ``handle_timer(now)``), or as
  soon as a packet with a newer timestamp opens the next press;
* an event longer than the 16-bit duration field continues in a segment whose timestamp is
  the old one plus the old duration, without the marker (§2.5.1.3): it extends the same press.

:class:`Rfc4733Sender` builds the packet schedule of one key press for the RTP endpoint, and
:func:`parse_info_body` reads SIP INFO DTMF bodies.  :class:`DtmfDeduplicator` merges events of
a phone that sends the same key two ways (RFC 4733 *and* a tone left in the audio, or INFO
*and* RFC 4733) into one event per key press.
"""

from __future__ import annotations

import struct
from collections import deque
from dataclasses import dataclass, field
from typing import Final, NamedTuple, Self

from centralita.media.events import DTMF_DIGITS, DtmfReceived

TELEPHONE_EVENT_CLOCK_RATE: Final = 8000
MAX_DURATION: Final = 0xFFFF  # §2.3.5: 16-bit unsigned duration in timestamp units
MAX_VOLUME: Final = 63  # §2.3.4: 0 to -63 dBm0
DEFAULT_VOLUME: Final = 10  # -10 dBm0, a typical DTMF level
UPDATE_INTERVAL_MS: Final = 50  # §2.5.1.2: updates every 50 ms by default
END_REPEATS: Final = 3  # §2.5.1.4: the final packet is sent three times
FRAME_MS: Final = 20
DEFAULT_END_TIMEOUT: Final = 0.5
_CLOSED_REMEMBERED: Final = 32
_STALE_SECONDS: Final = 10

_PAYLOAD = struct.Struct("!BBH")


class TelephoneEventError(ValueError):
    """A telephone-event payload that cannot be read."""


@dataclass(frozen=True, slots=True)
class TelephoneEvent:
    """The telephone-event payload (RFC 4733 §2.3, Figure 1).

    ``volume`` is the power level as a positive number of -dBm0 (§2.3.4); ``duration`` is in
    RTP timestamp units of the telephone-event clock (§2.3.5).
    """

    event: int
    end: bool = False
    volume: int = DEFAULT_VOLUME
    duration: int = 0

    def __post_init__(self) -> None:
        if not 0 <= self.event <= 0xFF:
            raise TelephoneEventError(f"event code out of range: {self.event}")
        if not 0 <= self.volume <= MAX_VOLUME:
            raise TelephoneEventError(f"volume out of range: {self.volume}")
        if not 0 <= self.duration <= MAX_DURATION:
            raise TelephoneEventError(f"duration out of range: {self.duration}")

    @classmethod
    def parse(cls, payload: bytes) -> Self:
        """Read the first event of ``payload``; the R bit is ignored on receipt (§2.3.3)."""
        if len(payload) < _PAYLOAD.size:
            raise TelephoneEventError(f"telephone-event payload too short: {len(payload)} bytes")
        event, flags, duration = _PAYLOAD.unpack_from(payload)
        return cls(event=event, end=bool(flags & 0x80), volume=flags & 0x3F, duration=duration)

    def __bytes__(self) -> bytes:
        # §2.3.3: the reserved R bit MUST be zero when sent.
        flags = (0x80 if self.end else 0) | self.volume
        return _PAYLOAD.pack(self.event, flags, self.duration)

    @property
    def digit(self) -> str | None:
        """The DTMF key of this event (§3.2), or None for any other telephony event."""
        return DTMF_DIGITS[self.event] if self.event < len(DTMF_DIGITS) else None


def event_code(digit: str) -> int:
    """The RFC 4733 §3.2 event code of a DTMF key ("*" is 10, "#" 11, "A"-"D" 12-15)."""
    code = DTMF_DIGITS.find(digit.upper()) if len(digit) == 1 else -1
    if code < 0:
        raise ValueError(f"not a DTMF digit: {digit!r}")
    return code


def _units_to_ms(units: int, clock_rate: int) -> int:
    return round(units * 1000 / clock_rate)


def _is_newer(timestamp: int, than: int) -> bool:
    """RTP timestamps wrap at 2**32: compare them in serial-number arithmetic (RFC 1982)."""
    return timestamp != than and (timestamp - than) % 2**32 < 2**31


@dataclass(slots=True)
class _Press:
    digit: str
    timestamp: int  # of the current segment (§2.5.1.3)
    earlier_units: int  # duration of the segments before the current one
    units: int  # duration field of the current segment
    heard_at: float
    first_timestamp: int

    @property
    def total_units(self) -> int:
        return self.earlier_units + self.units


@dataclass(slots=True)
class Rfc4733Receiver:
    """Turns a stream of telephone-event packets into one :class:`DtmfReceived` per key.

    One receiver per RTP stream (SSRC).  ``clock_rate`` is the telephone-event rate of the
    negotiated ``a=rtpmap`` (8000 unless the SDP says otherwise, §7.1.1).
    """

    clock_rate: int = TELEPHONE_EVENT_CLOCK_RATE
    end_timeout: float = DEFAULT_END_TIMEOUT
    malformed: int = 0
    _open: _Press | None = None
    _closed: deque[tuple[int, str]] = field(
        default_factory=lambda: deque(maxlen=_CLOSED_REMEMBERED)
    )
    _newest: int | None = None

    def receive(
        self, payload: bytes, rtp_timestamp: int, marker: bool, now: float
    ) -> list[DtmfReceived]:
        """Feed one telephone-event packet; returns the key presses it completes."""
        done = self.handle_timer(now)
        try:
            event = TelephoneEvent.parse(payload)
        except TelephoneEventError:
            self.malformed += 1
            return done
        digit = event.digit
        if digit is None or (rtp_timestamp, digit) in self._closed:
            return done  # not DTMF, or a retransmitted end / late update of a closed press
        press = self._open
        if press is not None and press.timestamp == rtp_timestamp and press.digit == digit:
            press.units = max(press.units, event.duration)  # reordered updates never shrink it
            press.heard_at = now
        elif press is not None and self._continues(press, event, rtp_timestamp, marker):
            press.earlier_units += MAX_DURATION
            press.units, press.timestamp, press.heard_at = event.duration, rtp_timestamp, now
        elif self._is_stale(rtp_timestamp):
            return done  # a stray packet of an older press, arriving after a newer one began
        else:
            if press is not None:
                done.append(self._close(press))  # its end was lost: the next key supersedes it
            press = self._open = _Press(digit, rtp_timestamp, 0, event.duration, now, rtp_timestamp)
        self._newest = rtp_timestamp
        if event.end:
            done.append(self._close(press))
        return done

    def get_timer(self) -> float | None:
        """When the open key press, if any, is given up on for want of its end packet."""
        return None if self._open is None else self._open.heard_at + self.end_timeout

    def handle_timer(self, now: float) -> list[DtmfReceived]:
        timer = self.get_timer()
        if self._open is None or timer is None or now < timer:
            return []
        return [self._close(self._open)]

    def _is_stale(self, timestamp: int) -> bool:
        # Only a little in the past: a timestamp far behind is a discontinuity in the sender's
        # clock (a restarted stream), and starts a new press rather than silencing it forever.
        if self._newest is None or _is_newer(timestamp, self._newest):
            return False
        return (self._newest - timestamp) % 2**32 <= self.clock_rate * _STALE_SECONDS

    @staticmethod
    def _continues(press: _Press, event: TelephoneEvent, timestamp: int, marker: bool) -> bool:
        # §2.5.1.3: a long event goes on in a new segment at old timestamp + 0xFFFF (the
        # packet reporting the full segment may itself have been lost).
        return (
            not marker
            and event.digit == press.digit
            and timestamp == (press.timestamp + MAX_DURATION) % 2**32
        )

    def _close(self, press: _Press) -> DtmfReceived:
        self._open = None
        self._closed.append((press.timestamp, press.digit))
        if press.first_timestamp != press.timestamp:
            self._closed.append((press.first_timestamp, press.digit))
        duration_ms = _units_to_ms(press.total_units, self.clock_rate)
        return DtmfReceived(press.digit, duration_ms, "rfc4733")


class EventPacket(NamedTuple):
    """One telephone-event packet to send: the RTP endpoint adds ``timestamp_offset`` to the
    RTP timestamp of the moment the key press began and sends it ``send_at_ms`` after it."""

    payload: bytes
    marker: bool
    timestamp_offset: int
    send_at_ms: int


@dataclass(frozen=True, slots=True)
class Rfc4733Sender:
    """The packet schedule of one key press (RFC 4733 §2.5.1).

    The key goes down at offset 0; the first packet leaves after one 20 ms frame with the
    marker bit (§2.5.1.2), updates follow every ``update_interval_ms``, and the final packet
    (E bit) is sent ``END_REPEATS`` times one frame apart (§2.5.1.4).  Every packet of a
    segment carries the same timestamp; events longer than the 16-bit duration field continue
    in new segments (§2.5.1.3).
    """

    digit: str
    duration_ms: int
    clock_rate: int = TELEPHONE_EVENT_CLOCK_RATE
    volume: int = DEFAULT_VOLUME
    update_interval_ms: int = UPDATE_INTERVAL_MS

    def __post_init__(self) -> None:
        event_code(self.digit)
        if self.duration_ms < FRAME_MS:
            raise ValueError(f"DTMF duration too short to send: {self.duration_ms} ms")
        if self.update_interval_ms <= 0:
            raise ValueError("update interval must be positive")

    def packets(self) -> list[EventPacket]:
        total = self._units(self.duration_ms)
        updates = [
            (t, self._units(t)) for t in range(FRAME_MS, self.duration_ms, self.update_interval_ms)
        ]
        # §2.5.1.3: the segment that fills the 16-bit duration is reported at 0xFFFF exactly.
        boundaries = [
            (k * MAX_DURATION * 1000 // self.clock_rate, k * MAX_DURATION)
            for k in range(1, (total - 1) // MAX_DURATION + 1)
        ]
        schedule = sorted(set(updates + boundaries))
        sent = [
            self._packet(units, at, end=False, first=i == 0)
            for i, (at, units) in enumerate(schedule)
        ]
        ends = [
            self._packet(total, self.duration_ms + k * FRAME_MS, end=True, first=not schedule)
            for k in range(END_REPEATS)
        ]
        return sent + ends

    def _units(self, ms: int) -> int:
        return ms * self.clock_rate // 1000

    def _packet(self, units: int, send_at_ms: int, *, end: bool, first: bool) -> EventPacket:
        segment = max(units - 1, 0) // MAX_DURATION
        event = TelephoneEvent(
            event_code(self.digit), end, self.volume, units - segment * MAX_DURATION
        )
        return EventPacket(bytes(event), first, segment * MAX_DURATION, send_at_ms)


# SIP INFO ------------------------------------------------------------------------------------

DTMF_RELAY: Final = "application/dtmf-relay"
DTMF: Final = "application/dtmf"
INFO_CONTENT_TYPES: Final = frozenset({DTMF_RELAY, DTMF})
DEFAULT_INFO_DURATION_MS: Final = 250


def parse_info_body(content_type: str | None, body: bytes | str) -> DtmfReceived | None:
    """The key press in the body of a SIP INFO, or None when the body is not one.

    ``application/dtmf-relay`` carries ``Signal=5`` and ``Duration=160`` (ms) lines with
    case-insensitive keys; ``application/dtmf`` carries the key or its RFC 4733 event code
    (RFC 2833 style).  The caller answers 415 when ``content_type`` is not in
    :data:`INFO_CONTENT_TYPES` and 400 when it is but the body yields None.
    """
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    try:
        text = body.decode("ascii") if isinstance(body, bytes) else body
    except UnicodeDecodeError:
        return None
    if media_type == DTMF_RELAY:
        return _parse_dtmf_relay(text)
    if media_type == DTMF:
        digit = _info_digit(text)
        return None if digit is None else DtmfReceived(digit, DEFAULT_INFO_DURATION_MS, "info")
    return None


def _parse_dtmf_relay(text: str) -> DtmfReceived | None:
    fields: dict[str, str] = {}
    for line in text.splitlines():
        name, sep, value = line.partition("=")
        if sep:
            fields.setdefault(name.strip().lower(), value.strip())
        elif line.strip():
            return None
    digit = _info_digit(fields.get("signal", ""))
    duration = fields.get("duration", str(DEFAULT_INFO_DURATION_MS))
    if digit is None or not duration.isascii() or not duration.isdigit():
        return None
    return DtmfReceived(digit, int(duration), "info")


def _info_digit(token: str) -> str | None:
    token = token.strip().upper()
    if len(token) == 1 and token in DTMF_DIGITS:
        return token
    if token.isascii() and token.isdigit() and int(token) < len(DTMF_DIGITS):
        return DTMF_DIGITS[int(token)]  # an event code: "10" is "*", "11" is "#"
    return None


# Merging the ways ----------------------------------------------------------------------------

DEFAULT_DEDUP_WINDOW: Final = 0.25


@dataclass(slots=True)
class _Accepted:
    digit: str
    start: float
    end: float
    methods: set[str]


@dataclass(slots=True)
class DtmfDeduplicator:
    """One event per key press when a phone signals the same press by several methods.

    Each accepted event covers the time span of its key press: RFC 4733 and in-band events are
    reported when the key is released, so they span ``[now - duration, now]``; an INFO is sent
    at press or release depending on the phone, so it spans both sides.  An event is a copy
    when an accepted event of the same digit, from another method that has not yet been matched
    by this method, overlaps it within ``window`` seconds.  Events of one method are never
    merged with each other (each receiver already collapses its own retransmissions), so
    repeated presses of one key stay separate.
    """

    window: float = DEFAULT_DEDUP_WINDOW
    _recent: list[_Accepted] = field(default_factory=list)

    def accept(self, event: DtmfReceived, now: float) -> bool:
        """True when ``event`` is a new key press to deliver, False for a copy."""
        start, end = self._span(event, now)
        self._recent = [a for a in self._recent if a.end + self.window * 2 + 10.0 > start]
        match = self._best_match(event, start, end)
        if match is not None:
            match.methods.add(event.method)
            return False
        self._recent.append(_Accepted(event.digit, start, end, {event.method}))
        return True

    def filter(self, events: list[DtmfReceived], now: float) -> list[DtmfReceived]:
        return [event for event in events if self.accept(event, now)]

    @staticmethod
    def _span(event: DtmfReceived, now: float) -> tuple[float, float]:
        duration = event.duration_ms / 1000
        return now - duration, now + duration if event.method == "info" else now

    def _best_match(self, event: DtmfReceived, start: float, end: float) -> _Accepted | None:
        best: _Accepted | None = None
        best_distance = float("inf")
        for accepted in self._recent:
            if accepted.digit != event.digit or event.method in accepted.methods:
                continue
            gap = max(accepted.start - end, start - accepted.end, 0.0)
            centre_distance = abs((accepted.start + accepted.end) - (start + end)) / 2
            if gap <= self.window and (best is None or centre_distance < best_distance):
                best, best_distance = accepted, centre_distance
        return best
