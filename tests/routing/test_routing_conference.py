"""The conference feature with a fake call: PINs and attempts, roles, a full room, the room's
settings passed on to ``join_conference``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from centralita.config.dialplan import ConferenceConfig
from centralita.routing import conference
from centralita.routing.context import CallerHungUp
from tests.routing.fakes import TIMEOUT, FakeCall, FakeEnv


def caller(keys: str = "", *, full: bool = False) -> FakeCall:
    """Alice calling room 800 and typing ``keys`` (type-ahead: a prompt that may be
    interrupted takes the next key if it is one of its keys)."""
    call = FakeCall(
        caller="101", caller_name="Alice", service="800", full_rooms=["team"] if full else ()
    )
    return call.press(keys) if keys else call


def log(call: FakeCall) -> list[str]:
    """answer, the prompts played, join, hangup, in order."""
    shown = {"answer": "answer", "join_conference": "join", "hangup": "hangup"}
    entries: list[str] = []
    for verb in call.verbs:
        if verb.name == "play":
            what = verb.args["what"]
            entries.extend(str(item) for item in (what if isinstance(what, list) else [what]))
        elif verb.name in shown:
            entries.append(shown[verb.name])
    return entries


def joined_with(call: FakeCall) -> dict[str, Any] | None:
    """The options the caller joined the room with (None: it never joined)."""
    joins = call.calls("join_conference")
    return joins[-1] if joins else None


def asked(env: FakeEnv) -> list[tuple[str, str]]:
    """The recording paths the feature asked the environment for."""
    return [(v.args["kind"], v.args["name"]) for v in env.journal if v.name == "recording_path"]


def room(**fields: Any) -> ConferenceConfig:
    return ConferenceConfig.model_validate({"name": "team", "number": "800", **fields})


@pytest.fixture
def env(tmp_path: Path) -> FakeEnv:
    return FakeEnv(media_dir=tmp_path / "media", recordings_dir=tmp_path)


async def run(call: FakeCall, env: FakeEnv, config: ConferenceConfig) -> None:
    await conference.run(call, env, config)


async def joined(call: FakeCall, env: FakeEnv, config: ConferenceConfig) -> dict[str, Any]:
    """Run the feature to the caller's hang-up in the room; the options it joined with."""
    with pytest.raises(CallerHungUp):
        await run(call, env, config)
    options = joined_with(call)
    assert options is not None
    return options


# ---- rooms without PINs ------------------------------------------------------------------


async def test_a_room_without_pins_takes_the_caller_straight_in(env: FakeEnv) -> None:
    call = caller()
    options = await joined(call, env, room())
    assert log(call) == ["answer", "join"]
    assert options == {
        "room": "team",
        "muted": False,
        "moderator": False,
        "max_members": None,
        "join_tones": True,
        "muted_until_moderator": False,
        "record": None,
    }
    assert asked(env) == []
    assert {"node": "conference", "room": "team", "role": "member", "recording": None} in (
        call.notes
    )


async def test_the_rooms_settings_go_to_the_room(env: FakeEnv, tmp_path: Path) -> None:
    config = room(max_members=5, join_tones=False, record=True)
    options = await joined(caller(), env, config)
    assert options["max_members"] == 5
    assert options["join_tones"] is False
    assert options["record"] == tmp_path / "conference" / "team.wav"
    assert asked(env) == [("conference", "team")]


# ---- PINs --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("keys", "moderator"),
    [("4321#", False), ("9999#", True), ("9999", True), ("4321" + TIMEOUT, False)],
)
async def test_the_pin_entered_gives_the_role(env: FakeEnv, keys: str, moderator: bool) -> None:
    call = caller(keys)
    options = await joined(call, env, room(pin="4321", moderator_pin="9999"))
    assert options["moderator"] is moderator
    assert log(call) == ["answer", "enter_pin", "join"]
    role = "moderator" if moderator else "member"
    assert any(step.get("role") == role for step in call.notes)


async def test_pins_never_reach_the_trace(env: FakeEnv) -> None:
    call = caller("1111#9999#")
    await joined(call, env, room(pin="4321", moderator_pin="9999"))
    text = repr(call.notes)
    assert "1111" not in text and "9999" not in text and "4321" not in text


async def test_a_wrong_pin_is_asked_again(env: FakeEnv) -> None:
    call = caller("1111#" + TIMEOUT + "4321#")
    options = await joined(call, env, room(pin="4321"))
    assert options["moderator"] is False
    assert log(call) == [
        "answer",
        "enter_pin",
        "conference_wrong_pin",  # 1111
        "enter_pin",
        "conference_wrong_pin",  # nothing before the timeout
        "enter_pin",
        "join",
    ]
    attempts = [step["attempt"] for step in call.notes if step.get("pin") == "wrong"]
    assert attempts == [1, 2]


async def test_three_wrong_pins_end_the_call(env: FakeEnv) -> None:
    call = caller("1111#2222#3333#4321#")
    await run(call, env, room(pin="4321", moderator_pin="9999"))
    assert joined_with(call) is None
    assert log(call) == ["answer"] + ["enter_pin", "conference_wrong_pin"] * 3 + [
        "goodbye",
        "hangup",
    ]
    assert {"node": "conference", "room": "team", "result": "wrong_pin"} in call.notes
    assert list(call.keys) == list("4321#")  # a fourth attempt is never read


async def test_a_caller_who_types_nothing_gets_three_chances(env: FakeEnv) -> None:
    call = caller()
    await run(call, env, room(pin="4321"))
    assert log(call).count("enter_pin") == 3
    assert log(call)[-2:] == ["goodbye", "hangup"]


async def test_pound_alone_is_a_wrong_pin_when_members_need_one(env: FakeEnv) -> None:
    call = caller("#4321#")
    await joined(call, env, room(pin="4321"))
    assert log(call).count("conference_wrong_pin") == 1


# ---- a room only the moderator has a PIN for -----------------------------------------------


@pytest.mark.parametrize(("keys", "moderator"), [("#", False), ("", False), ("9999#", True)])
async def test_an_open_room_asks_only_for_the_moderators_pin(
    env: FakeEnv, keys: str, moderator: bool
) -> None:
    call = caller(keys)
    options = await joined(call, env, room(moderator_pin="9999"))
    assert options["moderator"] is moderator
    assert log(call) == ["answer", "conference_moderator_pin", "join"]


async def test_a_wrong_moderator_pin_in_an_open_room_is_asked_again(env: FakeEnv) -> None:
    call = caller("1234##")
    options = await joined(call, env, room(moderator_pin="9999"))
    assert options["moderator"] is False
    assert log(call) == [
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
    call = caller("4321#")
    config = room(pin="4321", moderator_pin="9999", muted_until_moderator=True)
    options = await joined(call, env, config)
    assert options["muted_until_moderator"] is True
    assert not any("warning" in step for step in call.notes)


def test_muted_until_moderator_without_a_moderator_pin_is_refused_by_the_configuration() -> None:
    with pytest.raises(ValueError, match="moderator_pin"):
        room(pin="4321", muted_until_moderator=True)


async def test_muted_until_moderator_without_a_moderator_pin_is_ignored(env: FakeEnv) -> None:
    # A plan stored before the configuration refused it still works.
    unchecked = ConferenceConfig.model_construct(
        **{**room(pin="4321").model_dump(), "muted_until_moderator": True}
    )
    call = caller("4321#")
    options = await joined(call, env, unchecked)
    assert options["muted_until_moderator"] is False  # nobody could ever unmute the room
    assert any("muted_until_moderator" in step.get("warning", "") for step in call.notes)


# ---- a full room ------------------------------------------------------------------------------


async def test_a_full_room_says_so_and_hangs_up(env: FakeEnv) -> None:
    call = caller("9999#", full=True)
    await run(call, env, room(moderator_pin="9999", max_members=2))
    assert log(call) == ["answer", "conference_moderator_pin", "join", "conference_full", "hangup"]
    assert {"node": "conference", "room": "team", "result": "full"} in call.notes


async def test_a_caller_hanging_up_during_the_pin_unwinds(env: FakeEnv) -> None:
    class HangsUp(FakeCall):
        async def collect_digits(self, *args: Any, **kwargs: Any) -> str:
            raise CallerHungUp()

    call = HangsUp()
    with pytest.raises(CallerHungUp):
        await run(call, env, room(pin="4321"))
    assert joined_with(call) is None and "hangup" not in log(call)
