"""Training items and their collation, as the original pads them.

SoVITS items carry HuBERT features, the linear spectrogram, the 32 kHz waveform and the phone ids of one segment;
GPT items carry phone ids, phone-level RoBERTa features and the segment's semantic tokens.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Generic, NamedTuple, TypeVar

import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

HOP = 640
EOS = 1024
T = TypeVar("T")


class ListDataset(Dataset[T], Generic[T]):
    """In-memory items (few-shot data sets are small)."""

    def __init__(self, items: Sequence[T]) -> None:
        self.items = list(items)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> T:
        return self.items[i]


class SoVITSItem(NamedTuple):
    ssl: torch.Tensor  # [768, T50]
    spec: torch.Tensor  # [1025, T50]
    wav: torch.Tensor  # [T50 * 640] float32 at 32 kHz
    phone_ids: torch.Tensor  # [N] int64
    sv_emb: torch.Tensor | None = None  # [20480] for v2Pro/v2ProPlus


class SoVITSBatch(NamedTuple):
    ssl: torch.Tensor  # [B, 768, T]
    spec: torch.Tensor  # [B, 1025, T]
    spec_lengths: torch.Tensor  # [B]
    wav: torch.Tensor  # [B, 1, T * 640]
    wav_lengths: torch.Tensor  # [B]
    text: torch.Tensor  # [B, N]
    text_lengths: torch.Tensor  # [B]
    sv_emb: torch.Tensor | None  # [B, 20480]


class GPTItem(NamedTuple):
    phone_ids: torch.Tensor  # [N] int64
    bert: torch.Tensor  # [1024, N]
    semantic: torch.Tensor  # [T25] int64


class GPTBatch(NamedTuple):
    phone_ids: torch.Tensor  # [B, Nx] right-padded with 0
    phone_lens: torch.Tensor  # [B]
    semantic_ids: torch.Tensor  # [B, Ny] right-padded with EOS
    semantic_lens: torch.Tensor  # [B]
    bert: torch.Tensor  # [B, 1024, Nx] right-padded with 0


def align_ssl(ssl: torch.Tensor, frames: int) -> torch.Tensor:
    """Match HuBERT frames to spectrogram frames: repeat the last frame or cut (the original pads by one)."""
    if ssl.shape[-1] < frames:
        ssl = F.pad(ssl[None], (0, frames - ssl.shape[-1]), mode="replicate")[0]
    return ssl[..., :frames]


def _pad_stack(
    tensors: Sequence[torch.Tensor], value: float = 0.0, length: int | None = None
) -> torch.Tensor:
    """Right-pad the last axis of equally-ranked tensors (to `length`, default the longest) and stack them."""
    longest = length or max(t.shape[-1] for t in tensors)
    return torch.stack([F.pad(t, (0, longest - t.shape[-1]), value=value) for t in tensors])


def collate_sovits(items: Sequence[SoVITSItem]) -> SoVITSBatch:
    frames = [min(it.spec.shape[-1], it.wav.shape[-1] // HOP) for it in items]
    # the original pads the frame axis to an even length past the longest item (2 * (T // 2 + 1)): the 25 Hz
    # semantic path halves and re-doubles it, so an odd length would lose a frame against the spectrogram
    padded = 2 * (max(frames) // 2 + 1)
    ssl = _pad_stack([align_ssl(it.ssl, n) for it, n in zip(items, frames, strict=True)], length=padded)
    spec = _pad_stack([it.spec[:, :n] for it, n in zip(items, frames, strict=True)], length=padded)
    wav = _pad_stack(
        [it.wav[: n * HOP][None] for it, n in zip(items, frames, strict=True)], length=padded * HOP
    )
    text = _pad_stack([it.phone_ids for it in items]).long()
    sv = torch.stack([it.sv_emb for it in items]) if all(it.sv_emb is not None for it in items) else None  # type: ignore[misc]
    lengths = torch.tensor(frames)
    return SoVITSBatch(
        ssl, spec, lengths, wav, lengths * HOP, text, torch.tensor([len(it.phone_ids) for it in items]), sv
    )


def collate_gpt(items: Sequence[GPTItem]) -> GPTBatch:
    return GPTBatch(
        phone_ids=_pad_stack([it.phone_ids for it in items]).long(),
        phone_lens=torch.tensor([len(it.phone_ids) for it in items]),
        semantic_ids=_pad_stack([it.semantic for it in items], value=EOS).long(),
        semantic_lens=torch.tensor([len(it.semantic) for it in items]),
        bert=_pad_stack([it.bert for it in items]).float(),
    )
