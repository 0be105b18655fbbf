"""Building blocks of the text-to-semantic GPT: token/positional embeddings and the post-norm transformer layer.

Parameter names equal the original's (`word_embeddings`, `alpha`, `self_attn.in_proj_weight`, `linear1`, `norm1`, ...)
so that original checkpoints load without renaming.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from timbre.models.dropout import Dropout, relu_dropout
from timbre.models.gpt.blocked_attention import AttentionPlan, blocked_attention


class TokenEmbedding(nn.Module):
    """Embedding table followed by dropout (the original's p_dropout, 0 in every shipped config)."""

    def __init__(self, dim: int, vocab_size: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.word_embeddings = nn.Embedding(vocab_size, dim)
        self.dropout = Dropout(dropout)

    def forward(self, ids: Tensor) -> Tensor:  # [B, T] -> [B, T, D]
        return self.dropout(self.word_embeddings(ids))


def sine_table(length: int, dim: int) -> Tensor:
    """[length, dim] sinusoidal table: sin on even channels, cos on odd, computed in float32 as the original."""
    position = torch.arange(0, length, dtype=torch.float32).unsqueeze(1)
    freq = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32) * -(math.log(10000.0) / dim))
    table = torch.zeros(length, dim)
    table[:, 0::2] = torch.sin(position * freq)
    table[:, 1::2] = torch.cos(position * freq)
    return table


class SinePositionalEmbedding(nn.Module):
    """x + alpha * sine_table[start:start+T] (no input scaling), then dropout. `alpha` is a learned scalar."""

    table: Tensor  # [length, D], a non-persistent buffer (not in checkpoints)

    def __init__(self, dim: int, dropout: float = 0.1, initial_length: int = 4000) -> None:
        super().__init__()
        self.dim = dim
        self.alpha = nn.Parameter(torch.ones(1))
        self.dropout = Dropout(dropout)
        self.register_buffer("table", sine_table(initial_length, dim), persistent=False)

    def reserve(self, length: int) -> None:
        """Grow the table to at least `length` rows (doubling)."""
        if length > self.table.shape[0]:
            self.table = sine_table(max(length, 2 * self.table.shape[0]), self.dim).to(self.table)

    def positions(self, start: int, length: int) -> Tensor:
        """[length, D] rows of the table (grown on demand), already multiplied by alpha."""
        self.reserve(start + length)
        return self.alpha * self.table[start : start + length]

    def forward(self, x: Tensor, start: int = 0) -> Tensor:  # [B, T, D]
        return self.dropout(x + self.positions(start, x.shape[1]))


class SelfAttention(nn.Module):
    """Multi-head self-attention with a packed q/k/v projection (`in_proj_*`) and `out_proj`, as torch's MHA."""

    def __init__(self, dim: int, n_head: int, dropout: float = 0.1) -> None:
        super().__init__()
        self.n_head = n_head
        self.dropout = dropout
        self.in_proj_weight = nn.Parameter(torch.empty(3 * dim, dim))
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * dim))
        self.out_proj = nn.Linear(dim, dim)
        nn.init.xavier_uniform_(self.in_proj_weight)

    def forward(self, x: Tensor, attend: Tensor | AttentionPlan | None) -> Tensor:
        """x [B, T, D]; attend: bool, True where a query may see a key, broadcastable to [B, H, T, T], or the same
        mask as an `AttentionPlan` (CPU training with dropout)."""
        b, t, d = x.shape
        qkv = F.linear(x, self.in_proj_weight, self.in_proj_bias).view(b, t, 3, self.n_head, d // self.n_head)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)  # each [B, H, T, hd]
        p = self.dropout if self.training else 0.0
        if isinstance(attend, AttentionPlan):
            a = blocked_attention(q, k, v, attend, p)
        else:
            a = F.scaled_dot_product_attention(q, k, v, attn_mask=attend, dropout_p=p)  # [B, H, T, hd]
        return self.out_proj(a.transpose(1, 2).reshape(b, t, d))


class TransformerLayer(nn.Module):
    """Post-norm encoder layer: x = norm1(x + attn(x)); x = norm2(x + ffn(x)); ReLU feed-forward, eps 1e-5."""

    def __init__(self, dim: int, n_head: int, ffn_dim: int, dropout: float = 0.1) -> None:
        super().__init__()
        self.self_attn = SelfAttention(dim, n_head, dropout)
        self.linear1 = nn.Linear(dim, ffn_dim)
        self.linear2 = nn.Linear(ffn_dim, dim)
        self.norm1 = nn.LayerNorm(dim, eps=1e-5)
        self.norm2 = nn.LayerNorm(dim, eps=1e-5)
        self.dropout = Dropout(dropout)  # inside the feed-forward, after ReLU (fused with it: `relu_dropout`)
        self.dropout1 = Dropout(dropout)  # on the attention branch
        self.dropout2 = Dropout(dropout)  # on the feed-forward branch

    def forward(self, x: Tensor, attend: Tensor | AttentionPlan | None) -> Tensor:  # [B, T, D]
        x = self.norm1(x + self.dropout1(self.self_attn(x, attend)))
        ff = self.linear2(relu_dropout(self.linear1(x), self.dropout.p, self.training))
        return self.norm2(x + self.dropout2(ff))


class TransformerStack(nn.Module):
    """The `h` module of the original: `layers` only (no final norm, the original is post-norm)."""

    def __init__(self, n_layer: int, dim: int, n_head: int, ffn_dim: int, dropout: float = 0.1) -> None:
        super().__init__()
        self.layers = nn.ModuleList(TransformerLayer(dim, n_head, ffn_dim, dropout) for _ in range(n_layer))

    def forward(self, x: Tensor, attend: Tensor | None) -> Tensor:
        plan: Tensor | AttentionPlan | None = attend
        attention_dropout = any(isinstance(m, SelfAttention) and m.dropout > 0.0 for m in self.modules())
        if self.training and attention_dropout and x.device.type == "cpu":
            # attention dropout on the CPU, where SDPA's fused kernels do not apply
            plan = AttentionPlan.from_mask(attend, x.shape[1], x.dtype)  # once per forward, for every layer
        for layer in self.layers:
            x = layer(x, plan)
        return x
