"""Calls the PBX answers itself, SIP side only: a stub application drives an AppCall."""

from __future__ import annotations

from pathlib import Path

from centralita.calls.appcall import INFO_ACCEPT, AppCall
from centralita.routing.services import Service
from centralita.sip.message import Request
from tests.calls.pbxharness import Pbx, requests, response_to, sdp


class StubApplication:
    """Answers at once; remembers what the SIP side told it."""

    def __init__(self, pbx: Pbx) -> None:
        self.pbx = pbx
        self.calls: list[AppCall] = []
        self.events: list[str] = []
        self.info_status = 200

    def start(self, call: AppCall, service: Service) -> None:
        call.listener = self
        self.calls.append(call)
        self.events.append(f"start {service.kind}")
        self.pbx.core.apps.answer(call, b"", self.pbx.now)

    def confirmed(self, body: bytes) -> None:
        self.events.append("confirmed")

    def ended(self, cause: str) -> None:
        self.events.append(f"ended: {cause}")

    def info_received(self, request: Request) -> int:
        self.events.append(f"info {request.content_type}")
        return self.info_status

    def offer_received(self, body: bytes) -> bytes:
        return body


def test_service_call_is_answered_confirmed_and_hung_up_by_the_caller(tmp_path: Path) -> None:
    pbx = Pbx(tmp_path)
    app = StubApplication(pbx)
    pbx.core.runner = app
    alice = pbx.phone("101", 5001)
    out = pbx.send_authenticated(
        alice, alice.request("INVITE", "sip:*41@acme.test", body=sdp(4000))
    )
    ok = response_to(out, alice, 200)
    dialog = {"call_id": ok.call_id, "to_tag": ok.to.tag, "to": "sip:*41@acme.test"}
    pbx.send(alice, alice.request("ACK", "sip:41@127.0.0.1:5060", cseq=ok.cseq.number, **dialog))
    app.info_status = 415
    info = alice.request(
        "INFO", "sip:41@127.0.0.1:5060", extra=("Content-Type: text/plain",), **dialog
    ).replace(b"Content-Length: 0\r\n\r\n", b"Content-Length: 1\r\n\r\n5")
    refused = response_to(pbx.send(alice, info), alice, 415)
    assert refused.headers.get("Accept") == INFO_ACCEPT  # RFC 3261 §21.4.13
    out = pbx.send(alice, alice.request("BYE", "sip:41@127.0.0.1:5060", **dialog))
    assert response_to(out, alice, 200)
    assert app.events == ["start keypad", "confirmed", "info text/plain", "ended: BYE from caller"]
    (record,) = pbx.store.call_records.list(pbx.tenant_id)
    assert (record.callee, record.status, record.answered_by) == ("*41", "answered_out", "pbx")


def test_pbx_hang_up_sends_bye(tmp_path: Path) -> None:
    pbx = Pbx(tmp_path)
    app = StubApplication(pbx)
    pbx.core.runner = app
    alice = pbx.phone("101", 5001)
    out = pbx.send_authenticated(
        alice, alice.request("INVITE", "sip:*43@acme.test", body=sdp(4000))
    )
    ok = response_to(out, alice, 200)
    pbx.send(
        alice,
        alice.request(
            "ACK",
            "sip:43@127.0.0.1:5060",
            cseq=ok.cseq.number,
            call_id=ok.call_id,
            to_tag=ok.to.tag,
            to="sip:*43@acme.test",
        ),
    )
    pbx.core.apps.hang_up(app.calls[0], pbx.now)
    byes = [r for r in requests(pbx.advance(0.0), alice) if r.method == "BYE"]
    assert len(byes) == 1 and byes[0].call_id == ok.call_id
