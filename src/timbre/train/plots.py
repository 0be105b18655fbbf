"""The spectrogram PNG of a voice folder: one training segment, real vs. re-synthesized by the trained SoVITS."""

from __future__ import annotations

from pathlib import Path

import torch

from timbre.audio.spectrogram import mel_spectrogram
from timbre.features.loading import SegmentFeatures
from timbre.models.sovits import SynthesizerTrn


def resynthesize(sovits: SynthesizerTrn, seg: SegmentFeatures, noise_scale: float = 0.5) -> torch.Tensor:
    """The segment's own semantic tokens and phones, styled by its own spectrogram (and, for v2Pro*, its own
    speaker-verification embedding) -> audio [T] at 32 kHz."""
    if seg.codes is None or seg.spec is None:
        raise ValueError(
            f"segment {seg.name} has no semantic tokens or spectrogram; extract its features first"
        )
    if sovits.cfg.is_pro and seg.sv_emb is None:
        raise ValueError(f"segment {seg.name} has no speaker-verification embedding, which SoVITS "
                         f"{sovits.cfg.version} needs; extract its features with --sv first")  # fmt: skip
    codes = torch.from_numpy(seg.codes).long().view(1, 1, -1)  # [n_q=1, B=1, T25]
    phones = torch.from_numpy(seg.phone_ids).long()[None]  # [1, N]
    spec = torch.from_numpy(seg.spec)[None]  # [1, 1025, T50]
    sv_emb = torch.from_numpy(seg.sv_emb)[None] if sovits.cfg.is_pro and seg.sv_emb is not None else None
    with torch.random.fork_rng(devices=[]):  # fixed noise, without touching the caller's RNG
        torch.manual_seed(0)
        audio = sovits.cpu().eval().decode(codes, phones, spec, noise_scale=noise_scale, sv_emb=sv_emb)
    return audio[0, 0].float()


def spectrogram_png(sovits: SynthesizerTrn, seg: SegmentFeatures, path: Path) -> Path:
    """Log-mel spectrograms of the real segment (top) and its re-synthesis (bottom), on one colour scale."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    real = mel_spectrogram(torch.from_numpy(seg.audio)[None])[0]  # [128, T50]
    fake = mel_spectrogram(resynthesize(sovits, seg)[None])[0]
    low, high = float(real.min()), float(real.max())
    fig, axes = plt.subplots(2, 1, figsize=(8, 5), sharex=True)
    for ax, mel, title in ((axes[0], real, "real"), (axes[1], fake, "generated (trained SoVITS)")):
        image = ax.imshow(mel.numpy(), origin="lower", aspect="auto", vmin=low, vmax=high, cmap="magma")
        ax.set_title(f"{title}: {seg.name}", fontsize=9)
        ax.set_ylabel("mel bin", fontsize=8)
    axes[1].set_xlabel("frame (20 ms)", fontsize=8)
    fig.colorbar(image, ax=list(axes), label="log magnitude")
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
