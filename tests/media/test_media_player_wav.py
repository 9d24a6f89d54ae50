"""WAV reading of every common format and rate: pitch and level survive the conversion to
8 kHz; bad files give a MediaFileError with the reason; conversions are cached."""

from __future__ import annotations

import math
import os
import struct
import wave
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from centralita.media.audio import SAMPLE_RATE, resample
from centralita.media.player import WavFile
from centralita.media.wavfile import (
    MediaFileError,
    cache_conversions,
    load_wav,
    resample_long,
    write_wav,
)

TONE_HZ = 1000.0
TONE_LEVEL = 0.5  # peak, full scale 1.0
SUBTYPE_TAIL = bytes.fromhex("000000001000800000aa00389b71")


def tone(rate: int, seconds: float = 1.0, freq: float = TONE_HZ) -> npt.NDArray[np.float64]:
    t = np.arange(round(rate * seconds)) / rate
    return TONE_LEVEL * np.sin(2 * math.pi * freq * t)


def riff(fmt: bytes, data: bytes, extra: bytes = b"", data_size: int | None = None) -> bytes:
    size = len(data) if data_size is None else data_size
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + extra
    body += b"data" + struct.pack("<I", size) + data + (b"\0" if len(data) % 2 else b"")
    return b"RIFF" + struct.pack("<I", len(body)) + body


def fmt_chunk(tag: int, channels: int, rate: int, bits: int, extensible: bool = False) -> bytes:
    align = channels * bits // 8
    header = struct.pack("<HHIIHH", 0xFFFE if extensible else tag, channels, rate,
                         rate * align, align, bits)  # fmt: skip
    if not extensible:
        return header
    guid = struct.pack("<H", tag) + SUBTYPE_TAIL
    return header + struct.pack("<HHI", 22, bits, 0x3 if channels == 2 else 0x4) + guid


def encode(signal: npt.NDArray[np.float64], tag: int, bits: int) -> bytes:
    if tag == 3:
        return signal.astype("<f4" if bits == 32 else "<f8").tobytes()
    if tag == 7:
        return mulaw(signal)
    if tag == 6:
        return alaw(signal)
    if bits == 8:
        return np.clip(np.rint(signal * 128 + 128), 0, 255).astype(np.uint8).tobytes()
    scale = float(1 << (bits - 1))
    ints = np.clip(np.rint(signal * scale), -scale, scale - 1).astype(np.int64)
    if bits == 24:
        raw = ints.astype("<i4").view(np.uint8).reshape(-1, 4)[:, :3]
        return raw.tobytes()
    return ints.astype("<i2" if bits == 16 else "<i4").tobytes()


def mulaw(signal: npt.NDArray[np.float64]) -> bytes:
    """µ-law by the continuous µ=255 curve, which G.711's segments approximate."""
    magnitude = np.log1p(255 * np.abs(signal)) / math.log(256)
    code = np.clip(np.rint(magnitude * 127), 0, 127).astype(np.int32)
    code |= np.where(signal < 0, 0, 0x80)
    return bytes((~code & 0xFF).astype(np.uint8).tobytes())


def alaw(signal: npt.NDArray[np.float64]) -> bytes:
    """A-law (A=87.6) by its continuous curve, with G.711's even-bit inversion."""
    x = np.abs(signal)
    a = 87.6
    y = np.where(x < 1 / a, a * x / (1 + math.log(a)), (1 + np.log(np.maximum(a * x, 1e-12)))
                 / (1 + math.log(a)))  # fmt: skip
    code = np.clip(np.rint(y * 127), 0, 127).astype(np.int32)
    code |= np.where(signal < 0, 0, 0x80)
    return bytes((code ^ 0x55).astype(np.uint8).tobytes())


def write_file(tmp_path: Path, name: str, content: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(content)
    return path


def dominant(pcm: npt.NDArray[np.int16]) -> float:
    signal = pcm.astype(np.float64)
    spectrum = np.abs(np.fft.rfft(signal * np.hanning(len(signal)), 1 << 16))
    return float(np.fft.rfftfreq(1 << 16, 1 / SAMPLE_RATE)[np.argmax(spectrum)])


def level_db(pcm: npt.NDArray[np.int16]) -> float:
    inner = pcm[400:-400].astype(np.float64) / 32768.0
    return 20 * math.log10(math.sqrt(float(np.mean(inner**2))))


EXPECTED_DB = 20 * math.log10(TONE_LEVEL / math.sqrt(2))

FORMATS = [  # (tag, bits, extensible, level tolerance dB)
    (1, 8, False, 0.3),
    (1, 16, False, 0.05),
    (1, 24, False, 0.05),
    (1, 32, False, 0.05),
    (3, 32, False, 0.05),
    (3, 64, False, 0.05),
    (7, 8, False, 0.5),
    (6, 8, False, 0.5),
    (1, 16, True, 0.05),
    (1, 24, True, 0.05),
    (3, 32, True, 0.05),
]


@pytest.mark.parametrize(("tag", "bits", "extensible", "tolerance"), FORMATS)
@pytest.mark.parametrize("rate", [8000, 11025, 16000, 22050, 44100, 48000])
def test_every_format_and_rate_keeps_pitch_and_level(
    tmp_path: Path, tag: int, bits: int, extensible: bool, tolerance: float, rate: int
) -> None:
    data = encode(tone(rate), tag, bits)
    path = write_file(tmp_path, "t.wav", riff(fmt_chunk(tag, 1, rate, bits, extensible), data))
    pcm = load_wav(path)
    assert pcm.dtype == np.int16
    assert len(pcm) == SAMPLE_RATE  # one second at 8 kHz
    assert dominant(pcm) == pytest.approx(TONE_HZ, abs=1.0)
    assert level_db(pcm) == pytest.approx(EXPECTED_DB, abs=tolerance)


def test_stereo_is_downmixed(tmp_path: Path) -> None:
    left, right = tone(16000), tone(16000, freq=300.0)
    frames = np.stack([left, right], axis=1).reshape(-1)
    path = write_file(tmp_path, "s.wav", riff(fmt_chunk(1, 2, 16000, 16), encode(frames, 1, 16)))
    pcm = load_wav(path).astype(np.float64)
    spectrum = np.abs(np.fft.rfft(pcm))  # 1 s at 8 kHz: 1 Hz bins
    assert spectrum[1000] == pytest.approx(spectrum[300], rel=0.02)
    # Each channel at half weight: each tone at -6 dB from its level in its channel.
    assert spectrum[1000] / len(pcm) == pytest.approx(TONE_LEVEL * 32768 / 4, rel=0.02)


def test_g711_decoding_matches_the_standard_table(tmp_path: Path) -> None:
    # ITU-T G.711: µ-law 0x00/0x80 decode to -/+32124, 0xFF to 0; A-law 0xD5 is +8,
    # 0x55 is -8, 0xAA is +32256, 0x2A is -32256 (16-bit scale, A-law 13-bit << 3).
    mu = write_file(tmp_path, "mu.wav", riff(fmt_chunk(7, 1, 8000, 8), bytes([0x00, 0x80, 0xFF])))
    al = write_file(
        tmp_path, "al.wav", riff(fmt_chunk(6, 1, 8000, 8), bytes([0xD5, 0x55, 0xAA, 0x2A]))
    )
    assert WavFile.read(mu).samples[:, 0].tolist() == [-32124 / 32768, 32124 / 32768, 0.0]
    assert (WavFile.read(al).samples[:, 0] * 32768).tolist() == [8, -8, 32256, -32256]


def test_odd_chunks_and_streaming_data_size_are_tolerated(tmp_path: Path) -> None:
    odd_list = b"LIST" + struct.pack("<I", 5) + b"INFOx" + b"\0"  # odd size, padded
    data = encode(tone(8000), 1, 16)
    content = riff(fmt_chunk(1, 1, 8000, 16), data, extra=odd_list, data_size=0xFFFFFFFF)
    pcm = load_wav(write_file(tmp_path, "stream.wav", content))
    assert len(pcm) == 8000
    assert dominant(pcm) == pytest.approx(TONE_HZ, abs=1.0)


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "not a RIFF/WAVE file"),
        (b"ID3\x03" + b"\0" * 60, "not a RIFF/WAVE file"),
        (b"RIFX" + b"\0" * 4 + b"WAVE", "big-endian"),
        (b"RIFF\x04\0\0\0WAVE", "no 'fmt ' chunk"),
        (b"RIFF\x14\0\0\0WAVEfmt \x04\0\0\0\x01\0\x01\0", "'fmt ' chunk too short"),
        (riff(fmt_chunk(0x55, 1, 8000, 16), b"\0" * 10), "format tag 0x0055"),
        (riff(fmt_chunk(1, 1, 8000, 12), b"\0" * 10), "12-bit"),
        (riff(fmt_chunk(1, 1, 50, 16), b"\0" * 10), "sample rate"),
        (riff(fmt_chunk(1, 1, 8000, 16), b""), "no audio"),
        (riff(fmt_chunk(1, 1, 8000, 16), b"")[:-8], "no 'data' chunk"),
    ],
)
def test_bad_files_are_refused_with_the_reason(tmp_path: Path, content: bytes, reason: str) -> None:
    path = write_file(tmp_path, "bad.wav", content)
    with pytest.raises(MediaFileError, match=reason) as caught:
        load_wav(path)
    assert caught.value.path == str(path)
    assert reason in caught.value.reason


def test_missing_file_is_a_media_file_error(tmp_path: Path) -> None:
    with pytest.raises(MediaFileError, match="cannot read"):
        load_wav(tmp_path / "nope.wav")


def test_conversion_is_cached_until_the_file_changes(tmp_path: Path) -> None:
    path = write_file(
        tmp_path, "c.wav", riff(fmt_chunk(1, 1, 16000, 16), encode(tone(16000), 1, 16))
    )
    before = cache_conversions()
    first = load_wav(path)
    second = WavFile.load(path)
    assert second is first
    assert cache_conversions() == before + 1
    assert not first.flags.writeable  # shared between calls: nobody may modify it

    path.write_bytes(riff(fmt_chunk(1, 1, 16000, 16), encode(tone(16000, 2.0, 500.0), 1, 16)))
    os.utime(path, ns=(1, 1))  # a different mtime even on coarse-timestamp filesystems
    third = load_wav(path)
    assert cache_conversions() == before + 2
    assert len(third) == 16000
    assert dominant(third) == pytest.approx(500.0, abs=1.0)


def test_write_wav_round_trips_mono_and_stereo(tmp_path: Path) -> None:
    mono = (tone(8000) * 32767).astype(np.int16)
    write_wav(tmp_path / "sub" / "m.wav", mono)
    with wave.open(str(tmp_path / "sub" / "m.wav")) as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, 8000)
        assert np.array_equal(np.frombuffer(w.readframes(w.getnframes()), "<i2"), mono)

    stereo = np.stack([mono, -mono], axis=1)
    write_wav(tmp_path / "s.wav", stereo, rate=8000, channels=2)
    audio = WavFile.read(tmp_path / "s.wav")
    assert audio.format.channels == 2
    assert np.array_equal(np.rint(audio.samples[:, 1] * 32768).astype(np.int16), -mono)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.wav", "sub"]  # no temp files left


def test_write_wav_rejects_mismatched_shapes(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="channels"):
        write_wav(tmp_path / "x.wav", np.zeros((10, 2), np.int16), channels=1)
    with pytest.raises(ValueError, match="whole number of frames"):
        write_wav(tmp_path / "x.wav", np.zeros(11, np.int16), channels=2)
    with pytest.raises(ValueError, match="int16"):
        write_wav(tmp_path / "x.wav", np.zeros(10, np.float32))
    assert not (tmp_path / "x.wav").exists()


def test_blockwise_resampling_matches_whole_signal_resampling() -> None:
    rate = 44100
    pcm = (tone(rate, 50.0, 700.0) * 32767).astype(np.int16)
    whole = resample(pcm, rate, SAMPLE_RATE)
    blocks = resample_long(pcm, rate, SAMPLE_RATE, block_seconds=7.0)
    assert len(blocks) == len(whole) == 50 * SAMPLE_RATE
    # Away from the signal's own ends, block seams are inaudible: a few LSB at most.
    assert np.abs(blocks[800:-800].astype(np.int32) - whole[800:-800]).max() <= 8
    assert dominant(blocks[:8000]) == pytest.approx(700.0, abs=1.0)
