"""The CPU training attention that skips hidden key blocks: equal to SDPA when nothing is dropped (values and
gradients, any block size, padded batches), a correct backward with dropout, the right drop rate, and the GPT's
training forward taking it."""

from __future__ import annotations

from typing import Any

import pytest
import torch
import torch.nn.functional as F

from helpers.grads import assert_same_values_and_gradients
from timbre.models.gpt import layers
from timbre.models.gpt.blocked_attention import AttentionPlan, blocked_attention
from timbre.models.gpt.layers import TransformerStack
from timbre.models.gpt.model import pad_mask, pad_mask_left, prefix_lm_mask

NO_DROP = 1e-9  # rounds to a drop probability of 0, and 1 / (1 - p) to 1 in the float32 factor


def padded_prefix_mask(phone_lens: list[int], code_lens: list[int]) -> torch.Tensor:
    """The GPT training forward's mask [B, 1, S, S] for right-padded phones and codes."""
    x, y = max(phone_lens), max(code_lens)
    key_pad = torch.cat([pad_mask_left(torch.tensor(phone_lens), x), pad_mask(torch.tensor(code_lens), y)], 1)
    return (prefix_lm_mask(x, y).unsqueeze(0) & ~key_pad[:, None, :]).unsqueeze(1)


def qkv(b: int, h: int, s: int, d: int, g: torch.Generator) -> tuple[torch.Tensor, ...]:
    packed = torch.randn(b, s, 3, h, d, generator=g, dtype=torch.float64, requires_grad=True)
    # q, k, v [B, H, S, hd] as strided views of one tensor, as the layer has them
    return (packed, *packed.permute(2, 0, 3, 1, 4))


@pytest.mark.parametrize("rows_per_block", [1, 5, 16, 64])
def test_equals_sdpa_when_nothing_is_dropped(rows_per_block: int) -> None:
    g = torch.Generator().manual_seed(0)
    attend = padded_prefix_mask([7, 5, 3], [12, 9, 4])  # S = 19
    packed, q, k, v = qkv(3, 4, 19, 8, g)
    plan = AttentionPlan.from_mask(attend, 19, torch.float64, rows_per_block)
    got = blocked_attention(q, k, v, plan, NO_DROP)
    want = F.scaled_dot_product_attention(q, k, v, attn_mask=attend)
    assert_same_values_and_gradients(got, want, (packed,), g)


@pytest.mark.parametrize("mask", ["none", "square"])
def test_unbatched_masks(mask: str) -> None:
    g = torch.Generator().manual_seed(1)
    packed, q, k, v = qkv(2, 2, 11, 4, g)
    attend = None if mask == "none" else prefix_lm_mask(4, 7)
    plan = AttentionPlan.from_mask(attend, 11, torch.float64, 3)
    want = F.scaled_dot_product_attention(q, k, v, attn_mask=attend)
    assert_same_values_and_gradients(blocked_attention(q, k, v, plan, NO_DROP), want, (packed,), g)


def test_blocks_stop_at_the_last_visible_key() -> None:
    plan = AttentionPlan.from_mask(padded_prefix_mask([6, 4], [10, 7]), 16, rows_per_block=4)
    # text rows 0-5 see the text keys only; semantic row r sees keys up to r
    blocks = [(b.start, b.stop, b.keys) for b in plan.blocks]
    assert blocks == [(0, 4, 6), (4, 8, 8), (8, 12, 12), (12, 16, 16)]
    assert all(b.bias.shape == (2, 1, b.stop - b.start, b.keys) for b in plan.blocks)


def test_backward_with_dropout_matches_finite_differences() -> None:
    g = torch.Generator().manual_seed(2)
    attend = padded_prefix_mask([3, 2], [5, 3])
    _, q, k, v = qkv(2, 2, 8, 3, g)
    plan = AttentionPlan.from_mask(attend, 8, torch.float64, 3)

    def attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        torch.manual_seed(5)  # the same dropout draw at every evaluation
        return blocked_attention(q, k, v, plan, 0.3)

    q, k, v = (t.detach().clone().requires_grad_() for t in (q, k, v))
    assert torch.autograd.gradcheck(attention, (q, k, v))


def test_drop_rate_and_scale() -> None:
    torch.manual_seed(3)
    b, h, s, d = 2, 8, 64, 4
    q, k = torch.randn(b, h, s, d), torch.randn(b, h, s, d)
    v = torch.ones(b, h, s, d)  # every output is the kept probability mass times 1 / (1 - p): 1 on average
    plan = AttentionPlan.from_mask(prefix_lm_mask(16, 48), s)
    q_before = q.clone()
    out = blocked_attention(q, k, v, plan, 0.5)
    assert torch.equal(q, q_before)  # contiguous inputs are copied, not scaled in place
    assert abs(out.mean().item() - 1.0) < 0.03
    assert out.std().item() > 0.1  # something was dropped


def test_rejects_masks_it_cannot_use() -> None:
    with pytest.raises(ValueError, match="at least one key"):
        AttentionPlan.from_mask(torch.zeros(4, 4, dtype=torch.bool), 4)
    one_row_blind = prefix_lm_mask(2, 2).expand(2, 1, 4, 4).clone()
    one_row_blind[1, 0, 3] = False  # the other batch row sees keys for it: still refused
    with pytest.raises(ValueError, match="at least one key"):
        AttentionPlan.from_mask(one_row_blind, 4)
    with pytest.raises(ValueError, match=r"bool \[4, 4\]"):
        AttentionPlan.from_mask(torch.ones(3, 4, dtype=torch.bool), 4)
    with pytest.raises(ValueError, match="bool"):
        AttentionPlan.from_mask(torch.zeros(4, 4), 4)
    plan = AttentionPlan.from_mask(None, 4)
    x = torch.randn(1, 1, 5, 2)
    with pytest.raises(ValueError, match="4 positions"):
        blocked_attention(x, x, x, plan, 0.1)


def test_stack_uses_it_only_for_cpu_training_with_dropout(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []

    def counted(*args: Any) -> torch.Tensor:
        calls.append(1)
        return blocked_attention(*args)

    monkeypatch.setattr(layers, "blocked_attention", counted)
    torch.manual_seed(4)
    stack = TransformerStack(2, 16, 2, 32, dropout=0.1).double()
    x = torch.randn(2, 9, 16, dtype=torch.float64)
    attend = padded_prefix_mask([4, 3], [5, 2])
    want = stack.eval()(x, attend)  # SDPA, no dropout
    assert not calls
    for layer in stack.layers:
        layer.self_attn.dropout = NO_DROP
    stack.train()
    for module in stack.modules():
        if hasattr(module, "p"):
            module.p = 0.0  # the layers' own dropouts off
    got = stack(x, attend)
    assert len(calls) == 2  # one per layer
    torch.testing.assert_close(got, want, atol=1e-7, rtol=1e-7)


def test_bf16_autocast_training_step_runs_and_stays_close(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIMBRE_NATIVE", "0")  # the PyTorch dropout path in both dtypes: the same draws
    torch.manual_seed(6)
    stack = TransformerStack(2, 32, 4, 64, dropout=0.1).train()
    x = torch.randn(2, 12, 32, requires_grad=True)
    attend = padded_prefix_mask([5, 4], [7, 6])
    torch.manual_seed(7)
    want = stack(x, attend)
    (gx_want,) = torch.autograd.grad(want.square().sum(), x)
    torch.manual_seed(7)  # the same dropout draws
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got = stack(x, attend)
    (gx_got,) = torch.autograd.grad(got.float().square().sum(), x)
    assert gx_got.dtype == torch.float32 and torch.isfinite(gx_got).all()
    torch.testing.assert_close(got.float(), want, atol=0.1, rtol=0.05)
    torch.testing.assert_close(gx_got, gx_want, atol=0.5, rtol=0.1)
