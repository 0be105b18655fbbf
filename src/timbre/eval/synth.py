"""Utterances from a voice: each text line synthesized with the voice's model, resampled to 16 kHz for scoring."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from timbre.audio.io import resample, write_wav
from timbre.eval.metrics import EVAL_SR
from timbre.eval.report import Utterance

if TYPE_CHECKING:
    from timbre.infer.pipeline import PreparedReference, Synthesizer


def load_voice_synthesizer(
    voice_dir: str | Path,
    *,
    hubert: Path | None = None,
    roberta: Path | None = None,
    sv: Path | None = None,
    precision: str = "fp32",
) -> Synthesizer:
    from timbre.infer import factory

    return factory.from_voice(voice_dir, hubert=hubert, roberta=roberta, sv=sv, precision=precision)


def prompt_reference(
    synth: Synthesizer, voice_dir: str | Path, ref: Path, ref_text: str | None, lang: str
) -> PreparedReference:
    """The synthesis prompt: `ref` when its transcript is given, else the voice folder's own reference clip."""
    if ref_text is not None:
        return synth.prepare_reference(ref, ref_text, lang)
    from timbre.infer.voice import load_voice

    default = load_voice(voice_dir).reference
    if default is None:
        raise ValueError(
            f"{voice_dir}: the voice has no reference clip of its own; pass --ref-text with the words of --ref"
        )
    return synth.prepare_reference(default.audio, default.text, default.lang)


def synthesize_utterances(
    synth: Synthesizer,
    prompt: PreparedReference,
    texts: Sequence[str],
    lang: str,
    *,
    seed: int = 0,
    save_dir: Path | None = None,
) -> list[Utterance]:
    """One utterance per text (sampling seed `seed + i`); with `save_dir`, also written there as 001.wav, 002.wav, …"""
    from timbre.infer.options import SynthesisOptions

    if save_dir is not None:
        save_dir.mkdir(parents=True, exist_ok=True)
    utterances = []
    for i, text in enumerate(texts):
        result = synth.synthesize(text, lang, prompt, SynthesisOptions(seed=seed + i))
        name = f"{i + 1:03d}.wav"
        if save_dir is not None:
            write_wav(save_dir / name, result.audio, result.sample_rate)
        utterances.append(Utterance(text, resample(result.audio, result.sample_rate, EVAL_SR), name))
    return utterances
