"""Cantonese front end: the Chinese text normalizer, then ToJyutping syllables split into initial + final.

Normalization is the Mandarin one (numbers, dates, ... spelled out in Chinese, traditional characters
simplified) followed by Cantonese punctuation rules: full-width marks and brackets/quotes are mapped, then every
character that is neither a CJK ideograph (U+4E00..U+9FA5) nor table punctuation is dropped.

Each jyutping syllable becomes two phones, ``Y<initial>`` and ``Y<final><tone>``; the "initial" is the first
entry of the original's ordered list that the toneless syllable starts with (so ``aa3`` gives ``Yaa`` + ``Ya3``
and ``m4`` gives ``Ym`` + ``Ym4``). Punctuation is one phone. word2ph counts the phones of every character.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

from timbre.text.marks import BASE_MARK_MAP

# The original's punctuation list (symbols.punctuation).
PUNCTUATION = ("!", "?", "…", ",", ".", "-")

# Syllable starts tried in this order (longer entries after shorter ones never win: order is the rule).
_STARTS = (
    "aa",
    "aai",
    "aak",
    "aap",
    "aat",
    "aau",
    "ai",
    "au",
    "ap",
    "at",
    "ak",
    "a",
    "p",
    "b",
    "e",
    "ts",
    "t",
    "dz",
    "d",
    "kw",
    "k",
    "gw",
    "g",
    "f",
    "h",
    "l",
    "m",
    "ng",
    "n",
    "s",
    "y",
    "w",
    "c",
    "z",
    "j",
    "ong",
    "on",
    "ou",
    "oi",
    "ok",
    "o",
    "uk",
    "ung",
    "sp",
    "spl",
    "spn",
    "sil",
)

_MARK_MAP = {
    **BASE_MARK_MAP,
    "...": "…",
    "$": ".",
    "“": "'",
    "”": "'",
    '"': "'",
    "‘": "'",
    "’": "'",
    "（": "'",
    "）": "'",
    "(": "'",
    ")": "'",
    "《": "'",
    "》": "'",
    "【": "'",
    "】": "'",
    "[": "'",
    "]": "'",
    "—": "-",
    "～": "-",
    "~": "-",
    "「": "'",
    "」": "'",
}
_MARK_PATTERN = re.compile("|".join(re.escape(m) for m in _MARK_MAP))
# Class body built from the raw punctuation characters, as the original does ("-" last, so it is literal).
_NOT_KEPT = re.compile(r"[^\u4e00-\u9fa5" + "".join(PUNCTUATION) + r"]+")
_PUNCT_RUN = re.compile(r"^[{}]+$".format(re.escape("".join(PUNCTUATION))))
_PUNCT_SPLIT = re.compile(r"([{}])".format(re.escape("".join(PUNCTUATION))))
_JYUTPING = re.compile(r"^([a-z]+[1-6]+[ ]?)+$")


def _cantonese_punctuation(sentence: str) -> str:
    sentence = _MARK_PATTERN.sub(lambda m: _MARK_MAP[m.group()], sentence)
    return _NOT_KEPT.sub("", sentence)


def normalize(text: str) -> str:
    """Chinese normalization sentence by sentence, then the Cantonese punctuation rules."""
    from timbre.text.zh.normalize import _clauses, normalize_clause

    return "".join(_cantonese_punctuation(normalize_clause(clause)) for clause in _clauses(text))


@cache
def _tojyutping() -> Any:
    import ToJyutping

    return ToJyutping


def jyutping(text: str) -> list[str]:
    """Jyutping syllables of the text, with every punctuation mark as its own item."""
    out: list[str] = []
    for char, reading in _tojyutping().get_jyutping_list(text):
        if _PUNCT_RUN.match(char):
            out += [p for p in _PUNCT_SPLIT.split(char) if p]
        elif reading is None or not _JYUTPING.search(reading):
            raise ValueError(f"no Cantonese reading for {char!r}; remove or replace that character")
        else:
            out.append(reading)
    return out


def _syllable_phones(syllable: str) -> list[str]:
    """Two phones for one jyutping syllable (nothing when no listed start matches, as the original)."""
    tone, bare = syllable[-1], syllable[:-1]  # readings are checked to end in a tone digit 1-6
    for start in _STARTS:
        if bare.startswith(start):
            if bare.startswith("nga"):
                initial, final = bare[:2], bare[2:] or bare[-1]
            else:
                initial, final = start, bare[len(start) :] or start[-1]
            return [f"Y{initial}", f"Y{final}{tone}"]
    return []


def g2p(norm_text: str) -> tuple[list[str], list[int]]:
    """Phones and word2ph (phones per character) of normalized Cantonese text."""
    phones: list[str] = []
    word2ph: list[int] = []
    for syllable in jyutping(norm_text):
        if syllable in PUNCTUATION:
            phones.append(syllable)
            word2ph.append(1)
            continue
        syllable_phones = _syllable_phones(syllable)
        if syllable_phones:
            phones += syllable_phones
            word2ph.append(2)
    return phones, word2ph
