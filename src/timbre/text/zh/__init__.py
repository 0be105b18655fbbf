"""Chinese (zh) text front end, exact to GPT-SoVITS v2.

- `normalize(text)` → the original cleaner's `norm_text` (numbers, dates, units, punctuation, ...).
- `g2p(norm_text, g2pw_dir=None)` → (phones, word2ph) with v2 symbol names; with `g2pw_dir` the
  g2pW polyphone model (ONNX) picks character readings like the original's g2pW path.
- `clean(text)` → both, plus the original cleaner's special pauses ("￥" → SP2, "^" → SP3).
  Use `clean` for output identical to the original's `clean_text(text, "zh", "v2")`.
- `text_normalize(text, keep_latin=False)` → the raw normalizer (no special pauses, may be "");
  `keep_latin=True` is the original's `mix_text_normalize`.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

from timbre.text.zh.g2p import pypinyin_g2p
from timbre.text.zh.normalize import PUNCTUATION, normalize, special_pause, text_normalize

__all__ = ["ZhCleaned", "clean", "g2p", "normalize", "special_pause", "text_normalize"]


class ZhCleaned(NamedTuple):
    norm_text: str
    phones: list[str]
    word2ph: list[int]


def g2p(
    norm_text: str, g2pw_dir: str | Path | None = None, tokenizer_dir: str | Path | None = None
) -> tuple[list[str], list[int]]:
    """Phones and per-character phone counts of normalized Chinese text.

    `g2pw_dir`: a g2pW model folder (g2pW.onnx, config.py, POLYPHONIC_CHARS.txt, ...); its BERT
    tokenizer comes from `tokenizer_dir` (the chinese-roberta-wwm-ext-large folder the original
    uses), or from `g2pw_dir` itself when it holds a vocab.txt.
    """
    if g2pw_dir is None:
        return pypinyin_g2p(norm_text)
    from timbre.text.zh.g2pw import g2pw_g2p

    return g2pw_g2p(norm_text, Path(g2pw_dir), None if tokenizer_dir is None else Path(tokenizer_dir))


def clean(
    text: str, g2pw_dir: str | Path | None = None, tokenizer_dir: str | Path | None = None
) -> ZhCleaned:
    """The original cleaner for zh: normalize, g2p, and the special-pause commas (SP2/SP3)."""
    norm_text = normalize(text)
    phones, word2ph = g2p(norm_text, g2pw_dir, tokenizer_dir)
    pause = special_pause(text)
    if pause is not None:
        phones = [pause if p == "," else p for p in phones]
    elif len(word2ph) != len(norm_text) or sum(word2ph) != len(phones):
        raise ValueError(f"could not align phones with the characters of {norm_text!r}")
    if all(p in set(PUNCTUATION) or p.startswith("SP") for p in phones):
        raise ValueError(f"the Chinese text {text[:50]!r} has nothing to pronounce")
    return ZhCleaned(norm_text, phones, word2ph)
