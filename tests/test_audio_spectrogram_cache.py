"""Cached windows and filterbanks first built under inference_mode still work for training (autograd)."""

from __future__ import annotations

import subprocess
import sys


def test_cache_built_in_inference_mode_is_usable_for_backward() -> None:
    code = (
        "import torch\n"
        "from timbre.audio.spectrogram import linear_spectrogram, mel_spectrogram\n"
        "with torch.inference_mode():\n"
        "    mel_spectrogram(torch.randn(1, 6400))\n"
        "w = torch.randn(1, 6400, requires_grad=True)\n"
        "(mel_spectrogram(w).sum() + linear_spectrogram(w).sum()).backward()\n"
        "assert w.grad is not None and torch.isfinite(w.grad).all()\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_sovits_attention_index_cache_built_in_inference_mode_is_usable_for_backward() -> None:
    import torch

    from timbre.models.sovits.attention import _abs_index, _band_index

    with torch.inference_mode():
        cached = (*_abs_index(7, 4), *_band_index(7, 4))
    assert not any(t.is_inference() for t in cached)
