"""Strided 1-D convolution as a stride-1 convolution over the input's polyphase components.

With stride S, output t reads x[S t + k - P] for taps k. Writing k - P = S q + r (0 <= r < S) splits the input into its
S phases x_r[u] = x[S u + r], stacked as channels, and the kernel into ntap = ceil(K / S) (+1) taps per phase:

    y[t] = sum_{q, r} w[S q + r + P] x_r[t + q]

which is a stride-1 convolution with S times the input channels and about K / S taps (the same products; only the
summation order differs). oneDNN runs the scale discriminator's grouped layers (kernel 41, stride 4, 4 input
channels per group) 3-4x faster this way in training (forward + backward), where its direct strided kernels are slow.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor


def polyphase_conv1d(
    x: Tensor, weight: Tensor, bias: Tensor | None = None, stride: int = 1, padding: int = 0, groups: int = 1
) -> Tensor:
    """Equals `F.conv1d(x, weight, bias, stride, padding, groups=groups)` (dilation 1, zero padding)."""
    b, c_in, t = x.shape
    c_out, c_in_g, k = weight.shape
    s, p = stride, padding
    t_out = (t + 2 * p - k) // s + 1
    if t_out < 1:
        raise ValueError(
            f"polyphase_conv1d: input of length {t} is shorter than the kernel ({k}, padding {p})"
        )
    q_min, q_max = (-p) // s, (k - 1 - p) // s
    taps = q_max - q_min + 1
    left = -(s * q_min + p)  # zero taps before tap 0 so that the kernel starts at q_min, r = 0
    w = F.pad(weight, (left, taps * s - left - k))  # [C_out, C_in/g, taps * S]
    w = w.view(c_out, c_in_g, taps, s).transpose(2, 3).reshape(c_out, c_in_g * s, taps)  # channel c * S + r
    phases = -(-t // s)
    xp = F.pad(x, (0, phases * s - t)).view(b, c_in, phases, s).transpose(2, 3).reshape(b, c_in * s, phases)
    xp = F.pad(xp, (-q_min, max(0, t_out + q_max - phases)))  # x_r[u] for u in [q_min, t_out - 1 + q_max]
    return F.conv1d(xp, w, bias, 1, 0, 1, groups)[..., :t_out]


def conv_rows(x: Tensor, weight: Tensor, bias: Tensor | None, stride: int, padding: int) -> Tensor:
    """Equals `F.conv2d(x, weight, bias, (stride, 1), (padding, 0))` for a column kernel [C_out, C_in, K, 1].

    Computed as one GEMM over the unfolded rows (im2col): [C_out, C_in K] x [C_in K, B H_out W]. The period
    discriminators' strided (5 x 1) layers run about twice as fast this way in training (forward + backward) for
    narrow periods, where oneDNN's direct kernels handle a width of 2 or 3 poorly; the GEMM is near the machine's
    peak. The result is a [B, C_out, H_out, W] view of a [C_out, B, H_out, W] buffer: the next layer's unfold reads it
    channel-major, as it wants, and element-wise operations keep that layout. Backward is the two transposed GEMMs
    and an overlap-add of the column gradient, K strided additions (2-3x faster than autograd's `unfold_backward`).
    """
    c_out, c_in_w, k, k_w = weight.shape
    if c_in_w != x.shape[1] or k_w != 1:
        raise ValueError(
            f"conv_rows: kernel {list(weight.shape)} does not fit an input of {x.shape[1]} channels"
        )
    return _ConvRows.apply(x, weight, bias, stride, padding)  # type: ignore[no-any-return]


class _ConvRows(torch.autograd.Function):
    @staticmethod
    def forward(
        ctx: Any, x: Tensor, weight: Tensor, bias: Tensor | None, stride: int, padding: int
    ) -> Tensor:
        b, c_in, h, w = x.shape
        c_out, _, k, _ = weight.shape
        # [C_in, B, H_out, W, K]
        rows = F.pad(x.transpose(0, 1), (0, 0, padding, padding)).unfold(2, k, stride)
        h_out = rows.shape[2]
        cols = rows.permute(0, 4, 1, 2, 3).reshape(c_in * k, b * h_out * w)
        flat = weight.reshape(c_out, c_in * k)
        y = flat @ cols if bias is None else torch.addmm(bias.view(-1, 1), flat, cols)
        ctx.save_for_backward(
            cols if ctx.needs_input_grad[1] else None, flat if ctx.needs_input_grad[0] else None
        )
        ctx.geometry = (x.shape, stride, padding, h_out, k, bias is not None)
        return y.view(c_out, b, h_out, w).transpose(0, 1)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:  # type: ignore[override]
        cols, flat = ctx.saved_tensors
        (b, c_in, h, w), stride, padding, h_out, k, has_bias = ctx.geometry
        g = grad.transpose(0, 1).reshape(grad.shape[1], -1)  # [C_out, B H_out W]
        grad_x = grad_w = grad_b = None
        if ctx.needs_input_grad[0]:
            grad_cols = (flat.t() @ g).view(c_in, k, b, h_out, w)
            padded = grad.new_zeros(c_in, b, h + 2 * padding, w)
            span = stride * (h_out - 1) + 1
            # overlap-add: column tap `tap` of output row t came from padded row stride t + tap
            for tap in range(k):
                padded[:, :, tap : tap + span : stride].add_(grad_cols[:, tap])
            grad_x = padded[:, :, padding : padding + h].transpose(0, 1)
        if ctx.needs_input_grad[1]:
            grad_w = (g @ cols.t()).view(-1, c_in, k, 1)
        if has_bias and ctx.needs_input_grad[2]:
            grad_b = g.sum(1)
        return grad_x, grad_w, grad_b, None, None
