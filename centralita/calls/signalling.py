"""The SIP messages a call sends, built in one place.

:class:`Signalling` turns the B2BUA's decisions ("answer the caller", "hang up this leg",
"ring that contact") into requests and responses on the transaction layer. It owns the UAS
core's 2xx retransmission (RFC 3261 §13.3.1.4) and knows what our Via and Contact look like
for each transport.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

from centralita.sip.address import Address
from centralita.sip.dialog import Dialog
from centralita.sip.message import (
    Headers,
    Request,
    Response,
    Uri,
    make_response,
    new_branch,
    new_call_id,
)
from centralita.sip.transaction import TransactionKey, TransactionLayer

if TYPE_CHECKING:
    from centralita.calls.call import Call, Leg

ALLOW = "INVITE, ACK, CANCEL, BYE, OPTIONS, UPDATE, INFO, REGISTER, SUBSCRIBE"
USER_AGENT = "Centralita"


class Network(Protocol):
    """Our own transport addresses, as the transports see them."""

    def local_address(self, transport: str, peer_host: str) -> tuple[str, int]: ...


def _hostport(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class Signalling:
    def __init__(self, layer: TransactionLayer, network: Network) -> None:
        self.layer = layer
        self.network = network

    # ---- addresses -------------------------------------------------------------------------

    def via(self, dest: Address) -> str:
        host, port = self.network.local_address(dest.transport, dest.host)
        # RFC 3581 §3: ask for rport so a NATed peer answers where we really are.
        return (
            f"SIP/2.0/{dest.transport.upper()} {_hostport(host, port)};branch={new_branch()};rport"
        )

    def contact(self, dest: Address, user: str | None = None) -> str:
        host, port = self.network.local_address(dest.transport, dest.host)
        who = f"{user}@" if user else ""
        transport = "" if dest.transport == "udp" else f";transport={dest.transport}"
        return f"<sip:{who}{_hostport(host, port)}{transport}>"

    # ---- requests ----------------------------------------------------------------------------

    def send_request(self, request: Request, dest: Address, now: float) -> TransactionKey:
        return self.layer.send_request(request, dest, now)

    def send_stateless(self, message: Request | Response, dest: Address) -> None:
        self.layer.send_stateless(message, dest)

    def outgoing_invite(self, call: Call, contact: str, dest: Address, offer: bytes) -> Request:
        """The INVITE towards one of the callee's contacts (a new dialog of ours, §8.1.1)."""
        headers = Headers()
        headers.add("Via", self.via(dest))
        max_forwards = call.invite.max_forwards
        headers.add("Max-Forwards", str(70 if max_forwards is None else max_forwards - 1))
        headers.add("From", f'"{_quoted(call.caller.name)}" <{call.caller.uri}>;tag={call.a_tag}')
        headers.add("To", f"<{call.callee.uri}>")
        headers.add("Call-ID", new_call_id())  # a B2BUA starts a dialog of its own
        headers.add("CSeq", "1 INVITE")
        headers.add("Contact", self.contact(dest, call.caller.number))
        headers.add("Allow", ALLOW)
        headers.add("User-Agent", USER_AGENT)
        if offer:
            headers.add("Content-Type", "application/sdp")
        return Request("INVITE", Uri.parse(contact), headers, offer)

    def cancel(self, key: TransactionKey, now: float) -> None:
        self.layer.cancel(key, now)

    def bye(self, leg: Leg, now: float, reason: str | None = None) -> None:
        request = leg.dialog.create_request("BYE", via=self.via(leg.peer))
        if reason:
            # RFC 3326: why the PBX, not a user, ended the call.
            request.headers.add("Reason", f'SIP;cause=200;text="{_quoted(reason)}"')
        self.send_request(request, leg.peer, now)

    def build_ack(self, leg: Leg, invite: Request) -> Request:
        return leg.dialog.create_ack(invite, via=self.via(leg.peer))

    def send_ack(self, leg: Leg, ack: Request, body: bytes, now: float) -> Request:
        if body:
            ack.body = body
            ack.headers.set("Content-Type", "application/sdp")
        # The layer remembers it and re-sends it for a retransmitted 2xx (§13.2.2.4).
        self.layer.send_stateless(ack, leg.peer, now)
        return ack

    def ack(self, leg: Leg, invite: Request, body: bytes, now: float) -> Request:
        """ACK a 2xx on a leg where we are the UAC (§13.2.2.4): sent outside any transaction."""
        return self.send_ack(leg, self.build_ack(leg, invite), body, now)

    # ---- responses ---------------------------------------------------------------------------

    def respond(
        self, call: Call, status: int, reason: str | None, *, body: bytes = b"", now: float
    ) -> None:
        """A non-2xx response to the caller's INVITE."""
        response = make_response(call.invite, status, reason, to_tag=call.a_tag)
        if 100 < status < 200:
            response.headers.add("Contact", self.contact(call.caller_address))
        _set_body(response, body)
        self.layer.send_response(response, now)

    def answer(self, call: Call, body: bytes, now: float) -> Dialog:
        """200 OK to the caller's INVITE; the layer re-sends it until the ACK (§13.3.1.4)."""
        response = make_response(call.invite, 200, None, to_tag=call.a_tag)
        contact = self.contact(call.caller_address, call.callee.number)
        response.headers.add("Contact", contact)
        response.headers.add("Allow", ALLOW)
        _set_body(response, body)
        self.layer.send_response(response, now)
        return Dialog.from_uas(call.invite, call.a_tag, Uri.parse(contact.strip("<>")))

    def reply(
        self,
        request: Request,
        key: TransactionKey,
        status: int,
        *,
        now: float,
        reason: str | None = None,
        body: bytes = b"",
        content_type: str | None = None,
        dest: Address | None = None,
        headers: Sequence[tuple[str, str]] = (),
    ) -> Response:
        """A response to an in-dialog request (the dialog's tags are already in the request)."""
        response = make_response(request, status, reason)
        for name, value in headers:
            response.headers.add(name, value)
        if dest is not None and request.method in ("INVITE", "UPDATE") and 200 <= status < 300:
            response.headers.add("Contact", self.contact(dest))
        _set_body(response, body, content_type)
        self.layer.send_response(response, now)
        return response


def _set_body(message: Request | Response, body: bytes, content_type: str | None = None) -> None:
    if body:
        message.body = body
        message.headers.set("Content-Type", content_type or "application/sdp")


def _quoted(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')
