"""Slicing long recordings into 3-10 s segments at pauses."""

from __future__ import annotations

import numpy as np
import pytest

from audio_fixtures import concat_with_gaps, speech, voiced
from timbre.audio.slicing import SliceConfig, plan_segments, slice_recording
from timbre.audio.vad import SpeechProbs, speech_mask

SR = 16000
FRAME_S = 0.032


def _layout(pattern: list[tuple[str, float]]) -> tuple[np.ndarray, SpeechProbs, list[tuple[float, float]]]:
    """("s", seconds) speech / ("p", seconds) pause -> (signal, fake VAD output, speech spans in seconds)."""
    parts, spans, pos = [], [], 0.0
    for i, (kind, seconds) in enumerate(pattern):
        if kind == "s":
            parts.append(voiced(seconds, SR, 110 + 7 * i, seed=i))
            spans.append((pos, pos + seconds))
        else:
            parts.append(np.zeros(int(seconds * SR), np.float32))
        pos += seconds
    wav = np.concatenate(parts)
    centres = (np.arange(int(np.ceil(wav.size / SR / FRAME_S))) + 0.5) * FRAME_S
    probs = np.where([any(a <= c < b for a, b in spans) for c in centres], 0.95, 0.02).astype(np.float32)
    return wav, SpeechProbs(probs, FRAME_S), spans


def _inside_pause(t: float, spans: list[tuple[float, float]]) -> bool:
    return not any(a + 0.02 < t < b - 0.02 for a, b in spans)


def test_cuts_fall_in_pauses_and_lengths_are_in_range():
    pattern = [("p", 0.4), ("s", 2.0), ("p", 0.5), ("s", 2.5), ("p", 0.4), ("s", 3.0), ("p", 0.6)]
    pattern += [
        ("s", 2.0),
        ("p", 0.5),
        ("s", 4.0),
        ("p", 0.7),
        ("s", 1.6),
        ("p", 0.5),
        ("s", 2.2),
        ("p", 0.3),
    ]
    wav, probs, spans = _layout(pattern)
    plan = plan_segments(wav, SR, probs)
    assert plan.warnings == []
    assert len(plan.segments) >= 3
    for seg in plan.segments:
        start, end = seg.start / SR, seg.end / SR
        assert 3.0 <= end - start <= 10.0
        assert _inside_pause(start, spans) and _inside_pause(end, spans)
        assert not seg.forced
    for a, b in spans:  # every word is whole inside exactly one segment
        assert sum(s.start / SR <= a and b <= s.end / SR for s in plan.segments) == 1
    starts = [s.start for s in plan.segments]
    assert starts == sorted(starts) and all(
        p.end <= n.start for p, n in zip(plan.segments, plan.segments[1:])
    )
    assert plan.speech_seconds == pytest.approx(sum(b - a for a, b in spans), abs=0.3)


def test_padding_is_kept_around_speech():
    wav, probs, spans = _layout([("p", 1.0), ("s", 3.5), ("p", 1.0)])
    (seg,) = plan_segments(wav, SR, probs, SliceConfig(pad_ms=200)).segments
    assert seg.start / SR == pytest.approx(spans[0][0] - 0.2, abs=0.04)
    assert seg.end / SR == pytest.approx(spans[0][1] + 0.2, abs=0.04)


def test_long_speech_without_pause_is_cut_at_the_quietest_point():
    # 12.4 s of speech whose only gaps are too short to count as pauses; the quietest spots are those gaps.
    pattern = [("p", 0.3), ("s", 4.0), ("p", 0.1), ("s", 4.1), ("p", 0.1), ("s", 4.1), ("p", 0.3)]
    wav, probs, spans = _layout(pattern)
    plan = plan_segments(wav, SR, probs)
    assert len(plan.segments) == 2
    assert (
        len(plan.warnings) == 1 and "without a pause" in plan.warnings[0] and "quietest" in plan.warnings[0]
    )
    first, second = plan.segments
    assert first.forced and second.forced and first.end == second.start
    cut = first.end / SR
    assert any(b - 0.02 <= cut <= b + 0.12 for _, b in spans[:2])  # inside one of the 0.1 s gaps
    assert all((s.end - s.start) / SR <= 10.0 for s in plan.segments)


def test_long_pause_always_ends_a_segment_and_tiny_speech_is_dropped():
    pattern = [("s", 1.5), ("p", 2.5), ("s", 1.4), ("p", 3.0), ("s", 0.5), ("p", 3.0)]
    wav, probs, _ = _layout(pattern)
    plan = plan_segments(wav, SR, probs)
    assert len(plan.segments) == 2  # not merged across the 2.5 s pause
    assert any("dropped" in w for w in plan.warnings)  # the isolated 0.5 s blip (plus padding < 1 s)


def test_configurable_lengths():
    pattern = [("p", 0.2)] + [("s", 1.2), ("p", 0.4)] * 8
    wav, probs, spans = _layout(pattern)
    plan = plan_segments(wav, SR, probs, SliceConfig(min_seconds=2.0, max_seconds=4.0))
    assert all(2.0 <= (s.end - s.start) / SR <= 4.0 for s in plan.segments)
    assert len(plan.segments) >= 3
    with pytest.raises(ValueError, match="min"):
        SliceConfig(min_seconds=5.0, max_seconds=4.0)


def test_hysteresis_mask():
    probs = np.array([0.1, 0.6, 0.4, 0.36, 0.3, 0.6, 0.2], np.float32)
    assert speech_mask(probs, 0.5, 0.15).tolist() == [False, True, True, True, False, True, False]


def test_real_speech_is_cut_only_in_silence():
    sr = 32000
    names = ["cate_blanch.mp3", "heath_ledger.mp3", "cate_blanch_2.mp3", "heath_ledger.mp3"]
    clips = [speech(n, sr) for n in names]
    wav, spans = concat_with_gaps(clips, [0.7, 0.5, 1.0, 0.3], sr)
    plan = slice_recording(wav, sr)
    assert plan.segments and all(1.0 <= (s.end - s.start) / sr <= 10.0 for s in plan.segments)
    covered = sum(s.end - s.start for s in plan.segments) / sr
    assert covered > 0.6 * sum(c.size for c in clips) / sr  # most of the talking is kept
    window = int(0.02 * sr)
    for seg in plan.segments:
        for edge in (seg.start, seg.end):
            t = edge / sr
            inside = [k for k, (a, b) in enumerate(spans) if a < t < b]
            if not inside:
                continue  # in one of the inserted silences
            clip = clips[inside[0]]
            frames = clip[: clip.size // 320 * 320].reshape(-1, 320)
            background = np.percentile(np.sqrt(np.mean(frames**2, axis=1)), 10)  # the recording's room noise
            local = np.sqrt(np.mean(wav[edge - window : edge + window] ** 2))
            assert local < 2.0 * background, (
                f"cut at {t:.2f} s is not in a pause ({local:.4f} vs {background:.4f})"
            )
