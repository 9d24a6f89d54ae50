"""Client transactions (RFC 3261 §17.1) against a scripted peer on the fake network."""

from __future__ import annotations

import pytest

from centralita.sip.address import Address
from centralita.sip.message import Request, Response, parse_message
from centralita.sip.transaction import (
    ResponseReceived,
    State,
    TransactionError,
    TransactionNotFound,
    TransactionTimedOut,
    TransportFailed,
    build_cancel,
)
from tests.sip.sipnet import LATENCY, Net, Node, Peer, make_request, reply, udp

ALICE = udp("192.0.2.1", 5060)
BOB = udp("192.0.2.4", 5070)


def setup(alice: Address = ALICE, bob: Address = BOB) -> tuple[Net, Node, Peer]:
    net = Net()
    return net, net.add_layer("alice", alice), net.add_peer("bob", bob)


def send_times(net: Net, node: Node | Peer, prefix: str) -> list[float]:
    return [round(d.sent, 6) for d in net.sent(node, prefix)]


def received(peer: Peer, method: str) -> list[Request]:
    return [m for _, m in peer.received if isinstance(m, Request) and m.method == method]


def responses(node: Node) -> list[tuple[int, bool]]:
    """(status, matched a transaction) of every response the TU saw."""
    return [
        (e.response.status, e.key is not None)
        for e in node.of_type(ResponseReceived)
        if isinstance(e, ResponseReceived)
    ]


# -- INVITE client transaction (§17.1.1) -------------------------------------------------------


def test_invite_retransmits_on_timer_a_until_a_provisional_arrives() -> None:
    net, alice, bob = setup()
    invite = make_request("INVITE", ALICE)
    key = alice.layer.send_request(invite, BOB, 0.0)
    net.run(4.0)
    # Timer A: T1, then doubling: sends at 0, 0.5, 1.5, 3.5.
    assert send_times(net, alice, "INVITE") == [0.0, 0.5, 1.5, 3.5]
    bob.send(reply(invite, 180), ALICE)
    net.run(60.0)
    assert len(net.sent(alice, "INVITE")) == 4  # no more after the 180
    assert alice.layer.state_of(key) is State.PROCEEDING  # and no Timer B in Proceeding
    assert responses(alice) == [(180, True)]


def test_invite_times_out_on_timer_b_at_64_t1() -> None:
    net, alice, _ = setup()
    key = alice.layer.send_request(make_request("INVITE", ALICE), BOB, 0.0)
    net.run(100.0)
    assert send_times(net, alice, "INVITE") == [0.0, 0.5, 1.5, 3.5, 7.5, 15.5, 31.5]
    [(when, event)] = alice.events
    assert event == TransactionTimedOut(key) and when == pytest.approx(32.0)
    assert alice.layer.state_of(key) is None
    assert alice.layer.get_timer() is None


def test_2xx_terminates_at_once_and_reaches_the_tu() -> None:
    net, alice, bob = setup()
    invite = make_request("INVITE", ALICE)
    key = alice.layer.send_request(invite, BOB, 0.0)
    net.run(0.1)
    bob.send(reply(invite, 200), ALICE)
    net.run(0.2)
    assert alice.layer.state_of(key) is None
    assert responses(alice) == [(200, True)]
    assert net.sent(alice, "ACK") == []  # the ACK for a 2xx is the TU's (§13.2.2.4)


def test_non_2xx_final_is_acked_by_the_transaction() -> None:
    net, alice, bob = setup()
    route = "<sip:proxy.example.com;lr>"
    invite = make_request("INVITE", ALICE, routes=(route,))
    key = alice.layer.send_request(invite, BOB, 0.0)
    net.run(0.1)
    bob.send(reply(invite, 486, to_tag="busy1"), ALICE)
    net.run(0.2)
    [ack] = received(bob, "ACK")
    # §17.1.1.3: same Request-URI, Call-ID, From, CSeq number, top Via (branch); To of
    # the response; the INVITE's Route header fields.
    assert ack.uri == invite.uri
    assert ack.call_id == invite.call_id
    assert ack.from_ == invite.from_
    assert ack.to.tag == "busy1"
    assert ack.cseq == (invite.cseq.number, "ACK")
    assert [v.branch for v in ack.vias] == [invite.top_via.branch]
    assert ack.headers.get_all("Route") == [route]
    assert alice.layer.state_of(key) is State.COMPLETED
    assert responses(alice) == [(486, True)]


def test_retransmitted_final_is_acked_again_but_not_passed_up() -> None:
    net, alice, bob = setup()
    invite = make_request("INVITE", ALICE)
    key = alice.layer.send_request(invite, BOB, 0.0)
    net.run(0.1)
    busy = reply(invite, 486)
    for _ in range(3):
        bob.send(busy, ALICE)
        net.run(net.now + 1.0)
    assert len(received(bob, "ACK")) == 3
    assert responses(alice) == [(486, True)]
    net.run(0.11 + 32.0)  # Timer D: 32 s on UDP after the first 486 (at 0.11)
    assert alice.layer.state_of(key) is None


def test_reliable_transport_has_no_timer_a_and_timer_d_zero() -> None:
    alice_addr, bob_addr = Address("tcp", "192.0.2.1", 5060), Address("tcp", "192.0.2.4", 5070)
    net, alice, bob = setup(alice_addr, bob_addr)
    invite = make_request("INVITE", alice_addr)
    key = alice.layer.send_request(invite, bob_addr, 0.0)
    net.run(20.0)
    assert len(net.sent(alice, "INVITE")) == 1
    bob.send(reply(invite, 603), alice_addr)
    net.run(20.0 + 3 * LATENCY)
    assert alice.layer.state_of(key) is None  # Timer D = 0 for reliable transports
    assert len(received(bob, "ACK")) == 1


def test_transport_failure_fails_the_transaction() -> None:
    _, alice, _ = setup()
    key = alice.layer.send_request(make_request("INVITE", ALICE), BOB, 0.0)
    events = alice.layer.transport_failed(BOB, 0.05)
    assert events == [TransportFailed(key)]
    assert alice.layer.state_of(key) is None
    assert alice.layer.transport_failed(BOB, 0.06) == []


# -- non-INVITE client transaction (§17.1.2) ---------------------------------------------------


def test_non_invite_timer_e_doubles_to_t2_then_f_times_out() -> None:
    net, alice, _ = setup()
    key = alice.layer.send_request(make_request("OPTIONS", ALICE), BOB, 0.0)
    net.run(40.0)
    expected = [0.0, 0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5]
    assert send_times(net, alice, "OPTIONS") == expected
    assert alice.events == [(32.0, TransactionTimedOut(key))]


def test_non_invite_retransmits_every_t2_once_proceeding() -> None:
    net, alice, bob = setup()
    request = make_request("REGISTER", ALICE)
    key = alice.layer.send_request(request, BOB, 0.0)
    net.run(0.2)
    bob.send(reply(request, 100), ALICE)
    net.run(12.0)
    # Timer E was armed at 0.5 in Trying (sent then); from the first firing in Proceeding on,
    # the interval is T2.
    assert send_times(net, alice, "REGISTER") == [0.0, 0.5, 4.5, 8.5]
    assert alice.layer.state_of(key) is State.PROCEEDING


def test_non_invite_final_absorbs_retransmissions_until_timer_k() -> None:
    net, alice, bob = setup()
    request = make_request("BYE", ALICE)
    key = alice.layer.send_request(request, BOB, 0.0)
    net.run(0.1)
    ok = reply(request, 200)
    bob.send(ok, ALICE)
    bob.send(ok, ALICE)
    net.run(1.0)
    assert responses(alice) == [(200, True)]
    assert alice.layer.state_of(key) is State.COMPLETED
    net.run(0.11 + 5.0)  # Timer K = T4
    assert alice.layer.state_of(key) is None
    assert len(net.sent(alice, "BYE")) == 1


# -- 2xx retransmissions and the TU's ACK (§13.2.2.4) ------------------------------------------


def test_retransmitted_2xx_is_answered_with_the_tus_ack() -> None:
    net, alice, bob = setup()
    invite = make_request("INVITE", ALICE)
    alice.layer.send_request(invite, BOB, 0.0)
    net.run(0.1)
    ok = reply(invite, 200)
    bob.send(ok, ALICE)
    net.run(0.2)
    ack = make_request("ACK", ALICE, to_tag="bobtag", cseq=invite.cseq.number)
    alice.layer.send_stateless(ack, BOB, net.now)
    bob.send(ok, ALICE)
    bob.send(ok, ALICE)
    net.run(1.0)
    acks = received(bob, "ACK")
    assert len(acks) == 3 and all(bytes(a) == bytes(ack) for a in acks)
    assert responses(alice) == [(200, True)]


def test_2xx_without_a_known_ack_goes_to_the_tu_without_key() -> None:
    net, alice, bob = setup()
    invite = make_request("INVITE", ALICE)
    alice.layer.send_request(invite, BOB, 0.0)
    net.run(0.1)
    bob.send(reply(invite, 200, to_tag="fork1"), ALICE)
    bob.send(reply(invite, 200, to_tag="fork2"), ALICE)  # another fork (§13.2.2.4)
    bob.send(reply(invite, 180, to_tag="fork3"), ALICE)  # stray non-2xx: dropped
    net.run(0.5)
    assert responses(alice) == [(200, True), (200, False)]


# -- CANCEL (§9.1) -----------------------------------------------------------------------------


def test_build_cancel_copies_what_section_9_1_requires() -> None:
    invite = make_request("INVITE", ALICE, routes=("<sip:p1.example.com;lr>", "<sip:p2;lr>"))
    cancel = build_cancel(invite)
    assert cancel.method == "CANCEL" and cancel.uri == invite.uri
    assert (cancel.call_id, cancel.to, cancel.from_) == (invite.call_id, invite.to, invite.from_)
    assert cancel.cseq == (invite.cseq.number, "CANCEL")
    assert [str(v) for v in cancel.vias] == [str(invite.top_via)]
    assert cancel.headers.get_all("Route") == invite.headers.get_all("Route")
    assert bytes(parse_message(bytes(cancel))) == bytes(cancel)


def test_cancel_waits_for_a_provisional_response() -> None:
    net, alice, bob = setup()
    invite = make_request("INVITE", ALICE)
    invite_key = alice.layer.send_request(invite, BOB, 0.0)
    net.run(0.2)
    cancel_key = alice.layer.cancel(invite_key, net.now)
    assert cancel_key is not None and cancel_key.method == "CANCEL"
    assert alice.layer.cancel(invite_key, net.now) == cancel_key  # idempotent
    net.run(1.0)
    assert received(bob, "CANCEL") == []  # §9.1: not before a provisional
    bob.send(reply(invite, 180), ALICE)
    net.run(1.1)
    [cancel] = received(bob, "CANCEL")
    assert cancel.top_via.branch == invite.top_via.branch
    bob.send(reply(cancel, 200), ALICE)
    bob.send(reply(invite, 487), ALICE)
    net.run(1.2)
    assert responses(alice) == [(180, True), (200, True), (487, True)]
    assert len(received(bob, "ACK")) == 1


def test_queued_cancel_is_dropped_when_the_final_response_comes_first() -> None:
    net, alice, bob = setup()
    invite = make_request("INVITE", ALICE)
    invite_key = alice.layer.send_request(invite, BOB, 0.0)
    alice.layer.cancel(invite_key, 0.0)
    net.run(0.1)
    bob.send(reply(invite, 486), ALICE)
    net.run(40.0)
    assert received(bob, "CANCEL") == []
    assert alice.layer.cancel(invite_key, net.now) is None


def test_cancel_after_the_final_response_is_refused() -> None:
    net, alice, bob = setup()
    invite = make_request("INVITE", ALICE)
    key = alice.layer.send_request(invite, BOB, 0.0)
    net.run(0.1)
    bob.send(reply(invite, 200), ALICE)
    net.run(0.2)
    assert alice.layer.cancel(key, net.now) is None
    with pytest.raises(TransactionNotFound):
        alice.layer.send_request(build_cancel(invite), BOB, net.now)


# -- TU misuse ---------------------------------------------------------------------------------


def test_tu_misuse_raises_transaction_error() -> None:
    _, alice, _ = setup()
    with pytest.raises(TransactionError):
        alice.layer.send_request(make_request("ACK", ALICE), BOB, 0.0)
    with pytest.raises(TransactionError):
        alice.layer.send_request(make_request("INVITE", ALICE, branch="1234"), BOB, 0.0)
    invite = make_request("INVITE", ALICE)
    alice.layer.send_request(invite, BOB, 0.0)
    with pytest.raises(TransactionError):
        alice.layer.send_request(invite, BOB, 0.0)


def test_responses_that_match_nothing_or_are_malformed_are_dropped() -> None:
    _, alice, _ = setup()
    response = reply(make_request("OPTIONS", ALICE), 200)
    assert alice.layer.receive(response, BOB, 0.0) == []
    broken = Response(200, "OK", response.headers.copy())
    broken.headers.remove("CSeq")
    assert alice.layer.receive(broken, BOB, 0.0) == []
    assert alice.layer.datagrams_to_send() == []


def test_remembered_ack_expires_after_64_t1() -> None:
    net, alice, bob = setup()
    invite = make_request("INVITE", ALICE)
    alice.layer.send_request(invite, BOB, 0.0)
    ok = reply(invite, 200)
    bob.send(ok, ALICE)
    net.run(0.1)
    ack = make_request("ACK", ALICE, to_tag="bobtag", cseq=invite.cseq.number)
    alice.layer.send_stateless(ack, BOB, net.now)
    net.run(40.0)
    bob.send(ok, ALICE)
    net.run(41.0)
    assert len(received(bob, "ACK")) == 1
    assert responses(alice) == [(200, True), (200, False)]
