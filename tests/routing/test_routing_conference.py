"""The conference feature with a fake call: PINs and attempts, roles, a full room, the room's
settings passed on to ``join_conference``."""

from __future__ import annotations

from collections import deque
from pathlib import Path
from typing import Any, cast

import pytest

from centralita.config.dialplan import ConferenceConfig
from centralita.routing import conference
from centralita.routing.context import CallerHungUp, Playable, RoomFull
from centralita.routing.env import RoutingEnv

TIMEOUT = ","  # in a key script: the caller lets the digit timeout pass


class FakeCall:
    """The verbs the feature uses. ``keys`` is what the caller types, in order: a prompt
    that may be interrupted takes the next key if it is one of its keys (type-ahead), and
    digits are collected the way LiveCall collects them."""

    caller = "101"
    caller_name = "Alice"
    tenant = "acme"
    service = "800"
    language = "en"

    def __init__(self, keys: str = "", *, full: bool = False) -> None:
        self.keys = deque(keys)
        self.full = full
        self.log: list[str] = []  # answer, prompts played, join, hangup, in order
        self.trace: list[dict[str, Any]] = []
        self.joined: dict[str, Any] | None = None
        self._answered = False

    @property
    def answered(self) -> bool:
        return self._answered

    async def answer(self) -> None:
        self._answered = True
        self.log.append("answer")

    async def play(self, what: Playable | list[Playable], *, interrupt_on: str = "") -> str:
        assert self._answered, "a feature answers before it plays"
        self.log.extend(str(item) for item in (what if isinstance(what, list) else [what]))
        if interrupt_on and self.keys and self.keys[0] in interrupt_on:
            return self.keys.popleft()
        return ""

    async def collect_digits(
        self,
        max_digits: int,
        timeout: float,
        *,
        terminator: str = "#",
        first_digit: str = "",
        inter_digit_timeout: float | None = None,
    ) -> str:
        if terminator and first_digit == terminator:
            return ""
        digits = first_digit
        while len(digits) < max_digits and self.keys:
            key = self.keys.popleft()
            if key in (terminator, TIMEOUT):
                break
            digits += key
        return digits

    async def join_conference(self, room: str, **options: Any) -> None:
        self.log.append("join")
        self.joined = {"room": room, **options}
        if self.full:
            raise RoomFull()
        raise CallerHungUp()  # the caller stays in the room until it hangs up

    async def hangup(self) -> None:
        self.log.append("hangup")

    def note(self, **fields: Any) -> None:
        self.trace.append(fields)


class FakeEnv:
    def __init__(self, recordings: Path) -> None:
        self.recordings = recordings
        self.asked: list[tuple[str, str]] = []

    def recording_path(self, kind: str, name: str) -> Path:
        self.asked.append((kind, name))
        return self.recordings / kind / f"{name}.wav"


def room(**fields: Any) -> ConferenceConfig:
    return ConferenceConfig.model_validate({"name": "team", "number": "800", **fields})


@pytest.fixture
def env(tmp_path: Path) -> FakeEnv:
    return FakeEnv(tmp_path)


async def run(call: FakeCall, env: FakeEnv, config: ConferenceConfig) -> None:
    await conference.run(call, cast(RoutingEnv, env), config)  # type: ignore[arg-type]


async def joined(call: FakeCall, env: FakeEnv, config: ConferenceConfig) -> dict[str, Any]:
    """Run the feature to the caller's hang-up in the room; the options it joined with."""
    with pytest.raises(CallerHungUp):
        await run(call, env, config)
    assert call.joined is not None
    return call.joined


# ---- rooms without PINs ------------------------------------------------------------------


async def test_a_room_without_pins_takes_the_caller_straight_in(env: FakeEnv) -> None:
    call = FakeCall()
    options = await joined(call, env, room())
    assert call.log == ["answer", "join"]
    assert options == {
        "room": "team",
        "moderator": False,
        "max_members": None,
        "join_tones": True,
        "muted_until_moderator": False,
        "record": None,
    }
    assert env.asked == []
    assert {"node": "conference", "room": "team", "role": "member", "recording": None} in (
        call.trace
    )


async def test_the_rooms_settings_go_to_the_room(env: FakeEnv, tmp_path: Path) -> None:
    config = room(max_members=5, join_tones=False, record=True)
    options = await joined(FakeCall(), env, config)
    assert options["max_members"] == 5
    assert options["join_tones"] is False
    assert options["record"] == tmp_path / "conference" / "team.wav"
    assert env.asked == [("conference", "team")]


# ---- PINs --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("keys", "moderator"),
    [("4321#", False), ("9999#", True), ("9999", True), ("4321" + TIMEOUT, False)],
)
async def test_the_pin_entered_gives_the_role(env: FakeEnv, keys: str, moderator: bool) -> None:
    call = FakeCall(keys)
    options = await joined(call, env, room(pin="4321", moderator_pin="9999"))
    assert options["moderator"] is moderator
    assert call.log == ["answer", "enter_pin", "join"]
    role = "moderator" if moderator else "member"
    assert any(step.get("role") == role for step in call.trace)


async def test_pins_never_reach_the_trace(env: FakeEnv) -> None:
    call = FakeCall("1111#9999#")
    await joined(call, env, room(pin="4321", moderator_pin="9999"))
    text = repr(call.trace)
    assert "1111" not in text and "9999" not in text and "4321" not in text


async def test_a_wrong_pin_is_asked_again(env: FakeEnv) -> None:
    call = FakeCall("1111#" + TIMEOUT + "4321#")
    options = await joined(call, env, room(pin="4321"))
    assert options["moderator"] is False
    assert call.log == [
        "answer",
        "enter_pin",
        "conference_wrong_pin",  # 1111
        "enter_pin",
        "conference_wrong_pin",  # nothing before the timeout
        "enter_pin",
        "join",
    ]
    attempts = [step["attempt"] for step in call.trace if step.get("pin") == "wrong"]
    assert attempts == [1, 2]


async def test_three_wrong_pins_end_the_call(env: FakeEnv) -> None:
    call = FakeCall("1111#2222#3333#4321#")
    await run(call, env, room(pin="4321", moderator_pin="9999"))
    assert call.joined is None
    assert call.log == ["answer"] + ["enter_pin", "conference_wrong_pin"] * 3 + [
        "goodbye",
        "hangup",
    ]
    assert {"node": "conference", "room": "team", "result": "wrong_pin"} in call.trace
    assert list(call.keys) == list("4321#")  # a fourth attempt is never read


async def test_a_caller_who_types_nothing_gets_three_chances(env: FakeEnv) -> None:
    call = FakeCall()
    await run(call, env, room(pin="4321"))
    assert call.log.count("enter_pin") == 3
    assert call.log[-2:] == ["goodbye", "hangup"]


async def test_pound_alone_is_a_wrong_pin_when_members_need_one(env: FakeEnv) -> None:
    call = FakeCall("#4321#")
    await joined(call, env, room(pin="4321"))
    assert call.log.count("conference_wrong_pin") == 1


# ---- a room only the moderator has a PIN for -----------------------------------------------


@pytest.mark.parametrize(("keys", "moderator"), [("#", False), ("", False), ("9999#", True)])
async def test_an_open_room_asks_only_for_the_moderators_pin(
    env: FakeEnv, keys: str, moderator: bool
) -> None:
    call = FakeCall(keys)
    options = await joined(call, env, room(moderator_pin="9999"))
    assert options["moderator"] is moderator
    assert call.log == ["answer", "conference_moderator_pin", "join"]


async def test_a_wrong_moderator_pin_in_an_open_room_is_asked_again(env: FakeEnv) -> None:
    call = FakeCall("1234##")
    options = await joined(call, env, room(moderator_pin="9999"))
    assert options["moderator"] is False
    assert call.log == [
        "answer",
        "conference_moderator_pin",
        "conference_wrong_pin",
        "conference_moderator_pin",
        "join",
    ]


# ---- muted until a moderator ----------------------------------------------------------------


async def test_muted_until_moderator_goes_to_the_room_when_a_moderator_can_come(
    env: FakeEnv,
) -> None:
    call = FakeCall("4321#")
    config = room(pin="4321", moderator_pin="9999", muted_until_moderator=True)
    options = await joined(call, env, config)
    assert options["muted_until_moderator"] is True
    assert not any("warning" in step for step in call.trace)


def test_muted_until_moderator_without_a_moderator_pin_is_refused_by_the_configuration() -> None:
    with pytest.raises(ValueError, match="moderator_pin"):
        room(pin="4321", muted_until_moderator=True)


async def test_muted_until_moderator_without_a_moderator_pin_is_ignored(env: FakeEnv) -> None:
    # A plan stored before the configuration refused it still works.
    unchecked = ConferenceConfig.model_construct(
        **{**room(pin="4321").model_dump(), "muted_until_moderator": True}
    )
    call = FakeCall("4321#")
    options = await joined(call, env, unchecked)
    assert options["muted_until_moderator"] is False  # nobody could ever unmute the room
    assert any("muted_until_moderator" in step.get("warning", "") for step in call.trace)


# ---- a full room ------------------------------------------------------------------------------


async def test_a_full_room_says_so_and_hangs_up(env: FakeEnv) -> None:
    call = FakeCall("9999#", full=True)
    await run(call, env, room(moderator_pin="9999", max_members=2))
    assert call.log == ["answer", "conference_moderator_pin", "join", "conference_full", "hangup"]
    assert {"node": "conference", "room": "team", "result": "full"} in call.trace


async def test_a_caller_hanging_up_during_the_pin_unwinds(env: FakeEnv) -> None:
    class HangsUp(FakeCall):
        async def collect_digits(self, *args: Any, **kwargs: Any) -> str:
            raise CallerHungUp()

    call = HangsUp()
    with pytest.raises(CallerHungUp):
        await run(call, env, room(pin="4321"))
    assert call.joined is None and "hangup" not in call.log
