"""The fast CPU dropout: right drop rate, reproducible from torch's seed, correct gradient."""

from __future__ import annotations

import pytest
import torch

from timbre.models.dropout import Dropout, dropout, keep_factor, keep_mask


@pytest.mark.parametrize("p", [0.1, 0.5, 0.9])
def test_drop_rate_matches_p(p: float) -> None:
    torch.manual_seed(0)
    keep = keep_mask((1000, 1000), p)
    assert keep.dtype == torch.bool and keep.shape == (1000, 1000)
    expected = 1 - round(p * 65536) / 65536
    assert abs(keep.float().mean().item() - expected) < 0.002  # ~4 sigma at a million draws


def test_mask_follows_torch_seed_and_changes_between_calls() -> None:
    torch.manual_seed(3)
    a, b = keep_mask((4097,), 0.1), keep_mask((4097,), 0.1)
    torch.manual_seed(3)
    assert torch.equal(keep_mask((4097,), 0.1), a)
    assert not torch.equal(a, b)
    state = torch.get_rng_state()
    c = keep_mask((33, 7), 0.3)
    torch.set_rng_state(state)  # what resume restores
    assert torch.equal(keep_mask((33, 7), 0.3), c)


def test_values_and_gradient_are_mask_times_inverse_keep_probability() -> None:
    torch.manual_seed(1)
    x = torch.randn(64, 129, requires_grad=True)
    y = dropout(x, 0.25)
    kept = y != 0
    assert 0.65 < kept.float().mean().item() < 0.85
    torch.testing.assert_close(y[kept], x.detach()[kept] / 0.75)
    y.backward(torch.ones_like(y))
    assert x.grad is not None
    torch.testing.assert_close(x.grad, kept.float() / 0.75)


def test_eval_and_zero_p_are_identity_and_p_one_drops_all() -> None:
    x = torch.randn(5, 6)
    module = Dropout(0.4).eval()
    assert module(x) is x
    assert dropout(x, 0.0) is x
    assert torch.count_nonzero(dropout(x, 1.0)) == 0
    with pytest.raises(ValueError):
        Dropout(1.5)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_keep_factor_is_the_same_draw_as_keep_mask(dtype: torch.dtype) -> None:
    torch.manual_seed(7)
    keep = keep_mask((257, 129), 0.1)
    torch.manual_seed(7)
    factor = keep_factor((257, 129), 0.1, dtype)
    assert factor.dtype == dtype
    torch.testing.assert_close(factor, (keep.float() / 0.9).to(dtype), atol=0, rtol=0)
