"""Linear and mel spectrograms, numerically equal to the original's training front end.

Conventions of GPT-SoVITS v2 (32 kHz, n_fft 2048, hop 640, win 2048): the signal is reflect-padded by
(n_fft - hop) / 2 on each side and framed with `center=False`, so a clip of T samples gives T // hop frames.
The window is a periodic Hann window; the magnitude carries a 1e-8 floor inside the square root. The mel
filterbank is the Slaney-style one (librosa's default) and the log-mel clamps at 1e-5 before the log.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import torch

SAMPLE_RATE = 32000
N_FFT = 2048
HOP = 640
WIN = 2048
N_MELS = 128
MAG_FLOOR = 1e-8  # added to |X|^2 before the square root
LOG_CLAMP = 1e-5  # log-mel floor

# Slaney mel scale: linear below 1 kHz (200/3 Hz per mel), logarithmic above (27 mels per factor 6.4).
_MEL_LINEAR_HZ = 200.0 / 3.0
_MEL_BREAK_HZ = 1000.0
_MEL_BREAK = _MEL_BREAK_HZ / _MEL_LINEAR_HZ
_MEL_LOG_STEP = math.log(6.4) / 27.0


def hz_to_mel(hz: np.ndarray | float) -> np.ndarray:
    hz = np.asarray(hz, dtype=np.float64)
    linear = hz / _MEL_LINEAR_HZ
    safe = np.maximum(hz, _MEL_BREAK_HZ)
    logarithmic = _MEL_BREAK + np.log(safe / _MEL_BREAK_HZ) / _MEL_LOG_STEP
    return np.where(hz >= _MEL_BREAK_HZ, logarithmic, linear)


def mel_to_hz(mel: np.ndarray | float) -> np.ndarray:
    mel = np.asarray(mel, dtype=np.float64)
    linear = mel * _MEL_LINEAR_HZ
    logarithmic = _MEL_BREAK_HZ * np.exp(_MEL_LOG_STEP * (mel - _MEL_BREAK))
    return np.where(mel >= _MEL_BREAK, logarithmic, linear)


@functools.cache
def _mel_filterbank_np(sr: int, n_fft: int, n_mels: int, fmin: float, fmax: float | None) -> np.ndarray:
    """Triangular Slaney-normalised filters [n_mels, n_fft // 2 + 1], float32, rounded like librosa's."""
    top = sr / 2.0 if fmax is None else float(fmax)
    fft_hz = np.fft.rfftfreq(n_fft, d=1.0 / sr)  # [F]
    edges_hz = mel_to_hz(np.linspace(hz_to_mel(np.float64(fmin)), hz_to_mel(np.float64(top)), n_mels + 2))
    widths = np.diff(edges_hz)  # [n_mels + 1]
    to_edge = edges_hz[:, None] - fft_hz[None, :]  # [n_mels + 2, F]
    bank = np.zeros((n_mels, fft_hz.size), dtype=np.float32)
    for m in range(n_mels):
        rising = -to_edge[m] / widths[m]
        falling = to_edge[m + 2] / widths[m + 1]
        bank[m] = np.maximum(0.0, np.minimum(rising, falling))
    # Area normalisation, applied to the float32 triangles as a float64 product (as librosa does in place).
    area = 2.0 / (edges_hz[2 : n_mels + 2] - edges_hz[:n_mels])
    bank *= area[:, None]
    bank.setflags(write=False)
    return bank


def mel_filterbank(
    sr: int = SAMPLE_RATE,
    n_fft: int = N_FFT,
    n_mels: int = N_MELS,
    fmin: float = 0.0,
    fmax: float | None = None,
    *,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """The mel filterbank [n_mels, n_fft // 2 + 1] (Slaney scale and norm), cached per device and dtype."""
    return _mel_filterbank_tensor(sr, n_fft, n_mels, float(fmin), fmax, torch.device(device or "cpu"), dtype)


@functools.cache
def _mel_filterbank_tensor(
    sr: int,
    n_fft: int,
    n_mels: int,
    fmin: float,
    fmax: float | None,
    device: torch.device,
    dtype: torch.dtype,
) -> torch.Tensor:
    with torch.inference_mode(False):  # a cached tensor must stay usable by autograd (training) later
        bank = _mel_filterbank_np(sr, n_fft, n_mels, fmin, fmax).copy()
        return torch.from_numpy(bank).to(device=device, dtype=dtype)


@functools.cache
def hann_window(win: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """Periodic Hann window, cached per (length, device, dtype); never an inference-mode tensor."""
    with torch.inference_mode(False):
        return torch.hann_window(win, periodic=True).to(device=device, dtype=dtype)


def linear_spectrogram(wav: torch.Tensor, n_fft: int = N_FFT, hop: int = HOP, win: int = WIN) -> torch.Tensor:
    """Magnitude spectrogram: wav [B, T] -> [B, n_fft // 2 + 1, T // hop] (for T a multiple of hop)."""
    if wav.dim() == 1:
        wav = wav.unsqueeze(0)
    pad = (n_fft - hop) // 2
    padded = torch.nn.functional.pad(wav.unsqueeze(1), (pad, pad), mode="reflect").squeeze(
        1
    )  # [B, T + 2 pad]
    stft = torch.stft(
        padded,
        n_fft,
        hop_length=hop,
        win_length=win,
        window=hann_window(win, wav.device, wav.dtype),
        center=False,
        normalized=False,
        onesided=True,
        return_complex=True,
    )  # [B, F, frames]
    return stft.abs().pow(2).add(MAG_FLOOR).sqrt()


def spec_to_mel(
    spec: torch.Tensor,
    sr: int = SAMPLE_RATE,
    n_fft: int = N_FFT,
    n_mels: int = N_MELS,
    fmin: float = 0.0,
    fmax: float | None = None,
) -> torch.Tensor:
    """Log-mel from a linear spectrogram: [B, F, frames] -> [B, n_mels, frames]."""
    bank = mel_filterbank(sr, n_fft, n_mels, fmin, fmax, device=spec.device, dtype=spec.dtype)  # [M, F]
    return torch.log(torch.clamp(torch.matmul(bank, spec), min=LOG_CLAMP))


def mel_spectrogram(
    wav: torch.Tensor,
    sr: int = SAMPLE_RATE,
    n_fft: int = N_FFT,
    n_mels: int = N_MELS,
    hop: int = HOP,
    win: int = WIN,
    fmin: float = 0.0,
    fmax: float | None = None,
) -> torch.Tensor:
    """Log-mel straight from audio: wav [B, T] -> [B, n_mels, T // hop]."""
    return spec_to_mel(linear_spectrogram(wav, n_fft, hop, win), sr, n_fft, n_mels, fmin, fmax)
