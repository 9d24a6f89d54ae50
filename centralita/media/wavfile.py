"""WAV files in and out of the media engine.

Reading accepts what people upload: RIFF/WAVE with integer PCM of 8 (unsigned), 16, 24 or 32
bits, IEEE float of 32 or 64 bits (WAVE_FORMAT_IEEE_FLOAT), G.711 µ-law and A-law, any of
those wrapped in WAVE_FORMAT_EXTENSIBLE, mono or multichannel (downmixed to mono), any rate
(resampled to the engine's 8 kHz). The chunk walk follows the RIFF rules (Microsoft
"Multimedia Programming Interface and Data Specifications 1.0": little-endian sizes, chunks
padded to an even length) and tolerates the bogus data sizes that streaming writers leave
(0 or 0xFFFFFFFF) by reading to the end of the file.

:func:`load_wav` converts a file once and caches the result by path, modification time and
size, so a prompt played on a thousand calls is decoded once. Cached arrays are read-only.

Writing is deliberately small: :func:`write_wav` writes 16-bit PCM, atomically (a temporary
file renamed into place) so that a concurrent reader never sees half a file.
"""

from __future__ import annotations

import os
import struct
import tempfile
import threading
import wave
from collections import OrderedDict
from dataclasses import dataclass
from math import gcd
from pathlib import Path

import numpy as np
import numpy.typing as npt

from centralita.media.audio import SAMPLE_RATE, Pcm, resample, to_int16
from centralita.media.errors import MediaError

WAVE_FORMAT_PCM = 0x0001
WAVE_FORMAT_IEEE_FLOAT = 0x0003
WAVE_FORMAT_ALAW = 0x0006
WAVE_FORMAT_MULAW = 0x0007
WAVE_FORMAT_EXTENSIBLE = 0xFFFE
# KSDATAFORMAT_SUBTYPE_* GUIDs share this tail after the 16-bit format code (mmreg.h).
_SUBTYPE_TAIL = bytes.fromhex("000000001000800000aa00389b71")

_MIN_RATE, _MAX_RATE = 1000, 384000
_CACHE_BYTES = 256 * 1024 * 1024


class MediaFileError(MediaError):
    """A media file cannot be used; ``reason`` says why (shown to the administrator)."""

    def __init__(self, path: str | os.PathLike[str], reason: str) -> None:
        super().__init__(f"{os.fspath(path)}: {reason}")
        self.path = os.fspath(path)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class WavFormat:
    format_tag: int  # the effective format (the sub-format of an extensible file)
    channels: int
    sample_rate: int
    bits_per_sample: int
    block_align: int


@dataclass(frozen=True, slots=True)
class WavAudio:
    format: WavFormat
    samples: npt.NDArray[np.float64]  # shape (frames, channels), full scale = 1.0


def read_wav(path: str | os.PathLike[str]) -> WavAudio:
    """Parse a WAV file into float samples at its own rate (no conversion)."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise MediaFileError(path, f"cannot read: {exc.strerror or exc}") from exc
    try:
        return _parse(data)
    except _Bad as exc:
        raise MediaFileError(path, str(exc)) from None


def decode_wav(path: str | os.PathLike[str]) -> Pcm:
    """Read a WAV and convert it to the engine's format (8 kHz mono int16), uncached."""
    audio = read_wav(path)
    mono = audio.samples.mean(axis=1) if audio.samples.shape[1] > 1 else audio.samples[:, 0]
    pcm = to_int16(mono * 32768.0)
    return resample_long(pcm, audio.format.sample_rate, SAMPLE_RATE)


def load_wav(path: str | os.PathLike[str]) -> Pcm:
    """The file as 8 kHz mono int16, converted once and cached (read-only array)."""
    return _CACHE.load(Path(path))


def write_wav(
    path: str | os.PathLike[str], pcm: Pcm, rate: int = SAMPLE_RATE, channels: int = 1
) -> None:
    """Write 16-bit PCM. ``pcm`` is 1-D (interleaved when ``channels`` > 1) or 2-D
    ``(frames, channels)``. The file appears complete or not at all."""
    frames = _interleaved(pcm, channels)
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as raw, wave.open(raw, "wb") as out:
            out.setnchannels(channels)
            out.setsampwidth(2)
            out.setframerate(rate)
            out.writeframes(frames.astype("<i2").tobytes())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class WavFile:
    """Namespace for the engine's WAV entry points (the media contract's ``WavFile.load``)."""

    load = staticmethod(load_wav)
    read = staticmethod(read_wav)
    write = staticmethod(write_wav)


def resample_long(pcm: Pcm, src_rate: int, dst_rate: int, block_seconds: float = 20.0) -> Pcm:
    """:func:`~centralita.media.audio.resample` in overlapping blocks, so a five-minute
    44.1 kHz upload does not need one giant FFT. Blocks are whole multiples of the rates'
    common period, so block edges map to exact output samples; each block carries half a
    second of context on both sides, cut away after resampling (the FFT method's wrap-around
    error decays well below the 16-bit floor over that distance)."""
    if src_rate == dst_rate or len(pcm) <= block_seconds * src_rate * 1.5:
        return resample(pcm, src_rate, dst_rate)
    step = src_rate // gcd(src_rate, dst_rate)
    out_step = dst_rate // gcd(src_rate, dst_rate)
    block = max(1, round(block_seconds * src_rate / step)) * step
    margin = max(1, round(0.5 * src_rate / step)) * step
    ratio_out = out_step / step
    pieces = []
    for start in range(0, len(pcm), block):
        lo, hi = max(0, start - margin), min(len(pcm), start + block + margin)
        converted = resample(pcm[lo:hi], src_rate, dst_rate)
        skip = round((start - lo) * ratio_out)
        keep = round((min(start + block, len(pcm)) - start) * ratio_out)
        pieces.append(converted[skip : skip + keep])
    return np.concatenate(pieces)


class _Bad(Exception):
    """A parse failure; turned into MediaFileError with the path."""


def _parse(data: bytes) -> WavAudio:
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        if data[:4] == b"RIFX":
            raise _Bad("big-endian RIFX WAV files are not supported")
        raise _Bad("not a RIFF/WAVE file")
    chunks = _chunks(data)
    if "fmt " not in chunks:
        raise _Bad("no 'fmt ' chunk")
    fmt = _parse_fmt(chunks["fmt "])
    if "data" not in chunks:
        raise _Bad("no 'data' chunk")
    body = chunks["data"]
    usable = len(body) - len(body) % fmt.block_align
    if usable == 0:
        raise _Bad("no audio in the 'data' chunk")
    flat = _decode_samples(body[:usable], fmt)
    return WavAudio(fmt, flat.reshape(-1, fmt.channels))


def _chunks(data: bytes) -> dict[str, bytes]:
    """RIFF sub-chunks by id (first occurrence). A truncated or oversized last chunk (as
    streaming writers leave) is clamped to the bytes actually present."""
    found: dict[str, bytes] = {}
    pos = 12
    while pos + 8 <= len(data):
        ident = data[pos : pos + 4].decode("latin-1")
        (size,) = struct.unpack_from("<I", data, pos + 4)
        start = pos + 8
        end = min(start + size, len(data))
        found.setdefault(ident, data[start:end])
        pos = start + size + (size & 1)  # chunks are word-aligned
    return found


def _parse_fmt(chunk: bytes) -> WavFormat:
    if len(chunk) < 16:
        raise _Bad("'fmt ' chunk too short")
    tag, channels, rate, _, block_align, bits = struct.unpack_from("<HHIIHH", chunk)
    if tag == WAVE_FORMAT_EXTENSIBLE:
        tag = _extensible_subformat(chunk)
    if channels < 1:
        raise _Bad("zero channels")
    if not _MIN_RATE <= rate <= _MAX_RATE:
        raise _Bad(f"implausible sample rate {rate} Hz")
    container = _container_bits(tag, bits)
    if block_align != channels * container // 8:
        block_align = channels * container // 8  # some writers get this wrong; derive it
    return WavFormat(tag, channels, rate, container, block_align)


def _extensible_subformat(chunk: bytes) -> int:
    # WAVEFORMATEXTENSIBLE: cbSize(2) validBits(2) channelMask(4) SubFormat GUID(16).
    if len(chunk) < 40:
        raise _Bad("WAVE_FORMAT_EXTENSIBLE 'fmt ' chunk too short")
    guid = chunk[24:40]
    if guid[2:] != _SUBTYPE_TAIL:
        raise _Bad(f"unsupported extensible sub-format {guid.hex()}")
    return int(struct.unpack_from("<H", guid)[0])


def _container_bits(tag: int, bits: int) -> int:
    supported = {
        WAVE_FORMAT_PCM: (8, 16, 24, 32),
        WAVE_FORMAT_IEEE_FLOAT: (32, 64),
        WAVE_FORMAT_ALAW: (8,),
        WAVE_FORMAT_MULAW: (8,),
    }
    if tag not in supported:
        raise _Bad(f"unsupported WAV format tag 0x{tag:04x} (compressed audio?)")
    if bits not in supported[tag]:
        raise _Bad(f"unsupported {bits}-bit samples for format 0x{tag:04x}")
    return bits


def _decode_samples(body: bytes, fmt: WavFormat) -> npt.NDArray[np.float64]:
    tag, bits = fmt.format_tag, fmt.bits_per_sample
    if tag == WAVE_FORMAT_IEEE_FLOAT:
        values = np.frombuffer(body, dtype="<f4" if bits == 32 else "<f8").astype(np.float64)
        return np.nan_to_num(np.clip(values, -1.0, 1.0))
    if tag == WAVE_FORMAT_MULAW:
        return _MULAW_TABLE[np.frombuffer(body, dtype=np.uint8)]
    if tag == WAVE_FORMAT_ALAW:
        return _ALAW_TABLE[np.frombuffer(body, dtype=np.uint8)]
    return _decode_pcm(body, bits)


def _decode_pcm(body: bytes, bits: int) -> npt.NDArray[np.float64]:
    if bits == 8:  # 8-bit WAV PCM is unsigned, centred on 128
        return (np.frombuffer(body, dtype=np.uint8).astype(np.float64) - 128.0) / 128.0
    if bits == 16:
        return np.frombuffer(body, dtype="<i2").astype(np.float64) / 32768.0
    if bits == 32:
        return np.frombuffer(body, dtype="<i4").astype(np.float64) / 2147483648.0
    triples = np.frombuffer(body, dtype=np.uint8).reshape(-1, 3).astype(np.int32)
    value = triples[:, 0] | (triples[:, 1] << 8) | (triples[:, 2] << 16)
    value = np.where(value >= 1 << 23, value - (1 << 24), value)
    return value.astype(np.float64) / float(1 << 23)


def _mulaw_table() -> npt.NDArray[np.float64]:
    # ITU-T G.711 µ-law expansion: complement, then sign / 3-bit segment / 4-bit mantissa.
    code = ~np.arange(256, dtype=np.int32) & 0xFF
    exponent = (code >> 4) & 0x07
    magnitude = (((code & 0x0F) << 3) + 0x84) << exponent
    value = np.where(code & 0x80, 0x84 - magnitude, magnitude - 0x84)
    return value.astype(np.float64) / 32768.0


def _alaw_table() -> npt.NDArray[np.float64]:
    # ITU-T G.711 A-law expansion: even bits inverted (XOR 0x55) on the line.
    code = np.arange(256, dtype=np.int32) ^ 0x55
    exponent = (code >> 4) & 0x07
    mantissa = code & 0x0F
    magnitude = np.where(
        exponent == 0, (mantissa << 4) + 8, ((mantissa << 4) + 0x108) << np.maximum(exponent - 1, 0)
    )
    value = np.where(code & 0x80, magnitude, -magnitude)
    return value.astype(np.float64) / 32768.0


_MULAW_TABLE = _mulaw_table()
_ALAW_TABLE = _alaw_table()


def _interleaved(pcm: Pcm, channels: int) -> Pcm:
    if channels < 1:
        raise ValueError("channels must be at least 1")
    array = np.asarray(pcm)
    if array.dtype != np.int16:
        raise ValueError(f"write_wav wants int16 samples, got {array.dtype}")
    if array.ndim == 2:
        if array.shape[1] != channels:
            raise ValueError(f"array has {array.shape[1]} channels, {channels} declared")
        return array.reshape(-1)
    if array.ndim != 1 or len(array) % channels:
        raise ValueError("interleaved samples must be a 1-D array, a whole number of frames")
    return array


class _PcmCache:
    """Converted files by (path, mtime, size), least recently used evicted beyond a budget."""

    def __init__(self, max_bytes: int) -> None:
        self._max_bytes = max_bytes
        self._entries: OrderedDict[tuple[str, int, int], Pcm] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.conversions = 0

    def load(self, path: Path) -> Pcm:
        try:
            stat = path.stat()
        except OSError as exc:
            raise MediaFileError(path, f"cannot read: {exc.strerror or exc}") from exc
        key = (str(path.resolve()), stat.st_mtime_ns, stat.st_size)
        with self._lock:
            if key in self._entries:
                self._entries.move_to_end(key)
                return self._entries[key]
        pcm = decode_wav(path)
        pcm.flags.writeable = False
        self._store(key, pcm)
        return pcm

    def _store(self, key: tuple[str, int, int], pcm: Pcm) -> None:
        with self._lock:
            self.conversions += 1
            if key not in self._entries:
                self._entries[key] = pcm
                self._bytes += pcm.nbytes
            while self._bytes > self._max_bytes and len(self._entries) > 1:
                _, evicted = self._entries.popitem(last=False)
                self._bytes -= evicted.nbytes

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._bytes = 0


_CACHE = _PcmCache(_CACHE_BYTES)


def cache_conversions() -> int:
    """How many files :func:`load_wav` has converted (a cache miss counter, for tests/stats)."""
    return _CACHE.conversions
