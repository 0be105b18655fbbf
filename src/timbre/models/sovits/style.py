"""Reference style encoder (`ref_enc`): a spectrogram clip -> one global style vector `ge` [B, gin, 1].

Spectral MLP (Mish) -> two gated temporal convolutions -> self-attention -> projection -> masked mean over time.
Parameter names follow the checkpoints (`spectral.0.fc`, `temporal.0.conv1.conv`, `slf_attn.w_qs`, `fc.fc`, ...).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from timbre.models.dropout import Dropout


class _Linear(nn.Module):
    """Holds its Linear as `.fc` (checkpoint naming)."""

    def __init__(self, in_features: int, out_features: int) -> None:
        super().__init__()
        self.fc = nn.Linear(in_features, out_features)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(x)


class _Mish(nn.Module):
    def forward(self, x: Tensor) -> Tensor:
        return x * torch.tanh(F.softplus(x))


class _ConvHolder(nn.Module):
    """Holds its Conv1d as `.conv` with 'same' padding (checkpoint naming)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int) -> None:
        super().__init__()
        self.conv = nn.Conv1d(in_channels, out_channels, kernel_size, padding=(kernel_size - 1) // 2)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(x)


class GatedConv(nn.Module):
    """x + dropout(GLU(conv(x))) on [B, C, T]."""

    def __init__(self, channels: int, kernel_size: int, dropout: float) -> None:
        super().__init__()
        self.channels = channels
        self.conv1 = _ConvHolder(channels, 2 * channels, kernel_size)
        self.dropout = Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        a, b = torch.split(self.conv1(x), self.channels, dim=1)
        return x + self.dropout(a * torch.sigmoid(b))


class StyleAttention(nn.Module):
    """Residual multi-head self-attention on [B, T, C]; scores scaled by sqrt(d_model) as the original does."""

    def __init__(self, n_head: int, d_model: int, dropout: float) -> None:
        super().__init__()
        self.n_head = n_head
        self.d_head = d_model // n_head
        self.temperature = math.sqrt(d_model)
        self.w_qs = nn.Linear(d_model, d_model)
        self.w_ks = nn.Linear(d_model, d_model)
        self.w_vs = nn.Linear(d_model, d_model)
        self.fc = nn.Linear(d_model, d_model)
        self.attn_dropout = Dropout(dropout)
        self.dropout = Dropout(dropout)

    def forward(self, x: Tensor, pad_mask: Tensor | None) -> Tensor:
        # x: [B, T, C]; pad_mask: [B, T] True at padding
        b, t, _ = x.shape
        h, d = self.n_head, self.d_head

        def heads(y: Tensor) -> Tensor:  # [B, T, C] -> [B, H, T, d]
            return y.view(b, t, h, d).permute(0, 2, 1, 3)

        q, k, v = heads(self.w_qs(x)), heads(self.w_ks(x)), heads(self.w_vs(x))
        scores = torch.matmul(q, k.transpose(-1, -2)) / self.temperature  # [B, H, T, T]
        if pad_mask is not None:
            scores = scores.masked_fill(pad_mask[:, None, None, :], float("-inf"))
        p = self.attn_dropout(F.softmax(scores, dim=-1))
        out = torch.matmul(p, v).permute(0, 2, 1, 3).reshape(b, t, h * d)
        return self.dropout(self.fc(out)) + x


class MelStyleEncoder(nn.Module):
    def __init__(
        self,
        n_mel_channels: int,
        style_vector_dim: int,
        hidden: int = 128,
        kernel_size: int = 5,
        n_head: int = 2,
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        self.spectral = nn.Sequential(
            _Linear(n_mel_channels, hidden),
            _Mish(),
            Dropout(dropout),
            _Linear(hidden, hidden),
            _Mish(),
            Dropout(dropout),
        )
        self.temporal = nn.Sequential(
            GatedConv(hidden, kernel_size, dropout), GatedConv(hidden, kernel_size, dropout)
        )
        self.slf_attn = StyleAttention(n_head, hidden, dropout)
        self.fc = _Linear(hidden, style_vector_dim)

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        # x: [B, n_mels, T] (already multiplied by the mask); mask: [B, 1, T] (1 = valid) -> [B, style_dim, 1]
        x = x.transpose(1, 2)  # [B, T, n_mels]
        pad = None if mask is None else (mask.int() == 0).squeeze(1)  # [B, T]
        x = self.spectral(x)
        x = self.temporal(x.transpose(1, 2)).transpose(1, 2)
        if pad is not None:
            x = x.masked_fill(pad.unsqueeze(-1), 0)
        x = self.fc(self.slf_attn(x, pad))
        if pad is None:
            return x.mean(dim=1).unsqueeze(-1)
        # masked mean, dividing before summing as the original does
        count = (~pad).sum(dim=1).view(-1, 1, 1)
        x = x.masked_fill(pad.unsqueeze(-1), 0).float() / count
        return x.sum(dim=1).unsqueeze(-1)
