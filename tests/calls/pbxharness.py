"""The UA core driven without sockets: real store, real transaction layer, fake clock.

Phones are scripted SIP endpoints that build real messages (bytes through ``parse_message``)
and answer digest challenges; the media relay is replaced by a recorder of what the call
asked of it. Everything above the sockets is the production code.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from centralita.calls.media import Side
from centralita.core import CoreSettings, UserAgentCore
from centralita.directory import Directory
from centralita.sip.address import Address
from centralita.sip.auth_client import build_authorization, parse_challenge
from centralita.sip.message import Message, Request, Response, new_branch, parse_message
from centralita.sip.transaction import TransactionLayer
from centralita.store import Store

PBX = ("127.0.0.1", 5060)


class FakeSession:
    def __init__(self, base: int, on_inactive: Callable[[], None]) -> None:
        self.ports = {Side.A: base, Side.B: base + 2}
        self.remotes: dict[Side, tuple[str, int]] = {}
        self.on_hold = False
        self.closed = False
        self.on_inactive = on_inactive

    def local_port(self, side: Side) -> int:
        return self.ports[side]

    def set_remote(self, side: Side, rtp: tuple[str, int], rtcp: tuple[str, int] | None) -> None:
        self.remotes[side] = rtp

    def set_hold(self, on_hold: bool) -> None:
        self.on_hold = on_hold

    def close(self) -> None:
        self.closed = True


class FakeMedia:
    media_ip = "127.0.0.1"

    def __init__(self) -> None:
        self.sessions: list[FakeSession] = []

    def create(self, on_inactive: Callable[[], None]) -> FakeSession:
        session = FakeSession(30000 + 4 * len(self.sessions), on_inactive)
        self.sessions.append(session)
        return session


class FakeNetwork:
    def local_address(self, transport: str, peer_host: str) -> tuple[str, int]:
        return PBX


SDP_TEMPLATE = (
    "v=0\r\no=- 1 1 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\n"
    "m=audio {port} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\n"
    "a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na={direction}\r\n"
)


def sdp(port: int, ip: str = "192.0.2.10", direction: str = "sendrecv") -> bytes:
    return SDP_TEMPLATE.format(ip=ip, port=port, direction=direction).encode()


@dataclass
class Phone:
    number: str
    password: str
    address: Address
    domain: str = "acme.test"
    cseq: int = 1
    call_id_seq: int = 0
    inbox: list[Message] = field(default_factory=list)

    def request(
        self,
        method: str,
        uri: str,
        *,
        to: str | None = None,
        call_id: str | None = None,
        body: bytes = b"",
        extra: tuple[str, ...] = (),
        cseq: int | None = None,
        from_tag: str = "ft",
        to_tag: str | None = None,
        branch: str | None = None,
    ) -> bytes:
        self.call_id_seq += 1
        number = cseq if cseq is not None else self.cseq
        self.cseq = max(self.cseq, number) + 1
        to_uri = to or uri
        lines = [
            f"{method} {uri} SIP/2.0",
            f"Via: SIP/2.0/UDP {self.address.host}:{self.address.port};"
            f"branch={branch or new_branch()};rport",
            "Max-Forwards: 70",
            f"From: <sip:{self.number}@{self.domain}>;tag={from_tag}",
            f"To: <{to_uri}>" + (f";tag={to_tag}" if to_tag else ""),
            f"Call-ID: {call_id or f'{self.number}-{self.call_id_seq}@test'}",
            f"CSeq: {number} {method}",
            f"Contact: <sip:{self.number}@{self.address.host}:{self.address.port}>",
            *extra,
        ]
        if body:
            lines.append("Content-Type: application/sdp")
        lines.append(f"Content-Length: {len(body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + body

    def authorize(self, data: bytes, challenge: Response) -> bytes:
        """The same request again with credentials for ``challenge`` and a new branch."""
        request = parse_message(data)
        assert isinstance(request, Request)
        values = challenge.headers.get_all("WWW-Authenticate")
        chosen = parse_challenge(values[0])
        header = build_authorization(
            chosen,
            username=self.number,
            password=self.password,
            method=request.method,
            uri=str(request.uri),
            body=request.body,
        )
        request.headers.add("Authorization", header)
        request.headers.set("CSeq", f"{request.cseq.number + 1} {request.method}")
        via = request.top_via
        via.params["branch"] = new_branch()
        request.headers.set("Via", str(via))
        self.cseq = request.cseq.number + 1
        return bytes(request)


class Pbx:
    def __init__(self, tmp_path: Path, *, ring_timeout: float = 30.0) -> None:
        self.store = Store.open(f"sqlite:///{tmp_path / 'pbx.sqlite3'}")
        tenant = self.store.tenants.add("acme", "acme.test", is_default=True)
        self.tenant_id = tenant.id
        for number, name in (("101", "Alice"), ("102", "Bob"), ("103", "Carol")):
            self.store.extensions.add(tenant.id, number, password=f"s3cret-{number}", name=name)
        self.layer = TransactionLayer()
        self.media = FakeMedia()
        self.core = UserAgentCore(
            Directory(self.store),
            self.layer,
            FakeNetwork(),
            self.media,
            CoreSettings(
                ring_timeout=ring_timeout, auth_secret=b"test-secret-of-32-bytes-exactly!!"
            ),
        )
        self.now = 1_800_000_000.0
        self.sent: list[tuple[Message, Address]] = []
        self.received: list[tuple[Message, Address]] = []

    def phone(self, number: str, port: int) -> Phone:
        return Phone(number, f"s3cret-{number}", Address("udp", "192.0.2.10", port))

    def deliver(self, data: bytes, source: Address) -> list[tuple[Message, Address]]:
        message = parse_message(data)
        self.received.append((message, source))
        self.core.receive(message, source, self.now)
        return self._drain()

    def advance(self, seconds: float) -> list[tuple[Message, Address]]:
        self.now += seconds
        self.core.handle(self.layer.handle_timer(self.now), self.now)
        self.core.handle_timer(self.now)
        self.core.b2bua.check_media(self.now)
        return self._drain()

    def sent_invite_from(self, phone: Phone) -> Request:
        """The last INVITE the phone sent to the PBX."""
        invites = [
            m
            for m, source in self.received
            if isinstance(m, Request) and m.method == "INVITE" and source == phone.address
        ]
        return invites[-1]

    def sent_requests_to(self, phone: Phone) -> list[Request]:
        return requests(self.sent, phone)

    def _drain(self) -> list[tuple[Message, Address]]:
        out = [(parse_message(data), dest) for data, dest in self.layer.datagrams_to_send()]
        self.sent.extend(out)
        return out

    def send(self, phone: Phone, data: bytes) -> list[tuple[Message, Address]]:
        return self.deliver(data, phone.address)

    def send_authenticated(self, phone: Phone, data: bytes) -> list[tuple[Message, Address]]:
        """Send, answer the 401 like a phone (ACK for an INVITE), send again."""
        out = self.send(phone, data)
        challenge = response_to(out, phone, 401)
        request = parse_message(data)
        assert isinstance(request, Request)
        if request.method == "INVITE":
            self.send(phone, ack_for(request, challenge))
        return self.send(phone, phone.authorize(data, challenge))

    def register(self, phone: Phone) -> Response:
        data = phone.request(
            "REGISTER",
            f"sip:{phone.domain}",
            to=f"sip:{phone.number}@{phone.domain}",
            extra=("Expires: 300",),
        )
        return response_to(self.send_authenticated(phone, data), phone, 200)


def responses(out: list[tuple[Message, Address]], phone: Phone) -> list[Response]:
    return [m for m, dest in out if isinstance(m, Response) and dest.port == phone.address.port]


def requests(out: list[tuple[Message, Address]], phone: Phone) -> list[Request]:
    return [m for m, dest in out if isinstance(m, Request) and dest.port == phone.address.port]


def response_to(out: list[tuple[Message, Address]], phone: Phone, status: int) -> Response:
    found = [r for r in responses(out, phone) if r.status == status]
    seen = [getattr(m, "status", getattr(m, "method", "")) for m, _ in out]
    assert found, f"no {status} for {phone.number} among {seen}"
    return found[-1]


def ack_for(invite: Request, response: Response) -> bytes:
    """The ACK a UAC sends for a non-2xx final response (RFC 3261 §17.1.1.3)."""
    lines = [
        f"ACK {invite.uri} SIP/2.0",
        f"Via: {invite.headers.get_all('Via')[0]}",
        "Max-Forwards: 70",
        f"From: {invite.headers.get('From')}",
        f"To: {response.headers.get('To')}",
        f"Call-ID: {invite.call_id}",
        f"CSeq: {invite.cseq.number} ACK",
        "Content-Length: 0",
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def answer(
    request: Request,
    status: int,
    *,
    to_tag: str = "callee",
    body: bytes = b"",
    contact: str | None = None,
) -> bytes:
    """A phone's response to a request the PBX sent it."""
    lines = [f"SIP/2.0 {status} {'OK' if status == 200 else 'Whatever'}"]
    lines += [f"Via: {via}" for via in request.headers.get_all("Via")]
    to = request.headers.get("To") or ""
    if status > 100 and ";tag=" not in to:
        to += f";tag={to_tag}"
    lines += [
        f"From: {request.headers.get('From')}",
        f"To: {to}",
        f"Call-ID: {request.call_id}",
        f"CSeq: {request.headers.get('CSeq')}",
    ]
    if contact:
        lines.append(f"Contact: <{contact}>")
    if body:
        lines.append("Content-Type: application/sdp")
    lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body
