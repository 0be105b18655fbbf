"""Audio for the audio and prepare tests: real speech clips shipped inside the gradio wheel (a dependency), and
synthetic voiced signals the tests generate. Nothing large is committed."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

# English speech in gradio's media assets, with what is said (Whisper tiny.en transcribes them like this).
SPEECH = {
    "cate_blanch.mp3": "I sleep with a dagger. If you so much as move to touch me, I will sever your mind.",
    "cate_blanch_2.mp3": "I trust you had an historic evening.",
    "heath_ledger.mp3": "If you're good at something, never do it for free.",
}


def speech_path(name: str) -> Path:
    """Path of one of gradio's bundled speech clips; skips the test when gradio's assets are absent."""
    spec = importlib.util.find_spec("gradio")
    if spec is None or spec.origin is None:
        pytest.skip("gradio is not installed (its wheel provides the speech clips)")
    path = Path(spec.origin).parent / "media_assets" / "audio" / name
    if not path.is_file():
        pytest.skip(f"speech clip {name} not found in the gradio package")
    return path


def speech(name: str, sr: int) -> np.ndarray:
    from timbre.audio.io import load_audio

    return load_audio(speech_path(name), sr)[0]


def voiced(seconds: float, sr: int, f0: float = 130.0, amp: float = 0.3, seed: int = 0) -> np.ndarray:
    """A vowel-like harmonic tone with a little vibrato and a smooth envelope."""
    n = int(seconds * sr)
    t = np.arange(n) / sr
    rng = np.random.default_rng(seed)
    freq = f0 * (1.0 + 0.03 * np.sin(2 * np.pi * 4.0 * t + rng.uniform(0, 6.28)))
    phase = 2 * np.pi * np.cumsum(freq) / sr
    x = sum(np.sin(k * phase) / k for k in range(1, 20))
    envelope = np.minimum(1.0, np.minimum(t, t[::-1]) / 0.03)
    return (amp * x / np.max(np.abs(x)) * envelope).astype(np.float32)


def silence(seconds: float, sr: int) -> np.ndarray:
    return np.zeros(int(seconds * sr), dtype=np.float32)


def concat_with_gaps(
    clips: list[np.ndarray], gaps: list[float], sr: int
) -> tuple[np.ndarray, list[tuple[float, float]]]:
    """clips[i] followed by gaps[i] seconds of silence -> (signal, [(clip start, clip end)] in seconds)."""
    parts, spans, pos = [], [], 0
    for clip, gap in zip(clips, gaps, strict=True):
        spans.append((pos / sr, (pos + clip.size) / sr))
        parts += [clip, silence(gap, sr)]
        pos += clip.size + int(gap * sr)
    return np.concatenate(parts), spans
