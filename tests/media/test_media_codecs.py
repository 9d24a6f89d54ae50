"""G.722, Opus, the codec registry and the transcoder, on generated signals."""

from __future__ import annotations

import G722 as libg722  # type: ignore[import-not-found,unused-ignore]
import numpy as np
import numpy.typing as npt
import opuslib  # type: ignore[import-untyped,unused-ignore]
import pytest

from centralita.media import codecs, codecs_g722, codecs_opus
from centralita.media.codecs import (
    G722,
    Codec,
    CodecError,
    Opus,
    Pcma,
    Pcmu,
    Transcoder,
    available_codecs,
    codec_for,
)
from centralita.media.codecs_opus import packet_samples

RATE = 8000
FRAME = 160
SETTLE = 2000  # samples skipped before measuring, past codec start-up and adaptation

Signal = npt.NDArray[np.int16]


def _tone(freq: float, rate: int = RATE, seconds: float = 1.0, dbfs: float = -10) -> Signal:
    peak = 32767 * 10 ** (dbfs / 20)  # 0 dBFS: a full-scale sine
    t = np.arange(int(rate * seconds)) / rate
    return np.rint(peak * np.sin(2 * np.pi * freq * t)).astype(np.int16)


def _level_dbfs(signal: Signal) -> float:
    rms = np.sqrt(np.mean(signal.astype(np.float64) ** 2))
    return float(20 * np.log10(max(rms, 1e-9) / (32767 / np.sqrt(2))))


def _dominant_hz(signal: Signal, rate: int = RATE) -> float:
    x = signal.astype(np.float64)
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.argmax(spectrum) * rate / len(x))


def _frames(signal: Signal, size: int = FRAME) -> list[Signal]:
    return [signal[i : i + size] for i in range(0, len(signal) - size + 1, size)]


def _round_trip(codec: Codec, signal: Signal) -> Signal:
    return np.concatenate([codec.decode(codec.encode(frame)) for frame in _frames(signal)])


def _assert_tone_preserved(decoded: Signal, freq: float, dbfs: float, tolerance_db: float) -> None:
    measured = decoded[SETTLE:]
    assert _dominant_hz(measured) == pytest.approx(freq, abs=2)
    assert _level_dbfs(measured) == pytest.approx(dbfs, abs=tolerance_db)


# --- G.722 ------------------------------------------------------------------------------


def test_g722_frame_sizes_and_rtp_parameters() -> None:
    codec = G722()
    payload = codec.encode(_tone(1000)[:FRAME])
    assert len(payload) == 160  # 64 kbit/s x 20 ms
    assert len(codec.decode(payload)) == FRAME
    # RFC 3551 §4.5.2: 8000 Hz RTP clock for 16 kHz audio.
    assert (codec.clock_rate, codec.sample_rate, codec.payload_type) == (8000, 16000, 9)
    assert codec.timestamp_increment(payload) == 160


@pytest.mark.parametrize("freq", [300, 1000, 3000, 3400])
def test_g722_tone_keeps_frequency_and_level(freq: int) -> None:
    _assert_tone_preserved(_round_trip(G722(), _tone(freq)), freq, -10, tolerance_db=0.5)


def test_g722_noise_round_trip() -> None:
    rng = np.random.default_rng(722)
    noise = np.clip(rng.normal(0, 3277, RATE), -32768, 32767).astype(np.int16)
    decoded = _round_trip(G722(), noise).astype(np.float64)
    error = decoded - noise
    assert 10 * np.log10(np.sum(noise.astype(np.float64) ** 2) / np.sum(error**2)) > 20


def test_g722_silence_stays_silence() -> None:
    decoded = _round_trip(G722(), np.zeros(RATE, dtype=np.int16))
    assert np.abs(decoded).max() <= 4


def test_g722_stream_decodes_in_a_wideband_peer() -> None:
    # Our 8 kHz-side encoder output is plain 64 kbit/s G.722: a full 16 kHz decoder hears the
    # tone at its pitch and level (the QMF does the 8k -> 16k conversion).
    codec = G722()
    stream = b"".join(codec.encode(frame) for frame in _frames(_tone(1000)))
    wideband = np.asarray(libg722.G722(16000, 64000).decode(stream), dtype=np.int16)
    assert len(wideband) == 2 * RATE
    measured = wideband[2 * SETTLE :]
    assert _dominant_hz(measured, 16000) == pytest.approx(1000, abs=2)
    assert _level_dbfs(measured) == pytest.approx(-10, abs=0.5)


def test_g722_wideband_peer_is_heard_at_its_pitch() -> None:
    stream = libg722.G722(16000, 64000).encode(_tone(1000, rate=16000))
    decoded = G722().decode(stream)
    assert len(decoded) == RATE
    _assert_tone_preserved(decoded, 1000, -10, tolerance_db=0.5)


def test_g722_wideband_peer_upper_band_does_not_alias() -> None:
    # A 6 kHz tone lives in G.722's upper sub-band: it must not fold into the 8 kHz engine as
    # 2 kHz (the encoder's QMF band-splits it away, our decoder keeps the lower band only).
    stream = libg722.G722(16000, 64000).encode(_tone(6000, rate=16000))
    assert _level_dbfs(G722().decode(stream)[SETTLE:]) < -70


def test_g722_instances_keep_separate_state() -> None:
    tone, noise = _tone(500), _tone(2500)
    alone = G722()
    expected = [alone.encode(frame) for frame in _frames(tone)[:10]]
    first, second = G722(), G722()
    interleaved = []
    for frame_a, frame_b in zip(_frames(tone)[:10], _frames(noise)[:10], strict=True):
        interleaved.append(first.encode(frame_a))
        second.encode(frame_b)
    assert interleaved == expected


def test_g722_reset_and_fresh_restart_the_state() -> None:
    frame = _tone(700)[:FRAME]
    codec = G722()
    first = codec.encode(frame)
    assert codec.encode(frame) != first
    codec.reset()
    assert codec.encode(frame) == first
    assert codec.fresh().encode(frame) == first


# --- Opus -----------------------------------------------------------------------------------


def test_opus_frame_sizes_and_rtp_parameters() -> None:
    codec = Opus()
    payload = codec.encode(_tone(1000)[:FRAME])
    assert 0 < len(payload) < 160  # variable bit rate, well under G.711's 64 kbit/s
    assert len(codec.decode(payload)) == FRAME
    # RFC 7587 §4.1 and §7: 48000 Hz RTP clock, rtpmap opus/48000/2, dynamic payload type.
    assert (codec.clock_rate, codec.channels, codec.payload_type) == (48000, 2, None)
    assert codec.timestamp_increment(payload) == 960


@pytest.mark.parametrize("freq", [300, 1000, 3000])
def test_opus_tone_keeps_frequency_and_level(freq: int) -> None:
    _assert_tone_preserved(_round_trip(Opus(), _tone(freq)), freq, -10, tolerance_db=1.0)


def test_opus_silence_stays_silence() -> None:
    decoded = _round_trip(Opus(), np.zeros(RATE, dtype=np.int16))
    assert np.abs(decoded).max() <= 4


@pytest.mark.parametrize("samples", [40, 80, 320, 480])
def test_opus_other_frame_durations(samples: int) -> None:
    codec = Opus()
    payload = codec.encode(_tone(1000)[:samples])
    assert codec.timestamp_increment(payload) == samples * 6
    assert len(codec.decode(payload)) == samples


def test_opus_refuses_a_duration_it_cannot_frame() -> None:
    with pytest.raises(CodecError):
        Opus().encode(_tone(1000)[:240])  # 30 ms is no Opus frame size (RFC 6716 §2.1.4)


def test_opus_decodes_a_fullband_stereo_peer_to_8k_mono() -> None:
    encoder = opuslib.Encoder(48000, 2, opuslib.APPLICATION_AUDIO)
    stereo = np.repeat(_tone(440, rate=48000), 2)  # interleaved L/R
    codec = Opus()
    decoded = []
    for start in range(0, len(stereo), 1920):
        packet = encoder.encode(stereo[start : start + 1920].tobytes(), 960)
        assert codec.timestamp_increment(packet) == 960
        decoded.append(codec.decode(packet))
    _assert_tone_preserved(np.concatenate(decoded), 440, -10, tolerance_db=1.0)


@pytest.mark.parametrize(
    ("payload", "samples"),
    [
        (bytes([1 << 3]), 960),  # config 1: SILK NB 20 ms, code 0 (one frame)
        (bytes([3 << 3 | 1, 0, 0]), 2 * 2880),  # SILK 60 ms, code 1 (two equal frames)
        (bytes([0 << 3 | 3, 3]), 3 * 480),  # SILK 10 ms, code 3 with three frames
        (bytes([13 << 3 | 2, 0]), 2 * 960),  # hybrid 20 ms, code 2
        (bytes([16 << 3]), 120),  # CELT 2.5 ms
        (bytes([29 << 3 | 3, 0x80 | 24]), 24 * 240),  # CELT 5 ms x 24 (VBR flag): 120 ms
    ],
)
def test_opus_packet_durations_from_the_toc(payload: bytes, samples: int) -> None:
    assert packet_samples(payload) == samples


@pytest.mark.parametrize(
    "payload",
    [b"", bytes([3]), bytes([3, 0]), bytes([3 << 3 | 3, 3])],
    ids=["empty", "code3-no-count", "zero-frames", "180ms"],
)
def test_opus_invalid_packets_are_refused(payload: bytes) -> None:
    with pytest.raises(CodecError):
        packet_samples(payload)
    with pytest.raises(CodecError):
        Opus().decode(payload)


# --- registry ---------------------------------------------------------------------------


def test_available_codecs_here() -> None:
    assert available_codecs() == ["PCMU", "PCMA", "G722", "opus"]


@pytest.mark.parametrize(
    ("sdp_name", "expected"),
    [
        ("PCMU", Pcmu),
        ("pcmu/8000", Pcmu),
        ("PCMA/8000", Pcma),
        ("g722/8000", G722),
        ("opus/48000/2", Opus),
        ("OPUS", Opus),
    ],
)
def test_codec_for_maps_rtpmap_names(sdp_name: str, expected: type) -> None:
    assert isinstance(codec_for(sdp_name), expected)


@pytest.mark.parametrize("sdp_name", ["G722/16000", "PCMU/16000", "speex/8000", "", "opus/x"])
def test_codec_for_unknown_formats_is_none(sdp_name: str) -> None:
    assert codec_for(sdp_name) is None


def test_codec_for_gives_a_new_instance_each_time() -> None:
    assert codec_for("G722") is not codec_for("G722")


def test_without_the_g722_package_g722_is_not_offered(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(codecs_g722, "_LibG722", None)
    codecs.available_codecs.cache_clear()
    try:
        assert "G722" not in available_codecs()
        assert codec_for("G722/8000") is None
        with pytest.raises(CodecError):
            G722()
    finally:
        monkeypatch.undo()
        codecs.available_codecs.cache_clear()
    assert "G722" in available_codecs()


def test_without_libopus_opus_is_not_offered(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(codecs_opus, "_opuslib", None)
    codecs.available_codecs.cache_clear()
    try:
        assert available_codecs() == ["PCMU", "PCMA", "G722"]
        assert codec_for("opus/48000/2") is None
        with pytest.raises(CodecError):
            Opus()
    finally:
        monkeypatch.undo()
        codecs.available_codecs.cache_clear()
    assert "opus" in available_codecs()


# --- transcoder ------------------------------------------------------------------------------


def test_same_codec_passes_through_untouched() -> None:
    transcoder = Transcoder(Pcmu(), codec_for("pcmu/8000") or Pcma())
    payload = bytes(range(160))
    assert transcoder.passthrough
    assert transcoder.convert(payload) is payload


def test_pcmu_to_pcma_equals_decoding_and_encoding() -> None:
    tone = _tone(1000)[:FRAME]
    ulaw = Pcmu().encode(tone)
    assert Transcoder(Pcmu(), Pcma()).convert(ulaw) == Pcma().encode(Pcmu().decode(ulaw))
    alaw = Pcma().encode(tone)
    assert Transcoder(Pcma(), Pcmu()).convert(alaw) == Pcmu().encode(Pcma().decode(alaw))


@pytest.mark.parametrize(
    ("src", "dst"),
    [(Pcmu, G722), (G722, Pcmu), (Pcma, Opus), (Opus, Pcmu), (G722, Opus)],
    ids=lambda cls: cls.__name__,
)
def test_transcoding_keeps_a_tone(src: type, dst: type) -> None:
    source, sink = src(), dst()
    forward = Transcoder(source, sink)
    decoded = []
    for frame in _frames(_tone(1000)):
        payload = source.encode(frame)
        converted = forward.convert(payload)
        assert forward.timestamp_increment(payload) == sink.timestamp_increment(converted)
        decoded.append(sink.decode(converted))
    _assert_tone_preserved(np.concatenate(decoded), 1000, -10, tolerance_db=1.0)


def test_transcoder_state_belongs_to_its_direction() -> None:
    shared = G722()
    forward, backward = Transcoder(Pcmu(), shared), Transcoder(shared, Pcmu())
    assert forward.dst is not shared and backward.src is not shared
    frames = [Pcmu().encode(frame) for frame in _frames(_tone(800))[:5]]
    expected = [Transcoder(Pcmu(), G722()).convert(frames[0])]
    assert forward.convert(frames[0]) == expected[0]
    # Traffic the other way (and on the shared instance) leaves this direction alone.
    backward.convert(shared.encode(_tone(2000)[:FRAME]))
    fresh = Transcoder(Pcmu(), G722())
    fresh.convert(frames[0])
    assert forward.convert(frames[1]) == fresh.convert(frames[1])


def test_transcoder_refuses_an_undecodable_payload() -> None:
    with pytest.raises(CodecError):
        Transcoder(Opus(), Pcmu()).convert(b"")


def test_opus_complexity_is_kept_by_fresh_instances() -> None:
    codec = Opus(complexity=5)
    assert codec.fresh().complexity == 5
    assert Transcoder(Pcmu(), codec).dst.complexity == 5  # type: ignore[attr-defined]
    _assert_tone_preserved(_round_trip(codec, _tone(1000)), 1000, -10, tolerance_db=1.0)
    with pytest.raises(ValueError):
        Opus(complexity=11)
