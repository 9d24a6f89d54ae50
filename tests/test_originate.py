"""Calls the PBX places itself (``centralita.originate``): real RTP endpoints on loopback for
the PBX's legs and for every called phone; the SIP of the legs is the scripted stand-in for
OutboundCalls of the dial verb's tests (its own tests cover the messages), so these tests are
about which phone takes the call, what the feature does on it, and what the call log says."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np
import pytest

from centralita import ringing as ringing_module
from centralita.calls.call import Party
from centralita.media.moh import MusicLibrary
from centralita.media.prompts import PromptLibrary
from centralita.originate import OriginatedCall, Origination, Originator
from centralita.records.outcome import CallSummary, ExtensionRow, Outcome, Status
from centralita.ringing import PlannedLeg
from centralita.routing.context import CallerHungUp, DialStatus, DialTarget
from centralita.sip.message import new_call_id
from tests.livecall_harness import WAIT, Rig, _request, audible, dominant_frequency, tone
from tests.test_live_dial import Phone, Planner, ScriptedOutbound

EXTENSION = "201"
WHO = Origination(
    tenant_id=1,
    tenant_name="acme",
    domain="acme.test",
    extension=EXTENSION,
    caller_name="IVR main greeting",
    service="record_greeting",
)


@dataclass
class CalledPhone(Phone):
    """A scripted phone that is also the OutboundCall the originator holds (its Call-ID)."""

    call_id: str = field(default_factory=new_call_id)
    key_at_answer: str = ""  # a key it sends by SIP INFO the moment it answers
    bye_at_answer: bool = False  # it hangs up the moment it answers


class HastyOutbound(ScriptedOutbound):
    """Phones that may act the moment they answer, before the PBX took the call over."""

    def _answer(self, phone: Phone, offer: bytes) -> None:
        super()._answer(phone, offer)
        called = cast(CalledPhone, phone)
        if called.listener is None or called.hung_up is not None:
            return
        if called.key_at_answer:
            body = f"Signal={called.key_at_answer}\r\nDuration=160\r\n".encode()
            info = _request(
                "INFO", called.call_id, 2, body, ["Content-Type: application/dtmf-relay"]
            )
            assert called.listener.info_received(info) == 200  # RFC 6086 §4.2
        if called.bye_at_answer:
            self.far_end_hangs_up(phone)


@dataclass
class Contacts(Planner):
    """The extension's registered phones: one leg per contact, ``sip:EXT@HOST``."""

    hosts: tuple[str, ...] = ("phone",)

    async def legs(
        self, caller: Party, target: DialTarget, caller_id: str | None
    ) -> list[PlannedLeg] | DialStatus:
        found = await super().legs(caller, target, caller_id)
        if isinstance(found, DialStatus):
            return found
        (one,) = found
        return [
            dataclasses.replace(
                one,
                target=dataclasses.replace(one.target, request_uri=f"sip:{target.number}@{host}"),
            )
            for host in self.hosts
        ]


@dataclass
class CallLog:
    """The CallLogSink: the summaries written."""

    summaries: list[CallSummary] = field(default_factory=list)

    def call_ended(self, summary: CallSummary) -> None:
        self.summaries.append(summary)

    @property
    def only(self) -> CallSummary:
        (summary,) = self.summaries
        return summary

    @property
    def row(self) -> ExtensionRow:
        rows = self.only.extension_rows
        assert rows is not None
        (row,) = rows
        return row


@dataclass
class Origin:
    originator: Originator
    outbound: ScriptedOutbound
    planner: Contacts
    log: CallLog

    async def call(self, feature: Callable[[OriginatedCall], Any], **kwargs: Any) -> DialStatus:
        return await self.originator.originate(self.planner, WHO, feature, **kwargs)


Make = Callable[[dict[str, CalledPhone]], Origin]


@pytest.fixture
async def make(tmp_path: Path) -> AsyncIterator[Make]:
    """An originator whose extension has the given phones (by contact host). The features
    here play samples, not system prompts: nothing is synthesised."""
    rig = Rig(PromptLibrary(tmp_path / "prompts"), tmp_path, MusicLibrary())
    made: list[Origin] = []

    def origin(phones: dict[str, CalledPhone]) -> Origin:
        by_uri = {f"sip:{EXTENSION}@{host}": phone for host, phone in phones.items()}
        outbound = HastyOutbound(rig, cast(dict[str, Phone], by_uri))
        log = CallLog()
        originator = Originator(cast(Any, outbound), rig.drive, rig.services, log)
        made.append(Origin(originator, outbound, Contacts(hosts=tuple(phones)), log))
        return made[-1]

    yield origin
    for one in made:
        one.outbound.close()
    rig.close()


async def never_run(call: OriginatedCall) -> None:
    raise AssertionError("the feature ran on a call nobody answered")


@dataclass
class RanOn:
    """A feature that only notes the call it ran on."""

    call_ids: list[str] = field(default_factory=list)

    async def __call__(self, call: OriginatedCall) -> None:
        self.call_ids.append(call.side.call_id)


# ---- who takes the call ----------------------------------------------------------------------


async def test_the_first_phone_to_answer_takes_the_call_and_the_other_stops_ringing(
    make: Make,
) -> None:
    desk, softphone = CalledPhone("ring"), CalledPhone("answer", answer_after=0.1)
    origin = make({"desk": desk, "softphone": softphone})
    ran_on = RanOn()
    status = await asyncio.wait_for(origin.call(ran_on), WAIT)
    assert status is DialStatus.ANSWERED
    assert [t.request_uri for t in origin.outbound.placed] == [
        f"sip:{EXTENSION}@desk",
        f"sip:{EXTENSION}@softphone",
    ]
    assert ran_on.call_ids == [softphone.call_id]
    assert desk.hung_up == "call completed elsewhere"  # CANCELed while it rang
    assert softphone.hung_up == ""  # our BYE once the feature was done
    assert origin.log.only.call_id == softphone.call_id
    assert origin.log.row == ExtensionRow(EXTENSION, Status.ANSWERED_IN, EXTENSION)
    assert origin.planner.occupied == [EXTENSION, EXTENSION]
    assert origin.planner.released == origin.planner.occupied


async def test_two_phones_answering_at_once_one_takes_the_call_the_other_is_hung_up(
    make: Make,
) -> None:
    desk, softphone = CalledPhone("answer"), CalledPhone("answer")
    origin = make({"desk": desk, "softphone": softphone})
    ran_on = RanOn()
    status = await asyncio.wait_for(origin.call(ran_on), WAIT)
    assert status is DialStatus.ANSWERED
    (taken,) = ran_on.call_ids
    (other,) = [phone for phone in (desk, softphone) if phone.call_id != taken]
    assert other.endpoint is not None and other.endpoint.started  # it did answer: BYE, not CANCEL
    assert other.hung_up == "call completed elsewhere"
    assert origin.log.only.call_id == taken


async def test_nobody_answering_is_not_answered_and_logged_missed(make: Make) -> None:
    desk, softphone = CalledPhone("ring"), CalledPhone("ring")
    origin = make({"desk": desk, "softphone": softphone})
    status = await asyncio.wait_for(origin.call(never_run, ring_seconds=0.3), WAIT)
    assert status is DialStatus.NO_ANSWER
    assert desk.hung_up == "" and softphone.hung_up == ""  # both CANCELed
    assert origin.log.row == ExtensionRow(EXTENSION, Status.MISSED, None)
    assert origin.log.only.outcome is Outcome.NO_ANSWER
    assert origin.log.only.answered_at is None
    assert origin.log.only.hangup_cause == "not answered: no_answer"
    assert origin.planner.released == [EXTENSION, EXTENSION]


async def test_a_phone_that_never_answers_the_network_is_unreachable(
    make: Make, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ringing_module, "NO_RESPONSE_SECONDS", 0.2)
    gone = CalledPhone("silent")
    origin = make({"gone": gone})
    # Long before the 30 s it would ring for.
    status = await asyncio.wait_for(origin.call(never_run, ring_seconds=30.0), WAIT)
    assert status is DialStatus.UNREACHABLE
    assert gone.hung_up == "no response"
    assert origin.log.only.hangup_cause == "not answered: unreachable"
    assert origin.log.row.status is Status.MISSED

    gone, ringing = CalledPhone("silent"), CalledPhone("ring")
    both = make({"gone": gone, "desk": ringing})
    status = await asyncio.wait_for(both.call(never_run, ring_seconds=0.5), WAIT)
    assert status is DialStatus.NO_ANSWER  # one phone did ring
    assert gone.hung_up == "no response" and ringing.hung_up == ""


async def test_an_extension_without_phones_is_not_called_at_all(make: Make) -> None:
    origin = make({})
    origin.planner.statuses[EXTENSION] = DialStatus.UNREACHABLE
    status = await asyncio.wait_for(origin.call(never_run), WAIT)
    assert status is DialStatus.UNREACHABLE
    assert origin.outbound.placed == []
    assert origin.log.summaries == []


# ---- the feature on the answered call -----------------------------------------------------------


async def test_what_the_feature_plays_reaches_the_phone_and_its_keys_reach_the_feature(
    make: Make,
) -> None:
    phone = CalledPhone("answer", tone_hz=700.0)
    origin = make({"desk": phone})
    played = asyncio.Event()
    collected: list[str] = []

    async def feature(call: OriginatedCall) -> None:
        await call.play(tone(440.0, 0.6))
        played.set()
        collected.append(await call.collect_digits(4, timeout=WAIT))

    task = asyncio.ensure_future(origin.call(feature))
    await asyncio.wait_for(played.wait(), WAIT)
    ear, endpoint = phone.ear, phone.endpoint
    assert ear is not None and endpoint is not None
    await ear.until(lambda: ear.audible_count() >= 25)  # 0.6 s is 30 frames
    heard = np.concatenate([frame for frame in ear.frames if audible(frame)])
    assert abs(dominant_frequency(heard) - 440.0) < 20
    for key in "42#":
        endpoint.send_dtmf(key, 100)  # RFC 4733 events, one after the other
    status = await asyncio.wait_for(task, WAIT)
    assert status is DialStatus.ANSWERED
    assert collected == ["42"]
    keys = [step for step in origin.log.only.routing_trace if step.get("node") == "dtmf"]
    assert [(k["digit"], k["method"]) for k in keys] == [
        ("4", "rfc4733"),
        ("2", "rfc4733"),
        ("#", "rfc4733"),
    ]
    assert origin.log.only.routing_trace[0] == {"node": "originate", "service": "record_greeting"}


async def test_the_phone_hanging_up_mid_feature_ends_it_as_a_caller_would(make: Make) -> None:
    phone = CalledPhone("answer")
    origin = make({"desk": phone})
    listening = asyncio.Event()
    seen: list[str] = []

    async def feature(call: OriginatedCall) -> None:
        listening.set()
        try:
            await call.collect_digits(4, timeout=30.0)
        except CallerHungUp:
            seen.append("CallerHungUp")
            raise

    task = asyncio.ensure_future(origin.call(feature))
    await asyncio.wait_for(listening.wait(), WAIT)
    origin.outbound.far_end_hangs_up(phone)
    status = await asyncio.wait_for(task, WAIT)
    assert status is DialStatus.ANSWERED
    assert seen == ["CallerHungUp"]
    assert phone.hung_up is None  # its BYE ended the dialog: no BYE of ours
    assert origin.log.row == ExtensionRow(EXTENSION, Status.ANSWERED_IN, EXTENSION)
    assert origin.log.only.hangup_cause == "BYE from far end"
    assert origin.log.only.answered_at is not None


class FeatureBroke(Exception):
    pass


async def test_the_features_own_error_hangs_up_logs_and_propagates(make: Make) -> None:
    phone = CalledPhone("answer")
    origin = make({"desk": phone})

    async def feature(call: OriginatedCall) -> None:
        await call.play(tone(440.0, 0.1))
        raise FeatureBroke("the greeting could not be saved")

    with pytest.raises(FeatureBroke):
        await asyncio.wait_for(origin.call(feature), WAIT)
    assert phone.hung_up == ""  # our BYE
    assert origin.log.row == ExtensionRow(EXTENSION, Status.ANSWERED_IN, EXTENSION)
    assert origin.log.only.hangup_cause == "hung up by the PBX"
    assert origin.planner.released == [EXTENSION]


async def test_a_key_pressed_as_the_phone_answers_is_not_lost(make: Make) -> None:
    phone = CalledPhone("answer", key_at_answer="5")
    origin = make({"desk": phone})
    collected: list[str] = []

    async def feature(call: OriginatedCall) -> None:
        collected.append(await call.collect_digits(1, timeout=1.0))

    status = await asyncio.wait_for(origin.call(feature), WAIT)
    assert status is DialStatus.ANSWERED
    assert collected == ["5"]


async def test_a_phone_hanging_up_as_it_answers_ends_the_feature_at_once(make: Make) -> None:
    phone = CalledPhone("answer", bye_at_answer=True)
    origin = make({"desk": phone})
    seen: list[str] = []

    async def feature(call: OriginatedCall) -> None:
        try:
            await call.collect_digits(4, timeout=30.0)
        except CallerHungUp:
            seen.append("CallerHungUp")
            raise

    status = await asyncio.wait_for(origin.call(feature), WAIT)
    assert status is DialStatus.ANSWERED
    assert seen == ["CallerHungUp"]
    assert phone.hung_up is None
    assert origin.log.row == ExtensionRow(EXTENSION, Status.ANSWERED_IN, EXTENSION)
