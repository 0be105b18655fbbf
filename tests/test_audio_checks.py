"""Validation messages, loudness normalisation, the peak limiter and RNNoise denoising."""

from __future__ import annotations

import numpy as np
import pytest

from audio_fixtures import concat_with_gaps, speech, voiced
from timbre.audio.denoise import denoise
from timbre.audio.loudness import integrated_loudness, limit_peaks, normalize_loudness
from timbre.audio.validate import (
    AudioValidationError,
    ValidationConfig,
    estimate_speech_seconds,
    validate_audio,
)
from timbre.errors import TimbreError

SR = 16000


def _speechlike(n: int = 5) -> np.ndarray:
    """n voiced 0.6 s "syllables" separated by 0.2 s pauses."""
    clips = [voiced(0.6, SR, 120 + 20 * i, seed=i) for i in range(n)]
    return concat_with_gaps(clips, [0.2] * len(clips), SR)[0]


@pytest.mark.parametrize(
    ("wav", "message"),
    [
        (np.zeros(0, np.float32), "the file is empty"),
        (np.array([0.1, np.nan, 0.2] * 20000, np.float32), "20000 samples are NaN or infinite"),
        (np.full(48000, 1e-4, np.float32), r"silent \(peak -80.0 dBFS\)"),
        (
            np.sign(_speechlike()) * (np.abs(_speechlike()) > 0.05),
            r"of the samples are clipped at full scale",
        ),
        (voiced(0.5, SR), r"only 0\.\d+ s of speech \(at least 1 s needed\)"),
    ],
    ids=["empty", "nonfinite", "silent", "clipped", "too-short"],
)
def test_bad_audio_is_named_and_explained(wav, message):
    with pytest.raises(AudioValidationError, match=rf"^take7\.wav: .*{message}") as info:
        validate_audio(wav.astype(np.float32), SR, "take7.wav")
    assert isinstance(info.value, TimbreError) and isinstance(info.value, ValueError)
    assert info.value.source == "take7.wav"


def test_good_audio_passes_and_thresholds_are_configurable():
    wav = _speechlike()
    validate_audio(wav, SR, "ok.wav")
    assert 2.7 < estimate_speech_seconds(wav, SR) < 3.2
    with pytest.raises(AudioValidationError, match="at least 5 s"):
        validate_audio(wav, SR, "ok.wav", ValidationConfig(min_speech_seconds=5.0))
    validate_audio(wav, SR, "ok.wav", speech_seconds=1.5)  # a measured (VAD) figure overrides the estimate
    slightly = wav.copy()
    slightly[: int(0.005 * wav.size)] = 1.0  # 0.5 % at full scale: allowed
    validate_audio(slightly, SR, "ok.wav")


def test_loudness_normalisation_hits_target():
    wav = _speechlike() * 0.1
    for target in (-23.0, -16.0):
        out = normalize_loudness(wav, SR, target)
        assert integrated_loudness(out, SR) == pytest.approx(target, abs=0.05)
    silent = np.zeros(SR, np.float32)
    np.testing.assert_array_equal(normalize_loudness(silent, SR), silent)


def test_limiter_caps_peaks_smoothly():
    wav = _speechlike() * 0.5
    wav[8000] = 1.7  # an isolated spike
    out = limit_peaks(wav, SR, ceiling=0.9)
    assert np.max(np.abs(out)) <= 0.9 + 1e-6
    gain = out[7000:9000] / np.where(np.abs(wav[7000:9000]) > 1e-3, wav[7000:9000], np.nan)
    assert np.nanmin(gain) < 0.6  # the spike was turned down ...
    far = slice(10000, 20000)
    np.testing.assert_array_equal(out[far], wav[far])  # ... and nothing far from it
    quiet = wav * 0.3
    np.testing.assert_array_equal(limit_peaks(quiet, SR, 0.9), quiet)


def test_denoise_removes_noise_and_keeps_alignment():
    sr = 32000
    rng = np.random.default_rng(0)
    noise = (0.02 * rng.standard_normal(2 * sr)).astype(np.float32)
    cleaned_noise = denoise(noise, sr)
    assert cleaned_noise.shape == noise.shape and cleaned_noise.dtype == np.float32
    reduction_db = 10 * np.log10(np.mean(noise**2) / np.mean(cleaned_noise[sr // 2 :] ** 2))
    assert reduction_db > 10

    clean = speech("heath_ledger.mp3", sr)
    noisy = clean + (0.005 * rng.standard_normal(clean.size)).astype(np.float32)
    out = denoise(noisy, sr)
    assert out.shape == clean.shape
    lags = range(-200, 201, 4)
    corr = [float(np.dot(np.roll(out, -lag)[2000:-2000], clean[2000:-2000])) for lag in lags]
    assert abs(list(lags)[int(np.argmax(corr))]) <= 8  # no delay left (within a quarter millisecond)
    assert np.corrcoef(out, clean)[0, 1] > 0.8  # speech kept
