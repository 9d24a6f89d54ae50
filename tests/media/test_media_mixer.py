"""The conference mixer on generated signals: who hears what, sums, limiting, mute, tones."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from centralita.media.audio import FRAME_SAMPLES, SAMPLE_RATE, Pcm, to_int16
from centralita.media.mixer import CEILING, ConferenceMixer, SoftLimiter, render
from centralita.media.tones import tone_for

TICK = 0.02
FREQS = {"A": 440.0, "B": 1000.0, "C": 1700.0}


def sine(freq: float, amplitude: float, tick: int) -> Pcm:
    t = (tick * FRAME_SAMPLES + np.arange(FRAME_SAMPLES)) / SAMPLE_RATE
    return to_int16(amplitude * np.sin(2 * np.pi * freq * t))


def constant(value: int) -> Pcm:
    return np.full(FRAME_SAMPLES, value, dtype=np.int16)


def quiet_room(*ids: str, **kwargs: object) -> ConferenceMixer:
    mixer = ConferenceMixer(jitter_depth=1, adaptive_jitter=False, **kwargs)  # type: ignore[arg-type]
    for pid in ids:
        mixer.add(pid, tone=False)
    return mixer


def run(
    mixer: ConferenceMixer,
    talkers: dict[str, float],
    ticks: int,
    amplitude: float = 6000.0,
    start: int = 0,
) -> dict[str, Pcm]:
    """Push each talker's tone and mix, tick after tick; each participant's whole output."""
    heard: dict[str, list[Pcm]] = {pid: [] for pid in mixer.participants}
    for tick in range(start, start + ticks):
        now = tick * TICK
        for pid, freq in talkers.items():
            mixer.push(pid, sine(freq, amplitude, tick), seq=tick, now=now)
        for pid, pcm in mixer.mix(now + 0.01).items():
            heard[pid].append(pcm)
    return {pid: np.concatenate(frames) for pid, frames in heard.items()}


def level_at(pcm: Pcm, freq: float) -> float:
    """Amplitude of ``freq`` in ``pcm`` (Hann-windowed FFT, scaled to the sine's amplitude)."""
    window = np.hanning(len(pcm))
    spectrum = np.abs(np.fft.rfft(pcm * window)) * 2 / window.sum()
    bins = np.fft.rfftfreq(len(pcm), 1 / SAMPLE_RATE)
    near = np.abs(bins - freq) <= 15
    return float(spectrum[near].max())


def test_each_participant_hears_the_others_and_not_itself() -> None:
    mixer = quiet_room("A", "B", "C")
    heard = run(mixer, FREQS, ticks=60)
    for listener, pcm in heard.items():
        steady = pcm[10 * FRAME_SAMPLES :]
        for talker, freq in FREQS.items():
            level = level_at(steady, freq)
            if talker == listener:
                assert level < 1.0, (listener, talker, level)
            else:
                assert 5000 < level < 7000, (listener, talker, level)


def test_the_mix_is_the_exact_sum_of_the_others() -> None:
    mixer = quiet_room("A", "B", "C")
    values = {"A": 100, "B": 200, "C": -50}
    for pid, value in values.items():
        mixer.push(pid, constant(value), seq=0, now=0.0)
    out = mixer.mix(0.01)
    assert {pid: int(pcm[0]) for pid, pcm in out.items()} == {"A": 150, "B": 50, "C": 300}
    assert all(np.all(pcm == pcm[0]) for pcm in out.values())


def test_a_single_quiet_talker_passes_bit_exact() -> None:
    mixer = quiet_room("A", "B", "C")
    sent = [sine(440.0, 8000.0, tick) for tick in range(20)]  # -12 dBFS
    received = []
    for tick, pcm in enumerate(sent):
        mixer.push("A", pcm, seq=tick, now=tick * TICK)
        received.append(mixer.mix(tick * TICK + 0.01)["B"])
    assert np.array_equal(np.concatenate(received), np.concatenate(sent))


def test_many_loud_talkers_never_clip_and_keep_their_waveform() -> None:
    freqs = [300.0 + 170.0 * i for i in range(8)]
    mixer = quiet_room(*[f"p{i}" for i in range(8)], "listener")
    talkers = {f"p{i}": f for i, f in enumerate(freqs)}
    heard = run(mixer, talkers, ticks=50, amplitude=30000.0)["listener"]
    assert np.abs(heard.astype(np.int32)).max() <= CEILING
    # The limiter is a slowly moving gain: the output is the ideal sum scaled, not distorted.
    voices = [np.concatenate([sine(f, 30000.0, t) for t in range(50)]) for f in freqs]
    ideal = np.stack(voices).astype(np.float64).sum(axis=0)
    steady = slice(10 * FRAME_SAMPLES, None)
    correlation = np.corrcoef(heard[steady], ideal[steady])[0, 1]
    assert correlation > 0.995
    for freq in freqs:  # every voice still there, at a similar level
        assert level_at(heard[steady], freq) > 0.5 * level_at(heard[steady], freqs[0])


def test_loud_and_quiet_talkers_all_stay_under_full_scale() -> None:
    mixer = quiet_room("A", "B", "C", "D")
    talkers = {"A": 440.0, "B": 1000.0, "C": 1700.0}
    heard = run(mixer, talkers, ticks=40, amplitude=32000.0)
    for pcm in heard.values():
        assert np.abs(pcm.astype(np.int32)).max() <= CEILING


def test_gain_recovers_after_a_loud_burst() -> None:
    mixer = quiet_room("A", "B", "C")
    run(mixer, {"A": 440.0, "B": 1000.0}, ticks=10, amplitude=30000.0)
    after = run(mixer, {"A": 440.0}, ticks=100, amplitude=4000.0, start=10)["C"]
    late = after[-20 * FRAME_SAMPLES :]
    assert level_at(late, 440.0) == pytest.approx(4000.0, rel=0.02)


def test_a_muted_participant_is_not_heard_but_still_hears() -> None:
    mixer = quiet_room("A", "B", "C")
    mixer.mute("A")
    assert mixer.is_muted("A")
    heard = run(mixer, FREQS, ticks=40)
    steady = {pid: pcm[10 * FRAME_SAMPLES :] for pid, pcm in heard.items()}
    assert level_at(steady["B"], 440.0) < 1.0 and level_at(steady["C"], 440.0) < 1.0
    assert level_at(steady["A"], 1000.0) > 5000 and level_at(steady["A"], 1700.0) > 5000
    mixer.mute("A", False)
    heard = run(mixer, FREQS, ticks=40, start=40)
    assert level_at(heard["B"][10 * FRAME_SAMPLES :], 440.0) > 5000


def test_a_participant_without_audio_contributes_silence() -> None:
    mixer = quiet_room("A", "B", "C")
    heard = run(mixer, {"A": 440.0}, ticks=30)  # B and C never send anything
    assert not heard["A"].any()
    assert np.array_equal(heard["B"], heard["C"])
    assert level_at(heard["B"][5 * FRAME_SAMPLES :], 440.0) > 5000


def test_jitter_gaps_are_filled_and_reordering_undone() -> None:
    mixer = ConferenceMixer(jitter_depth=3, adaptive_jitter=False, conceal=False)
    mixer.add("A", tone=False)
    mixer.add("B", tone=False)
    for seq in (1, 0, 2):
        mixer.push("A", constant(10 + seq), seq=seq, now=0.0)
    heard = [int(mixer.mix(0.01 + i * TICK)["B"][0]) for i in range(5)]
    assert heard == [10, 11, 12, 0, 0]


def test_join_and_leave_tones_reach_everyone() -> None:
    mixer = quiet_room("A", "B")
    join = render(tone_for("join"))
    mixer.add("C")  # with the join tone
    frames = (len(join) + FRAME_SAMPLES - 1) // FRAME_SAMPLES
    heard: dict[str, list[Pcm]] = {pid: [] for pid in mixer.participants}
    for i in range(frames + 2):
        for pid, pcm in mixer.mix(i * TICK).items():
            heard[pid].append(pcm)
    expected = np.zeros((frames + 2) * FRAME_SAMPLES, dtype=np.int16)
    expected[: len(join)] = join
    for pid in ("A", "B", "C"):
        assert np.array_equal(np.concatenate(heard[pid]), expected), pid
    mixer.remove("C")
    leave = render(tone_for("leave"))
    out = [mixer.mix(1.0 + i * TICK) for i in range(frames + 2)]
    assert set(out[0]) == {"A", "B"}
    assert np.array_equal(np.concatenate([o["A"] for o in out])[: len(leave)], leave)
    assert not out[-1]["A"].any()


def test_custom_tones_and_announcements_mix_with_speech() -> None:
    beep = constant(1000)
    mixer = quiet_room("A", "B", join_tone=beep)
    mixer.add("C")
    mixer.push("A", constant(300), seq=0, now=0.0)
    out = mixer.mix(0.01)
    assert int(out["B"][0]) == 1300 and int(out["A"][0]) == 1000
    mixer.announce(tone_for("beep"))
    assert mixer.mix(0.03)["A"].any()
    mixer.stop_announcements()
    assert not mixer.mix(0.05)["A"].any()


def test_membership_errors() -> None:
    mixer = quiet_room("A")
    with pytest.raises(ValueError):
        mixer.add("A")
    with pytest.raises(ValueError):
        mixer.push("A", np.zeros(80, dtype=np.int16))
    assert not mixer.push("gone", constant(1))
    assert len(mixer) == 1 and "A" in mixer and "gone" not in mixer
    mixer.remove("A")
    assert mixer.mix(0.0) == {}


def test_frames_without_sequence_numbers_play_in_arrival_order() -> None:
    mixer = quiet_room("A", "B")
    for value in (5, 6, 7):
        assert mixer.push("A", constant(value))
    assert [int(mixer.mix(i * TICK)["B"][0]) for i in range(3)] == [5, 6, 7]
    assert mixer.jitter_buffer("A").stats.played == 3


def _peak(pcm: npt.NDArray[np.int16]) -> int:
    return int(np.abs(pcm.astype(np.int32)).max())


def test_fifty_participants_each_exclude_themselves() -> None:
    ids = [f"p{i}" for i in range(50)]
    mixer = quiet_room(*ids)
    for i, pid in enumerate(ids):
        mixer.push(pid, constant(i + 1), seq=0, now=0.0)
    out = mixer.mix(0.01)
    total = sum(range(1, 51))
    assert all(int(out[pid][0]) == total - (i + 1) for i, pid in enumerate(ids))
    assert max(_peak(pcm) for pcm in out.values()) == total - 1


def test_limiter_curve_is_identity_below_the_knee_and_bounded_above() -> None:
    limiter = SoftLimiter(knee=16384.0, ceiling=32000.0)
    peaks = np.array([0.0, 1000.0, 16384.0, 20000.0, 60000.0, 1e6], dtype=np.float32)
    gains = limiter.target_gain(peaks)
    assert np.all(gains[:3] == 1.0)
    assert np.all(gains[3:] < 1.0)
    assert np.all(peaks * gains <= 32000.0)
    assert np.all(np.diff(peaks[2:] * gains[2:]) >= 0)  # louder in, never quieter out


def test_limiter_attacks_at_once_and_releases_gradually() -> None:
    limiter = SoftLimiter(release_seconds=0.1)
    loud = np.full((1, FRAME_SAMPLES), 40000.0, dtype=np.float32)
    gains = limiter.apply(loud, np.ones(1, dtype=np.float32))
    assert loud.max() <= CEILING and gains[0] < 1.0
    history = []
    for _ in range(30):
        quiet = np.full((1, FRAME_SAMPLES), 1000.0, dtype=np.float32)
        gains = limiter.apply(quiet, gains)
        history.append(float(gains[0]))
    assert history == sorted(history) and history[0] < 0.95 and history[-1] > 0.99
