"""The v2Pro speaker-verification model loads from a local state dict and embeds 32 kHz audio."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from timbre.errors import TimbreError
from timbre.features.speaker import load_speaker_model
from timbre.models.sv import ERes2NetV2


def test_speaker_model_embeds_32k_audio(tmp_path: Path) -> None:
    torch.manual_seed(0)
    path = tmp_path / "sv.ckpt"
    torch.save(ERes2NetV2().state_dict(), path)
    embed = load_speaker_model(path)
    t = np.arange(32_000 * 2) / 32_000
    wav = torch.from_numpy(
        (0.3 * np.sin(2 * np.pi * 140 * t) * (1 + np.sin(2 * np.pi * 3 * t))).astype(np.float32)
    )
    emb = embed(wav[None])
    assert emb.shape == (1, 20480) and torch.isfinite(emb).all()
    torch.testing.assert_close(embed(wav[None]), emb)


def test_speaker_model_bad_files(tmp_path: Path) -> None:
    with pytest.raises(TimbreError, match="not found"):
        load_speaker_model(tmp_path / "missing.ckpt")
    wrong = tmp_path / "wrong.ckpt"
    torch.save({"layer.weight": torch.zeros(2, 2)}, wrong)
    with pytest.raises(TimbreError, match="not an ERes2NetV2"):
        load_speaker_model(wrong)
    evil = tmp_path / "evil.ckpt"
    evil.write_bytes(pickle.dumps(print))
    with pytest.raises(TimbreError):
        load_speaker_model(evil)
