"""Conference rooms: one :class:`ConferenceMixer` per room, shared by its members' calls.

Each member is an audio source for its own RTP endpoint (what the member hears) and a sink
for what it says. The room mixes once per 20 ms tick, lazily, when the first member asks for
that tick's frame: members' endpoints run on their own 20 ms clocks, and whichever reads first
drives the mix for everybody (the clock is injected, so tests drive it by hand).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from centralita.media.audio import FRAME_MS, FRAME_SAMPLES, Pcm, silence
from centralita.media.mixer import ConferenceMixer

Clock = Callable[[], float]
TICK = FRAME_MS / 1000


class Member:
    def __init__(self, room: Room, member_id: str) -> None:
        self.room = room
        self.member_id = member_id

    def hear(self, frame: Pcm) -> None:
        """What the member said in the last 20 ms (decoded, 8 kHz)."""
        if len(frame) == FRAME_SAMPLES:
            self.room.mixer.push(self.member_id, frame, now=self.room.clock())

    def read(self, samples: int = FRAME_SAMPLES) -> Pcm | None:
        """What the member hears: everyone but themselves."""
        return self.room.frame_for(self.member_id)


class Room:
    def __init__(self, name: str, clock: Clock) -> None:
        self.name = name
        self.clock = clock
        self.mixer = ConferenceMixer()
        self._tick = -1
        self._frames: dict[str, Pcm] = {}

    def join(self, member_id: str, *, muted: bool = False) -> Member:
        self.mixer.add(member_id, muted=muted)
        return Member(self, member_id)

    def leave(self, member_id: str) -> None:
        if member_id in self.mixer:
            self.mixer.remove(member_id)
        self._frames.pop(member_id, None)

    def mute(self, member_id: str, muted: bool = True) -> None:
        self.mixer.mute(member_id, muted)

    def __len__(self) -> int:
        return len(self.mixer)

    def frame_for(self, member_id: str) -> Pcm:
        now = self.clock()
        tick = int(now / TICK)
        if tick != self._tick:
            self._tick = tick
            self._frames = self.mixer.mix(now)
        return self._frames.get(member_id, silence())


class ConferenceRooms:
    """Rooms by (tenant, room name); a room exists while it has members."""

    def __init__(self, clock: Clock = time.monotonic) -> None:
        self.clock = clock
        self._rooms: dict[tuple[str, str], Room] = {}

    def room(self, tenant: str, name: str) -> Room:
        key = (tenant, name)
        if key not in self._rooms:
            self._rooms[key] = Room(name, self.clock)
        return self._rooms[key]

    def leave(self, tenant: str, name: str, member_id: str) -> None:
        room = self._rooms.get((tenant, name))
        if room is None:
            return
        room.leave(member_id)
        if len(room) == 0:
            del self._rooms[(tenant, name)]

    def members(self, tenant: str, name: str) -> int:
        room = self._rooms.get((tenant, name))
        return len(room) if room is not None else 0
