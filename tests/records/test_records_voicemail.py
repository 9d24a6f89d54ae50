"""Filing voicemail: the WAV moves under <data_dir>/voicemail/<tenant>/<box>/<id>.wav, privately,
and its row appears in the store; both or neither."""

from __future__ import annotations

import stat
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from centralita.media.recorder import MessageRecorder
from centralita.media.wavfile import MediaFileError, read_wav, write_wav
from centralita.records.voicemail import InvalidBox, VoicemailStore
from centralita.store import Store, TenantInfo
from centralita.store.voicemail import VoicemailCounts, VoicemailMessageNotFound

T0 = datetime(2026, 11, 22, 21, 5, tzinfo=UTC)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store.open(f"sqlite:///{tmp_path / 'vm.sqlite3'}") as opened:
        yield opened


@pytest.fixture
def acme(store: Store) -> TenantInfo:
    return store.tenants.add("acme", "acme.test")


@pytest.fixture
def boxes(store: Store, tmp_path: Path) -> VoicemailStore:
    return VoicemailStore(store, tmp_path / "data")


def tone_wav(path: Path, seconds: float, hz: float = 440.0) -> bytes:
    t = np.arange(round(seconds * 8000)) / 8000
    write_wav(path, (np.sin(2 * np.pi * hz * t) * 8000).astype(np.int16))
    return path.read_bytes()


def test_filing_moves_the_wav_and_records_it(
    boxes: VoicemailStore, acme: TenantInfo, tmp_path: Path
) -> None:
    recording = tmp_path / "incoming" / "rec.wav"
    content = tone_wav(recording, 2.5)
    filed = boxes.file(acme, "101", recording, caller="102", caller_name="Bob", received_at=T0)
    target = tmp_path / "data" / "voicemail" / "acme" / "101" / f"{filed.id}.wav"
    assert filed.path == str(target)
    assert target.read_bytes() == content
    assert not recording.exists()
    assert len(filed.id) == 32 and int(filed.id, 16) >= 0
    assert filed.duration == pytest.approx(2.5)
    assert (filed.caller, filed.caller_name, filed.received_at) == ("102", "Bob", T0)
    assert boxes.get(acme, filed.id) == filed
    assert boxes.messages(acme, "101") == [filed]
    assert boxes.counts(acme, "101") == VoicemailCounts(new=1, old=0)


def test_files_and_directories_are_private(
    boxes: VoicemailStore, acme: TenantInfo, tmp_path: Path
) -> None:
    recording = tmp_path / "rec.wav"
    tone_wav(recording, 0.5)
    filed = boxes.file(acme, "general", recording, caller="+34600111222")
    assert stat.S_IMODE(Path(filed.path).stat().st_mode) == 0o600
    for directory in (boxes.root, boxes.root / "acme", boxes.root / "acme" / "general"):
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700


def test_a_recorders_message_is_filed_with_its_duration(
    boxes: VoicemailStore, acme: TenantInfo, tmp_path: Path
) -> None:
    recorder = MessageRecorder(tmp_path / "rec.wav", max_seconds=1.0)
    frame = (np.sin(2 * np.pi * 440 * np.arange(160) / 8000) * 8000).astype(np.int16)
    while not recorder.done:
        recorder.feed(frame)
    filed = boxes.file(acme, "101", recorder.path, caller="102", duration=recorder.duration)
    assert filed.duration == pytest.approx(1.0)
    assert len(read_wav(filed.path).samples) == 8000


def test_given_duration_wins_over_the_files(
    boxes: VoicemailStore, acme: TenantInfo, tmp_path: Path
) -> None:
    recording = tmp_path / "rec.wav"
    tone_wav(recording, 1.0)
    assert boxes.file(acme, "101", recording, caller="1", duration=0.75).duration == 0.75


def test_not_a_wav_is_refused_and_left_in_place(
    boxes: VoicemailStore, acme: TenantInfo, tmp_path: Path
) -> None:
    junk = tmp_path / "junk.wav"
    junk.write_bytes(b"not audio at all")
    with pytest.raises(MediaFileError, match="not a RIFF/WAVE file"):
        boxes.file(acme, "101", junk, caller="102")
    assert junk.read_bytes() == b"not audio at all"
    assert boxes.messages(acme, "101") == []


@pytest.mark.parametrize("box", ["../etc", "101/../../x", "", "UPPER", "a b", ".hidden"])
def test_unsafe_box_names_are_refused(
    boxes: VoicemailStore, acme: TenantInfo, tmp_path: Path, box: str
) -> None:
    recording = tmp_path / "rec.wav"
    tone_wav(recording, 0.2)
    with pytest.raises(InvalidBox):
        boxes.file(acme, box, recording, caller="102")
    assert recording.exists()


def test_a_refused_row_puts_the_recording_back(
    boxes: VoicemailStore, store: Store, tmp_path: Path
) -> None:
    ghost = TenantInfo(id=999, name="ghost", domain="ghost.test", is_default=False, created_at=T0)
    recording = tmp_path / "rec.wav"
    content = tone_wav(recording, 0.3)
    with pytest.raises(Exception, match="FOREIGN KEY"):
        boxes.file(ghost, "101", recording, caller="102")
    assert recording.read_bytes() == content
    assert list((boxes.root / "ghost" / "101").iterdir()) == []


def test_heard_delete_and_purge_remove_the_file(
    boxes: VoicemailStore, acme: TenantInfo, tmp_path: Path
) -> None:
    filed = []
    for i in range(2):
        recording = tmp_path / f"rec{i}.wav"
        tone_wav(recording, 0.2)
        filed.append(boxes.file(acme, "101", recording, caller="102"))
    assert boxes.mark_heard(acme, filed[0].id).heard
    assert boxes.counts(acme, "101") == VoicemailCounts(new=1, old=1)
    boxes.delete(acme, filed[0].id)
    assert Path(filed[0].path).exists()  # only marked until purged
    assert [m.id for m in boxes.messages(acme, "101")] == [filed[1].id]
    assert [m.id for m in boxes.purge(acme, "101")] == [filed[0].id]
    assert not Path(filed[0].path).exists()
    assert Path(filed[1].path).exists()
    with pytest.raises(VoicemailMessageNotFound):
        boxes.get(acme, filed[0].id)
