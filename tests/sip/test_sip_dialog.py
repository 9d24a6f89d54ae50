"""Dialogs (RFC 3261 §12): creation on both sides, in-dialog requests, CSeq order, routing,
target refresh."""

from __future__ import annotations

import pytest

from centralita.sip.dialog import (
    Dialog,
    DialogError,
    DialogId,
    DialogState,
    uac_dialog_id,
    uas_dialog_id,
)
from centralita.sip.errors import ServerInternalError, SipParseError
from centralita.sip.message import Request, Response, Uri, parse_message
from tests.sip.sipnet import make_request, reply, udp

ALICE = udp("192.0.2.1", 5060)
VIA = "SIP/2.0/UDP 192.0.2.1:5060"
RR = ("<sip:p1.example.com;lr>", "<sip:p2.example.com;lr>")


def invite_with(*record_route: str, uri: str = "sip:bob@biloxi.example.com") -> Request:
    invite = make_request("INVITE", ALICE, uri=uri, cseq=101)
    for value in record_route:
        invite.headers.add("Record-Route", value)
    return invite


def ok_with(invite: Request, *record_route: str, status: int = 200) -> Response:
    response = reply(invite, status)
    if status < 200:
        response.headers.add("Contact", "<sip:bob@192.0.2.4:5070>")
    for value in record_route:
        response.headers.add("Record-Route", value)
    return response


def state_of(dialog: Dialog) -> DialogState:
    return dialog.state  # read through a call, so a type checker does not narrow it


def uac_dialog(*record_route: str) -> tuple[Dialog, Request]:
    invite = invite_with()
    return Dialog.from_uac(invite, ok_with(invite, *record_route)), invite


def test_uac_dialog_takes_the_reversed_record_route() -> None:
    dialog, invite = uac_dialog(*RR)
    assert dialog.id == DialogId(invite.call_id, "9fxced76sl", "bobtag")
    assert [str(r.uri) for r in dialog.route_set] == [
        "sip:p2.example.com;lr",
        "sip:p1.example.com;lr",
    ]
    assert dialog.remote_target == Uri.parse("sip:bob@192.0.2.4:5070")
    assert (dialog.local_seq, dialog.remote_seq) == (101, None)
    assert dialog.local_uri == invite.from_.uri and dialog.remote_uri == invite.to.uri
    assert dialog.state is DialogState.CONFIRMED and not dialog.secure
    assert uac_dialog_id(ok_with(invite)) == dialog.id


def test_uas_dialog_keeps_record_route_in_order() -> None:
    invite = invite_with(*RR, uri="sips:bob@biloxi.example.com")
    contact = Uri.parse("sip:bob@192.0.2.4:5070")
    dialog = Dialog.from_uas(invite, "bobtag", contact)
    assert [str(r.uri) for r in dialog.route_set] == [
        "sip:p1.example.com;lr",
        "sip:p2.example.com;lr",
    ]
    assert dialog.remote_target == Uri.parse("sip:alice@192.0.2.1:5060")
    assert (dialog.local_seq, dialog.remote_seq) == (None, 101)
    assert (dialog.local_tag, dialog.remote_tag) == ("bobtag", "9fxced76sl")
    assert dialog.local_target == contact and dialog.secure  # §12.1.1: SIPS Request-URI
    incoming = make_request("BYE", ALICE, to_tag="bobtag", cseq=102)
    assert uas_dialog_id(incoming) == dialog.id


def test_uas_dialog_needs_a_contact() -> None:
    invite = invite_with()
    invite.headers.remove("Contact")
    with pytest.raises(SipParseError):
        Dialog.from_uas(invite, "t", Uri.parse("sip:bob@192.0.2.4"))


def test_no_dialog_from_a_final_error_or_a_100() -> None:
    invite = invite_with()
    for status in (100, 486):
        with pytest.raises(DialogError):
            Dialog.from_uac(invite, reply(invite, status))


def test_loose_routing_request() -> None:
    dialog, _ = uac_dialog(*RR)
    bye = dialog.create_request("BYE", via=VIA)
    assert bye.uri == dialog.remote_target
    assert bye.headers.get_all("Route") == ["<sip:p2.example.com;lr>", "<sip:p1.example.com;lr>"]
    assert bye.to.tag == "bobtag" and bye.from_.tag == "9fxced76sl"
    assert bye.cseq == (102, "BYE") and dialog.local_seq == 102
    assert (bye.top_via.branch or "").startswith("z9hG4bK")
    assert "Contact" not in bye.headers  # only target refresh requests carry it
    assert bytes(parse_message(bytes(bye))) == bytes(bye)


def test_strict_router_becomes_the_request_uri() -> None:
    dialog, _ = uac_dialog("<sip:loose.example.com;lr>", "<sip:strict.example.com;method=INVITE>")
    info = dialog.create_request("INFO", via=VIA, body=b"x", content_type="application/foo")
    # §12.2.1.1: the strict route is the Request-URI (without parameters a Request-URI may
    # not carry), the rest of the route set follows, then the remote target.
    assert info.uri == Uri.parse("sip:strict.example.com")
    assert info.headers.get_all("Route") == [
        "<sip:loose.example.com;lr>",
        "<sip:bob@192.0.2.4:5070>",
    ]
    assert info.body == b"x" and info.content_type == "application/foo"


def test_no_route_set_targets_the_remote_target_directly() -> None:
    dialog, _ = uac_dialog()
    reinvite = dialog.create_request("INVITE", via=VIA + ";branch=z9hG4bKfixed")
    assert reinvite.uri == dialog.remote_target and "Route" not in reinvite.headers
    assert reinvite.top_via.branch == "z9hG4bKfixed"
    assert reinvite.contacts[0].uri == Uri.parse("sip:alice@192.0.2.1:5060")


def test_ack_and_cancel_reuse_the_invite_cseq() -> None:
    dialog, invite = uac_dialog(*RR)
    invite.headers.add("Authorization", 'Digest username="alice", response="abc"')
    ack = dialog.create_ack(invite, via=VIA)
    assert ack.cseq == (101, "ACK") and dialog.local_seq == 101
    assert ack.top_via.branch != invite.top_via.branch  # §13.2.2.4: a new transaction
    assert ack.headers.get("Authorization") == invite.headers.get("Authorization")
    assert ack.headers.get_all("Route") == ["<sip:p2.example.com;lr>", "<sip:p1.example.com;lr>"]
    assert dialog.create_request("CANCEL", via=VIA).cseq == (101, "CANCEL")
    assert dialog.create_request("UPDATE", via=VIA).cseq == (102, "UPDATE")


def test_first_request_from_the_uas_side_picks_an_initial_cseq() -> None:
    dialog = Dialog.from_uas(invite_with(), "bobtag", Uri.parse("sip:bob@192.0.2.4"))
    bye = dialog.create_request("BYE", via=VIA)
    assert 0 < bye.cseq.number < 2**31 and dialog.local_seq == bye.cseq.number
    assert bye.uri == Uri.parse("sip:alice@192.0.2.1:5060")
    assert bye.from_.tag == "bobtag" and bye.to.tag == "9fxced76sl"
    with pytest.raises(DialogError):
        Dialog.from_uas(invite_with(), "t", Uri.parse("sip:b@h")).create_request("ACK", via=VIA)


def test_cseq_order_check() -> None:
    dialog = Dialog.from_uas(invite_with(), "bobtag", Uri.parse("sip:bob@192.0.2.4"))
    dialog.receive_request(make_request("INFO", ALICE, to_tag="bobtag", cseq=102))
    assert dialog.remote_seq == 102
    with pytest.raises(ServerInternalError) as error:
        dialog.receive_request(make_request("INFO", ALICE, to_tag="bobtag", cseq=101))
    assert error.value.status_code == 500  # §12.2.2
    assert dialog.remote_seq == 102
    dialog.receive_request(make_request("ACK", ALICE, to_tag="bobtag", cseq=101))  # exempt
    dialog.remote_seq = None
    dialog.receive_request(make_request("BYE", ALICE, to_tag="bobtag", cseq=7))
    assert dialog.remote_seq == 7


def test_target_refresh_applies_on_success_only() -> None:
    dialog, _ = uac_dialog()
    reinvite = dialog.create_request("INVITE", via=VIA)
    moved = reply(reinvite, 200)
    moved.headers.set("Contact", "<sip:bob@198.51.100.9:5080>")
    rejected = reply(reinvite, 488)
    rejected.headers.set("Contact", "<sip:elsewhere@198.51.100.1>")
    dialog.receive_response("INVITE", rejected)
    assert dialog.remote_target == Uri.parse("sip:bob@192.0.2.4:5070")
    dialog.receive_response("INVITE", moved)
    assert dialog.remote_target == Uri.parse("sip:bob@198.51.100.9:5080")

    uas = Dialog.from_uas(invite_with(), "bobtag", Uri.parse("sip:bob@192.0.2.4"))
    update = make_request("UPDATE", udp("198.51.100.7", 5062), to_tag="bobtag", cseq=102)
    uas.receive_request(update)
    assert uas.remote_target == Uri.parse("sip:alice@192.0.2.1:5060")  # not before the 2xx
    uas.confirm_target_refresh(update)
    assert uas.remote_target == Uri.parse("sip:alice@198.51.100.7:5062")


def test_early_dialog_is_confirmed_by_the_2xx_with_a_new_route_set() -> None:
    invite = invite_with()
    early = Dialog.from_uac(invite, ok_with(invite, "<sip:old.example.com;lr>", status=180))
    assert early.state is DialogState.EARLY
    early.receive_response("INVITE", ok_with(invite, "<sip:a;lr>", "<sip:b;lr>"))
    assert state_of(early) is DialogState.CONFIRMED
    assert [str(r.uri) for r in early.route_set] == ["sip:b;lr", "sip:a;lr"]  # §13.2.2.4


def test_early_dialog_ends_on_an_error_and_481_ends_a_dialog() -> None:
    invite = invite_with()
    early = Dialog.from_uac(invite, ok_with(invite, status=183))
    early.receive_response("INVITE", reply(invite, 486))
    assert early.state is DialogState.TERMINATED
    with pytest.raises(DialogError):
        early.create_request("BYE", via=VIA)
    dialog, _ = uac_dialog()
    info = dialog.create_request("INFO", via=VIA)
    dialog.receive_response("INFO", reply(info, 481))
    assert dialog.state is DialogState.TERMINATED  # §12.2.1.2
