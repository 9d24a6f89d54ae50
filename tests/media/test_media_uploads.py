"""A tenant's uploads are converted once and land where the libraries look for them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from centralita.media.errors import MediaError
from centralita.media.moh import MusicLibrary
from centralita.media.prompts import PromptLibrary
from centralita.media.uploads import list_uploads, remove_prompt, store_music, store_prompt
from centralita.media.wavfile import load_wav, write_wav


def _stereo_44k(path: Path, hz: float) -> Path:
    t = np.arange(44100) / 44100
    tone = (8000 * np.sin(2 * np.pi * hz * t)).astype(np.int16)
    write_wav(path, np.stack([tone, tone], axis=1), rate=44100, channels=2)
    return path


def _pitch(pcm: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(pcm.astype(float)))
    return float(np.argmax(spectrum) * 8000 / len(pcm))


def test_uploaded_prompt_replaces_the_system_one_for_that_tenant_only(tmp_path: Path) -> None:
    source = _stereo_44k(tmp_path / "welcome.wav", 600)
    stored = store_prompt(tmp_path, "acme", "welcome", "es", source)
    pcm = load_wav(stored)
    assert abs(len(pcm) - 8000) <= 2 and abs(_pitch(pcm) - 600) < 5
    library = PromptLibrary(tmp_path / "prompts", tenant_dir=tmp_path / "tenants")
    assert library.path("welcome", "es", tenant="acme") == stored
    assert [kind for kind, _, _ in list_uploads(tmp_path, "acme")] == ["prompt"]
    assert remove_prompt(tmp_path, "acme", "welcome", "es")
    assert list_uploads(tmp_path, "acme") == []


def test_uploaded_music_forms_the_tenants_class(tmp_path: Path) -> None:
    store_music(tmp_path, "acme", "jazz", _stereo_44k(tmp_path / "Track One.wav", 440))
    music = MusicLibrary(tmp_path / "tenants").get("jazz", tenant="acme")
    assert music.name == "jazz"
    assert list_uploads(tmp_path, "acme")[0][1] == "jazz/track-one"


@pytest.mark.parametrize(
    ("tenant", "name", "language", "message"),
    [
        ("acme", "no_such_prompt", "en", "unknown prompt"),
        ("acme", "welcome", "fr", "unknown language"),
        ("../etc", "welcome", "en", "invalid tenant"),
    ],
)
def test_bad_uploads_are_refused_with_a_reason(
    tmp_path: Path, tenant: str, name: str, language: str, message: str
) -> None:
    source = _stereo_44k(tmp_path / "x.wav", 500)
    with pytest.raises(MediaError, match=message):
        store_prompt(tmp_path, tenant, name, language, source)


def test_a_file_that_is_not_audio_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"not a wave file at all")
    with pytest.raises(MediaError, match="RIFF"):
        store_music(tmp_path, "acme", "default", bad)
    assert list_uploads(tmp_path, "acme") == []
