"""A tenant's own audio: prompts that replace the system ones, music-on-hold tracks.

Uploads are checked and converted once, when they arrive: whatever WAV the tenant sends
(any rate, sample format, mono or stereo) is stored as the engine plays it, 8 kHz 16-bit mono,
where :class:`~centralita.media.prompts.PromptLibrary` and
:class:`~centralita.media.moh.MusicLibrary` look for it:
``<data_dir>/tenants/<tenant>/prompts/<language>/<name>.wav`` and
``<data_dir>/tenants/<tenant>/moh/<class>/<track>.wav``.
"""

from __future__ import annotations

import re
from pathlib import Path

from centralita.media.audio import SAMPLE_RATE
from centralita.media.errors import MediaError
from centralita.media.prompts import LANGUAGES, PROMPTS
from centralita.media.wavfile import load_wav, write_wav

_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
MAX_SECONDS = 30 * 60


class UploadError(MediaError):
    status_code = 400
    reason = "Bad Request"


def _safe(kind: str, value: str) -> str:
    if not _NAME.match(value):
        raise UploadError(f"invalid {kind} {value!r}: use lower-case letters, digits, - and _")
    return value


def tenant_dir(data_dir: Path, tenant: str) -> Path:
    return data_dir / "tenants" / _safe("tenant", tenant)


def _convert(source: Path, target: Path) -> float:
    pcm = load_wav(source)  # raises MediaFileError naming what is wrong with the file
    seconds = len(pcm) / SAMPLE_RATE
    if seconds < 0.1 or seconds > MAX_SECONDS:
        raise UploadError(f"{source}: {seconds:.1f} s of audio; expected 0.1 s to 30 min")
    target.parent.mkdir(parents=True, exist_ok=True)
    write_wav(target, pcm)
    return seconds


def store_prompt(data_dir: Path, tenant: str, name: str, language: str, source: Path) -> Path:
    """Replace system prompt ``name`` for ``tenant`` in ``language`` with ``source``."""
    if name not in PROMPTS:
        raise UploadError(f"unknown prompt {name!r}; prompts: {', '.join(sorted(PROMPTS))}")
    if language not in LANGUAGES:
        raise UploadError(f"unknown language {language!r}; languages: {', '.join(LANGUAGES)}")
    target = tenant_dir(data_dir, tenant) / "prompts" / language / f"{name}.wav"
    _convert(source, target)
    return target


def store_music(data_dir: Path, tenant: str, music_class: str, source: Path) -> Path:
    """Add ``source`` as a track of the tenant's music class (name order is play order)."""
    track = _safe("track name", re.sub(r"[^a-z0-9_-]+", "-", source.stem.lower()).strip("-"))
    target = tenant_dir(data_dir, tenant) / "moh" / _safe("music class", music_class)
    _convert(source, target / f"{track}.wav")
    return target / f"{track}.wav"


def remove_prompt(data_dir: Path, tenant: str, name: str, language: str) -> bool:
    target = tenant_dir(data_dir, tenant) / "prompts" / language / f"{_safe('prompt', name)}.wav"
    if target.is_file():
        target.unlink()
        return True
    return False


def list_uploads(data_dir: Path, tenant: str) -> list[tuple[str, str, Path]]:
    """(kind, what, file) for every prompt and track the tenant uploaded."""
    base = tenant_dir(data_dir, tenant)
    prompts = [("prompt", f"{p.parent.name}/{p.stem}", p) for p in base.glob("prompts/*/*.wav")]
    music = [("moh", f"{p.parent.name}/{p.stem}", p) for p in base.glob("moh/*/*.wav")]
    return sorted(prompts) + sorted(music)
