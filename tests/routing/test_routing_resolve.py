"""The dial plan resolver against the issue's example plan, at several instants."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from centralita.config import load_tenants
from centralita.config.dialplan import DialPlan
from centralita.routing.resolve import Step, resolve

VECTOR = Path(__file__).parents[1] / "vectors" / "config" / "dialplan_acme.yaml"
MADRID = ZoneInfo("Europe/Madrid")
PROVISIONED = frozenset({"101", "102"})


@pytest.fixture(scope="module")
def plan() -> DialPlan:
    return load_tenants(str(VECTOR)).tenants[0].dial_plan()


def trace(
    plan: DialPlan, dialled: str, when: str, provisioned: frozenset[str] = PROVISIONED
) -> list[str]:
    at = datetime.fromisoformat(when).replace(tzinfo=MADRID)
    steps = resolve(
        plan,
        dialled=dialled,
        caller="+34600999888",
        at=at,
        extension_exists=provisioned.__contains__,
    )
    return [str(step) for step in steps]


def test_weekday_in_hours_reaches_the_ivr_and_stops_for_the_callers_key(plan: DialPlan) -> None:
    assert trace(plan, "+34 910 00 00 00", "2026-12-22 10:30") == [
        "number +34910000000 → schedule office",
        "schedule office: open: mon-fri 09:00-18:00 → ivr main",
        "ivr main: greeting prompt welcome; keys 1 → ring group sales, 2 → extension 101, "
        "9 → voicemail general; extensions may be dialled directly; no key in 5 s, 3 loops "
        "→ hang up; waits for the caller's key",
    ]


def test_christmas_night_is_a_public_holiday_and_goes_to_voicemail(plan: DialPlan) -> None:
    assert trace(plan, "+34910000000", "2026-12-25 22:00") == [
        "number +34910000000 → schedule office",
        "schedule office: closed: public holiday Natividad del Señor (ES-MD) → voicemail general",
        "voicemail general: e-mail to office@acme.test",
    ]


def test_the_tenants_closed_date_wins_over_working_hours(plan: DialPlan) -> None:
    steps = trace(plan, "+34910000000", "2026-12-24 10:00")
    assert steps[1] == ("schedule office: closed: 2026-12-24 is a closed date → voicemail general")
    assert steps[-1] == "voicemail general: e-mail to office@acme.test"


def test_after_hours_on_a_weekday_is_closed_outside_hours(plan: DialPlan) -> None:
    steps = trace(plan, "+34910000000", "2026-12-22 18:00")
    assert steps[1] == "schedule office: closed: outside hours → voicemail general"


def test_an_internal_ring_group_number_follows_its_no_answer_fallback(plan: DialPlan) -> None:
    assert trace(plan, "600", "2026-12-22 10:30") == [
        "internal 600 → ring group sales",
        "ring group sales: sequential: 101, 102, +34600111222, 15 s each, 1 round; "
        "no answer → voicemail general",
        "voicemail general: e-mail to office@acme.test",
    ]


def test_an_extension_lists_its_conditional_forwarding_as_branches(plan: DialPlan) -> None:
    steps = resolve(
        plan,
        dialled="101",
        caller="102",
        at=datetime(2026, 12, 22, 10, tzinfo=MADRID),
        extension_exists=PROVISIONED.__contains__,
    )
    assert steps == [
        Step("internal 101", then="extension 101"),
        Step(
            "extension 101",
            "rings its phones and +34600111222; if busy or do-not-disturb → voicemail 101; "
            "if no answer in 20 s → number +34600111222; if unreachable → extension 102",
        ),
    ]


def test_unconditional_forwarding_is_followed(plan: DialPlan) -> None:
    forwarded = DialPlan.model_validate(
        {
            **plan.model_dump(mode="json"),
            "extensions": [
                {"number": "101", "forwarding": {"unconditional": {"ring_group": "sales"}}},
                {"number": "102", "voicemail": {}, "email": "bob@acme.test"},
            ],
        }
    )
    assert trace(forwarded, "101", "2026-12-22 10:30") == [
        "internal 101 → extension 101",
        "extension 101: unconditional forwarding → ring group sales",
        "ring group sales: sequential: 101, 102, +34600111222, 15 s each, 1 round; "
        "no answer → voicemail general",
        "voicemail general: e-mail to office@acme.test",
    ]


def test_a_personal_voicemail_box_mails_the_users_address() -> None:
    plan = DialPlan.model_validate(
        {
            "extensions": [
                {"number": "102", "voicemail": {}, "email": "bob@acme.test"},
                {"number": "103", "forwarding": {"unconditional": {"voicemail": "102"}}},
            ]
        }
    )
    assert trace(plan, "103", "2026-12-22 10:30", frozenset({"102", "103"}))[1:] == [
        "extension 103: unconditional forwarding → voicemail 102",
        "voicemail 102: e-mail to bob@acme.test",
    ]


def test_a_loop_through_ring_groups_is_cut(plan: DialPlan) -> None:
    looping = DialPlan.model_validate(
        {
            "extensions": [{"number": "101"}],
            "ring_groups": [
                {
                    "name": "a",
                    "number": "601",
                    "members": ["101"],
                    "no_answer": {"ring_group": "b"},
                },
                {"name": "b", "members": ["101"], "no_answer": {"ring_group": "a"}},
            ],
        }
    )
    steps = trace(looping, "601", "2026-12-22 10:30")
    assert len(steps) == 4
    assert steps[-1] == "ring group a: reached again: a loop, the walk stops here"


@pytest.mark.parametrize(
    ("dialled", "expected"),
    [
        ("+34910000001", "number +34910000001: not found (404)"),
        ("+34 91 000 0001", "number +34910000001: not found (404)"),
        ("999", "number 999: not found (404)"),
        ("+34 12", "number +34 12: not found (404): not a valid phone number for its country"),
    ],
)
def test_unknown_numbers_are_not_found(plan: DialPlan, dialled: str, expected: str) -> None:
    assert trace(plan, dialled, "2026-12-22 10:30") == [expected]


def test_an_extension_removed_from_the_store_is_not_found(plan: DialPlan) -> None:
    assert trace(plan, "102", "2026-12-22 10:30", frozenset({"101"})) == [
        "internal 102 → extension 102",
        "extension 102: not found (404)",
    ]


def test_an_extension_provisioned_after_the_plan_rings_without_routing(plan: DialPlan) -> None:
    assert plan.extension("103") is None
    assert trace(plan, "103", "2026-12-22 10:30", frozenset({"101", "102", "103"})) == [
        "internal 103 → extension 103",
        "extension 103: rings its phones",
    ]


def test_a_conference_room_ends_the_walk(plan: DialPlan) -> None:
    assert (
        trace(plan, "800", "2026-12-22 10:30")[1] == "conference team: room 800, asks for the PIN"
    )


def test_the_same_instant_in_utc_gives_the_same_answer(plan: DialPlan) -> None:
    at = datetime(2026, 12, 25, 21, 0, tzinfo=ZoneInfo("UTC"))  # 22:00 in Madrid
    steps = resolve(
        plan, dialled="+34910000000", caller="x", at=at, extension_exists=PROVISIONED.__contains__
    )
    assert steps[1].then == "voicemail general"
    assert steps[1].detail.startswith("closed: public holiday")
