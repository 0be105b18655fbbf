"""polyphase_conv1d is the strided convolution itself: same values and gradients, in any stride/kernel/padding/groups."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from tests.helpers.grads import assert_same_values_and_gradients

from timbre.models.discriminators import DiscriminatorP, DiscriminatorS
from timbre.models.polyphase import conv_rows, polyphase_conv1d

CASES = [
    (s, k, p, g, t)
    for s, k, p, g, t in itertools.product((1, 3, 4), (1, 2, 5, 41), (0, 2, 20), (1, 2), (7, 97))
    if t + 2 * p >= k
]


@pytest.mark.parametrize(("stride", "kernel", "padding", "groups", "length"), CASES)
def test_values_equal_conv1d_in_float64(
    stride: int, kernel: int, padding: int, groups: int, length: int
) -> None:
    g = torch.Generator().manual_seed(stride * 1000 + kernel * 10 + length)
    x = torch.randn(2, 4, length, generator=g, dtype=torch.float64)
    w = torch.randn(6, 4 // groups, kernel, generator=g, dtype=torch.float64)
    b = torch.randn(6, generator=g, dtype=torch.float64)
    want = F.conv1d(x, w, b, stride, padding, 1, groups)
    got = polyphase_conv1d(x, w, b, stride, padding, groups)
    assert got.shape == want.shape
    torch.testing.assert_close(got, want, atol=1e-12, rtol=1e-12)


def test_gradients_equal_conv1d_in_float64() -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(3, 8, 203, generator=g, dtype=torch.float64, requires_grad=True)
    w = torch.randn(16, 2, 41, generator=g, dtype=torch.float64, requires_grad=True)
    b = torch.randn(16, generator=g, dtype=torch.float64, requires_grad=True)
    up = torch.randn(3, 16, 51, generator=g, dtype=torch.float64)
    want = torch.autograd.grad((F.conv1d(x, w, b, 4, 20, 1, 4) * up).sum(), (x, w, b))
    got = torch.autograd.grad((polyphase_conv1d(x, w, b, 4, 20, 4) * up).sum(), (x, w, b))
    for a, e in zip(got, want, strict=True):
        torch.testing.assert_close(a, e, atol=1e-11, rtol=1e-11)


def test_too_short_input_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="shorter than the kernel"):
        polyphase_conv1d(torch.zeros(1, 1, 3), torch.zeros(1, 1, 41), stride=4, padding=0)


@pytest.mark.parametrize("make", [DiscriminatorS, lambda: DiscriminatorP(2), lambda: DiscriminatorP(5)])
def test_discriminator_training_path_gives_the_evaluation_path_outputs_and_gradients(make: Any) -> None:
    """In training mode on the CPU the scale discriminator's grouped layers go through the polyphase form and the
    period discriminators' strided (5 x 1) layers are GEMMs over unfolded rows; in float64 (where the Winograd layer
    keeps its direct form) scores, feature maps and every weight gradient equal the direct convolutions' to rounding."""
    torch.manual_seed(5)
    disc = make().double()
    x = 0.1 * torch.randn(2, 1, 4096, dtype=torch.float64)

    def run(training: bool) -> list[torch.Tensor]:
        disc.train(training)
        disc.zero_grad()
        score, fmaps = disc(x)
        (score.square().mean() + sum(f.abs().mean() for f in fmaps)).backward()
        grads = [p.grad.clone() for p in disc.parameters() if p.grad is not None]
        return [score.detach(), *(f.detach() for f in fmaps), *grads]

    direct, fast = run(False), run(True)
    assert len(direct) == len(fast) == 1 + len(disc.convs) + 1 + len(list(disc.parameters()))
    for a, e in zip(fast, direct, strict=True):
        torch.testing.assert_close(a, e, atol=1e-12, rtol=1e-9)


@pytest.mark.parametrize(
    ("stride", "kernel", "padding", "width"), [(3, 5, 2, 2), (3, 5, 2, 11), (1, 3, 1, 1), (2, 4, 0, 3)]
)
def test_conv_rows_equals_conv2d_in_values_and_gradients(
    stride: int, kernel: int, padding: int, width: int
) -> None:
    g = torch.Generator().manual_seed(stride * 100 + width)
    x = torch.randn(3, 4, 37, width, generator=g, dtype=torch.float64, requires_grad=True)
    w = torch.randn(6, 4, kernel, 1, generator=g, dtype=torch.float64, requires_grad=True)
    b = torch.randn(6, generator=g, dtype=torch.float64, requires_grad=True)
    want = F.conv2d(x, w, b, (stride, 1), (padding, 0))
    assert_same_values_and_gradients(conv_rows(x, w, b, stride, padding), want, (x, w, b), g)
    assert conv_rows(x, w, None, stride, padding).shape == want.shape


def test_conv_rows_rejects_a_kernel_of_other_channels() -> None:
    with pytest.raises(ValueError, match="does not fit"):
        conv_rows(torch.zeros(1, 3, 9, 2), torch.zeros(4, 2, 5, 1), None, 3, 2)
