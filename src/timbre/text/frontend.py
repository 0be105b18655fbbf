"""Text of any language option → phones for synthesis, as the original's get_phones_and_bert.

The text is split into language runs (``timbre.text.langsplit``), each run goes through the cleaner of its
language, and the results are concatenated. Every run is kept as a ``Segment`` because the phone-level RoBERTa
features are made per run: Chinese runs from their normalized text and word2ph, every other run as zeros of its
phone count. A text that gives fewer than 6 phones is read again with a leading "." (the original does this
once, so that very short texts start with a pause).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from timbre.text.cleaner import clean_text
from timbre.text.langsplit import split_languages

MIN_PHONES = 6


class Segment(NamedTuple):
    """One language run of the text after cleaning."""

    lang: str  # cleaner language code (zh, ja, en, ko, yue)
    text: str  # the run as split from the input
    norm_text: str
    word2ph: list[int] | None  # phones per character of norm_text (zh and yue only)
    n_phones: int


@dataclass(frozen=True)
class FrontendResult:
    text: str
    lang: str  # the language option the text was read with
    norm_text: str  # normalized runs joined
    phones: list[str]
    phone_ids: list[int]
    word2ph: list[int] | None  # joined word2ph when every run has one, else None
    segments: list[Segment]


def _read(text: str, lang: str, version: str) -> FrontendResult:
    segments: list[Segment] = []
    phones: list[str] = []
    phone_ids: list[int] = []
    for chunk, code in split_languages(text, lang):
        try:
            cleaned = clean_text(chunk, code, version)
        except ValueError:
            # A run with nothing to pronounce (e.g. only marks): the original would keep its mark phones.
            if not chunk.strip() or not any(ch.isalnum() for ch in chunk):
                continue
            raise
        segments.append(Segment(code, chunk, cleaned.norm_text, cleaned.word2ph, len(cleaned.phones)))
        phones += cleaned.phones
        phone_ids += cleaned.phone_ids
    if not segments:
        raise ValueError(f"nothing pronounceable in {text!r}; give words to read")
    word2ph: list[int] | None = None
    if all(s.word2ph is not None for s in segments):
        word2ph = [n for s in segments for n in s.word2ph or []]
    norm_text = "".join(s.norm_text for s in segments)
    return FrontendResult(text, lang, norm_text, phones, phone_ids, word2ph, segments)


def text_to_phones(text: str, lang: str, version: str = "v2", *, pad_short: bool = True) -> FrontendResult:
    """Phones, ids and per-run records of ``text`` read with language option ``lang`` (see LANG_OPTIONS).

    ``pad_short`` reproduces the original's retry with a leading "." when fewer than 6 phones come out.
    """
    result = _read(text, lang, version)
    if pad_short and len(result.phones) < MIN_PHONES:
        padded = _read("." + text, lang, version)
        return FrontendResult(
            text, lang, padded.norm_text, padded.phones, padded.phone_ids, padded.word2ph, padded.segments
        )
    return result
