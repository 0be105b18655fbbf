"""Winograd F(4, 5) for the discriminators' widest layers: exact transforms, equal to the direct convolution in values
and gradients, and the discriminator's training path (batched real + fake, Winograd, k-major kernels) equal to its
plain evaluation path."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from timbre.models.discriminators import MultiPeriodDiscriminator, _k_major, _wide_conv
from timbre.models.losses import discriminator_loss, feature_loss, generator_loss
from timbre.models.sovits.layers import WNConv1d, WNConv2d
from timbre.models.winograd import conv_k5, transform_kernel, transforms, weight_normed_kernel

pytestmark = pytest.mark.usefixtures("one_thread")  # see conftest.py


def test_transforms_compute_the_correlation_exactly_in_float64() -> None:
    a_t, g, b_t = transforms(torch.float64)
    assert a_t.shape == (4, 8) and g.shape == (8, 5) and b_t.shape == (8, 8)
    torch.manual_seed(0)
    for _ in range(5):
        d, w = torch.randn(8, dtype=torch.float64), torch.randn(5, dtype=torch.float64)
        direct = torch.stack([(w * d[i : i + 5]).sum() for i in range(4)])
        torch.testing.assert_close(a_t @ ((g @ w) * (b_t @ d)), direct, atol=1e-12, rtol=0)


@pytest.mark.parametrize(("h", "w"), [(1, 1), (4, 3), (23, 11), (37, 2), (80, 1)])
def test_conv_k5_equals_conv2d_in_values_and_gradients(h: int, w: int) -> None:
    torch.manual_seed(h * 31 + w)
    x = torch.randn(3, 24, h, w, dtype=torch.float64, requires_grad=True)
    weight = torch.randn(16, 24, 5, 1, dtype=torch.float64, requires_grad=True)
    scale = torch.rand(16, dtype=torch.float64, requires_grad=True)
    bias = torch.randn(16, dtype=torch.float64, requires_grad=True)
    direct = F.conv2d(x, weight * scale.view(-1, 1, 1, 1), bias, padding=(2, 0))
    ours = conv_k5(x, transform_kernel(weight[..., 0].permute(2, 0, 1)), scale, bias)
    torch.testing.assert_close(ours, direct, atol=1e-10, rtol=1e-10)
    grad = torch.randn_like(direct)
    want = torch.autograd.grad(direct, (x, weight, scale, bias), grad)
    got = torch.autograd.grad(ours, (x, weight, scale, bias), grad)
    for a, b in zip(got, want, strict=True):
        torch.testing.assert_close(a, b, atol=1e-9, rtol=1e-9)


def test_conv_k5_float32_error_is_at_float32_level() -> None:
    torch.manual_seed(1)
    x = torch.randn(2, 256, 40, 3)
    weight = torch.randn(128, 256, 5, 1) / 30
    direct = F.conv2d(x, weight, padding=(2, 0))
    ours = conv_k5(x, transform_kernel(weight[..., 0].permute(2, 0, 1).contiguous()))
    assert ((ours - direct).abs().max() / direct.abs().max()).item() < 1e-5


def test_conv_k5_rejects_mismatched_kernels() -> None:
    with pytest.raises(ValueError, match="kernel"):
        conv_k5(torch.zeros(1, 3, 4, 1), torch.zeros(8, 2, 4))
    with pytest.raises(ValueError, match="5, C_out, C_in"):
        transform_kernel(torch.zeros(3, 2, 2))


@pytest.mark.parametrize("two_d", [True, False])
def test_wide_conv_training_path_matches_the_weight_normed_conv(two_d: bool) -> None:
    torch.manual_seed(2)
    conv = (
        WNConv2d(12, 10, (5, 1), 1, padding=(2, 0)) if two_d else WNConv1d(12, 10, 5, 1, padding=2)
    ).double()
    with torch.no_grad():
        conv.weight_g.mul_(1.7)
    shape_before = conv.weight_v.shape
    values_before = conv.weight_v.detach().clone()
    _k_major(conv)
    assert conv.weight_v.shape == shape_before and torch.equal(conv.weight_v.detach(), values_before)
    x = torch.randn(2, 12, 9, 3, dtype=torch.float64) if two_d else torch.randn(2, 12, 9, dtype=torch.float64)
    conv.train()
    params = (conv.weight_v, conv.weight_g, conv.bias)
    ref = conv(x)  # the plain weight-normed convolution (float64 takes the direct path)
    ref_grads = torch.autograd.grad(ref.square().sum(), params)
    fast = _wide_conv(conv.float(), x.float())
    fast_grads = torch.autograd.grad(fast.square().sum(), (conv.weight_v, conv.weight_g, conv.bias))
    torch.testing.assert_close(fast, ref.float(), atol=1e-5, rtol=1e-5)
    for a, b in zip(fast_grads, ref_grads, strict=True):
        torch.testing.assert_close(a, b.float(), atol=1e-4, rtol=1e-4)


def _small_audio(seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return 0.1 * torch.randn(2, 1, 2048, generator=g), 0.1 * torch.randn(2, 1, 2048, generator=g)


def test_discriminator_training_path_equals_evaluation_path() -> None:
    torch.manual_seed(3)
    mpd = MultiPeriodDiscriminator("v2")
    y, y_hat = _small_audio(0)
    mpd.eval()
    with torch.no_grad():
        ref = mpd(y, y_hat)
        apart = [d(y) for d in mpd.discriminators]
    mpd.train()
    got = mpd(y, y_hat)
    for i in range(len(mpd.discriminators)):
        torch.testing.assert_close(got.real_scores[i], ref.real_scores[i], atol=1e-5, rtol=1e-4)
        torch.testing.assert_close(got.fake_scores[i], ref.fake_scores[i], atol=1e-5, rtol=1e-4)
        torch.testing.assert_close(ref.real_scores[i], apart[i][0], atol=1e-6, rtol=1e-5)  # batched == apart
        for a, b in zip(got.fake_fmaps[i], ref.fake_fmaps[i], strict=True):
            torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)


def test_generator_pass_gives_equal_losses_and_gradients_only_for_the_generated_audio() -> None:
    torch.manual_seed(4)
    mpd = MultiPeriodDiscriminator("v2").train()
    y, y_hat = _small_audio(1)
    y_hat.requires_grad_(True)

    def g_loss(out: object) -> torch.Tensor:
        return feature_loss(out.real_fmaps, out.fake_fmaps) + generator_loss(out.fake_scores)[0]  # type: ignore[attr-defined]

    batched = g_loss(mpd(y, y_hat))
    (want,) = torch.autograd.grad(batched, y_hat)
    real = y.clone().requires_grad_(True)
    out = mpd(real, y_hat, real_grad=False)
    assert not any(s.requires_grad for s in out.real_scores)
    loss = g_loss(out)
    torch.testing.assert_close(loss, batched, atol=1e-6, rtol=1e-5)
    (got,) = torch.autograd.grad(loss, y_hat)
    torch.testing.assert_close(got, want, atol=1e-7, rtol=1e-4)
    assert all(p.grad is None for p in mpd.parameters())  # the discriminator's weights were constants
    convs = [m for m in mpd.modules() if isinstance(m, WNConv1d | WNConv2d)]
    assert all(
        c._folded is None and getattr(c, "winograd_constants", None) is None for c in convs
    )  # restored


def test_k_major_storage_survives_state_dict_round_trip_and_optimizer() -> None:
    mpd = MultiPeriodDiscriminator("v2")
    wide = mpd.discriminators[1].convs[4]
    assert wide.weight_v.shape == (1024, 1024, 5, 1) and wide.weight_v.stride()[2] == 1024 * 1024
    state = {k: v.clone() for k, v in mpd.state_dict().items()}
    other = MultiPeriodDiscriminator("v2")
    other.load_state_dict(state)
    assert all(torch.equal(other.state_dict()[k], v) for k, v in state.items())
    assert other.discriminators[1].convs[4].weight_v.stride() == wide.weight_v.stride()
    y, y_hat = _small_audio(2)
    optim = torch.optim.AdamW(other.parameters(), 1e-3, fused=True)
    out = other(y, y_hat)
    discriminator_loss(out.real_scores, out.fake_scores)[0].backward()
    optim.step()
    moved = other.discriminators[1].convs[4].weight_v
    assert moved.stride() == wide.weight_v.stride() and not torch.equal(
        moved, state["discriminators.1.convs.4.weight_v"]
    )


def test_weight_normed_kernel_passes_gradcheck() -> None:
    torch.manual_seed(5)
    v = torch.randn(5, 3, 4, dtype=torch.float64, requires_grad=True)
    g = torch.rand(3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(weight_normed_kernel, (v, g))
    kernel, scale = weight_normed_kernel(v, g)
    torch.testing.assert_close(kernel, transform_kernel(v))
    torch.testing.assert_close(scale, g / v.square().sum((0, 2)).sqrt())
