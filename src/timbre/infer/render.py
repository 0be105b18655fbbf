"""SoVITS rendering for inference: semantic tokens + target phones + a reference condition -> waveform.

This is `SynthesizerTrn.decode` split in two so that inference can reuse and control its parts:
- the reference condition (style vector `ge`, averaged over several references as the original does, plus the v2Pro
  speaker projection) is computed once per prepared reference, not once per fragment;
- the prior noise (`z_p = m_p + noise * exp(logs_p) * noise_scale`) comes from a `NoiseBank` whose value at output
  frame j depends only on (seed, j). Any window of tokens therefore gets the same noise for the same frames, which is
  what lets streamed chunks (rendered window by window) agree with one full render, and makes seeded runs repeat.
  With `noise_scale=0` this path equals `SynthesizerTrn.decode` exactly.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from timbre.models.sovits import SynthesizerTrn

NOISE_BLOCK_FRAMES = 64


class Condition(NamedTuple):
    ge: Tensor  # [1, gin, 1] condition of the flow and the decoder
    ge_text: Tensor  # [1, 512, 1] condition of the text/semantic encoder


def condition(sovits: SynthesizerTrn, specs: Sequence[Tensor], sv_embs: Sequence[Tensor] | None) -> Condition:
    """Reference spectrograms [1, 1025, T_i] (and v2Pro* embeddings [1, 20480], one per spectrogram) -> Condition."""
    with torch.inference_mode():
        _, ge, ge_text = sovits.condition(list(specs), None if sv_embs is None else list(sv_embs))
    return Condition(ge, ge_text)


class NoiseBank:
    """Standard normal noise [1, C, frames] that is a pure function of (seed, frame index).

    Frames are drawn in blocks of 64; block b comes from its own generator seeded with (seed, b), so any slice of
    frames is reproducible without drawing the frames before it.
    """

    def __init__(self, seed: int, channels: int) -> None:
        self.seed = int(seed)
        self.channels = channels
        self._blocks: dict[int, Tensor] = {}

    def _block(self, b: int) -> Tensor:
        if b not in self._blocks:
            state = np.random.SeedSequence([self.seed, b]).generate_state(2, dtype=np.uint32)
            gen = torch.Generator().manual_seed(int(state[0]) << 31 | int(state[1]) >> 1)
            self._blocks[b] = torch.randn(self.channels, NOISE_BLOCK_FRAMES, generator=gen)
        return self._blocks[b]

    def frames(self, start: int, stop: int) -> Tensor:
        """Noise for output frames [start, stop) -> [1, C, stop - start]."""
        first, last = start // NOISE_BLOCK_FRAMES, (stop - 1) // NOISE_BLOCK_FRAMES
        blocks = torch.cat([self._block(b) for b in range(first, last + 1)], dim=1)
        offset = start - first * NOISE_BLOCK_FRAMES
        return blocks[None, :, offset : offset + stop - start]


def frames_for_tokens(tokens: int, speed: float) -> int:
    """Output frames (50 Hz, 640 samples each) that `tokens` semantic tokens become at `speed` (the encoder's rule)."""
    frames = 2 * tokens
    return frames if speed == 1 else int(frames / speed) + 1


def render(
    sovits: SynthesizerTrn,
    tokens: Tensor,
    phones: Tensor,
    cond: Condition,
    noise: NoiseBank | None = None,
    *,
    noise_scale: float = 0.5,
    speed: float = 1.0,
    frame_offset: int = 0,
) -> Tensor:
    """tokens [T25] + target phone ids [N] -> float32 audio [samples] at 32 kHz (640 samples per output frame).

    `frame_offset` says where the window starts in the whole fragment's output frames, to take its noise from there.
    """
    if tokens.numel() == 0:
        return torch.zeros(0)
    with torch.inference_mode():
        codes = tokens.reshape(1, 1, -1).long()  # [n_q=1, B=1, T25]
        quantized = sovits.quantizer.decode(codes)  # [1, 768, T25]
        if sovits.cfg.semantic_frame_rate == "25hz":
            quantized = F.interpolate(quantized, size=2 * quantized.shape[-1], mode="nearest")
        text = phones.reshape(1, -1).long()
        y_lengths = torch.tensor([quantized.shape[-1]])
        text_lengths = torch.tensor([text.shape[1]])
        _, m_p, logs_p, y_mask = sovits.enc_p(quantized, y_lengths, text, text_lengths, cond.ge_text, speed)
        z_p = m_p
        if noise is not None and noise_scale != 0:
            eps = noise.frames(frame_offset, frame_offset + m_p.shape[-1])
            z_p = m_p + eps * torch.exp(logs_p) * noise_scale
        z = sovits.flow(z_p, y_mask, g=cond.ge, reverse=True)
        audio = sovits.dec(z * y_mask, g=cond.ge)  # [1, 1, frames * 640]
    return audio[0, 0].float()
