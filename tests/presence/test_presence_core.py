"""Message-waiting subscriptions through the UA core: digest auth, real transaction layer,
real store, fake clock (RFC 6665, RFC 3842)."""

from __future__ import annotations

from pathlib import Path

import pytest

from centralita.presence.message_summary import MessageCounts, MessageSummary
from centralita.sip.address import Address
from centralita.sip.message import Message, Request, Response
from tests.calls.pbxharness import Pbx, Phone, answer, requests, response_to

MWI = "application/simple-message-summary"


@pytest.fixture
def pbx(tmp_path: Path) -> Pbx:
    return Pbx(tmp_path)


def subscribe(
    pbx: Pbx,
    phone: Phone,
    box: str = "101",
    *,
    event: str = "message-summary",
    expires: int = 600,
) -> list[tuple[Message, Address]]:
    data = phone.request(
        "SUBSCRIBE",
        f"sip:{box}@acme.test",
        call_id=f"mwi-{phone.address.port}@phone",
        extra=(f"Event: {event}", f"Accept: {MWI}", f"Expires: {expires}"),
    )
    return pbx.send_authenticated(phone, data)


def refresh(pbx: Pbx, phone: Phone, ok: Response, expires: int) -> list[tuple[Message, Address]]:
    data = phone.request(
        "SUBSCRIBE",
        "sip:101@acme.test",
        call_id=ok.call_id,
        to_tag=ok.to.tag,
        extra=("Event: message-summary", f"Expires: {expires}"),
    )
    return pbx.send(phone, data)


def notify_in(out: list[tuple[Message, Address]], phone: Phone) -> Request:
    [notify] = [r for r in requests(out, phone) if r.method == "NOTIFY"]
    return notify


def ack_notify(pbx: Pbx, phone: Phone, notify: Request) -> None:
    pbx.send(phone, answer(notify, 200))


def test_phone_subscribes_with_digest_auth_and_gets_200_then_notify(pbx: Pbx) -> None:
    phone = pbx.phone("101", 5062)
    first = pbx.send(
        phone,
        phone.request(
            "SUBSCRIBE", "sip:101@acme.test", extra=("Event: message-summary", "Expires: 600")
        ),
    )
    assert response_to(first, phone, 401).headers.get("WWW-Authenticate")
    assert not requests(first, phone)  # nothing before authentication

    out = subscribe(pbx, phone)
    ok = response_to(out, phone, 200)
    assert ok.expires == 600 and ok.to.tag
    notify = notify_in(out, phone)
    assert notify.headers.get("Subscription-State") == "active;expires=600"
    assert notify.headers.get("Event") == "message-summary"
    assert notify.content_type == MWI
    assert notify.from_.tag == ok.to.tag
    assert MessageSummary.parse(notify.body) == MessageSummary.voice(
        MessageCounts(0, 0), account="sip:101@acme.test"
    )
    ack_notify(pbx, phone, notify)
    assert len(pbx.core.presence.subscriptions(pbx.tenant_id, "101")) == 1


def test_refresh_then_unsubscribe(pbx: Pbx) -> None:
    phone = pbx.phone("101", 5062)
    out = subscribe(pbx, phone)
    ok = response_to(out, phone, 200)
    ack_notify(pbx, phone, notify_in(out, phone))

    pbx.now += 400
    out = refresh(pbx, phone, ok, 900)
    assert response_to(out, phone, 200).expires == 900
    notify = notify_in(out, phone)
    assert notify.headers.get("Subscription-State") == "active;expires=900"
    ack_notify(pbx, phone, notify)

    out = refresh(pbx, phone, ok, 0)
    assert response_to(out, phone, 200).expires == 0
    final = notify_in(out, phone)
    assert final.headers.get("Subscription-State") == "terminated;reason=timeout"
    ack_notify(pbx, phone, final)
    assert pbx.core.presence.subscriptions(pbx.tenant_id, "101") == []
    # The dialog is gone: a late refresh is told so (RFC 6665 §4.1.2.2).
    assert response_to(refresh(pbx, phone, ok, 600), phone, 481)


def test_expiry_on_the_fake_clock(pbx: Pbx) -> None:
    phone = pbx.phone("101", 5062)
    out = subscribe(pbx, phone, expires=120)
    ack_notify(pbx, phone, notify_in(out, phone))
    assert pbx.core.get_timer() == pytest.approx(pbx.now + 120)
    assert not requests(pbx.advance(119), phone)
    out = pbx.advance(1)
    final = notify_in(out, phone)
    assert final.headers.get("Subscription-State") == "terminated;reason=timeout"
    ack_notify(pbx, phone, final)
    assert pbx.core.presence.subscriptions(pbx.tenant_id, "101") == []


def test_notify_changed_reaches_both_phones_of_the_extension(pbx: Pbx) -> None:
    desk, mobile, other = pbx.phone("101", 5062), pbx.phone("101", 5064), pbx.phone("102", 5066)
    for phone in (desk, mobile, other):
        out = subscribe(pbx, phone, box=phone.number)
        ack_notify(pbx, phone, notify_in(out, phone))
    summary = MessageSummary.voice(MessageCounts(2, 8, (0, 2)))

    assert pbx.core.presence.notify_changed(pbx.tenant_id, "101", summary, now=pbx.now) == 2
    out = pbx.advance(0)
    for phone in (desk, mobile):
        notify = notify_in(out, phone)
        assert notify.body == (
            b"Messages-Waiting: yes\r\nMessage-Account: sip:101@acme.test\r\n"
            b"Voice-Message: 2/8 (0/2)\r\n"
        )
    assert not requests(out, other)


def test_a_notify_nobody_answers_ends_the_subscription(pbx: Pbx) -> None:
    phone = pbx.phone("101", 5062)
    out = subscribe(pbx, phone)
    notify_in(out, phone)  # never answered: Timer F fires after 64*T1 (RFC 3261 §17.1.2.2)
    for _ in range(70):
        pbx.advance(0.5)
    assert pbx.core.presence.subscriptions(pbx.tenant_id, "101") == []


def test_a_notify_answered_481_ends_the_subscription(pbx: Pbx) -> None:
    phone = pbx.phone("101", 5062)
    out = subscribe(pbx, phone)
    pbx.send(phone, answer(notify_in(out, phone), 481))
    assert pbx.core.presence.subscriptions(pbx.tenant_id, "101") == []
    assert pbx.core.presence.notify_changed(pbx.tenant_id, "101", now=pbx.now) == 0


def test_unknown_event_package_is_489_without_a_challenge(pbx: Pbx) -> None:
    phone = pbx.phone("101", 5062)
    data = phone.request("SUBSCRIBE", "sip:101@acme.test", extra=("Event: presence",))
    bad = response_to(pbx.send(phone, data), phone, 489)
    assert bad.headers.get("Allow-Events") == "message-summary"


def test_another_extensions_mailbox_is_403(pbx: Pbx) -> None:
    phone = pbx.phone("101", 5062)
    out = subscribe(pbx, phone, box="102")
    assert response_to(out, phone, 403)
    assert not requests(out, phone)
    assert pbx.core.presence.subscriptions(pbx.tenant_id, "102") == []


def test_too_brief_is_423_with_min_expires(pbx: Pbx) -> None:
    phone = pbx.phone("101", 5062)
    data = phone.request(
        "SUBSCRIBE", "sip:101@acme.test", extra=("Event: message-summary", "Expires: 5")
    )
    brief = response_to(pbx.send(phone, data), phone, 423)
    assert brief.headers.get("Min-Expires") == "60"
