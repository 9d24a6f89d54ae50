"""A small per-stream jitter buffer: packets in as they arrive, one frame out per 20 ms tick.

Theory of operation
-------------------
Sans-I/O. The receiver calls ``push(seq, timestamp, frame, now)`` for every decoded RTP packet
and the media clock calls ``pop(now)`` once per tick. One packet carries one engine frame (20 ms,
160 samples at 8 kHz); playout order is the RTP sequence number, extended across its 16-bit
wrap-around as RFC 3550 Appendix A.1 does. Timestamps only feed the interarrival-jitter
estimate of RFC 3550 §6.4.1 (computed as in Appendix A.8), which sizes the adaptive depth.

Two states:

* ``BUFFERING`` (at start, and after the stream paused): ``pop`` returns ``None`` until
  ``target`` frames are queued or the oldest queued frame has waited ``target`` ticks; playout
  then starts at the earliest queued frame.
* ``PLAYING``: each ``pop`` plays the next sequence number.

  - present: returned;
  - missing while later frames are queued: it is lost (or too late to matter): a concealment
    frame is returned and playout moves on; a gap longer than ``max_conceal`` frames is skipped
    at once (the sender paused, or a burst was lost);
  - nothing queued at all (underrun): concealment, but the playout point is *held*, because the
    frame may just be late: waiting for it adds one frame of delay, which is how the depth grows.
    After ``max_conceal`` consecutive underruns the stream is taken as paused (end of a
    talkspurt, hold, a dead phone) and the buffer goes back to ``BUFFERING`` (``pop`` -> None);
  - queue deeper than ``target + SHRINK_SLACK`` frames: the oldest frame is dropped, which is
    how the depth shrinks again after a jitter spike.

Packets older than the playout point are late and dropped, a sequence number already queued
is a duplicate and dropped. A jump of more than ``MAX_DROPOUT`` ahead or ``MAX_MISORDER``
behind is taken as a sender restart only once a second packet confirms the new sequence
(RFC 3550 Appendix A.1's probation), then the buffer resynchronises.

Depth: fixed (``adaptive=False``) the target is ``depth`` frames; adaptive, it is
``clamp(1 + ceil(4 * J / ptime), depth, max_depth)`` where J is the RFC 3550 jitter (a mean
deviation, so 4 J covers nearly all the spread).

Concealment (``conceal=True``): the last good frame repeated with a gain fading to zero over
``max_conceal`` frames (the repetition idea of ITU-T G.711 Appendix I without its pitch search),
then ``None``. With ``conceal=False`` a gap is ``None`` (the caller plays silence).
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass

import numpy as np

from centralita.media.audio import FRAME_MS, SAMPLE_RATE, Pcm, to_int16

SEQ_MOD = 1 << 16
MAX_DROPOUT = 3000  # RFC 3550 Appendix A.1
MAX_MISORDER = 100  # RFC 3550 Appendix A.1
SHRINK_SLACK = 2  # frames above target tolerated before dropping one
JITTER_SPAN = 4.0  # target covers this many mean deviations of the transit time


class _State(enum.Enum):
    BUFFERING = "buffering"
    PLAYING = "playing"


@dataclass(slots=True)
class JitterStats:
    """Counters since the buffer was created (restarts do not reset them)."""

    received: int = 0  # packets accepted into the queue
    played: int = 0  # real frames returned by pop()
    lost: int = 0  # sequence numbers skipped because they never arrived in time
    late: int = 0  # packets that arrived after their playout point
    duplicates: int = 0
    concealed: int = 0  # concealment frames returned
    underruns: int = 0  # pops that found the queue empty while playing
    dropped: int = 0  # frames dropped to shrink the depth or bound the queue
    restarts: int = 0  # sender restarts (sequence jumps confirmed by a second packet)


@dataclass(frozen=True, slots=True)
class _Probe:
    seq: int
    timestamp: int
    frame: Pcm


class JitterBuffer:
    """Reorders one stream's frames and plays them out one per tick (see module docstring)."""

    def __init__(
        self,
        *,
        depth: int = 2,
        max_depth: int = 10,
        adaptive: bool = True,
        conceal: bool = True,
        max_conceal: int = 5,
        clock_rate: int = SAMPLE_RATE,
        ptime: float = FRAME_MS / 1000,
    ) -> None:
        if not 1 <= depth <= max_depth:
            raise ValueError("need 1 <= depth <= max_depth")
        self.depth = depth
        self.max_depth = max_depth
        self.adaptive = adaptive
        self.conceal = conceal
        self.max_conceal = max_conceal
        self.clock_rate = clock_rate
        self.ptime = ptime
        self.stats = JitterStats()
        self._capacity = 4 * max_depth + max_conceal
        self._jitter = 0.0  # RFC 3550 §6.4.1 J, in timestamp units
        self._target = depth
        self._last_transit: float | None = None
        self._probe: _Probe | None = None
        self._reset()

    def _reset(self) -> None:
        self._queue: dict[int, Pcm] = {}
        self._state = _State.BUFFERING
        self._highest: int | None = None  # highest extended sequence number accepted
        self._next: int | None = None  # extended sequence number to play next
        self._first_arrival: float | None = None  # arrival of the oldest frame while buffering
        self._last_frame: Pcm | None = None
        self._missing_run = 0  # consecutive pops without a real frame

    # ------------------------------------------------------------------ properties

    @property
    def jitter(self) -> float:
        """RFC 3550 interarrival jitter estimate, in seconds."""
        return self._jitter / self.clock_rate

    @property
    def target(self) -> int:
        """The depth (in frames) the buffer aims at now."""
        return self._target

    @property
    def queued(self) -> int:
        return len(self._queue)

    @property
    def playing(self) -> bool:
        return self._state is _State.PLAYING

    # ------------------------------------------------------------------ push

    def push(self, seq: int, timestamp: int, frame: Pcm, now: float) -> bool:
        """Queue one packet's frame; False when it was dropped (late, duplicate, unconfirmed
        sequence jump)."""
        self._update_jitter(timestamp, now)
        ext = self._extend(seq & 0xFFFF)
        if self._is_jump(ext):
            return self._probation(seq & 0xFFFF, timestamp, frame, now)
        self._probe = None
        if self._next is not None and ext < self._next:
            self.stats.late += 1
            return False
        if ext in self._queue:
            self.stats.duplicates += 1
            return False
        self._accept(ext, frame, now)
        return True

    def _update_jitter(self, timestamp: int, now: float) -> None:
        # RFC 3550 §6.4.1 / Appendix A.8: J += (|D(i-1,i)| - J) / 16, in timestamp units.
        transit = now * self.clock_rate - timestamp
        if self._last_transit is not None:
            delta = abs(transit - self._last_transit)
            if delta < self.clock_rate * 10:  # a timestamp jump (restart) is not jitter
                self._jitter += (delta - self._jitter) / 16.0
                self._retarget()
        self._last_transit = transit

    def _retarget(self) -> None:
        if self.adaptive:
            spread = JITTER_SPAN * self._jitter / (self.clock_rate * self.ptime)
            wanted = 1 + math.ceil(spread - 1e-9)
            self._target = max(self.depth, min(self.max_depth, wanted))

    def _extend(self, seq: int) -> int:
        """The extended sequence number nearest to the highest one seen (RFC 3550 A.1)."""
        highest = self._highest
        if highest is None:
            return SEQ_MOD + seq  # one cycle up, so reordered predecessors stay positive
        delta = seq - (highest & 0xFFFF)
        if delta > SEQ_MOD // 2:
            delta -= SEQ_MOD
        elif delta < -SEQ_MOD // 2:
            delta += SEQ_MOD
        return highest + delta

    def _is_jump(self, ext: int) -> bool:
        if self._highest is None:
            return False
        return ext - self._highest > MAX_DROPOUT or self._highest - ext > MAX_MISORDER

    def _probation(self, seq: int, timestamp: int, frame: Pcm, now: float) -> bool:
        probe = self._probe
        if probe is None or seq != (probe.seq + 1) % SEQ_MOD:
            self._probe = _Probe(seq, timestamp, frame)
            return False
        # Two packets in sequence after a jump: the sender restarted (RFC 3550 A.1).
        self._probe = None
        self.stats.restarts += 1
        self._reset()
        self._accept(self._extend(probe.seq), probe.frame, now)
        self._accept(self._extend(seq), frame, now)
        return True

    def _accept(self, ext: int, frame: Pcm, now: float) -> None:
        self._queue[ext] = frame
        self.stats.received += 1
        if self._highest is None or ext > self._highest:
            self._highest = ext
        if self._state is _State.BUFFERING and self._first_arrival is None:
            self._first_arrival = now
        while len(self._queue) > self._capacity:
            del self._queue[min(self._queue)]
            self.stats.dropped += 1

    # ------------------------------------------------------------------ pop

    def pop(self, now: float) -> Pcm | None:
        """The frame to play this tick: a real frame, a concealment frame, or None."""
        if self._state is _State.BUFFERING and not self._start_playout(now):
            return None
        self._shrink()
        assert self._next is not None
        frame = self._queue.pop(self._next, None)
        if frame is not None:
            self._next += 1
            return self._played(frame)
        if self._queue:
            return self._skip_missing()
        return self._underrun()

    def _start_playout(self, now: float) -> bool:
        if not self._queue or self._first_arrival is None:
            return False
        waited = now - self._first_arrival
        if len(self._queue) < self.target and waited < self.target * self.ptime - 1e-9:
            return False
        earliest = min(self._queue)
        if self._next is not None and earliest > self._next:
            self.stats.lost += earliest - self._next
        self._next = earliest
        self._state = _State.PLAYING
        self._first_arrival = None
        return True

    def _shrink(self) -> None:
        assert self._next is not None
        if len(self._queue) > self.target + SHRINK_SLACK and self._next in self._queue:
            del self._queue[self._next]
            self._next += 1
            self.stats.dropped += 1

    def _played(self, frame: Pcm) -> Pcm:
        self.stats.played += 1
        self._last_frame = frame
        self._missing_run = 0
        return frame

    def _skip_missing(self) -> Pcm | None:
        assert self._next is not None
        earliest = min(self._queue)
        gap = earliest - self._next
        if gap > self.max_conceal:
            # A long hole: the sender paused or a burst was lost; play on from what we have.
            self.stats.lost += gap
            self._next = earliest + 1
            return self._played(self._queue.pop(earliest))
        self.stats.lost += 1
        self._next += 1
        return self._concealment()

    def _underrun(self) -> Pcm | None:
        self.stats.underruns += 1
        if self._missing_run >= self.max_conceal:
            self._state = _State.BUFFERING  # the stream paused: prefetch again when it resumes
            self._missing_run = 0
            self._last_frame = None
            return None
        return self._concealment()

    def _concealment(self) -> Pcm | None:
        self._missing_run += 1
        if not self.conceal or self._last_frame is None or self._missing_run > self.max_conceal:
            return None
        self.stats.concealed += 1
        steps = self.max_conceal + 1
        start = 1.0 - (self._missing_run - 1) / steps
        end = 1.0 - self._missing_run / steps
        ramp = np.linspace(start, end, len(self._last_frame), dtype=np.float32)
        return to_int16(self._last_frame * ramp)
