"""Latch (sans-I/O): symmetric RTP latching with hijack protection, on a fake clock."""

from __future__ import annotations

from centralita.media.latching import Latch, looks_like_rtp

SDP = ("192.168.1.10", 4000)  # what the phone announced (private, behind NAT)
NAT = ("203.0.113.5", 61000)  # where its packets really come from
EVIL = ("198.51.100.66", 5004)


def test_first_packet_latches_and_becomes_destination():
    latch = Latch(relatch_after=1.5)
    latch.announce(SDP)
    assert latch.destination == SDP and latch.source is None
    assert latch.admit(NAT, now=10.0)
    assert latch.source == NAT and latch.destination == NAT and latch.latches == 1


def test_other_source_refused_while_latched_source_active():
    latch = Latch(relatch_after=1.5)
    latch.announce(SDP)
    latch.admit(NAT, 10.0)
    latch.admit(NAT, 11.0)
    assert not latch.admit(EVIL, 12.4)  # NAT spoke 1.4 s ago
    assert latch.admit(NAT, 12.5)
    assert not latch.admit(EVIL, 13.9)
    assert latch.destination == NAT and latch.latches == 1


def test_relatch_after_silence():
    latch = Latch(relatch_after=1.5)
    latch.announce(SDP)
    latch.admit(NAT, 10.0)
    assert not latch.admit(EVIL, 11.49)
    assert latch.admit(EVIL, 11.5)
    assert latch.source == EVIL and latch.destination == EVIL
    assert not latch.admit(NAT, 11.6)  # now the old source is the stranger


def test_announced_address_may_take_over_at_once():
    latch = Latch(relatch_after=1.5)
    latch.announce(("203.0.113.9", 4000))
    latch.admit(NAT, 10.0)
    assert latch.admit(("203.0.113.9", 4000), 10.02)
    assert latch.source == ("203.0.113.9", 4000)


def test_ipv6_sources_compare_with_the_announced_pair():
    latch = Latch(relatch_after=1.5)
    latch.announce(("2001:db8::1", 4000))
    latch.admit(("2001:db8::99", 4000, 0, 0), 10.0)
    assert latch.admit(("2001:db8::1", 4000, 0, 0), 10.01)


def test_same_address_reannounced_keeps_the_latch():
    latch = Latch(relatch_after=1.5)
    latch.announce(SDP)
    latch.admit(NAT, 10.0)
    latch.announce(SDP)  # hold/resume re-INVITE with the same c=/m=
    assert latch.source == NAT and latch.destination == NAT


def test_new_address_repoints_and_forgets_the_latch():
    latch = Latch(relatch_after=1.5)
    latch.announce(SDP)
    latch.admit(NAT, 10.0)
    moved = ("192.0.2.7", 7000)
    latch.announce(moved)
    assert latch.source is None and latch.destination == moved
    assert not latch.admit(NAT, 10.5)  # the old source is not let back in while recent
    assert latch.admit(moved, 10.6)


def test_muted_stream_admits_but_sends_nowhere():
    latch = Latch(relatch_after=1.5)
    latch.announce(SDP)
    latch.admit(NAT, 10.0)
    latch.announce(None)  # port 0 or c=0.0.0.0
    assert latch.destination is None
    assert latch.admit(NAT, 20.0)
    assert latch.destination is None
    latch.announce(SDP)
    assert latch.destination == SDP


def test_on_latched_called_only_when_the_source_changes():
    seen = []
    latch = Latch(relatch_after=1.5, on_latched=seen.append)
    latch.admit(NAT, 1.0)
    latch.admit(NAT, 1.02)
    latch.admit(EVIL, 1.03)
    latch.admit(EVIL, 3.0)
    assert seen == [NAT, EVIL]


def test_looks_like_rtp():
    assert looks_like_rtp(0x80, 172, 12)
    assert looks_like_rtp(0xBF, 12, 12)  # V=2 with padding, extension, CC=15
    assert not looks_like_rtp(0x40, 172, 12)  # version 1
    assert not looks_like_rtp(0x00, 172, 12)  # e.g. a STUN message (RFC 7983 §7)
    assert not looks_like_rtp(0x80, 11, 12)
    assert not looks_like_rtp(0x80, 4096, 12)
