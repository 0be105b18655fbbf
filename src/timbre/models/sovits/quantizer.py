"""Residual vector quantizer of the semantic tokens (one codebook of 1024 x 768 in GPT-SoVITS).

State lives in buffers named as the checkpoints name them: `vq.layers.<i>._codebook.{inited,cluster_size,embed,
embed_avg}`. In training mode the codebook follows the batch by exponential moving averages, dead codes are
replaced by random batch vectors and a commitment loss is returned, as the original (EnCodec-style) quantizer does;
in eval mode it is a pure nearest-neighbour lookup.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class QuantizerOutput(NamedTuple):
    quantized: Tensor  # [B, D, T] sum over the used codebooks
    codes: Tensor  # [n_q, B, T] int64
    commit_loss: Tensor  # scalar: mean commitment loss over the used codebooks (0 in eval mode)
    per_layer: list[Tensor]  # quantized output of each requested layer, [B, D, T]


class EuclideanCodebook(nn.Module):
    inited: Tensor
    cluster_size: Tensor
    embed: Tensor
    embed_avg: Tensor

    def __init__(
        self,
        dim: int,
        codebook_size: int,
        decay: float = 0.99,
        epsilon: float = 1e-5,
        threshold_ema_dead_code: int = 2,
        kmeans_iters: int = 50,
    ) -> None:
        super().__init__()
        self.codebook_size = codebook_size
        self.decay = decay
        self.epsilon = epsilon
        self.threshold_ema_dead_code = threshold_ema_dead_code
        self.kmeans_iters = kmeans_iters
        self.register_buffer("inited", torch.zeros(1))
        self.register_buffer("cluster_size", torch.zeros(codebook_size))
        self.register_buffer("embed", torch.zeros(codebook_size, dim))
        self.register_buffer("embed_avg", torch.zeros(codebook_size, dim))

    def nearest(self, x: Tensor) -> Tensor:
        """[N, D] -> [N] index of the closest code (the original's distance expression, for identical ties)."""
        embed = self.embed.t()
        dist = -(x.pow(2).sum(1, keepdim=True) - 2 * x @ embed + embed.pow(2).sum(0, keepdim=True))
        return dist.max(dim=-1).indices

    def lookup(self, codes: Tensor) -> Tensor:
        return F.embedding(codes, self.embed)

    @torch.no_grad()
    def _kmeans_init(self, samples: Tensor) -> None:
        samples = samples[:500]
        n = samples.shape[0]
        pick = (
            torch.randperm(n)[: self.codebook_size]
            if n >= self.codebook_size
            else torch.randint(0, n, (self.codebook_size,))
        )
        means = samples[pick]
        bins = torch.zeros(self.codebook_size, device=samples.device)
        for _ in range(self.kmeans_iters):
            buckets = (-(torch.cdist(samples, means) ** 2)).max(dim=-1).indices
            bins = torch.bincount(buckets, minlength=self.codebook_size).to(samples.dtype)
            sums = torch.zeros_like(means).index_add_(0, buckets, samples)
            means = torch.where((bins == 0)[:, None], means, sums / bins.clamp(min=1)[:, None])
        self.embed.copy_(means)
        self.embed_avg.copy_(means)
        self.cluster_size.copy_(bins)
        self.inited.fill_(1.0)

    @torch.no_grad()
    def _ema_update(self, x: Tensor, codes: Tensor) -> None:
        expired = self.cluster_size < self.threshold_ema_dead_code
        if self.threshold_ema_dead_code and bool(expired.any()):
            pick = torch.randint(0, x.shape[0], (self.codebook_size,), device=x.device)
            self.embed.copy_(torch.where(expired[:, None], x[pick], self.embed))
        onehot = F.one_hot(codes, self.codebook_size).to(x.dtype)  # [N, K]
        self.cluster_size.mul_(self.decay).add_(onehot.sum(0), alpha=1 - self.decay)
        self.embed_avg.mul_(self.decay).add_((x.t() @ onehot).t(), alpha=1 - self.decay)
        total = self.cluster_size.sum()
        smoothed = (self.cluster_size + self.epsilon) / (total + self.codebook_size * self.epsilon) * total
        self.embed.copy_(self.embed_avg / smoothed.unsqueeze(1))

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        # x: [N, D] -> (quantized [N, D], codes [N])
        if self.training and not bool(self.inited):
            self._kmeans_init(x.detach())
        codes = self.nearest(x)
        quantized = self.lookup(codes)
        if self.training:
            self._ema_update(x.detach(), codes)
        return quantized, codes


class _VectorQuantization(nn.Module):
    """Holds one codebook as `_codebook` (checkpoint naming)."""

    _codebook: EuclideanCodebook

    def __init__(self, dim: int, codebook_size: int) -> None:
        super().__init__()
        self._codebook = EuclideanCodebook(dim, codebook_size)


class _ResidualLayers(nn.Module):
    def __init__(self, n_q: int, dim: int, bins: int) -> None:
        super().__init__()
        self.layers = nn.ModuleList(_VectorQuantization(dim, bins) for _ in range(n_q))


class ResidualVectorQuantizer(nn.Module):
    def __init__(self, dimension: int = 768, n_q: int = 1, bins: int = 1024) -> None:
        super().__init__()
        self.n_q = n_q
        self.vq = _ResidualLayers(n_q, dimension, bins)

    def codebook(self, i: int) -> EuclideanCodebook:
        layer: _VectorQuantization = self.vq.layers[i]  # type: ignore[assignment]
        return layer._codebook

    def forward(self, x: Tensor, n_q: int | None = None, layers: list[int] | None = None) -> QuantizerOutput:
        # x: [B, D, T]
        n_q = n_q or self.n_q
        residual = x
        quantized_out = torch.zeros_like(x)
        codes, losses, per_layer = [], [], []
        for i in range(n_q):
            b, d, t = residual.shape
            flat = residual.transpose(1, 2).reshape(b * t, d)  # [B*T, D]
            q_flat, idx = self.codebook(i)(flat)
            if self.training:
                loss = F.mse_loss(q_flat.detach(), flat)
                q_flat = flat + (q_flat - flat).detach()  # straight-through
            else:
                loss = torch.zeros((), device=x.device)
            quantized = q_flat.view(b, t, d).transpose(1, 2)
            residual = residual - quantized
            quantized_out = quantized_out + quantized
            codes.append(idx.view(b, t))
            losses.append(loss)
            if layers and i in layers:
                per_layer.append(quantized)
        return QuantizerOutput(quantized_out, torch.stack(codes), torch.stack(losses).mean(), per_layer)

    def decode(self, codes: Tensor) -> Tensor:
        """[n_q, B, T] int codes -> [B, D, T]."""
        out: Tensor | None = None
        for i, idx in enumerate(codes):
            q = self.codebook(i).lookup(idx).transpose(1, 2)
            out = q if out is None else out + q
        assert out is not None
        return out
