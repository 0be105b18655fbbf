"""The synthesis demo: the whole pipeline on deterministic (untrained) weights, explained step by step.

`synthesis_demo(out_dir, say=print)` builds `factory.deterministic(seed)`, prepares the bundled reference clip, runs the
text front end, the GPT and SoVITS on a short English text, and writes `demo.wav` and `demo_spectrogram.png` into
`out_dir`. Every step reports what it did through `say`. The audio is not speech: the weights are not trained.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from timbre.infer import factory
from timbre.infer.bundled import bundled_reference
from timbre.infer.options import SynthesisOptions
from timbre.infer.output import write_audio
from timbre.text.frontend import text_to_phones

DEMO_TEXT = "Hello from timbre. These weights are not trained."
DEMO_LANG = "en"
WAV_NAME = "demo.wav"
PNG_NAME = "demo_spectrogram.png"


@dataclass(frozen=True)
class DemoReport:
    wav: Path
    png: Path
    audio_seconds: float
    tokens: int
    timings: dict[str, float]  # seconds per step


def spectrogram_png(wav: np.ndarray, sr: int, path: Path, title: str) -> Path:
    """A log-magnitude spectrogram of `wav` as a PNG (matplotlib, no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from scipy import signal

    freqs, times, power = signal.spectrogram(wav, fs=sr, nperseg=1024, noverlap=768)
    fig, ax = plt.subplots(figsize=(10, 4), dpi=100)
    ax.pcolormesh(times, freqs / 1000, 10 * np.log10(power + 1e-10), shading="auto", cmap="magma")
    ax.set_xlabel("time (s)")
    ax.set_ylabel("frequency (kHz)")
    ax.set_title(title)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def synthesis_demo(out_dir: Path, seed: int = 0, say: Callable[[str], None] = print) -> DemoReport:
    timings: dict[str, float] = {}
    say(
        "The weights used here are NOT trained: they are deterministic pseudo-random numbers, so the output is"
    )
    say("noise-like sound, not speech. The demo shows every step of the real pipeline running end to end.")

    t = time.perf_counter()
    synth = factory.deterministic(seed)
    timings["load"] = time.perf_counter() - t
    say(f"1. models: GPT v2 + SoVITS v2 on deterministic weights (seed {seed}), tiny random HuBERT "
        f"({timings['load']:.1f} s)")  # fmt: skip

    t = time.perf_counter()
    bundled = bundled_reference()
    ref = synth.prepare_reference(bundled.clip, bundled.text, bundled.lang)
    timings["reference"] = time.perf_counter() - t
    say(f"2. reference: {bundled.origin}, {ref.seconds:.2f} s; transcript {bundled.text!r} -> "
        f"{len(ref.text.phone_ids)} phones; HuBERT + SoVITS quantizer -> {ref.prompt.shape[0]} prompt tokens "
        f"({timings['reference']:.1f} s)")  # fmt: skip

    options = SynthesisOptions(seed=seed)
    t = time.perf_counter()
    pieces = synth.fragments(DEMO_TEXT, DEMO_LANG, options)
    timings["text"] = time.perf_counter() - t
    say(f"3. text front end: {DEMO_TEXT!r} cut by {options.cut_method} into {len(pieces)} fragments:")
    for piece, phones in pieces:
        symbols = " ".join(text_to_phones(piece, DEMO_LANG, synth.text_version).phones)
        say(
            f"   {piece.strip()!r} -> normalized {phones.norm_text.strip()!r} -> {len(phones.phone_ids)} phones: {symbols}"
        )

    result = synth.synthesize(DEMO_TEXT, DEMO_LANG, ref, options)
    timings["gpt"], timings["sovits"] = result.timings["gpt"], result.timings["sovits"]
    tokens = sum(f.tokens.shape[0] for f in result.fragments)
    say(f"4. GPT: {tokens} semantic tokens in {timings['gpt']:.1f} s (capped at 2 per phone: untrained weights "
        "rarely emit end-of-speech)")  # fmt: skip
    for f in result.fragments:
        say(f"   {f.text.strip()!r}: {f.tokens.shape[0]} tokens ({f.stop})")
    say(f"5. SoVITS: tokens + phones + reference style -> {result.seconds:.2f} s of 32 kHz audio, including "
        f"{options.fragment_interval:g} s pauses ({timings['sovits']:.1f} s)")  # fmt: skip

    out_dir = Path(out_dir)
    wav = write_audio(out_dir / WAV_NAME, result.audio, result.sample_rate)
    png = spectrogram_png(
        result.audio, result.sample_rate, out_dir / PNG_NAME, "timbre demo (untrained weights)"
    )
    say(f"6. wrote {wav} and {png}")
    return DemoReport(wav, png, result.seconds, tokens, timings)
