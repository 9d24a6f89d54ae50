"""Calls through the UA core and B2BUA, sans sockets, on a fake clock (RFC 3665 flows)."""

from __future__ import annotations

from pathlib import Path

import pytest

from centralita.calls.media import Side
from centralita.sip.message import Request, Response
from centralita.sip.sdp import SessionDescription
from tests.calls.pbxharness import (
    Pbx,
    Phone,
    answer,
    requests,
    response_to,
    responses,
    sdp,
)


@pytest.fixture
def pbx(tmp_path: Path) -> Pbx:
    return Pbx(tmp_path, ring_timeout=30.0)


def place_call(
    pbx: Pbx, caller: Phone, callee: Phone, number: str = "102"
) -> tuple[bytes, list[Request]]:
    """Caller dials ``number``; returns the INVITE bytes and the INVITEs the PBX sent out."""
    invite = caller.request("INVITE", f"sip:{number}@acme.test", body=sdp(4000))
    out = pbx.send_authenticated(caller, invite)
    return invite, [r for r in requests(out, callee) if r.method == "INVITE"]


def confirm(pbx: Pbx, caller: Phone, callee: Phone, invite: Request) -> Response:
    """The callee answers ``invite`` with SDP, the caller ACKs the PBX's 200: a talking call."""
    out = pbx.deliver(
        answer(invite, 200, body=sdp(6000), contact="sip:102@192.0.2.10:5002"), callee.address
    )
    ok = response_to(out, caller, 200)
    ack = caller.request(
        "ACK",
        "sip:102@127.0.0.1:5060",
        call_id=ok.call_id,
        cseq=ok.cseq.number,
        to_tag=ok.to.tag,
        to="sip:102@acme.test",
    )
    pbx.send(caller, ack)
    return ok


def records(pbx: Pbx) -> dict[str, str]:
    return {r.owner: r.status for r in pbx.store.call_records.list(pbx.tenant_id)}


def test_basic_call_relays_answer_and_anchors_media(pbx: Pbx) -> None:
    alice, bob = pbx.phone("101", 5001), pbx.phone("102", 5002)
    pbx.register(bob)
    _, invites = place_call(pbx, alice, bob)
    assert len(invites) == 1
    b_invite = invites[0]
    offer = SessionDescription.parse(b_invite.body)
    stream = offer.first_audio()
    assert stream is not None
    # The callee is told to send RTP to the PBX's B-side port, not to the caller.
    assert stream.rtp_address == ("127.0.0.1", 30002)
    assert b_invite.from_.uri.user == "101"
    assert b_invite.call_id != pbx.sent_invite_from(alice).call_id  # a dialog of its own

    out = pbx.deliver(answer(b_invite, 180), bob.address)
    assert response_to(out, alice, 180).to.tag
    out = pbx.deliver(
        answer(b_invite, 200, body=sdp(6000), contact="sip:102@192.0.2.10:5002"), bob.address
    )
    ok = response_to(out, alice, 200)
    answer_sdp = SessionDescription.parse(ok.body).first_audio()
    assert answer_sdp is not None and answer_sdp.rtp_address == ("127.0.0.1", 30000)
    assert [r.method for r in requests(out, bob)] == ["ACK"]
    session = pbx.media.sessions[0]
    assert session.remotes == {Side.A: ("192.0.2.10", 4000), Side.B: ("192.0.2.10", 6000)}

    a_ack = alice.request(
        "ACK",
        "sip:102@127.0.0.1:5060",
        call_id=ok.call_id,
        cseq=ok.cseq.number,
        to_tag=ok.to.tag,
        to="sip:102@acme.test",
    )
    pbx.send(alice, a_ack)
    pbx.advance(5)
    bye = alice.request(
        "BYE",
        "sip:102@127.0.0.1:5060",
        call_id=ok.call_id,
        to_tag=ok.to.tag,
        to="sip:102@acme.test",
    )
    out = pbx.send(alice, bye)
    assert response_to(out, alice, 200)
    b_bye = [r for r in requests(out, bob) if r.method == "BYE"]
    assert len(b_bye) == 1 and b_bye[0].call_id == b_invite.call_id
    assert session.closed
    assert records(pbx) == {"101": "answered_out", "102": "answered_in"}
    caller_record = next(r for r in pbx.store.call_records.list(pbx.tenant_id) if r.owner == "101")
    assert caller_record.talk_seconds == pytest.approx(5.0, abs=0.01)


def test_busy_callee_phone_gives_486_and_rejected(pbx: Pbx) -> None:
    alice, bob = pbx.phone("101", 5001), pbx.phone("102", 5002)
    pbx.register(bob)
    _, invites = place_call(pbx, alice, bob)
    out = pbx.deliver(answer(invites[0], 486), bob.address)
    assert response_to(out, alice, 486)
    assert [r.method for r in requests(out, bob)] == ["ACK"]  # the INVITE client tx ACKs it
    assert records(pbx) == {"101": "cancelled", "102": "rejected"}


def test_unknown_number_is_404_and_wrong_number(pbx: Pbx) -> None:
    alice = pbx.phone("101", 5001)
    invite = alice.request("INVITE", "sip:999@acme.test", body=sdp(4000))
    out = pbx.send_authenticated(alice, invite)
    assert response_to(out, alice, 404)
    assert records(pbx) == {"101": "wrong_number"}


def test_unregistered_callee_is_480_and_missed(pbx: Pbx) -> None:
    alice = pbx.phone("101", 5001)
    invite = alice.request("INVITE", "sip:102@acme.test", body=sdp(4000))
    out = pbx.send_authenticated(alice, invite)
    assert response_to(out, alice, 480)
    assert records(pbx) == {"101": "cancelled", "102": "missed"}


def test_caller_cancel_cancels_forks_and_gives_487(pbx: Pbx) -> None:
    alice, bob = pbx.phone("101", 5001), pbx.phone("102", 5002)
    pbx.register(bob)
    _, invites = place_call(pbx, alice, bob)
    pbx.deliver(answer(invites[0], 180), bob.address)
    sent_invite = pbx.sent_invite_from(alice)
    cancel = alice.request(
        "CANCEL",
        str(sent_invite.uri),
        call_id=sent_invite.call_id,
        cseq=sent_invite.cseq.number,
        branch=sent_invite.top_via.branch,
        to="sip:102@acme.test",
    )
    out = pbx.send(alice, cancel)
    assert {r.status for r in responses(out, alice)} == {200, 487}
    assert [r.method for r in requests(out, bob)] == ["CANCEL"]
    assert records(pbx) == {"101": "cancelled", "102": "missed"}


def test_ring_timeout_gives_480_and_cancels(pbx: Pbx) -> None:
    alice, bob = pbx.phone("101", 5001), pbx.phone("102", 5002)
    pbx.register(bob)
    _, invites = place_call(pbx, alice, bob)
    pbx.deliver(answer(invites[0], 180), bob.address)
    out = pbx.advance(29.0)
    assert not [r for r in responses(out, alice) if r.status >= 300]
    out = pbx.advance(1.5)
    assert response_to(out, alice, 480)
    assert [r.method for r in requests(out, bob)] == ["CANCEL"]
    assert records(pbx) == {"101": "cancelled", "102": "missed"}


def test_fork_to_every_contact_first_answer_wins(pbx: Pbx) -> None:
    alice = pbx.phone("101", 5001)
    desk, soft = pbx.phone("102", 5002), pbx.phone("102", 5003)
    pbx.register(desk)
    pbx.register(soft)
    _, desk_invites = place_call(pbx, alice, desk)
    soft_invites = [m for m in pbx.sent_requests_to(soft) if m.method == "INVITE"]
    assert len(desk_invites) == 1 and len(soft_invites) == 1
    pbx.deliver(answer(desk_invites[0], 180), desk.address)
    pbx.deliver(answer(soft_invites[0], 180, to_tag="soft"), soft.address)
    out = pbx.deliver(
        answer(
            soft_invites[0], 200, to_tag="soft", body=sdp(7000), contact="sip:102@192.0.2.10:5003"
        ),
        soft.address,
    )
    assert response_to(out, alice, 200)
    assert [r.method for r in requests(out, desk)] == ["CANCEL"]


def test_extension_in_a_call_is_busy_without_call_waiting(pbx: Pbx) -> None:
    alice, bob, carol = pbx.phone("101", 5001), pbx.phone("102", 5002), pbx.phone("103", 5004)
    pbx.register(bob)
    _, invites = place_call(pbx, alice, bob)
    pbx.deliver(
        answer(invites[0], 200, body=sdp(6000), contact="sip:102@192.0.2.10:5002"), bob.address
    )
    invite = carol.request("INVITE", "sip:102@acme.test", body=sdp(4100))
    out = pbx.send_authenticated(carol, invite)
    assert response_to(out, carol, 486)
    assert not [r for r in requests(out, bob) if r.method == "INVITE"]


def test_wrong_password_is_challenged_again(pbx: Pbx) -> None:
    alice = pbx.phone("101", 5001)
    alice.password = "not-the-password"
    invite = alice.request("INVITE", "sip:102@acme.test", body=sdp(4000))
    out = pbx.send_authenticated(alice, invite)
    assert response_to(out, alice, 401).headers.get_all("WWW-Authenticate")


def test_hold_reinvite_is_relayed_with_rewritten_sdp(pbx: Pbx) -> None:
    alice, bob = pbx.phone("101", 5001), pbx.phone("102", 5002)
    pbx.register(bob)
    _, invites = place_call(pbx, alice, bob)
    ok = confirm(pbx, alice, bob, invites[0])
    hold = alice.request(
        "INVITE",
        "sip:102@127.0.0.1:5060",
        call_id=ok.call_id,
        to_tag=ok.to.tag,
        to="sip:102@acme.test",
        body=sdp(4000, direction="sendonly"),
    )
    out = pbx.send(alice, hold)
    relayed = [r for r in requests(out, bob) if r.method == "INVITE"]
    assert len(relayed) == 1
    relayed_sdp = SessionDescription.parse(relayed[0].body)
    audio = relayed_sdp.first_audio()
    assert audio is not None and audio.rtp_address == ("127.0.0.1", 30002)
    assert relayed_sdp.direction_for(relayed_sdp.media[0]).value == "sendonly"
    assert pbx.media.sessions[0].on_hold
    out = pbx.deliver(
        answer(relayed[0], 200, to_tag="callee", body=sdp(6000, direction="recvonly")), bob.address
    )
    reply = response_to(out, alice, 200)
    assert reply.cseq.number == parse_cseq(hold)
    assert [r.method for r in requests(out, bob)] == ["ACK"]


def test_missing_ack_ends_the_call_with_bye_both_ways(pbx: Pbx) -> None:
    alice, bob = pbx.phone("101", 5001), pbx.phone("102", 5002)
    pbx.register(bob)
    _, invites = place_call(pbx, alice, bob)
    pbx.deliver(
        answer(invites[0], 200, body=sdp(6000), contact="sip:102@192.0.2.10:5002"), bob.address
    )
    out: list[tuple[object, object]] = []
    for _ in range(70):
        out += pbx.advance(0.5)  # type: ignore[arg-type]
    byes = [m for m, _ in out if isinstance(m, Request) and m.method == "BYE"]
    assert len({bye.call_id for bye in byes}) == 2  # one per leg (retransmitted: no answer)
    assert pbx.media.sessions[0].closed


def test_rtp_inactivity_ends_the_call(pbx: Pbx) -> None:
    alice, bob = pbx.phone("101", 5001), pbx.phone("102", 5002)
    pbx.register(bob)
    _, invites = place_call(pbx, alice, bob)
    confirm(pbx, alice, bob, invites[0])
    pbx.media.sessions[0].on_inactive()
    out = pbx.advance(0.01)
    assert len([m for m, _ in out if isinstance(m, Request) and m.method == "BYE"]) == 2
    assert records(pbx) == {"101": "answered_out", "102": "answered_in"}


def parse_cseq(data: bytes) -> int:
    for line in data.split(b"\r\n"):
        if line.startswith(b"CSeq:"):
            return int(line.split()[1])
    raise AssertionError("no CSeq")
