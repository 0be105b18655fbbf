"""Spectrogram and mel front end against the original's reference vectors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from timbre.audio.spectrogram import (
    hz_to_mel,
    linear_spectrogram,
    mel_filterbank,
    mel_spectrogram,
    mel_to_hz,
    spec_to_mel,
)
from timbre.compat.vectors import VectorSet
from timbre.compat.vectors_audio import check_spectrogram


@pytest.fixture(scope="module")
def vectors(compat_dir):
    return VectorSet.load(compat_dir / "vectors_seed0" / "sovits_v2_spectrogram.npz")


def test_check_spectrogram_passes_every_array(vectors):
    checks = check_spectrogram(vectors)
    assert {c.name for c in checks} == {"spec", "mel_basis", "mel_from_spec", "mel"}
    failed = [c for c in checks if not c.ok]
    assert not failed, failed
    by_name = {c.name: c for c in checks}
    assert by_name["mel_basis"].max_abs_err == 0.0  # the filterbank is bit-exact
    assert by_name["mel"].max_abs_err < 1e-5


def test_spectrogram_shapes_and_frame_count(vectors):
    wav = torch.from_numpy(vectors.arrays["wav"])  # [1, 96000]
    spec = linear_spectrogram(wav)
    assert spec.shape == (1, 1025, 96000 // 640)
    assert linear_spectrogram(wav[0]).shape == spec.shape  # 1-D input is treated as a batch of one
    mel = mel_spectrogram(torch.cat([wav, 0.5 * wav]))  # batched
    assert mel.shape == (2, 128, 150)
    torch.testing.assert_close(mel[:1], mel_spectrogram(wav), rtol=0, atol=1e-6)


def test_log_mel_floor_on_silence():
    mel = mel_spectrogram(torch.zeros(1, 6400))
    assert mel.shape == (1, 128, 10)
    assert torch.all(mel >= np.log(1e-5) - 1e-6)


def test_filterbank_cached_per_device_and_dtype():
    a = mel_filterbank()
    assert mel_filterbank() is a
    b = mel_filterbank(dtype=torch.float64)
    assert b.dtype == torch.float64 and b is not a
    torch.testing.assert_close(b.float(), a)
    assert spec_to_mel(torch.ones(1, 1025, 3, dtype=torch.float64)).dtype == torch.float64


def test_filterbank_rows_and_mel_scale():
    bank = mel_filterbank().numpy()
    assert bank.shape == (128, 1025)
    assert np.all(bank >= 0) and np.all(bank.max(axis=1) > 0)  # no empty filter
    hz = np.array([0.0, 500.0, 1000.0, 4000.0, 16000.0])
    np.testing.assert_allclose(mel_to_hz(hz_to_mel(hz)), hz, rtol=1e-12, atol=1e-9)
    assert hz_to_mel(1000.0) == pytest.approx(15.0)  # the linear/log break of the Slaney scale
