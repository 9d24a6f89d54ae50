"""Whole-call recording from the B2BUA's side: when, where, which codecs, and the call log."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

import pytest

from centralita.calls.media import Side
from centralita.calls.recording import CallRecording, recording_path, sdp_formats
from centralita.media.transform import MediaPlan
from centralita.sip.message import Request
from tests.calls.pbxharness import (
    FakeMedia,
    FakeSession,
    Pbx,
    Phone,
    answer,
    requests,
    response_to,
    sdp,
)

NOW = 1_800_000_000.0  # 2027-01-15 08:00 UTC
G722_ANSWER = (
    b"v=0\r\no=- 7 7 IN IP4 192.0.2.20\r\ns=-\r\nc=IN IP4 192.0.2.20\r\nt=0 0\r\n"
    b"m=audio 6000 RTP/AVP 9 101\r\na=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n"
)


class RecordingFakeSession(FakeSession):
    def __init__(self, base: int, on_inactive: Callable[[], None]) -> None:
        super().__init__(base, on_inactive)
        self.recording: Path | None = None
        self.formats: dict[Side, dict[int, str]] = {}
        self.plan: MediaPlan | None = None

    def start_recording(self, path: Path, formats: Mapping[Side, Mapping[int, str]]) -> bool:
        self.recording = path
        self.formats = {side: dict(f) for side, f in formats.items()}
        return True

    def set_recording_formats(self, side: Side, formats: Mapping[int, str]) -> None:
        self.formats[side] = dict(formats)

    def set_media_plan(self, plan: MediaPlan | None) -> None:
        self.plan = plan


class RecordingFakeMedia(FakeMedia):
    def create(self, on_inactive: Callable[[], None]) -> FakeSession:
        session = RecordingFakeSession(30000 + 4 * len(self.sessions), on_inactive)
        self.sessions.append(session)
        return session


@pytest.fixture
def pbx(tmp_path: Path) -> Pbx:
    pbx = Pbx(tmp_path)
    pbx.media = RecordingFakeMedia()
    pbx.core.b2bua.media = pbx.media
    pbx.core.b2bua.recordings = tmp_path / "recordings"
    return pbx


def talk_and_hang_up(pbx: Pbx, alice: Phone, bob: Phone, answer_body: bytes) -> Request:
    invite = alice.request("INVITE", "sip:102@acme.test", body=sdp(4000))
    out = pbx.send_authenticated(alice, invite)
    (b_invite,) = [r for r in requests(out, bob) if r.method == "INVITE"]
    out = pbx.deliver(answer(b_invite, 200, body=answer_body, contact="sip:102@x"), bob.address)
    ok = response_to(out, alice, 200)
    pbx.advance(4)
    bye = alice.request(
        "BYE", "sip:102@127.0.0.1:5060", call_id=ok.call_id, to_tag=ok.to.tag, to="sip:102@x"
    )
    pbx.send(alice, bye)
    return pbx.sent_invite_from(alice)


def test_callee_with_record_calls_gets_the_call_recorded_and_linked(pbx: Pbx) -> None:
    pbx.store.extensions.update(pbx.tenant_id, "102", record_calls=True)
    alice, bob = pbx.phone("101", 5001), pbx.phone("102", 5002)
    pbx.register(bob)
    invite = talk_and_hang_up(pbx, alice, bob, G722_ANSWER)
    session = pbx.media.sessions[0]
    assert isinstance(session, RecordingFakeSession) and session.closed
    assert session.recording is not None
    day = session.recording.parent
    assert day.parent == pbx.core.b2bua.recordings / "acme"  # type: ignore[operator]
    assert session.recording.name == f"{invite.call_id}.wav"
    # The caller sends PCMU (its offer and our answer to it); the callee G.722.
    assert session.formats[Side.A] == {0: "PCMU/8000"}
    assert session.formats[Side.B][9] == "G722/8000"
    assert session.plan is not None  # the relay transcodes between them
    rows = pbx.store.call_records.list(pbx.tenant_id)
    assert {r.owner: r.recording for r in rows} == {
        "101": str(session.recording),
        "102": str(session.recording),
    }


def test_no_recording_when_neither_extension_records(pbx: Pbx) -> None:
    alice, bob = pbx.phone("101", 5001), pbx.phone("102", 5002)
    pbx.register(bob)
    talk_and_hang_up(pbx, alice, bob, sdp(6000))
    session = pbx.media.sessions[0]
    assert isinstance(session, RecordingFakeSession) and session.recording is None
    assert {r.recording for r in pbx.store.call_records.list(pbx.tenant_id)} == {None}


def test_unanswered_call_is_not_recorded(pbx: Pbx) -> None:
    pbx.store.extensions.update(pbx.tenant_id, "101", record_calls=True)
    alice, bob = pbx.phone("101", 5001), pbx.phone("102", 5002)
    pbx.register(bob)
    invite = alice.request("INVITE", "sip:102@acme.test", body=sdp(4000))
    out = pbx.send_authenticated(alice, invite)
    (b_invite,) = [r for r in requests(out, bob) if r.method == "INVITE"]
    pbx.deliver(answer(b_invite, 486), bob.address)
    session = pbx.media.sessions[0]
    assert isinstance(session, RecordingFakeSession) and session.recording is None
    assert {r.recording for r in pbx.store.call_records.list(pbx.tenant_id)} == {None}


def test_recording_path_is_dated_and_safe_for_any_call_id(tmp_path: Path) -> None:
    assert recording_path(tmp_path, "acme", "abc123@host", NOW) == (
        tmp_path / "acme" / "2027-01-15" / "abc123@host.wav"
    )
    hostile = recording_path(tmp_path, "acme", "../../etc/passwd", NOW)
    assert hostile.parent == tmp_path / "acme" / "2027-01-15"
    assert "/" not in hostile.name and not hostile.name.startswith(".")
    # Two Call-IDs that clean up alike still get files of their own.
    assert recording_path(tmp_path, "acme", "a/b", NOW) != recording_path(
        tmp_path, "acme", "a_b", NOW
    )
    assert recording_path(tmp_path, "acme", "a?b", NOW) != recording_path(
        tmp_path, "acme", "a/b", NOW
    )


def test_formats_prefer_the_numbers_we_announced_to_the_sender() -> None:
    recording = CallRecording(Path("/rec"))
    offer = sdp(4000)  # from A: 0 PCMU, 101 telephone-event
    relayed_offer = offer.replace(b"RTP/AVP 0 101", b"RTP/AVP 0 101 96").replace(
        b"a=rtpmap:101", b"a=rtpmap:96 opus/48000/2\r\na=rtpmap:101"
    )
    recording.learn(Side.A, offer, relayed_offer)
    assert recording.formats(Side.A) == {0: "PCMU/8000"}
    assert recording.formats(Side.B) == {0: "PCMU/8000", 96: "opus/48000/2"}
    answer_from_b = relayed_offer.replace(b"RTP/AVP 0 101 96", b"RTP/AVP 96")
    recording.learn(Side.B, answer_from_b, offer)
    assert recording.formats(Side.B)[96] == "opus/48000/2"
    assert sdp_formats(b"not sdp") == {}
