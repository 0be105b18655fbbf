"""A reference clip, prepared once and reused: prompt semantic tokens, spectrogram, speaker embedding, phones.

Facts kept from the original for identical output: the 16 kHz audio gets `int(32000 * 0.3)` = 9,600 zero samples
appended before HuBERT; the 32 kHz audio is divided by min(2, peak) when its peak exceeds 1; the transcript gets a
final period when it does not end in punctuation. The original refuses clips outside 3–10 s; here the limits are a
setting, with a clear error either way.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from timbre.audio.io import load_audio, resample
from timbre.audio.spectrogram import linear_spectrogram

SOVITS_SR = 32_000
HUBERT_SR = 16_000
PROMPT_PAD_SAMPLES = int(32000 * 0.3)
SENTENCE_END = set("，。？！,.?!~…、：:；;—")


@dataclass(frozen=True)
class ReferenceLimits:
    min_s: float = 3.0
    max_s: float = 10.0

    def check(self, seconds: float, source: str) -> None:
        if not self.min_s <= seconds <= self.max_s:
            raise ValueError(
                f"{source}: reference clip is {seconds:.2f} s; it must be between {self.min_s:g} and {self.max_s:g} s "
                "(trim it, or change the reference limits)"
            )


@dataclass(frozen=True)
class ReferenceAudio:
    wav16k: np.ndarray  # [T16] float32
    wav32k: np.ndarray  # [T32] float32
    source: str

    @classmethod
    def load(cls, path: str | Path, limits: ReferenceLimits | None = None) -> ReferenceAudio:
        wav, sr = load_audio(path)
        return cls.from_array(wav, sr, str(path), limits)

    @classmethod
    def from_array(
        cls, wav: np.ndarray, sr: int, source: str = "reference", limits: ReferenceLimits | None = None
    ) -> ReferenceAudio:
        wav = np.asarray(wav, dtype=np.float32)
        if wav.ndim != 1 or wav.size == 0 or not np.all(np.isfinite(wav)):
            raise ValueError(f"{source}: reference audio must be a non-empty, finite mono signal")
        (limits or ReferenceLimits()).check(wav.size / sr, source)
        return cls(resample(wav, sr, HUBERT_SR), resample(wav, sr, SOVITS_SR), source)

    def spectrogram(self) -> torch.Tensor:
        """Linear spectrogram of the 32 kHz audio [1, 1025, T50], after the original's peak guard."""
        audio = torch.from_numpy(self.wav32k)[None]
        peak = float(audio.abs().max())
        if peak > 1.0:
            audio = audio / min(2.0, peak)
        return linear_spectrogram(audio)


def prompt_codes(
    wav16k: np.ndarray, hubert: Callable[[torch.Tensor], torch.Tensor], extract_latent: Callable[..., torch.Tensor]
) -> torch.Tensor:
    """Reference 16 kHz audio → HuBERT [1, 768, T50] → SoVITS quantizer codes [T25] (int64)."""
    padded = np.concatenate([wav16k, np.zeros(PROMPT_PAD_SAMPLES, dtype=np.float32)])
    ssl = hubert(torch.from_numpy(padded))  # [768, T50]
    codes = extract_latent(ssl[None].float())  # the original returns [n_q, B, T25]
    return codes.reshape(-1, codes.shape[-1])[0].long()


def finish_reference_text(text: str, lang: str) -> str:
    """The original appends a sentence end to a reference transcript that has none."""
    text = text.strip()
    if not text:
        raise ValueError("the reference transcript is empty; give the words spoken in the reference clip")
    if text[-1] not in SENTENCE_END:
        text += "." if lang == "en" else "。"
    return text
