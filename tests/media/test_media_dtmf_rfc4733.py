"""RFC 4733 telephone-events: payload wire format, the sender's schedule, and a receiver fed
packet streams that a real network mangles (loss, duplication, reordering)."""

from __future__ import annotations

import random
from collections.abc import Iterable

import pytest

from centralita.media.dtmf import (
    MAX_DURATION,
    EventPacket,
    Rfc4733Receiver,
    Rfc4733Sender,
    TelephoneEvent,
    TelephoneEventError,
    event_code,
)
from centralita.media.events import DtmfReceived

BASE_TS = 0x1234_5678


class TestPayload:
    def test_parse_fields_of_an_end_packet(self) -> None:
        # event 5, E=1, R=0, volume 10, duration 1280 (160 ms at 8 kHz): RFC 4733 §2.3
        event = TelephoneEvent.parse(bytes([0x05, 0x8A, 0x05, 0x00]))
        assert event == TelephoneEvent(event=5, end=True, volume=10, duration=1280)
        assert event.digit == "5"

    def test_build_is_byte_exact(self) -> None:
        assert bytes(TelephoneEvent(11, end=False, volume=7, duration=400)) == bytes(
            [0x0B, 0x07, 0x01, 0x90]
        )
        assert bytes(TelephoneEvent(15, end=True, volume=63, duration=0xFFFF)) == bytes(
            [0x0F, 0xBF, 0xFF, 0xFF]
        )

    def test_reserved_bit_ignored_on_receipt_and_cleared_on_send(self) -> None:
        event = TelephoneEvent.parse(bytes([0x0A, 0xC0 | 20, 0x00, 0xA0]))  # E=1, R=1
        assert (event.end, event.volume, event.duration, event.digit) == (True, 20, 160, "*")
        assert bytes(event)[1] == 0x80 | 20

    @pytest.mark.parametrize("digit,code", [("0", 0), ("9", 9), ("*", 10), ("#", 11), ("a", 12)])
    def test_event_codes(self, digit: str, code: int) -> None:
        assert event_code(digit) == code

    def test_non_dtmf_event_has_no_digit(self) -> None:
        assert TelephoneEvent.parse(bytes([16, 0, 0, 160])).digit is None  # flash (§3.2)

    def test_short_payload_rejected(self) -> None:
        with pytest.raises(TelephoneEventError):
            TelephoneEvent.parse(b"\x05\x8a\x05")

    def test_out_of_range_fields_rejected(self) -> None:
        with pytest.raises(TelephoneEventError):
            TelephoneEvent(5, volume=64)
        with pytest.raises(TelephoneEventError):
            TelephoneEvent(5, duration=0x10000)


class TestSender:
    def test_schedule_of_a_160_ms_key(self) -> None:
        packets = Rfc4733Sender("7", 160).packets()
        events = [TelephoneEvent.parse(p.payload) for p in packets]
        assert [p.send_at_ms for p in packets] == [20, 70, 120, 160, 180, 200]
        assert [p.marker for p in packets] == [True] + [False] * 5
        assert {p.timestamp_offset for p in packets} == {0}
        assert [e.duration for e in events] == [160, 560, 960, 1280, 1280, 1280]
        assert [e.end for e in events] == [False, False, False, True, True, True]
        assert {e.event for e in events} == {7}

    def test_packets_are_tuples_for_the_endpoint(self) -> None:
        payload, marker, offset, send_at = Rfc4733Sender("#", 100).packets()[0]
        assert (payload[0], marker, offset, send_at) == (11, True, 0, 20)

    def test_clock_rate_scales_durations(self) -> None:
        last = Rfc4733Sender("1", 100, clock_rate=48000).packets()[-1]
        assert TelephoneEvent.parse(last.payload).duration == 4800

    def test_long_event_continues_in_segments(self) -> None:
        packets = Rfc4733Sender("0", 10_000).packets()  # 80000 units > 0xFFFF
        offsets = sorted({p.timestamp_offset for p in packets})
        assert offsets == [0, MAX_DURATION]
        assert sum(p.marker for p in packets) == 1
        full = [p for p in packets if TelephoneEvent.parse(p.payload).duration == MAX_DURATION]
        assert full and full[0].timestamp_offset == 0  # §2.5.1.3: first segment ends at 0xFFFF
        last = TelephoneEvent.parse(packets[-1].payload)
        assert last.end and last.duration == 80_000 - MAX_DURATION

    def test_invalid_requests(self) -> None:
        with pytest.raises(ValueError):
            Rfc4733Sender("X", 100)
        with pytest.raises(ValueError):
            Rfc4733Sender("1", 5)


Wire = tuple[float, bytes, int, bool]


def _stream(digit: str, ms: int, ts: int = BASE_TS, at: float = 0.0) -> list[Wire]:
    """(arrival time, payload, timestamp, marker) of one key press as a sender emits it."""
    return [
        (at + p.send_at_ms / 1000, p.payload, (ts + p.timestamp_offset) % 2**32, p.marker)
        for p in Rfc4733Sender(digit, ms).packets()
    ]


def _deliver(receiver: Rfc4733Receiver, packets: Iterable[Wire]) -> list[DtmfReceived]:
    events: list[DtmfReceived] = []
    for now, payload, ts, marker in packets:
        events += receiver.receive(payload, ts, marker, now)
    return events


class TestReceiver:
    def test_one_event_per_key_despite_three_end_packets(self) -> None:
        events = _deliver(Rfc4733Receiver(), _stream("5", 160))
        assert events == [DtmfReceived("5", 160, "rfc4733")]

    def test_every_packet_duplicated(self) -> None:
        packets = [p for p in _stream("9", 200) for _ in range(2)]
        assert _deliver(Rfc4733Receiver(), packets) == [DtmfReceived("9", 200, "rfc4733")]

    def test_lost_start_packet_still_yields_the_key(self) -> None:
        packets = _stream("#", 120)[1:]
        assert _deliver(Rfc4733Receiver(), packets) == [DtmfReceived("#", 120, "rfc4733")]

    def test_only_an_end_packet_arrives(self) -> None:
        packets = _stream("A", 100)[-1:]
        assert _deliver(Rfc4733Receiver(), packets) == [DtmfReceived("A", 100, "rfc4733")]

    def test_lost_end_reported_after_timeout(self) -> None:
        receiver = Rfc4733Receiver(end_timeout=0.5)
        packets = [p for p in _stream("3", 200) if not TelephoneEvent.parse(p[1]).end]
        assert _deliver(receiver, packets) == []
        last_heard = float(packets[-1][0])
        assert receiver.get_timer() == pytest.approx(last_heard + 0.5)
        assert receiver.handle_timer(last_heard + 0.49) == []
        assert receiver.handle_timer(last_heard + 0.5) == [DtmfReceived("3", 170, "rfc4733")]
        assert receiver.get_timer() is None
        assert receiver.handle_timer(last_heard + 5) == []

    def test_late_update_after_timeout_is_not_a_new_key(self) -> None:
        receiver = Rfc4733Receiver(end_timeout=0.2)
        packets = _stream("3", 200)
        _deliver(receiver, packets[:2])
        assert receiver.handle_timer(1.0) == [DtmfReceived("3", 70, "rfc4733")]
        assert _deliver(receiver, packets[2:]) == []

    def test_timer_fires_when_the_next_packet_comes_late(self) -> None:
        receiver = Rfc4733Receiver(end_timeout=0.5)
        _deliver(receiver, _stream("1", 200)[:2])
        later = _stream("2", 100, ts=BASE_TS + 16000, at=3.0)
        events = _deliver(receiver, later)
        assert events == [DtmfReceived("1", 70, "rfc4733"), DtmfReceived("2", 100, "rfc4733")]

    def test_new_timestamp_starts_a_new_event(self) -> None:
        first = [p for p in _stream("1", 200) if not TelephoneEvent.parse(p[1]).end]
        second = _stream("1", 100, ts=BASE_TS + 3200, at=0.4)
        events = _deliver(Rfc4733Receiver(), first + second)
        assert events == [DtmfReceived("1", 170, "rfc4733"), DtmfReceived("1", 100, "rfc4733")]

    def test_same_key_twice_gives_two_events(self) -> None:
        packets = _stream("8", 100) + _stream("8", 100, ts=BASE_TS + 1600, at=0.2)
        assert [e.digit for e in _deliver(Rfc4733Receiver(), packets)] == ["8", "8"]

    def test_reordered_packets(self) -> None:
        rng = random.Random(7)
        digits = "0123456789*#ABCD"
        packets = [
            p
            for i, d in enumerate(digits)
            for p in _stream(d, 150, ts=BASE_TS + i * 4000, at=i * 0.5)
        ]
        # Swap neighbours now and then: reordering within a few packets, as the network does.
        for i in range(0, len(packets) - 1):
            if rng.random() < 0.4:
                packets[i], packets[i + 1] = packets[i + 1], packets[i]
        events = _deliver(Rfc4733Receiver(), packets)
        assert "".join(e.digit for e in events) == digits
        assert all(e.duration_ms == 150 for e in events)

    def test_stray_packet_of_an_older_key_is_dropped(self) -> None:
        first, second = _stream("4", 100), _stream("6", 100, ts=BASE_TS + 1600, at=0.2)
        packets = first[:-1] + second[:2] + [first[-1]] + second[2:]
        assert [e.digit for e in _deliver(Rfc4733Receiver(), packets)] == ["4", "6"]

    def test_random_loss_duplication_and_reordering(self) -> None:
        rng = random.Random(2024)
        digits = "".join(rng.choice("0123456789*#ABCD") for _ in range(200))
        packets = []
        for i, d in enumerate(digits):
            for p in _stream(d, rng.choice([80, 100, 160, 240]), ts=i * 4000, at=i * 0.5):
                if rng.random() < 0.15:
                    continue  # lost
                packets.extend([p] * (2 if rng.random() < 0.1 else 1))
        packets.sort(key=lambda p: float(p[0]) + rng.uniform(0, 0.03))  # jitter reorders
        receiver = Rfc4733Receiver()
        events = _deliver(receiver, packets) + receiver.handle_timer(1e9)
        # A key is lost only if every one of its packets was: with 4+ packets at 15 % loss
        # that essentially never happens, so every key must come through, once, in order.
        assert "".join(e.digit for e in events) == digits

    def test_timestamp_wraparound(self) -> None:
        packets = _stream("2", 100, ts=2**32 - 400) + _stream("3", 100, ts=1200, at=0.2)
        assert [e.digit for e in _deliver(Rfc4733Receiver(), packets)] == ["2", "3"]

    def test_long_event_across_segments_is_one_key(self) -> None:
        events = _deliver(Rfc4733Receiver(), _stream("0", 10_000))
        assert events == [DtmfReceived("0", 10_000, "rfc4733")]

    def test_long_event_with_the_0xffff_packet_lost(self) -> None:
        packets = [
            p for p in _stream("0", 10_000) if TelephoneEvent.parse(p[1]).duration != MAX_DURATION
        ]
        assert _deliver(Rfc4733Receiver(), packets) == [DtmfReceived("0", 10_000, "rfc4733")]

    def test_wideband_clock_rate(self) -> None:
        packets = [
            (p.send_at_ms / 1000, p.payload, BASE_TS, p.marker)
            for p in Rfc4733Sender("D", 120, clock_rate=48000).packets()
        ]
        events = _deliver(Rfc4733Receiver(clock_rate=48000), packets)
        assert events == [DtmfReceived("D", 120, "rfc4733")]

    def test_malformed_and_non_dtmf_packets_are_ignored(self) -> None:
        receiver = Rfc4733Receiver()
        assert receiver.receive(b"\x01", BASE_TS, True, 0.0) == []
        assert receiver.receive(bytes([16, 0x80, 0, 160]), BASE_TS, True, 0.0) == []
        assert receiver.malformed == 1
        assert receiver.get_timer() is None

    def test_round_trip_of_every_key(self) -> None:
        receiver = Rfc4733Receiver()
        packets = [p for i, d in enumerate("0123456789*#ABCD") for p in _stream(d, 90, ts=i * 2000)]
        events = _deliver(receiver, packets)
        assert [(e.digit, e.duration_ms) for e in events] == [(d, 90) for d in "0123456789*#ABCD"]


def test_event_packet_is_a_named_tuple() -> None:
    packet = EventPacket(b"\x00\x00\x00\x00", True, 0, 20)
    assert packet == (b"\x00\x00\x00\x00", True, 0, 20)
