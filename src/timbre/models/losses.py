"""GAN and VAE losses of SoVITS training (LSGAN adversarial terms, feature matching, KL), as the original.

All terms are computed in float32 whatever the autocast precision of their inputs.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor


def _total(terms: Sequence[Tensor]) -> Tensor:
    """Left-to-right sum, as the original's running `loss += term`."""
    if not terms:
        raise ValueError("loss over an empty list of discriminator outputs")
    total = terms[0]
    for term in terms[1:]:
        total = total + term
    return total


def feature_loss(fmap_r: Sequence[Sequence[Tensor]], fmap_g: Sequence[Sequence[Tensor]]) -> Tensor:
    """2 x sum over discriminators and layers of mean |real - generated| (real features detached)."""
    terms = [
        torch.mean(torch.abs(rl.float().detach() - gl.float()))
        for dr, dg in zip(fmap_r, fmap_g, strict=True)
        for rl, gl in zip(dr, dg, strict=True)
    ]
    return _total(terms) * 2


def discriminator_loss(
    real: Sequence[Tensor], fake: Sequence[Tensor]
) -> tuple[Tensor, list[float], list[float]]:
    """LSGAN discriminator loss: sum of mean (1 - D(real))^2 + mean D(fake)^2; also the per-discriminator parts."""
    r_terms = [torch.mean((1 - dr.float()) ** 2) for dr in real]
    g_terms = [torch.mean(dg.float() ** 2) for dg in fake]
    if len(r_terms) != len(g_terms):
        raise ValueError("discriminator_loss: real and fake score lists differ in length")
    loss = _total([r + g for r, g in zip(r_terms, g_terms, strict=True)])
    return loss, [r.item() for r in r_terms], [g.item() for g in g_terms]


def generator_loss(fake: Sequence[Tensor]) -> tuple[Tensor, list[Tensor]]:
    """LSGAN generator loss: sum of mean (1 - D(fake))^2; also the per-discriminator terms."""
    parts = [torch.mean((1 - dg.float()) ** 2) for dg in fake]
    return _total(parts), parts


def kl_loss(z_p: Tensor, logs_q: Tensor, m_p: Tensor, logs_p: Tensor, z_mask: Tensor) -> Tensor:
    """KL between the posterior (flowed to z_p, log-std logs_q) and the prior N(m_p, exp(logs_p)), masked mean.

    z_p, logs_q, m_p, logs_p: [B, C, T]; z_mask: [B, 1, T].
    """
    z_p, logs_q, m_p, logs_p, z_mask = (t.float() for t in (z_p, logs_q, m_p, logs_p, z_mask))
    kl = logs_p - logs_q - 0.5
    kl = kl + 0.5 * ((z_p - m_p) ** 2) * torch.exp(-2.0 * logs_p)
    return torch.sum(kl * z_mask) / torch.sum(z_mask)
