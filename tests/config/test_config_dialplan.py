from __future__ import annotations

import json
from pathlib import Path

import pytest

from centralita.config import ConfigError, TenantsConfig, parse_model
from centralita.config.dialplan import (
    DialPlan,
    FeatureCodes,
    ToConference,
    ToExtension,
    ToHangup,
    ToIvr,
    ToMessage,
    ToNumber,
    ToRingGroup,
    ToSchedule,
    ToVoicemail,
)
from centralita.config.dialplan_values import check_hours

VECTOR = Path(__file__).parents[1] / "vectors" / "config" / "dialplan_acme.yaml"
EXAMPLE = VECTOR.read_text(encoding="utf-8")


def load(text: str) -> TenantsConfig:
    return parse_model(text, TenantsConfig, filename="acme.yaml")


def errors(text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load(text)
    return [str(issue) for issue in caught.value.issues]


def variant(old: str, new: str) -> str:
    assert old in EXAMPLE, old
    return EXAMPLE.replace(old, new, 1)


def line_of(text: str, needle: str) -> int:
    return text[: text.index(needle)].count("\n") + 1


def test_the_issue_example_loads() -> None:
    (acme,) = load(EXAMPLE).tenants
    assert (acme.timezone, acme.country) == ("Europe/Madrid", "ES")
    alice = acme.extensions[0]
    assert alice.email == "alice@acme.test"
    assert alice.voicemail is not None and alice.voicemail.pin == "1234"
    assert alice.forwarding is not None
    assert alice.forwarding.busy == ToVoicemail(voicemail="101")
    assert alice.forwarding.no_answer is not None
    assert alice.forwarding.no_answer.after == 20
    assert alice.forwarding.no_answer.to == ToNumber(number="+34600111222")
    assert alice.simultaneous_ring == ["+34600111222"]
    assert acme.carriers[0].source == ["127.0.0.1"]
    assert acme.numbers[0].destination == ToSchedule(schedule="office")
    office = acme.schedules[0]
    assert office.hours == ["mon-fri 09:00-18:00"]
    assert str(office.closed_dates[0]) == "2026-12-24"
    menu = acme.ivrs[0]
    assert menu.options["1"] == ToRingGroup(ring_group="sales")
    assert (menu.timeout, menu.loops, menu.after_loops, menu.direct_dial) == (
        5,
        3,
        ToHangup(hangup=True),
        True,
    )
    assert acme.ring_groups[0].strategy == "sequential"
    assert acme.conferences[0].moderator_pin == "9999"
    assert acme.feature_codes == FeatureCodes()


def test_default_feature_codes() -> None:
    codes = FeatureCodes()
    assert (codes.dnd_on, codes.dnd_off, codes.forward_on, codes.forward_off) == (
        "*78",
        "*79",
        "*72",
        "*73",
    )
    assert codes.voicemail == "*97"


def test_dial_plan_round_trips_through_json() -> None:
    plan = load(EXAMPLE).tenants[0].dial_plan()
    document = json.loads(json.dumps(plan.model_dump(mode="json")))
    again = DialPlan.model_validate(document)
    assert again == plan
    assert again.model_dump(mode="json") == document
    assert not plan.is_empty


def test_dial_plan_look_ups() -> None:
    plan = load(EXAMPLE).tenants[0].dial_plan()
    assert plan.internal("500") == ToIvr(ivr="main")
    assert plan.internal("600") == ToRingGroup(ring_group="sales")
    assert plan.internal("800") == ToConference(conference="team")
    assert plan.internal("102") == ToExtension(extension="102")
    assert plan.internal("999") is None
    did = plan.virtual_number("+34 910 00 00 00")
    assert did is not None and did.destination == ToSchedule(schedule="office")
    assert plan.virtual_number("+34911111111") is None
    assert plan.virtual_number("not a number") is None
    schedule = plan.schedule("office")
    assert schedule is not None and schedule.open == ToIvr(ivr="main")
    box = plan.voicemail_box("general")
    assert box is not None and box.email == "office@acme.test"
    assert plan.ring_group("main") is None  # an IVR's name is not a ring group
    carrier = plan.carrier_for_source("127.0.0.1")
    assert carrier is not None and carrier.name == "carrier1"
    assert plan.carrier_for_source("127.0.0.2") is None
    alice = plan.extension("101")
    assert alice is not None and alice.has_routing
    bob = plan.extension("102")
    assert bob is not None and not bob.has_routing


def test_every_destination_kind() -> None:
    text = variant(
        'options: {"1": {ring_group: sales}, "2": {extension: "101"}, "9": {voicemail: general}}',
        'options: {"1": {ring_group: sales}, "2": {extension: "101"}, "3": {ivr: main},'
        ' "4": {schedule: office}, "5": {voicemail: "101"}, "6": {conference: team},'
        ' "7": {number: "+34 600 111 222"}, "8": {message: closed-notice}, "*": {hangup: true},'
        ' "#": {voicemail: general}}',
    )
    options = load(text).tenants[0].ivrs[0].options
    assert options == {
        "1": ToRingGroup(ring_group="sales"),
        "2": ToExtension(extension="101"),
        "3": ToIvr(ivr="main"),
        "4": ToSchedule(schedule="office"),
        "5": ToVoicemail(voicemail="101"),
        "6": ToConference(conference="team"),
        "7": ToNumber(number="+34600111222"),
        "8": ToMessage(message="closed-notice"),
        "*": ToHangup(hangup=True),
        "#": ToVoicemail(voicemail="general"),
    }


@pytest.mark.parametrize(
    "destination",
    ["{extension: '101', hangup: true}", "{queue: support}", "{}", '"101"'],
)
def test_a_destination_is_a_one_key_mapping(destination: str) -> None:
    text = variant("destination: {schedule: office}", f"destination: {destination}")
    line = line_of(text, "destination:")
    (message,) = errors(text)
    assert message.startswith(f"acme.yaml:{line}: tenants[0].numbers[0].destination: ")
    assert "a destination is a one-key mapping: extension, ring_group, ivr" in message


@pytest.mark.parametrize(
    ("old", "new", "needle", "expected"),
    [
        (
            "open: {ivr: main}",
            "open: {ivr: mian}",
            "open: {ivr: mian}",
            "tenants[0].schedules[0].open.ivr: no ivr named 'mian' in this tenant",
        ),
        (
            'members: ["101", "102", "+34600111222"]',
            'members: ["101", "103", "+34600111222"]',
            "members:",
            "tenants[0].ring_groups[0].members[1]: no extension 103 in this tenant",
        ),
        (
            'unreachable: {to: {extension: "102"}}',
            'unreachable: {to: {extension: "109"}}',
            "unreachable:",
            "tenants[0].extensions[0].forwarding.unreachable.to.extension: "
            "no extension 109 in this tenant",
        ),
        (
            "no_answer: {voicemail: general}",
            'no_answer: {voicemail: "102"}',
            "no_answer: {voicemail",
            "tenants[0].ring_groups[0].no_answer.voicemail: extension 102 has no voicemail "
            "(set its voicemail: {pin: ...})",
        ),
        (
            "closed: {voicemail: general}",
            "closed: {voicemail: generl}",
            "closed: {voicemail",
            "tenants[0].schedules[0].closed.voicemail: "
            "no voicemail box named 'generl' in this tenant",
        ),
        (
            "destination: {schedule: office}",
            "destination: {conference: room}",
            "destination:",
            "tenants[0].numbers[0].destination.conference: "
            "no conference named 'room' in this tenant",
        ),
        (
            'number: "600"',
            'number: "500"',
            'number: "500"\n        strategy',
            "tenants[0].ring_groups[0].number: duplicate internal number '500' "
            "(also at ivrs[0].number)",
        ),
        (
            'number: "800"',
            'number: "101"',
            'number: "101"\n        pin',
            "tenants[0].conferences[0].number: duplicate internal number '101' "
            "(also at extensions[0].number)",
        ),
        (
            'hours: ["mon-fri 09:00-18:00"]',
            'hours: ["mon-fri 09:00-18:00", "sat 10:00-25:00"]',
            "hours:",
            "tenants[0].schedules[0].hours[1]: "
            "'sat 10:00-25:00' is not like 'mon-fri 09:00-18:00' or 'sat 10:00-14:00'",
        ),
        (
            "timezone: Europe/Madrid",
            "timezone: Europe/Madird",
            "timezone:",
            "tenants[0].timezone: unknown time zone 'Europe/Madird' (e.g. Europe/Madrid)",
        ),
        (
            "holidays: {country: ES, subdivision: MD}",
            "holidays: {country: ES, subdivision: ZZ}",
            "holidays:",
            "tenants[0].schedules[0].holidays.subdivision: 'ZZ' is not a subdivision of ES",
        ),
        (
            '- number: "+34910000000"',
            '- number: "+3491000"',
            '- number: "+3491000"',
            "tenants[0].numbers[0].number: not a valid phone number for its country",
        ),
        (
            '"9": {voicemail: general}',
            '"5x": {voicemail: general}',
            "options:",
            "must be one key: 0-9, * or #",
        ),
        (
            'moderator_pin: "9999"',
            'moderator_pin: "99x9"',
            "moderator_pin",
            "tenants[0].conferences[0].moderator_pin: must be 4 to 12 digits",
        ),
        (
            "strategy: sequential ",
            "strategy: round_robin ",
            "strategy:",
            "tenants[0].ring_groups[0].strategy: Input should be 'simultaneous', 'sequential'",
        ),
        (
            "no_answer: {after: 20,",
            "no_answer: {after: 0,",
            "no_answer: {after",
            "tenants[0].extensions[0].forwarding.no_answer.after: "
            "Input should be greater than or equal to 1",
        ),
        (
            "source: 127.0.0.1 ",
            "source: 127.0.0.300 ",
            "source:",
            "tenants[0].carriers[0].source[0]: must be an IP address or network",
        ),
    ],
)
def test_invalid_variants_name_field_and_line(
    old: str, new: str, needle: str, expected: str
) -> None:
    text = variant(old, new)
    found = errors(text)
    assert len(found) == 1, found
    assert found[0].startswith(f"acme.yaml:{line_of(text, needle)}: "), found
    assert expected in found[0]


def test_every_problem_is_reported_at_once() -> None:
    text = variant("open: {ivr: main}", "open: {ivr: nope}")
    text = text.replace('"2": {extension: "101"}', '"2": {extension: "199"}')
    assert errors(text) == [
        f"acme.yaml:{line_of(text, 'open: {ivr: nope}')}: tenants[0].schedules[0].open.ivr: "
        "no ivr named 'nope' in this tenant",
        f"acme.yaml:{line_of(text, 'options:')}: tenants[0].ivrs[0].options.2.extension: "
        "no extension 199 in this tenant",
    ]


def test_loops_of_immediate_hops_are_refused() -> None:
    text = variant("closed: {voicemail: general}", "closed: {schedule: office}")
    (message,) = errors(text)
    assert "tenants[0].schedules[0]: destinations go round in a loop: " in message
    assert "schedule office -> schedule office" in message
    forwarding = variant(
        "        forwarding:\n",
        '        forwarding:\n          unconditional: {extension: "102"}\n',
    ).replace(
        "        password: s3cret-102\n",
        '        password: s3cret-102\n        forwarding: {unconditional: {extension: "101"}}\n',
    )
    (message,) = errors(forwarding)
    assert "extension 101 -> extension 102 -> extension 101" in message


def test_holidays_need_a_known_country() -> None:
    text = variant("country: ES   ", "# no country   ").replace(
        "holidays: {country: ES, subdivision: MD}", "holidays: {subdivision: MD}"
    )
    (message,) = errors(text)
    assert "tenants[0].schedules[0].holidays: give holidays a country" in message
    text = variant("holidays: {country: ES,", "holidays: {country: QQ,")
    (message,) = errors(text)
    assert "no public holiday calendar for country 'QQ'" in message


def test_feature_codes_must_be_distinct_and_free() -> None:
    text = EXAMPLE + "    feature_codes: {dnd_on: '*79'}\n"
    (message,) = errors(text)
    assert "dnd_off and dnd_on are both *79" in message or "dnd_on and dnd_off" in message
    (message,) = errors(EXAMPLE + "    feature_codes: {voicemail: '*43'}\n")
    assert "voicemail: *43 is a built-in service code" in message
    (message,) = errors(EXAMPLE + "    feature_codes: {forward_on: '*7'}\n")
    assert "starts with forward_on (*7)" in message
    custom = load(EXAMPLE + "    feature_codes: {voicemail: '*98'}\n").tenants[0]
    assert custom.feature_codes.voicemail == "*98"


def test_a_virtual_number_belongs_to_one_tenant() -> None:
    second = """\
  - name: other
    domain: other.test
    numbers:
      - number: "+34 910 000 000"
        destination: {hangup: true}
"""
    text = EXAMPLE + second
    (message,) = errors(text)
    assert message.startswith(f"acme.yaml:{line_of(text, '+34 910 000 000')}: ")
    assert "tenants[1].numbers[0].number: duplicate virtual number '+34910000000'" in message


def test_carrier_by_registration_and_greeting_forms() -> None:
    text = variant(
        "        source: 127.0.0.1 ",
        "        register: {server: sip.carrier.example, username: acme, password: pw}\n        #",
    ).replace("greeting: {prompt: welcome}", "greeting: {file: greetings/main.wav}")
    acme = load(text).tenants[0]
    registration = acme.carriers[0].registration
    assert registration is not None
    assert (registration.server, registration.port, registration.transport) == (
        "sip.carrier.example",
        5060,
        "udp",
    )
    plan = acme.dial_plan()
    document = plan.model_dump(mode="json")
    assert document["carriers"][0]["register"]["password"] == "pw"
    assert DialPlan.model_validate(document) == plan
    assert acme.ivrs[0].greeting is not None
    assert acme.ivrs[0].greeting.file == "greetings/main.wav"
    bad = text.replace("greeting: {file: greetings/main.wav}", "greeting: {file: ../etc/passwd}")
    (message,) = errors(bad)
    assert "tenants[0].ivrs[0].greeting: file must be a relative path" in message
    neither = variant("        source: 127.0.0.1 ", "        #")
    (message,) = errors(neither)
    assert "tenants[0].carriers[0]: give source (addresses) or register" in message


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("mon-fri 09:00-18:00", "mon-fri 09:00-18:00"),
        ("Sat 10:00 - 14:00", "sat 10:00-14:00"),
        ("mon,wed 8:00-12:00, 16:00-19:00", "mon,wed 08:00-12:00,16:00-19:00"),
        ("fri 22:00-06:00", "fri 22:00-06:00"),
        ("fri-mon 00:00-24:00", "fri-mon 00:00-24:00"),
    ],
)
def test_hours_are_normalised(text: str, canonical: str) -> None:
    assert check_hours(text) == canonical
    assert check_hours(canonical) == canonical


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("mon-fri", "is not like"),
        ("xyz 09:00-10:00", "unknown day 'xyz'"),
        ("mon 09:00-09:00", "has an empty range"),
        ("mon 24:00-02:00", "has an empty range"),
        ("mon 09:61-10:00", "has an impossible time"),
        ("mon 24:30-10:00", "has an impossible time"),
    ],
)
def test_bad_hours(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        check_hours(text)
