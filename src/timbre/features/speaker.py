"""The v2Pro/v2ProPlus speaker-verification embedding as a `SpeakerFn`: 32 kHz audio [1, T] -> [1, 20480].

The ERes2NetV2 model (`timbre.models.sv`) works on 16 kHz audio; this wrapper resamples with soxr first, as the
original resamples its 32 kHz reference to 16 kHz before the speaker model.
"""

from __future__ import annotations

from pathlib import Path

import torch

from timbre.audio.io import resample
from timbre.features.reference import SpeakerFn
from timbre.models.sv import load_speaker_encoder


def load_speaker_model(path: str | Path, device: str | torch.device = "cpu") -> SpeakerFn:
    """Load the original's ERes2NetV2 checkpoint from a local file (weights only, keys and shapes checked)."""
    encoder = load_speaker_encoder(path, device)

    def embed(wav32k: torch.Tensor) -> torch.Tensor:  # [1, T] at 32 kHz -> [1, 20480]
        audio = wav32k.reshape(-1).float().cpu().numpy()
        wav16k = torch.from_numpy(resample(audio, 32_000, 16_000))[None].to(device)
        with torch.inference_mode():
            return encoder(wav16k)

    return embed
