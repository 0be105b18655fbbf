"""v2Pro speaker-verification embedding: Kaldi filterbank front end and the ERes2NetV2 trunk."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from timbre.errors import CheckpointError
from timbre.models.sv import SV_EMBED_DIM, ERes2NetV2, SpeakerEncoder, kaldi_fbank, load_speaker_encoder


def _reference_fbank(wav: np.ndarray, n_mels: int = 80, sr: float = 16000.0) -> np.ndarray:
    """Kaldi compute-fbank-feats defaults, written from the Kaldi documentation in float64 numpy."""
    shift, size, n_fft = 160, 400, 512
    frames = 1 + (len(wav) - size) // shift
    x = np.stack([wav[i * shift : i * shift + size] for i in range(frames)]).astype(np.float64)
    x -= x.mean(axis=1, keepdims=True)
    x = x - 0.97 * np.concatenate([x[:, :1], x[:, :-1]], axis=1)
    n = np.arange(size)
    x *= (0.5 - 0.5 * np.cos(2 * math.pi * n / (size - 1))) ** 0.85
    power = np.abs(np.fft.rfft(x, n=n_fft)) ** 2

    def mel(f):
        return 1127.0 * np.log(1.0 + np.asarray(f) / 700.0)

    lo, hi = mel(20.0), mel(sr / 2)
    delta = (hi - lo) / (n_mels + 1)
    fm = mel(sr / n_fft * np.arange(n_fft // 2))
    banks = np.zeros((n_mels, n_fft // 2 + 1))
    for b in range(n_mels):
        left, center, right = lo + b * delta, lo + (b + 1) * delta, lo + (b + 2) * delta
        banks[b, : n_fft // 2] = np.maximum(
            0.0, np.minimum((fm - left) / (center - left), (right - fm) / (right - center))
        )
    return np.log(np.maximum(power @ banks.T, np.finfo(np.float32).eps))


def test_fbank_matches_kaldi_definition() -> None:
    rng = np.random.default_rng(0)
    t = np.arange(16000) / 16000.0
    wav = (0.3 * np.sin(2 * math.pi * 220 * t) + 0.05 * rng.standard_normal(t.size)).astype(np.float32)
    got = kaldi_fbank(torch.from_numpy(wav)).numpy()
    want = _reference_fbank(wav)
    assert got.shape == (1 + (16000 - 400) // 160, 80)
    assert np.abs(got - want).max() < 2e-3  # float32 vs float64 in the log domain


def test_fbank_errors() -> None:
    with pytest.raises(ValueError, match="too short"):
        kaldi_fbank(torch.zeros(100))
    with pytest.raises(ValueError, match="1-D"):
        kaldi_fbank(torch.zeros(2, 1000))


@pytest.fixture(scope="module")
def encoder() -> SpeakerEncoder:
    torch.manual_seed(0)
    model = ERes2NetV2()
    for m in model.modules():  # non-trivial batch-norm statistics
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    return SpeakerEncoder(model).eval()


def test_embedding_shape_and_batching(encoder: SpeakerEncoder) -> None:
    wav = torch.randn(2, 16000) * 0.1
    with torch.inference_mode():
        both = encoder(wav)
        one = encoder(wav[1])
    assert both.shape == (2, SV_EMBED_DIM) and torch.isfinite(both).all()
    assert torch.allclose(both[1:], one, atol=1e-4, rtol=1e-4)
    with torch.inference_mode():
        emb = encoder.model.embedding(encoder.features(wav))
    assert emb.shape == (2, 192)


def test_load_round_trip_and_rejects(tmp_path: Path, encoder: SpeakerEncoder) -> None:
    path = tmp_path / "sv.ckpt"
    torch.save(encoder.model.state_dict(), path)
    loaded = load_speaker_encoder(path)
    wav = torch.randn(1, 8000) * 0.1
    with torch.inference_mode():
        assert torch.equal(loaded(wav), encoder(wav))
    bad = tmp_path / "bad.ckpt"
    torch.save({"conv1.weight": torch.zeros(1)}, bad)
    with pytest.raises(CheckpointError, match="ERes2NetV2"):
        load_speaker_encoder(bad)
    with pytest.raises(CheckpointError, match="not found"):
        load_speaker_encoder(tmp_path / "missing.ckpt")

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    evil = tmp_path / "evil.ckpt"
    torch.save({"x": Evil()}, evil)
    with pytest.raises(CheckpointError, match="safely"):
        load_speaker_encoder(evil)
