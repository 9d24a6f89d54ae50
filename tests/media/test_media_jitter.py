"""The per-stream jitter buffer: prefetch, reordering, duplicates, late packets, loss, pauses,
sequence wrap-around and restarts, adaptive depth."""

from __future__ import annotations

import random

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from centralita.media.audio import FRAME_SAMPLES, Pcm
from centralita.media.jitter import JitterBuffer

TICK = 0.02


def frame(value: int) -> Pcm:
    return np.full(FRAME_SAMPLES, value, dtype=np.int16)


def label(pcm: Pcm | None) -> int | None:
    """Which frame this is (frames carry their number as a constant value)."""
    return None if pcm is None else int(pcm[0])


def push(jb: JitterBuffer, seq: int, now: float, value: int | None = None) -> bool:
    return jb.push(seq, seq * FRAME_SAMPLES, frame(seq if value is None else value), now)


def test_prefetches_target_depth_then_plays_in_order() -> None:
    jb = JitterBuffer(depth=2, adaptive=False)
    push(jb, 0, 0.000)
    assert jb.pop(0.010) is None and not jb.playing
    push(jb, 1, 0.020)
    played = [label(jb.pop(0.030))]
    for seq in range(2, 6):
        push(jb, seq, seq * TICK)
        played.append(label(jb.pop(seq * TICK + 0.01)))
    assert played == [0, 1, 2, 3, 4]
    assert jb.stats.played == 5 and jb.stats.lost == 0


def test_a_single_packet_starts_playing_after_the_prefetch_time() -> None:
    jb = JitterBuffer(depth=3, adaptive=False)
    push(jb, 7, 0.0)
    assert jb.pop(0.02) is None
    assert jb.pop(0.04) is None
    assert label(jb.pop(0.06)) == 7


def test_reordered_packets_come_out_in_sequence() -> None:
    jb = JitterBuffer(depth=3, adaptive=False)
    for seq in (2, 0, 1):
        assert push(jb, seq, 0.0)
    assert [label(jb.pop(0.01 + i * TICK)) for i in range(3)] == [0, 1, 2]


def test_duplicates_are_dropped_and_counted() -> None:
    jb = JitterBuffer(depth=2, adaptive=False)
    assert push(jb, 0, 0.0)
    assert not push(jb, 0, 0.001, value=99)
    assert push(jb, 1, 0.02)
    assert [label(jb.pop(0.03)), label(jb.pop(0.05))] == [0, 1]
    assert jb.stats.duplicates == 1 and jb.stats.received == 2


def test_packets_after_their_playout_point_are_late() -> None:
    jb = JitterBuffer(depth=2, adaptive=False)
    push(jb, 0, 0.0)
    push(jb, 1, 0.0)
    push(jb, 2, 0.0)
    assert label(jb.pop(0.01)) == 0
    assert label(jb.pop(0.03)) == 1
    assert not push(jb, 1, 0.04, value=99)
    assert not push(jb, 0, 0.04, value=99)
    assert jb.stats.late == 2
    assert label(jb.pop(0.05)) == 2


def test_a_lost_packet_is_concealed_by_a_faded_repeat() -> None:
    jb = JitterBuffer(depth=2, adaptive=False, max_conceal=4)
    for seq in (0, 1, 3, 4):
        push(jb, seq, 0.0, value=1000 + seq)
    out = [jb.pop(0.01 + i * TICK) for i in range(4)]
    assert [label(out[0]), label(out[1]), label(out[3])] == [1000, 1001, 1003]
    concealed = out[2]
    assert concealed is not None
    assert 0 < concealed.max() <= 1001 and concealed[-1] < concealed[0]
    assert jb.stats.lost == 1 and jb.stats.concealed == 1


def test_without_concealment_a_gap_is_none() -> None:
    jb = JitterBuffer(depth=2, adaptive=False, conceal=False)
    for seq in (0, 2):
        push(jb, seq, 0.0)
    assert [label(jb.pop(0.01 + i * TICK)) for i in range(3)] == [0, None, 2]
    assert jb.stats.lost == 1


def test_an_underrun_holds_the_playout_point_for_a_late_packet() -> None:
    jb = JitterBuffer(depth=1, adaptive=False)
    push(jb, 0, 0.0)
    assert label(jb.pop(0.01)) == 0
    filler = jb.pop(0.03)  # packet 1 is late: concealment while waiting for it
    assert filler is not None and jb.stats.underruns == 1
    assert push(jb, 1, 0.035)  # not late: the buffer waited for it
    assert label(jb.pop(0.05)) == 1
    assert jb.stats.lost == 0 and jb.stats.late == 0


def test_a_paused_stream_goes_back_to_buffering_and_resumes() -> None:
    jb = JitterBuffer(depth=1, adaptive=False, max_conceal=3)
    push(jb, 0, 0.0)
    assert label(jb.pop(0.01)) == 0
    outs = [jb.pop(0.03 + i * TICK) for i in range(5)]
    assert [o is not None for o in outs] == [True, True, True, False, False]
    assert not jb.playing
    push(jb, 1, 0.5)  # the talkspurt resumes with the next sequence number
    assert label(jb.pop(0.51)) == 1
    assert jb.stats.lost == 0


def test_a_long_hole_is_skipped_at_once() -> None:
    jb = JitterBuffer(depth=2, adaptive=False, max_conceal=3)
    for seq in (0, 1, 40, 41):
        push(jb, seq, 0.0)
    assert [label(jb.pop(0.01 + i * TICK)) for i in range(4)] == [0, 1, 40, 41]
    assert jb.stats.lost == 38


def test_sequence_numbers_wrap_around() -> None:
    jb = JitterBuffer(depth=3, adaptive=False)
    for seq, value in ((65535, 1), (65534, 0), (1, 3), (0, 2)):
        assert jb.push(seq, 0, frame(value), 0.0)
    assert [label(jb.pop(0.01 + i * TICK)) for i in range(4)] == [0, 1, 2, 3]


def test_a_sequence_jump_is_a_restart_once_confirmed() -> None:
    jb = JitterBuffer(depth=1, adaptive=False)
    push(jb, 100, 0.0)
    assert label(jb.pop(0.01)) == 100
    assert not push(jb, 20000, 0.02)  # on probation (RFC 3550 A.1)
    assert push(jb, 20001, 0.04)
    assert jb.stats.restarts == 1
    assert [label(jb.pop(0.05)), label(jb.pop(0.07))] == [20000, 20001]


def test_a_stray_jumped_packet_is_dropped() -> None:
    jb = JitterBuffer(depth=1, adaptive=False)
    push(jb, 100, 0.0)
    assert not push(jb, 30000, 0.01)
    assert push(jb, 101, 0.02)
    assert [label(jb.pop(0.03)), label(jb.pop(0.05))] == [100, 101]
    assert jb.stats.restarts == 0


def test_a_burst_is_shrunk_back_towards_the_target() -> None:
    jb = JitterBuffer(depth=2, adaptive=False, conceal=False)
    for seq in range(12):  # twelve frames arriving together after a stall
        push(jb, seq, 0.0)
    played = [label(jb.pop(0.01 + i * TICK)) for i in range(9)]
    # One frame dropped per tick while more than target + slack (4) are queued.
    assert played == [1, 3, 5, 7, 8, 9, 10, 11, None]
    assert jb.stats.dropped == 4 and jb.queued == 0


def test_adaptive_depth_follows_the_jitter() -> None:
    steady = JitterBuffer(depth=2, max_depth=10)
    jittery = JitterBuffer(depth=2, max_depth=10)
    rng = random.Random(7)
    for seq in range(300):
        push(steady, seq, seq * TICK)
        push(jittery, seq, seq * TICK + rng.uniform(0.0, 0.08))
    assert steady.jitter < 0.001 and steady.target == 2
    assert jittery.jitter > 0.01 and 3 <= jittery.target <= 10


def test_fixed_depth_ignores_the_jitter() -> None:
    jb = JitterBuffer(depth=3, max_depth=10, adaptive=False)
    rng = random.Random(3)
    for seq in range(200):
        push(jb, seq, seq * TICK + rng.uniform(0.0, 0.1))
    assert jb.jitter > 0.01 and jb.target == 3


def test_jitter_estimate_matches_rfc3550_for_alternating_delay() -> None:
    # Transit alternates between 0 and 10 ms: |D| is 80 timestamp units every time, so the
    # RFC 3550 §6.4.1 estimate converges to 80 units = 10 ms.
    jb = JitterBuffer()
    for seq in range(400):
        push(jb, seq, seq * TICK + (0.01 if seq % 2 else 0.0))
    assert abs(jb.jitter - 0.010) < 1e-4


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.integers(0, 59), min_size=1, max_size=120),
    st.integers(0, 65535),
)
def test_any_arrival_order_plays_each_frame_once_in_order(arrivals: list[int], base: int) -> None:
    jb = JitterBuffer(depth=3, max_depth=6)
    played: list[int] = []
    now = 0.0
    for index, offset in enumerate(arrivals):
        jb.push((base + offset) & 0xFFFF, offset * FRAME_SAMPLES, frame(offset), now)
        if index % 2:
            now += TICK
            out = jb.pop(now)
            if out is not None and jb.stats.played > len(played):
                played.append(label(out) or 0)
    assert played == sorted(played)
    assert len(played) == len(set(played))
    stats = jb.stats
    assert stats.received + stats.duplicates + stats.late == len(arrivals)
    assert stats.received <= len(set(arrivals))
