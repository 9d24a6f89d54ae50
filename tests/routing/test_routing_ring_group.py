"""Ring groups: each strategy's order and timeouts, loops, idle members, music, rows."""

from __future__ import annotations

from typing import Any

from centralita.config.dialplan import DialPlan, ToExtension, ToRingGroup
from centralita.routing import ring_group
from centralita.routing.context import DialStatus, DialTarget
from centralita.routing.flow import route
from tests.routing.fakes import FakeCall, FakeEnv, FakeFeatures, acme_plan, dial_plan

COMPANY = "+34910000000"
MOBILE = "+34600111222"
EXTENSIONS = ("101", "102", "103", "104")


def group_plan(**group: Any) -> DialPlan:
    """Extensions 101-104 and ring group ``team`` (members 101-103 and the mobile unless
    given; no answer: the shared box)."""
    settings = {
        "name": "team",
        "number": "600",
        "members": ["101", "102", "103", MOBILE],
        "no_answer": {"voicemail": "general"},
        **group,
    }
    return dial_plan(
        extensions=[{"number": n} for n in EXTENSIONS],
        numbers=[{"number": COMPANY, "destination": {"ring_group": "team"}}],
        ring_groups=[settings],
        voicemail_boxes=[{"name": "general"}],
    )


async def ring(
    plan: DialPlan, call: FakeCall | None = None, env: FakeEnv | None = None, name: str = "team"
) -> tuple[FakeCall, FakeFeatures]:
    call = call or FakeCall()
    features = FakeFeatures()
    env = env or FakeEnv(plan)
    await route(call, env, ToRingGroup(ring_group=name), features=features.features())
    return call, features


# ---------------------------------------------------------------- sequential


async def test_sequential_rings_each_member_in_order_then_goes_to_no_answer() -> None:
    call, features = await ring(acme_plan(), name="sales")
    assert call.dialled() == [["101"], ["102"], [MOBILE]]
    assert [dial.timeout for dial in call.dials] == [15, 15, 15]
    assert features.visits == [("voicemail", "general")]
    assert call.rows == {"101": ("missed", None), "102": ("missed", None)}
    assert call.steps() == [
        "ring group sales: sequential: 101, 102, +34600111222, 15 s each, 1 round",
        "ring group sales: round 1: ringing 101 for 15 s",
        "ring group sales: round 1: ringing 102 for 15 s",
        "ring group sales: round 1: ringing +34600111222 for 15 s",
        "ring group sales: nobody answered → voicemail general",
        "voicemail general",
    ]


async def test_sequential_stops_at_the_member_who_answers() -> None:
    call = FakeCall().script_dial("102", DialStatus.ANSWERED)
    call, features = await ring(group_plan(strategy="sequential"), call)
    assert call.dialled() == [["101"], ["102"]]
    assert features.visits == []
    assert call.rows == {"101": ("missed", "102"), "102": ("answered_in", "102")}
    assert call.steps()[-1] == "ring group team: answered by 102"
    assert call.hung_up


async def test_sequential_loops_repeat_the_whole_order() -> None:
    call, _ = await ring(group_plan(strategy="sequential", members=["101", "102"], loops=2))
    assert call.dialled() == [["101"], ["102"], ["101"], ["102"]]
    assert call.statuses() == {"101": "missed", "102": "missed"}


async def test_a_member_answering_in_a_later_round_is_answered_in() -> None:
    call = FakeCall().script_dial("101", DialStatus.NO_ANSWER, DialStatus.ANSWERED)
    plan = group_plan(strategy="sequential", members=["101", "102"], loops=3)
    call, _ = await ring(plan, call)
    assert call.dialled() == [["101"], ["102"], ["101"]]
    assert call.rows == {"101": ("answered_in", "101"), "102": ("missed", "101")}


async def test_external_members_show_the_company_number_and_get_no_row() -> None:
    call = FakeCall().script_dial(MOBILE, DialStatus.ANSWERED)
    call, _ = await ring(group_plan(strategy="sequential"), call)
    assert call.dials[-1].targets == (DialTarget(MOBILE),)
    assert {dial.caller_id for dial in call.dials} == {COMPANY}
    assert call.statuses() == {"101": "missed", "102": "missed", "103": "missed"}
    assert call.rows["101"] == ("missed", MOBILE)


async def test_dnd_members_are_skipped_and_logged_dnd() -> None:
    plan = group_plan(strategy="sequential")
    call, _ = await ring(plan, env=FakeEnv(plan, dnd={"102"}))
    assert call.dialled() == [["101"], ["103"], [MOBILE]]
    assert call.rows["102"] == ("dnd", None)
    assert "ring group team: round 1: 102 skipped: do not disturb" in call.steps()


# ---------------------------------------------------------------- simultaneous


async def test_simultaneous_rings_everybody_for_the_member_timeout() -> None:
    call = FakeCall().script_dial("103", DialStatus.ANSWERED)
    call, _ = await ring(group_plan(strategy="simultaneous", member_timeout=25), call)
    assert call.dialled() == [["101", "102", "103", MOBILE]]
    assert call.dials[0].timeout == 25
    assert call.rows == {
        "101": ("missed", "103"),
        "102": ("missed", "103"),
        "103": ("answered_in", "103"),
    }


async def test_simultaneous_loops_ring_everybody_again() -> None:
    call, features = await ring(group_plan(strategy="simultaneous", loops=2))
    assert call.dialled() == [["101", "102", "103", MOBILE]] * 2
    assert features.visits == [("voicemail", "general")]


async def test_simultaneous_with_everybody_in_dnd_goes_straight_to_no_answer() -> None:
    plan = group_plan(strategy="simultaneous", members=["101", "102"], loops=3)
    call, features = await ring(plan, env=FakeEnv(plan, dnd={"101", "102"}))
    assert call.dials == []
    assert features.visits == [("voicemail", "general")]
    assert call.statuses() == {"101": "dnd", "102": "dnd"}


# ---------------------------------------------------------------- first free


async def test_first_free_rings_only_idle_members_one_by_one() -> None:
    plan = group_plan(strategy="first_free", members=["101", "102", "103", "104", MOBILE])
    env = FakeEnv(plan, busy={"101"}, dnd={"102"}, registered={"101", "102", "104"})
    call = FakeCall().script_dial(MOBILE, DialStatus.ANSWERED)
    call, _ = await ring(plan, call, env)
    assert call.dialled() == [["104"], [MOBILE]]
    assert call.rows == {"104": ("missed", MOBILE), "102": ("dnd", None)}
    steps = call.steps()
    assert "ring group team: round 1: 101 skipped: in a call" in steps
    assert "ring group team: round 1: 103 skipped: not registered" in steps


async def test_first_free_with_nobody_free_goes_straight_to_no_answer() -> None:
    plan = group_plan(strategy="first_free", members=["101", "102"], loops=5)
    env = FakeEnv(plan, busy={"101", "102"})
    call, features = await ring(plan, env=env)
    assert call.dials == []
    assert features.visits == [("voicemail", "general")]
    assert call.rows == {}


async def test_first_free_checks_each_member_when_its_turn_comes() -> None:
    plan = group_plan(strategy="first_free", members=["101", "102"])
    env = FakeEnv(plan)
    call = FakeCall()
    original = call.dial

    async def dial_then_102_busy(*args: Any, **kwargs: Any) -> Any:
        env.busy.add("102")  # 102 picks up another call while 101 rings
        return await original(*args, **kwargs)

    call.dial = dial_then_102_busy  # type: ignore[method-assign]
    await ring(plan, call, env)
    assert call.dialled() == [["101"]]


# ---------------------------------------------------------------- what the caller hears


async def test_music_answers_the_caller_and_dials_with_music() -> None:
    call, _ = await ring(group_plan(caller_hears="music", members=["101"]))
    assert call.verb_names()[:3] == ["note", "answer", "note"]
    assert call.dials[0].music is True


async def test_ringback_leaves_the_caller_unanswered_while_members_ring() -> None:
    call, _ = await ring(group_plan(members=["101"]))
    assert "answer" not in call.verb_names()
    assert call.dials[0].music is False


# ---------------------------------------------------------------- with the rest of the walk


async def test_a_forward_to_a_group_answered_there_is_answered_in_for_the_user() -> None:
    plan = dial_plan(
        extensions=[
            {"number": "101", "forwarding": {"unconditional": {"ring_group": "team"}}},
            {"number": "102"},
        ],
        ring_groups=[{"name": "team", "members": ["102"]}],
    )
    call = FakeCall().script_dial("102", DialStatus.ANSWERED)
    await route(
        call, FakeEnv(plan), ToExtension(extension="101"), features=FakeFeatures().features()
    )
    assert call.rows == {"101": ("answered_in", "102"), "102": ("answered_in", "102")}


async def test_a_member_not_provisioned_is_skipped() -> None:
    plan = group_plan(strategy="sequential", members=["101", "102"])
    call, _ = await ring(plan, env=FakeEnv(plan, provisioned={"102"}))
    assert call.dialled() == [["102"]]
    assert "ring group team: round 1: 101 skipped: not found" in call.steps()


async def test_run_alone_goes_to_no_answer_through_goto() -> None:
    plan = group_plan(members=["101"])
    group = plan.ring_group("team")
    assert group is not None
    went: list[str] = []

    async def goto(destination: Any) -> None:
        went.append(str(destination))

    await ring_group.run(FakeCall(), FakeEnv(plan), group, goto)
    assert went == ["voicemail: general"]
