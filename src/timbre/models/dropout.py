"""Dropout whose CPU mask costs a fraction of `torch.bernoulli_`.

On the CPU, PyTorch draws one Mersenne-Twister number per element for a dropout mask (~7.5 ns an element here): in
the GPT training step that was ~18% of the time. For float32 this module runs timbre's C kernel (`timbre.native`):
one pass forward draws a counter-based 32-bit hash per element and scales or zeroes it, and backward makes the same
draw again from the call's seed, so nothing is saved. An element is dropped with probability round(p * 2^32) / 2^32.

Where the kernel is unavailable, and for other dtypes, 64 random bits serve four elements (numpy's PCG64) and an
element is dropped when its 16-bit word falls in the lowest `round(p * 65536)` of the 65536 values, i.e. with
probability `round(p * 65536) / 65536` (0.1000061 for p = 0.1); the multiplier (0 or 1 / (1 - p)) is saved for
backward. Both draws are seeded from torch's generator, so that `torch.manual_seed`, checkpointed RNG state and
resume keep working. Kept elements are scaled by 1 / (1 - p) as `F.dropout` does. On other devices (CUDA) it is plain
`F.dropout`.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from timbre import native

_WORD = 1 << 16


@torch.compiler.disable  # numpy views across dtypes are not traceable: run eagerly under torch.compile
def _random_words(shape: torch.Size | tuple[int, ...], generator: torch.Generator | None) -> Tensor:
    """int16 words uniform in [-32768, 32767], one per element of `shape` (flat)."""
    n = math.prod(shape)
    seed = int(torch.randint(0, 2**62, (1,), generator=generator).item())
    words = np.random.Generator(np.random.PCG64(seed)).bit_generator.random_raw((n + 3) // 4)
    return torch.from_numpy(words.view(np.uint16)[:n].view(np.int16))


def _threshold(p: float) -> int:
    return round(p * _WORD) - _WORD // 2  # a word at or above it keeps its element


def keep_mask(
    shape: torch.Size | tuple[int, ...], p: float, generator: torch.Generator | None = None
) -> Tensor:
    """A bool CPU tensor of `shape`, True with probability 1 - round(p * 65536) / 65536."""
    bits = _random_words(shape, generator)
    return bits.ge(_threshold(p)).view(shape)


def keep_factor(
    shape: torch.Size | tuple[int, ...],
    p: float,
    dtype: torch.dtype,
    generator: torch.Generator | None = None,
) -> Tensor:
    """The same draw as `keep_mask`, as the multiplier dropout applies: 1 / (1 - p) where kept, else 0.

    Computed as clamp(word - threshold + 1, 0, 1) / (1 - p) in place on a float copy of the words: four vectorised
    passes, faster on the CPU than a bool mask converted to float.
    """
    bits = _random_words(shape, generator)
    # float32 holds every int16 exactly (bf16 would not: words near the threshold would round across it)
    factor = bits.to(torch.float32).add_(1 - _threshold(p)).clamp_(0.0, 1.0).mul_(1.0 / (1.0 - p))
    return factor.view(shape).to(dtype)


class _MaskedScale(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: Tensor, factor: Tensor) -> Tensor:
        ctx.save_for_backward(factor)  # 0 or 1 / (1 - p): one vectorised multiply each way
        return x * factor

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None]:
        (factor,) = ctx.saved_tensors
        return grad * factor, None


class _NativeDropout(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: Tensor, p: float, lib: Any) -> Tensor:
        ctx.lib, ctx.seed, ctx.p = lib, native.new_seed(), p
        return _native(lib, x, ctx.seed, p)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None, None]:
        return _native(ctx.lib, grad, ctx.seed, ctx.p), None, None  # the same draw again


@torch.compiler.disable  # a ctypes call: run eagerly under torch.compile
def _native(lib: Any, x: Tensor, seed: int, p: float) -> Tensor:
    return native.dropout(lib, x, seed, p)


class _NativeReluDropout(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: Tensor, p: float, lib: Any) -> Tensor:
        y = _native_relu(lib, x, native.new_seed(), p)
        ctx.lib, ctx.p = lib, p
        ctx.save_for_backward(y)  # the next layer keeps it anyway (its input): no extra memory
        return y

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None, None]:
        (y,) = ctx.saved_tensors
        return _native_relu_backward(ctx.lib, grad, y, ctx.p), None, None


@torch.compiler.disable
def _native_relu(lib: Any, x: Tensor, seed: int, p: float) -> Tensor:
    return native.relu_dropout(lib, x, seed, p)


@torch.compiler.disable
def _native_relu_backward(lib: Any, grad: Tensor, y: Tensor, p: float) -> Tensor:
    return native.relu_dropout_backward(lib, grad, y, p)


def _native_lib(x: Tensor) -> Any:
    """The C kernels where they apply to x (float32 on the CPU, within the draw counter's range), else None."""
    if x.device.type != "cpu" or x.dtype != torch.float32 or x.numel() > native.MAX_ELEMENTS:
        return None
    return native.kernels()


def relu_dropout(x: Tensor, p: float, training: bool = True) -> Tensor:
    """`dropout(F.relu(x), p, training)`; for float32 on the CPU one C pass each way, with the same draw as `dropout`
    (so the same result for the same generator state), its backward computed from the result alone."""
    if training and 0.0 < p < 1.0:
        lib = _native_lib(x)
        if lib is not None:
            return _NativeReluDropout.apply(x, p, lib)  # type: ignore[no-any-return]
    return dropout(F.relu(x), p, training)


def dropout(x: Tensor, p: float, training: bool = True) -> Tensor:
    """`F.dropout(x, p, training)` with a fast mask on the CPU."""
    if not training or p == 0.0:
        return x
    if x.device.type != "cpu" or p >= 1.0:
        return F.dropout(x, p, training)
    lib = _native_lib(x)
    if lib is not None:
        return _NativeDropout.apply(x, p, lib)  # type: ignore[no-any-return]
    return _MaskedScale.apply(x, keep_factor(x.shape, p, x.dtype))


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
