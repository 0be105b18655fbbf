"""The reference clip bundled for demos: real speech that ships with an installed dependency, or a made-up voice.

gradio's wheel carries short speech clips (`gradio/media_assets/audio/`); `cate_blanch_2.mp3` is 4.5 s of English
speech ("I trust you had an historic evening."). When it is missing, a 4 s voiced signal (a glottal pulse train with
a wandering pitch, shaped by vowel-like formant resonances) stands in, so the demo always has a 3-10 s reference.
"""

from __future__ import annotations

import importlib.resources
from typing import NamedTuple

import numpy as np
from scipy import signal

from timbre.infer.reference import ReferenceClip

GRADIO_CLIP = ("gradio", "media_assets/audio/cate_blanch_2.mp3")
GRADIO_TEXT = "I trust you had an historic evening."
WINDOW_S = (0.0, 4.4)
SYNTH_TEXT = "Ah, ee, oo, ah."


class BundledReference(NamedTuple):
    clip: ReferenceClip
    text: str
    lang: str
    origin: str  # where the audio came from, for the user


def _gradio_clip() -> ReferenceClip | None:
    package, resource = GRADIO_CLIP
    try:
        path = importlib.resources.files(package).joinpath(resource)
        if not path.is_file():
            return None
        with importlib.resources.as_file(path) as file:
            from timbre.audio.io import load_audio

            wav, sr = load_audio(file)
    except (ModuleNotFoundError, ValueError, OSError):
        return None
    start, stop = (int(t * sr) for t in WINDOW_S)
    return ReferenceClip.from_array(wav[start:stop], sr, f"{package}:{resource}")


def voiced_signal(seconds: float = 4.0, sr: int = 32_000, seed: int = 0) -> np.ndarray:
    """A speech-like voiced signal: pulses at 100-160 Hz through three formant filters that move every 0.5 s."""
    rng = np.random.default_rng(seed)
    n = int(seconds * sr)
    t = np.arange(n) / sr
    f0 = 130 + 25 * np.sin(2 * np.pi * 0.7 * t) + 5 * rng.standard_normal(n).cumsum() / np.sqrt(n)
    phase = np.cumsum(f0 / sr)
    pulses = (np.diff(np.floor(phase), prepend=0.0) > 0).astype(np.float64)
    vowels = [(730, 1090, 2440), (270, 2290, 3010), (300, 870, 2240), (530, 1840, 2480)]
    out = np.zeros(n)
    step = sr // 2
    for i, start in enumerate(range(0, n, step)):
        seg = pulses[start : start + step] + 0.01 * rng.standard_normal(min(step, n - start))
        for formant in vowels[i % len(vowels)]:
            b, a = signal.iirpeak(formant, 8.0, sr)
            out[start : start + step] += signal.lfilter(b, a, seg)
    envelope = 0.6 + 0.4 * np.sin(2 * np.pi * 2 * t) ** 2
    out *= envelope
    return (0.5 * out / np.abs(out).max()).astype(np.float32)


def bundled_reference() -> BundledReference:
    clip = _gradio_clip()
    if clip is not None:
        return BundledReference(
            clip, GRADIO_TEXT, "en", f"{clip.source} (real speech from the gradio package)"
        )
    wav = voiced_signal()
    clip = ReferenceClip.from_array(wav, 32_000, "generated voiced signal")
    return BundledReference(
        clip, SYNTH_TEXT, "en", "a generated voiced signal (gradio's speech clip is missing)"
    )
