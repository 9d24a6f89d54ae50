"""Server transactions (RFC 3261 §17.2), matching (§17.2.3), CANCEL (§9.2) and the UAS
core's 2xx retransmission (§13.3.1.4), driven by a scripted peer on the fake network."""

from __future__ import annotations

import pytest

from centralita.sip.address import Address
from centralita.sip.message import Request, Response
from centralita.sip.transaction import (
    AckTimedOut,
    CancelReceived,
    InvalidTransition,
    RequestReceived,
    Role,
    State,
    TransactionKey,
    TransactionNotFound,
    TransactionTimedOut,
    Uas2xxRetransmitter,
    build_cancel,
)
from tests.sip.sipnet import Net, Node, Peer, make_request, reply, udp

ALICE = udp("192.0.2.1", 5060)
BOB = udp("192.0.2.4", 5070)


def setup(alice: Address = ALICE, bob: Address = BOB) -> tuple[Net, Peer, Node]:
    net = Net()
    return net, net.add_peer("alice", alice), net.add_layer("bob", bob)


def requests(node: Node) -> list[RequestReceived]:
    return [e for e in node.of_type(RequestReceived) if isinstance(e, RequestReceived)]


def statuses(peer: Peer) -> list[int]:
    return [m.status for _, m in peer.received if isinstance(m, Response)]


def times(net: Net, node: Node, prefix: str) -> list[float]:
    return [round(d.sent, 6) for d in net.sent(node, prefix)]


def deliver(net: Net, peer: Peer, msg: Request, to: Address = BOB) -> None:
    peer.send(msg, to)
    net.run(net.now + 0.05)


def only_key(bob: Node) -> TransactionKey:
    [event] = requests(bob)
    assert event.key is not None
    return event.key


# -- INVITE server transaction (§17.2.1) -------------------------------------------------------


def test_layer_sends_100_trying_after_200_ms_and_absorbs_retransmissions() -> None:
    net, alice, bob = setup()
    invite = make_request("INVITE", ALICE)
    alice.send(invite, BOB)
    net.run(0.1)
    assert statuses(alice) == []
    net.run(0.3)
    assert statuses(alice) == [100]
    assert times(net, bob, "SIP/2.0 100") == [0.21]
    deliver(net, alice, invite)  # retransmission: the last provisional again, TU not told
    assert statuses(alice) == [100, 100]
    assert len(requests(bob)) == 1


def test_quick_tu_answer_suppresses_the_100_trying() -> None:
    net, alice, bob = setup()
    invite = make_request("INVITE", ALICE)
    deliver(net, alice, invite)
    bob.layer.send_response(reply(invite, 180), net.now)
    net.run(5.0)
    assert statuses(alice) == [180]


def test_final_response_retransmits_on_timer_g_until_ack() -> None:
    net, alice, bob = setup()
    invite = make_request("INVITE", ALICE)
    deliver(net, alice, invite)  # t = 0.05
    key = only_key(bob)
    bob.layer.send_response(reply(invite, 486), net.now)
    net.run(10.0)
    # G: T1 doubling up to T2 from 0.05: 0.55, 1.55, 3.55, 7.55 (then every 4 s)
    assert times(net, bob, "SIP/2.0 486") == [0.05, 0.55, 1.55, 3.55, 7.55]
    deliver(net, alice, invite)  # retransmitted INVITE: answered with the 486
    assert len(net.sent(bob, "SIP/2.0 486")) == 6
    ack = make_request("ACK", ALICE, branch=invite.top_via.branch, to_tag="bobtag")
    deliver(net, alice, ack)
    assert bob.layer.state_of(key) is State.CONFIRMED
    deliver(net, alice, ack)  # absorbed in Confirmed
    net.run(net.now + 4.9)
    assert len(net.sent(bob, "SIP/2.0 486")) == 6
    assert len(requests(bob)) == 1  # ACKs for non-2xx never reach the TU
    net.run(net.now + 0.2)  # Timer I (T4) from the first ACK
    assert bob.layer.state_of(key) is None


def test_timer_h_gives_up_waiting_for_the_ack() -> None:
    net, alice, bob = setup()
    invite = make_request("INVITE", ALICE)
    deliver(net, alice, invite)
    key = only_key(bob)
    bob.layer.send_response(reply(invite, 404), net.now)
    net.run(40.0)
    assert bob.of_type(TransactionTimedOut) == [TransactionTimedOut(key)]
    assert bob.events[-1][0] == pytest.approx(0.05 + 32.0)
    assert bob.layer.get_timer() is None


def test_tu_misuse_on_a_server_transaction_raises() -> None:
    net, alice, bob = setup()
    invite = make_request("INVITE", ALICE)
    deliver(net, alice, invite)
    bob.layer.send_response(reply(invite, 486), net.now)
    with pytest.raises(InvalidTransition):
        bob.layer.send_response(reply(invite, 200), net.now)
    with pytest.raises(TransactionNotFound):
        bob.layer.send_response(reply(make_request("INVITE", ALICE), 200), net.now)


# -- UAS core: 2xx until ACK (§13.3.1.4) -------------------------------------------------------


def test_2xx_is_retransmitted_until_the_ack() -> None:
    net, alice, bob = setup()
    invite = make_request("INVITE", ALICE)
    deliver(net, alice, invite)
    key = only_key(bob)
    bob.layer.send_response(reply(invite, 200), net.now)
    assert bob.layer.state_of(key) is None  # §17.2.1: the transaction ends with the 2xx
    net.run(8.0)
    assert times(net, bob, "SIP/2.0 200") == [0.05, 0.55, 1.55, 3.55, 7.55]
    deliver(net, alice, invite)  # a late INVITE retransmission gets the 2xx, not the TU
    assert len(requests(bob)) == 1 and len(net.sent(bob, "SIP/2.0 200")) == 6
    ack = make_request("ACK", ALICE, to_tag="bobtag", cseq=invite.cseq.number)
    deliver(net, alice, ack)
    assert [e.request.method for e in requests(bob)] == ["INVITE", "ACK"]
    assert requests(bob)[1].key is None
    net.run(60.0)
    assert len(net.sent(bob, "SIP/2.0 200")) == 6
    assert bob.of_type(AckTimedOut) == []


def test_2xx_without_ack_times_out_after_64_t1() -> None:
    net, alice, bob = setup()
    invite = make_request("INVITE", ALICE)
    deliver(net, alice, invite)
    key = only_key(bob)
    bob.layer.send_response(reply(invite, 200), net.now)
    net.run(60.0)
    assert bob.of_type(AckTimedOut) == [AckTimedOut(key, invite.call_id, invite.cseq.number)]
    assert bob.events[-1][0] == pytest.approx(0.05 + 32.0)
    assert times(net, bob, "SIP/2.0 200")[-1] < 32.05
    assert bob.layer.get_timer() is None


def test_standalone_retransmitter_matches_ack_by_call_id_and_cseq() -> None:
    invite = make_request("INVITE", ALICE)
    key = TransactionKey(Role.SERVER, invite.top_via.branch or "", "INVITE", "192.0.2.1:5060")
    retransmitter = Uas2xxRetransmitter(key, reply(invite, 200), ALICE, 10.0)
    assert retransmitter.get_timer() == 10.5
    assert retransmitter.handle_timer(10.5) == []
    assert len(retransmitter.datagrams_to_send()) == 1
    assert retransmitter.get_timer() == 11.5
    other = make_request("ACK", ALICE, to_tag="bobtag", cseq=invite.cseq.number + 1)
    assert not retransmitter.receive_ack(other)
    ack = make_request("ACK", ALICE, to_tag="bobtag", cseq=invite.cseq.number)
    assert retransmitter.receive_ack(ack)
    assert retransmitter.get_timer() is None
    with pytest.raises(ValueError):
        Uas2xxRetransmitter(key, reply(invite, 180), ALICE, 0.0)


# -- non-INVITE server transaction (§17.2.2) ---------------------------------------------------


def test_non_invite_server_absorbs_then_replays_responses() -> None:
    net, alice, bob = setup()
    request = make_request("OPTIONS", ALICE)
    deliver(net, alice, request)
    key = only_key(bob)
    deliver(net, alice, request)  # Trying: absorbed, nothing to send yet
    assert statuses(alice) == []
    bob.layer.send_response(reply(request, 100), net.now)
    deliver(net, alice, request)  # Proceeding: the provisional again
    assert statuses(alice) == [100, 100]
    bob.layer.send_response(reply(request, 200), net.now)
    deliver(net, alice, request)  # Completed: the final again
    assert statuses(alice) == [100, 100, 200, 200]
    bob.layer.send_response(reply(request, 500), net.now)  # §17.2.2: discarded
    net.run(net.now + 1.0)
    assert statuses(alice) == [100, 100, 200, 200]
    assert len(requests(bob)) == 1
    completed_at = net.sent(bob, "SIP/2.0 200")[0].sent
    net.run(completed_at + 31.9)
    assert bob.layer.state_of(key) is State.COMPLETED
    net.run(completed_at + 32.0)  # Timer J = 64*T1 on UDP
    assert bob.layer.state_of(key) is None


def test_non_invite_timer_j_is_zero_on_reliable_transports() -> None:
    alice_addr, bob_addr = Address("tcp", "192.0.2.1", 5060), Address("tcp", "192.0.2.4", 5070)
    net, alice, bob = setup(alice_addr, bob_addr)
    request = make_request("OPTIONS", alice_addr)
    deliver(net, alice, request, bob_addr)
    key = only_key(bob)
    bob.layer.send_response(reply(request, 200), net.now)
    assert bob.layer.get_timer() == net.now
    bob.layer.handle_timer(net.now)
    assert bob.layer.state_of(key) is None


# -- matching (§17.2.3) and Via handling (§18.2) -----------------------------------------------


def test_matching_uses_branch_sent_by_and_method() -> None:
    net, alice, bob = setup()
    invite = make_request("INVITE", ALICE, branch="z9hG4bKsame")
    deliver(net, alice, invite)
    other_host = make_request("INVITE", udp("192.0.2.9", 5060), branch="z9hG4bKsame")
    deliver(net, alice, other_host)
    options = make_request("OPTIONS", ALICE, branch="z9hG4bKsame")
    deliver(net, alice, options)
    keys = [e.key for e in requests(bob)]
    assert len(set(keys)) == 3
    assert [(k.method, k.sent_by) for k in keys if k is not None] == [
        ("INVITE", "192.0.2.1:5060"),
        ("INVITE", "192.0.2.9:5060"),
        ("OPTIONS", "192.0.2.1:5060"),
    ]


def test_rfc2543_requests_match_without_the_magic_cookie() -> None:
    net, alice, bob = setup()
    invite = make_request("INVITE", ALICE, branch="old-style-1")
    deliver(net, alice, invite)
    key = only_key(bob)
    deliver(net, alice, invite)
    assert len(requests(bob)) == 1  # retransmission matched by the §17.2.3 fallback fields
    bob.layer.send_response(reply(invite, 486, to_tag="t486"), net.now)
    wrong = make_request("ACK", ALICE, branch="old-style-1", to_tag="other")
    deliver(net, alice, wrong)
    assert bob.layer.state_of(key) is State.COMPLETED
    ack = make_request("ACK", ALICE, branch="old-style-1", to_tag="t486")
    deliver(net, alice, ack)
    assert bob.layer.state_of(key) is State.CONFIRMED
    assert [e.key for e in requests(bob)] == [key, None]  # the unmatched ACK went to the TU


def test_via_is_stamped_and_responses_follow_rport() -> None:
    net = Net()
    bob = net.add_layer("bob", BOB)
    nat = net.add_peer("nat", udp("203.0.113.7", 40000))
    request = make_request("OPTIONS", udp("10.0.0.5", 5060))
    request.headers.set("Via", str(request.top_via) + ";rport")
    nat.send(request, BOB)
    net.run(0.05)
    [event] = requests(bob)
    via = event.request.top_via
    assert (via.received, via.rport) == ("203.0.113.7", "40000")  # §18.2.1, RFC 3581
    bob.layer.send_response(reply(event.request, 200), net.now)
    net.run(0.1)
    assert statuses(nat) == [200]


def test_response_goes_to_the_via_port_without_rport() -> None:
    net = Net()
    bob = net.add_layer("bob", BOB)
    sender = net.add_peer("sender", udp("192.0.2.1", 40000))
    listener = net.add_peer("listener", ALICE)
    request = make_request("OPTIONS", ALICE)
    sender.send(request, BOB)
    net.run(0.05)
    [event] = requests(bob)
    assert event.request.top_via.received is None  # same host: no received param
    bob.layer.send_response(reply(event.request, 200), net.now)
    net.run(0.1)
    assert sender.received == [] and statuses(listener) == [200]


def test_malformed_requests_are_dropped_without_raising() -> None:
    _, _, bob = setup()
    request = make_request("OPTIONS", ALICE)
    request.headers.remove("Via")
    assert bob.layer.receive(request, ALICE, 0.0) == []
    request = make_request("OPTIONS", ALICE)
    request.headers.set("CSeq", "not a number")
    assert bob.layer.receive(request, ALICE, 0.0) == []
    assert bob.layer.datagrams_to_send() == []


# -- CANCEL (§9.2) -----------------------------------------------------------------------------


def test_cancel_of_a_pending_invite() -> None:
    net, alice, bob = setup()
    invite = make_request("INVITE", ALICE)
    deliver(net, alice, invite)
    key = only_key(bob)
    bob.layer.send_response(reply(invite, 180, to_tag="ring"), net.now)
    cancel = build_cancel(invite)
    assert bob.layer.cancelled_transaction(cancel) == key
    deliver(net, alice, cancel)
    [event] = bob.of_type(CancelReceived)
    assert isinstance(event, CancelReceived) and event.key == key
    [(_, cancel_ok)] = [(t, m) for t, m in alice.received if isinstance(m, Response)][-1:]
    assert isinstance(cancel_ok, Response)
    assert (cancel_ok.status, cancel_ok.cseq.method) == (200, "CANCEL")
    assert cancel_ok.to.tag == "ring"  # §9.2: same To tag as the INVITE's responses
    bob.layer.send_response(reply(invite, 487, to_tag="ring"), net.now)
    net.run(net.now + 0.05)
    assert statuses(alice)[-1] == 487


def test_cancel_matching_nothing_gets_481_and_after_final_gets_200() -> None:
    net, alice, bob = setup()
    deliver(net, alice, build_cancel(make_request("INVITE", ALICE)))
    assert statuses(alice) == [481]
    invite = make_request("INVITE", ALICE)
    deliver(net, alice, invite)
    bob.layer.send_response(reply(invite, 200), net.now)
    deliver(net, alice, build_cancel(invite))
    assert statuses(alice)[-1] == 200
    assert [m.cseq.method for _, m in alice.received if isinstance(m, Response)][-1] == "CANCEL"
    assert bob.of_type(CancelReceived) == []
    assert [e.request.method for e in requests(bob)] == ["INVITE"]


def test_cancel_of_a_non_invite_is_answered_but_has_no_effect() -> None:
    net, alice, bob = setup()
    subscribe = make_request("SUBSCRIBE", ALICE)
    deliver(net, alice, subscribe)
    key = only_key(bob)
    cancel = build_cancel(subscribe)
    assert bob.layer.cancelled_transaction(cancel) == key
    deliver(net, alice, cancel)
    assert statuses(alice) == [200]
    assert bob.of_type(CancelReceived) == []
    assert bob.layer.state_of(key) is State.TRYING
