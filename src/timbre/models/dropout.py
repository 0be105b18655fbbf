"""Dropout whose CPU mask costs a fraction of `torch.bernoulli_`.

On the CPU, PyTorch draws one Mersenne-Twister number per element for a dropout mask (~7.5 ns an element here): in
the GPT training step that was ~18% of the time. This module draws 64 random bits per four elements instead (numpy's
PCG64, seeded from torch's generator so that `torch.manual_seed`, checkpointed RNG state and resume keep working)
and keeps an element when its 16-bit word is at or above `round(p * 65536)`, i.e. drops with probability
`round(p * 65536) / 65536` (0.1000061 for p = 0.1). Kept elements are scaled by 1 / (1 - p) as `F.dropout` does.
The mask is saved for backward as a float tensor of 0 and 1 / (1 - p) (one multiply each way). On other devices (CUDA) it is plain `F.dropout`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

_WORD = 1 << 16


def keep_mask(
    shape: torch.Size | tuple[int, ...], p: float, generator: torch.Generator | None = None
) -> Tensor:
    """A bool CPU tensor of `shape`, True with probability 1 - round(p * 65536) / 65536."""
    n = 1
    for s in shape:
        n *= int(s)
    seed = int(torch.randint(0, 2**62, (1,), generator=generator).item())
    words = np.random.Generator(np.random.PCG64(seed)).bit_generator.random_raw((n + 3) // 4)
    bits = torch.from_numpy(words.view(np.uint16)[:n].view(np.int16))  # uniform in [-32768, 32767]
    return bits.ge(round(p * _WORD) - _WORD // 2).view(shape)


class _MaskedScale(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: Tensor, keep: Tensor, scale: float) -> Tensor:
        factor = keep.to(x.dtype).mul_(scale)  # 0 or 1 / (1 - p): one vectorised multiply each way
        ctx.save_for_backward(factor)
        return x * factor

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None, None]:
        (factor,) = ctx.saved_tensors
        return grad * factor, None, None


def dropout(x: Tensor, p: float, training: bool = True) -> Tensor:
    """`F.dropout(x, p, training)` with a fast mask on the CPU."""
    if not training or p == 0.0:
        return x
    if x.device.type != "cpu" or p >= 1.0:
        return F.dropout(x, p, training)
    return _MaskedScale.apply(x, keep_mask(x.shape, p), 1.0 / (1.0 - p))


class Dropout(nn.Module):
    """Drop-in for `nn.Dropout` (same `p`, no parameters) using `dropout` above."""

    def __init__(self, p: float = 0.5) -> None:
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"dropout probability must be in [0, 1], got {p}")
        self.p = p

    def forward(self, x: Tensor) -> Tensor:
        return dropout(x, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}"
