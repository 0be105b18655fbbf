"""Noise suppression with RNNoise (the pyrnnoise wheel's bundled library and weights).

RNNoise works on 48 kHz audio in frames of 480 samples scaled like 16-bit PCM. Its output lags the input by two
frames (960 samples, 20 ms), which is removed here so the result lines up sample for sample with the input.
"""

from __future__ import annotations

import ctypes

import numpy as np

from timbre.audio.io import resample

RNNOISE_RATE = 48000
RNNOISE_FRAME = 480
RNNOISE_DELAY = 960  # samples at 48 kHz between an input sample and its denoised output
PCM_SCALE = 32768.0


def denoise(wav: np.ndarray, sr: int) -> np.ndarray:
    """Denoise a mono signal at any rate: [T] float32 -> [T] float32 (same rate, same length)."""
    wav = np.asarray(wav, dtype=np.float32)
    if wav.size == 0:
        return wav.copy()
    from pyrnnoise import rnnoise

    at48 = resample(wav, sr, RNNOISE_RATE)
    n_frames = -(-(at48.size + RNNOISE_DELAY) // RNNOISE_FRAME)
    frames = np.zeros((n_frames, RNNOISE_FRAME), dtype=np.float32)
    frames.reshape(-1)[: at48.size] = at48 * PCM_SCALE
    cleaned = np.empty_like(frames)  # [n_frames, 480]
    state = rnnoise.create()
    try:
        for i in range(n_frames):
            src = np.ascontiguousarray(frames[i])
            dst = np.empty(RNNOISE_FRAME, dtype=np.float32)
            rnnoise.lib.rnnoise_process_frame(
                state,
                dst.ctypes.data_as(ctypes.POINTER(ctypes.c_float)),
                src.ctypes.data_as(ctypes.POINTER(ctypes.c_float)),
            )
            cleaned[i] = dst
    finally:
        rnnoise.destroy(state)
    aligned = cleaned.reshape(-1)[RNNOISE_DELAY : RNNOISE_DELAY + at48.size] / PCM_SCALE
    out = resample(np.clip(aligned, -1.0, 1.0), RNNOISE_RATE, sr)
    if out.size < wav.size:
        out = np.pad(out, (0, wav.size - out.size))
    return out[: wav.size].astype(np.float32, copy=False)
