"""A fake clock and a fake network for the transaction layer tests.

Nodes are either a :class:`TransactionLayer` with a scripted TU (``on_event``) or a bare
:class:`Peer` that records what it receives and sends whatever the test tells it to. The
network carries real bytes (every delivery goes through ``parse_message``), with a fixed
latency, and can drop, duplicate and reorder datagrams: at random (seeded) or by rule.
Time only moves inside :meth:`Net.run`, from one delivery or timer deadline to the next.
"""

from __future__ import annotations

import functools
import heapq
import itertools
import random
from collections.abc import Callable
from dataclasses import dataclass, field

from centralita.sip.address import Address
from centralita.sip.message import Headers, Message, Request, Response, new_branch, parse_message
from centralita.sip.transaction import TransactionEvent, TransactionLayer
from centralita.sip.uri import Uri

LATENCY = 0.01


def first_line(data: bytes) -> str:
    return data.split(b"\r\n", 1)[0].decode()


@dataclass
class Delivery:
    """One datagram on the wire, for the trace."""

    sent: float
    src: Address
    dst: Address
    data: bytes
    dropped: bool = False

    @property
    def line(self) -> str:
        return first_line(self.data)

    @property
    def message(self) -> Message:
        return parse_message(self.data)


@dataclass
class Node:
    name: str
    address: Address
    layer: TransactionLayer
    events: list[tuple[float, TransactionEvent]] = field(default_factory=list)
    on_event: Callable[[Node, TransactionEvent, float], None] | None = None

    def of_type(self, kind: type) -> list[TransactionEvent]:
        return [event for _, event in self.events if isinstance(event, kind)]


@dataclass
class Peer:
    """A scripted endpoint with no transaction layer."""

    name: str
    address: Address
    received: list[tuple[float, Message]] = field(default_factory=list)
    outbox: list[tuple[bytes, Address]] = field(default_factory=list)

    def send(self, msg: Message | bytes, dest: Address) -> None:
        self.outbox.append((msg if isinstance(msg, bytes) else bytes(msg), dest))

    def lines(self) -> list[str]:
        return [first_line(bytes(msg)) for _, msg in self.received]


DropRule = Callable[[Delivery], bool]


class Net:
    def __init__(
        self,
        *,
        loss: float = 0.0,
        duplicate: float = 0.0,
        reorder: float = 0.0,
        seed: int = 0,
        latency: float = LATENCY,
    ) -> None:
        self.now = 0.0
        self.loss, self.duplicate, self.reorder = loss, duplicate, reorder
        self.rng = random.Random(seed)
        self.latency = latency
        self.drop_rules: list[DropRule] = []
        self.trace: list[Delivery] = []
        self._nodes: dict[tuple[str, str, int], Node | Peer] = {}
        self._queue: list[tuple[float, int, Callable[[], None]]] = []
        self._seq = itertools.count()

    # -- topology ----------------------------------------------------------------------------
    def add_layer(self, name: str, address: Address, layer: TransactionLayer | None = None) -> Node:
        node = Node(name, address, layer or TransactionLayer())
        self._nodes[_where(address)] = node
        return node

    def add_peer(self, name: str, address: Address) -> Peer:
        peer = Peer(name, address)
        self._nodes[_where(address)] = peer
        return peer

    def drop_first(self, prefix: str, count: int = 1) -> None:
        """Drop the first ``count`` datagrams whose first line starts with ``prefix``."""
        remaining = [count]

        def rule(delivery: Delivery) -> bool:
            if remaining[0] > 0 and delivery.line.startswith(prefix):
                remaining[0] -= 1
                return True
            return False

        self.drop_rules.append(rule)

    # -- scheduling --------------------------------------------------------------------------
    def at(self, when: float, action: Callable[[], None]) -> None:
        heapq.heappush(self._queue, (when, next(self._seq), action))

    def flush(self) -> None:
        """Move what every node wants to send onto the wire."""
        for node in list(self._nodes.values()):
            if isinstance(node, Node):
                outgoing = node.layer.datagrams_to_send()
            else:
                outgoing, node.outbox = node.outbox, []
            for data, dest in outgoing:
                self._transmit(Delivery(self.now, node.address, dest, data))

    def _transmit(self, delivery: Delivery) -> None:
        self.trace.append(delivery)
        ruled = any([rule(delivery) for rule in self.drop_rules])
        if ruled or self.rng.random() < self.loss:
            delivery.dropped = True
            return
        copies = 2 if self.rng.random() < self.duplicate else 1
        for _ in range(copies):
            delay = self.latency
            if self.rng.random() < self.reorder:
                delay += self.rng.uniform(0, 5 * self.latency)
            self.at(self.now + delay, functools.partial(self._deliver, delivery))

    def _deliver(self, delivery: Delivery) -> None:
        node = self._nodes.get(_where(delivery.dst))
        if node is None:
            return
        msg = parse_message(delivery.data)
        if isinstance(node, Peer):
            node.received.append((self.now, msg))
            return
        self._dispatch(node, node.layer.receive(msg, delivery.src, self.now))

    def _dispatch(self, node: Node, events: list[TransactionEvent]) -> None:
        for event in events:
            node.events.append((self.now, event))
            if node.on_event is not None:
                node.on_event(node, event, self.now)

    def _next_timer(self) -> tuple[float, Node] | None:
        best: tuple[float, Node] | None = None
        for node in self._nodes.values():
            if isinstance(node, Node):
                deadline = node.layer.get_timer()
                if deadline is not None and (best is None or deadline < best[0]):
                    best = (deadline, node)
        return best

    def run(self, until: float) -> None:
        """Advance time to ``until``, delivering datagrams and firing timers in order."""
        self.flush()
        while True:
            timer = self._next_timer()
            queued = self._queue[0][0] if self._queue else None
            candidates = [t for t in (queued, timer[0] if timer else None) if t is not None]
            if not candidates or min(candidates) > until:
                break
            if timer is not None and (queued is None or timer[0] < queued):
                self.now = max(self.now, timer[0])
                self._dispatch(timer[1], timer[1].layer.handle_timer(self.now))
            else:
                when, _, action = heapq.heappop(self._queue)
                self.now = max(self.now, when)
                action()
            self.flush()
        self.now = max(self.now, until)

    def sent(self, src: Node | Peer, prefix: str = "") -> list[Delivery]:
        return [d for d in self.trace if d.src == src.address and d.line.startswith(prefix)]


def _where(address: Address) -> tuple[str, str, int]:
    return (address.transport, address.host, address.port)


# -- message builders ------------------------------------------------------------------------


def udp(host: str, port: int) -> Address:
    return Address("udp", host, port)


def make_request(
    method: str,
    src: Address,
    *,
    uri: str = "sip:bob@biloxi.example.com",
    branch: str | None = None,
    call_id: str = "a84b4c76e66710@pc33.atlanta.example.com",
    cseq: int = 314159,
    from_tag: str = "9fxced76sl",
    to_tag: str | None = None,
    routes: tuple[str, ...] = (),
    extra: tuple[tuple[str, str], ...] = (),
) -> Request:
    """A minimal RFC 3261 request from ``src`` (its Via and Contact point there)."""
    via = f"SIP/2.0/{src.transport.upper()} {src.host}:{src.port};branch={branch or new_branch()}"
    to = "Bob <sip:bob@biloxi.example.com>" + (f";tag={to_tag}" if to_tag else "")
    headers = Headers(
        [
            ("Via", via),
            ("Max-Forwards", "70"),
            *[("Route", route) for route in routes],
            ("To", to),
            ("From", f"Alice <sip:alice@atlanta.example.com>;tag={from_tag}"),
            ("Call-ID", call_id),
            ("CSeq", f"{cseq} {method}"),
            ("Contact", f"<sip:alice@{src.host}:{src.port}>"),
            *extra,
        ]
    )
    return Request(method=method, uri=Uri.parse(uri), headers=headers)


def reply(request: Request, status: int, *, to_tag: str | None = "bobtag") -> Response:
    """A response the way a UAS TU builds one, with a Contact on 2xx."""
    from centralita.sip.message import make_response

    response = make_response(request, status, to_tag=to_tag if status > 100 else None)
    if 200 <= status < 300:
        response.headers.add("Contact", "<sip:bob@192.0.2.4:5070>")
    return response
