"""Transformer encoder with windowed relative positions (VITS style) and the MRTE cross-attention block.

Relative positions: each head adds q·E_k[j-i] to the score of key j and Σ_j p_ij E_v[j-i] to its output, for
|j-i| <= window (4); other offsets contribute nothing. The original builds this with pad-and-reshape tricks; here
the band is gathered with an index table, which gives the same sums.
"""

from __future__ import annotations

import functools
import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from timbre.models.dropout import Dropout
from timbre.models.sovits.layers import ChannelLayerNorm


@functools.lru_cache(maxsize=64)  # bounded: a server sees many lengths
@torch.inference_mode(False)  # cached tensors are reused by training, so never inference tensors
def _band_index(length: int, window: int) -> tuple[Tensor, Tensor]:
    """For query i and offset r in [-window, window]: key index i+r (clamped) and whether it exists. [L, 2w+1]."""
    offsets = torch.arange(-window, window + 1)
    keys = torch.arange(length).unsqueeze(1) + offsets.unsqueeze(0)
    valid = (keys >= 0) & (keys < length)
    return keys.clamp(0, length - 1), valid


@functools.lru_cache(maxsize=64)
@torch.inference_mode(False)
def _abs_index(length: int, window: int) -> tuple[Tensor, Tensor]:
    """For query i and key j: offset slot j-i+window (clamped) and whether |j-i| <= window. [L, L]."""
    rel = torch.arange(length).unsqueeze(0) - torch.arange(length).unsqueeze(1)
    valid = rel.abs() <= window
    return (rel + window).clamp(0, 2 * window), valid


class MultiHeadAttention(nn.Module):
    """Multi-head attention over [B, C, T] tensors with 1x1-conv projections (`conv_q/k/v/o`)."""

    def __init__(
        self,
        channels: int,
        out_channels: int,
        n_heads: int,
        p_dropout: float = 0.0,
        window_size: int | None = None,
    ) -> None:
        super().__init__()
        assert channels % n_heads == 0
        self.n_heads = n_heads
        self.k_channels = channels // n_heads
        self.window_size = window_size
        self.conv_q = nn.Conv1d(channels, channels, 1)
        self.conv_k = nn.Conv1d(channels, channels, 1)
        self.conv_v = nn.Conv1d(channels, channels, 1)
        self.conv_o = nn.Conv1d(channels, out_channels, 1)
        self.drop = Dropout(p_dropout)
        if window_size is not None:
            shape = (1, 2 * window_size + 1, self.k_channels)
            self.emb_rel_k = nn.Parameter(torch.randn(shape) * self.k_channels**-0.5)
            self.emb_rel_v = nn.Parameter(torch.randn(shape) * self.k_channels**-0.5)

    def forward(self, x: Tensor, c: Tensor, attn_mask: Tensor | None = None) -> Tensor:
        # x: [B, C, Tq] queries, c: [B, C, Tk] keys/values, attn_mask: [B, 1, Tq, Tk] (0 = blocked)
        q, k, v = self.conv_q(x), self.conv_k(c), self.conv_v(c)
        b, d, t_k = k.shape
        t_q = q.shape[2]
        q = q.view(b, self.n_heads, self.k_channels, t_q).transpose(2, 3)  # [B, H, Tq, dk]
        k = k.view(b, self.n_heads, self.k_channels, t_k).transpose(2, 3)
        v = v.view(b, self.n_heads, self.k_channels, t_k).transpose(2, 3)
        q = q / math.sqrt(self.k_channels)
        scores = torch.matmul(q, k.transpose(-2, -1))  # [B, H, Tq, Tk]
        if self.window_size is not None:
            assert t_q == t_k, "relative attention needs self-attention"
            rel_logits = torch.matmul(q, self.emb_rel_k.unsqueeze(0).transpose(-2, -1))  # [B, H, T, 2w+1]
            slot, valid = _abs_index(t_q, self.window_size)
            local = rel_logits.gather(-1, slot.to(q.device).expand(b, self.n_heads, t_q, t_q))
            scores = scores + local * valid.to(device=q.device, dtype=q.dtype)
        if attn_mask is not None:
            scores = scores.masked_fill(attn_mask == 0, -1e4)
        p_attn = self.drop(F.softmax(scores, dim=-1))
        out = torch.matmul(p_attn, v)  # [B, H, Tq, dk]
        if self.window_size is not None:
            keys, valid = _band_index(t_q, self.window_size)
            band = p_attn.gather(-1, keys.to(q.device).expand(b, self.n_heads, t_q, keys.shape[1]))
            band = band * valid.to(device=q.device, dtype=q.dtype)  # [B, H, T, 2w+1]
            out = out + torch.matmul(band, self.emb_rel_v.unsqueeze(0))
        out = out.transpose(2, 3).contiguous().view(b, d, t_q)
        return self.conv_o(out)


class FFN(nn.Module):
    """Conv -> ReLU -> dropout -> conv, 'same' padding, masked (`conv_1`, `conv_2`)."""

    def __init__(self, channels: int, filter_channels: int, kernel_size: int, p_dropout: float = 0.0) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.conv_1 = nn.Conv1d(channels, filter_channels, kernel_size)
        self.conv_2 = nn.Conv1d(filter_channels, channels, kernel_size)
        self.drop = Dropout(p_dropout)

    def _pad(self, x: Tensor) -> Tensor:
        if self.kernel_size == 1:
            return x
        return F.pad(x, ((self.kernel_size - 1) // 2, self.kernel_size // 2))

    def forward(self, x: Tensor, x_mask: Tensor) -> Tensor:
        x = torch.relu(self.conv_1(self._pad(x * x_mask)))
        x = self.conv_2(self._pad(self.drop(x) * x_mask))
        return x * x_mask


class Encoder(nn.Module):
    """Post-norm transformer encoder: (relative self-attention, FFN) x n_layers, masked."""

    def __init__(
        self,
        hidden_channels: int,
        filter_channels: int,
        n_heads: int,
        n_layers: int,
        kernel_size: int = 1,
        p_dropout: float = 0.0,
        window_size: int = 4,
    ) -> None:
        super().__init__()
        self.n_layers = n_layers
        self.drop = Dropout(p_dropout)
        self.attn_layers = nn.ModuleList()
        self.norm_layers_1 = nn.ModuleList()
        self.ffn_layers = nn.ModuleList()
        self.norm_layers_2 = nn.ModuleList()
        for _ in range(n_layers):
            self.attn_layers.append(
                MultiHeadAttention(hidden_channels, hidden_channels, n_heads, p_dropout, window_size)
            )
            self.norm_layers_1.append(ChannelLayerNorm(hidden_channels))
            self.ffn_layers.append(FFN(hidden_channels, filter_channels, kernel_size, p_dropout))
            self.norm_layers_2.append(ChannelLayerNorm(hidden_channels))

    def forward(self, x: Tensor, x_mask: Tensor) -> Tensor:
        # x: [B, C, T], x_mask: [B, 1, T]
        attn_mask = x_mask.unsqueeze(2) * x_mask.unsqueeze(-1)  # [B, 1, T, T]
        x = x * x_mask
        for attn, norm1, ffn, norm2 in zip(
            self.attn_layers, self.norm_layers_1, self.ffn_layers, self.norm_layers_2, strict=True
        ):
            x = norm1(x + self.drop(attn(x, x, attn_mask)))
            x = norm2(x + self.drop(ffn(x, x_mask)))
        return x * x_mask


class MRTE(nn.Module):
    """Multi-reference timbre encoder: content attends to text, plus the global style vector `ge`."""

    def __init__(
        self, content_channels: int = 192, hidden_size: int = 512, out_channels: int = 192, n_heads: int = 4
    ) -> None:
        super().__init__()
        self.cross_attention = MultiHeadAttention(hidden_size, hidden_size, n_heads)
        self.c_pre = nn.Conv1d(content_channels, hidden_size, 1)
        self.text_pre = nn.Conv1d(content_channels, hidden_size, 1)
        self.c_post = nn.Conv1d(hidden_size, out_channels, 1)

    def forward(
        self, ssl_enc: Tensor, ssl_mask: Tensor, text: Tensor, text_mask: Tensor, ge: Tensor | None
    ) -> Tensor:
        # ssl_enc: [B, 192, T], text: [B, 192, N], ge: [B, 512, 1]
        attn_mask = text_mask.unsqueeze(2) * ssl_mask.unsqueeze(-1)  # [B, 1, T, N]
        ssl_enc = self.c_pre(ssl_enc * ssl_mask)
        text_enc = self.text_pre(text * text_mask)
        x = self.cross_attention(ssl_enc * ssl_mask, text_enc * text_mask, attn_mask) + ssl_enc
        if ge is not None:
            x = x + ge
        return self.c_post(x * ssl_mask)
