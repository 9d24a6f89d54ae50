"""A ring group's ``opening``: always (the default), by schedule, or closed; its references
and the loops a closed group could make."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from centralita.config import ConfigError, TenantsConfig, parse_model
from centralita.config.dialplan import (
    DialPlan,
    ToExtension,
    ToIvr,
    ToRingGroup,
    ToVoicemail,
)
from centralita.config.dialplan_nodes import RingGroupOpening

VECTOR = Path(__file__).parents[1] / "vectors" / "config" / "dialplan_acme.yaml"
EXAMPLE = VECTOR.read_text(encoding="utf-8")
GROUP_LINE = "        no_answer: {voicemail: general}\n"  # the last line of ring group sales


def with_opening(opening: str) -> str:
    """The issue's example with ``opening: <opening>`` added to ring group sales."""
    assert EXAMPLE.count(GROUP_LINE) == 1
    return EXAMPLE.replace(GROUP_LINE, f"{GROUP_LINE}        opening: {opening}\n")


def load(text: str) -> TenantsConfig:
    return parse_model(text, TenantsConfig, filename="acme.yaml")


def errors(text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load(text)
    return [str(issue) for issue in caught.value.issues]


def line_of(text: str, needle: str) -> int:
    return text[: text.index(needle)].count("\n") + 1


def test_a_group_without_opening_is_always_open() -> None:
    (acme,) = load(EXAMPLE).tenants
    assert acme.ring_groups[0].opening == "always"
    assert acme.dial_plan().model_dump(mode="json")["ring_groups"][0]["opening"] == "always"


@pytest.mark.parametrize(
    ("opening", "expected"),
    [
        ("always", "always"),
        ("{schedule: office}", RingGroupOpening(schedule="office")),
        (
            "{schedule: office, closed: {voicemail: general}}",
            RingGroupOpening(schedule="office", closed=ToVoicemail(voicemail="general")),
        ),
        ('{closed: {extension: "101"}}', RingGroupOpening(closed=ToExtension(extension="101"))),
    ],
)
def test_each_opening_loads_and_round_trips(opening: str, expected: object) -> None:
    acme = load(with_opening(opening)).tenants[0]
    assert acme.ring_groups[0].opening == expected
    plan = acme.dial_plan()
    document = json.loads(json.dumps(plan.model_dump(mode="json")))
    again = DialPlan.model_validate(document)
    assert again == plan
    assert again.model_dump(mode="json") == document
    group = again.ring_group("sales")
    assert group is not None and group.opening == expected


@pytest.mark.parametrize(
    ("opening", "expected"),
    [
        ("never", "ring_groups[0].opening: must be always, or a mapping"),
        ("3", "ring_groups[0].opening: must be always, or a mapping"),
        ("{}", "ring_groups[0].opening: give schedule, closed or both (or write opening: always)"),
        ("{schedule: nope}", "ring_groups[0].opening.schedule: no schedule named 'nope'"),
        ("{schedule: Office}", "ring_groups[0].opening.schedule: must be a slug"),
        ("{schedul: office}", "ring_groups[0].opening.schedul: Extra inputs are not permitted"),
        (
            "{schedule: office, closed: {ivr: nope}}",
            "ring_groups[0].opening.closed.ivr: no ivr named 'nope' in this tenant",
        ),
        (
            '{closed: {voicemail: "102"}}',
            "ring_groups[0].opening.closed.voicemail: extension 102 has no voicemail",
        ),
        ("{closed: {queue: support}}", "ring_groups[0].opening.closed: a destination is a one-key"),
    ],
)
def test_invalid_openings_name_the_field_and_line(opening: str, expected: str) -> None:
    text = with_opening(opening)
    (message,) = errors(text)
    assert message.startswith(f"acme.yaml:{line_of(text, 'opening:')}: tenants[0]."), message
    assert expected in message


def test_a_stored_plan_checks_the_opening_references_too() -> None:
    document = load(EXAMPLE).tenants[0].dial_plan().model_dump(mode="json")
    document["ring_groups"][0]["opening"] = {"schedule": "night"}
    with pytest.raises(ValidationError) as caught:
        DialPlan.model_validate(document)
    (error,) = caught.value.errors()
    assert error["loc"] == ("ring_groups", 0, "opening", "schedule")
    assert error["msg"] == "no schedule named 'night' in this tenant"


# ---------------------------------------------------------------- loops without caller input


def test_a_group_closed_onto_itself_is_a_loop() -> None:
    text = with_opening("{closed: {ring_group: sales}}")
    (message,) = errors(text)
    assert message.startswith(f"acme.yaml:{line_of(text, 'opening:')}: ")
    assert "tenants[0].ring_groups[0].opening: destinations go round in a loop: " in message
    assert "ring group sales -> ring group sales" in message


def test_a_schedule_closed_onto_a_group_it_closes_is_a_loop() -> None:
    text = with_opening("{schedule: office}").replace(
        "closed: {voicemail: general}", "closed: {ring_group: sales}"
    )
    (message,) = errors(text)
    assert "destinations go round in a loop: " in message
    assert "ring group sales -> ring group sales" in message


def test_a_closed_group_sent_to_a_schedule_that_opens_onto_it_is_a_loop() -> None:
    text = with_opening("{closed: {schedule: office}}").replace(
        "open: {ivr: main}", "open: {ring_group: sales}"
    )
    (message,) = errors(text)
    assert "tenants[0].schedules[0]: destinations go round in a loop: " in message
    assert "schedule office -> ring group sales -> schedule office" in message


@pytest.mark.parametrize(
    "opening",
    [
        "{schedule: office}",
        # Closed by office means office is closed: its open side cannot be taken.
        "{schedule: office, closed: {schedule: office}}",
    ],
)
def test_a_group_opened_by_the_schedule_that_leads_to_it_is_no_loop(opening: str) -> None:
    text = with_opening(opening).replace("open: {ivr: main}", "open: {ring_group: sales}")
    group = load(text).tenants[0].ring_groups[0]
    assert isinstance(group.opening, RingGroupOpening)
    assert group.opening.schedule == "office"


def test_a_closed_group_sent_to_a_menu_that_leads_back_is_no_loop() -> None:
    # The menu's key "1" leads back to the group: the caller's key breaks the cycle.
    acme = load(with_opening("{closed: {ivr: main}}")).tenants[0]
    assert acme.ivrs[0].options["1"] == ToRingGroup(ring_group="sales")
    assert acme.ring_groups[0].opening == RingGroupOpening(closed=ToIvr(ivr="main"))
