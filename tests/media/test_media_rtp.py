"""RTP/RTCP packets (our interface over aiortp's packet layer) and reception statistics."""

from __future__ import annotations

import struct

import pytest

from centralita.media.rtp import (
    ReceptionStats,
    ReportBlock,
    RtcpCompound,
    RtcpReport,
    RtpPacket,
    RtpParseError,
    SenderInfo,
    build_rtcp,
    ntp_middle,
    ntp_timestamp,
)


def test_rtp_packet_round_trip() -> None:
    packet = RtpPacket(101, 0xFFFF, 0xDEADBEEF, 0x01020304, b"\x05\x0a\x00\xa0", marker=True)
    data = bytes(packet)
    assert data[:12] == bytes.fromhex("80e5ffffdeadbeef01020304")
    assert data[12:] == b"\x05\x0a\x00\xa0"
    assert RtpPacket.parse(data) == packet


def test_rtp_parse_skips_csrc_extension_and_padding() -> None:
    # RFC 3550 §5.1/§5.3.1: V=2, P=1, X=1, CC=1; one CSRC; a one-word extension; 3 pad octets.
    header = struct.pack("!BBHII", 0xB1, 0x00, 7, 1120, 0xABCD)
    csrc = struct.pack("!I", 0x1111)
    extension = struct.pack("!HH", 0xBEDE, 1) + b"\x10\xaa\x00\x00"
    data = header + csrc + extension + b"PAYLOAD" + b"\x00\x00\x03"
    packet = RtpPacket.parse(data)
    assert (packet.sequence, packet.timestamp, packet.ssrc) == (7, 1120, 0xABCD)
    assert packet.payload == b"PAYLOAD"
    assert not packet.marker


@pytest.mark.parametrize(
    "data",
    [
        b"\x80\x00\x00",  # shorter than the fixed header
        bytes([0x40]) + bytes(11),  # version 1
        bytes([0x81]) + bytes(11),  # CSRC count says one CSRC, none there
        bytes([0xA0]) + bytes(11) + b"\x00",  # padding length 0
    ],
)
def test_rtp_parse_errors(data: bytes) -> None:
    with pytest.raises(RtpParseError):
        RtpPacket.parse(data)


def test_sender_report_round_trip_with_cname_and_bye() -> None:
    block = ReportBlock(0x2222, 25, 3, 70000, 12, 0x12345678, 0x10000)
    report = RtcpReport(0x1111, SenderInfo(ntp_timestamp(1.7e9), 123456, 50, 8000), (block,))
    data = build_rtcp(report, "caller@centralita", bye=True)
    assert data[1] == 200  # SR first (RFC 3550 §6.1)
    assert len(data) % 4 == 0
    parsed = RtcpCompound.parse(data)
    assert parsed.reports == (report,)
    assert parsed.cnames == {0x1111: "caller@centralita"}
    assert parsed.bye == (0x1111,)


def test_receiver_report_when_not_sending() -> None:
    data = build_rtcp(RtcpReport(0x3333), "x")
    assert data[1] == 201
    parsed = RtcpCompound.parse(data)
    assert parsed.reports == (RtcpReport(0x3333, None, ()),)
    assert parsed.bye == ()


def test_malformed_rtcp() -> None:
    with pytest.raises(RtpParseError):
        RtcpCompound.parse(bytes([0x80, 200, 0x00, 0x10]) + bytes(8))  # length beyond data


def test_ntp_timestamp() -> None:
    assert ntp_timestamp(0.0) == 2_208_988_800 << 32  # RFC 3550 §4: NTP epoch is 1900
    assert ntp_timestamp(0.5) & 0xFFFFFFFF == 0x80000000
    assert ntp_middle(ntp_timestamp(0.5)) == ((2_208_988_800 & 0xFFFF) << 16) | 0x8000


def feed(stats: ReceptionStats, sequences: list[int], *, spacing: float = 0.02) -> None:
    for index, seq in enumerate(sequences):
        stats.update(seq, seq * 160, index * spacing)


def test_reception_counts_loss_and_fraction() -> None:
    stats = ReceptionStats(8000)
    feed(stats, [s for s in range(100) if s not in (10, 11, 50, 51, 52)])
    assert stats.expected == 100
    assert stats.received == 95
    assert stats.lost == 5
    block = stats.report_block(0xAB, lsr=7, dlsr=9)
    assert block.fraction_lost == 5 * 256 // 100
    assert (block.ssrc, block.cumulative_lost, block.highest_sequence) == (0xAB, 5, 99)
    assert (block.lsr, block.dlsr) == (7, 9)
    stats.update(100, 100 * 160, 2.0)
    assert stats.report_block(0xAB).fraction_lost == 0  # a new interval without loss


def test_reception_extends_sequence_across_wrap_and_ignores_duplicates() -> None:
    stats = ReceptionStats(8000)
    feed(stats, [65533, 65534, 65535, 0, 1, 1, 2])
    assert stats.extended_max == 65536 + 2
    assert stats.expected == 6
    assert stats.received == 7
    assert stats.lost == -1  # RFC 3550 A.3: duplicates make it negative


def test_reception_jitter() -> None:
    steady = ReceptionStats(8000)
    feed(steady, list(range(50)))
    assert steady.jitter == 0
    jittery = ReceptionStats(8000)
    for seq in range(50):
        # every other packet 5 ms late: |D| = 40 timestamp units each time.
        jittery.update(seq, seq * 160, seq * 0.02 + (0.005 if seq % 2 else 0.0))
    assert 30 <= jittery.jitter <= 40


def test_reception_restarts_on_confirmed_sequence_jump() -> None:
    stats = ReceptionStats(8000)
    feed(stats, [1, 2, 3])
    stats.update(30000, 0, 1.0)  # a lone jump is held back (RFC 3550 A.1 bad_seq)
    assert stats.extended_max == 3
    stats.update(30001, 160, 1.02)  # the next one in sequence confirms it: a new start
    assert (stats.extended_max, stats.expected, stats.received) == (30001, 1, 1)
    stats.update(30002, 320, 1.04)
    assert (stats.extended_max, stats.expected) == (30002, 2)
