"""Inference plan for the HiFi-GAN generator: folded weights in channels-last layout, optionally in bfloat16.

oneDNN runs 1-D convolutions fastest on CPU when they are 2-D convolutions over [B, C, 1, T] tensors in channels-last
memory (no per-call reorders; the small-channel late stages gain most), so the plan keeps activations in that layout
from the first upsampling to the last residual block. Weights are folded and converted once, when the plan is built;
build a new plan after changing the weights.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from timbre.models.sovits.layers import LRELU_SLOPE, WNConv1d, WNConvTranspose1d

_CL = torch.channels_last


class _Conv(NamedTuple):
    weight: Tensor  # [C_out, C_in, 1, k] (transposed: [C_in, C_out, 1, k]), channels-last
    bias: Tensor | None
    stride: int
    padding: int
    dilation: int


def _prepare(conv: WNConv1d | WNConvTranspose1d, dtype: torch.dtype) -> _Conv:
    with torch.no_grad():
        weight = torch._weight_norm(conv.weight_v, conv.weight_g, 0).unsqueeze(2)
        weight = weight.to(dtype).contiguous(memory_format=_CL)
        bias = None if conv.bias is None else conv.bias.detach().to(dtype)
    padding = conv.padding[0]
    assert isinstance(padding, int)
    return _Conv(weight, bias, conv.stride[0], padding, conv.dilation[0])


def _conv(x: Tensor, c: _Conv) -> Tensor:
    return F.conv2d(x, c.weight, c.bias, (1, c.stride), (0, c.padding), (1, c.dilation))


class GeneratorPlan:
    """Runs the upsampling + residual stages of a `Generator` (everything between `cond` and `conv_post`)."""

    def __init__(
        self, ups: nn.ModuleList, resblocks: nn.ModuleList, num_kernels: int, dtype: torch.dtype
    ) -> None:
        self.dtype = dtype
        self.num_kernels = num_kernels
        self.ups = [_prepare(up, dtype) for up in ups]  # type: ignore[arg-type]
        # each residual block: a list of units; a unit is a chain of convs whose output is added to its input
        self.blocks: list[list[list[_Conv]]] = []
        block: Any
        for block in resblocks:
            if hasattr(block, "convs1"):
                units = [
                    [_prepare(c1, dtype), _prepare(c2, dtype)]
                    for c1, c2 in zip(block.convs1, block.convs2, strict=True)
                ]
            else:
                units = [[_prepare(c, dtype)] for c in block.convs]
            self.blocks.append(units)

    def __call__(self, x: Tensor) -> Tensor:
        # x: [B, C, T] fp32 -> [B, C', T * prod(rates)] fp32 (after the final residual stage, before conv_post)
        x = x.unsqueeze(2).to(self.dtype).contiguous(memory_format=_CL)  # [B, C, 1, T]
        for i, up in enumerate(self.ups):
            x = F.conv_transpose2d(
                F.leaky_relu(x, LRELU_SLOPE), up.weight, up.bias, (1, up.stride), (0, up.padding)
            )
            xs: Tensor | None = None
            for units in self.blocks[i * self.num_kernels : (i + 1) * self.num_kernels]:
                y = x
                for chain in units:
                    t = _conv(F.leaky_relu(y, LRELU_SLOPE), chain[0])
                    for c in chain[1:]:
                        t = _conv(F.leaky_relu_(t, LRELU_SLOPE), c)
                    y = t.add_(y)
                if xs is None:
                    xs = y
                else:
                    xs.add_(y)
            assert xs is not None
            x = xs.div_(self.num_kernels)
        return x.squeeze(2)
