"""Conference rooms on a fake clock: each member hears the others, not itself."""

from __future__ import annotations

import numpy as np

from centralita.media.audio import FRAME_SAMPLES, SAMPLE_RATE, Pcm, to_int16
from centralita.media.conference import ConferenceRooms


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def tone(hz: float, frame: int) -> Pcm:
    t = (np.arange(FRAME_SAMPLES) + frame * FRAME_SAMPLES) / SAMPLE_RATE
    return to_int16(6000 * np.sin(2 * np.pi * hz * t))


def strongest(signal: Pcm, candidates: tuple[int, ...] = (440, 1000, 1700)) -> set[int]:
    """The candidate tones present at a quarter of the loudest one's level or more."""
    spectrum = np.abs(np.fft.rfft(signal.astype(float)))
    freqs = np.fft.rfftfreq(len(signal), 1 / SAMPLE_RATE)
    level = {c: spectrum[np.abs(freqs - c) < 15].max() for c in candidates}
    peak = max(level.values())
    return {c for c, a in level.items() if a > peak / 4}


def test_three_members_hear_each_other_and_not_themselves() -> None:
    clock = FakeClock()
    rooms = ConferenceRooms(clock)
    room = rooms.room("acme", "800")
    members = {hz: room.join(f"m{hz}") for hz in (440, 1000, 1700)}
    heard: dict[int, list[Pcm]] = {hz: [] for hz in members}
    for frame in range(60):
        for hz, member in members.items():
            member.hear(tone(hz, frame))
        clock.now += 0.02
        for hz, member in members.items():
            out = member.read()
            assert out is not None
            heard[hz].append(out)
    for hz, frames in heard.items():
        # the last second, after the jitter buffers filled and the join tones ended
        signal = np.concatenate(frames[-25:])
        assert strongest(signal) == {440, 1000, 1700} - {hz}, hz


def test_room_disappears_when_the_last_member_leaves() -> None:
    rooms = ConferenceRooms(FakeClock())
    room = rooms.room("acme", "800")
    room.join("a")
    room.join("b")
    rooms.leave("acme", "800", "a")
    assert rooms.members("acme", "800") == 1
    rooms.leave("acme", "800", "b")
    assert rooms.members("acme", "800") == 0
    assert rooms.room("acme", "800") is not room  # a fresh room next time


def test_rooms_of_different_tenants_are_separate() -> None:
    rooms = ConferenceRooms(FakeClock())
    rooms.room("acme", "800").join("a")
    assert rooms.members("other", "800") == 0
