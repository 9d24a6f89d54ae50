"""CPU cost of transcoding a call, per 20 ms frame and per direction.

Run: .venv/bin/python bench/transcode.py [seconds-per-case]
For each codec pair, one direction is a ``Transcoder(src, dst)`` converting a stream of 20 ms
payloads of a speech-like signal (a gliding two-tone mix with noise, syllable-like envelope);
the other direction is ``Transcoder(dst, src)``. Prints microseconds of CPU (process time) per
frame and direction, and the calls one core could transcode in real time (a call is both
directions, 50 frames a second each). Pass-through (same codec on both legs) is shown for
scale. Best of three runs per case.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from centralita.media.codecs import (
    G722,
    Codec,
    CodecError,
    Opus,
    Pcma,
    Pcmu,
    Transcoder,
    available_codecs,
)

RATE = 8000
FRAME = 160
FRAME_US = 20_000
CodecFactory = Callable[[], Codec]
PAIRS: list[tuple[str, CodecFactory, CodecFactory]] = [
    ("PCMU (pass)", Pcmu, Pcmu),
    ("PCMU<->PCMA", Pcmu, Pcma),
    ("PCMU<->G722", Pcmu, G722),
    ("PCMU<->opus", Pcmu, Opus),
    ("PCMU<->opus c5", Pcmu, lambda: Opus(complexity=5)),
    ("G722<->opus", G722, Opus),
]


def speech_like(seconds: float) -> npt.NDArray[np.int16]:
    rng = np.random.default_rng(2026)
    t = np.arange(int(RATE * seconds)) / RATE
    pitch = 140 + 40 * np.sin(2 * np.pi * 0.7 * t)
    voiced = np.sin(2 * np.pi * np.cumsum(pitch) / RATE) + 0.5 * np.sin(
        2 * np.pi * np.cumsum(pitch * 7.3) / RATE
    )
    envelope = np.clip(np.sin(2 * np.pi * 3.1 * t), 0, None) ** 0.5
    signal = 8000 * envelope * voiced + rng.normal(0, 300, len(t))
    return np.clip(np.rint(signal), -32768, 32767).astype(np.int16)


def payloads(codec: Codec, signal: npt.NDArray[np.int16]) -> list[bytes]:
    return [codec.encode(signal[i : i + FRAME]) for i in range(0, len(signal) - FRAME + 1, FRAME)]


def cost_us(src: Codec, dst: Codec, stream: list[bytes], seconds: float) -> float:
    """CPU microseconds per frame for ``src`` -> ``dst``, best of three runs."""
    best = float("inf")
    for _ in range(3):
        transcoder = Transcoder(src, dst)
        frames = 0
        start = time.process_time()
        while time.process_time() - start < seconds / 3:
            for payload in stream:
                transcoder.convert(payload)
            frames += len(stream)
        best = min(best, (time.process_time() - start) * 1e6 / frames)
    return best


def main() -> None:
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 2.0
    signal = speech_like(2.0)
    available = {name.lower() for name in available_codecs()}
    print(f"codecs available: {', '.join(available_codecs())}; {seconds:g} s CPU per case")
    header = f"{'pair':<16}{'A->B us':>10}{'B->A us':>10}{'call us/20ms':>14}{'calls/core':>12}"
    print(header)
    print("-" * len(header))
    for label, make_a, make_b in PAIRS:
        try:
            a, b = make_a(), make_b()
        except CodecError as exc:
            print(f"{label:<16}not available here: {exc}")
            continue
        assert a.name.lower() in available and b.name.lower() in available
        forward = cost_us(a, b, payloads(a, signal), seconds)
        backward = cost_us(b, a, payloads(b, signal), seconds)
        per_call = forward + backward
        print(
            f"{label:<16}{forward:>10.1f}{backward:>10.1f}{per_call:>14.1f}"
            f"{FRAME_US / per_call:>12.0f}"
        )


if __name__ == "__main__":
    main()
