"""The tiny configuration: the whole training pipeline on CPU in seconds, with no pretrained files.

The models keep every interface of the real ones — the v2 phone vocabulary (732), semantic codes + EOS (1025),
RoBERTa width (1024), HuBERT width (768), 32 kHz audio, 1025-bin spectrograms — and are only narrow and shallow, so
the voice folder they produce is loaded and used exactly like a real one. Weights are deterministic for a seed.
A generated dataset (voiced, pitch-varying buzz through vowel-like resonances) stands in for recordings in tests.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from timbre.compat.detweights import load_deterministic
from timbre.models.discriminators import DiscriminatorOutput
from timbre.models.gpt import GPTConfig, Text2SemanticDecoder
from timbre.models.sovits import SoVITSConfig, SynthesizerTrn
from timbre.models.sovits.flow import ResidualCouplingLayer

# max_sec 2: decoding stops after 100 tokens (4 s of audio) even before the tiny GPT has learned to emit EOS
TINY_GPT = GPTConfig(embedding_dim=64, hidden_dim=64, n_head=2, n_layer=2, ffn_dim=256, max_sec=2)
TINY_HUBERT: dict[str, Any] = {
    "hidden_size": 768,  # what SoVITS's ssl_proj expects
    "num_hidden_layers": 1,
    "num_attention_heads": 2,
    "intermediate_size": 64,
    "conv_dim": (32,) * 7,
    "num_conv_pos_embeddings": 16,
    "num_conv_pos_embedding_groups": 8,
}
SAMPLE_RATE = 32000


def tiny_sovits_config() -> SoVITSConfig:
    """v2 SoVITS with one-layer encoders, a narrow three-stage HiFi-GAN (640x) and 8-frame training slices."""
    return replace(
        SoVITSConfig.for_version("v2"),
        filter_channels=64,
        n_layers=1,
        upsample_rates=(10, 8, 8),
        upsample_kernel_sizes=(20, 16, 16),
        upsample_initial_channel=32,
        resblock_kernel_sizes=(3,),
        resblock_dilation_sizes=((1, 3),),
        n_layers_q=1,
        segment_size_samples=640 * 8,
    )


def tiny_gpt(seed: int = 0) -> Text2SemanticDecoder:
    return load_deterministic(Text2SemanticDecoder(TINY_GPT), seed, zero_eos_row=True).train()  # type: ignore[return-value]


def tiny_sovits(seed: int = 0) -> SynthesizerTrn:
    """Deterministic weights (so that its quantizer gives varied semantic codes, which the tiny GPT then learns), with
    the latent distributions starting at a standard normal: the flow's coupling layers at identity (zero `post`, as
    the original initialises them) and zero prior and posterior projections (`enc_p.proj`, `enc_q.proj`). Straight
    from the deterministic generator the prior's log-std reached +-20 and the first KL loss 1e11-1e21, whose gradient
    overflowed to inf; from here it is below 1."""
    model: SynthesizerTrn = load_deterministic(SynthesizerTrn(tiny_sovits_config()), seed)  # type: ignore[assignment]
    with torch.no_grad():
        couplings = [m.post for m in model.flow.modules() if isinstance(m, ResidualCouplingLayer)]
        for layer in [*couplings, model.enc_p.proj, model.enc_q.proj]:
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)  # type: ignore[arg-type]  # all three kinds have a bias
    return model.train()


class TinyDiscriminator(nn.Module):
    """One waveform critic and one period-2 critic, with the multi-period discriminator's output structure."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.ModuleList([nn.Conv1d(1, 8, 15, 4, padding=7), nn.Conv1d(8, 1, 3, padding=1)])
        self.period = nn.ModuleList(
            [nn.Conv2d(1, 8, (5, 1), (3, 1), padding=(2, 0)), nn.Conv2d(8, 1, (3, 1), padding=(1, 0))]
        )

    @staticmethod
    def _critic(layers: nn.ModuleList, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        fmaps = []
        for i, layer in enumerate(layers):
            x = layer(x)
            if i + 1 < len(layers):
                x = F.leaky_relu(x, 0.1)
            fmaps.append(x)
        return x.flatten(1), fmaps

    def forward(self, y: torch.Tensor, y_hat: torch.Tensor, real_grad: bool = True) -> DiscriminatorOutput:
        # y, y_hat: [B, 1, T] with T even (a multiple of the 640-sample hop); real_grad as MultiPeriodDiscriminator's
        if not real_grad:
            y = y.detach()
        out = DiscriminatorOutput([], [], [], [])
        for critic, view in ((self.scale, None), (self.period, 2)):
            for wav, scores, fmaps in (
                (y, out.real_scores, out.real_fmaps),
                (y_hat, out.fake_scores, out.fake_fmaps),
            ):
                x = wav if view is None else wav.view(wav.shape[0], 1, -1, view)
                score, fmap = self._critic(critic, x)
                scores.append(score)
                fmaps.append(fmap)
        return out


def tiny_discriminator(seed: int = 0) -> TinyDiscriminator:
    torch.manual_seed(seed)
    return TinyDiscriminator()


def save_tiny_hubert(folder: Path, seed: int = 0) -> Path:
    """A random transformers HuBERT (768 wide, one layer) saved as a model folder `HubertExtractor` loads."""
    from transformers import HubertConfig, HubertModel

    torch.manual_seed(seed)
    model = HubertModel(HubertConfig(**TINY_HUBERT))
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    return folder


# ---- a generated dataset ------------------------------------------------------------------------------------------
TINY_LINES = (  # Chinese: its front end starts in a few seconds (the English one loads far more)
    ("zh", "你好，世界。今天天气很好。"),
    ("zh", "我们在训练一个很小的声音模型。"),
    ("zh", "它应该在一分钟之内完成。"),
    ("zh", "这只是一个简单的测试句子。"),
)

_VOWELS = ((730, 1090), (270, 2290), (300, 870), (530, 1840), (660, 1720))  # formant pairs (Hz)


def voiced_clip(seconds: float, seed: int) -> np.ndarray:
    """Speech-like float32 audio at 32 kHz: a gliding glottal pulse train through moving two-formant resonances,
    syllable-rate amplitude modulation and a little breath noise."""
    rng = np.random.default_rng(seed)
    n = int(seconds * SAMPLE_RATE)
    t = np.arange(n) / SAMPLE_RATE
    f0 = 120 + 25 * np.sin(2 * np.pi * 0.7 * t + rng.uniform(0, 6)) + 10 * rng.standard_normal()
    phase = 2 * np.pi * np.cumsum(f0) / SAMPLE_RATE
    source = np.zeros(n)
    for k in range(1, 40):  # band-limited sawtooth with a -12 dB/octave tilt
        source += np.sin(k * phase) / k**2 * (k * f0 < SAMPLE_RATE / 2)
    spectrum = np.fft.rfft(source + 0.02 * rng.standard_normal(n))
    freqs = np.fft.rfftfreq(n, 1 / SAMPLE_RATE)
    f1, f2 = _VOWELS[seed % len(_VOWELS)]
    envelope = sum(1 / (1 + ((freqs - f) / (0.1 * f + 60)) ** 2) for f in (f1, f2, 2800.0))
    audio = np.fft.irfft(spectrum * envelope, n)
    syllables = 0.55 + 0.45 * np.sin(2 * np.pi * 4.0 * t + rng.uniform(0, 6)) ** 2
    fade = np.minimum(1.0, np.minimum(t, t[::-1]) / 0.05)
    audio *= syllables * fade
    return (0.5 * audio / np.abs(audio).max()).astype(np.float32)


def write_tiny_dataset(
    folder: Path, seconds: float = 3.0, lines: tuple[tuple[str, str], ...] = TINY_LINES
) -> Path:
    """A dataset folder as `timbre prepare` writes it: wavs/*.wav (32 kHz), dataset.list and dataset.json."""
    import soundfile as sf

    wavs = folder / "wavs"
    wavs.mkdir(parents=True, exist_ok=True)
    entries = []
    for i, (lang, text) in enumerate(lines):
        name = f"tiny_{i:03d}.wav"
        sf.write(wavs / name, voiced_clip(seconds, i), SAMPLE_RATE, subtype="PCM_16")
        entries.append(f"wavs/{name}|tiny|{lang.upper()}|{text}")
    (folder / "dataset.list").write_text("\n".join(entries) + "\n", encoding="utf-8")
    manifest = {"list_file": "dataset.list", "sample_rate": SAMPLE_RATE, "speaker": "tiny"}
    (folder / "dataset.json").write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
    return folder
