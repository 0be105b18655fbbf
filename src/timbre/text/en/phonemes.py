"""English grapheme-to-phoneme conversion, exact to the original v2 front end.

Per token (nltk's TweetTokenizer), in this order:

1. no ASCII letter: the token itself (punctuation; an apostrophe later becomes ``-``);
2. one letter: its dictionary entry, except a capital "A" alone, read ``EY1``;
3. a homograph known to g2p_en: one of its two readings, chosen by the POS tag;
4. otherwise a lookup chain: merged dictionary → names (title-case words only) → spelled out when at most three
   characters → possessive ``'s`` attached to the stem → compound split with ``wordsegment`` (each part looked up
   again) → g2p_en's neural predictor.

Phones outside the v2 symbol table are dropped, as the original does. g2p_en, nltk and wordsegment are imported on
first use, never at module import.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

from timbre.text import _nltk_shim
from timbre.text.en.lexicon import Pronunciation, lexicon, names
from timbre.text.symbols import symbol_to_id

# Readings the original changes in g2p_en's homograph table: (reading for pos, other reading, pos prefix).
_HOMOGRAPH_FIXES = {
    "read": (("R", "IY1", "D"), ("R", "EH1", "D"), "VBP"),
    "complex": (
        ("K", "AH0", "M", "P", "L", "EH1", "K", "S"),
        ("K", "AA1", "M", "P", "L", "EH0", "K", "S"),
        "JJ",
    ),
}
# Final phones after which a possessive 's is voiceless ``S`` or a syllable ``AH0 Z`` (``Z`` otherwise).
_VOICELESS_ENDINGS = frozenset({"P", "T", "K", "F", "TH", "HH"})
_SIBILANT_ENDINGS = frozenset({"S", "Z", "SH", "ZH", "CH", "JH"})
_POSSESSIVE = re.compile(r"^([a-z]+)('s)$")
# Predictor/separator tokens that never reach the phone list.
_DROPPED = frozenset({" ", "<pad>", "UW", "</s>", "<s>"})

Homograph = tuple[Pronunciation, Pronunciation, str]


@cache
def _predictor() -> Any:
    """g2p_en's neural model (only its ``predict`` and homograph table are used)."""
    return _nltk_shim.g2p_en_cls()()


@cache
def _homographs() -> dict[str, Homograph]:
    table: dict[str, Homograph] = {
        word: (tuple(first), tuple(second), pos)
        for word, (first, second, pos) in _predictor().homograph2features.items()
    }
    table.update(_HOMOGRAPH_FIXES)
    return table


@cache
def _segmenter() -> Any:
    import wordsegment

    segmenter = wordsegment.Segmenter()
    segmenter.load()
    return segmenter


def _homograph_reading(entry: Homograph, pos: str) -> Pronunciation:
    first, second, pos_prefix = entry
    if pos.startswith(pos_prefix) or (len(pos) < len(pos_prefix) and pos_prefix.startswith(pos)):
        return first
    return second


def _possessive(stem_phones: list[str]) -> list[str]:
    last = stem_phones[-1]
    if last in _VOICELESS_ENDINGS:
        return [*stem_phones, "S"]
    if last in _SIBILANT_ENDINGS:
        return [*stem_phones, "AH0", "Z"]
    return [*stem_phones, "Z"]


def lookup_word(token: str) -> list[str]:
    """Phones of one word that is not a single letter or a homograph (the chain in the module docstring)."""
    word = token.lower()
    words = lexicon()
    if len(word) > 1 and word in words:
        return list(words[word])
    if token.istitle() and word in names():
        return list(names()[word])
    if len(word) <= 3:
        return [phone for char in word for phone in _spell(char)]
    if _POSSESSIVE.match(word):
        return _possessive(lookup_word(word[:-2]))
    parts = _segmenter().segment(word)
    if len(parts) == 1:
        return list(_predictor().predict(word))
    return [phone for part in parts for phone in lookup_word(part)]


def _spell(char: str) -> list[str]:
    if char == "a":
        return ["EY1"]
    if not char.isalpha():
        return [char]
    return list(lexicon()[char])


def _token_phones(original: str, pos: str) -> list[str]:
    word = original.lower()
    if re.search("[a-z]", word) is None:
        return [word]
    if len(word) == 1:
        return ["EY1"] if original == "A" else list(lexicon()[word])
    homograph = _homographs().get(word)
    if homograph is not None:
        return list(_homograph_reading(homograph, pos))
    return lookup_word(original)


def g2p(norm_text: str) -> tuple[list[str], None]:
    """Normalized English text → (phones, None). English has no per-character phone counts (word2ph)."""
    tokens = _nltk_shim.tweet_tokenize()(norm_text)
    known = symbol_to_id("v2")
    phones: list[str] = []
    for token, pos in _nltk_shim.pos_tag(tokens):
        for phone in _token_phones(token, pos):
            if phone in _DROPPED:
                continue
            if phone == "<unk>":
                phone = "UNK"
            if phone in known:
                phones.append(phone)
            elif phone == "'":
                phones.append("-")
    return phones, None
