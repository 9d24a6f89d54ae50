"""Conference rooms with roles on a fake clock: muting, moderator keys, capacity, tones and
the room's recording."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from centralita.media.audio import FRAME_SAMPLES, SAMPLE_RATE, Pcm, to_int16
from centralita.media.conference import (
    RECORDER_ID,
    TICK,
    ConferenceRooms,
    KeyAction,
    Member,
    Room,
    RoomFull,
    RoomSettings,
)
from centralita.media.wavfile import read_wav

MUTED_HZ, UNMUTED_HZ, JOIN_HZ = 480.0, 960.0, 523.25
UNTIL_MODERATOR = RoomSettings(muted_until_moderator=True)


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.5 * TICK  # mid-tick: a tick boundary never depends on float rounding

    def __call__(self) -> float:
        return self.now


def tone(hz: float, frame: int, amplitude: float = 6000.0) -> Pcm:
    t = (np.arange(FRAME_SAMPLES) + frame * FRAME_SAMPLES) / SAMPLE_RATE
    return to_int16(amplitude * np.sin(2 * np.pi * hz * t))


def amplitude_at(signal: Pcm, hz: float) -> float:
    """The amplitude of the ``hz`` component of ``signal`` (a windowless DFT bin)."""
    t = np.arange(len(signal)) / SAMPLE_RATE
    return float(2 * abs(np.sum(signal * np.exp(-2j * np.pi * hz * t))) / len(signal))


class Rig:
    """A room, a clock, and what each member heard, tick by tick."""

    def __init__(self, clock: FakeClock, rooms: ConferenceRooms | None = None) -> None:
        self.clock = clock
        self.rooms = rooms or ConferenceRooms(clock)
        self.voices: dict[str, float] = {}  # member id -> the tone it speaks
        self.members: dict[str, Member] = {}
        self.heard: dict[str, list[Pcm]] = {}
        self.frame = 0

    @property
    def room(self) -> Room:
        room = self.rooms.get("acme", "team")
        assert room is not None
        return room

    def join(self, member_id: str, hz: float = 0.0, **options: object) -> Member:
        member = self.rooms.join("acme", "team", member_id, **options)  # type: ignore[arg-type]
        self.members[member_id] = member
        self.voices[member_id] = hz
        self.heard[member_id] = []
        return member

    def leave(self, member_id: str) -> None:
        self.rooms.leave("acme", "team", member_id)
        del self.members[member_id]

    def run(self, ticks: int) -> None:
        for _ in range(ticks):
            for member_id, member in self.members.items():
                if self.voices[member_id]:
                    member.hear(tone(self.voices[member_id], self.frame))
            self.frame += 1
            self.clock.now = (self.frame + 0.5) * TICK
            for member_id, member in self.members.items():
                out = member.read()
                assert out is not None
                self.heard[member_id].append(out)

    def last(self, member_id: str, ticks: int) -> Pcm:
        return np.concatenate(self.heard[member_id][-ticks:])


@pytest.fixture
def rig() -> Rig:
    return Rig(FakeClock())


# ---- muted until a moderator ------------------------------------------------------------


def test_members_wait_muted_until_a_moderator_arrives(rig: Rig) -> None:
    rig.join("alice", 440.0, settings=UNTIL_MODERATOR)
    rig.join("bob", 1000.0, settings=UNTIL_MODERATOR)
    rig.run(40)
    assert rig.room.is_muted("alice") and rig.room.is_muted("bob")
    assert amplitude_at(rig.last("bob", 20), 440.0) < 50  # Alice is not heard
    rig.join("carol", 1700.0, moderator=True, settings=UNTIL_MODERATOR)
    rig.run(40)
    assert not rig.room.is_muted("alice") and not rig.room.is_muted("bob")
    assert amplitude_at(rig.last("carol", 20), 440.0) > 1000
    assert amplitude_at(rig.last("bob", 20), 440.0) > 1000


def test_members_hear_the_unmuted_cue_when_the_moderator_comes(rig: Rig) -> None:
    settings = RoomSettings(muted_until_moderator=True, join_tones=False)
    rig.join("alice", settings=settings)
    rig.run(10)
    rig.join("carol", moderator=True, settings=settings)
    rig.run(10)
    assert amplitude_at(rig.last("alice", 10), UNMUTED_HZ) > 1000
    assert amplitude_at(rig.last("carol", 10), UNMUTED_HZ) < 50  # a cue is private


def test_the_last_moderator_leaving_mutes_the_members_again(rig: Rig) -> None:
    rig.join("alice", settings=UNTIL_MODERATOR)
    rig.join("carol", moderator=True, settings=UNTIL_MODERATOR)
    rig.join("dave", moderator=True, settings=UNTIL_MODERATOR)
    rig.leave("carol")
    assert not rig.room.is_muted("alice")  # Dave is still a moderator
    rig.leave("dave")
    assert rig.room.is_muted("alice")
    rig.run(15)
    assert amplitude_at(rig.last("alice", 15), MUTED_HZ) > 1000


def test_a_moderator_is_never_muted_by_the_wait(rig: Rig) -> None:
    rig.join("carol", moderator=True, settings=UNTIL_MODERATOR)
    assert not rig.room.is_muted("carol")
    assert rig.room.moderators == 1


# ---- keys -------------------------------------------------------------------------------


def test_zero_mutes_and_unmutes_oneself_with_a_cue(rig: Rig) -> None:
    alice = rig.join("alice", 440.0, settings=RoomSettings(join_tones=False))
    rig.join("bob")
    rig.run(20)
    assert alice.key("0") is KeyAction.MUTED_SELF
    assert alice.muted
    rig.run(15)
    assert amplitude_at(rig.last("alice", 15), MUTED_HZ) > 1000
    assert amplitude_at(rig.last("bob", 10), 440.0) < 50
    assert amplitude_at(rig.last("bob", 15), MUTED_HZ) < 50  # only the presser hears it
    assert alice.key("0") is KeyAction.UNMUTED_SELF
    rig.run(20)
    assert amplitude_at(rig.last("alice", 20), UNMUTED_HZ) > 1000
    assert amplitude_at(rig.last("bob", 10), 440.0) > 1000


def test_a_moderator_mutes_and_unmutes_everybody_else(rig: Rig) -> None:
    carol = rig.join("carol", 1700.0, moderator=True)
    rig.join("alice", 440.0)
    rig.join("bob", 1000.0)
    rig.join("dave", moderator=True)
    assert carol.key("1") is KeyAction.MUTED_OTHERS
    assert [(m.member_id, m.muted) for m in rig.room.roster()] == [
        ("carol", False),
        ("alice", True),
        ("bob", True),
        ("dave", False),  # moderators keep the floor
    ]
    rig.run(40)
    assert amplitude_at(rig.last("alice", 20), 1700.0) > 1000  # still hears the moderator
    assert amplitude_at(rig.last("carol", 20), 440.0) < 50
    assert carol.key("1") is KeyAction.UNMUTED_OTHERS
    assert not rig.room.is_muted("alice") and not rig.room.is_muted("bob")


def test_members_cannot_use_the_moderator_key(rig: Rig) -> None:
    alice = rig.join("alice")
    rig.join("bob")
    assert alice.key("1") is None
    assert alice.key("5") is None
    assert not rig.room.is_muted("bob")


def test_self_mute_survives_the_moderator_unmuting_the_room(rig: Rig) -> None:
    carol = rig.join("carol", moderator=True)
    alice = rig.join("alice")
    alice.key("0")
    carol.key("1")
    carol.key("1")
    assert alice.muted  # she muted herself: the moderator's unmute-all does not open her


def test_the_moderators_mute_ends_with_the_last_moderator(rig: Rig) -> None:
    carol = rig.join("carol", moderator=True)
    rig.join("alice")
    carol.key("1")
    rig.leave("carol")
    assert not rig.room.is_muted("alice")


def test_a_member_joining_muted_stays_muted(rig: Rig) -> None:
    rig.join("alice", muted=True)
    assert rig.room.is_muted("alice")
    assert rig.room.mixer.is_muted("alice")


# ---- capacity -----------------------------------------------------------------------------


def test_a_full_room_refuses_the_next_member_and_stays_as_it_was(rig: Rig) -> None:
    full = RoomSettings(max_members=2)
    rig.join("alice", settings=full)
    rig.join("bob", settings=full)
    with pytest.raises(RoomFull):
        rig.join("carol", moderator=True, settings=full)
    assert len(rig.room) == 2
    assert "carol" not in rig.room and "carol" not in rig.room.mixer
    rig.leave("bob")
    rig.join("carol", settings=full)  # a place came free
    assert len(rig.room) == 2


def test_a_room_without_a_maximum_takes_many(rig: Rig) -> None:
    for n in range(30):
        rig.join(f"m{n}")
    assert rig.rooms.members("acme", "team") == 30


# ---- tones --------------------------------------------------------------------------------


@pytest.mark.parametrize("tones", [True, False])
def test_join_and_leave_tones_can_be_switched_off(rig: Rig, tones: bool) -> None:
    settings = RoomSettings(join_tones=tones)
    rig.join("alice", settings=settings)
    rig.run(5)
    rig.join("bob", settings=settings)
    rig.run(20)
    joined = amplitude_at(rig.last("alice", 20), JOIN_HZ)
    rig.leave("bob")
    rig.heard["alice"].clear()
    rig.run(20)
    left = amplitude_at(rig.last("alice", 20), JOIN_HZ)
    if tones:
        assert joined > 300 and left > 300
    else:
        assert not np.any(np.concatenate(rig.heard["alice"]))  # nothing at all
        assert joined == 0.0


# ---- recording ----------------------------------------------------------------------------


def test_the_recording_holds_everyone_and_ends_when_the_room_empties(
    rig: Rig, tmp_path: Path
) -> None:
    path = tmp_path / "rec" / "team.wav"
    quiet = RoomSettings(join_tones=False)
    rig.join("alice", 440.0, settings=quiet, record=path)
    rig.join("bob", 1000.0, settings=quiet, record=tmp_path / "other.wav")
    rig.join("carol", 1700.0, settings=quiet)
    rig.run(100)
    assert rig.room.recording == path
    for member_id in ("alice", "bob", "carol"):
        rig.leave(member_id)
    assert rig.rooms.get("acme", "team") is None
    assert not (tmp_path / "other.wav").exists()  # one recording per room
    audio = read_wav(path)
    assert audio.format.sample_rate == SAMPLE_RATE and audio.format.channels == 1
    samples = to_int16(audio.samples[:, 0] * 32768)
    assert len(samples) == 100 * FRAME_SAMPLES  # one frame per tick, from the first join
    last_second = samples[-SAMPLE_RATE:]
    for hz in (440.0, 1000.0, 1700.0):
        assert amplitude_at(last_second, hz) == pytest.approx(6000, rel=0.05), hz


def test_the_recording_starts_with_the_first_member_asking_for_it(rig: Rig, tmp_path: Path) -> None:
    path = tmp_path / "team.wav"
    rig.join("alice", 440.0)
    rig.run(25)
    assert rig.room.recording is None
    rig.join("bob", record=path)  # the join tone goes into the recording
    rig.run(25)
    rig.leave("alice")
    rig.leave("bob")
    samples = to_int16(read_wav(path).samples[:, 0] * 32768)
    assert len(samples) == 25 * FRAME_SAMPLES
    assert amplitude_at(samples[: 8 * FRAME_SAMPLES], JOIN_HZ) > 300
    assert amplitude_at(samples[-10 * FRAME_SAMPLES :], 440.0) > 3000


def test_the_recorder_is_no_member(rig: Rig, tmp_path: Path) -> None:
    rig.join("alice", record=tmp_path / "team.wav", settings=RoomSettings(max_members=2))
    rig.join("bob", settings=RoomSettings(max_members=2))
    assert RECORDER_ID in rig.room.mixer
    assert len(rig.room) == 2
    assert [m.member_id for m in rig.room.roster()] == ["alice", "bob"]


def test_a_recording_that_cannot_be_written_does_not_keep_anyone_out(
    rig: Rig, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "plain").write_text("a file, not a folder")
    rig.join("alice", record=tmp_path / "plain" / "team.wav")
    assert "alice" in rig.room
    assert rig.room.recording is None
    assert "cannot record room team" in caplog.text


def test_joining_muted_brings_no_cue(rig: Rig) -> None:
    rig.join("alice", settings=RoomSettings(muted_until_moderator=True, join_tones=False))
    rig.run(15)
    assert rig.room.is_muted("alice")
    assert not np.any(np.concatenate(rig.heard["alice"]))  # the state is not news to her


def test_ticks_nobody_read_are_still_mixed_and_recorded(rig: Rig, tmp_path: Path) -> None:
    path = tmp_path / "team.wav"
    member = rig.join("alice", record=path)
    for _ in range(10):
        rig.clock.now += 3 * TICK  # a late timer: two ticks skipped each time
        member.read()
    rig.clock.now += 60.0  # a stall: not replayed
    member.read()
    rig.leave("alice")
    assert len(read_wav(path).samples) == (1 + 9 * 3 + 1) * FRAME_SAMPLES
