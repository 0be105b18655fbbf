"""Reference clips for synthesis: loading, the configurable length limits, and the transcript's final mark.

The feature rules themselves (9,600 zeros before HuBERT, the 32 kHz peak guard, the spectrogram) live in
`timbre.features.reference` and are reused here unchanged; this module adds what inference needs around them:
audio from a file or an array at any rate, both working rates (16 kHz for HuBERT, 32 kHz for the spectrogram), the
length check as a setting instead of the original's fixed 3-10 s, and the original's rule that a reference transcript
without a final mark gets one ("." for English, "。" otherwise).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soxr
import torch

from timbre.audio.io import load_audio, resample
from timbre.errors import TimbreError
from timbre.features.reference import REF_MAX_SAMPLES, REF_MIN_SAMPLES
from timbre.text.cuts import SENTENCE_MARKS

HUBERT_SR = 16_000
SOVITS_SR = 32_000


@dataclass(frozen=True)
class ReferenceLimits:
    """Allowed reference length in seconds (the original: 3-10 s, measured on the 16 kHz audio)."""

    min_s: float = REF_MIN_SAMPLES / HUBERT_SR
    max_s: float = REF_MAX_SAMPLES / HUBERT_SR

    def __post_init__(self) -> None:
        if not 0 < self.min_s <= self.max_s:
            raise TimbreError(f"reference limits need 0 < min <= max seconds, got {self.min_s}-{self.max_s}")

    def check(self, samples16k: int, source: str) -> None:
        seconds = samples16k / HUBERT_SR
        lo, hi = round(self.min_s * HUBERT_SR), round(self.max_s * HUBERT_SR)
        if not lo <= samples16k <= hi:
            raise TimbreError(
                f"{source}: the reference clip is {seconds:.2f} s long; use a clip of {self.min_s:g} to "
                f"{self.max_s:g} s (trim it, or change the limits with --ref-min/--ref-max)"
            )


@dataclass(frozen=True)
class ReferenceClip:
    """One reference recording at both working rates."""

    wav16k: torch.Tensor  # [T16] float32, input to HuBERT and the speaker model
    wav32k: torch.Tensor  # [T32] float32, input to the reference spectrogram
    source: str  # file name or a label, for messages

    @property
    def seconds(self) -> float:
        return self.wav16k.shape[0] / HUBERT_SR

    @classmethod
    def from_array(cls, wav: np.ndarray, sr: int, source: str = "reference") -> ReferenceClip:
        """Mono (or [T, C] / [C, T] multi-channel, averaged) audio at any rate."""
        data = np.asarray(wav, dtype=np.float32)
        if data.ndim == 2:
            data = data.mean(axis=int(np.argmin(data.shape)))
        if data.ndim != 1 or data.size == 0:
            raise TimbreError(f"{source}: the reference must be a non-empty mono waveform")
        if not np.all(np.isfinite(data)):
            raise TimbreError(f"{source}: the reference audio contains NaN or infinite samples")
        if sr <= 0:
            raise TimbreError(f"{source}: invalid sample rate {sr}")
        # 16 kHz as the original's librosa.load (soxr "HQ"); 32 kHz band-limited (the original uses torchaudio's sinc)
        wav16 = data.copy() if sr == HUBERT_SR else soxr.resample(data, sr, HUBERT_SR, quality="HQ")
        wav32 = resample(data, sr, SOVITS_SR)
        return cls(torch.from_numpy(np.asarray(wav16, np.float32)), torch.from_numpy(wav32), source)

    @classmethod
    def load(cls, path: str | Path) -> ReferenceClip:
        wav, sr = load_audio(path)
        return cls.from_array(wav, sr, str(path))


def as_clip(ref: str | Path | ReferenceClip) -> ReferenceClip:
    return ref if isinstance(ref, ReferenceClip) else ReferenceClip.load(ref)


def finish_reference_text(text: str, lang: str) -> str:
    """The transcript as the original uses it: outer newlines stripped, a final mark added when there is none."""
    text = text.strip("\n")
    if not text.strip():
        raise TimbreError("the reference transcript is empty; give the words spoken in the reference clip")
    if text[-1] not in SENTENCE_MARKS:
        text += "." if lang == "en" else "。"
    return text
