"""Hypothesis over the four transition tables (RFC 3261 §17) and over the layer.

Any sequence of (input, time advance) must raise nothing but the declared protocol error
(InvalidTransition, and only for TU inputs), and once inputs stop every machine must reach
Terminated within the RFC's bound: 64*T1 (Timers B, D, F, H, J; I and K are shorter), after
the TU (or, for an INVITE client in Proceeding, the peer) gives the final answer the RFC
leaves it waiting for.
"""

from __future__ import annotations

import contextlib

from hypothesis import given, settings
from hypothesis import strategies as st

from centralita.sip.address import Address
from centralita.sip.message import Message, Request, Response
from centralita.sip.transaction import (
    InvalidTransition,
    TransactionError,
    TransactionLayer,
    build_cancel,
)
from centralita.sip.transaction_client import (
    ClientTransaction,
    InviteClientTransaction,
    NonInviteClientTransaction,
)
from centralita.sip.transaction_events import Role, TransactionKey
from centralita.sip.transaction_machine import (
    TU_INPUTS,
    Input,
    Outbox,
    State,
    TimerValues,
)
from centralita.sip.transaction_server import (
    InviteServerTransaction,
    NonInviteServerTransaction,
    ServerTransaction,
)
from tests.sip.sipnet import make_request, reply

T1 = 0.5
BOUND = 64 * T1
UDP_PEER = Address("udp", "192.0.2.4", 5070)
TCP_PEER = Address("tcp", "192.0.2.4", 5070)
AnyTransaction = ClientTransaction | ServerTransaction
Machine = type[ClientTransaction] | type[ServerTransaction]
MACHINES: list[Machine] = [
    InviteClientTransaction,
    NonInviteClientTransaction,
    InviteServerTransaction,
    NonInviteServerTransaction,
]
STATUS_OF = {
    Input.RESPONSE_1XX: 180,
    Input.TU_1XX: 180,
    Input.RESPONSE_2XX: 200,
    Input.TU_2XX: 200,
    Input.RESPONSE_FINAL: 486,
    Input.TU_FINAL: 486,
}


def build(machine: Machine, peer: Address) -> tuple[AnyTransaction, Request]:
    invite = machine in (InviteClientTransaction, InviteServerTransaction)
    method = "INVITE" if invite else "BYE"
    request = make_request(method, Address(peer.transport, "192.0.2.1", 5060))
    out, values = Outbox(), TimerValues(t1=T1)
    branch = request.top_via.branch or ""
    tx: AnyTransaction
    if issubclass(machine, ClientTransaction):
        key = TransactionKey(Role.CLIENT, branch, method)
        tx = machine(key, request, peer, out, values, 0.0)
    else:
        key = TransactionKey(Role.SERVER, branch, method, "192.0.2.1:5060")
        tx = machine(key, request, peer, out, values, 0.0)
    tx.start()
    return tx, request


def payload(inp: Input, request: Request) -> Message | None:
    if inp in STATUS_OF:
        return reply(request, STATUS_OF[inp])
    if inp is Input.REQUEST:
        return request
    if inp is Input.ACK:
        return make_request("ACK", _source(request), to_tag="bobtag")
    return None


def _source(request: Request) -> Address:
    via = request.top_via
    return Address(via.transport.lower(), via.host, via.port or 5060)


def finish(tx: AnyTransaction, now: float) -> None:
    """Give the final answer a machine waits for without a timer of its own."""
    if tx.state in (State.TRYING, State.PROCEEDING) and isinstance(
        tx, InviteServerTransaction | NonInviteServerTransaction
    ):
        tx.handle(Input.TU_FINAL, reply(tx.request, 486), now)
    elif tx.state is State.PROCEEDING and isinstance(tx, InviteClientTransaction):
        assert tx.next_deadline() is None  # §17.1.1.2: Proceeding has no timer
        tx.handle(Input.RESPONSE_FINAL, reply(tx.request, 486), now)


steps = st.lists(
    st.tuples(st.sampled_from(list(Input)), st.floats(0.0, 10.0, allow_nan=False)),
    max_size=25,
)


@settings(max_examples=150, deadline=None)
@given(
    machine=st.sampled_from(MACHINES),
    reliable=st.booleans(),
    sequence=steps,
)
def test_any_input_sequence_is_safe_and_terminates(
    machine: Machine, reliable: bool, sequence: list[tuple[Input, float]]
) -> None:
    tx, request = build(machine, TCP_PEER if reliable else UDP_PEER)
    now = 0.0
    for inp, advance in sequence:
        now += advance
        tx.fire_due(now)
        before = tx.state
        try:
            tx.handle(inp, payload(inp, request), now)
        except InvalidTransition:
            assert inp in TU_INPUTS  # network and timer input never raises
            assert tx.state is before
        if tx.deadlines:
            assert tx.state is not State.TERMINATED
    tx.fire_due(now)
    finish(tx, now)
    tx.fire_due(now + BOUND)
    assert tx.state is State.TERMINATED
    assert tx.next_deadline() is None


@settings(max_examples=60, deadline=None)
@given(machine=st.sampled_from(MACHINES), reliable=st.booleans())
def test_every_table_entry_leads_somewhere_valid(machine: Machine, reliable: bool) -> None:
    # Each (state, input) pair of the table, taken from a fresh machine driven into that
    # state, lands in the declared next state.
    for (state, inp), (_, next_state) in machine._TRANSITIONS.items():
        tx, request = build(machine, TCP_PEER if reliable else UDP_PEER)
        assert drive_to(tx, state), state
        tx.handle(inp, payload(inp, request), tx.now)
        assert tx.state is next_state, (state, inp)


def drive_to(tx: AnyTransaction, state: State) -> bool:
    """Push a fresh machine into ``state`` with the shortest legal input path."""
    paths = {
        State.PROCEEDING: [Input.RESPONSE_1XX, Input.TU_1XX],
        State.COMPLETED: [Input.RESPONSE_FINAL, Input.TU_FINAL],
        State.CONFIRMED: [Input.TU_FINAL, Input.ACK],
    }
    for inp in paths.get(state, []):
        if tx.state is state:
            break
        if (tx.state, inp) in tx._TRANSITIONS:
            tx.handle(inp, payload(inp, tx.request), tx.now)
    return tx.state is state


# -- the whole layer -------------------------------------------------------------------------

ALICE = Address("udp", "192.0.2.1", 5060)


def layer_inputs(invite: Request, options: Request) -> list[tuple[str, Message | None]]:
    ack = make_request("ACK", ALICE, branch=invite.top_via.branch, to_tag="bobtag")
    ack2xx = make_request("ACK", ALICE, to_tag="bobtag", cseq=invite.cseq.number)
    return [
        ("net", invite),
        ("net", options),
        ("net", ack),
        ("net", ack2xx),
        ("net", build_cancel(invite)),
        ("net", reply(invite, 200)),  # a response to nothing we sent
        ("tu", reply(invite, 180)),
        ("tu", reply(invite, 200)),
        ("tu", reply(invite, 486)),
        ("tu", reply(options, 200)),
        ("tu", reply(invite, 487)),
        ("timer", None),
    ]


def client_inputs(out: Request) -> list[tuple[str, Message | None]]:
    return [
        ("send", out),
        ("cancel", None),
        ("net", reply(out, 180)),
        ("net", reply(out, 200)),
        ("net", reply(out, 486)),
        ("net", reply(build_cancel(out), 200)),
    ]


@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_layer_never_raises_on_network_input_and_winds_down(data: st.DataObject) -> None:
    layer = TransactionLayer(t1=T1)
    invite, options = make_request("INVITE", ALICE), make_request("OPTIONS", ALICE)
    out = make_request("INVITE", UDP_PEER)
    inputs = layer_inputs(invite, options) + client_inputs(out)
    out_key = None
    now = 0.0
    for _ in range(data.draw(st.integers(0, 30))):
        kind, msg = data.draw(st.sampled_from(inputs))
        now += data.draw(st.floats(0.0, 5.0, allow_nan=False))
        layer.handle_timer(now)
        if kind == "net" and msg is not None:
            layer.receive(msg, ALICE, now)
        elif kind == "send" and isinstance(msg, Request):
            with contextlib.suppress(TransactionError):  # sent twice: the key is in use
                out_key = layer.send_request(msg, ALICE, now)
        elif kind == "cancel" and out_key is not None:
            layer.cancel(out_key, now)
        elif kind == "tu" and isinstance(msg, Response):
            with contextlib.suppress(TransactionError):  # the declared error for TU misuse
                layer.send_response(msg, now)
        layer.datagrams_to_send()
    for request in (invite, options):
        with contextlib.suppress(TransactionError):  # the TU answers what still waits
            layer.send_response(reply(request, 486), now)
    layer.receive(reply(out, 486), ALICE, now)  # the final answer an INVITE in Proceeding awaits
    layer.handle_timer(now + BOUND)
    assert layer.get_timer() is None
