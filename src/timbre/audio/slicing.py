"""Cut long recordings into training segments at pauses found by voice-activity detection.

1. Speech regions: frames the VAD marks as speech; blips shorter than `min_speech_ms` are dropped and gaps
   shorter than `min_silence_ms` are bridged, so every gap left between regions is a real pause.
2. A region longer than a segment may be (no pause inside) is split at its quietest points; each such cut is
   reported as a warning because it may fall inside a word.
3. Consecutive regions are grouped into segments by dynamic programming: no segment is longer than
   `max_seconds` or spans a pause longer than `long_pause_ms`; segments shorter than `min_seconds` are
   penalised, so they are merged with a neighbour whenever that fits.
4. Each segment keeps `pad_ms` of the pause on both sides (at most half the pause), never at a forced cut.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from timbre.audio.vad import SpeechProbs, speech_mask, speech_probabilities


@dataclass(frozen=True)
class SliceConfig:
    min_seconds: float = 3.0
    max_seconds: float = 10.0
    min_silence_ms: float = 300.0  # a gap in speech at least this long is a pause where a cut may go
    long_pause_ms: float = 2000.0  # a pause at least this long always ends a segment
    pad_ms: float = 150.0  # pause kept before and after the speech of each segment
    min_speech_ms: float = 120.0  # shorter detections (clicks, breaths) count as silence
    min_keep_seconds: float = 1.0  # isolated speech shorter than this is dropped (with a warning)
    threshold: float = 0.5  # VAD probability that starts speech

    def __post_init__(self) -> None:
        if not 0 < self.min_seconds <= self.max_seconds:
            raise ValueError(
                f"slice lengths must satisfy 0 < min ({self.min_seconds}) <= max ({self.max_seconds})"
            )
        if self.max_seconds <= 2 * self.pad_ms / 1000:
            raise ValueError("max_seconds must be longer than twice the padding")
        if self.min_silence_ms <= 0 or self.pad_ms < 0:
            raise ValueError("min_silence_ms must be positive and pad_ms non-negative")


class Segment(NamedTuple):
    start: int  # first sample
    end: int  # one past the last sample
    forced: bool  # at least one end was cut without a pause


class SlicePlan(NamedTuple):
    segments: list[Segment]
    warnings: list[str]
    speech_seconds: float


class _Unit(NamedTuple):
    start: int
    end: int
    forced_before: bool  # the boundary before this unit is a cut inside speech


def speech_regions(probs: SpeechProbs, sr: int, n_samples: int, config: SliceConfig) -> list[tuple[int, int]]:
    """Speech regions in samples, with short blips removed and short gaps bridged."""
    mask = speech_mask(probs.probs, config.threshold)
    step = probs.frame_seconds * sr
    edges = np.flatnonzero(np.diff(np.concatenate([[0], mask.astype(np.int8), [0]])))
    raw = [
        (int(round(a * step)), min(n_samples, int(round(b * step))))
        for a, b in zip(edges[::2], edges[1::2], strict=True)
    ]
    min_gap = config.min_silence_ms * sr / 1000
    merged: list[tuple[int, int]] = []
    for start, end in raw:
        if merged and start - merged[-1][1] < min_gap:
            merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    min_len = config.min_speech_ms * sr / 1000
    return [(s, e) for s, e in merged if e - s >= min_len]


def _frame_energy(wav: np.ndarray, sr: int) -> tuple[np.ndarray, int]:
    """Energy of 20 ms windows centred every 10 ms -> (energy [n], hop in samples)."""
    hop, half = max(1, sr // 100), max(1, sr // 100)
    csum = np.concatenate([[0.0], np.cumsum(np.asarray(wav, dtype=np.float64) ** 2)])
    centres = np.arange(0, wav.size, hop)
    lo, hi = np.clip(centres - half, 0, wav.size), np.clip(centres + half, 0, wav.size)
    return csum[hi] - csum[lo], hop


def _split_at_quiet_points(
    start: int, end: int, limit: int, shortest: int, wav: np.ndarray, sr: int
) -> list[int]:
    """Cut points (samples) splitting [start, end) into pieces no longer than `limit`, at the quietest frames."""
    energy, hop = _frame_energy(wav[start:end], sr)
    length = end - start
    pieces = math.ceil(length / limit)
    cuts: list[int] = []
    cur = 0
    for remaining in range(pieces, 1, -1):
        lo = max(cur + shortest, length - (remaining - 1) * limit)
        hi = min(cur + limit, length - (remaining - 1) * shortest)
        if lo > hi:  # limits too tight for the length: cut evenly
            cut = cur + (length - cur) // remaining
        else:
            first, last = -(-lo // hop), hi // hop
            cut = (first + int(np.argmin(energy[first : last + 1]))) * hop if first <= last else lo
        cuts.append(start + cut)
        cur = cut
    return cuts


def _units(
    regions: list[tuple[int, int]], wav: np.ndarray, sr: int, config: SliceConfig
) -> tuple[list[_Unit], list[str]]:
    pad = int(config.pad_ms * sr / 1000)
    limit = int(config.max_seconds * sr) - 2 * pad
    shortest = min(int(config.min_seconds * sr), limit // 2)
    units: list[_Unit] = []
    warnings: list[str] = []
    for start, end in regions:
        if end - start <= limit:
            units.append(_Unit(start, end, False))
            continue
        cuts = _split_at_quiet_points(start, end, limit, shortest, wav, sr)
        warnings.append(
            f"{(end - start) / sr:.1f} s of speech without a pause at {start / sr:.2f}-{end / sr:.2f} s; "
            f"cut at the quietest point(s) {', '.join(f'{c / sr:.2f} s' for c in cuts)} (may be mid-word)"
        )
        bounds = [start, *cuts, end]
        units.extend(_Unit(a, b, i > 0) for i, (a, b) in enumerate(zip(bounds[:-1], bounds[1:], strict=True)))
    return units, warnings


def _group(units: list[_Unit], sr: int, config: SliceConfig) -> list[tuple[int, int]]:
    """Best grouping of consecutive units, as [(first, last)] unit indices, by dynamic programming."""
    pad = config.pad_ms * sr / 1000
    max_len, min_len = config.max_seconds * sr, config.min_seconds * sr
    long_pause = config.long_pause_ms * sr / 1000
    n = len(units)
    best = [0.0] + [math.inf] * n  # best[j]: cost of grouping units[:j]
    back = [0] * (n + 1)
    for j in range(1, n + 1):
        last = units[j - 1]
        right_pad = 0.0 if j < n and units[j].forced_before else pad
        for i in range(j - 1, -1, -1):
            if (
                i < j - 1
                and units[i + 1].start - units[i].end >= long_pause
                and not units[i + 1].forced_before
            ):
                break
            first = units[i]
            length = last.end - first.start + right_pad + (0.0 if first.forced_before else pad)
            if length > max_len and i < j - 1:
                break
            cost = 0.05  # per segment: prefer fewer, longer segments
            if length < min_len:
                cost += 1.0 + (min_len - length) / min_len
            if first.forced_before:
                cost += 0.5
            if best[i] + cost < best[j]:
                best[j], back[j] = best[i] + cost, i
    groups: list[tuple[int, int]] = []
    j = n
    while j > 0:
        groups.append((back[j], j - 1))
        j = back[j]
    return groups[::-1]


def plan_segments(
    wav: np.ndarray, sr: int, probs: SpeechProbs, config: SliceConfig = SliceConfig()
) -> SlicePlan:  # noqa: B008
    """Segments of `wav` (mono, rate `sr`) from its VAD probabilities; see the module docstring."""
    regions = speech_regions(probs, sr, wav.size, config)
    speech_seconds = sum(e - s for s, e in regions) / sr
    units, warnings = _units(regions, wav, sr, config)
    pad = int(config.pad_ms * sr / 1000)
    segments: list[Segment] = []
    for first, last in _group(units, sr, config):
        head, tail = units[first], units[last]
        forced_after = last + 1 < len(units) and units[last + 1].forced_before
        if head.forced_before:
            start = head.start
        else:
            floor = (units[first - 1].end + head.start) // 2 if first > 0 else 0
            start = max(head.start - pad, floor)
        if forced_after:
            end = tail.end
        else:
            ceil = (tail.end + units[last + 1].start) // 2 if last + 1 < len(units) else wav.size
            end = min(tail.end + pad, ceil)
        if end - start < config.min_keep_seconds * sr:
            warnings.append(
                f"dropped {(end - start) / sr:.2f} s of isolated speech at {start / sr:.2f} s "
                f"(shorter than {config.min_keep_seconds:g} s)"
            )
            continue
        segments.append(Segment(start, end, head.forced_before or forced_after))
    return SlicePlan(segments, warnings, speech_seconds)


def slice_recording(wav: np.ndarray, sr: int, config: SliceConfig = SliceConfig()) -> SlicePlan:  # noqa: B008
    """Run silero-vad on `wav` and plan its segments."""
    return plan_segments(wav, sr, speech_probabilities(wav, sr), config)
