"""Conference rooms: one :class:`ConferenceMixer` per room, shared by its members' calls.

Theory of operation
-------------------
Each member is an audio source for its own RTP endpoint (what the member hears) and a sink
for what it says. The room mixes once per 20 ms tick, lazily, when the first member asks for
that tick's frame: members' endpoints run on their own 20 ms clocks, and whichever reads first
drives the mix for everybody (the clock is injected, so tests drive it by hand). A tick
nobody read in time (a late timer) is mixed on the next read, up to :data:`CATCH_UP_TICKS`.

Roles and muting. A member is a moderator or not. Whether a member is heard is recomputed
from the room's state after every change (join, leave, key press), never toggled piecemeal:
a member is muted when it muted itself (or joined muted), or when it is not a moderator and
either a moderator muted the others, or the room is ``muted_until_moderator`` and no
moderator is present. So the first moderator arriving unmutes the members and the last one
leaving mutes them again; a moderator's "mute the others" ends with the last moderator.
A member whose state changes because of somebody else hears a short cue (a high beep:
unmuted, a low double beep: muted); the member pressing a key always hears the cue of its
own resulting state. The joiner's own initial state is not cued (the join tone is playing).

Keys (the call layer passes every key the member presses to :meth:`Member.key`):
``0`` mutes or unmutes oneself; ``1``, from a moderator, mutes or unmutes every member who
is not a moderator. Other keys do nothing.

Settings (:class:`RoomSettings`: maximum members, join/leave tones, muted until moderator)
come with every join, from the room's configuration: the room adopts the joiner's settings,
so a configuration change applies from the next join. A join that would exceed
``max_members`` raises :class:`RoomFull` and changes nothing.

Recording. The first member to join with a ``record`` path starts the room's recording; it
ends when the room empties (later paths are ignored). The recording is the whole room: a
silent phantom participant is added to the mixer, and since each participant hears
everyone but itself, the phantom hears everyone, tones included, through the same limiter.
Its frame of each tick is written to a mono 16-bit WAV by a :class:`CallRecorder`
(incremental, header finalised on close). A recording that cannot be opened is logged and
the member joins anyway: the conference matters more than its record.
"""

from __future__ import annotations

import enum
import logging
import time
from collections.abc import Callable, Set
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from centralita.media.audio import FRAME_MS, FRAME_SAMPLES, Pcm, silence, to_int16
from centralita.media.errors import MediaError
from centralita.media.mixer import ConferenceMixer
from centralita.media.player import AudioSource
from centralita.media.recorder import CallRecorder
from centralita.media.tones import ToneGenerator, sequence

log = logging.getLogger("centralita.media.conference")

Clock = Callable[[], float]
TICK = FRAME_MS / 1000

# The recording's phantom listener: SIP Call-IDs (the member ids) never contain a NUL.
RECORDER_ID = "\x00recording"

# Cues a member hears privately when its mute state changes: low double beep = muted,
# high single beep = unmuted. Soft, like the join/leave tones.
MUTED_CUE = sequence((480.0, 0.1), (0.0, 0.05), (480.0, 0.1), level_dbm0=-16.0)
UNMUTED_CUE = sequence((960.0, 0.15), level_dbm0=-16.0)

# Ticks nobody read (the members' endpoints run on their own timers, and a late timer can
# skip a tick) are mixed on the next read, so the jitter buffers and the recording keep pace
# with real time; a longer gap is a stall, not worth replaying.
CATCH_UP_TICKS = 5

MUTE_SELF_KEY = "0"
MUTE_OTHERS_KEY = "1"


class RoomFull(MediaError):
    """The room already has its maximum number of members (busy, RFC 3261 §21.4.24, if it
    ever reaches SIP before the call is answered)."""

    status_code = 486
    reason = "Busy Here"


class KeyAction(enum.StrEnum):
    """What a key press did in the room (for the call's trace)."""

    MUTED_SELF = "muted_self"
    UNMUTED_SELF = "unmuted_self"
    MUTED_OTHERS = "muted_others"
    UNMUTED_OTHERS = "unmuted_others"


@dataclass(frozen=True, slots=True)
class RoomSettings:
    max_members: int | None = None
    join_tones: bool = True  # join and leave tones
    muted_until_moderator: bool = False


@dataclass(frozen=True, slots=True)
class MemberInfo:
    member_id: str
    moderator: bool
    muted: bool  # effectively: not heard by the room


@dataclass(slots=True)
class _State:
    moderator: bool
    self_muted: bool
    muted: bool = False  # the state applied to the mixer
    cues: list[AudioSource] = field(default_factory=list)


class Member:
    """A member's handle: its audio both ways and its key presses."""

    def __init__(self, room: Room, member_id: str) -> None:
        self.room = room
        self.member_id = member_id

    @property
    def moderator(self) -> bool:
        return self.room.is_moderator(self.member_id)

    @property
    def muted(self) -> bool:
        return self.room.is_muted(self.member_id)

    def hear(self, frame: Pcm) -> None:
        """What the member said in the last 20 ms (decoded, 8 kHz)."""
        if len(frame) == FRAME_SAMPLES:
            self.room.mixer.push(self.member_id, frame, now=self.room.clock())

    def read(self, samples: int = FRAME_SAMPLES) -> Pcm | None:
        """What the member hears: everyone but themselves, and its own cues."""
        return self.room.frame_for(self.member_id)

    def key(self, digit: str) -> KeyAction | None:
        """A key the member pressed while in the room (see module docstring)."""
        return self.room.key(self.member_id, digit)


class Room:
    def __init__(self, name: str, clock: Clock, settings: RoomSettings | None = None) -> None:
        self.name = name
        self.clock = clock
        self.settings = settings or RoomSettings()
        self.mixer = ConferenceMixer()
        self._members: dict[str, _State] = {}
        self._others_muted = False
        self._recorder: CallRecorder | None = None
        self._tick = -1
        self._frames: dict[str, Pcm] = {}

    # ---- membership ---------------------------------------------------------------------

    def join(
        self,
        member_id: str,
        *,
        muted: bool = False,
        moderator: bool = False,
        settings: RoomSettings | None = None,
        record: Path | None = None,
    ) -> Member:
        """Add a member; RoomFull (nothing changed) when the room is at its maximum."""
        adopted = settings or self.settings
        if adopted.max_members is not None and len(self._members) >= adopted.max_members:
            raise RoomFull(f"room {self.name} has {len(self._members)} members, the maximum")
        if member_id in self._members:
            raise ValueError(f"member {member_id!r} already in room {self.name}")
        self.settings = adopted
        if record is not None and self._recorder is None:
            self._start_recording(record)
        state = _State(moderator=moderator, self_muted=muted, muted=muted)
        self.mixer.add(member_id, muted=muted, tone=adopted.join_tones)
        self._members[member_id] = state
        self._apply(quiet={member_id})
        return Member(self, member_id)

    def leave(self, member_id: str) -> None:
        state = self._members.pop(member_id, None)
        if state is None:
            return
        self.mixer.remove(member_id, tone=self.settings.join_tones and bool(self._members))
        self._frames.pop(member_id, None)
        if not self.moderators:
            self._others_muted = False  # a moderator's mute ends with the last moderator
        self._apply()

    def close(self) -> None:
        """The room is over: finish the recording."""
        if self._recorder is not None:
            self._recorder.close()
            self._recorder = None
            self.mixer.remove(RECORDER_ID, tone=False)

    def __len__(self) -> int:
        return len(self._members)

    def __contains__(self, member_id: object) -> bool:
        return member_id in self._members

    @property
    def moderators(self) -> int:
        return sum(state.moderator for state in self._members.values())

    @property
    def recording(self) -> Path | None:
        return self._recorder.path if self._recorder is not None else None

    def roster(self) -> list[MemberInfo]:
        """Who is in the room, in joining order."""
        return [MemberInfo(mid, s.moderator, s.muted) for mid, s in self._members.items()]

    def is_moderator(self, member_id: str) -> bool:
        return self._members[member_id].moderator

    def is_muted(self, member_id: str) -> bool:
        return self._members[member_id].muted

    # ---- muting -------------------------------------------------------------------------

    def mute(self, member_id: str, muted: bool = True) -> None:
        """Mute or unmute a member as if it had pressed the key itself (no cue)."""
        self._members[member_id].self_muted = muted
        self._apply(quiet={member_id})

    def key(self, member_id: str, digit: str) -> KeyAction | None:
        state = self._members.get(member_id)
        if state is None:
            return None
        if digit == MUTE_SELF_KEY:
            state.self_muted = not state.self_muted
            self._apply(quiet={member_id})
            self._cue(state, state.muted)
            return KeyAction.MUTED_SELF if state.self_muted else KeyAction.UNMUTED_SELF
        if digit == MUTE_OTHERS_KEY and state.moderator:
            self._others_muted = not self._others_muted
            self._apply(quiet={member_id})
            self._cue(state, self._others_muted)
            return KeyAction.MUTED_OTHERS if self._others_muted else KeyAction.UNMUTED_OTHERS
        return None

    def _should_mute(self, state: _State) -> bool:
        if state.self_muted:
            return True
        if state.moderator:
            return False
        waiting = self.settings.muted_until_moderator and not self.moderators
        return self._others_muted or waiting

    def _apply(self, quiet: Set[str] = frozenset()) -> None:
        """Bring every member's mute state in line with the room's; cue those it changed."""
        for member_id, state in self._members.items():
            muted = self._should_mute(state)
            if muted == state.muted:
                continue
            state.muted = muted
            self.mixer.mute(member_id, muted)
            if member_id not in quiet:
                self._cue(state, muted)

    @staticmethod
    def _cue(state: _State, muted: bool) -> None:
        state.cues.append(ToneGenerator(MUTED_CUE if muted else UNMUTED_CUE))

    # ---- audio --------------------------------------------------------------------------

    def frame_for(self, member_id: str) -> Pcm:
        now = self.clock()
        tick = int(now / TICK)
        if tick != self._tick:
            missed = tick - self._tick if self._tick >= 0 else 1
            self._tick = tick
            for _ in range(missed if 0 < missed <= CATCH_UP_TICKS else 1):
                self._mix(now)
        frame = self._frames.get(member_id, silence())
        state = self._members.get(member_id)
        if state is None or not state.cues:
            return frame
        return _with_cues(frame, state)

    def _mix(self, now: float) -> None:
        self._frames = self.mixer.mix(now)
        heard = self._frames.pop(RECORDER_ID, None)
        if self._recorder is not None:
            self._recorder.write(heard, None)

    def _start_recording(self, path: Path) -> None:
        try:
            self._recorder = CallRecorder(path)
        except OSError:
            log.exception("cannot record room %s to %s", self.name, path)
            return
        self.mixer.add(RECORDER_ID, muted=True, tone=False)


def _with_cues(frame: Pcm, state: _State) -> Pcm:
    """``frame`` with the member's pending cues mixed over it (per tick, so a cue spans as
    many ticks as it lasts)."""
    mixed = frame.astype(np.float32)
    playing = []
    for cue in state.cues:
        chunk = cue.read(len(frame))
        if chunk is None or not len(chunk):
            continue
        mixed[: len(chunk)] += chunk
        playing.append(cue)
    state.cues = playing
    return to_int16(mixed)


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

    def join(
        self,
        tenant: str,
        name: str,
        member_id: str,
        *,
        muted: bool = False,
        moderator: bool = False,
        settings: RoomSettings | None = None,
        record: Path | None = None,
    ) -> Member:
        """Join (creating) the room; RoomFull leaves everything as it was."""
        room = self.room(tenant, name)
        try:
            return room.join(
                member_id, muted=muted, moderator=moderator, settings=settings, record=record
            )
        except Exception:
            if not len(room):
                self._drop(tenant, name, room)
            raise

    def leave(self, tenant: str, name: str, member_id: str) -> None:
        room = self._rooms.get((tenant, name))
        if room is None:
            return
        room.leave(member_id)
        if len(room) == 0:
            self._drop(tenant, name, room)

    def members(self, tenant: str, name: str) -> int:
        room = self._rooms.get((tenant, name))
        return len(room) if room is not None else 0

    def get(self, tenant: str, name: str) -> Room | None:
        """The room if it exists (has members), without creating it."""
        return self._rooms.get((tenant, name))

    def _drop(self, tenant: str, name: str, room: Room) -> None:
        room.close()
        del self._rooms[(tenant, name)]
