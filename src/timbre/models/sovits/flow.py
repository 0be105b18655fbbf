"""WaveNet-style stacks, the normalising flow (`flow`) and the posterior encoder (`enc_q`)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from timbre.models.dropout import Dropout
from timbre.models.sovits.layers import WNConv1d, gated_tanh, sequence_mask


class WN(nn.Module):
    """Non-causal WaveNet: dilated gated convolutions with residual and skip paths, optional global condition."""

    def __init__(
        self,
        hidden_channels: int,
        kernel_size: int,
        dilation_rate: int,
        n_layers: int,
        gin_channels: int = 0,
        p_dropout: float = 0.0,
    ) -> None:
        super().__init__()
        assert kernel_size % 2 == 1
        self.hidden_channels = hidden_channels
        self.n_layers = n_layers
        self.drop = Dropout(p_dropout)
        self.in_layers = nn.ModuleList()
        self.res_skip_layers = nn.ModuleList()
        if gin_channels:
            self.cond_layer = WNConv1d(gin_channels, 2 * hidden_channels * n_layers, 1)
        for i in range(n_layers):
            dilation = dilation_rate**i
            padding = (kernel_size * dilation - dilation) // 2
            self.in_layers.append(
                WNConv1d(
                    hidden_channels, 2 * hidden_channels, kernel_size, dilation=dilation, padding=padding
                )
            )
            out = 2 * hidden_channels if i < n_layers - 1 else hidden_channels  # the last layer only skips
            self.res_skip_layers.append(WNConv1d(hidden_channels, out, 1))

    def forward(self, x: Tensor, x_mask: Tensor, g: Tensor | None = None) -> Tensor:
        # x: [B, H, T], x_mask: [B, 1, T], g: [B, gin, 1]
        h = self.hidden_channels
        output = torch.zeros_like(x)
        cond = self.cond_layer(g) if g is not None else None  # [B, 2H*L, 1]
        for i, (in_layer, res_skip) in enumerate(zip(self.in_layers, self.res_skip_layers, strict=True)):
            x_in = in_layer(x)
            if cond is not None:
                x_in = x_in + cond[:, i * 2 * h : (i + 1) * 2 * h]
            acts = self.drop(gated_tanh(x_in, h))
            rs = res_skip(acts)
            if i < self.n_layers - 1:
                x = (x + rs[:, :h]) * x_mask
                output = output + rs[:, h:]
            else:
                output = output + rs
        return output * x_mask


class ResidualCouplingLayer(nn.Module):
    """Mean-only affine coupling: the second half of the channels is shifted by a WN of the first half."""

    def __init__(
        self,
        channels: int,
        hidden_channels: int,
        kernel_size: int,
        dilation_rate: int,
        n_layers: int,
        gin_channels: int = 0,
    ) -> None:
        super().__init__()
        self.half_channels = channels // 2
        self.pre = nn.Conv1d(self.half_channels, hidden_channels, 1)
        self.enc = WN(hidden_channels, kernel_size, dilation_rate, n_layers, gin_channels=gin_channels)
        self.post = nn.Conv1d(hidden_channels, self.half_channels, 1)
        nn.init.zeros_(self.post.weight)
        nn.init.zeros_(self.post.bias)  # type: ignore[arg-type]

    def forward(self, x: Tensor, x_mask: Tensor, g: Tensor | None = None, reverse: bool = False) -> Tensor:
        x0, x1 = torch.split(x, [self.half_channels, self.half_channels], dim=1)
        h = self.enc(self.pre(x0) * x_mask, x_mask, g=g)
        m = self.post(h) * x_mask
        x1 = (x1 - m) * x_mask if reverse else m + x1 * x_mask
        return torch.cat([x0, x1], dim=1)


class ResidualCouplingBlock(nn.Module):
    """`flows` alternates coupling layers (even indices) and channel flips (odd indices, no parameters)."""

    def __init__(
        self,
        channels: int,
        hidden_channels: int,
        kernel_size: int,
        dilation_rate: int,
        n_layers: int,
        n_flows: int = 4,
        gin_channels: int = 0,
    ) -> None:
        super().__init__()
        self.flows = nn.ModuleList()
        for _ in range(n_flows):
            self.flows.append(
                ResidualCouplingLayer(
                    channels, hidden_channels, kernel_size, dilation_rate, n_layers, gin_channels
                )
            )
            self.flows.append(_Flip())

    def forward(self, x: Tensor, x_mask: Tensor, g: Tensor | None = None, reverse: bool = False) -> Tensor:
        flows = reversed(self.flows) if reverse else iter(self.flows)
        for flow in flows:
            x = flow(x, x_mask, g=g, reverse=reverse)
        return x


class _Flip(nn.Module):
    def forward(self, x: Tensor, x_mask: Tensor, g: Tensor | None = None, reverse: bool = False) -> Tensor:
        return torch.flip(x, [1])


class PosteriorEncoder(nn.Module):
    """Linear spectrogram -> (z, m, logs, mask) of the latent posterior (training only)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        hidden_channels: int,
        kernel_size: int,
        dilation_rate: int,
        n_layers: int,
        gin_channels: int = 0,
    ) -> None:
        super().__init__()
        self.out_channels = out_channels
        self.pre = nn.Conv1d(in_channels, hidden_channels, 1)
        self.enc = WN(hidden_channels, kernel_size, dilation_rate, n_layers, gin_channels=gin_channels)
        self.proj = nn.Conv1d(hidden_channels, out_channels * 2, 1)

    def forward(
        self, x: Tensor, x_lengths: Tensor, g: Tensor | None = None
    ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        # x: [B, spec_channels, T] -> z, m, logs: [B, inter, T]; mask [B, 1, T]
        if g is not None:
            g = g.detach()
        x_mask = sequence_mask(x_lengths, x.size(2)).unsqueeze(1).to(x.dtype)
        x = self.pre(x) * x_mask
        stats = self.proj(self.enc(x, x_mask, g=g)) * x_mask
        m, logs = torch.split(stats, self.out_channels, dim=1)
        z = (m + torch.randn_like(m) * torch.exp(logs)) * x_mask
        return z, m, logs, x_mask
