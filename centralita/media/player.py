"""Audio sources and the playlist player.

An :class:`AudioSource` is anything the RTP endpoint can pull 8 kHz PCM from, one frame per
20 ms tick: ``read(samples)`` gives at most ``samples`` samples — fewer only when the source
ends inside this read — and ``None`` once it has finished. Sources here: :class:`PcmSource`
(a buffer, e.g. a prompt or a WAV file), :class:`~centralita.media.tones.ToneGenerator`,
:class:`Player` (a playlist of sources) and the music-on-hold listener in
:mod:`centralita.media.moh`.

Barge-in is the caller's business: a verb playing a prompt stops pulling frames (and calls
:meth:`Player.stop`) when a ``DtmfReceived`` arrives; nothing here knows about DTMF.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Protocol, runtime_checkable

import numpy as np

from centralita.media.audio import FRAME_SAMPLES, SAMPLE_RATE, Pcm
from centralita.media.wavfile import MediaFileError, WavFile, load_wav

__all__ = [
    "AudioSource",
    "MediaFileError",
    "PcmSource",
    "Player",
    "Rewindable",
    "WavFile",
    "wav_source",
]


@runtime_checkable
class AudioSource(Protocol):
    def read(self, samples: int = FRAME_SAMPLES) -> Pcm | None: ...


@runtime_checkable
class Rewindable(AudioSource, Protocol):
    """A source that can start again from its beginning (needed to loop it)."""

    def rewind(self) -> None: ...


class PcmSource:
    """Plays a PCM buffer once. The buffer is not copied (cached prompts are shared)."""

    def __init__(self, pcm: Pcm) -> None:
        if pcm.ndim != 1 or pcm.dtype != np.int16:
            raise ValueError("PcmSource wants a 1-D int16 array")
        self.pcm = pcm
        self.position = 0

    @property
    def duration(self) -> float:
        return len(self.pcm) / SAMPLE_RATE

    @property
    def finished(self) -> bool:
        return self.position >= len(self.pcm)

    def read(self, samples: int = FRAME_SAMPLES) -> Pcm | None:
        if self.finished:
            return None
        chunk = self.pcm[self.position : self.position + samples]
        self.position += len(chunk)
        return chunk

    def rewind(self) -> None:
        self.position = 0


def wav_source(path: str | os.PathLike[str]) -> PcmSource:
    """A source playing a WAV file (converted to 8 kHz once, then served from the cache)."""
    return PcmSource(load_wav(path))


class Player:
    """A playlist: plays its sources one after another, optionally looping.

    Unlike a bare source, ``read`` always returns exactly ``samples`` samples, crossing from
    one item to the next inside a frame (so "you are caller number" + "three" has no gap);
    the last frame is padded with silence. After the end — or after :meth:`stop` — ``read``
    returns ``None``. Looping needs every item to be :class:`Rewindable`.
    """

    def __init__(self, sources: Iterable[AudioSource | Pcm], loop: bool = False) -> None:
        self._items: list[AudioSource] = [_as_source(s) for s in sources]
        self.loop = loop
        if loop and not all(isinstance(s, Rewindable) for s in self._items):
            raise TypeError("a looping Player needs rewindable sources")
        self._index = 0
        self._played = 0
        self._stopped = False

    @property
    def index(self) -> int:
        """Which playlist item is playing (0-based)."""
        return self._index

    @property
    def position(self) -> int:
        """Samples played since the start (across items and loops)."""
        return self._played

    @property
    def elapsed(self) -> float:
        return self._played / SAMPLE_RATE

    @property
    def finished(self) -> bool:
        return self._stopped or self._index >= len(self._items)

    def add(self, source: AudioSource | Pcm) -> None:
        """Append to the playlist (a finished, non-stopped player resumes with it)."""
        item = _as_source(source)
        if self.loop and not isinstance(item, Rewindable):
            raise TypeError("a looping Player needs rewindable sources")
        self._items.append(item)

    def stop(self) -> None:
        """Barge-in: the next read returns None."""
        self._stopped = True

    def read(self, samples: int = FRAME_SAMPLES) -> Pcm | None:
        if self.finished:
            return None
        out = np.zeros(samples, dtype=np.int16)
        filled = 0
        idle = 0  # items skipped without a sample: a loop of empty items must not spin
        while filled < samples and not self.finished and idle <= len(self._items):
            chunk = self._items[self._index].read(samples - filled)
            if chunk is None or len(chunk) == 0:
                self._advance()
                idle += 1
                continue
            out[filled : filled + len(chunk)] = chunk
            filled += len(chunk)
            idle = 0
        if filled == 0:
            self._stopped = self._stopped or self.loop  # a loop with nothing to play ends
            return None
        self._played += filled
        return out

    def _advance(self) -> None:
        self._index += 1
        if self._index >= len(self._items) and self.loop and self._items:
            for item in self._items:
                if isinstance(item, Rewindable):  # always true: checked in __init__/add
                    item.rewind()
            self._index = 0


def _as_source(source: AudioSource | Pcm) -> AudioSource:
    if isinstance(source, np.ndarray):
        return PcmSource(source)
    if isinstance(source, AudioSource):
        return source
    raise TypeError(f"not an audio source: {source!r}")
