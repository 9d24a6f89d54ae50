"""RtpRewriter and PlanRuntime on packets, without sockets (RFC 3550 §5.1 header layout)."""

from __future__ import annotations

import itertools

import numpy as np

from centralita.media.codecs import Pcma, Pcmu
from centralita.media.srtp import SrtpContext, SrtpParams, generate_key
from centralita.media.transform import (
    DirectionPlan,
    DirectionTransform,
    MediaPlan,
    PayloadRoute,
    PlanRuntime,
    RtpRewriter,
)

PCMU_TO_PCMA = PayloadRoute(8, transcode=("PCMU/8000", "PCMA/8000"))


def rtp(
    pt: int,
    seq: int,
    timestamp: int,
    payload: bytes,
    *,
    ssrc: int = 0xCAFE,
    marker: bool = False,
    csrcs: tuple[int, ...] = (),
    extension: bytes | None = None,
    padding: int = 0,
) -> bytes:
    first = 0x80 | len(csrcs) | (0x10 if extension is not None else 0) | (0x20 if padding else 0)
    header = bytes([first, (0x80 if marker else 0) | pt]) + seq.to_bytes(2, "big")
    header += timestamp.to_bytes(4, "big") + ssrc.to_bytes(4, "big")
    header += b"".join(c.to_bytes(4, "big") for c in csrcs)
    if extension is not None:
        header += b"\xbe\xde" + (len(extension) // 4).to_bytes(2, "big") + extension
    pad = bytes(padding - 1) + bytes([padding]) if padding else b""
    return header + payload + pad


def tone(samples: int = 160, freq: float = 440.0) -> np.ndarray:
    t = np.arange(samples) / 8000
    return (8000 * np.sin(2 * np.pi * freq * t)).astype(np.int16)


def test_transcoded_packet_keeps_sequence_ssrc_marker_and_timestamp() -> None:
    rewriter = RtpRewriter(DirectionPlan.of({0: PCMU_TO_PCMA}))
    payload = Pcmu().encode(tone())
    out = rewriter.rewrite(rtp(0, 7, 123_456, payload, marker=True))
    assert out is not None
    assert out[:12] == rtp(8, 7, 123_456, b"", marker=True)
    assert out[12:] == Pcma().encode(Pcmu().decode(payload))


def test_csrcs_and_header_extension_kept_padding_removed() -> None:
    rewriter = RtpRewriter(DirectionPlan.of({0: PCMU_TO_PCMA}))
    payload = Pcmu().encode(tone(80))
    packet = rtp(0, 1, 80, payload, csrcs=(5, 6), extension=b"\x10\xaa\x00\x00", padding=4)
    out = rewriter.rewrite(packet)
    assert out is not None
    expected_header = rtp(8, 1, 80, b"", csrcs=(5, 6), extension=b"\x10\xaa\x00\x00")
    assert out[: len(expected_header)] == expected_header  # P bit cleared, rest as sent
    assert out[len(expected_header) :] == Pcma().encode(Pcmu().decode(payload))


def test_payload_types_the_other_leg_did_not_agree_to_are_dropped() -> None:
    rewriter = RtpRewriter(DirectionPlan.of({0: PCMU_TO_PCMA}))
    assert rewriter.rewrite(rtp(13, 1, 160, b"\x40")) is None  # comfort noise, not agreed
    assert rewriter.rewrite(rtp(0, 1, 160, b"")[:11]) is None  # truncated header
    assert rewriter.rewrite(rtp(0, 2, 160, b"\xff" * 160)) is not None


def test_identical_route_among_transcoded_ones_passes_the_very_packet() -> None:
    plan = DirectionPlan.of(
        {0: PayloadRoute(0), 9: PayloadRoute(0, transcode=("G722/8000", "PCMU/8000"))}
    )
    packet = rtp(0, 1, 160, b"\xff" * 160)
    assert RtpRewriter(plan).rewrite(packet) is packet


def test_telephone_event_mapped_and_rescaled_to_another_clock() -> None:
    event = PayloadRoute(110, 8000, 48000, event=True)
    rewriter = RtpRewriter(DirectionPlan.of({101: event}))
    # RFC 4733 §2.3: event 5, E bit clear, volume 10, duration 400 (timestamp units).
    first = rewriter.rewrite(rtp(101, 1, 1000, bytes([5, 10]) + (400).to_bytes(2, "big")))
    later = rewriter.rewrite(rtp(101, 2, 1000, bytes([5, 0x8A]) + (800).to_bytes(2, "big")))
    assert first is not None and later is not None
    assert first[1] & 0x7F == 110 and first[12:] == bytes([5, 10]) + (2400).to_bytes(2, "big")
    assert later[12:] == bytes([5, 0x8A]) + (4800).to_bytes(2, "big")
    assert first[4:8] == later[4:8]  # one event, one timestamp


def test_timestamps_stay_continuous_in_the_destination_clock() -> None:
    route = PayloadRoute(111, 8000, 48000, ("PCMU/8000", "opus/48000/2"))
    rewriter = RtpRewriter(DirectionPlan.of({0: route}))
    start = 0xFFFF_FF00  # wraps within the stream
    stamps = []
    for n in range(4):
        out = rewriter.rewrite(rtp(0, n, (start + 160 * n) & 0xFFFFFFFF, Pcmu().encode(tone())))
        assert out is not None and out[1] & 0x7F == 111
        stamps.append(int.from_bytes(out[4:8], "big"))
    steps = [(b - a) & 0xFFFFFFFF for a, b in itertools.pairwise(stamps)]
    assert steps == [960, 960, 960]  # 20 ms at 48 kHz (RFC 7587 §4.1)


def test_unchanged_plan_keeps_running_srtp_context_and_codec_state() -> None:
    params = SrtpParams("AES_CM_128_HMAC_SHA1_80", generate_key(), generate_key())
    plan = MediaPlan(srtp_a=params, a_to_b=DirectionPlan.of({0: PCMU_TO_PCMA}))
    runtime = PlanRuntime()
    runtime.update(plan)
    first = runtime.a_to_b
    runtime.update(MediaPlan(srtp_a=params, a_to_b=DirectionPlan.of({0: PCMU_TO_PCMA})))
    assert runtime.a_to_b is first and first is not None and first.rewriter is not None
    assert runtime.b_to_a is not None and runtime.b_to_a.protect is first.unprotect
    runtime.update(MediaPlan(srtp_a=params))
    assert runtime.a_to_b is not None and runtime.a_to_b.rewriter is None
    assert runtime.a_to_b.unprotect is first.unprotect  # same keys: same context


def test_identity_plans_are_pass_through() -> None:
    identity = DirectionPlan.of({0: PayloadRoute(0), 101: PayloadRoute(101, event=True)})
    assert MediaPlan(a_to_b=identity, b_to_a=identity).is_passthrough
    assert not MediaPlan(a_to_b=DirectionPlan.of({0: PCMU_TO_PCMA})).is_passthrough


def test_tap_sees_the_clear_packet_before_transcoding_and_not_a_rejected_one() -> None:
    key_in, key_out = generate_key(), generate_key()
    ours = SrtpParams("AES_CM_128_HMAC_SHA1_80", key_in, key_out)
    phone = SrtpContext(SrtpParams("AES_CM_128_HMAC_SHA1_80", key_out, key_in))
    direction = DirectionTransform(
        unprotect=SrtpContext(ours), rewriter=RtpRewriter(DirectionPlan.of({0: PCMU_TO_PCMA}))
    )
    seen: list[bytes] = []
    clear = rtp(0, 1, 160, Pcmu().encode(tone()))
    out = direction.rtp(phone.protect(clear), seen.append)
    assert seen == [clear]
    assert out is not None and out[1] == 8  # transcoded after the tap saw it
    tampered = bytearray(phone.protect(rtp(0, 2, 320, Pcmu().encode(tone()))))
    tampered[-1] ^= 1  # RFC 3711 §3.3: fails authentication
    assert direction.rtp(bytes(tampered), seen.append) is None
    assert seen == [clear] and direction.dropped_srtp == 1
