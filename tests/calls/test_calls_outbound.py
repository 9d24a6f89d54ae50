"""Calls the PBX places: OutboundCalls on the real transaction layer, a scripted far end.

The rig routes transaction events to :class:`OutboundCalls` the way the UA core does; the far
end (a phone or a carrier) answers with messages built by the production message and dialog
code, and the clock is fake.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from centralita.calls.outbound import OutboundCall, OutboundCalls, OutboundTarget, OutState
from centralita.calls.signalling import Signalling
from centralita.sip.address import Address
from centralita.sip.auth import AuthResult, DigestAuthenticator, ha1
from centralita.sip.dialog import Dialog
from centralita.sip.message import Message, Request, Response, Uri, make_response, parse_message
from centralita.sip.sdp import SdpNotAcceptable
from centralita.sip.transaction import (
    AckTimedOut,
    RequestReceived,
    ResponseReceived,
    TransactionEvent,
    TransactionLayer,
    TransactionTimedOut,
    TransportFailed,
)

PBX = ("198.51.100.1", 5060)
FAR = Address("udp", "192.0.2.5", 5062)
FAR_CONTACT = "sip:far@192.0.2.5:5062"
OFFER = b"v=0\r\no=- 1 1 IN IP4 198.51.100.1\r\ns=-\r\nc=IN IP4 198.51.100.1\r\nt=0 0\r\n"
OFFER += b"m=audio 30000 RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\n"
ANSWER = OFFER.replace(b"198.51.100.1", b"192.0.2.5").replace(b"30000", b"4000")


class FakeNetwork:
    def local_address(self, transport: str, peer_host: str) -> tuple[str, int]:
        return PBX


@dataclass
class Listener:
    events: list[str] = field(default_factory=list)
    bodies: list[bytes] = field(default_factory=list)
    refuse_offers: bool = False

    def progressed(self, status: int, body: bytes) -> None:
        self.events.append(f"progressed {status}")
        self.bodies.append(body)

    def answered(self, body: bytes) -> None:
        self.events.append("answered")
        self.bodies.append(body)

    def failed(self, status: int, reason: str) -> None:
        self.events.append(f"failed {status}")

    def ended(self, cause: str) -> None:
        self.events.append(f"ended: {cause}")

    def info_received(self, request: Request) -> int:
        self.events.append(f"info {request.body.decode()}")
        return 200

    def offer_received(self, body: bytes) -> bytes:
        self.events.append("offer")
        if self.refuse_offers:
            raise SdpNotAcceptable("no")
        return ANSWER.replace(b"4000", b"30000")


class Rig:
    def __init__(self) -> None:
        self.layer = TransactionLayer()
        self.outbound = OutboundCalls(Signalling(self.layer, FakeNetwork()))
        self.now = 1000.0
        self.listener = Listener()

    def place(self, **overrides: object) -> tuple[OutboundCall, Request]:
        fields: dict[str, object] = {
            "tenant_id": 1,
            "tenant_name": "acme",
            "request_uri": FAR_CONTACT,
            "dest": FAR,
            "from_uri": "sip:100@acme.test",
            "from_name": "Reception",
            "to_uri": "sip:101@acme.test",
            "body": OFFER,
        }
        fields.update(overrides)
        target = OutboundTarget(**fields)  # type: ignore[arg-type]
        call = self.outbound.place(target, self.listener, self.now)
        (invite,) = self.requests(self.drain(), "INVITE")
        return call, invite

    # -- the network -----------------------------------------------------------------------
    def deliver(self, data: bytes | Message) -> list[Message]:
        message = parse_message(bytes(data))
        self.dispatch(self.layer.receive(message, FAR, self.now))
        return self.drain()

    def advance(self, seconds: float) -> list[Message]:
        self.now += seconds
        self.dispatch(self.layer.handle_timer(self.now))
        self.outbound.handle_timer(self.now)
        return self.drain()

    def drain(self) -> list[Message]:
        out = []
        for data, dest in self.layer.datagrams_to_send():
            assert (dest.host, dest.port) == (FAR.host, FAR.port)
            out.append(parse_message(data))
        return out

    def dispatch(self, events: list[TransactionEvent]) -> None:
        """What the UA core does with the layer's events, for the calls we place."""
        out = self.outbound
        for event in events:
            if isinstance(event, ResponseReceived):
                if event.key is None:
                    assert out.on_stray_2xx(event.response, self.now)
                else:
                    assert out.on_response(event.key, event.response, self.now)
            elif isinstance(event, RequestReceived):
                if not out.on_in_dialog_request(event.request, event.key, event.source, self.now):
                    assert event.key is not None
                    self.layer.send_response(make_response(event.request, 481), self.now)
            elif isinstance(event, TransactionTimedOut):
                assert out.on_timeout(event.key, self.now)
            elif isinstance(event, TransportFailed):
                assert out.on_transport_failed(event.key, self.now)
            elif isinstance(event, AckTimedOut):
                out.on_ack_timeout(event.call_id, self.now)

    @staticmethod
    def requests(out: list[Message], method: str) -> list[Request]:
        return [m for m in out if isinstance(m, Request) and m.method == method]

    @staticmethod
    def responses(out: list[Message], status: int) -> list[Response]:
        return [m for m in out if isinstance(m, Response) and m.status == status]

    def assert_forgotten(self) -> None:
        out = self.outbound
        assert out.calls() == 0
        assert not out.by_invite and not out.by_dialog and not out.requests


def respond(
    request: Request,
    status: int,
    *,
    tag: str | None = "far",
    body: bytes = b"",
    headers: tuple[tuple[str, str], ...] = (),
) -> Response:
    """The far end's response to a request the PBX sent it."""
    response = make_response(request, status, to_tag=tag if status > 100 else None)
    if 100 < status < 300 and request.method == "INVITE":
        response.headers.add("Contact", f"<{FAR_CONTACT}>")
    for name, value in headers:
        response.headers.add(name, value)
    if body:
        response.body = body
        response.headers.set("Content-Type", "application/sdp")
    return response


def far_dialog(invite: Request, tag: str = "far") -> Dialog:
    """The far end's side of the dialog, to build its in-dialog requests."""
    return Dialog.from_uas(invite, tag, Uri.parse(FAR_CONTACT))


def far_request(dialog: Dialog, method: str, body: bytes = b"") -> Request:
    content_type = "application/sdp" if body and method in ("INVITE", "UPDATE") else None
    return dialog.create_request(
        method, via="SIP/2.0/UDP 192.0.2.5:5062", body=body, content_type=content_type
    )


def answered(rig: Rig) -> tuple[OutboundCall, Request, Dialog]:
    call, invite = rig.place()
    out = rig.deliver(respond(invite, 200, body=ANSWER))
    assert len(rig.requests(out, "ACK")) == 1
    return call, invite, far_dialog(invite)


# ---- placing and answering ------------------------------------------------------------------


def test_the_invite_is_a_proper_dialog_creating_request() -> None:
    rig = Rig()
    headers = (("P-Asserted-Identity", "<sip:+34910000000@acme.test>"),)
    call, invite = rig.place(headers=headers, call_id="fixed-call-id")
    assert str(invite.uri) == FAR_CONTACT
    assert invite.max_forwards == 70
    assert invite.call_id == "fixed-call-id" == call.call_id
    assert invite.from_.tag == call.tag and invite.from_.display_name == "Reception"
    assert str(invite.from_.uri) == "sip:100@acme.test"
    assert invite.to.tag is None and str(invite.to.uri) == "sip:101@acme.test"
    assert invite.cseq.number == 1 and invite.cseq.method == "INVITE"
    assert str(invite.contacts[0].uri) == "sip:100@198.51.100.1:5060"
    assert "BYE" in (invite.headers.get("Allow") or "")
    assert invite.content_type == "application/sdp" and invite.body == OFFER
    assert invite.headers.get("P-Asserted-Identity") == "<sip:+34910000000@acme.test>"
    assert invite.top_via.branch is not None and "rport" in invite.top_via.params
    assert rig.outbound.calls() == 1


def test_ringing_then_answer_then_far_end_bye() -> None:
    rig = Rig()
    call, invite = rig.place()
    assert rig.deliver(respond(invite, 100, tag=None)) == []
    rig.deliver(respond(invite, 180))
    rig.deliver(respond(invite, 180))  # the same ringing again: reported once
    early = respond(invite, 183, body=ANSWER)
    rig.deliver(early)
    # 100 says the network answered (nothing of the far end), then the far end rings.
    assert rig.listener.events == ["progressed 100", "progressed 180", "progressed 183"]
    assert rig.listener.bodies == [b"", b"", ANSWER]
    assert call.dialog is not None and call.dialog.remote_tag == "far"  # early dialog
    (ack,) = rig.requests(rig.deliver(respond(invite, 200, body=ANSWER)), "ACK")
    # RFC 3261 §13.2.2.4: to the remote target, in the dialog, with the INVITE's CSeq.
    assert str(ack.uri) == FAR_CONTACT and ack.to.tag == "far" and ack.from_.tag == call.tag
    assert (ack.cseq.number, ack.cseq.method) == (1, "ACK")
    assert ack.top_via.branch != invite.top_via.branch
    assert rig.listener.events[-1] == "answered" and rig.listener.bodies[-1] == ANSWER
    assert call.state is OutState.CONFIRMED and rig.outbound.calls() == 1
    out = rig.deliver(far_request(far_dialog(invite), "BYE"))
    assert len(rig.responses(out, 200)) == 1
    assert rig.listener.events[-1] == "ended: BYE from far end"
    rig.assert_forgotten()


def test_busy_is_a_failure_acked_by_the_transaction() -> None:
    rig = Rig()
    call, invite = rig.place()
    (ack,) = rig.requests(rig.deliver(respond(invite, 486)), "ACK")
    assert ack.top_via.branch == invite.top_via.branch  # §17.1.1.3: the transaction's ACK
    assert rig.listener.events == ["failed 486"]
    assert call.state is OutState.ENDED
    rig.assert_forgotten()
    assert not rig.outbound.by_call_id  # no 2xx came: nothing lingers


def test_no_response_at_all_times_out_with_408() -> None:
    rig = Rig()
    rig.place()
    resent = rig.advance(0.5) + rig.advance(1.0)  # Timer A: 0.5 s, then 1 s (§17.1.1.2)
    assert len(rig.requests(resent, "INVITE")) == 2
    rig.advance(30.0)
    assert rig.listener.events == []
    rig.advance(0.6)  # Timer B: 64*T1 = 32 s
    assert rig.listener.events == ["failed 408"]
    rig.assert_forgotten()


def test_a_transport_failure_is_503() -> None:
    rig = Rig()
    rig.place()
    rig.dispatch(rig.layer.transport_failed(FAR, rig.now))
    assert rig.listener.events == ["failed 503"]
    rig.assert_forgotten()


# ---- cancelling -----------------------------------------------------------------------------


def test_cancel_before_any_provisional_waits_for_one() -> None:
    rig = Rig()
    call, invite = rig.place()
    rig.outbound.hang_up(call, rig.now)
    assert rig.drain() == []  # §9.1: no CANCEL before a provisional response
    rig.outbound.hang_up(call, rig.now)  # idempotent
    (cancel,) = rig.requests(rig.deliver(respond(invite, 180)), "CANCEL")
    assert cancel.top_via.branch == invite.top_via.branch and cancel.cseq.number == 1
    assert rig.listener.events == []  # ringing after hang_up is nobody's business
    rig.deliver(respond(cancel, 200))
    (_ack,) = rig.requests(rig.deliver(respond(invite, 487)), "ACK")
    assert rig.listener.events == ["failed 487"]
    rig.assert_forgotten()


def test_cancel_after_ringing_goes_out_at_once() -> None:
    rig = Rig()
    call, invite = rig.place()
    rig.deliver(respond(invite, 180))
    rig.outbound.hang_up(call, rig.now, reason="answered elsewhere")
    (cancel,) = rig.requests(rig.drain(), "CANCEL")
    assert str(cancel.uri) == str(invite.uri) and cancel.to.tag is None
    rig.deliver(respond(cancel, 200))
    rig.deliver(respond(invite, 487))
    assert rig.listener.events == ["progressed 180", "failed 487"]
    rig.assert_forgotten()


def test_a_2xx_crossing_our_cancel_is_acked_and_hung_up() -> None:
    rig = Rig()
    call, invite = rig.place()
    rig.deliver(respond(invite, 180))
    rig.outbound.hang_up(call, rig.now)
    (cancel,) = rig.requests(rig.drain(), "CANCEL")
    out = rig.deliver(respond(invite, 200, body=ANSWER))
    (ack,) = rig.requests(out, "ACK")
    (bye,) = rig.requests(out, "BYE")
    assert ack.to.tag == bye.to.tag == "far" and str(bye.uri) == FAR_CONTACT
    assert 'text="cancelled"' in (bye.headers.get("Reason") or "")
    assert rig.listener.events == ["progressed 180", "failed 487"]
    rig.deliver(respond(cancel, 200))
    rig.deliver(respond(bye, 200))
    rig.assert_forgotten()
    rig.advance(33.0)  # after 64*T1 even the Call-ID is forgotten
    assert not rig.outbound.by_call_id


def test_an_answer_before_any_provisional_beats_our_held_cancel() -> None:
    rig = Rig()
    call, invite = rig.place()
    rig.outbound.hang_up(call, rig.now)
    out = rig.deliver(respond(invite, 200, body=ANSWER))
    assert rig.requests(out, "CANCEL") == []  # the held CANCEL is dropped (§9.1)
    (bye,) = rig.requests(out, "BYE")
    assert len(rig.requests(out, "ACK")) == 1
    assert rig.listener.events == ["failed 487"]
    rig.deliver(respond(bye, 200, tag=None))
    rig.assert_forgotten()


def test_a_cancelled_invite_without_final_response_is_given_up() -> None:
    rig = Rig()
    call, invite = rig.place()
    rig.deliver(respond(invite, 180))
    rig.outbound.hang_up(call, rig.now)
    (cancel,) = rig.requests(rig.drain(), "CANCEL")
    rig.deliver(respond(cancel, 200))  # ... but the 487 never comes
    assert rig.outbound.get_timer() == pytest.approx(rig.now + 32.0)
    rig.advance(31.0)
    assert rig.listener.events == ["progressed 180"]
    rig.advance(1.0)
    assert rig.listener.events == ["progressed 180", "failed 487"]
    rig.assert_forgotten()


# ---- authentication -------------------------------------------------------------------------


def test_a_407_is_answered_once_with_a_correct_digest() -> None:
    rig = Rig()
    carrier = DigestAuthenticator(b"carrier-secret-0123456789", algorithms=("MD5",))
    call, invite = rig.place(
        request_uri="sip:+34600111222@carrier.example",
        to_uri="sip:+34600111222@carrier.example",
        credentials=("trunk-user", "trunk-pass"),
    )
    challenge = tuple(
        ("Proxy-Authenticate", value) for value in carrier.challenge("carrier.example", rig.now)
    )
    out = rig.deliver(respond(invite, 407, headers=challenge))
    assert len(rig.requests(out, "ACK")) == 1
    (retry,) = rig.requests(out, "INVITE")
    # RFC 3261 §22.2: same Call-ID, From tag and To, CSeq one higher, a new transaction.
    assert retry.call_id == invite.call_id and retry.from_.tag == invite.from_.tag
    assert retry.to.tag is None and retry.cseq.number == 2
    assert retry.top_via.branch != invite.top_via.branch and retry.body == OFFER
    value = retry.headers.get("Proxy-Authorization")
    assert value is not None and retry.headers.get("Authorization") is None
    outcome = carrier.verify(
        value,
        method="INVITE",
        request_uri=str(retry.uri),
        realm="carrier.example",
        lookup_ha1=lambda user, realm, algorithm: ha1(user, realm, "trunk-pass", algorithm),
        now=rig.now,
    )
    assert outcome.result is AuthResult.OK and outcome.username == "trunk-user"
    assert rig.listener.events == [] and call.invite is not invite
    # Challenged again (the password is wrong, say): that is the call's failure.
    again = tuple(("Proxy-Authenticate", v) for v in carrier.challenge("carrier.example", rig.now))
    out = rig.deliver(respond(retry, 407, headers=again))
    assert rig.requests(out, "INVITE") == []
    assert rig.listener.events == ["failed 407"]
    rig.assert_forgotten()


def test_the_ack_for_an_authenticated_invite_carries_its_credentials() -> None:
    rig = Rig()
    _call, invite = rig.place(credentials=("u", "p"))
    challenge = 'Digest realm="r", nonce="abc", algorithm=MD5, qop="auth"'
    out = rig.deliver(respond(invite, 401, headers=(("WWW-Authenticate", challenge),)))
    (retry,) = rig.requests(out, "INVITE")
    assert (retry.headers.get("Authorization") or "").startswith('Digest username="u"')
    (ack,) = rig.requests(rig.deliver(respond(retry, 200, body=ANSWER)), "ACK")
    assert ack.cseq.number == 2  # §13.2.2.4: the CSeq of the INVITE it acknowledges
    assert ack.headers.get("Authorization") == retry.headers.get("Authorization")
    assert rig.listener.events == ["answered"]


def test_a_stale_nonce_earns_one_more_try() -> None:
    rig = Rig()
    _call, invite = rig.place(credentials=("u", "p"))
    first = (("WWW-Authenticate", 'Digest realm="r", nonce="n1"'),)
    (retry,) = rig.requests(rig.deliver(respond(invite, 401, headers=first)), "INVITE")
    stale = (("WWW-Authenticate", 'Digest realm="r", nonce="n2", stale=true'),)
    (third,) = rig.requests(rig.deliver(respond(retry, 401, headers=stale)), "INVITE")
    assert third.cseq.number == 3
    (authorization,) = third.headers.get_all("Authorization")
    assert 'nonce="n2"' in authorization
    rig.deliver(respond(third, 200, body=ANSWER))
    assert rig.listener.events == ["answered"]


def test_a_challenge_without_credentials_is_a_failure() -> None:
    rig = Rig()
    _call, invite = rig.place()
    challenge = (("WWW-Authenticate", 'Digest realm="r", nonce="n"'),)
    assert rig.requests(rig.deliver(respond(invite, 401, headers=challenge)), "INVITE") == []
    assert rig.listener.events == ["failed 401"]


# ---- forks and retransmissions --------------------------------------------------------------


def test_a_second_forks_2xx_is_acked_and_hung_up() -> None:
    rig = Rig()
    call, invite, _ = answered(rig)
    out = rig.deliver(respond(invite, 200, tag="other-fork", body=ANSWER))
    (ack,) = rig.requests(out, "ACK")
    (bye,) = rig.requests(out, "BYE")
    assert ack.to.tag == bye.to.tag == "other-fork"
    assert 'text="call completed elsewhere"' in (bye.headers.get("Reason") or "")
    assert rig.listener.events == ["answered"]  # nothing new for the application
    assert call.state is OutState.CONFIRMED and call.dialog is not None
    assert call.dialog.remote_tag == "far"
    rig.deliver(respond(bye, 200, tag=None))
    assert rig.outbound.calls() == 1 and not rig.outbound.requests


def test_a_retransmitted_2xx_gets_the_same_ack_again() -> None:
    rig = Rig()
    _call, invite = rig.place()
    ok = respond(invite, 200, body=ANSWER)
    (first,) = rig.requests(rig.deliver(ok), "ACK")
    (again,) = rig.requests(rig.deliver(ok), "ACK")  # the layer still knows our ACK
    assert bytes(again) == bytes(first)
    rig.advance(40.0)  # the layer has forgotten the ACK; the UAC core has not
    (late,) = rig.requests(rig.deliver(ok), "ACK")
    assert bytes(late) == bytes(first)
    assert rig.listener.events == ["answered"]


# ---- in the dialog ----------------------------------------------------------------------------


def test_hang_up_after_answer_sends_bye_with_a_reason() -> None:
    rig = Rig()
    call, invite, _ = answered(rig)
    rig.outbound.hang_up(call, rig.now, reason="caller hung up")
    rig.outbound.hang_up(call, rig.now)  # idempotent
    (bye,) = rig.requests(rig.drain(), "BYE")
    assert str(bye.uri) == FAR_CONTACT and bye.to.tag == "far" and bye.from_.tag == call.tag
    assert bye.cseq.number == 2 and bye.call_id == invite.call_id
    assert bye.headers.get("Reason") == 'SIP;cause=200;text="caller hung up"'  # RFC 3326
    assert rig.listener.events == ["answered", "ended: hung up by the PBX"]
    assert rig.outbound.calls() == 0 and rig.outbound.requests
    rig.deliver(respond(bye, 200, tag=None))
    rig.assert_forgotten()
    # The far end's BYE crossing ours finds no dialog any more.
    assert len(rig.responses(rig.deliver(far_request(far_dialog(invite), "BYE")), 481)) == 1


def test_a_re_invite_is_answered_by_the_listener() -> None:
    rig = Rig()
    call, _invite, far = answered(rig)
    hold = ANSWER.replace(b"telephone-event/8000\r\n", b"telephone-event/8000\r\na=sendonly\r\n")
    reinvite = far_request(far, "INVITE", hold)
    out = rig.deliver(reinvite)
    (ok,) = rig.responses(out, 200)
    assert ok.body == ANSWER.replace(b"4000", b"30000") and ok.content_type == "application/sdp"
    assert str(ok.contacts[0].uri).startswith("sip:198.51.100.1:5060")
    assert rig.listener.events == ["answered", "offer"]
    ack = far.create_ack(reinvite, via="SIP/2.0/UDP 192.0.2.5:5062")
    assert rig.deliver(ack) == []  # taken (and the 2xx no longer re-sent)
    assert rig.advance(2.0) == []
    rig.listener.refuse_offers = True
    refused = rig.responses(rig.deliver(far_request(far, "INVITE", hold)), 488)
    assert len(refused) == 1 and call.state is OutState.CONFIRMED


def test_a_re_invite_without_offer_gets_our_last_description() -> None:
    rig = Rig()
    _call, _invite, far = answered(rig)
    (ok,) = rig.responses(rig.deliver(far_request(far, "INVITE")), 200)
    assert ok.body == OFFER  # RFC 3261 §14.2: the 2xx carries the offer
    assert "offer" not in rig.listener.events


def test_an_unacked_2xx_to_a_re_invite_ends_the_call() -> None:
    rig = Rig()
    _call, _invite, far = answered(rig)
    rig.deliver(far_request(far, "INVITE", ANSWER))
    resent = rig.advance(0.5) + rig.advance(1.0)
    assert len(rig.responses(resent, 200)) == 2  # §13.3.1.4: until the ACK
    out = rig.advance(40.0)
    assert len(rig.requests(out, "BYE")) == 1
    assert rig.listener.events[-1] == "ended: no ACK from far end"


def test_info_options_and_unsupported_methods() -> None:
    rig = Rig()
    call, _invite, far = answered(rig)
    info = far_request(far, "INFO", b"Signal=5\r\nDuration=160\r\n")
    info.headers.set("Content-Type", "application/dtmf-relay")
    assert len(rig.responses(rig.deliver(info), 200)) == 1
    assert rig.listener.events[-1] == "info Signal=5\r\nDuration=160\r\n"
    (options,) = rig.responses(rig.deliver(far_request(far, "OPTIONS")), 200)
    assert "INVITE" in (options.headers.get("Allow") or "")
    (refer,) = rig.responses(rig.deliver(far_request(far, "REFER")), 405)
    assert refer.headers.get("Allow") is not None  # RFC 3261 §21.4.6
    assert len(rig.responses(rig.deliver(far_request(far, "FROB")), 501)) == 1
    assert call.state is OutState.CONFIRMED


def test_an_out_of_order_request_is_500() -> None:
    rig = Rig()
    _call, _invite, far = answered(rig)
    options = far_request(far, "OPTIONS")
    options.headers.set("CSeq", "5 OPTIONS")
    assert len(rig.responses(rig.deliver(options), 200)) == 1
    stale = far_request(far, "INFO")
    stale.headers.set("CSeq", "4 INFO")  # below what we have seen
    assert len(rig.responses(rig.deliver(stale), 500)) == 1  # RFC 3261 §12.2.2
