"""MediaEndpoint over real UDP sockets on loopback.

Timing-sensitive tests make the endpoints with ``run_clock=False`` and a fake clock, call
``tick(now)`` themselves and wait for each packet to arrive (``Wire``) before the next tick;
one test runs the real asyncio 20 ms clock.
"""

from __future__ import annotations

import asyncio
import itertools
import time

import numpy as np
import pytest

from centralita.media.audio import FRAME_SAMPLES, SAMPLE_RATE, silence
from centralita.media.codecs_g711 import Pcmu
from centralita.media.events import DTMF_DIGITS
from centralita.media.player import PcmSource
from centralita.media.ports import RtpPortPool
from centralita.media.rtp import RtcpCompound, RtpPacket
from centralita.media.rtp_endpoint import DtmfUnavailable, MediaEndpoint
from centralita.media.srtp import answer_crypto, crypto_offer, params_from_answer

LOCALHOST = "127.0.0.1"
EVENT_PT = 101
TIMEOUT = 5.0


class Wire:
    """Collects the RTP packets an endpoint admits and lets a test wait for them."""

    def __init__(self, endpoint: MediaEndpoint) -> None:
        self.packets: list[RtpPacket] = []
        self._arrived = asyncio.Event()
        endpoint.on_rtp = self._on_packet

    def _on_packet(self, packet: RtpPacket) -> None:
        self.packets.append(packet)
        self._arrived.set()

    async def wait_for(self, count: int) -> None:
        while len(self.packets) < count:
            self._arrived.clear()
            await asyncio.wait_for(self._arrived.wait(), TIMEOUT)


class Heard:
    """The frames an endpoint plays out through ``on_audio``."""

    def __init__(self, endpoint: MediaEndpoint) -> None:
        self.frames: list[np.ndarray] = []
        endpoint.on_audio = self.frames.append

    @property
    def audible(self) -> list[np.ndarray]:
        return [frame for frame in self.frames if np.any(frame)]


def tone(frequency: float, seconds: float, amplitude: float = 8000.0) -> np.ndarray:
    t = np.arange(int(SAMPLE_RATE * seconds)) / SAMPLE_RATE
    return np.rint(amplitude * np.sin(2 * np.pi * frequency * t)).astype(np.int16)


def dominant_frequency(frames: list[np.ndarray]) -> float:
    signal = np.concatenate(frames).astype(np.float64)
    spectrum = np.abs(np.fft.rfft(signal * np.hanning(len(signal))))
    return float(np.argmax(spectrum) * SAMPLE_RATE / len(signal))


@pytest.fixture
def pool(port_range):
    low, high = port_range(6)
    return RtpPortPool(low, high, host=LOCALHOST)


@pytest.fixture
async def make_endpoint(pool, clock):
    made: list[MediaEndpoint] = []

    def factory(**options) -> MediaEndpoint:
        options.setdefault("clock", clock)
        options.setdefault("run_clock", False)
        endpoint = MediaEndpoint(pool.allocate(), **options)
        made.append(endpoint)
        return endpoint

    yield factory
    for endpoint in made:
        endpoint.close()


async def connected_pair(make_endpoint, **start_options):
    a, b = make_endpoint(), make_endpoint()
    a.start((LOCALHOST, b.local_port), Pcmu(), EVENT_PT, **start_options.get("a", {}))
    b.start((LOCALHOST, a.local_port), Pcmu(), EVENT_PT, **start_options.get("b", {}))
    return a, b, Wire(a), Wire(b)


async def run(clock, ticks, a, b, wire_a, wire_b):
    """Advance the fake clock tick by tick; each side's packet has arrived before the next."""
    for _ in range(ticks):
        clock.now += 0.02
        a.tick(clock.now)
        b.tick(clock.now)
        await wire_b.wait_for(a.packets_sent)
        await wire_a.wait_for(b.packets_sent)


async def test_two_endpoints_exchange_tones(make_endpoint, clock):
    a, b, wire_a, wire_b = await connected_pair(make_endpoint)
    a.source, b.source = PcmSource(tone(1000, 2)), PcmSource(tone(440, 2))
    heard_a, heard_b = Heard(a), Heard(b)
    await run(clock, 60, a, b, wire_a, wire_b)

    assert len(heard_b.frames) == 60  # one frame per tick, silence until the buffer primes
    assert all(len(frame) == FRAME_SAMPLES for frame in heard_b.frames)
    assert len(heard_b.audible) >= 55
    assert dominant_frequency(heard_b.audible) == pytest.approx(1000, abs=15)
    assert dominant_frequency(heard_a.audible) == pytest.approx(440, abs=15)

    sent = wire_b.packets  # what A sent, as B received it
    assert {p.ssrc for p in sent} == {a.ssrc} and b.remote_ssrc == a.ssrc
    assert {p.payload_type for p in sent} == {0}
    assert all((q.sequence - p.sequence) % 65536 == 1 for p, q in itertools.pairwise(sent))
    assert all((q.timestamp - p.timestamp) % 2**32 == 160 for p, q in itertools.pairwise(sent))
    assert [p.marker for p in sent] == [True] + [False] * 59  # RFC 3551 §4.1: first only
    assert all(len(p.payload) == 160 for p in sent)
    assert b.reception is not None and b.reception.lost == 0 and b.reception.received == 60


async def test_real_clock_sends_every_20ms(make_endpoint):
    a = make_endpoint(run_clock=True, clock=time.monotonic)
    b = make_endpoint(run_clock=True, clock=time.monotonic)
    a.source = PcmSource(tone(700, 3))
    enough = asyncio.Event()
    frames: list[np.ndarray] = []

    def on_audio(frame: np.ndarray) -> None:
        if np.any(frame):
            frames.append(frame)
            if len(frames) == 25:
                enough.set()

    b.on_audio = on_audio
    a.start((LOCALHOST, b.local_port), Pcmu())
    b.start((LOCALHOST, a.local_port), Pcmu())
    await asyncio.wait_for(enough.wait(), TIMEOUT)
    assert dominant_frequency(frames) == pytest.approx(700, abs=15)
    assert b.rtp_stats.packets >= 25
    assert b.reception is not None and b.reception.lost == 0


async def test_silence_when_no_source_and_after_the_source_ends(make_endpoint, clock):
    a, b, wire_a, wire_b = await connected_pair(make_endpoint)
    finished = []
    a.on_source_finished = finished.append
    await run(clock, 2, a, b, wire_a, wire_b)
    short = PcmSource(tone(500, 0.05))  # two and a half frames
    a.source = short
    await run(clock, 6, a, b, wire_a, wire_b)

    silent = Pcmu().encode(silence())
    payloads = [p.payload for p in wire_b.packets]
    assert payloads[:2] == [silent, silent]
    assert all(payload != silent for payload in payloads[2:5])
    assert payloads[4][80:] == silent[80:]  # the half frame is padded with silence
    assert payloads[5:] == [silent] * 3
    assert finished == [short] and a.source is None


async def test_latches_to_the_real_source_port(make_endpoint, open_phone, packets, clock):
    announced, real, intruder = await open_phone(), await open_phone(), await open_phone()
    b = make_endpoint()
    wire = Wire(b)
    b.start(announced.address, Pcmu())
    clock.now += 0.02
    b.tick(clock.now)
    data, _ = await announced.receive()  # before any packet: the SDP address
    assert RtpPacket.parse(data).ssrc == b.ssrc

    real.send(packets.rtp(1), LOCALHOST, b.local_port)  # NAT: a different port than the SDP's
    await wire.wait_for(1)
    clock.now += 0.02
    b.tick(clock.now)
    data, _ = await real.receive()
    assert RtpPacket.parse(data).ssrc == b.ssrc
    assert b.latched_rtp == real.address and b.remote_rtp == real.address

    intruder.send(packets.rtp(2, ssrc=666), LOCALHOST, b.local_port)  # RTP bleed attempt
    real.send(packets.rtp(2), LOCALHOST, b.local_port)
    await wire.wait_for(2)
    assert b.rtp_stats.dropped_source == 1
    assert b.latched_rtp == real.address
    assert [p.ssrc for p in wire.packets] == [0x1234, 0x1234]


async def test_reordered_packets_are_played_in_sequence(make_endpoint, open_phone, clock):
    phone = await open_phone()
    b = make_endpoint()
    wire, heard = Wire(b), Heard(b)
    b.start(phone.address, Pcmu())
    codes = {seq: 0x10 + 5 * seq for seq in range(1, 13)}  # a distinct µ-law level per packet
    order = [2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11]
    for count, seq in enumerate(order, start=1):
        clock.now += 0.02
        packet = RtpPacket(0, seq, seq * 160, 0x77, bytes([codes[seq]]) * 160)
        phone.send(bytes(packet), LOCALHOST, b.local_port)
        await wire.wait_for(count)
        b.tick(clock.now)
    for _ in range(10):
        clock.now += 0.02
        b.tick(clock.now)

    decoder = Pcmu()
    expected = [decoder.decode(bytes([codes[seq]]) * 160) for seq in range(1, 13)]
    assert [p.sequence for p in wire.packets] == order
    played, tail = heard.audible[:12], heard.audible[12:]
    for frame, want in zip(played, expected, strict=True):
        np.testing.assert_array_equal(frame, want)
    # After the stream stops the jitter buffer fades the last frame out (concealment).
    peaks = [int(np.abs(frame.astype(np.int32)).max()) for frame in tail]
    assert len(tail) <= 5 and peaks == sorted(peaks, reverse=True)
    assert all(peak <= np.abs(expected[-1].astype(np.int32)).max() for peak in peaks)


async def test_all_sixteen_digits_sent_and_detected(make_endpoint, clock):
    a, b, wire_a, wire_b = await connected_pair(make_endpoint)
    digits = []
    b.on_dtmf = digits.append
    for digit in DTMF_DIGITS:
        a.send_dtmf(digit, 100)
    await run(clock, 16 * 7 + 3, a, b, wire_a, wire_b)

    assert "".join(event.digit for event in digits) == DTMF_DIGITS
    assert {(event.method, event.duration_ms) for event in digits} == {("rfc4733", 100)}
    events = [p for p in wire_b.packets if p.payload_type == EVENT_PT]
    by_timestamp: dict[int, list[RtpPacket]] = {}
    for packet in events:
        by_timestamp.setdefault(packet.timestamp, []).append(packet)
    assert len(by_timestamp) == 16
    for code, press in enumerate(by_timestamp.values()):
        assert [p.marker for p in press] == [True] + [False] * (len(press) - 1)
        assert {p.payload[0] for p in press} == {code}
        assert [bool(p.payload[1] & 0x80) for p in press[-3:]] == [True] * 3  # §2.5.1.4
        assert not any(p.payload[1] & 0x80 for p in press[:-3])
        durations = [int.from_bytes(p.payload[2:4], "big") for p in press]
        assert durations == sorted(durations) and durations[-1] == 800  # 100 ms at 8 kHz


async def test_dtmf_pauses_audio_and_marks_its_start(make_endpoint, clock):
    a, b, wire_a, wire_b = await connected_pair(make_endpoint)
    a.source = PcmSource(tone(600, 2))
    await run(clock, 3, a, b, wire_a, wire_b)
    a.send_dtmf("5", 60)  # packets at 20, 60, 80, 100 ms after key-down: 5 ticks
    await run(clock, 8, a, b, wire_a, wire_b)

    sent = wire_b.packets
    kinds = [p.payload_type for p in sent]
    assert kinds == [0, 0, 0, EVENT_PT, EVENT_PT, EVENT_PT, EVENT_PT, 0, 0, 0]
    markers = [p.marker for p in sent]
    assert markers == [True, False, False, True, False, False, False, True, False, False]
    event_ts = sent[3].timestamp
    assert event_ts == (sent[2].timestamp + 160) % 2**32
    assert {p.timestamp for p in sent[3:7]} == {event_ts}
    # The audio clock ran on while the key was down (5 ticks): no timestamp overlap.
    assert sent[7].timestamp == (event_ts + 5 * 160) % 2**32
    assert all((q.sequence - p.sequence) % 65536 == 1 for p, q in itertools.pairwise(sent))


async def test_send_dtmf_needs_telephone_event(make_endpoint, open_phone):
    phone = await open_phone()
    endpoint = make_endpoint()
    endpoint.start(phone.address, Pcmu())
    with pytest.raises(DtmfUnavailable):
        endpoint.send_dtmf("1")
    other = make_endpoint()
    other.start(phone.address, Pcmu(), EVENT_PT)
    with pytest.raises(ValueError):
        other.send_dtmf("X")


async def test_srtp_on_both_ends(make_endpoint, clock):
    offer = crypto_offer()
    answer, answerer = answer_crypto([attribute.line for attribute in offer])
    offerer = params_from_answer(offer, answer.line)
    a, b, wire_a, wire_b = await connected_pair(
        make_endpoint, a={"srtp": offerer}, b={"srtp": answerer}
    )
    a.source = PcmSource(tone(1000, 1))
    heard = Heard(b)
    a.send_dtmf("9", 40)
    digits = []
    b.on_dtmf = digits.append
    await run(clock, 40, a, b, wire_a, wire_b)
    assert [event.digit for event in digits] == ["9"]
    assert dominant_frequency(heard.audible) == pytest.approx(1000, abs=15)
    assert a.srtp_rejected == b.srtp_rejected == 0


async def test_srtp_tampered_packet_rejected(make_endpoint, open_phone, clock):
    offer = crypto_offer(["AES_CM_128_HMAC_SHA1_80"])
    answer, answerer = answer_crypto([offer[0].line])
    middle = await open_phone()
    a, b = make_endpoint(), make_endpoint()
    a.start(middle.address, Pcmu(), srtp=params_from_answer(offer, answer.line))
    b.start(middle.address, Pcmu(), srtp=answerer)
    wire = Wire(b)
    a.source = PcmSource(tone(1000, 1))
    clock.now += 0.02
    a.tick(clock.now)
    protected, _ = await middle.receive()
    assert len(protected) == 12 + 160 + 10  # RFC 3711: the 80-bit tag follows the payload
    plain_payload = Pcmu().encode(tone(1000, 1)[:160])
    assert protected[12:172] != plain_payload  # encrypted on the wire

    tampered = bytearray(protected)
    tampered[40] ^= 0x10
    middle.send(bytes(tampered), LOCALHOST, b.local_port)
    middle.send(protected, LOCALHOST, b.local_port)
    await wire.wait_for(1)
    assert b.srtp_rejected == 1 and b.rtp_stats.dropped_invalid == 1
    assert wire.packets[0].payload == plain_payload


async def test_rtcp_sender_reports_and_bye(make_endpoint, clock):
    def wallclock() -> float:
        return 1.7e9 + clock.now

    a = make_endpoint(rtcp_interval=1.0, wallclock=wallclock)
    b = make_endpoint(rtcp_interval=1.0, wallclock=wallclock)
    a.start((LOCALHOST, b.local_port), Pcmu())
    b.start((LOCALHOST, a.local_port), Pcmu())
    wire_a, wire_b = Wire(a), Wire(b)
    reports: asyncio.Queue[RtcpCompound] = asyncio.Queue()
    b.on_rtcp = reports.put_nowait
    await run(clock, 150, a, b, wire_a, wire_b)  # 3 s: at least two reports each way

    first = await asyncio.wait_for(reports.get(), TIMEOUT)
    (report,) = first.reports
    assert report.ssrc == a.ssrc and report.sender is not None
    assert 0 < report.sender.packet_count <= a.packets_sent
    assert report.sender.octet_count == 160 * report.sender.packet_count
    assert first.cnames == {a.ssrc: a.cname}
    (block,) = report.blocks
    assert block.ssrc == b.ssrc and block.cumulative_lost == 0 and block.fraction_lost == 0
    # A has heard B's reports about it, carrying LSR/DLSR of A's SRs: RTT on loopback ~ 0.
    assert a.rtcp_stats.packets >= 2
    assert a.round_trip_time is not None and 0 <= a.round_trip_time < 0.05

    a.close()
    while True:
        compound = await asyncio.wait_for(reports.get(), TIMEOUT)
        if compound.bye:
            break
    assert compound.bye == (a.ssrc,)


async def test_inactivity_reported_once_and_not_on_hold(make_endpoint, open_phone, clock):
    phone = await open_phone()
    endpoint = make_endpoint(inactivity_timeout=1.0)
    inactive = []
    endpoint.on_inactive = inactive.append
    endpoint.start(phone.address, Pcmu())
    endpoint.set_hold(True)
    clock.now += 5
    endpoint.tick(clock.now)
    assert inactive == []
    endpoint.set_hold(False)  # the timeout restarts from here
    clock.now += 0.5
    endpoint.tick(clock.now)
    assert inactive == []
    clock.now += 0.6
    endpoint.tick(clock.now)
    clock.now += 0.02
    endpoint.tick(clock.now)
    assert inactive == [endpoint]


async def test_remote_port_zero_stops_sending(make_endpoint, open_phone, clock):
    phone = await open_phone()
    endpoint = make_endpoint()
    endpoint.start(phone.address, Pcmu())
    clock.now += 0.02
    endpoint.tick(clock.now)
    first = RtpPacket.parse((await phone.receive())[0])
    endpoint.update_remote((LOCALHOST, 0))  # RFC 3264 §6: stream refused / held
    for _ in range(3):
        clock.now += 0.02
        endpoint.tick(clock.now)
    assert endpoint.packets_sent == 1 and endpoint.remote_rtp is None
    endpoint.update_remote(phone.address)
    clock.now += 0.02
    endpoint.tick(clock.now)
    second = RtpPacket.parse((await phone.receive())[0])
    # No sequence gap (nothing was lost), but the timestamp covers the time that passed.
    assert second.sequence == (first.sequence + 1) % 65536
    assert second.timestamp == (first.timestamp + 4 * 160) % 2**32
    assert endpoint.packets_sent == 2


async def test_junk_is_counted_and_dropped(make_endpoint, open_phone, packets):
    phone = await open_phone()
    endpoint = make_endpoint()
    wire = Wire(endpoint)
    endpoint.start(phone.address, Pcmu())
    for junk in (b"\x00not rtp at all", b"\x80\x00\x00"):  # version 0; too short
        phone.send(junk, LOCALHOST, endpoint.local_port)
    phone.send(bytes(RtpPacket(96, 1, 160, 5, b"?")), LOCALHOST, endpoint.local_port)  # unagreed PT
    phone.send(packets.rtp(2, ssrc=5), LOCALHOST, endpoint.local_port)
    await wire.wait_for(2)
    assert endpoint.rtp_stats.dropped_invalid == 3
    assert endpoint.rtp_stats.packets == 2


class FlakySource:
    """Raises on its first read, then plays a tone: the clock must survive the failure."""

    def __init__(self) -> None:
        self.inner = PcmSource(tone(900, 2))
        self.failed = False

    def read(self, samples: int = FRAME_SAMPLES) -> np.ndarray | None:
        if not self.failed:
            self.failed = True
            raise RuntimeError("decoder blew up")
        return self.inner.read(samples)


async def test_real_clock_survives_a_failing_source(make_endpoint, caplog):
    a = make_endpoint(run_clock=True, clock=time.monotonic)
    b = make_endpoint(run_clock=True, clock=time.monotonic)
    a.source = FlakySource()
    wire = Wire(b)
    a.start((LOCALHOST, b.local_port), Pcmu())
    b.start((LOCALHOST, a.local_port), Pcmu())
    await wire.wait_for(5)
    assert "media tick failed" in caplog.text
    assert [p.marker for p in wire.packets[:2]] == [True, False]
    # The failed tick sent nothing; the stream goes on without a sequence gap.
    assert all((q.sequence - p.sequence) % 65536 == 1 for p, q in itertools.pairwise(wire.packets))
    assert wire.packets[0].payload != Pcmu().encode(silence())
