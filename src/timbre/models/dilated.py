"""A stride-1 dilated 1-D convolution with a backward pass that runs at the forward pass's speed on the CPU.

oneDNN's backward kernels for dilated 1-D convolutions are 1.5-3x slower than its forward kernel on the same shapes
(the HiFi-GAN decoder's resblocks: dilations 3 and 5, 16-256 channels). Both gradients have cheaper exact forms:

- the input gradient is the forward correlation of the output gradient with the kernel flipped in time and its
  channel axes swapped (padding d (k - 1) - p), which runs on oneDNN's fast forward kernel;
- the weight gradient for tap j is a GEMM of the output gradient with the input shifted by j d: k batched GEMMs over
  strided views, with no im2col copy.

Only the summation order differs from the direct backward (tested against autograd's in float64).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor


class _DilatedConv1d(torch.autograd.Function):
    @staticmethod
    def forward(
        ctx: Any, x: Tensor, weight: Tensor, bias: Tensor | None, padding: int, dilation: int
    ) -> Tensor:
        ctx.save_for_backward(x, weight)
        ctx.padding, ctx.dilation, ctx.has_bias = padding, dilation, bias is not None
        return F.conv1d(x, weight, bias, 1, padding, dilation)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:  # type: ignore[override]
        x, weight = ctx.saved_tensors
        p, d = ctx.padding, ctx.dilation
        k = weight.shape[-1]
        grad_x = grad_w = grad_b = None
        if ctx.needs_input_grad[0]:
            grad_x = F.conv1d(grad, weight.flip(-1).transpose(0, 1), None, 1, d * (k - 1) - p, d)
        if ctx.needs_input_grad[1]:
            xp = F.pad(x, (p, p))
            t = grad.shape[-1]
            taps = [torch.bmm(grad, xp[:, :, j * d : j * d + t].transpose(1, 2)).sum(0) for j in range(k)]
            grad_w = torch.stack(taps, -1)  # [C_out, C_in, k]
        if ctx.has_bias and ctx.needs_input_grad[2]:
            grad_b = grad.sum((0, 2))
        return grad_x, grad_w, grad_b, None, None


def dilated_conv1d(x: Tensor, weight: Tensor, bias: Tensor | None, padding: int, dilation: int) -> Tensor:
    """Equals `F.conv1d(x, weight, bias, 1, padding, dilation)` (groups 1), in values and gradients.

    The fast backward needs padding <= dilation (k - 1) (every "same" or "valid" convolution); other paddings, and
    the cases where no gradient is recorded, use the plain convolution.
    """
    k = weight.shape[-1]
    if padding > dilation * (k - 1) or not torch.is_grad_enabled():
        return F.conv1d(x, weight, bias, 1, padding, dilation)
    return _DilatedConv1d.apply(x, weight, bias, padding, dilation)  # type: ignore[no-any-return]
