"""``LiveCall.join_conference`` with real calls: moderator keys by RFC 4733, capacity, and the
room's recording. Runs on the real 20 ms clock of tests/livecall_harness.py; tests await what
the phones hear (bounded), never sleep."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

_ROOT = str(Path(__file__).resolve().parents[2])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

from centralita.media import conference as media_conference  # noqa: E402
from centralita.media.moh import MusicLibrary  # noqa: E402
from centralita.media.player import PcmSource  # noqa: E402
from centralita.media.prompts import PromptLibrary  # noqa: E402
from centralita.media.wavfile import decode_wav  # noqa: E402
from centralita.routing.context import CallerHungUp, RoomFull  # noqa: E402
from tests.livecall_harness import Leg, Rig, rms, tone  # noqa: E402


@pytest.fixture(scope="module")
def prompts(tmp_path_factory: pytest.TempPathFactory) -> PromptLibrary:
    return PromptLibrary(tmp_path_factory.mktemp("prompts"))


@pytest.fixture
async def rig(tmp_path: Path, prompts: PromptLibrary) -> AsyncIterator[Rig]:
    made = Rig(prompts, tmp_path, MusicLibrary())
    yield made
    made.close()


def room_of(rig: Rig) -> media_conference.Room:
    room = rig.rooms.get("acme", "team")
    assert room is not None
    return room


async def join(leg: Leg, **options: Any) -> asyncio.Future[None]:
    """Start ``join_conference`` and return once the leg is in the room."""
    task = asyncio.ensure_future(leg.live.join_conference("team", **options))
    await leg.ear.frames_pass(2)
    assert not task.done()
    return task


async def hang_up(leg: Leg, task: asyncio.Future[None]) -> None:
    leg.apps.bye(leg.call)
    with pytest.raises(CallerHungUp):
        await asyncio.wait_for(task, 1.0)


def amplitude_at(signal: np.ndarray[Any, Any], hz: float) -> float:
    t = np.arange(len(signal)) / 8000
    return float(2 * abs(np.sum(signal * np.exp(-2j * np.pi * hz * t))) / len(signal))


async def test_the_moderators_key_mutes_the_others(rig: Rig) -> None:
    carol, bob = await rig.answered(), await rig.answered()
    bob.phone.source = PcmSource(tone(900, 10.0))
    tasks = [await join(carol, moderator=True), await join(bob)]
    room = room_of(rig)
    carol.phone.send_dtmf("1", 60)
    await carol.ear.until(lambda: room.is_muted(bob.call.call_id))
    assert not room.is_muted(carol.call.call_id)
    assert {
        "node": "conference",
        "room": "team",
        "key": "1",
        "action": "muted_others",
    } in carol.call.trace
    mark = len(carol.ear.frames)
    await carol.ear.frames_pass(25)
    assert amplitude_at(np.concatenate(carol.ear.frames[mark + 15 :]), 900) < 100
    bob.phone.send_dtmf("1", 60)  # not a moderator: nothing happens
    await bob.ear.until(lambda: any(s.get("digit") == "1" for s in bob.call.trace))
    await bob.ear.frames_pass(3)
    assert room.is_muted(bob.call.call_id)
    for leg, task in zip((carol, bob), tasks, strict=True):
        await hang_up(leg, task)
    assert rig.rooms.get("acme", "team") is None


async def test_a_full_room_raises_room_full_for_the_feature(rig: Rig) -> None:
    alice, bob, carol = await rig.answered(), await rig.answered(), await rig.answered()
    tasks = [await join(alice, max_members=2), await join(bob, max_members=2)]
    with pytest.raises(RoomFull) as raised:
        await carol.live.join_conference("team", max_members=2)
    assert isinstance(raised.value.__cause__, media_conference.RoomFull)
    assert rig.rooms.members("acme", "team") == 2
    assert carol.live.endpoint is not None and carol.live.endpoint.source is None
    for leg, task in zip((alice, bob), tasks, strict=True):
        await hang_up(leg, task)


async def test_keys_typed_before_joining_are_not_the_rooms(rig: Rig) -> None:
    alice = await rig.answered()
    alice.phone.send_dtmf("0", 60)  # e.g. typed ahead during a PIN prompt
    await alice.ear.until(lambda: any(s.get("digit") == "0" for s in alice.call.trace))
    task = await join(alice)
    await alice.ear.frames_pass(5)
    assert not room_of(rig).is_muted(alice.call.call_id)
    await hang_up(alice, task)


async def test_the_room_is_recorded_from_first_join_to_last_leave(rig: Rig, tmp_path: Path) -> None:
    path = tmp_path / "conference" / "team.wav"
    alice, bob = await rig.answered(), await rig.answered()
    alice.phone.source = PcmSource(tone(500, 10.0))
    bob.phone.source = PcmSource(tone(1300, 10.0))
    tasks = [await join(alice, record=path), await join(bob, record=path, join_tones=False)]
    await alice.ear.until(lambda: rms(alice.ear.frames[-1]) > 1000)
    await alice.ear.frames_pass(45)
    await hang_up(alice, tasks[0])
    await bob.ear.frames_pass(25)  # Bob alone in the room, still recorded
    assert room_of(rig).recording == path
    await hang_up(bob, tasks[1])
    assert rig.rooms.get("acme", "team") is None
    samples = decode_wav(path)
    assert len(samples) >= 70 * 160
    tail = samples[-20 * 160 :].astype(np.float64)
    both = samples[-70 * 160 : -50 * 160].astype(np.float64)
    assert amplitude_at(both, 500) > 2000 and amplitude_at(both, 1300) > 2000
    assert amplitude_at(tail, 1300) > 2000 and amplitude_at(tail, 500) < 200  # Bob alone
