"""The playlist player: order, frame sizes, loop, stop (barge-in), position."""

from __future__ import annotations

import numpy as np
import pytest

from centralita.media.audio import Pcm
from centralita.media.player import AudioSource, PcmSource, Player, wav_source
from centralita.media.tones import tone_for
from centralita.media.wavfile import write_wav


def ramp(start: int, count: int) -> Pcm:
    return np.arange(start, start + count, dtype=np.int16)


def drain(source: AudioSource, samples: int = 160) -> list[Pcm]:
    frames = []
    while (frame := source.read(samples)) is not None:
        frames.append(frame)
        assert len(frames) < 10_000
    return frames


def test_pcm_source_reads_its_buffer_then_none() -> None:
    source = PcmSource(ramp(0, 400))
    frames = drain(source)
    assert [len(f) for f in frames] == [160, 160, 80]
    assert np.array_equal(np.concatenate(frames), ramp(0, 400))
    assert source.finished and source.read() is None
    assert source.duration == pytest.approx(0.05)


def test_playlist_plays_in_order_without_gaps_and_pads_the_last_frame() -> None:
    player = Player([ramp(0, 100), PcmSource(ramp(100, 250)), ramp(350, 30)])
    frames = drain(player)
    assert all(len(f) == 160 for f in frames)
    joined = np.concatenate(frames)
    assert np.array_equal(joined[:380], ramp(0, 380))  # clips joined inside frames
    assert not joined[380:].any()  # silence padding after the end
    assert player.finished and player.position == 380


def test_loop_restarts_the_playlist() -> None:
    player = Player([ramp(0, 100), ramp(1000, 60)], loop=True)
    joined = np.concatenate([player.read(160) for _ in range(3)])
    one_pass = np.concatenate([ramp(0, 100), ramp(1000, 60)])
    assert np.array_equal(joined, np.tile(one_pass, 3))
    assert player.position == 480 and not player.finished


def test_tone_in_a_looping_playlist_restarts_from_its_beginning() -> None:
    player = Player([tone_for("beep")], loop=True)
    first = np.concatenate([player.read(160) for _ in range(20)])
    second = np.concatenate([player.read(160) for _ in range(20)])
    assert np.array_equal(first, second)  # 3200 samples = exactly one 400 ms beep
    assert np.abs(first).max() > 5000


def test_stop_is_barge_in() -> None:
    player = Player([ramp(0, 10_000)])
    assert player.read() is not None
    player.stop()
    assert player.read() is None
    assert player.finished and player.position == 160


def test_index_follows_the_item_playing() -> None:
    player = Player([ramp(0, 200), ramp(0, 200)])
    player.read(160)
    assert player.index == 0
    player.read(160)
    assert player.index == 1


def test_add_extends_and_resumes_a_finished_playlist() -> None:
    player = Player([ramp(0, 100)])
    drain(player)
    player.add(ramp(500, 50))
    frame = player.read(160)
    assert frame is not None and np.array_equal(frame[:50], ramp(500, 50))


def test_looping_needs_rewindable_sources() -> None:
    class OneShot:
        def read(self, samples: int = 160) -> Pcm | None:
            return None

    with pytest.raises(TypeError, match="rewindable"):
        Player([OneShot()], loop=True)
    assert drain(Player([OneShot()])) == []


def test_loop_of_nothing_ends_instead_of_spinning() -> None:
    player = Player([np.zeros(0, np.int16)], loop=True)
    assert player.read() is None
    assert player.finished


def test_wav_source_plays_a_file(tmp_path) -> None:  # type: ignore[no-untyped-def]
    write_wav(tmp_path / "clip.wav", ramp(0, 300), rate=8000)
    frames = drain(wav_source(tmp_path / "clip.wav"))
    assert np.array_equal(np.concatenate(frames), ramp(0, 300))


def test_non_sources_are_refused() -> None:
    with pytest.raises(TypeError, match="not an audio source"):
        Player(["hello.wav"])  # type: ignore[list-item]
