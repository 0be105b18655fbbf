"""HiFi-GAN discriminators used to train SoVITS: one scale discriminator plus period discriminators.

v1/v2 use periods 2, 3, 5, 7, 11; v2Pro/v2ProPlus add 17 and 23. Parameter names follow the original checkpoints
(`discriminators.<i>.convs.<j>.weight_g/weight_v`, `conv_post`). All convolutions are weight-normalised.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from timbre.errors import TimbreError
from timbre.models.sovits.layers import LRELU_SLOPE, WNConv1d, WNConv2d


def periods_for(version: str) -> tuple[int, ...]:
    if version in ("v1", "v2"):
        return (2, 3, 5, 7, 11)
    if version in ("v2Pro", "v2ProPlus"):
        return (2, 3, 5, 7, 11, 17, 23)
    raise TimbreError(
        f"unknown SoVITS version {version!r} for the discriminator; expected v1, v2, v2Pro or v2ProPlus"
    )


class DiscriminatorP(nn.Module):
    """Folds the waveform into [B, 1, T/period, period] and applies (k x 1) 2-D convolutions."""

    def __init__(self, period: int, kernel_size: int = 5, stride: int = 3) -> None:
        super().__init__()
        self.period = period
        pad = ((kernel_size - 1) // 2, 0)
        chans = [1, 32, 128, 512, 1024, 1024]
        self.convs = nn.ModuleList(
            WNConv2d(chans[i], chans[i + 1], (kernel_size, 1), (stride if i < 4 else 1, 1), padding=pad)
            for i in range(5)
        )
        self.conv_post = WNConv2d(1024, 1, (3, 1), 1, padding=(1, 0))

    def forward(self, x: Tensor) -> tuple[Tensor, list[Tensor]]:
        # x: [B, 1, T] -> scores [B, N], feature maps
        b, c, t = x.shape
        if t % self.period:
            n_pad = self.period - t % self.period
            x = F.pad(x, (0, n_pad), "reflect")
            t += n_pad
        x = x.view(b, c, t // self.period, self.period)
        fmap = []
        for conv in self.convs:
            x = F.leaky_relu(conv(x), LRELU_SLOPE)
            fmap.append(x)
        x = self.conv_post(x)
        fmap.append(x)
        return torch.flatten(x, 1, -1), fmap


class DiscriminatorS(nn.Module):
    """Grouped strided 1-D convolutions on the raw waveform."""

    def __init__(self) -> None:
        super().__init__()
        self.convs = nn.ModuleList(
            [
                WNConv1d(1, 16, 15, 1, padding=7),
                WNConv1d(16, 64, 41, 4, groups=4, padding=20),
                WNConv1d(64, 256, 41, 4, groups=16, padding=20),
                WNConv1d(256, 1024, 41, 4, groups=64, padding=20),
                WNConv1d(1024, 1024, 41, 4, groups=256, padding=20),
                WNConv1d(1024, 1024, 5, 1, padding=2),
            ]
        )
        self.conv_post = WNConv1d(1024, 1, 3, 1, padding=1)

    def forward(self, x: Tensor) -> tuple[Tensor, list[Tensor]]:
        fmap = []
        for conv in self.convs:
            x = F.leaky_relu(conv(x), LRELU_SLOPE)
            fmap.append(x)
        x = self.conv_post(x)
        fmap.append(x)
        return torch.flatten(x, 1, -1), fmap


class DiscriminatorOutput(NamedTuple):
    real_scores: list[Tensor]  # per discriminator [B, N_i]
    fake_scores: list[Tensor]
    real_fmaps: list[list[Tensor]]  # per discriminator, per layer
    fake_fmaps: list[list[Tensor]]


class MultiPeriodDiscriminator(nn.Module):
    def __init__(self, version: str = "v2") -> None:
        super().__init__()
        self.periods = periods_for(version)
        discs: list[nn.Module] = [DiscriminatorS()]
        discs += [DiscriminatorP(p) for p in self.periods]
        self.discriminators = nn.ModuleList(discs)

    def forward(self, y: Tensor, y_hat: Tensor) -> DiscriminatorOutput:
        # y, y_hat: [B, 1, T] real and generated waveforms
        out = DiscriminatorOutput([], [], [], [])
        for d in self.discriminators:
            score_r, fmap_r = d(y)
            score_g, fmap_g = d(y_hat)
            out.real_scores.append(score_r)
            out.fake_scores.append(score_g)
            out.real_fmaps.append(fmap_r)
            out.fake_fmaps.append(fmap_g)
        return out
