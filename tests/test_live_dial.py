"""The dial verb on a real LiveCall: real RTP endpoints on loopback for the caller and for
every called phone; the SIP of the called legs is a scripted stand-in for OutboundCalls
(its own tests cover the messages), so these tests are about what dial does with answers,
failures, time-outs, confirmation and the audio bridge."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import pytest

from centralita import live_dial
from centralita import ringing as ringing_module
from centralita.calls.appcall import AppCall
from centralita.calls.call import Party
from centralita.calls.outbound import OutboundListener, OutboundTarget
from centralita.live_dial import Dialler, PlannedLeg, status_of, summed
from centralita.media.moh import MusicLibrary
from centralita.media.negotiation import answer_offer
from centralita.media.player import PcmSource
from centralita.media.prompts import PromptLibrary
from centralita.media.rtp_endpoint import MediaEndpoint
from centralita.routing.context import CallerHungUp, DialStatus, DialTarget
from centralita.sip.address import Address
from centralita.sip.offer_answer import LocalOrigin
from tests.livecall_harness import (
    LOCALHOST,
    WAIT,
    Ear,
    FakeApps,
    Leg,
    Rig,
    dominant_frequency,
    tone,
)

# ---- the scripted far end ------------------------------------------------------------------


@dataclass
class Phone:
    """A called phone: what it does with our INVITE, and its media once it answers."""

    behaviour: str  # "answer" | "ring" | "busy" | "decline" | "unreachable" | "silent"
    answer_after: float = 0.05
    tone_hz: float = 700.0
    press: str = ""  # keys it presses once answered (RFC 4733)
    endpoint: MediaEndpoint | None = None
    ear: Ear | None = None
    listener: OutboundListener | None = None
    hung_up: str | None = None  # the reason we gave, if we hung up on it


class ScriptedOutbound:
    """OutboundCalls' shape; each Request-URI is one scripted phone."""

    def __init__(self, rig: Rig, phones: dict[str, Phone]) -> None:
        self.rig = rig
        self.phones = phones
        self.placed: list[OutboundTarget] = []

    def place(self, target: OutboundTarget, listener: OutboundListener, now: float) -> Phone:
        self.placed.append(target)
        phone = self.phones[target.request_uri]
        phone.listener = listener
        loop = asyncio.get_running_loop()
        if phone.behaviour in ("answer", "ring"):
            loop.call_soon(listener.progressed, 180, b"")
        if phone.behaviour == "answer":
            loop.call_later(phone.answer_after, self._answer, phone, target.body)
        failures = {"busy": 486, "decline": 603, "unreachable": 480}
        if phone.behaviour in failures:
            loop.call_soon(listener.failed, failures[phone.behaviour], "scripted")
        return phone

    def hang_up(self, call: object, now: float, reason: str | None = None) -> None:
        phone = cast(Phone, call)
        if phone.hung_up is not None or phone.listener is None:
            return
        phone.hung_up = reason or ""
        if phone.endpoint is not None and phone.endpoint.started:
            phone.listener.ended("hung up by the PBX")
        else:
            phone.listener.failed(487, "Request Terminated")

    def _answer(self, phone: Phone, offer: bytes) -> None:
        if phone.hung_up is not None or phone.listener is None:
            return
        endpoint = MediaEndpoint(self.rig.pool.allocate(), name="called")
        media = answer_offer(offer, LOCALHOST, endpoint.local_port, LocalOrigin(LOCALHOST))
        phone.endpoint, phone.ear = endpoint, Ear(endpoint)
        endpoint.start(
            media.remote, media.codec, media.telephone_event, payload_type=media.payload_type
        )
        endpoint.source = PcmSource(tone(phone.tone_hz, 30.0))
        phone.listener.answered(media.answer)
        for key in phone.press:
            endpoint.send_dtmf(key, 120)

    def far_end_hangs_up(self, phone: Phone) -> None:
        assert phone.listener is not None
        phone.listener.ended("BYE from far end")

    def close(self) -> None:
        for phone in self.phones.values():
            if phone.endpoint is not None:
                phone.endpoint.close()


@dataclass
class Planner:
    """Each target number is one phone at sip:NUMBER@phone; or a status without any."""

    statuses: dict[str, DialStatus] = field(default_factory=dict)
    occupied: list[str] = field(default_factory=list)
    released: list[str] = field(default_factory=list)

    async def legs(
        self, caller: Party, target: DialTarget, caller_id: str | None
    ) -> list[PlannedLeg] | DialStatus:
        if target.number in self.statuses:
            return self.statuses[target.number]
        invite = OutboundTarget(
            tenant_id=1,
            tenant_name="acme",
            request_uri=f"sip:{target.number}@phone",
            dest=Address("udp", LOCALHOST, 5070),
            from_uri=f"sip:{caller_id or '101'}@acme.test",
            from_name=None,
            to_uri=f"sip:{target.number}@acme.test",
            body=b"",
        )
        extension = None if target.external else target.number
        return [PlannedLeg(invite, extension=extension)]

    def occupy(self, extension: str) -> Callable[[], None]:
        self.occupied.append(extension)
        return lambda: self.released.append(extension)

    def media_ip(self, dest: Address) -> str:
        return LOCALHOST


class RingingApps(FakeApps):
    rings: int = 0

    def ring(self, call: AppCall, now: float, *, early_media: bytes = b"") -> None:
        self.rings += 1


@dataclass
class Dial:
    leg: Leg
    outbound: ScriptedOutbound
    planner: Planner
    dialler: Dialler


@pytest.fixture(scope="module")
def prompts(tmp_path_factory: pytest.TempPathFactory) -> PromptLibrary:
    return PromptLibrary(tmp_path_factory.mktemp("prompts"))


@pytest.fixture(scope="module")
def music() -> MusicLibrary:
    return MusicLibrary()


@pytest.fixture
async def rig(prompts: PromptLibrary, music: MusicLibrary, tmp_path: Path) -> AsyncIterator[Rig]:
    made = Rig(prompts, tmp_path, music)
    made.apps = RingingApps()
    yield made
    made.close()


def dial_rig(rig: Rig, phones: dict[str, Phone], planner: Planner | None = None) -> Dial:
    leg = rig.call()
    outbound = ScriptedOutbound(rig, {f"sip:{n}@phone": p for n, p in phones.items()})
    planner = planner or Planner()
    dialler = Dialler(leg.live, cast(Any, outbound), planner)
    leg.live.dialler = dialler
    return Dial(leg, outbound, planner, dialler)


async def until(predicate: Callable[[], bool], timeout: float = WAIT) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.01)  # polled: the state is set by tasks of the call


# ---- pure helpers ---------------------------------------------------------------------------


def test_failure_statuses_map_to_dial_statuses() -> None:
    assert status_of(486) is DialStatus.BUSY
    assert status_of(600) is DialStatus.BUSY
    assert status_of(603) is DialStatus.REJECTED
    assert status_of(480) is DialStatus.UNREACHABLE
    assert status_of(408) is DialStatus.UNREACHABLE
    assert status_of(487) is DialStatus.NO_ANSWER
    assert status_of(500) is DialStatus.FAILED


def test_the_most_telling_status_sums_up_several() -> None:
    assert summed([DialStatus.UNREACHABLE, DialStatus.BUSY]) is DialStatus.BUSY
    assert summed([DialStatus.UNREACHABLE, DialStatus.NO_ANSWER]) is DialStatus.NO_ANSWER
    assert summed([DialStatus.FAILED, DialStatus.REJECTED]) is DialStatus.REJECTED
    assert summed([]) is DialStatus.FAILED


# ---- dialling -------------------------------------------------------------------------------


async def test_the_answering_phone_is_bridged_to_the_caller_both_ways(rig: Rig) -> None:
    called = Phone("answer", tone_hz=700.0)
    dial = dial_rig(rig, {"102": called})
    dial.leg.phone.source = PcmSource(tone(1100.0, 30.0))
    task = asyncio.ensure_future(dial.leg.live.dial([DialTarget("102")], timeout=5))
    await asyncio.wait_for(rig.apps.answered.wait(), WAIT)
    rig.start_phone(dial.leg)
    dial.leg.apps.ack(dial.leg.call)
    await until(lambda: called.ear is not None)
    assert called.ear is not None
    await dial.leg.ear.until(lambda: len(dial.leg.ear.frames) >= 40)
    await called.ear.until(lambda: len(called.ear.frames) >= 40)  # type: ignore[union-attr]
    caller_heard = dominant_frequency(_joined(dial.leg.ear.frames[-25:]))
    called_heard = dominant_frequency(_joined(called.ear.frames[-25:]))
    assert abs(caller_heard - 700.0) < 20
    assert abs(called_heard - 1100.0) < 20
    assert not dial.leg.live.detect_inband  # key tones cross in the audio while bridged
    dial.outbound.far_end_hangs_up(called)
    result = await asyncio.wait_for(task, WAIT)
    assert dial.leg.live.detect_inband
    assert result.status is DialStatus.ANSWERED
    assert result.answered_by == "102"
    assert result.talk_seconds > 0
    assert cast(RingingApps, rig.apps).rings == 1  # the unanswered caller was told it rings
    assert dial.planner.occupied == ["102"] and dial.planner.released == ["102"]
    assert dial.leg.call.answered_by == "102"
    dial.outbound.close()


async def test_the_first_to_answer_wins_and_the_others_are_cancelled(rig: Rig) -> None:
    slow, fast = Phone("ring"), Phone("answer", answer_after=0.1)
    dial = dial_rig(rig, {"102": slow, "103": fast})
    task = asyncio.ensure_future(
        dial.leg.live.dial([DialTarget("102"), DialTarget("103")], timeout=5)
    )
    await asyncio.wait_for(rig.apps.answered.wait(), WAIT)
    rig.start_phone(dial.leg)
    dial.leg.apps.ack(dial.leg.call)
    await until(lambda: slow.hung_up is not None)
    assert slow.hung_up == "call completed elsewhere"
    dial.outbound.far_end_hangs_up(fast)
    result = await asyncio.wait_for(task, WAIT)
    assert result.answered_by == "103"
    assert result.targets == {"102": DialStatus.NO_ANSWER, "103": DialStatus.ANSWERED}
    dial.outbound.close()


async def test_nobody_answering_in_time_is_no_answer_and_the_caller_stays_unanswered(
    rig: Rig,
) -> None:
    ringing = Phone("ring")
    dial = dial_rig(rig, {"102": ringing})
    result = await asyncio.wait_for(dial.leg.live.dial([DialTarget("102")], timeout=0.3), WAIT)
    assert result.status is DialStatus.NO_ANSWER
    assert ringing.hung_up is not None  # CANCELed
    assert not dial.leg.live.answered and not rig.apps.answers
    assert dial.planner.released == ["102"]


async def test_busy_beats_unreachable_when_nobody_answers(rig: Rig) -> None:
    planner = Planner(statuses={"104": DialStatus.UNREACHABLE})
    dial = dial_rig(rig, {"102": Phone("busy"), "103": Phone("decline")}, planner)
    targets = [DialTarget("102"), DialTarget("103"), DialTarget("104")]
    result = await asyncio.wait_for(dial.leg.live.dial(targets, timeout=5), WAIT)
    assert result.status is DialStatus.BUSY
    assert result.targets == {
        "102": DialStatus.BUSY,
        "103": DialStatus.REJECTED,
        "104": DialStatus.UNREACHABLE,
    }


async def test_the_caller_hanging_up_while_it_rings_hangs_up_the_phones(rig: Rig) -> None:
    ringing = Phone("ring")
    dial = dial_rig(rig, {"102": ringing})
    task = asyncio.ensure_future(dial.leg.live.dial([DialTarget("102")], timeout=5))
    await until(lambda: ringing.listener is not None)
    dial.leg.apps.cancel(dial.leg.call)
    with pytest.raises(CallerHungUp):
        await asyncio.wait_for(task, WAIT)
    assert ringing.hung_up is not None


async def test_a_confirm_leg_is_put_through_once_its_answerer_presses_1(rig: Rig) -> None:
    mobile = Phone("answer", press="1")
    dial = dial_rig(rig, {"+34600111222": mobile})
    task = asyncio.ensure_future(
        dial.leg.live.dial([DialTarget("+34600111222", confirm=True)], timeout=5)
    )
    await asyncio.wait_for(rig.apps.answered.wait(), WAIT)
    rig.start_phone(dial.leg)
    dial.leg.apps.ack(dial.leg.call)
    dial.outbound.far_end_hangs_up(mobile)
    result = await asyncio.wait_for(task, WAIT)
    assert result.status is DialStatus.ANSWERED
    assert dial.planner.occupied == []  # an outside number is nobody's extension
    dial.outbound.close()


async def test_a_confirm_leg_whose_answerer_never_presses_1_is_no_answer(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(live_dial, "CONFIRM_SECONDS", 0.5)
    voicemail_of_the_mobile = Phone("answer")
    dial = dial_rig(rig, {"+34600111222": voicemail_of_the_mobile})
    result = await asyncio.wait_for(
        dial.leg.live.dial([DialTarget("+34600111222", confirm=True)], timeout=5), WAIT
    )
    assert result.status is DialStatus.NO_ANSWER
    assert voicemail_of_the_mobile.hung_up == "not confirmed"
    assert not rig.apps.answers  # the caller was never answered
    dial.outbound.close()


def _joined(frames: list[Any]) -> Any:
    import numpy as np

    return np.concatenate(frames)


async def test_a_phone_that_never_answers_the_network_is_unreachable_not_unanswered(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ringing_module, "NO_RESPONSE_SECONDS", 0.2)
    gone, ringing = Phone("silent"), Phone("ring")
    dial = dial_rig(rig, {"102": gone, "103": ringing})
    result = await asyncio.wait_for(dial.leg.live.dial([DialTarget("102")], timeout=5), WAIT)
    assert result.status is DialStatus.UNREACHABLE  # long before the 5 s of ringing
    assert gone.hung_up == "no response"
    both = await asyncio.wait_for(
        dial.leg.live.dial([DialTarget("102"), DialTarget("103")], timeout=0.5), WAIT
    )
    assert both.targets == {"102": DialStatus.UNREACHABLE, "103": DialStatus.NO_ANSWER}
    assert both.status is DialStatus.NO_ANSWER
