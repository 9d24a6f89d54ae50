"""Conference mixing benchmark: CPU cost of one 20 ms tick, per participant.

For each room size N the mixer gets N participants, every one of them talking (the worst case:
each pushes a 20 ms frame into its jitter buffer every tick, all frames non-silent, the limiter
busy because the sum is loud). One tick = N pushes + one ``mix()``. Figures per N: µs per tick
(process CPU time, so other load on the machine does not inflate it; and the median wall
time), µs per participant per tick, the share of one core
that one room takes (tick cost / 20 ms) and how many such rooms one core could mix. A second
column set measures a realistic room: two talkers, everyone else sending silence.

    .venv/bin/python bench/mixing.py [--sizes 3,10,30,50] [--ticks 2000]
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from centralita.media.audio import FRAME_SAMPLES, SAMPLE_RATE, Pcm, to_int16
from centralita.media.mixer import ConferenceMixer

TICK = 0.02
WARMUP = 50


def voices(count: int, ticks: int, talking: int) -> list[list[Pcm]]:
    """Per participant, a loop of frames: a loud tone for talkers, silence for the others."""
    loop = min(ticks, 50)
    frames = []
    for index in range(count):
        if index < talking:
            t = np.arange(loop * FRAME_SAMPLES) / SAMPLE_RATE
            pcm = to_int16(12000 * np.sin(2 * np.pi * (200 + 37 * index) * t))
        else:
            pcm = np.zeros(loop * FRAME_SAMPLES, dtype=np.int16)
        frames.append([pcm[i * FRAME_SAMPLES : (i + 1) * FRAME_SAMPLES] for i in range(loop)])
    return frames


def measure(count: int, ticks: int, talking: int) -> tuple[float, list[float]]:
    """CPU seconds per tick (mean, process CPU time: other load on the machine does not
    count), and each tick's wall time; a tick = every participant's push + one mix."""
    mixer = ConferenceMixer()
    ids = [f"p{i}" for i in range(count)]
    for pid in ids:
        mixer.add(pid, tone=False)
    frames = voices(count, ticks, talking)
    walls = []
    cpu_start = 0.0
    for tick in range(ticks + WARMUP):
        if tick == WARMUP:
            cpu_start = time.process_time()
        now = tick * TICK
        started = time.perf_counter()
        for pid, loop in zip(ids, frames, strict=True):
            mixer.push(pid, loop[tick % len(loop)], seq=tick & 0xFFFF, now=now)
        mixer.mix(now + TICK / 2)
        if tick >= WARMUP:
            walls.append(time.perf_counter() - started)
    return (time.process_time() - cpu_start) / ticks, walls


def row(count: int, result: tuple[float, list[float]]) -> str:
    cpu, walls = result
    cpu_us = cpu * 1e6
    median = float(np.median(walls)) * 1e6
    per_participant = cpu_us / count
    core_share = cpu_us / (TICK * 1e6) * 100
    rooms = int(TICK / cpu)
    return f"{cpu_us:8.1f} {median:8.1f} {per_participant:8.2f} {core_share:6.2f}% {rooms:6d}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="3,10,30,50")
    parser.add_argument("--ticks", type=int, default=2000)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    print(f"numpy {np.__version__}, Python {sys.version.split()[0]}, {args.ticks} ticks per size")
    header = f"{'cpu µs':>8} {'wall p50':>8} {'µs/part':>8} {'core':>7} {'rooms':>6}"
    print(f"{'':>4} | {'everyone talking':^41} | {'two talkers, others silent':^41}")
    print(f"{'N':>4} | {header} | {header}")
    for count in sizes:
        loud = measure(count, args.ticks, talking=count)
        calm = measure(count, args.ticks, talking=min(2, count))
        print(f"{count:4d} | {row(count, loud)} | {row(count, calm)}")
    print("cpu µs = process CPU time per tick (mean); wall p50 = median wall time per tick;")
    print("tick = N jitter-buffer pushes + one mix(); µs/part = cpu µs / N;")
    print("core = share of one core per room;")
    print("rooms = rooms of that size one core could mix in real time (no other work).")


if __name__ == "__main__":
    main()
