"""Recording to WAV: whole calls (:class:`CallRecorder`) and voicemail (:class:`MessageRecorder`).

Both write 16-bit PCM at 8 kHz *incrementally*: audio goes to disk in batches of about a
second, never the whole recording in memory, and the RIFF header's sizes are patched when the
file is closed (the stdlib :mod:`wave` writer does the patching; the engine's
:func:`~centralita.media.wavfile.write_wav` writes whole signals, which a recorder cannot use).
Until ``close()`` the header's sizes are those of the last batch written, so a file cut short by
a crash still opens in most tools (and :mod:`centralita.media.wavfile` reads it to the end).

The recorders are fed by the media clock, one call per 20 ms tick; they do blocking file I/O
on small buffered batches, cheap enough for the event loop.
"""

from __future__ import annotations

import enum
import os
import wave
from collections import deque
from pathlib import Path
from types import TracebackType

import numpy as np

from centralita.media.audio import FRAME_SAMPLES, SAMPLE_RATE, Pcm, to_int16
from centralita.media.mixer import SoftLimiter

BATCH_SAMPLES = SAMPLE_RATE  # write to disk about once a second


class _WavStream:
    """A 16-bit PCM WAV written in batches; header finalised on close."""

    def __init__(self, path: str | os.PathLike[str], channels: int) -> None:
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        self.path = target
        self.channels = channels
        self._out = wave.open(str(target), "wb")  # noqa: SIM115 - closed in close()
        self._out.setnchannels(channels)
        self._out.setsampwidth(2)
        self._out.setframerate(SAMPLE_RATE)
        self._pending: list[Pcm] = []
        self._pending_samples = 0
        self.frames_written = 0  # sample frames (one sample per channel) handed to the writer
        self.closed = False

    def write(self, samples: Pcm) -> None:
        """Append interleaved samples (a whole number of sample frames)."""
        if self.closed:
            raise ValueError(f"{self.path}: recording already closed")
        self._pending.append(samples)
        self._pending_samples += len(samples)
        self.frames_written += len(samples) // self.channels
        if self._pending_samples >= BATCH_SAMPLES * self.channels:
            self._flush()

    def _flush(self) -> None:
        if self._pending:
            data = np.concatenate(self._pending).astype("<i2", copy=False)
            self._out.writeframes(data.tobytes())
            self._pending.clear()
            self._pending_samples = 0

    def close(self) -> None:
        if not self.closed:
            self._flush()
            self._out.close()  # patches the RIFF and data chunk sizes
            self.closed = True


class CallRecorder:
    """A whole call to WAV, fed one tick at a time with each leg's frame.

    ``stereo=False``: one channel, the two legs summed (a soft limiter keeps double talk from
    clipping). ``stereo=True``: left = leg A (the caller), right = leg B (the callee).
    Every ``write`` is one tick of the call: a leg with no audio this tick (``None``) is
    silence of the other leg's length, so the legs stay aligned in time.
    """

    def __init__(self, path: str | os.PathLike[str], stereo: bool = False) -> None:
        self.stereo = stereo
        self._stream = _WavStream(path, 2 if stereo else 1)
        self._limiter = SoftLimiter()
        self._gain = np.ones(1, dtype=np.float32)

    @property
    def path(self) -> Path:
        return self._stream.path

    @property
    def duration(self) -> float:
        """Seconds recorded so far."""
        return self._stream.frames_written / SAMPLE_RATE

    def write(self, leg_a: Pcm | None, leg_b: Pcm | None) -> None:
        a, b = _aligned(leg_a, leg_b)
        if self.stereo:
            self._stream.write(np.column_stack((a, b)).reshape(-1))
            return
        mixed = (a.astype(np.float32) + b)[None, :]
        self._gain = self._limiter.apply(mixed, self._gain)
        self._stream.write(to_int16(mixed[0]))

    def close(self) -> None:
        self._stream.close()

    def __enter__(self) -> CallRecorder:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _aligned(leg_a: Pcm | None, leg_b: Pcm | None) -> tuple[Pcm, Pcm]:
    length = max(
        FRAME_SAMPLES if leg_a is None and leg_b is None else 0,
        0 if leg_a is None else len(leg_a),
        0 if leg_b is None else len(leg_b),
    )
    return _padded(leg_a, length), _padded(leg_b, length)


def _padded(frame: Pcm | None, length: int) -> Pcm:
    out = np.zeros(length, dtype=np.int16)
    if frame is not None:
        out[: len(frame)] = frame
    return out


class StopReason(enum.Enum):
    MAX_LENGTH = "max_length"
    SILENCE = "silence"
    DIGIT = "digit"
    CLOSED = "closed"  # the caller hung up (or the recording was stopped) first


class MessageRecorder:
    """A voicemail message: stops at ``max_seconds``, after ``silence_seconds`` of silence
    (whether or not anything was said before), or on a finishing key ('#').

    A frame is silence when its RMS is at most ``silence_threshold`` (int16 units; the default
    300 is about -41 dBFS, above telephone line noise and well below speech). Trailing silence
    is trimmed, keeping ``tail_seconds`` of it so the last word is not cut; a message with no
    speech at all ends up empty (``duration == 0``, ``heard_speech`` False). The recorder
    holds back in memory only what may still be removed (the current silent run, and the last
    half second, which may be an in-band key press tone: see ``dtmf``); the rest is written as
    it comes. The beep before recording is the caller's business.
    """

    HOLDBACK_SAMPLES = SAMPLE_RATE // 2  # kept in memory so a key press tone can be cut

    def __init__(
        self,
        path: str | os.PathLike[str],
        max_seconds: float = 120.0,
        silence_seconds: float = 5.0,
        silence_threshold: float = 300.0,
        *,
        tail_seconds: float = 0.2,
        finish_digits: str = "#",
    ) -> None:
        if max_seconds <= 0 or silence_seconds <= 0:
            raise ValueError("max_seconds and silence_seconds must be positive")
        self.max_samples = round(max_seconds * SAMPLE_RATE)
        self.silence_samples = round(silence_seconds * SAMPLE_RATE)
        self.silence_threshold = silence_threshold
        self.tail_samples = round(tail_seconds * SAMPLE_RATE)
        self.finish_digits = finish_digits
        self.reason: StopReason | None = None
        self.heard_speech = False
        self._stream = _WavStream(path, 1)
        self._held: deque[tuple[Pcm, bool]] = deque()  # (frame, speech?) not yet written
        self._held_samples = 0
        self._speech_end = 0  # frames of _held up to and including the last speech frame
        self._aged = 0  # leading frames of _held with HOLDBACK_SAMPLES or more after them
        self._aged_samples = 0
        self._confirmed_end = 0  # frames of _held up to the last aged speech frame
        self._fed = 0  # samples taken in, written or held
        self._silent_run = 0  # samples of silence since the last speech frame (or the start)

    @property
    def path(self) -> Path:
        return self._stream.path

    @property
    def done(self) -> bool:
        return self.reason is not None

    @property
    def duration(self) -> float:
        """Seconds of audio in the file (once done); while recording, seconds taken so far."""
        samples = self._stream.frames_written if self.done else self._fed
        return samples / SAMPLE_RATE

    def feed(self, frame: Pcm) -> bool:
        """Take one frame; True once the message is finished (the file is then complete)."""
        if self.done:
            return True
        frame = frame[: self.max_samples - self._fed]
        self._fed += len(frame)
        self._hold(frame, self._is_speech(frame))
        if self._fed >= self.max_samples:
            self._finish(StopReason.MAX_LENGTH)
        elif self._silent_run >= self.silence_samples:
            self._finish(StopReason.SILENCE)
        return self.done

    def dtmf(self, digit: str, tone_ms: int = 0) -> bool:
        """A key press; a finishing digit ends the message. ``tone_ms``: how much audio at the
        end is the key's own tone (in-band DTMF: pass the event's duration) to cut away."""
        if not self.done and digit in self.finish_digits:
            self._cut_end(tone_ms * SAMPLE_RATE // 1000)
            self._finish(StopReason.DIGIT)
        return self.done

    def close(self) -> None:
        """Finish now (hang-up); idempotent."""
        if not self.done:
            self._finish(StopReason.CLOSED)

    def _is_speech(self, frame: Pcm) -> bool:
        if not len(frame):
            return False
        samples = frame.astype(np.float64)
        return float(np.sqrt(np.mean(samples * samples))) > self.silence_threshold

    def _hold(self, frame: Pcm, speech: bool) -> None:
        self._held.append((frame, speech))
        self._held_samples += len(frame)
        if speech:
            self.heard_speech = True
            self._speech_end = len(self._held)
            self._silent_run = 0
        else:
            self._silent_run += len(frame)
        self._age()
        # Audio before a speech frame older than the holdback is neither trailing silence nor
        # part of a key press tone still to be cut: it can go to disk (the stream batches).
        while self._confirmed_end > 0:
            self._write_oldest()

    def _age(self) -> None:
        """Move frames with at least HOLDBACK_SAMPLES after them into the aged zone."""
        while self._aged < len(self._held):
            frame, speech = self._held[self._aged]
            after = self._held_samples - self._aged_samples - len(frame)
            if after < self.HOLDBACK_SAMPLES:
                return
            self._aged += 1
            self._aged_samples += len(frame)
            if speech:
                self._confirmed_end = self._aged

    def _write_oldest(self) -> None:
        frame, _ = self._held.popleft()
        self._held_samples -= len(frame)
        self._speech_end = max(0, self._speech_end - 1)
        self._confirmed_end = max(0, self._confirmed_end - 1)
        if self._aged:
            self._aged -= 1
            self._aged_samples -= len(frame)
        self._stream.write(frame)

    def _cut_end(self, samples: int) -> None:
        while samples > 0 and self._held:
            frame, speech = self._held.pop()
            if len(frame) > samples:
                self._held.append((frame[: len(frame) - samples], speech))
            self._held_samples -= min(samples, len(frame))
            samples -= len(frame)
        self._aged = min(self._aged, len(self._held))
        self._confirmed_end = min(self._confirmed_end, len(self._held))
        flags = [speech for _, speech in self._held]
        self._speech_end = len(flags) - flags[::-1].index(True) if True in flags else 0

    def _finish(self, reason: StopReason) -> None:
        self.reason = reason
        # Trim the trailing silence: keep what ends the last speech, plus a short tail.
        while self._speech_end > 0:
            self._write_oldest()
        tail = self.tail_samples if self.heard_speech else 0
        while tail > 0 and self._held:
            frame, _ = self._held.popleft()
            self._stream.write(frame[:tail])
            tail -= len(frame)
        self._held.clear()
        self._held_samples = 0
        self._stream.close()
