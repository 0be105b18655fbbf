"""Semantic tokens and the inference-time reference features (prompt codes, spectrogram, speaker embedding).

Facts about the original (zero-shot inference): the reference is loaded at 16 kHz and must be 3-10 s (48,000-160,000
samples); 0.3 s at 32 kHz = 9,600 zero samples are appended (0.6 s at 16 kHz, kept for identical tokens), HuBERT runs
on it, and SoVITS `extract_latent` (ssl_proj conv k2 s2 to 25 Hz, then the quantizer) gives the prompt codes. The
reference spectrogram comes from the 32 kHz audio (stereo averaged, divided by min(2, peak) when the peak exceeds 1).
v2Pro/v2ProPlus add a speaker-verification embedding [20480] of the same audio.

The models come in as callables so that this module works with any implementation (and with the batch engines):
`content(wav16k [T]) -> [C, T50]`, `extract_latent(ssl [B, C, T50]) -> codes [B, n_q, T25]`,
`speaker(wav32k [B, T]) -> [B, 20480]` (the speaker model resamples to 16 kHz itself, as the original's does).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple

import torch

from timbre.errors import TimbreError

REF_MIN_SAMPLES = 48_000  # 3 s at 16 kHz
REF_MAX_SAMPLES = 160_000  # 10 s at 16 kHz
REF_PAD_SAMPLES = int(32000 * 0.3)  # 9,600 zeros appended to the 16 kHz reference

ContentFn = Callable[[torch.Tensor], torch.Tensor]
ExtractLatent = Callable[[torch.Tensor], torch.Tensor]
SpeakerFn = Callable[[torch.Tensor], torch.Tensor]


class ReferenceFeatures(NamedTuple):
    prompt_codes: torch.Tensor  # [T25] int64
    spec: torch.Tensor  # [1, 1025, T50] linear spectrogram of the 32 kHz reference
    sv_emb: torch.Tensor | None  # [1, 20480] for v2Pro/v2ProPlus, else None


def check_reference_length(wav16k: torch.Tensor) -> None:
    samples = wav16k.shape[-1]
    if not REF_MIN_SAMPLES <= samples <= REF_MAX_SAMPLES:
        raise TimbreError(
            f"the reference audio is {samples / 16000:.2f} s long; use a clip of 3 to 10 seconds (as the original)"
        )


def semantic_codes(
    extract_latent: ExtractLatent,
    ssl: torch.Tensor,
    frame_lengths: Sequence[int] | torch.Tensor | None = None,
) -> list[torch.Tensor]:
    """SoVITS semantic tokens [T25_i] (int64) for a batch of content features ssl [B, C, T50].

    Padded batches are fine: ssl_proj (kernel 2, stride 2) and the per-frame quantizer keep item i's first
    `T50_i // 2` codes independent of the padding, and only those are returned.
    """
    if ssl.dim() != 3:
        raise TimbreError(f"content features must be [B, C, T], got shape {tuple(ssl.shape)}")
    with torch.inference_mode():
        codes = extract_latent(ssl)
    if codes.dim() == 3:
        codes = codes[:, 0]  # [B, n_q, T25] -> first (only) quantizer
    lengths = [ssl.shape[-1]] * ssl.shape[0] if frame_lengths is None else [int(n) for n in frame_lengths]
    return [codes[i, : n // 2].long() for i, n in enumerate(lengths)]


def prompt_codes(
    wav16k: torch.Tensor, content: ContentFn, extract_latent: ExtractLatent, check_length: bool = True
) -> torch.Tensor:
    """Reference 16 kHz mono waveform [T] -> prompt semantic codes [T25], as the original's inference does."""
    if wav16k.dim() != 1:
        raise TimbreError(f"the reference must be one mono waveform [T], got shape {tuple(wav16k.shape)}")
    if check_length:
        check_reference_length(wav16k)
    padded = torch.cat([wav16k.float(), wav16k.new_zeros(REF_PAD_SAMPLES, dtype=torch.float32)])
    ssl = content(padded)  # [C, T50]
    return semantic_codes(extract_latent, ssl[None])[0]


def reference_audio_32k(wav32k: torch.Tensor) -> torch.Tensor:
    """[T] or [channels, T] at 32 kHz -> [1, T]: channels averaged, divided by min(2, peak) if the peak exceeds 1."""
    audio = wav32k.float()
    if audio.dim() == 1:
        audio = audio[None]
    elif audio.shape[0] > 1:
        audio = audio.mean(0, keepdim=True)
    peak = float(audio.abs().max()) if audio.numel() else 0.0
    if peak > 1:
        audio = audio / min(2.0, peak)
    return audio


def reference_spectrogram(wav32k: torch.Tensor) -> torch.Tensor:
    """The SoVITS reference spectrogram [1, 1025, T50] of a 32 kHz reference ([T] or [channels, T])."""
    from timbre.audio.spectrogram import linear_spectrogram

    return linear_spectrogram(reference_audio_32k(wav32k), n_fft=2048, hop=640, win=2048)


def reference_features(
    wav16k: torch.Tensor,
    wav32k: torch.Tensor,
    content: ContentFn,
    extract_latent: ExtractLatent,
    speaker: SpeakerFn | None = None,
    check_length: bool = True,
) -> ReferenceFeatures:
    """Everything SoVITS/GPT inference needs from one reference clip (sv_emb only when `speaker` is given)."""
    codes = prompt_codes(wav16k, content, extract_latent, check_length)
    audio = reference_audio_32k(wav32k)
    spec = reference_spectrogram(audio)
    sv_emb = None
    if speaker is not None:
        with torch.inference_mode():
            sv_emb = speaker(audio)
    return ReferenceFeatures(codes, spec, sv_emb)
