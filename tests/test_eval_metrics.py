"""Quality metrics: text normalization and word alignment (exact cases), and the three scorers on real speech clips
bundled with gradio (two clips of one speaker, one of another; skipped when gradio's media assets are missing)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from timbre.eval.metrics import (
    EVAL_SR,
    SpeakerEncoder,
    Transcriber,
    WordErrors,
    align_words,
    as_eval_audio,
    dnsmos,
    normalize_words,
    word_error_rate,
    word_errors,
)

# What the clips say (checked by ear once; tiny.en gets these two exactly).
CLIP_TEXTS = {
    "cate_blanch_2.mp3": "I trust you had an historic evening.",
    "heath_ledger.mp3": "If you're good at something, never do it for free.",
}


def gradio_clip(name: str) -> Path:
    spec = importlib.util.find_spec("gradio")  # locate without importing gradio (slow)
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("gradio is not installed")
    path = Path(next(iter(spec.submodule_search_locations))) / "media_assets" / "audio" / name
    if not path.is_file():
        pytest.skip(f"gradio's bundled clip {name} is missing")
    return path


def clip16k(name: str) -> np.ndarray:
    from timbre.audio.io import load_audio

    return load_audio(gradio_clip(name), EVAL_SR)[0]


# ---- text ----------------------------------------------------------------------------------------------------------
def test_normalize_words_spells_out_and_strips() -> None:
    assert normalize_words("If you're good at something, never do it for FREE!") == [
        "if", "youre", "good", "at", "something", "never", "do", "it", "for", "free",
    ]  # fmt: skip
    assert normalize_words("I paid $20 in 1999 (so-so).") == [
        "i", "paid", "twenty", "dollars", "in", "nineteen", "ninety", "nine", "so", "so",
    ]  # fmt: skip
    assert normalize_words("Well—it’s 2nd") == ["well", "its", "second"]
    assert normalize_words("你好，世界", "zh") == ["你好", "世界"]


@pytest.mark.parametrize(
    ("ref", "hyp", "expected"),
    [
        ("a b c d", "a b c d", WordErrors(0, 0, 0, 4)),
        ("a b c d", "a x c d e", WordErrors(1, 0, 1, 4)),
        ("a b c", "", WordErrors(0, 3, 0, 3)),
        ("a b c", "b c", WordErrors(0, 1, 0, 3)),
        ("the cat sat", "the cat sat down today", WordErrors(0, 0, 2, 3)),
        ("one two three", "three two one", WordErrors(2, 0, 0, 3)),
    ],
)
def test_align_words(ref: str, hyp: str, expected: WordErrors) -> None:
    assert align_words(ref.split(), hyp.split()) == expected


def test_word_error_rate() -> None:
    assert word_error_rate("Never do it for free.", "never do it for three") == pytest.approx(0.2)
    assert word_error_rate("It costs $5.", "it costs five dollars") == 0.0
    with pytest.raises(ValueError, match="no words"):
        word_errors("?!", "anything")


def test_eval_audio_checks() -> None:
    with pytest.raises(ValueError, match="too short"):
        as_eval_audio(np.zeros(100, np.float32))
    with pytest.raises(ValueError, match="mono"):
        as_eval_audio(np.zeros((2, 16000), np.float32))
    with pytest.raises(ValueError, match="NaN"):
        as_eval_audio(np.full(16000, np.nan, np.float32))
    assert as_eval_audio(np.full(16000, 3.0)).max() == 1.0


# ---- scorers on real speech ----------------------------------------------------------------------------------------
@pytest.mark.slow
def test_speaker_similarity_same_speaker_beats_different_speaker() -> None:
    encoder = SpeakerEncoder()
    a, b, other = clip16k("cate_blanch.mp3"), clip16k("cate_blanch_2.mp3"), clip16k("heath_ledger.mp3")
    ea, eb, eo = encoder.embed(a), encoder.embed(b), encoder.embed(other)
    assert np.linalg.norm(ea) == pytest.approx(1.0, abs=1e-4)
    same, different = float(ea @ eb), float(ea @ eo)
    assert same > 0.65  # measured 0.745
    assert same > different + 0.15  # measured 0.468
    assert encoder.similarity(a, a) == pytest.approx(1.0, abs=1e-5)


@pytest.mark.slow
def test_whisper_wer_on_known_transcripts() -> None:
    transcriber = Transcriber()
    heard = {name: transcriber.transcribe(clip16k(name)) for name in CLIP_TEXTS}
    for name, text in CLIP_TEXTS.items():
        assert word_error_rate(text, heard[name]) <= 0.15, (name, heard[name])
    swapped = word_error_rate(CLIP_TEXTS["heath_ledger.mp3"], heard["cate_blanch_2.mp3"])
    assert swapped >= 0.7


@pytest.mark.slow
def test_dnsmos_ranks_speech_above_noise() -> None:
    speech = dnsmos(clip16k("cate_blanch_2.mp3"))
    noise = dnsmos(np.random.default_rng(0).normal(0.0, 0.1, 3 * EVAL_SR).astype(np.float32))
    for scores in (speech, noise):
        assert all(1.0 <= v <= 5.0 for v in scores), scores
    assert speech.ovrl > noise.ovrl + 0.6  # measured about 2.3 vs 1.1
    assert speech.sig > noise.sig + 1.0
