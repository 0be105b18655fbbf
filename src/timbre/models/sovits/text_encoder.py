"""Prior encoder (`enc_p`): semantic features + phonemes + style -> prior statistics (m_p, logs_p)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from timbre.models.sovits.attention import MRTE, Encoder
from timbre.models.sovits.layers import sequence_mask


class TextEncoder(nn.Module):
    def __init__(
        self,
        out_channels: int,
        hidden_channels: int,
        filter_channels: int,
        n_heads: int,
        n_layers: int,
        kernel_size: int,
        p_dropout: float,
        n_symbols: int,
        ssl_dim: int = 768,
    ) -> None:
        super().__init__()
        self.out_channels = out_channels
        self.ssl_proj = nn.Conv1d(ssl_dim, hidden_channels, 1)
        self.encoder_ssl = Encoder(
            hidden_channels, filter_channels, n_heads, n_layers // 2, kernel_size, p_dropout
        )
        self.encoder_text = Encoder(
            hidden_channels, filter_channels, n_heads, n_layers, kernel_size, p_dropout
        )
        self.text_embedding = nn.Embedding(n_symbols, hidden_channels)
        self.mrte = MRTE(hidden_channels, 512, hidden_channels)
        self.encoder2 = Encoder(
            hidden_channels, filter_channels, n_heads, n_layers // 2, kernel_size, p_dropout
        )
        self.proj = nn.Conv1d(hidden_channels, out_channels * 2, 1)

    def forward(
        self,
        y: Tensor,
        y_lengths: Tensor,
        text: Tensor,
        text_lengths: Tensor,
        ge: Tensor | None,
        speed: float = 1.0,
    ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        # y: [B, 768, T] quantized semantic features at 50 Hz; text: [B, N] symbol ids; ge: [B, 512, 1]
        # -> x [B, H, T'], m_p / logs_p [B, inter, T'], y_mask [B, 1, T'];  T' = int(T / speed) + 1 if speed != 1
        y_mask = sequence_mask(y_lengths, y.size(2)).unsqueeze(1).to(y.dtype)
        y = self.ssl_proj(y * y_mask) * y_mask
        y = self.encoder_ssl(y * y_mask, y_mask)
        text_mask = sequence_mask(text_lengths, text.size(1)).unsqueeze(1).to(y.dtype)
        t = self.text_embedding(text).transpose(1, 2)  # [B, H, N]
        t = self.encoder_text(t * text_mask, text_mask)
        y = self.mrte(y, y_mask, t, text_mask, ge)
        y = self.encoder2(y * y_mask, y_mask)
        if speed != 1:
            y = F.interpolate(y, size=int(y.shape[-1] / speed) + 1, mode="linear")
            y_mask = F.interpolate(y_mask, size=y.shape[-1], mode="nearest")
        stats = self.proj(y) * y_mask
        m, logs = torch.split(stats, self.out_channels, dim=1)
        return y, m, logs, y_mask
