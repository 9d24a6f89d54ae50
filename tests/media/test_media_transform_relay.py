"""The relay transcoding and terminating SRTP over real UDP sockets on loopback.

Every wait is on a packet arriving; a drop is shown by a valid packet sent after the dropped
one arriving first (the relay handles one socket's packets in order).
"""

from __future__ import annotations

import numpy as np
import pytest

from centralita.media import MediaRelay, RtpPortPool
from centralita.media.codecs import G722, Codec, Pcmu
from centralita.media.srtp import SrtpContext, SrtpParams, generate_key
from centralita.media.transform import DirectionPlan, MediaPlan, PayloadRoute

LOCALHOST = "127.0.0.1"
FRAMES = 25  # half a second of 20 ms packets
PCMU_TO_G722 = DirectionPlan.of(
    {
        0: PayloadRoute(9, transcode=("PCMU/8000", "G722/8000")),
        101: PayloadRoute(96, event=True),
    }
)
G722_TO_PCMU = DirectionPlan.of(
    {
        9: PayloadRoute(0, transcode=("G722/8000", "PCMU/8000")),
        96: PayloadRoute(101, event=True),
    }
)


@pytest.fixture
async def relay(port_range, clock):
    low, high = port_range(4)
    media = MediaRelay(RtpPortPool(low, high, host=LOCALHOST), clock=clock)
    yield media
    media.close()


async def call(relay, open_phone, plan):
    session = relay.create_session()
    caller, callee = await open_phone(), await open_phone()
    session.endpoint_a.set_remote(caller.address)
    session.endpoint_b.set_remote(callee.address)
    session.set_media_plan(plan)
    return session, caller, callee


def rtp(
    pt: int, seq: int, timestamp: int, payload: bytes, ssrc: int, marker: bool = False
) -> bytes:
    header = bytes([0x80, (0x80 if marker else 0) | pt]) + seq.to_bytes(2, "big")
    return header + timestamp.to_bytes(4, "big") + ssrc.to_bytes(4, "big") + payload


def dominant_frequency(pcm: np.ndarray, rate: int = 8000) -> float:
    spectrum = np.abs(np.fft.rfft(pcm.astype(np.float64) * np.hanning(len(pcm))))
    return float(np.argmax(spectrum) * rate / len(pcm))


def tone_frames(freq: float) -> list[np.ndarray]:
    t = np.arange(FRAMES * 160) / 8000
    signal = (9000 * np.sin(2 * np.pi * freq * t)).astype(np.int16)
    return [signal[i * 160 : (i + 1) * 160] for i in range(FRAMES)]


async def send_tone(sender, receiver, port, encoder: Codec, decoder: Codec, pt, freq, ssrc):
    """Send a tone packet by packet; return what arrived (headers, decoded audio)."""
    headers, decoded = [], []
    for seq, frame in enumerate(tone_frames(freq)):
        sender.send(rtp(pt, 1000 + seq, 160 * seq, encoder.encode(frame), ssrc), LOCALHOST, port)
        data, _ = await receiver.receive()
        headers.append(data[:12])
        decoded.append(decoder.decode(data[12:]))
    return headers, np.concatenate(decoded)


async def test_pcmu_caller_and_g722_callee_hear_each_others_tones(relay, open_phone) -> None:
    session, caller, callee = await call(
        relay, open_phone, MediaPlan(None, None, PCMU_TO_G722, G722_TO_PCMU)
    )
    a, b = session.endpoint_a, session.endpoint_b

    headers, heard = await send_tone(caller, callee, a.local_port, Pcmu(), G722(), 0, 1000.0, 0xA)
    assert {h[1] & 0x7F for h in headers} == {9}
    assert [int.from_bytes(h[2:4], "big") for h in headers] == list(range(1000, 1000 + FRAMES))
    assert {h[8:12] for h in headers} == {(0xA).to_bytes(4, "big")}  # SSRC kept
    assert [int.from_bytes(h[4:8], "big") for h in headers][:3] == [0, 160, 320]
    assert abs(dominant_frequency(heard[800:]) - 1000.0) < 20  # after G.722's start-up

    headers, heard = await send_tone(callee, caller, b.local_port, G722(), Pcmu(), 9, 600.0, 0xB)
    assert {h[1] & 0x7F for h in headers} == {0}
    assert abs(dominant_frequency(heard[800:]) - 600.0) < 20
    transforms = session.transforms
    assert all(t is not None and t.dropped_payload == 0 for t in transforms)


async def test_telephone_event_passes_with_the_mapped_payload_type(relay, open_phone) -> None:
    session, caller, callee = await call(
        relay, open_phone, MediaPlan(None, None, PCMU_TO_G722, G722_TO_PCMU)
    )
    event = bytes([1, 10, 0, 160])  # RFC 4733 §2.3: digit 1, volume 10, duration 160
    caller.send(rtp(101, 5, 800, event, 0xA, marker=True), LOCALHOST, session.endpoint_a.local_port)
    data, _ = await callee.receive()
    assert data == rtp(96, 5, 800, event, 0xA, marker=True)
    callee.send(rtp(96, 9, 4000, event, 0xB), LOCALHOST, session.endpoint_b.local_port)
    data, _ = await caller.receive()
    assert data == rtp(101, 9, 4000, event, 0xB)


def srtp_leg() -> tuple[SrtpParams, SrtpContext]:
    """Our params on a leg and the phone's own context (its keys the other way round)."""
    ours, theirs = generate_key(), generate_key()
    params = SrtpParams("AES_CM_128_HMAC_SHA1_80", ours, theirs)
    return params, SrtpContext(SrtpParams(params.suite, theirs, ours))


async def test_srtp_on_the_caller_leg_only(relay, open_phone, packets) -> None:
    params, phone = srtp_leg()
    session, caller, callee = await call(relay, open_phone, MediaPlan(srtp_a=params))
    a, b = session.endpoint_a, session.endpoint_b

    caller.send(phone.protect(packets.rtp(1)), LOCALHOST, a.local_port)
    data, _ = await callee.receive()
    assert data == packets.rtp(1)  # unprotected by us, forwarded plain

    callee.send(packets.rtp(2, ssrc=7), LOCALHOST, b.local_port)
    data, _ = await caller.receive()
    assert data != packets.rtp(2, ssrc=7)
    assert phone.unprotect(data) == packets.rtp(2, ssrc=7)


async def test_tampered_or_replayed_srtp_is_dropped(relay, open_phone, packets) -> None:
    params, phone = srtp_leg()
    session, caller, callee = await call(relay, open_phone, MediaPlan(srtp_a=params))
    port = session.endpoint_a.local_port
    good = phone.protect(packets.rtp(1))
    tampered = bytearray(phone.protect(packets.rtp(2)))
    tampered[20] ^= 0x01
    caller.send(good, LOCALHOST, port)
    caller.send(bytes(tampered), LOCALHOST, port)
    caller.send(good, LOCALHOST, port)  # a replay (RFC 3711 §3.3.2)
    caller.send(phone.protect(packets.rtp(3)), LOCALHOST, port)
    first, _ = await callee.receive()
    second, _ = await callee.receive()
    assert (first, second) == (packets.rtp(1), packets.rtp(3))
    transform = session.transforms[0]
    assert transform is not None and transform.dropped_srtp == 2


async def test_srtcp_unprotected_towards_a_plain_leg(relay, open_phone, packets) -> None:
    params, phone = srtp_leg()
    session = relay.create_session()
    caller_rtp, caller_rtcp = await open_phone(), await open_phone()
    callee_rtp, callee_rtcp = await open_phone(), await open_phone()
    session.endpoint_a.set_remote(caller_rtp.address, caller_rtcp.address)
    session.endpoint_b.set_remote(callee_rtp.address, callee_rtcp.address)
    session.set_media_plan(MediaPlan(srtp_a=params))
    caller_rtcp.send(
        phone.protect_rtcp(packets.rtcp_rr(3)), LOCALHOST, session.endpoint_a.local_rtcp_port
    )
    data, _ = await callee_rtcp.receive()
    assert data == packets.rtcp_rr(3)
    callee_rtcp.send(packets.rtcp_rr(4), LOCALHOST, session.endpoint_b.local_rtcp_port)
    data, _ = await caller_rtcp.receive()
    assert phone.unprotect_rtcp(data) == packets.rtcp_rr(4)


async def test_srtp_and_transcoding_together_then_back_to_pass_through(relay, open_phone) -> None:
    params, phone = srtp_leg()
    plan = MediaPlan(params, None, PCMU_TO_G722, G722_TO_PCMU)
    session, caller, callee = await call(relay, open_phone, plan)
    frame = tone_frames(1000.0)[0]
    caller.send(
        phone.protect(rtp(0, 1, 0, Pcmu().encode(frame), 1)),
        LOCALHOST,
        session.endpoint_a.local_port,
    )
    data, _ = await callee.receive()
    assert data[1] == 9 and len(data) == 12 + 160  # 20 ms of G.722 at 64 kbit/s

    session.set_media_plan(None)
    assert session.transforms == (None, None) and session.media_plan is None
    plain = rtp(0, 2, 160, Pcmu().encode(frame), 1)
    caller.send(plain, LOCALHOST, session.endpoint_a.local_port)
    data, _ = await callee.receive()
    assert data == plain
