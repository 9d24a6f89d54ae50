"""A ring group's opening at run time and in the dry run: open, closed by its schedule
(outside hours, a public holiday), closed outright; both walks must tell the same story."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from centralita.config.dialplan import DestinationModel, DialPlan, ToRingGroup
from centralita.routing import ring_group
from centralita.routing.context import DialStatus
from centralita.routing.flow import route
from centralita.routing.resolve import resolve, ring_group_opening
from tests.routing.fakes import FakeCall, FakeEnv, FakeFeatures, dial_plan

MADRID = ZoneInfo("Europe/Madrid")
TUESDAY_MORNING = datetime(2026, 12, 22, 10, 30, tzinfo=MADRID)
TUESDAY_NIGHT = datetime(2026, 12, 22, 21, 0, tzinfo=MADRID)
CHRISTMAS_MORNING = datetime(2026, 12, 25, 10, 30, tzinfo=MADRID)  # a Friday, in hours
CHRISTMAS = "public holiday Natividad del Señor (ES-MD)"


def group_plan(opening: Any = None, **settings: Any) -> DialPlan:
    """Extensions 101-103; schedule ``office`` (weekdays 9-18, Madrid's holidays; closed:
    the shared box); ring group ``team`` (600: 101, 102) with ``opening`` when given."""
    group: dict[str, Any] = {
        "name": "team",
        "number": "600",
        "strategy": "simultaneous",
        "members": ["101", "102"],
        "no_answer": {"hangup": True},
        **settings,
    }
    if opening is not None:
        group["opening"] = opening
    return dial_plan(
        timezone="Europe/Madrid",
        country="ES",
        extensions=[{"number": n} for n in ("101", "102", "103")],
        schedules=[
            {
                "name": "office",
                "hours": ["mon-fri 09:00-18:00"],
                "holidays": {"subdivision": "MD"},
                "open": {"ring_group": "team"},
                "closed": {"voicemail": "general"},
            }
        ],
        ring_groups=[group],
        voicemail_boxes=[{"name": "general"}],
    )


async def ring(
    plan: DialPlan, now: datetime, call: FakeCall | None = None
) -> tuple[FakeCall, FakeFeatures]:
    call = call or FakeCall()
    features = FakeFeatures()
    env = FakeEnv(plan, now=now)
    await route(call, env, ToRingGroup(ring_group="team"), features=features.features())
    return call, features


def dry_run(plan: DialPlan, at: datetime) -> list[str]:
    steps = resolve(
        plan, dialled="600", caller="+34600999888", at=at, extension_exists=lambda n: True
    )
    return [str(step) for step in steps]


# ---------------------------------------------------------------- open


async def test_a_group_always_open_rings_and_notes_nothing_about_opening() -> None:
    call, _ = await ring(group_plan(), TUESDAY_NIGHT)
    assert call.dialled() == [["101", "102"]]
    assert call.steps()[0] == "ring group team: simultaneous: 101, 102, 20 s, 1 round"
    assert ring_group_opening(group_plan(), group_plan().ring_groups[0], TUESDAY_NIGHT).open


async def test_open_by_schedule_rings_the_members_and_says_why() -> None:
    call = FakeCall().script_dial("102", DialStatus.ANSWERED)
    call, features = await ring(group_plan({"schedule": "office"}), TUESDAY_MORNING, call)
    assert call.dialled() == [["101", "102"]]
    assert features.visits == []
    assert call.steps()[0] == "ring group team: schedule office open: mon-fri 09:00-18:00"
    assert call.notes[0]["open"] is True
    assert call.rows == {"101": ("missed", "102"), "102": ("answered_in", "102")}


# ---------------------------------------------------------------- closed by the schedule


async def test_closed_outside_hours_goes_to_the_schedules_closed_destination() -> None:
    call, features = await ring(group_plan({"schedule": "office"}), TUESDAY_NIGHT)
    assert call.dials == []
    assert features.visits == [("voicemail", "general")]
    assert call.rows == {}
    assert call.steps() == [
        "ring group team: schedule office closed: outside hours → voicemail general",
        "voicemail general",
    ]
    assert call.notes[0]["open"] is False


async def test_closed_on_a_public_holiday_goes_to_the_groups_own_closed_destination() -> None:
    plan = group_plan({"schedule": "office", "closed": {"message": "closed-notice"}})
    call, features = await ring(plan, CHRISTMAS_MORNING)
    assert call.dials == []
    assert features.visits == []
    assert call.plays == ["closed-notice"]
    assert call.hung_up
    assert call.steps()[0] == (
        f"ring group team: schedule office closed: {CHRISTMAS} → message closed-notice"
    )


async def test_a_closed_group_does_not_answer_for_music() -> None:
    plan = group_plan({"schedule": "office"}, caller_hears="music")
    call, features = await ring(plan, TUESDAY_NIGHT)
    assert "answer" not in call.verb_names()
    assert features.visits == [("voicemail", "general")]


# ---------------------------------------------------------------- closed outright


async def test_a_closed_group_sends_every_call_to_its_closed_destination() -> None:
    call, features = await ring(group_plan({"closed": {"extension": "103"}}), TUESDAY_MORNING)
    assert call.dialled() == [["103"]]  # the extension rings, never the group's members
    assert features.visits == []
    assert call.steps()[0] == "ring group team: closed → extension 103"
    assert call.statuses() == {"103": "missed"}


async def test_run_alone_hands_the_closed_destination_to_goto() -> None:
    plan = group_plan({"closed": {"hangup": True}})
    group = plan.ring_group("team")
    assert group is not None
    went: list[DestinationModel] = []

    async def goto(destination: DestinationModel) -> None:
        went.append(destination)

    call = FakeCall()
    await ring_group.run(call, FakeEnv(plan, now=TUESDAY_MORNING), group, goto)
    assert [str(d) for d in went] == ["hangup: True"]
    assert call.dials == []


# ---------------------------------------------------------------- the dry run


def test_dry_run_shows_an_open_group_and_its_no_answer_fallback() -> None:
    assert dry_run(group_plan({"schedule": "office"}), TUESDAY_MORNING) == [
        "internal 600 → ring group team",
        "ring group team: schedule office open: mon-fri 09:00-18:00; simultaneous: 101, 102, "
        "20 s, 1 round; no answer → hang up",
        "hang up",
    ]


def test_dry_run_follows_a_group_closed_on_a_holiday() -> None:
    assert dry_run(group_plan({"schedule": "office"}), CHRISTMAS_MORNING) == [
        "internal 600 → ring group team",
        f"ring group team: schedule office closed: {CHRISTMAS} → voicemail general",
        "voicemail general: no e-mail",
    ]


def test_dry_run_follows_a_group_closed_outright() -> None:
    assert dry_run(group_plan({"closed": {"extension": "103"}}), TUESDAY_MORNING)[1:] == [
        "ring group team: closed → extension 103",
        "extension 103: rings its phones",
    ]


@pytest.mark.parametrize("at", [TUESDAY_MORNING, TUESDAY_NIGHT, CHRISTMAS_MORNING])
@pytest.mark.parametrize("opening", [None, {"schedule": "office"}, {"closed": {"hangup": True}}])
async def test_the_call_and_the_dry_run_agree(at: datetime, opening: Any) -> None:
    """The call's first step is the dry run's ring-group step (which, for an open group,
    goes on to list how it rings and its no-answer fallback)."""
    plan = group_plan(opening)
    call, _ = await ring(plan, at)
    assert dry_run(plan, at)[1].startswith(call.steps()[0])
