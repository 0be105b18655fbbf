"""Score a set of utterances against a reference speaker: per-utterance rows and their means, as JSON or a table."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from timbre.eval.metrics import (
    EVAL_SR,
    MosScores,
    SpeakerEncoder,
    Transcriber,
    cosine_similarity,
    dnsmos,
    word_errors,
)

WER_LANGS = ("en",)  # the bundled Whisper model (tiny.en) understands English only


@dataclass(frozen=True)
class Utterance:
    text: str  # what was meant to be spoken
    wav16k: np.ndarray  # [T] float32 at 16 kHz
    source: str  # a file name, or "synth:<n>"


@dataclass(frozen=True)
class UtteranceScores:
    index: int
    source: str
    text: str
    seconds: float
    similarity: float
    dnsmos_ovrl: float
    dnsmos_sig: float
    dnsmos_bak: float
    dnsmos_p808: float
    transcript: str | None = None  # None where WER is not measured (a language other than English)
    wer: float | None = None
    word_errors: int | None = None
    ref_words: int | None = None


METRICS = ("similarity", "wer", "dnsmos_ovrl", "dnsmos_sig", "dnsmos_bak", "dnsmos_p808")


@dataclass(frozen=True)
class EvalReport:
    reference: str
    lang: str
    rows: list[UtteranceScores] = field(default_factory=list)

    def means(self) -> dict[str, float | None]:
        """Mean of each metric over the rows; `wer` is the corpus WER (all word errors / all reference words)."""
        out: dict[str, float | None] = {}
        for name in METRICS:
            if name == "wer":
                words = sum(r.ref_words or 0 for r in self.rows)
                errors = sum(r.word_errors or 0 for r in self.rows)
                out[name] = errors / words if words and self.rows[0].wer is not None else None
            else:
                values = [float(getattr(r, name)) for r in self.rows]
                out[name] = float(np.mean(values)) if values else None
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "reference": self.reference,
            "lang": self.lang,
            "count": len(self.rows),
            "means": self.means(),
            "utterances": [asdict(r) for r in self.rows],
        }


@dataclass
class Scorers:
    """The three scoring models, loaded on first use and shared by every utterance of a run."""

    speaker: SpeakerEncoder = field(default_factory=SpeakerEncoder)
    transcriber: Transcriber = field(default_factory=Transcriber)
    mos: Callable[[np.ndarray], MosScores] = dnsmos


def evaluate(
    utterances: Sequence[Utterance],
    reference16k: np.ndarray,
    reference_name: str,
    lang: str = "en",
    scorers: Scorers | None = None,
    on_row: Callable[[UtteranceScores], None] | None = None,
) -> EvalReport:
    """Speaker similarity to the reference, DNSMOS and (English only) WER for each utterance."""
    if not utterances:
        raise ValueError("nothing to evaluate: give at least one line of text")
    scorers = scorers or Scorers()
    ref_embedding = scorers.speaker.embed(reference16k)
    report = EvalReport(reference_name, lang)
    for i, utt in enumerate(utterances):
        similarity = cosine_similarity(ref_embedding, scorers.speaker.embed(utt.wav16k))
        mos = scorers.mos(utt.wav16k)
        transcript = errors = None
        if lang in WER_LANGS:
            transcript = scorers.transcriber.transcribe(utt.wav16k)
            errors = word_errors(utt.text, transcript, lang)
        row = UtteranceScores(
            index=i,
            source=utt.source,
            text=utt.text,
            seconds=round(utt.wav16k.size / EVAL_SR, 3),
            similarity=similarity,
            dnsmos_ovrl=mos.ovrl,
            dnsmos_sig=mos.sig,
            dnsmos_bak=mos.bak,
            dnsmos_p808=mos.p808,
            transcript=transcript,
            wer=None if errors is None else errors.wer,
            word_errors=None if errors is None else errors.errors,
            ref_words=None if errors is None else errors.ref_words,
        )
        report.rows.append(row)
        if on_row is not None:
            on_row(row)
    return report


def format_value(value: float | None, name: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:.1%}" if name == "wer" else f"{value:.3f}"
