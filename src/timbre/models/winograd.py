"""Winograd F(4, 5) convolution for the discriminators' widest layers (kernel 5, stride 1, 1024 -> 1024 channels).

A kernel-5 convolution computed directly costs 5 multiplies per output and input channel; Winograd's minimal
filtering algorithm F(4, 5) computes 4 outputs from 8 transformed inputs with 8 multiplies, i.e. 2, so the channel
mixing (the GEMMs, which are all of this layer's cost) shrinks 2.5x. It is still fp32 arithmetic, as cuDNN's own
Winograd kernels are; the transforms add rounding of about 1e-6 relative to the output (tested against
`F.conv2d`). Forward and backward both go through the 8 batched GEMMs, so training gains in both directions.

Toom-Cook construction on the points 0, 1, -1, 2, -2, 1/2, -1/2 and infinity: with V(n) the Vandermonde rows
[p^0 .. p^(n-1)] of the points (infinity as [0 .. 0, 1]), the correlation y[i] = sum_k w[k] x[i + k] of an 8-sample
tile is y = A^T [(G w) * (B^T x)] with A^T = V(4)^T, G = V(5) and B^T = V(8)^-T.

Layouts: the input [B, C, H, W] is convolved along H (the period discriminators' (5, 1) kernels; a 1-D input is
[B, C, T, 1]). Tiles of 8 rows start every 4 rows; the transformed input is laid out [8, C_in, B * tiles * W] and the
transformed weight [8, C_out, C_in], so both GEMM operands come from strided views without transposing copies.
"""

from __future__ import annotations

from fractions import Fraction
from functools import cache
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

M_OUT, R_TAPS = 4, 5
N_TILE = M_OUT + R_TAPS - 1
POINTS = (Fraction(0), Fraction(1), Fraction(-1), Fraction(2), Fraction(-2), Fraction(1, 2), Fraction(-1, 2))


def _vandermonde(cols: int) -> list[list[Fraction]]:
    rows = [[p**j for j in range(cols)] for p in POINTS[: N_TILE - 1]]
    rows.append([Fraction(0)] * (cols - 1) + [Fraction(1)])  # the point at infinity
    return rows


def _inverse(matrix: list[list[Fraction]]) -> list[list[Fraction]]:
    """Exact Gauss-Jordan inverse over the rationals (the matrices are 8 x 8)."""
    n = len(matrix)
    aug = [list(row) + [Fraction(int(i == j)) for j in range(n)] for i, row in enumerate(matrix)]
    for col in range(n):
        pivot = next(r for r in range(col, n) if aug[r][col] != 0)
        aug[col], aug[pivot] = aug[pivot], aug[col]
        scale = aug[col][col]
        aug[col] = [v / scale for v in aug[col]]
        for r in range(n):
            if r != col and aug[r][col] != 0:
                factor = aug[r][col]
                aug[r] = [a - factor * b for a, b in zip(aug[r], aug[col], strict=True)]
    return [row[n:] for row in aug]


@cache
def transforms(dtype: torch.dtype = torch.float32) -> tuple[Tensor, Tensor, Tensor]:
    """(A^T [4, 8], G [8, 5], B^T [8, 8]) computed exactly, then rounded to `dtype`."""
    a_t = [list(col) for col in zip(*_vandermonde(M_OUT), strict=True)]
    g = _vandermonde(R_TAPS)
    b_t = [list(col) for col in zip(*_inverse(_vandermonde(N_TILE)), strict=True)]

    def tensor(m: list[list[Fraction]]) -> Tensor:
        return torch.tensor([[float(v) for v in row] for row in m], dtype=torch.float64).to(dtype)

    return tensor(a_t), tensor(g), tensor(b_t)


def transform_kernel(weight: Tensor) -> Tensor:
    """G applied along the taps: a k-major kernel [5, C_out, C_in] -> [8, C_out, C_in] (one contiguous GEMM)."""
    taps, c_out, c_in = weight.shape
    if taps != R_TAPS:
        raise ValueError(f"transform_kernel needs a [5, C_out, C_in] kernel, got {list(weight.shape)}")
    _, g, _ = transforms(weight.dtype)
    return (g.to(weight.device) @ weight.reshape(R_TAPS, -1)).view(N_TILE, c_out, c_in)


class _WeightNormedKernel(torch.autograd.Function):
    """(G v, g / ||v||) for a k-major weight-normed kernel, with a backward written for memory traffic.

    Autograd's own graph for this (norm, division, transform, select/permute views of the parameter) makes about ten
    passes over the 20 MB kernel in backward; this one makes two: the transposed transform, and one fused
    multiply-add for the norm's gradient into the same buffer.
    """

    @staticmethod
    def forward(ctx: Any, v: Tensor, g: Tensor) -> tuple[Tensor, Tensor]:  # v [5, C_out, C_in], g [C_out]
        norm = torch.linalg.vector_norm(v, dim=(0, 2))  # [C_out]
        ctx.save_for_backward(v, g, norm)
        return transform_kernel(v), g / norm

    @staticmethod
    def backward(
        ctx: Any, grad_kernel: Tensor | None, grad_scale: Tensor | None
    ) -> tuple[Tensor, Tensor | None]:
        v, g, norm = ctx.saved_tensors
        taps, c_out, c_in = v.shape
        if grad_kernel is not None:
            _, gt, _ = transforms(v.dtype)
            grad_v = (gt.to(v.device).t() @ grad_kernel.reshape(N_TILE, -1)).view(taps, c_out, c_in)
        else:
            grad_v = torch.zeros_like(v)
        grad_g = None
        if grad_scale is not None:
            # scale = g / ||v||: d/dv = -g v / ||v||^3 per output channel, d/dg = 1 / ||v||
            grad_v.addcmul_(v, (-grad_scale * g / norm.pow(3)).view(1, -1, 1))
            grad_g = grad_scale / norm
        return grad_v, grad_g


def weight_normed_kernel(v: Tensor, g: Tensor) -> tuple[Tensor, Tensor]:
    """For weight norm w = g v / ||v|| (norm per output channel) of a k-major kernel v [5, C_out, C_in], g [C_out]:
    (`transform_kernel(v)` [8, C_out, C_in], gain g / ||v|| [C_out]); `conv_k5(x, *weight_normed_kernel(v, g), bias)`
    is then the weight-normed convolution. Differentiable in v and g."""
    return _WeightNormedKernel.apply(v, g)  # type: ignore[no-any-return]


def conv_k5(x: Tensor, kernel: Tensor, scale: Tensor | None = None, bias: Tensor | None = None) -> Tensor:
    """The correlation of x [B, C_in, H, W] along H with a kernel-5, padding-2, stride-1 filter, by F(4, 5).

    `kernel` is the filter after `transform_kernel` ([8, C_out, C_in]); the result is multiplied by `scale` [C_out]
    (a weight-norm gain folded into the output, cheaper than into the kernel) and `bias` [C_out] is added. Equals
    `F.conv2d(x, w * scale[:, None, None, None], bias, padding=(2, 0))` for w [C_out, C_in, 5, 1].
    """
    b, c_in, h, w = x.shape
    n_tile, c_out, k_in = kernel.shape
    if n_tile != N_TILE or k_in != c_in:
        raise ValueError(f"conv_k5: kernel {list(kernel.shape)} does not fit an input of {c_in} channels")
    a_t, _, b_t = (m.to(x.device) for m in transforms(x.dtype))
    tiles = -(-h // M_OUT)
    padded = F.pad(x, (0, 0, 2, M_OUT * tiles + N_TILE - M_OUT - h - 2))  # [B, C, 4 * tiles + 4, W]
    windows = padded.unfold(2, N_TILE, M_OUT)  # [B, C, tiles, W, 8] (a view)
    v = (b_t @ windows.permute(4, 1, 0, 2, 3).reshape(N_TILE, -1)).view(N_TILE, c_in, b * tiles * w)
    m = torch.bmm(kernel, v)  # [8, C_out, B * tiles * W]
    y = (a_t @ m.view(N_TILE, -1)).view(M_OUT, c_out, b, tiles, w)
    y = y.permute(2, 1, 3, 0, 4).reshape(b, c_out, tiles * M_OUT, w)[:, :, :h]
    if scale is not None:
        y = y * scale.view(1, -1, 1, 1)
    return y if bias is None else y + bias.view(1, -1, 1, 1)
