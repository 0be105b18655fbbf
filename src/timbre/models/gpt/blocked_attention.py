"""Training attention on the CPU with attention dropout, skipping the key blocks the mask hides.

The GPT's prefix-LM mask hides the semantic keys from every text query and the future semantic keys from every
semantic query: about half of the [S, S] score matrix in a training batch. SDPA's fused CPU kernels do not take
dropout, so training ran the plain math (scores, mask, softmax, dropout, @ v) over the whole matrix. Here the queries
are split into row blocks; a block's keys stop at the last key that any of its rows may see (read from the mask, so
any mask works), and the scores, softmax, dropout and both products run on that [rows, keys] rectangle only. A hidden
key gets probability exactly 0 either way, so only the summation order changes.

Per block, forward is a product for the scores, the row work (masked softmax, then the probabilities times the
dropout factor), and a product with the values; the probabilities and the dropped probabilities are saved. Backward
is a product for the value gradient, one for the dropped probabilities' gradient, the row work (with dropped = p * f,
the scores' gradient is g * dropped - p * sum(g * dropped): no factor needs keeping, since where it is 0 the dropped
probability is 0 too), and two products for the query and key gradients. In float32 with timbre's C kernels
(`timbre.native`) the row work is one pass each way, the dropout drawn in the same loop; otherwise it is PyTorch
operations with the fast CPU dropout's factor (`keep_factor`) and a float -inf bias for the hidden keys (on the CPU a
bool `masked_fill` of the scores ran 6-17x slower than a float add or multiply).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from timbre import native
from timbre.models.dropout import keep_factor

ROWS_PER_BLOCK = 48  # 32-96 measured alike before the C kernels; with them 48 ran 0-10% faster than 64


@dataclass(frozen=True)
class RowBlock:
    start: int
    stop: int
    keys: int  # keys [0, keys) are visible to some row of the block; the rest are hidden from all of them
    bias: Tensor  # [B, 1, stop - start, keys] float: 0 where a query may see a key, -inf where not
    visible: Tensor  # [B, stop - start, keys] uint8: 1 where a query may see a key (the C kernels' form)


@dataclass(frozen=True)
class AttentionPlan:
    """A bool "may attend" mask [B, 1, S, S], cut into row blocks once per forward and shared by every layer."""

    blocks: tuple[RowBlock, ...]
    length: int

    @classmethod
    def from_mask(
        cls,
        attend: Tensor | None,
        length: int,
        dtype: torch.dtype = torch.float32,
        rows_per_block: int = ROWS_PER_BLOCK,
    ) -> AttentionPlan:
        """attend: bool, True where a query may see a key, [S, S] or [B, 1, S, S]; None: every key is visible."""
        if attend is None:
            attend = torch.ones(length, length, dtype=torch.bool)
        if attend.dim() == 2:
            attend = attend[None, None]
        if (
            attend.dtype != torch.bool
            or attend.dim() != 4
            or attend.shape[1] != 1
            or attend.shape[-2:] != (length, length)
        ):
            raise ValueError(
                f"attention mask must be bool [{length}, {length}] or [B, 1, {length}, {length}], "
                f"got {attend.dtype} {list(attend.shape)}"
            )
        s = attend.shape[-1]
        if not bool(attend.any(dim=-1).all()):  # softmax over no key at all would be NaN
            raise ValueError("every query must be allowed at least one key")
        seen = attend.any(dim=(0, 1))  # [S, S]: a key some batch row's query may see
        last = torch.arange(1, s + 1).mul(seen).amax(dim=1)  # [S] one past each query's last visible key
        blocks = []
        for start in range(0, s, rows_per_block):
            stop = min(s, start + rows_per_block)
            keys = int(last[start:stop].max())
            hidden = ~attend[:, :, start:stop, :keys]
            bias = torch.zeros(hidden.shape, dtype=dtype).masked_fill_(hidden, float("-inf"))
            visible = (~hidden[:, 0]).to(torch.uint8).contiguous()
            blocks.append(RowBlock(start, stop, keys, bias, visible))
        return cls(tuple(blocks), s)


@torch.compiler.disable  # numpy or C draws the dropout mask; under torch.compile this runs eagerly
def blocked_attention(q: Tensor, k: Tensor, v: Tensor, plan: AttentionPlan, p: float) -> Tensor:
    """softmax(q k^T / sqrt(hd), masked) with dropout p on the probabilities, @ v. q, k, v [B, H, S, hd] (any
    strides) -> [B, H, S, hd]; rows of `plan` whose every key is hidden are not allowed (`from_mask` checks)."""
    if q.shape[-2] != plan.length:
        raise ValueError(f"attention plan is for {plan.length} positions, the input has {q.shape[-2]}")
    b, h, s, _ = q.shape
    lib = (
        native.kernels()
        if q.dtype == k.dtype == v.dtype == torch.float32 and q.device.type == "cpu"
        else None
    )
    if b * h * s * s >= native.MAX_ELEMENTS:
        lib = None
    return _BlockedAttention.apply(q, k, v, plan, p, lib)  # type: ignore[no-any-return]


def _heads(x: Tensor) -> Tensor:
    """[B, H, S, hd] (any strides) -> a new contiguous [B H, S, hd] tensor, never a view of x (it may be scaled in
    place and is saved for backward)."""
    b, h, s, d = x.shape
    out = torch.empty((b * h, s, d), dtype=x.dtype, device=x.device)
    out.view(b, h, s, d).copy_(x)
    return out


def _rows_forward(lib: Any, scores: Tensor, blk: RowBlock, heads: int, p: float) -> tuple[Tensor, Tensor]:
    """One block's scores [BH, rows, keys] -> (probabilities, probabilities * dropout factor)."""
    b = scores.shape[0] // heads
    if lib is None:
        scores.view(b, heads, *scores.shape[1:]).add_(blk.bias)
        prob = torch.softmax(scores, dim=-1)
        return prob, prob * keep_factor(prob.shape, p, prob.dtype)  # factor 0 or 1 / (1 - p)
    visible = blk.visible if blk.visible.shape[0] == b else blk.visible.expand(b, -1, -1).contiguous()
    dropped = native.attention_forward(
        lib, scores, visible, heads, native.new_seed(), p
    )  # scores -> probabilities
    return scores, dropped


def _rows_backward(lib: Any, grad: Tensor, dropped: Tensor, prob: Tensor) -> Tensor:
    """The gradient of the dropped probabilities -> the scores' gradient, in place: with dropped = prob * f,
    prob * (grad * f - sum(grad * f * prob)) = grad * dropped - prob * sum(grad * dropped)."""
    if lib is None:
        grad.mul_(dropped)
        return grad.sub_(prob * grad.sum(dim=-1, keepdim=True))
    native.attention_backward(lib, grad, dropped, prob)
    return grad


class _BlockedAttention(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, q: Tensor, k: Tensor, v: Tensor, plan: AttentionPlan, p: float, lib: Any) -> Tensor:
        b, h, s, d = q.shape
        qs = _heads(q).mul_(1.0 / math.sqrt(d))  # [BH, S, hd], the scale taken before the product
        kh, vh = _heads(k), _heads(v)
        out = torch.empty_like(qs)
        probs, dropped = [], []
        for blk in plan.blocks:
            rows, keys = slice(blk.start, blk.stop), slice(0, blk.keys)
            scores = torch.bmm(qs[:, rows], kh[:, keys].transpose(1, 2))  # [BH, rows, keys]
            prob, drop = _rows_forward(lib, scores, blk, h, p)
            out[:, rows] = torch.bmm(drop, vh[:, keys])
            probs.append(prob)
            dropped.append(drop)
        ctx.save_for_backward(qs, kh, vh, *probs, *dropped)
        ctx.plan, ctx.shape, ctx.lib = plan, (b, h, s, d), lib
        return out.view(b, h, s, d)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, Tensor, Tensor, None, None, None]:
        plan: AttentionPlan = ctx.plan
        b, h, s, d = ctx.shape
        qs, kh, vh, *saved = ctx.saved_tensors
        n = len(plan.blocks)
        g = _heads(grad)  # [BH, S, hd]
        dq, dk, dv = torch.empty_like(qs), torch.zeros_like(kh), torch.zeros_like(vh)
        for blk, prob, drop in zip(plan.blocks, saved[:n], saved[n:], strict=True):
            rows, keys = slice(blk.start, blk.stop), slice(0, blk.keys)
            dv[:, keys] += torch.bmm(drop.transpose(1, 2), g[:, rows])
            ddrop = torch.bmm(g[:, rows], vh[:, keys].transpose(1, 2))  # [BH, rows, keys]
            dscores = _rows_backward(ctx.lib, ddrop, drop, prob)
            dq[:, rows] = torch.bmm(dscores, kh[:, keys])
            dk[:, keys] += torch.bmm(dscores.transpose(1, 2), qs[:, rows])
        dq.mul_(1.0 / math.sqrt(d))
        return dq.view(b, h, s, d), dk.view(b, h, s, d), dv.view(b, h, s, d), None, None, None
