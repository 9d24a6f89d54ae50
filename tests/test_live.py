"""The call verbs of ``LiveCall`` against a real RTP endpoint, a phone endpoint and real media.

Each test answers a call through the fake SIP side of ``tests/livecall_harness.py``; the phone
is a second ``MediaEndpoint`` on loopback. Audio runs on the real 20 ms clock: tests await what
the phone hears (bounded by timeouts) rather than sleeping.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from functools import partial
from pathlib import Path
from typing import Any, cast

import numpy as np
import pytest

_ROOT = str(Path(__file__).resolve().parents[1])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

from centralita.calls.appcall import AppCall, AppCalls  # noqa: E402
from centralita.live import LiveCall  # noqa: E402
from centralita.media.audio import SAMPLE_RATE  # noqa: E402
from centralita.media.moh import MusicLibrary  # noqa: E402
from centralita.media.negotiation import answer_offer  # noqa: E402
from centralita.media.player import PcmSource  # noqa: E402
from centralita.media.prompts import PromptLibrary  # noqa: E402
from centralita.media.rtp_endpoint import MediaEndpoint  # noqa: E402
from centralita.media.wavfile import decode_wav, write_wav  # noqa: E402
from centralita.routing.context import CallerHungUp  # noqa: E402
from centralita.sip import sdp  # noqa: E402
from centralita.sip.offer_answer import LocalOrigin  # noqa: E402
from centralita.sip.sdp import SdpNotAcceptable  # noqa: E402
from tests.livecall_harness import (  # noqa: E402
    EVENT_PT,
    LOCALHOST,
    WAIT,
    Ear,
    Leg,
    Rig,
    app_call,
    audible,
    audible_span,
    dominant_frequency,
    frames_of,
    rms,
    tone,
)

DTMF_RELAY = "application/dtmf-relay"
PROMPT_SPAN_SLACK = 3  # frames: jitter-buffer start-up and clock phase between the endpoints


@pytest.fixture(scope="module")
def prompts(tmp_path_factory: pytest.TempPathFactory) -> PromptLibrary:
    return PromptLibrary(tmp_path_factory.mktemp("prompts"))


@pytest.fixture(scope="module")
def music() -> MusicLibrary:
    return MusicLibrary()


@pytest.fixture
async def rig(prompts: PromptLibrary, music: MusicLibrary, tmp_path: Path) -> AsyncIterator[Rig]:
    made = Rig(prompts, tmp_path, music)
    yield made
    made.close()


@pytest.fixture
async def leg(rig: Rig) -> Leg:
    return await rig.answered()


def heard_enough(leg: Leg, since: int, frames: int) -> bool:
    return leg.ear.audible_count(since) >= frames


def relay(digit: str, duration: int = 160) -> bytes:
    return f"Signal={digit}\r\nDuration={duration}\r\n".encode()


async def heard_after(leg: Leg, task: Awaitable[Any], tail_frames: int = 10) -> Any:
    """Await ``task``, then let the phone hear what was still on its way."""
    result = await asyncio.wait_for(task, WAIT * 3)
    await leg.ear.frames_pass(tail_frames)
    return result


# ---- answer ---------------------------------------------------------------------------------


async def test_answer_sends_an_sdp_answer_and_starts_media(rig: Rig) -> None:
    leg = await rig.answered(codecs="8 0")

    audio = leg.answer_sdp.first_audio()
    assert audio is not None and leg.live.endpoint is not None
    assert audio.rtp_address == (LOCALHOST, leg.live.endpoint.local_port)
    # Our preference among the offered codecs (G.711 µ-law before A-law), one codec answered.
    assert [pt.encoding.upper() for pt in audio.codecs] == ["PCMU"]
    assert audio.telephone_event is not None and audio.telephone_event.number == EVENT_PT
    assert leg.live.endpoint.started and leg.live.endpoint.codec is not None
    assert leg.live.endpoint.codec.name == "PCMU"
    assert leg.call.state.value == "confirmed"
    assert {"node": "media", "codec": "PCMU", "srtp": False} in leg.call.trace

    await leg.ear.frames_pass(10)  # media flows: the phone receives our (silent) stream
    assert leg.phone.rtp_stats.packets >= 5
    assert leg.phone.remote_ssrc == leg.live.endpoint.ssrc


async def test_answer_without_telephone_event_offers_none(rig: Rig) -> None:
    leg = rig.call(codecs="8", telephone_event=False)
    task = asyncio.ensure_future(leg.live.answer())
    await asyncio.wait_for(rig.apps.answered.wait(), WAIT)
    rig.apps.ack(leg.call)
    await asyncio.wait_for(task, WAIT)

    audio = leg.answer_sdp.first_audio()
    assert audio is not None
    assert [pt.encoding.upper() for pt in audio.codecs] == ["PCMA"]
    assert audio.telephone_event is None


async def test_answer_to_an_offer_without_a_common_codec_is_rejected_with_488(rig: Rig) -> None:
    leg = rig.call(codecs="3")  # GSM only
    in_use = rig.pool.in_use
    with pytest.raises(SdpNotAcceptable):
        await leg.live.answer()
    assert rig.apps.rejected == [488]  # RFC 3261 §13.3.1.1 / §21.4.26
    assert rig.apps.answers == []
    assert rig.pool.in_use == in_use  # the endpoint allocated for it was given back


async def test_answer_after_the_caller_cancelled_raises_and_frees_the_ports(rig: Rig) -> None:
    leg = rig.call()
    in_use = rig.pool.in_use
    rig.apps.cancel(leg.call)
    with pytest.raises(CallerHungUp):
        await leg.live.answer()
    assert rig.apps.answers == []
    assert rig.pool.in_use == in_use


async def test_caller_hanging_up_before_the_ack_ends_answer(rig: Rig) -> None:
    leg = rig.call()
    task = asyncio.ensure_future(leg.live.answer())
    await asyncio.wait_for(rig.apps.answered.wait(), WAIT)
    rig.apps.bye(leg.call)
    with pytest.raises(CallerHungUp):
        await asyncio.wait_for(task, 1.0)
    assert leg.live.endpoint is not None and leg.live.endpoint.closed


# ---- play -----------------------------------------------------------------------------------


async def test_play_a_prompt_reaches_the_phone_for_the_prompt_length(
    leg: Leg, prompts: PromptLibrary
) -> None:
    clip = prompts.get("thank_you", "en")
    await leg.ear.frames_pass(3)
    mark = len(leg.ear.frames)
    loop = asyncio.get_running_loop()
    started = loop.time()
    result = await asyncio.wait_for(leg.live.play("thank_you"), WAIT)
    elapsed = loop.time() - started
    await leg.ear.frames_pass(10)

    assert result == ""
    assert elapsed == pytest.approx(len(clip) / SAMPLE_RATE, abs=0.25)
    expected = audible_span(frames_of(clip))
    assert expected >= 10
    assert abs(audible_span(leg.ear.frames[mark:]) - expected) <= PROMPT_SPAN_SLACK
    assert not audible(leg.ear.frames[-1])  # nothing plays after the prompt


async def test_play_wav_file_then_samples(leg: Leg, tmp_path: Path) -> None:
    wav = tmp_path / "a.wav"
    write_wav(wav, np.repeat(tone(440, 0.5), 2), rate=16000)  # 16 kHz file, 0.5 s
    mark = len(leg.ear.frames)
    result = await heard_after(leg, leg.live.play([wav, tone(1000, 0.5)]))

    assert result == ""
    heard = [f for f in leg.ear.frames[mark:] if audible(f)]
    assert 45 <= len(heard) <= 52
    assert dominant_frequency(np.concatenate(heard[5:20])) == pytest.approx(440, abs=15)
    assert dominant_frequency(np.concatenate(heard[-20:-5])) == pytest.approx(1000, abs=15)


async def test_barge_in_returns_the_key_and_stops_the_prompt(
    leg: Leg, prompts: PromptLibrary
) -> None:
    clip_seconds = len(prompts.get("leave_message", "en")) / SAMPLE_RATE
    mark = len(leg.ear.frames)
    loop = asyncio.get_running_loop()
    started = loop.time()
    task = asyncio.ensure_future(leg.live.play("leave_message", interrupt_on="#*"))
    await leg.ear.until(lambda: leg.ear.audible_count(mark) >= 10)
    leg.phone.send_dtmf("#", 100)
    result = await asyncio.wait_for(task, WAIT)

    assert result == "#"
    assert loop.time() - started < clip_seconds - 1.0
    stopped = len(leg.ear.frames)
    await leg.ear.frames_pass(20)
    assert leg.ear.audible_count(stopped + 6) == 0  # silence once the buffer has drained
    # The key was consumed by the barge-in, not left for the next collect.
    assert await leg.live.collect_digits(1, timeout=0.2) == ""


async def test_keys_not_in_interrupt_on_do_not_stop_the_prompt(leg: Leg) -> None:
    task = asyncio.ensure_future(leg.live.play(tone(500, 0.8), interrupt_on="#"))
    await leg.ear.until(lambda: leg.ear.audible_count() >= 5)
    assert leg.apps.info(leg.call, DTMF_RELAY, relay("1")) == 200
    assert await asyncio.wait_for(task, WAIT) == ""


# ---- collect_digits --------------------------------------------------------------------------


async def test_collect_digits_sent_as_rfc4733(leg: Leg) -> None:
    task = asyncio.ensure_future(leg.live.collect_digits(10, timeout=WAIT))
    for digit in "90*#":
        leg.phone.send_dtmf(digit, 60)
    assert await asyncio.wait_for(task, WAIT) == "90*"
    methods = [step["method"] for step in leg.call.trace if step.get("node") == "dtmf"]
    assert methods == ["rfc4733"] * 4


async def test_collect_digits_sent_as_sip_info(leg: Leg) -> None:
    task = asyncio.ensure_future(leg.live.collect_digits(10, timeout=WAIT))
    for digit in "42#":
        assert leg.apps.info(leg.call, DTMF_RELAY, relay(digit)) == 200
    assert leg.apps.info(leg.call, "application/dtmf", b"7") == 200  # after the terminator
    assert await asyncio.wait_for(task, WAIT) == "42"
    assert await leg.live.collect_digits(1, timeout=WAIT) == "7"


async def test_collect_digits_stops_at_max_digits_and_keeps_the_rest(leg: Leg) -> None:
    for digit in "12345":
        leg.apps.info(leg.call, DTMF_RELAY, relay(digit))
    assert await leg.live.collect_digits(3, timeout=WAIT) == "123"
    assert await leg.live.collect_digits(5, timeout=0.2) == "45"


async def test_collect_digits_times_out(leg: Leg) -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert await leg.live.collect_digits(4, timeout=0.3) == ""
    assert 0.28 <= loop.time() - started < 0.6


async def test_collect_digits_inter_digit_timeout_after_the_first_key(leg: Leg) -> None:
    loop = asyncio.get_running_loop()
    leg.apps.info(leg.call, DTMF_RELAY, relay("8"))
    started = loop.time()
    assert await leg.live.collect_digits(4, timeout=WAIT, inter_digit_timeout=0.2) == "8"
    assert loop.time() - started < 0.5


async def test_collect_digits_first_digit_and_no_terminator(leg: Leg) -> None:
    assert await leg.live.collect_digits(4, timeout=WAIT, first_digit="#") == ""
    for digit in "#5#":
        leg.apps.info(leg.call, DTMF_RELAY, relay(digit))
    # An empty terminator: '#' is a digit like any other.
    assert await leg.live.collect_digits(3, timeout=0.3, terminator="", first_digit="1") == "1#5"
    assert await leg.live.collect_digits(2, timeout=0.3, terminator="") == "#"


async def test_a_cancelled_collect_does_not_swallow_the_next_key(leg: Leg) -> None:
    task = asyncio.ensure_future(leg.live.collect_digits(4, timeout=WAIT))
    await leg.ear.frames_pass(2)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    leg.apps.info(leg.call, DTMF_RELAY, relay("9"))
    assert await leg.live.collect_digits(1, timeout=0.5) == "9"


async def test_keys_pressed_during_a_prompt_are_kept_for_the_next_collect(leg: Leg) -> None:
    clip = tone(700, 0.6)
    task = asyncio.ensure_future(leg.live.play(clip))  # not interruptible
    await leg.ear.until(lambda: leg.ear.audible_count() >= 5)
    leg.phone.send_dtmf("3", 60)
    leg.apps.info(leg.call, DTMF_RELAY, relay("6"))
    assert await asyncio.wait_for(task, WAIT) == ""
    assert leg.ear.audible_count() >= 25  # the prompt was not cut short
    assert sorted(await leg.live.collect_digits(2, timeout=1.0)) == ["3", "6"]


async def test_one_key_press_signalled_two_ways_counts_once(leg: Leg) -> None:
    leg.apps.info(leg.call, DTMF_RELAY, relay("5", 100))
    leg.phone.send_dtmf("5", 100)
    leg.phone.send_dtmf("#", 60)
    assert await asyncio.wait_for(leg.live.collect_digits(4, timeout=WAIT), WAIT) == "5"


# ---- say_number ------------------------------------------------------------------------------


@pytest.mark.parametrize("language", ["en", "es", "ru"])
async def test_say_number_plays_the_spoken_number(
    leg: Leg, prompts: PromptLibrary, language: str
) -> None:
    (clip,) = prompts.say_number(42, language)
    seconds = len(clip) / SAMPLE_RATE
    assert 0.3 < seconds < 3.0
    mark = len(leg.ear.frames)
    assert await heard_after(leg, leg.live.say_number(42, language)) == ""
    expected = audible_span(frames_of(clip))
    assert abs(audible_span(leg.ear.frames[mark:]) - expected) <= PROMPT_SPAN_SLACK


async def test_say_number_defaults_to_the_call_language(leg: Leg, prompts: PromptLibrary) -> None:
    leg.live.language = "es"
    (spanish,) = prompts.say_number(7, "es")
    (english,) = prompts.say_number(7, "en")
    assert len(spanish) != len(english)
    mark = len(leg.ear.frames)
    await heard_after(leg, leg.live.say_number(7))
    expected = audible_span(frames_of(spanish))
    assert abs(audible_span(leg.ear.frames[mark:]) - expected) <= PROMPT_SPAN_SLACK


# ---- record ---------------------------------------------------------------------------------


async def test_record_ends_on_silence_with_the_silence_trimmed(leg: Leg, tmp_path: Path) -> None:
    path = tmp_path / "msg.wav"
    task = asyncio.ensure_future(
        leg.live.record(path, max_seconds=10, silence_seconds=0.6, beep=False)
    )
    leg.phone.source = PcmSource(tone(700, 1.0))
    recording = await asyncio.wait_for(task, WAIT)

    assert recording.ended_by == "silence" and recording.path == path
    # 1 s of tone + the 0.2 s tail the recorder keeps (+ the lead-in before the tone arrived),
    # not the 0.6 s of silence that ended it.
    assert 1.15 <= recording.duration <= 1.4
    samples = decode_wav(path)
    assert len(samples) / SAMPLE_RATE == pytest.approx(recording.duration, abs=0.001)
    assert dominant_frequency(samples) == pytest.approx(700, abs=10)
    assert rms(samples[-800:]) < 50  # the kept tail is quiet: the tone ended before it


async def test_record_ends_on_pound(leg: Leg, tmp_path: Path) -> None:
    path = tmp_path / "msg.wav"
    leg.phone.source = PcmSource(tone(900, 5.0))
    task = asyncio.ensure_future(
        leg.live.record(path, max_seconds=10, silence_seconds=2.0, beep=False)
    )
    await leg.ear.frames_pass(30)
    leg.phone.send_dtmf("#", 80)
    recording = await asyncio.wait_for(task, WAIT)

    assert recording.ended_by == "dtmf"
    assert 0.4 <= recording.duration <= 1.2
    assert dominant_frequency(decode_wav(path)) == pytest.approx(900, abs=10)


async def test_record_ends_at_max_length_after_a_beep(leg: Leg, tmp_path: Path) -> None:
    path = tmp_path / "msg.wav"
    leg.phone.source = PcmSource(tone(500, 5.0))
    mark = len(leg.ear.frames)
    recording = await asyncio.wait_for(
        leg.live.record(path, max_seconds=0.8, silence_seconds=2.0), WAIT
    )

    assert leg.ear.audible_count(mark) >= 5  # the phone heard the beep
    assert recording.ended_by == "max_length"
    assert recording.duration == pytest.approx(0.8, abs=0.021)
    samples = decode_wav(path)
    assert rms(samples) > 3000
    assert dominant_frequency(samples) == pytest.approx(500, abs=10)


async def test_record_keeps_the_message_when_the_caller_hangs_up(leg: Leg, tmp_path: Path) -> None:
    path = tmp_path / "msg.wav"
    leg.phone.source = PcmSource(tone(600, 5.0))
    task = asyncio.ensure_future(
        leg.live.record(path, max_seconds=10, silence_seconds=2.0, beep=False)
    )
    await leg.ear.frames_pass(25)
    leg.apps.bye(leg.call)
    recording = await asyncio.wait_for(task, 0.5)
    assert recording.ended_by == "hangup"
    assert recording.duration > 0.3
    assert dominant_frequency(decode_wav(path)) == pytest.approx(600, abs=10)


# ---- music on hold, echo, conference ----------------------------------------------------------


async def test_music_on_hold_streams_until_the_call_ends(leg: Leg) -> None:
    mark = len(leg.ear.frames)
    task = asyncio.ensure_future(leg.live.music_on_hold())
    await leg.ear.until(lambda: leg.ear.audible_count(mark) >= 25)
    music = np.concatenate([f for f in leg.ear.frames[mark:] if audible(f)])
    assert rms(music) > 500
    assert len({round(rms(frame)) for frame in frames_of(music)}) > 5  # music, not a test tone
    assert not task.done()
    leg.apps.bye(leg.call)
    with pytest.raises(CallerHungUp):
        await asyncio.wait_for(task, 0.5)


async def test_music_on_hold_stops_when_cancelled(leg: Leg) -> None:
    task = asyncio.ensure_future(leg.live.music_on_hold())
    await leg.ear.until(lambda: leg.ear.audible_count() >= 10)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    stopped = len(leg.ear.frames)
    await leg.ear.frames_pass(15)
    assert leg.ear.audible_count(stopped + 6) == 0
    # The call goes on: the next verb works.
    assert await leg.live.play(tone(800, 0.2)) == ""


async def test_echo_returns_the_callers_audio(leg: Leg) -> None:
    leg.phone.source = PcmSource(tone(620, 5.0))
    mark = len(leg.ear.frames)
    task = asyncio.ensure_future(leg.live.echo())
    await leg.ear.until(lambda: leg.ear.audible_count(mark) >= 25)
    heard = [f for f in leg.ear.frames[mark:] if audible(f)]
    assert dominant_frequency(np.concatenate(heard[-20:])) == pytest.approx(620, abs=15)
    leg.apps.bye(leg.call)
    with pytest.raises(CallerHungUp):
        await asyncio.wait_for(task, 0.5)


async def test_two_calls_in_a_conference_hear_each_other(rig: Rig) -> None:
    alice, bob = await rig.answered(), await rig.answered()
    alice.phone.source = PcmSource(tone(500, 5.0))
    bob.phone.source = PcmSource(tone(900, 5.0))
    marks = len(alice.ear.frames), len(bob.ear.frames)
    tasks = [asyncio.ensure_future(leg.live.join_conference("12")) for leg in (alice, bob)]
    for leg, mark in zip((alice, bob), marks, strict=True):
        await leg.ear.until(partial(heard_enough, leg, mark, 40))
    assert rig.rooms.members("acme", "12") == 2

    def last_heard(leg: Leg) -> float:
        return dominant_frequency(np.concatenate(leg.ear.frames[-20:]))

    assert last_heard(alice) == pytest.approx(900, abs=15)  # Bob, not herself
    assert last_heard(bob) == pytest.approx(500, abs=15)
    for leg, task in zip((alice, bob), tasks, strict=True):
        leg.apps.bye(leg.call)
        with pytest.raises(CallerHungUp):
            await asyncio.wait_for(task, 0.5)
    assert rig.rooms.members("acme", "12") == 0


# ---- hanging up -----------------------------------------------------------------------------

Verb = Callable[[Leg], Awaitable[Any]]
WAITING_VERBS: dict[str, Verb] = {
    "play": lambda leg: leg.live.play("leave_message"),
    "play_interruptible": lambda leg: leg.live.play("leave_message", interrupt_on="#"),
    "say_number": lambda leg: leg.live.say_number(123456789),
    "collect_digits": lambda leg: leg.live.collect_digits(4, timeout=10.0),
    "music_on_hold": lambda leg: leg.live.music_on_hold(),
    "echo": lambda leg: leg.live.echo(),
    "join_conference": lambda leg: leg.live.join_conference("3"),
}


SOUNDING_VERBS = {"play", "play_interruptible", "say_number", "music_on_hold"}


@pytest.mark.parametrize("verb", list(WAITING_VERBS))
async def test_caller_hanging_up_ends_a_waiting_verb_promptly(leg: Leg, verb: str) -> None:
    task = asyncio.ensure_future(WAITING_VERBS[verb](leg))
    if verb in SOUNDING_VERBS:  # past their preparation (synthesis, music) in a thread
        await leg.ear.until(lambda: leg.ear.audible_count() > 0)
    await leg.ear.frames_pass(8)
    assert not task.done()
    leg.apps.bye(leg.call)
    # Promptly: within a few turns of the event loop, whatever the machine's load.
    for _ in range(20):
        if task.done():
            break
        await asyncio.sleep(0)
    assert task.done()
    with pytest.raises(CallerHungUp):
        task.result()
    assert leg.live.endpoint is not None and leg.live.endpoint.closed
    with pytest.raises(CallerHungUp):  # and every later verb too
        await leg.live.play(tone(400, 0.1))


async def test_hangup_by_the_pbx_sends_bye_once(leg: Leg) -> None:
    await leg.live.hangup()
    await leg.live.hangup()
    assert leg.apps.hangups == [leg.call.call_id]
    assert leg.live.endpoint is not None and leg.live.endpoint.closed
    with pytest.raises(CallerHungUp):
        await leg.live.collect_digits(1, timeout=1.0)


# ---- SIP INFO --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content_type", "body", "status"),
    [
        (DTMF_RELAY, b"Signal=5\r\nDuration=160\r\n", 200),
        ("application/dtmf", b"11", 200),  # an event code: '#'
        ("Application/DTMF-Relay; charset=us-ascii", b"signal=B\r\n", 200),
        (DTMF_RELAY, b"", 200),  # an empty INFO
        (DTMF_RELAY, b"Signal=Z\r\nDuration=160\r\n", 400),
        (DTMF_RELAY, b"Duration=160\r\n", 400),
        ("application/dtmf", b"55", 400),
        (DTMF_RELAY, b"\xff\xfe", 400),
        ("not a content type", b"5", 400),
        ("text/plain", b"5", 415),
        ("application/sdp", b"v=0\r\n", 415),
    ],
)
async def test_info_response_status(leg: Leg, content_type: str, body: bytes, status: int) -> None:
    assert leg.apps.info(leg.call, content_type, body) == status
    queued = await leg.live.collect_digits(1, timeout=0.05, terminator="")
    assert (queued != "") == (status == 200 and body != b"")


# ---- late offer (RFC 3261 §13.2.1) ------------------------------------------------------------


def late_offer_call(rig: Rig) -> tuple[LiveCall, AppCall]:
    call = app_call(b"")  # an INVITE without SDP
    live = LiveCall(call, cast(AppCalls, rig.apps), rig.drive, rig.services)
    rig._lives.append(live)
    return live, call


async def test_an_invite_without_sdp_gets_our_offer_and_the_ack_carries_the_answer(
    rig: Rig,
) -> None:
    live, call = late_offer_call(rig)
    answering = asyncio.ensure_future(live.answer())
    await asyncio.wait_for(rig.apps.answered.wait(), WAIT)
    our_offer = sdp.SessionDescription.parse(rig.apps.answers[-1])
    audio = our_offer.first_audio()
    assert audio is not None and {"PCMU", "PCMA"} <= {pt.encoding.upper() for pt in audio.codecs}
    phone = MediaEndpoint(rig.pool.allocate(), name="phone")
    rig._phones.append(phone)
    media = answer_offer(rig.apps.answers[-1], LOCALHOST, phone.local_port, LocalOrigin(LOCALHOST))
    phone.start(media.remote, media.codec, media.telephone_event, payload_type=media.payload_type)
    ear = Ear(phone)
    rig.apps.ack(call, media.answer)
    await asyncio.wait_for(answering, WAIT)
    assert live.endpoint is not None and live.endpoint.codec is not None
    assert live.endpoint.codec.name == media.codec.name
    await asyncio.wait_for(live.play(tone(600.0, 0.4)), WAIT)
    await ear.until(lambda: ear.audible_count() >= 10)


async def test_a_late_offer_whose_ack_has_no_usable_answer_is_hung_up(rig: Rig) -> None:
    live, call = late_offer_call(rig)
    answering = asyncio.ensure_future(live.answer())
    await asyncio.wait_for(rig.apps.answered.wait(), WAIT)
    rig.apps.ack(call, b"")  # RFC 3264 §4: the ACK had to carry the answer
    with pytest.raises(CallerHungUp):
        await asyncio.wait_for(answering, WAIT)
    assert rig.apps.hangups == [call.call_id]
    assert any("answer in the ACK refused" in step.get("error", "") for step in call.trace)
