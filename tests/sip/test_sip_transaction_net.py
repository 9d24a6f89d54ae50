"""Two transaction layers joined by a lossy, duplicating, reordering fake network, each with
a scripted TU: whole INVITE and non-INVITE exchanges survive loss or fail exactly on time."""

from __future__ import annotations

import pytest

from centralita.sip.dialog import Dialog
from centralita.sip.message import Request
from centralita.sip.transaction import (
    AckTimedOut,
    CancelReceived,
    RequestReceived,
    ResponseReceived,
    TransactionEvent,
    TransactionTimedOut,
)
from tests.sip.sipnet import Net, Node, make_request, reply, udp

ALICE = udp("192.0.2.1", 5060)
BOB = udp("192.0.2.4", 5070)
TIMEOUT = 64 * 0.5


def answering_bob(net: Net, *, ring_after: float = 0.5, answer_after: float = 2.0) -> Node:
    """A UAS TU: 180 after ``ring_after``, 200 after ``answer_after``; answers a CANCEL."""
    bob = net.add_layer("bob", BOB)

    def on_event(node: Node, event: TransactionEvent, now: float) -> None:
        if isinstance(event, RequestReceived) and event.key is not None:
            request = event.request
            if request.method != "INVITE":
                node.layer.send_response(reply(request, 200), now)
                return
            pending[event.key] = request
            net.at(now + ring_after, lambda: respond(event.key, 180))
            net.at(now + answer_after, lambda: respond(event.key, 200))
        elif isinstance(event, CancelReceived):
            respond(event.key, 487)

    def respond(key: object, status: int) -> None:
        request = pending.get(key)
        if request is None:
            return
        if status >= 200:
            del pending[key]
        node_layer.send_response(reply(request, status), net.now)

    pending: dict[object, Request] = {}
    node_layer = bob.layer
    bob.on_event = on_event
    return bob


class Caller:
    """A UAC TU that ACKs every 2xx through a dialog, as §13.2.2.4 asks."""

    def __init__(self, net: Net) -> None:
        self.net = net
        self.node = net.add_layer("alice", ALICE)
        self.node.on_event = self.on_event
        self.invite: Request | None = None

    def call(self) -> Request:
        self.invite = make_request("INVITE", ALICE)
        self.node.layer.send_request(self.invite, BOB, self.net.now)
        return self.invite

    def on_event(self, node: Node, event: TransactionEvent, now: float) -> None:
        response = event.response if isinstance(event, ResponseReceived) else None
        if response is None or response.status // 100 != 2 or self.invite is None:
            return
        if response.cseq.method == "INVITE":
            dialog = Dialog.from_uac(self.invite, response)
            ack = dialog.create_ack(self.invite, via=f"SIP/2.0/UDP {ALICE.host}:{ALICE.port}")
            node.layer.send_stateless(ack, BOB, now)


def statuses(node: Node, *, keyed: bool = True) -> list[int]:
    return [
        e.response.status
        for e in node.of_type(ResponseReceived)
        if isinstance(e, ResponseReceived) and (e.key is not None) == keyed
    ]


@pytest.mark.parametrize(
    "lost",
    [
        "INVITE",
        "SIP/2.0 100",
        "SIP/2.0 180",
        "SIP/2.0 200",
        "ACK",
    ],
)
def test_invite_180_200_ack_survives_loss_at_each_step(lost: str) -> None:
    net = Net()
    caller, bob = Caller(net), answering_bob(net)
    alice = caller.node
    net.drop_first(lost)
    caller.call()
    net.run(60.0)
    assert any(d.dropped and d.line.startswith(lost) for d in net.trace)
    assert statuses(alice)[-1] == 200 and statuses(alice).count(200) == 1
    bob_requests = [e for e in bob.of_type(RequestReceived) if isinstance(e, RequestReceived)]
    assert [e.request.method for e in bob_requests][:2] == ["INVITE", "ACK"]
    assert bob.of_type(AckTimedOut) == []
    assert alice.layer.get_timer() is None and bob.layer.get_timer() is None


def test_lost_ack_is_resent_by_alice_for_each_2xx_retransmission() -> None:
    net = Net()
    caller, bob = Caller(net), answering_bob(net)
    alice = caller.node
    net.drop_first("ACK", count=2)
    caller.call()
    net.run(60.0)
    acks = [d for d in net.sent(alice, "ACK")]
    assert len(acks) == 3 and len({d.data for d in acks}) == 1  # the same ACK each time
    assert statuses(alice, keyed=False) == []  # the layer answered, the TU was not bothered
    assert bob.of_type(AckTimedOut) == []


@pytest.mark.parametrize("seed", range(40))
def test_non_invite_under_heavy_loss_completes_or_times_out_at_64_t1(seed: int) -> None:
    net = Net(loss=0.5, seed=seed)
    alice, bob = net.add_layer("alice", ALICE), answering_bob(net)
    key = alice.layer.send_request(make_request("OPTIONS", ALICE), BOB, 0.0)
    net.run(100.0)
    finished = (ResponseReceived, TransactionTimedOut)
    outcomes = [(t, e) for t, e in alice.events if isinstance(e, finished)]
    assert len(outcomes) == 1
    when, event = outcomes[0]
    if isinstance(event, TransactionTimedOut):
        assert event.key == key and when == pytest.approx(TIMEOUT)
    else:
        assert isinstance(event, ResponseReceived) and event.response.status == 200
        assert when < TIMEOUT
    assert len(bob.of_type(RequestReceived)) <= 1  # retransmissions never reach the TU twice
    assert alice.layer.get_timer() is None


@pytest.mark.parametrize("seed", range(30))
def test_calls_on_a_duplicating_reordering_network(seed: int) -> None:
    net = Net(loss=0.2, duplicate=0.3, reorder=0.5, seed=seed)
    caller, bob = Caller(net), answering_bob(net, ring_after=0.05, answer_after=0.3)
    alice = caller.node
    invite = caller.call()
    net.run(120.0)
    invites = [e for e in bob.of_type(RequestReceived) if isinstance(e, RequestReceived)]
    assert [e.request.method for e in invites].count("INVITE") <= 1
    finals = [s for s in statuses(alice) if s >= 200]
    if invites:  # bob saw the call: alice got exactly one 200 from the transaction
        assert finals == [200]
    else:
        assert finals == [] and alice.of_type(TransactionTimedOut)
    for node in (alice, bob):
        assert node.layer.get_timer() is None, node.name  # everything wound down
    assert invite.call_id in {d.message.call_id for d in net.trace}


def test_cancel_flow_between_two_layers() -> None:
    net = Net()
    caller, bob = Caller(net), answering_bob(net, ring_after=0.1, answer_after=100.0)
    alice = caller.node
    invite = caller.call()
    net.run(0.5)
    [invite_key] = {
        e.key for e in alice.of_type(ResponseReceived) if isinstance(e, ResponseReceived)
    }
    assert invite_key is not None
    cancel_key = alice.layer.cancel(invite_key, net.now)
    net.run(40.0)
    by_key = [
        (e.key, e.response.status)
        for e in alice.of_type(ResponseReceived)
        if isinstance(e, ResponseReceived)
    ]
    assert (cancel_key, 200) in by_key and (invite_key, 487) in by_key
    assert [d.line.split()[0] for d in net.sent(alice)] == ["INVITE", "CANCEL", "ACK"]
    assert len(bob.of_type(CancelReceived)) == 1
    first = bob.of_type(RequestReceived)[0]
    assert isinstance(first, RequestReceived) and first.request.call_id == invite.call_id
    assert alice.layer.get_timer() is None and bob.layer.get_timer() is None
