"""G.711 µ-law / A-law tables checked against the ITU-T G.711 definition."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from centralita.media.codecs import CodecError, Pcma, Pcmu
from centralita.media.codecs_g711 import (
    ALAW_DECODE,
    ALAW_ENCODE,
    ULAW_DECODE,
    ULAW_ENCODE,
    alaw_to_ulaw_table,
    ulaw_to_alaw_table,
)

RATE = 8000
ALL_SAMPLES = np.arange(-32768, 32768, dtype=np.int64)


def _tone(freq: float, dbfs: float, samples: int = RATE) -> npt.NDArray[np.int16]:
    peak = 32767 * 10 ** (dbfs / 20)  # 0 dBFS: a full-scale sine
    t = np.arange(samples) / RATE
    return np.rint(peak * np.sin(2 * np.pi * freq * t)).astype(np.int16)


def _snr_db(reference: npt.NDArray[np.int16], decoded: npt.NDArray[np.int16]) -> float:
    ref = reference.astype(np.float64)
    noise = decoded.astype(np.float64) - ref
    return float(10 * np.log10(np.sum(ref**2) / np.sum(noise**2)))


def _positive_codes_ulaw() -> list[int]:
    """µ-law codes of positive values, from smallest to largest (segment 0 step 0 first)."""
    return [~((segment << 4) | step) & 0xFF for segment in range(8) for step in range(16)]


def _positive_codes_alaw() -> list[int]:
    return [(0x80 | (segment << 4) | step) ^ 0x55 for segment in range(8) for step in range(16)]


# --- known vectors ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sample", "code"),
    [(0, 0xFF), (-1, 0x7F), (4, 0xFE), (3, 0xFF), (32767, 0x80), (-32768, 0x00), (-32124, 0x00)],
)
def test_ulaw_encode_known_vectors(sample: int, code: int) -> None:
    assert Pcmu().encode(np.array([sample], dtype=np.int16)) == bytes([code])


@pytest.mark.parametrize(
    ("sample", "code"),
    [(0, 0xD5), (7, 0xD5), (-1, 0x55), (-8, 0x55), (16, 0xD4), (32767, 0xAA), (-32768, 0x2A)],
)
def test_alaw_encode_known_vectors(sample: int, code: int) -> None:
    assert Pcma().encode(np.array([sample], dtype=np.int16)) == bytes([code])


def test_ulaw_decode_matches_g711_table_2a() -> None:
    # G.711 Table 2a, decoder output of the first step of each segment (14-bit units x 4):
    # 0, 33, 99, 231, 495, 1023, 2079, 4191, and the full-scale value 8031.
    first_of_segment = [0, 33, 99, 231, 495, 1023, 2079, 4191]
    for segment, value in enumerate(first_of_segment):
        assert ULAW_DECODE[~(segment << 4) & 0xFF] == value * 4
        assert ULAW_DECODE[~(0x80 | segment << 4) & 0xFF] == -value * 4
    assert ULAW_DECODE[0x80] == 8031 * 4
    assert ULAW_DECODE[0x00] == -8031 * 4
    assert ULAW_DECODE[0xFE] == 2 * 4  # segment 0, step 1


def test_alaw_decode_matches_g711_table_1a() -> None:
    # G.711 Table 1a, decoder output of the first step of each segment (13-bit units x 8):
    # 1, 33, 66, 132, 264, 528, 1056, 2112, and the full-scale value 4032.
    first_of_segment = [1, 33, 66, 132, 264, 528, 1056, 2112]
    for segment, value in enumerate(first_of_segment):
        assert ALAW_DECODE[(0x80 | segment << 4) ^ 0x55] == value * 8
        assert ALAW_DECODE[(segment << 4) ^ 0x55] == -value * 8
    assert ALAW_DECODE[0xAA] == 4032 * 8
    assert ALAW_DECODE[0x2A] == -4032 * 8


# --- whole-table properties --------------------------------------------------------------


def test_tables_have_the_right_shape_and_are_read_only() -> None:
    assert ULAW_ENCODE.shape == ALAW_ENCODE.shape == (65536,)
    assert ULAW_DECODE.shape == ALAW_DECODE.shape == (256,)
    assert ULAW_ENCODE.dtype == ALAW_ENCODE.dtype == np.uint8
    assert ULAW_DECODE.dtype == ALAW_DECODE.dtype == np.int16
    with pytest.raises(ValueError):
        ULAW_ENCODE[0] = 0


def test_ulaw_decode_table_levels() -> None:
    # 255 distinct levels (+0 and -0 both decode to 0), odd-symmetric about the sign bit.
    assert len(set(ULAW_DECODE.tolist())) == 255
    codes = np.arange(256)
    assert np.array_equal(ULAW_DECODE[codes], -ULAW_DECODE[codes ^ 0x80])
    levels = ULAW_DECODE[_positive_codes_ulaw()].astype(np.int64)
    steps = np.diff(levels).reshape(-1)
    assert np.all(steps > 0)
    # Within segment s the step is 2^(s+1) in 14-bit units (x4 here): it doubles per segment.
    for segment in range(8):
        inner = np.diff(levels[segment * 16 : segment * 16 + 16])
        assert np.all(inner == 8 << segment)


def test_alaw_decode_table_levels() -> None:
    # 256 distinct levels (A-law has no zero level), odd-symmetric about the sign bit.
    assert len(set(ALAW_DECODE.tolist())) == 256
    codes = np.arange(256)
    assert np.array_equal(ALAW_DECODE[codes], -ALAW_DECODE[codes ^ 0x80])
    levels = ALAW_DECODE[_positive_codes_alaw()].astype(np.int64)
    assert np.all(np.diff(levels) > 0)
    # Segments 0 and 1 share step 2 (13-bit units, x8 here); then the step doubles.
    for segment in range(8):
        inner = np.diff(levels[segment * 16 : segment * 16 + 16])
        assert np.all(inner == 16 << max(segment - 1, 0))


@pytest.mark.parametrize(
    ("encode", "decode", "top"),
    [(ULAW_ENCODE, ULAW_DECODE, 8159 * 4), (ALAW_ENCODE, ALAW_DECODE, 4095 * 8)],
    ids=["ulaw", "alaw"],
)
def test_every_sample_is_within_half_a_step(
    encode: npt.NDArray[np.uint8], decode: npt.NDArray[np.int16], top: int
) -> None:
    codes = encode[ALL_SAMPLES.astype(np.int16).view(np.uint16)]
    decoded = decode[codes].astype(np.int64)
    # Quantisation is monotonic: a larger input never decodes to a smaller level.
    assert np.all(np.diff(decoded) >= 0)
    in_range = np.abs(ALL_SAMPLES) <= top
    levels = np.sort(np.unique(decode.astype(np.int64)))
    index = np.searchsorted(levels, decoded)
    upper = levels[np.minimum(index + 1, len(levels) - 1)]
    lower = levels[np.maximum(index - 1, 0)]
    half_step = np.maximum(upper - decoded, decoded - lower) / 2
    error = np.abs(ALL_SAMPLES - decoded)
    assert np.all(error[in_range] <= half_step[in_range])


def test_each_code_survives_decode_and_encode() -> None:
    codes = np.arange(256, dtype=np.uint8)
    ulaw_again = ULAW_ENCODE[ULAW_DECODE.view(np.uint16)]
    # Only µ-law's negative zero (0x7F) comes back as the positive zero (0xFF).
    assert np.flatnonzero(ulaw_again != codes).tolist() == [0x7F]
    assert ulaw_again[0x7F] == 0xFF
    assert np.array_equal(ALAW_ENCODE[ALAW_DECODE.view(np.uint16)], codes)


def test_direct_law_conversion_maps_go_through_linear() -> None:
    codes = np.arange(256, dtype=np.uint8)
    assert np.array_equal(ulaw_to_alaw_table(), ALAW_ENCODE[ULAW_DECODE[codes].view(np.uint16)])
    assert np.array_equal(alaw_to_ulaw_table(), ULAW_ENCODE[ALAW_DECODE[codes].view(np.uint16)])
    # A-law -> µ-law -> A-law is transparent for all but the smallest levels.
    round_trip = ulaw_to_alaw_table()[alaw_to_ulaw_table()]
    assert np.count_nonzero(round_trip != codes) <= 16


# --- the codec objects --------------------------------------------------------------------


@pytest.mark.parametrize("codec", [Pcmu(), Pcma()], ids=["PCMU", "PCMA"])
def test_frame_sizes_and_rtp_parameters(codec: Pcmu | Pcma) -> None:
    payload = codec.encode(_tone(1000, -10, 160))
    assert len(payload) == 160  # RFC 3551 §4.5.14: one octet per sample
    decoded = codec.decode(payload)
    assert decoded.dtype == np.int16
    assert len(decoded) == 160
    assert codec.timestamp_increment(payload) == 160
    assert codec.clock_rate == codec.sample_rate == 8000
    assert codec.payload_type == {"PCMU": 0, "PCMA": 8}[codec.name]


@pytest.mark.parametrize("codec", [Pcmu(), Pcma()], ids=["PCMU", "PCMA"])
@pytest.mark.parametrize("freq", [300, 1004, 3000])
def test_tone_round_trip_snr(codec: Pcmu | Pcma, freq: int) -> None:
    tone = _tone(freq, -10)
    assert _snr_db(tone, codec.decode(codec.encode(tone))) > 30


@pytest.mark.parametrize("codec", [Pcmu(), Pcma()], ids=["PCMU", "PCMA"])
def test_noise_round_trip_snr(codec: Pcmu | Pcma) -> None:
    rng = np.random.default_rng(711)
    noise = np.clip(rng.normal(0, 3277, RATE), -32768, 32767).astype(np.int16)  # -20 dBFS
    assert _snr_db(noise, codec.decode(codec.encode(noise))) > 30


def test_silence_stays_silence() -> None:
    silence = np.zeros(160, dtype=np.int16)
    assert Pcmu().encode(silence) == b"\xff" * 160
    assert not Pcmu().decode(b"\xff" * 160).any()
    assert Pcma().encode(silence) == b"\xd5" * 160
    # A-law has no zero level: silence decodes to its smallest level, 8 (below -72 dBFS).
    assert np.all(Pcma().decode(b"\xd5" * 160) == 8)


def test_non_int16_or_non_mono_input_is_refused() -> None:
    with pytest.raises(CodecError):
        Pcmu().encode(np.zeros(160, dtype=np.float64))
    with pytest.raises(CodecError):
        Pcma().encode(np.zeros((160, 2), dtype=np.int16))
