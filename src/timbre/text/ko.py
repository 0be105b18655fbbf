"""Korean front end: g2pk2 (with python-mecab-ko) pronunciation, split into compatibility jamo, as GPT-SoVITS v2.

Latin letters are first spelled out as Korean letter names, g2pk2 applies the pronunciation rules and spells
numbers, and the result is decomposed into jamo with compound vowels split in two (ㅘ → ㅗㅏ, ㅕ → ㅣㅓ, ...).
Every character becomes one phone: spaces become ``空``, full-width marks map to the table's punctuation and
anything else outside the v2 symbol table becomes ``停``.
"""

from __future__ import annotations

import contextlib
import io
import re
import sys
from functools import cache
from typing import Any

from timbre.text._nltk_shim import g2pk2_cls
from timbre.text.marks import BASE_MARK_MAP
from timbre.text.symbols import symbol_to_id

# Latin letter → its Korean name, applied letter by letter (case-insensitive), in this order.
_LETTER_NAMES = (
    ("a", "에이"),
    ("b", "비"),
    ("c", "시"),
    ("d", "디"),
    ("e", "이"),
    ("f", "에프"),
    ("g", "지"),
    ("h", "에이치"),
    ("i", "아이"),
    ("j", "제이"),
    ("k", "케이"),
    ("l", "엘"),
    ("m", "엠"),
    ("n", "엔"),
    ("o", "오"),
    ("p", "피"),
    ("q", "큐"),
    ("r", "아르"),
    ("s", "에스"),
    ("t", "티"),
    ("u", "유"),
    ("v", "브이"),
    ("w", "더블유"),
    ("x", "엑스"),
    ("y", "와이"),
    ("z", "제트"),
)

# Compound vowels written as two simple ones (the v2 table only has simple vowels).
_SPLIT_VOWELS = {
    "ㅘ": "ㅗㅏ",
    "ㅙ": "ㅗㅐ",
    "ㅚ": "ㅗㅣ",
    "ㅝ": "ㅜㅓ",
    "ㅞ": "ㅜㅔ",
    "ㅟ": "ㅜㅣ",
    "ㅢ": "ㅡㅣ",
    "ㅑ": "ㅣㅏ",
    "ㅒ": "ㅣㅐ",
    "ㅕ": "ㅣㅓ",
    "ㅖ": "ㅣㅔ",
    "ㅛ": "ㅣㅗ",
    "ㅠ": "ㅣㅜ",
}

_MARK_MAP = {
    **BASE_MARK_MAP,
    " ": "空",
}

_TRAILING_JAMO = re.compile(r"([\u3131-\u3163])$")


def normalize(text: str) -> str:
    """The original has no Korean normalization step: the text is used as given."""
    return text


class _NoPronunciations:
    """Stands in for the CMU dictionary g2pk2 loads (3 s): Latin letters are spelled out before g2pk2 runs, so
    its English-word step never finds a word to look up."""

    @staticmethod
    def dict() -> dict[str, list[list[str]]]:
        return {}


@cache
def _g2pk2() -> Any:
    """One g2pk2 converter; its constructor prints "mecab installed", which must not reach stdout."""
    g2p_cls = g2pk2_cls()
    module: Any = sys.modules[g2p_cls.__module__]
    saved = module.cmudict
    module.cmudict = _NoPronunciations
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            return g2p_cls()
    finally:
        module.cmudict = saved


def spell_latin(text: str) -> str:
    """Replace every Latin letter by its Korean letter name."""
    for letter, name in _LETTER_NAMES:
        text = re.sub(letter, name, text, flags=re.IGNORECASE)
    return text


def to_jamo(text: str) -> str:
    """Hangul syllables → compatibility jamo, compound vowels split into two simple vowels."""
    from jamo import h2j, j2hcj

    text = j2hcj(h2j(text))
    return "".join(_SPLIT_VOWELS.get(ch, ch) for ch in text)


def fix_rieul_liaison(text: str) -> str:
    """Undo a g2pk2 slip: after a word ending in ㅇㅡㄹ/ㄹㅡㄹ, the next word's initial ㄹ is read ㄴ."""
    out = []
    i = 0
    while i < len(text) - 4:
        if text[i : i + 3] in ("ㅇㅡㄹ", "ㄹㅡㄹ") and text[i + 3] == " " and text[i + 4] == "ㄹ":
            out.append(text[i : i + 3] + " ㄴ")
            i += 5
        else:
            out.append(text[i])
            i += 1
    out.append(text[i:])
    return "".join(out)


def _to_phone(ch: str, table: dict[str, int]) -> str:
    ch = _MARK_MAP.get(ch, ch)
    return ch if ch in table else "停"


def g2p(norm_text: str) -> tuple[list[str], None]:
    """Phones (one per jamo, space or mark) of Korean text; no word2ph, as the original."""
    text = spell_latin(norm_text)
    text = _g2pk2()(text)
    text = to_jamo(text)
    text = fix_rieul_liaison(text)
    text = _TRAILING_JAMO.sub(r"\1.", text)
    table = symbol_to_id("v2")
    return [_to_phone(ch, table) for ch in text], None
