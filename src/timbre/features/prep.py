"""Audio as the original's dataset preparation feeds it to training: loudness scaling, 32 kHz copy, HuBERT input.

Facts about the original (dataset step 2): the 32 kHz mono segment is skipped when its peak exceeds 2.2; otherwise it
is blended half-and-half between its raw level and a peak-normalized level of 0.95:
`y = x / peak * (0.95 * 0.5 * S) + 0.5 * S * x`. With S = 32768 this is the int16 audio written for SoVITS training
(its spectrogram and speaker embedding are taken from that file); with S = 1145.14 and resampled to 16 kHz it is the
HuBERT input (not normalized further; HuBERT base's group-normed first layer makes the scale nearly irrelevant).
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import numpy as np
import soxr

from timbre.errors import TimbreError

TRAIN_SAMPLE_RATE = 32000
HUBERT_SAMPLE_RATE = 16000
MAX_PEAK = 2.2
TARGET_PEAK = 0.95
BLEND = 0.5
INT16_SCALE = 32768.0
HUBERT_SCALE = 1145.14


class TrainingAudio(NamedTuple):
    audio32k: np.ndarray  # [T32] int16, what SoVITS training reads (divide by 32768)
    hubert16k: np.ndarray  # [T16] float32 HuBERT input


def load_mono(path: Path, sample_rate: int = TRAIN_SAMPLE_RATE) -> np.ndarray:
    """Any supported audio file as float32 mono at `sample_rate` (channels averaged)."""
    from timbre.audio.io import load_audio

    audio, _ = load_audio(path, sample_rate)
    return audio


def blend_scale(audio: np.ndarray, scale: float, peak: float) -> np.ndarray:
    return audio / peak * (TARGET_PEAK * BLEND * scale) + (1 - BLEND) * scale * audio


def training_audio(audio32k: np.ndarray) -> TrainingAudio:
    """Scale a 32 kHz mono segment as the original's preparation does; ValueError for silent or clipped-hot audio."""
    peak = float(np.abs(audio32k).max()) if audio32k.size else 0.0
    if peak == 0.0:
        raise TimbreError("the segment is silent (peak 0); remove it from the .list")
    if peak > MAX_PEAK:
        raise TimbreError(
            f"the segment's peak is {peak:.2f} (> {MAX_PEAK}), the original filters such audio out"
        )
    x = audio32k.astype(np.float32)
    pcm = np.clip(blend_scale(x, INT16_SCALE, peak), -32768, 32767).astype(np.int16)
    # librosa.resample's default (what the original calls) is soxr at "soxr_hq"; calling soxr directly is identical
    hubert = soxr.resample(
        blend_scale(x, HUBERT_SCALE, peak), TRAIN_SAMPLE_RATE, HUBERT_SAMPLE_RATE, quality="soxr_hq"
    )
    return TrainingAudio(pcm, np.ascontiguousarray(hubert, dtype=np.float32))
