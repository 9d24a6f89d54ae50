"""Conference mixing: N participants, each hears everyone but themselves.

Theory of operation
-------------------
Sans-I/O. Each participant's decoded frames go into its own :class:`JitterBuffer` through
``push``; the conference clock calls ``mix(now)`` every 20 ms. One tick:

1. every participant's buffer is popped; a gap (``None``), a muted participant or one still
   buffering contributes silence (a muted participant's buffer is still drained, and it still
   hears the room);
2. the contributions form an ``(N, 160)`` float32 block; the room sum is computed once and each
   listener's mix is ``sum - own contribution`` (one broadcast subtraction, O(N) not O(N²));
3. join/leave tones (tones.py's "join"/"leave" unless the caller gives its own) and
   announcements are added to every listener's mix, the newcomer's included;
4. level normalisation: a soft-knee peak limiter per listener row (:class:`SoftLimiter`). Below
   the knee (-6 dBFS) the gain is exactly 1, so a single talker, or a few quiet ones, pass
   bit-exact; above it the peak is bent smoothly under the ceiling, so several loud talkers
   never clip. The limiter is a *gain* (not a waveshaper): loud passages get quieter but keep
   their waveform, with no harmonic distortion. The gain drops at once when a frame would
   exceed the curve (the whole 20 ms frame is known in advance, a free look-ahead) and
   recovers with a ``release_seconds`` time constant, ramped across the frame.

Why a limiter on each listener's sum and not per-participant AGC: AGC would lift the line
noise of the many silent participants of a large room (their noise adds up in everyone's ear)
and pumps during pauses; a limiter leaves normal levels untouched and only acts when the sum
would clip, which is exactly the failure the mixer must prevent.

Cost per tick: N buffer pops (Python), then a handful of numpy operations on an ``(N, 160)``
block; see bench/mixing.py for figures.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from centralita.media.audio import FRAME_MS, FRAME_SAMPLES, Pcm, to_int16
from centralita.media.jitter import JitterBuffer
from centralita.media.player import AudioSource
from centralita.media.tones import tone_for

Block = npt.NDArray[np.float32]
Gains = npt.NDArray[np.float32]

KNEE = 16384.0  # -6 dBFS: below it the limiter leaves the signal untouched
CEILING = 32000.0  # the limiter's output never exceeds this (a little under full scale)


class SoftLimiter:
    """A soft-knee peak limiter applied in place to the rows of a block, one gain per row.

    The caller holds the gains (one per row, 1.0 to start) so rows can come and go.
    """

    def __init__(
        self,
        *,
        knee: float = KNEE,
        ceiling: float = CEILING,
        release_seconds: float = 0.25,
        frame_seconds: float = FRAME_MS / 1000,
    ) -> None:
        if not 0 < knee < ceiling:
            raise ValueError("need 0 < knee < ceiling")
        self.knee = knee
        self.ceiling = ceiling
        self.release = 1.0 - math.exp(-frame_seconds / release_seconds)

    def target_gain(self, peaks: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """The static curve: 1 below the knee, then the peak bent under the ceiling by tanh."""
        room = self.ceiling - self.knee
        wide = peaks.astype(np.float64)
        limited = self.knee + room * np.tanh(np.maximum(wide - self.knee, 0.0) / room)
        # A hair under the curve, so float32 rounding never lands above the ceiling.
        bent = limited / np.maximum(wide, 1.0) * (1.0 - 1e-6)
        return np.where(wide > self.knee, bent, 1.0).astype(np.float32)

    def apply(self, block: Block, gains: Gains) -> Gains:
        """Scale ``block`` (rows x samples) in place; returns each row's gain at frame end."""
        peaks = np.abs(block).max(axis=1)
        target = self.target_gain(peaks)
        attack = target < gains
        released = gains + (target - gains) * self.release
        end = np.where(attack, target, np.minimum(released, target)).astype(np.float32)
        start = np.where(attack, end, gains).astype(np.float32)
        if np.all(start == 1.0) and np.all(end == 1.0):
            return end
        ramp = np.linspace(1.0 / block.shape[1], 1.0, block.shape[1], dtype=np.float32)
        block *= start[:, None] + (end - start)[:, None] * ramp[None, :]
        return end


def render(source: AudioSource) -> Pcm:
    """A finite source read to its end, as one array (e.g. the join tone of tones.py)."""
    chunks = []
    while (chunk := source.read(FRAME_SAMPLES)) is not None and len(chunk):
        chunks.append(chunk)
    return np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int16)


@functools.cache
def _default_tone(kind: str) -> Pcm:
    pcm = render(tone_for(kind))
    pcm.flags.writeable = False
    return pcm


class _PcmSource:
    """An array played once, as an AudioSource."""

    def __init__(self, pcm: Pcm) -> None:
        self._pcm = pcm
        self._position = 0

    def read(self, samples: int = FRAME_SAMPLES) -> Pcm | None:
        if self._position >= len(self._pcm):
            return None
        chunk = self._pcm[self._position : self._position + samples]
        self._position += samples
        return chunk


@dataclass(slots=True)
class _Participant:
    jitter: JitterBuffer
    muted: bool = False
    gain: float = 1.0  # the limiter's gain on what this participant hears
    next_seq: int = 0  # for frames pushed without a sequence number


@dataclass(slots=True)
class _Jitter:
    depth: int = 2
    max_depth: int = 10
    adaptive: bool = True
    conceal: bool = True


class ConferenceMixer:
    """Mixes a conference room every 20 ms (see module docstring)."""

    def __init__(
        self,
        *,
        jitter_depth: int = 2,
        jitter_max_depth: int = 10,
        adaptive_jitter: bool = True,
        conceal: bool = True,
        limiter: SoftLimiter | None = None,
        join_tone: Pcm | None = None,
        leave_tone: Pcm | None = None,
    ) -> None:
        self._jitter = _Jitter(jitter_depth, jitter_max_depth, adaptive_jitter, conceal)
        self.limiter = limiter or SoftLimiter()
        self.join_tone = _default_tone("join") if join_tone is None else join_tone
        self.leave_tone = _default_tone("leave") if leave_tone is None else leave_tone
        self._participants: dict[str, _Participant] = {}
        self._announcements: list[AudioSource] = []
        self._now = 0.0

    # ------------------------------------------------------------------ membership

    @property
    def participants(self) -> list[str]:
        return list(self._participants)

    def __len__(self) -> int:
        return len(self._participants)

    def __contains__(self, participant_id: object) -> bool:
        return participant_id in self._participants

    def add(self, participant_id: str, *, muted: bool = False, tone: bool = True) -> None:
        """A participant joins; everyone (the newcomer too) hears the join tone."""
        if participant_id in self._participants:
            raise ValueError(f"participant {participant_id!r} already in the room")
        j = self._jitter
        buffer = JitterBuffer(
            depth=j.depth, max_depth=j.max_depth, adaptive=j.adaptive, conceal=j.conceal
        )
        self._participants[participant_id] = _Participant(buffer, muted)
        if tone:
            self.announce(self.join_tone)

    def remove(self, participant_id: str, *, tone: bool = True) -> None:
        """A participant leaves; those who remain hear the leave tone."""
        del self._participants[participant_id]
        if tone and self._participants:
            self.announce(self.leave_tone)

    def mute(self, participant_id: str, muted: bool = True) -> None:
        """A muted participant is not heard but still hears the room."""
        self._participants[participant_id].muted = muted

    def is_muted(self, participant_id: str) -> bool:
        return self._participants[participant_id].muted

    def announce(self, audio: Pcm | AudioSource) -> None:
        """Play ``audio`` (an 8 kHz array, or a finite source) to every participant, mixed
        over the conversation. Several announcements overlap."""
        if isinstance(audio, np.ndarray):
            audio = _PcmSource(audio)
        self._announcements.append(audio)

    def stop_announcements(self) -> None:
        self._announcements.clear()

    def jitter_buffer(self, participant_id: str) -> JitterBuffer:
        """The participant's buffer (for its statistics)."""
        return self._participants[participant_id].jitter

    # ------------------------------------------------------------------ audio

    def push(
        self,
        participant_id: str,
        frame: Pcm,
        seq: int | None = None,
        timestamp: int | None = None,
        now: float | None = None,
    ) -> bool:
        """Queue one 20 ms frame from a participant; False when the jitter buffer dropped it
        or the participant already left (a packet racing the leave).

        Without ``seq`` frames are numbered in arrival order; without ``timestamp`` it is
        derived from the sequence number; without ``now`` the last tick's time is used.
        """
        if len(frame) != FRAME_SAMPLES:
            raise ValueError(f"a conference frame is {FRAME_SAMPLES} samples, got {len(frame)}")
        participant = self._participants.get(participant_id)
        if participant is None:
            return False
        if seq is None:
            seq = participant.next_seq
        participant.next_seq = (seq + 1) & 0xFFFF
        if timestamp is None:
            timestamp = seq * FRAME_SAMPLES
        arrival = self._now if now is None else now
        return participant.jitter.push(seq, timestamp, frame, arrival)

    def mix(self, now: float) -> dict[str, Pcm]:
        """One tick: what each participant hears during the next 20 ms."""
        self._now = now
        members = list(self._participants.items())
        tone = self._tone_frame()
        if not members:
            return {}
        block = np.zeros((len(members), FRAME_SAMPLES), dtype=np.float32)
        for row, (_, participant) in enumerate(members):
            frame = participant.jitter.pop(now)
            if frame is not None and not participant.muted:
                block[row] = frame
        heard = block.sum(axis=0)
        if tone is not None:
            heard += tone
        np.subtract(heard[None, :], block, out=block)  # everyone but themselves
        gains = np.fromiter((p.gain for _, p in members), np.float32, len(members))
        gains = self.limiter.apply(block, gains)
        for (_, participant), gain in zip(members, gains.tolist(), strict=True):
            participant.gain = gain
        out = to_int16(block)
        return {pid: out[row] for row, (pid, _) in enumerate(members)}

    def _tone_frame(self) -> Block | None:
        if not self._announcements:
            return None
        frame = np.zeros(FRAME_SAMPLES, dtype=np.float32)
        playing = []
        for source in self._announcements:
            chunk = source.read(FRAME_SAMPLES)
            if chunk is None or not len(chunk):
                continue
            frame[: len(chunk)] += chunk
            playing.append(source)
        self._announcements = playing
        return frame
