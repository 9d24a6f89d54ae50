"""CPU cost of transcoding a call, per 20 ms frame and per direction.

Run: .venv/bin/python bench/transcode.py [seconds-per-case]
For each codec pair, one direction is a ``Transcoder(src, dst)`` converting a stream of 20 ms
payloads of a speech-like signal (a gliding two-tone mix with noise, syllable-like envelope);
the other direction is ``Transcoder(dst, src)``. Prints microseconds of CPU (process time) per
frame and direction, and the calls one core could transcode in real time (a call is both
directions, 50 frames a second each). Pass-through (same codec on both legs) is shown for
scale. Best of three runs per case.

A second table is the relay's per-packet path for a transcoded or SRTP call leg
(``centralita.media.transform``): whole RTP packets through ``DirectionTransform`` (RTP header
rewrite, transcoding, SRTP unprotect/protect), sockets excluded (bench/relay.py has those).
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
from centralita.media.srtp import SrtpContext, SrtpParams, generate_key
from centralita.media.transform import DirectionPlan, MediaPlan, PayloadRoute, PlanRuntime

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
    relay_main(signal)


RELAY_PACKETS = 3000  # a minute of one direction; unique packets (SRTP refuses replays)
SUITE = "AES_CM_128_HMAC_SHA1_80"
PT = {"PCMU/8000": 0, "PCMA/8000": 8, "G722/8000": 9}
RELAY_CASES: list[tuple[str, CodecFactory, CodecFactory, bool]] = [
    ("PCMU, SRTP on A", Pcmu, Pcmu, True),
    ("PCMU<->PCMA", Pcmu, Pcma, False),
    ("PCMU<->G722", Pcmu, G722, False),
    ("PCMU<->G722, SRTP A", Pcmu, G722, True),
]


def _spec(codec: Codec) -> str:
    return f"{codec.name}/{codec.clock_rate}"


def _rtp(pt: int, seq: int, payload: bytes) -> bytes:
    header = bytes([0x80, pt]) + (seq & 0xFFFF).to_bytes(2, "big")
    return header + (seq * FRAME & 0xFFFFFFFF).to_bytes(4, "big") + b"\x00\x00\xca\xfe" + payload


def _route(src: Codec, dst: Codec) -> DirectionPlan:
    same = _spec(src) == _spec(dst)
    transcode = None if same else (_spec(src), _spec(dst))
    return DirectionPlan.of({PT[_spec(src)]: PayloadRoute(PT[_spec(dst)], transcode=transcode)})


def relay_cost_us(
    a: Codec, b: Codec, srtp: bool, signal: npt.NDArray[np.int16]
) -> tuple[float, float]:
    """CPU microseconds per packet caller->callee and callee->caller, best of three."""
    best = [float("inf"), float("inf")]
    stream_a, stream_b = payloads(a, signal), payloads(b, signal)
    for _ in range(3):
        ours, phone = generate_key(), generate_key()
        params = SrtpParams(SUITE, ours, phone) if srtp else None
        from_a = [_rtp(PT[_spec(a)], n, stream_a[n % len(stream_a)]) for n in range(RELAY_PACKETS)]
        from_b = [_rtp(PT[_spec(b)], n, stream_b[n % len(stream_b)]) for n in range(RELAY_PACKETS)]
        if params is not None:
            sender = SrtpContext(SrtpParams(SUITE, phone, ours))
            from_a = [sender.protect(p) for p in from_a]
        runtime = PlanRuntime()
        runtime.update(MediaPlan(params, None, _route(a, b), _route(b, a)))
        for index, (transform, packets) in enumerate(
            ((runtime.a_to_b, from_a), (runtime.b_to_a, from_b))
        ):
            assert transform is not None
            start = time.process_time()
            for packet in packets:
                transform.rtp(packet)
            best[index] = min(best[index], (time.process_time() - start) * 1e6 / len(packets))
            assert transform.dropped_srtp == transform.dropped_payload == 0
    return best[0], best[1]


def relay_main(signal: npt.NDArray[np.int16]) -> None:
    print()
    print("relay transform, whole RTP packets, sockets excluded")
    header = f"{'case':<22}{'A->B us':>10}{'B->A us':>10}{'call us/20ms':>14}{'calls/core':>12}"
    print(header)
    print("-" * len(header))
    for label, make_a, make_b, srtp in RELAY_CASES:
        forward, backward = relay_cost_us(make_a(), make_b(), srtp, signal)
        per_call = forward + backward
        print(
            f"{label:<22}{forward:>10.1f}{backward:>10.1f}{per_call:>14.1f}"
            f"{FRAME_US / per_call:>12.0f}"
        )


if __name__ == "__main__":
    main()
