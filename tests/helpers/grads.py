"""Comparing a fast path with the direct one: values and the gradients of a random projection of them."""

from __future__ import annotations

import torch


def assert_same_values_and_gradients(
    got: torch.Tensor,
    want: torch.Tensor,
    inputs: tuple[torch.Tensor, ...],
    generator: torch.Generator,
    atol: float = 1e-12,
    grad_atol: float = 1e-11,
) -> None:
    """`got` equals `want` and so does the gradient of <got, u> for every input, for one random u (float64)."""
    assert got.shape == want.shape
    torch.testing.assert_close(got, want, atol=atol, rtol=atol)
    up = torch.randn(want.shape, generator=generator, dtype=want.dtype)
    fast = torch.autograd.grad((got * up).sum(), inputs)
    direct = torch.autograd.grad((want * up).sum(), inputs)
    for a, e in zip(fast, direct, strict=True):
        torch.testing.assert_close(a, e, atol=grad_atol, rtol=grad_atol)
