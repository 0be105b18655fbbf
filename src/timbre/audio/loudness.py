"""Loudness normalisation (ITU-R BS.1770 via pyloudnorm) and a look-ahead peak limiter."""

from __future__ import annotations

import math

import numpy as np
from scipy.ndimage import minimum_filter1d, uniform_filter1d

DEFAULT_TARGET_LUFS = -20.0
DEFAULT_CEILING = 0.95  # about -0.45 dBFS
BLOCK_SECONDS = 0.4  # BS.1770 gating block; shorter clips fall back to RMS


def integrated_loudness(wav: np.ndarray, sr: int) -> float:
    """Integrated loudness in LUFS; -inf for silence. Clips shorter than one gating block use plain RMS (dBFS)."""
    wav = np.asarray(wav, dtype=np.float64)
    if wav.size <= int(BLOCK_SECONDS * sr):
        rms = math.sqrt(float(np.mean(wav**2))) if wav.size else 0.0
        return 20.0 * math.log10(rms) if rms > 0 else -math.inf
    import pyloudnorm

    return float(pyloudnorm.Meter(sr).integrated_loudness(wav))


def normalize_loudness(wav: np.ndarray, sr: int, target_lufs: float = DEFAULT_TARGET_LUFS) -> np.ndarray:
    """Scale to `target_lufs` integrated loudness. Silence is returned unchanged. May exceed full scale: limit next."""
    wav = np.asarray(wav, dtype=np.float32)
    loudness = integrated_loudness(wav, sr)
    if not math.isfinite(loudness):
        return wav.copy()
    gain = 10.0 ** ((target_lufs - loudness) / 20.0)
    return (wav.astype(np.float64) * gain).astype(np.float32)


def limit_peaks(
    wav: np.ndarray, sr: int, ceiling: float = DEFAULT_CEILING, lookahead_ms: float = 5.0
) -> np.ndarray:
    """Keep |wav| <= ceiling with a smooth gain curve instead of hard clipping.

    The gain each sample needs (ceiling / |x|, at most 1) is spread by a running minimum over the look-ahead
    window, then smoothed by a running mean over the same window. Every sample within half a window of a
    peak gets at most that peak's gain, so the mean is never above it: peaks end up at or below the ceiling
    while the gain ramps in and out over a few milliseconds. A final clip only absorbs rounding.
    """
    wav = np.asarray(wav, dtype=np.float32)
    peak = float(np.max(np.abs(wav))) if wav.size else 0.0
    if peak <= ceiling:
        return wav.copy()
    width = max(1, int(round(lookahead_ms * 1e-3 * sr))) | 1  # odd, so the windows are centred
    need = np.minimum(1.0, ceiling / np.maximum(np.abs(wav.astype(np.float64)), 1e-12))  # [T]
    held = minimum_filter1d(need, size=2 * width - 1, mode="nearest")
    gain = uniform_filter1d(held, size=width, mode="nearest")
    return np.clip(wav * gain, -ceiling, ceiling).astype(np.float32)
