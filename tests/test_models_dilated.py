"""dilated_conv1d is the dilated convolution itself: same values and gradients (float64), and the decoder's training
path gives its evaluation path's gradients."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from tests.helpers.grads import assert_same_values_and_gradients

from timbre.models.dilated import dilated_conv1d
from timbre.models.sovits.generator import ResBlock1, ResBlock2


@pytest.mark.parametrize(
    ("kernel", "dilation", "padding"), [(3, 3, 3), (7, 5, 15), (11, 3, 15), (5, 2, 0), (3, 1, 1)]
)
def test_values_and_gradients_equal_conv1d_in_float64(kernel: int, dilation: int, padding: int) -> None:
    g = torch.Generator().manual_seed(kernel * 10 + dilation)
    x = torch.randn(3, 5, 61, generator=g, dtype=torch.float64, requires_grad=True)
    w = torch.randn(4, 5, kernel, generator=g, dtype=torch.float64, requires_grad=True)
    b = torch.randn(4, generator=g, dtype=torch.float64, requires_grad=True)
    want = F.conv1d(x, w, b, 1, padding, dilation)
    assert_same_values_and_gradients(dilated_conv1d(x, w, b, padding, dilation), want, (x, w, b), g)


def test_without_bias_and_for_the_weight_alone() -> None:
    x = torch.randn(2, 3, 40, dtype=torch.float64)
    w = torch.randn(3, 3, 7, dtype=torch.float64, requires_grad=True)
    (got,) = torch.autograd.grad(dilated_conv1d(x, w, None, 9, 3).square().sum(), (w,))
    (want,) = torch.autograd.grad(F.conv1d(x, w, None, 1, 9, 3).square().sum(), (w,))
    torch.testing.assert_close(got, want, atol=1e-11, rtol=1e-11)


def test_paddings_past_the_kernel_span_fall_back_to_the_plain_convolution() -> None:
    x = torch.randn(1, 2, 20, dtype=torch.float64, requires_grad=True)
    w = torch.randn(2, 2, 3, dtype=torch.float64)
    got = dilated_conv1d(x, w, None, 9, 2)  # padding 9 > 2 * (3 - 1)
    torch.testing.assert_close(got, F.conv1d(x, w, None, 1, 9, 2))
    assert got.grad_fn is not None and "Convolution" in type(got.grad_fn).__name__


@pytest.mark.parametrize("block", [ResBlock1, ResBlock2])
def test_resblock_training_path_gives_the_evaluation_path_gradients(block: type) -> None:
    torch.manual_seed(3)
    net = block(6, 5, (1, 3, 5)).double()
    x = torch.randn(2, 6, 50, dtype=torch.float64)

    def run(training: bool) -> list[torch.Tensor]:
        net.train(training)
        net.zero_grad()
        y = net(x)
        y.square().mean().backward()
        return [y.detach()] + [p.grad.clone() for p in net.parameters()]

    direct, fast = run(False), run(True)
    assert len(direct) == len(fast) == 1 + len(list(net.parameters()))
    for a, e in zip(fast, direct, strict=True):
        torch.testing.assert_close(a, e, atol=1e-12, rtol=1e-9)
